package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestCheckFindsIndexDamage: Check names a missing entry, a stray one and
// one pointing elsewhere, in the filter and lookup indexes.
func TestCheckFindsIndexDamage(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	c := mustContact(t, s, Contact{Name: "Yossi", Emails: []string{"yossi@example.com"}})
	mustUser(t, s, "Sarah", "sarah@org.org", RoleStaff)
	mustInteraction(t, s, Interaction{ContactIDs: []ID{c.ID}, Type: "Call", Title: "Brought an etrog"})
	first := func(tx *bolt.Tx, b []byte) ([]byte, []byte) {
		k, v := tx.Bucket(b).Cursor().First()
		return append([]byte(nil), k...), append([]byte(nil), v...)
	}
	damage := []struct {
		name string
		fn   func(tx *bolt.Tx) error
		want []string
	}{
		{"stray type entry", func(tx *bolt.Tx) error {
			k, v := first(tx, ixType)
			k[len(k)-1]++
			return tx.Bucket(ixType).Put(k, v)
		}, []string{fmt.Sprintf("%s: 2 entries, records imply 1", ixType), fmt.Sprintf("%s: stray entry", ixType)}},
		{"type entry moved", func(tx *bolt.Tx) error {
			k, v := first(tx, ixType)
			if err := tx.Bucket(ixType).Delete(k); err != nil {
				return err
			}
			k[len(k)-1]++
			return tx.Bucket(ixType).Put(k, v)
		}, []string{fmt.Sprintf("%s: missing entry", ixType), fmt.Sprintf("%s: stray entry", ixType)}},
		{"missing contact-time entry", func(tx *bolt.Tx) error {
			k, _ := first(tx, ixContactTime)
			return tx.Bucket(ixContactTime).Delete(k)
		}, []string{fmt.Sprintf("%s: missing entry", ixContactTime)}},
		{"user email pointing elsewhere", func(tx *bolt.Tx) error {
			k, _ := first(tx, ixUserEmail)
			return tx.Bucket(ixUserEmail).Put(k, ID(12345).key())
		}, []string{fmt.Sprintf("%s: entry", ixUserEmail), "points to"}},
	}
	for _, d := range damage {
		err := checkDamaged(t, s, d.fn)
		for _, w := range d.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: Check = %v, want it to mention %q", d.name, err, w)
			}
		}
	}
}

// checkDamaged copies s, checks the copy is sound, damages it with fn and
// returns what Check says then.
func checkDamaged(t *testing.T, s *Store, fn func(tx *bolt.Tx) error) error {
	t.Helper()
	snapshot := filepath.Join(t.TempDir(), "copy.db")
	if _, err := s.BackupFile(snapshot); err != nil {
		t.Fatal(err)
	}
	cp, err := Open(snapshot, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if err := cp.Check(); err != nil {
		t.Fatalf("Check before the damage: %v", err)
	}
	if err := cp.db.Update(fn); err != nil {
		t.Fatal(err)
	}
	return cp.Check()
}

// TestCheckWhileWriting: a check of a store being written (a daemon's)
// reports no problem the writes do not cause. Run in a read transaction,
// bbolt's page check saw pages freed by a concurrent commit as "reachable
// freed".
func TestCheckWhileWriting(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.CreateContact(context.Background(), &Contact{Name: fmt.Sprintf("Writer %d", i)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 20 {
		if err := s.Check(); err != nil {
			t.Errorf("Check while writing: %v", err)
			break
		}
	}
	close(stop)
	<-done
}
