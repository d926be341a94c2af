package store

import (
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// damageFirstBlock cuts the last byte off the first block of prefix in
// bucket that holds more than one position.
func damageFirstBlock(t *testing.T, s *Store, bucket, prefix []byte) {
	t.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(v) > 0 {
				return b.Put(bytes.Clone(k), bytes.Clone(v[:len(v)-1]))
			}
		}
		return errors.New("no block of several positions to damage")
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDamagedBlockThenReindex: a damaged index block is an error for the
// queries that meet it, never a shorter page, even when other lists of the
// same term could fill the page; a write into it fails loudly rather than
// guessing; Check names the blocks; RebuildIndexes repairs all of it.
func TestDamagedBlockThenReindex(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	c := mustContact(t, s, Contact{Name: "Yossi"})
	var items []*Interaction
	for i := range 900 {
		typ := []string{"Call", "Email", "Visit"}[i%3]
		ia := Interaction{ContactIDs: []ID{c.ID}, Type: typ, Title: "Brought an etrog", OccurredAt: day("2026-01-01").AddDate(0, 0, i)}
		items = append(items, &ia)
	}
	if err := s.CreateInteractions(ctx, items); err != nil {
		t.Fatal(err)
	}
	for range 3 { // pending: written one at a time
		mustInteraction(t, s, Interaction{ContactIDs: []ID{c.ID}, Type: "Call", Title: "A lulav", OccurredAt: day("2027-01-01")})
	}
	want, _, err := listAll(s, Filter{Types: []string{"call", "email"}}, 100)
	if err != nil || len(want) != 603 {
		t.Fatalf("before the damage: %d items, %v", len(want), err)
	}
	damageFirstBlock(t, s, ixType, strPrefix("call"))
	damageFirstBlock(t, s, ixWord, strPrefix(pendingWord))

	// The damaged "call" block is the oldest of three: paging newest
	// first must end in the error, whatever the page size, never in a
	// last page that looks complete.
	for _, limit := range []int{10, 100, 1000} {
		if got, _, err := listAll(s, Filter{Types: []string{"call", "email"}}, limit); !errors.Is(err, errBadBlock) {
			t.Errorf("call or email in pages of %d over a damaged block: %d items, %v; want errBadBlock", limit, len(got), err)
		}
	}
	// The walk itself stops at the damage, with the error, rather than
	// going on with the other list.
	s.view(func(tx *bolt.Tx) error {
		w := newWalker(tx, term{bucket: ixType, prefixes: strPrefixes([]string{"call", "email"})}, 0, hit{math.MaxUint64, math.MaxUint64})
		n := 0
		for _, ok := w.next(); ok; _, ok = w.next() {
			n++
		}
		if !errors.Is(w.err(), errBadBlock) || n >= 603-128 {
			t.Errorf("walk over a damaged block: %d positions, %v; want it to stop at the block with errBadBlock", n, w.err())
		}
		return nil
	})
	late := Interaction{ContactIDs: []ID{c.ID}, Type: "Meeting", Title: "Written after the repair"}
	if err := s.CreateInteraction(ctx, &late); !errors.Is(err, errBadBlock) {
		t.Errorf("a write into the damaged pending list: %v, want errBadBlock", err)
	}
	err = s.Check()
	for _, w := range []string{string(ixType) + ": block ", string(ixWord) + ": block ", "damaged posting block"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Check = %v, want it to mention %q", err, w)
		}
	}
	if err != nil && strings.Contains(err.Error(), "missing entry") {
		t.Errorf("Check reports entries hidden by the damage as missing: %v", err)
	}

	if err := s.RebuildIndexes(); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("Check after RebuildIndexes: %v", err)
	}
	got, _, err := listAll(s, Filter{Types: []string{"call", "email"}}, 100)
	if err != nil || !slices.Equal(ids(got), ids(want)) {
		t.Errorf("after RebuildIndexes: %d items, %v; want %d", len(got), err, len(want))
	}
	if got := matchIDs(t, s, Filter{Text: []string{"lulav"}}, 50); len(got) != 3 {
		t.Errorf("after RebuildIndexes lulav finds %d, want 3", len(got))
	}
	late.ID = 0
	mustInteraction(t, s, late)
}

// TestPostingBatchAppliesTwice: a bulk write's function may run a second
// time (the writer retries a failed group commit one by one); repeated
// positions in the batch must not leave anything behind the first time.
func TestPostingBatchAppliesTwice(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	c := mustContact(t, s, Contact{Name: "Yossi"})
	ia := &Interaction{ContactIDs: []ID{c.ID}, Type: "Call", Title: "Brought an etrog"}
	if err := s.CreateInteractions(context.Background(), []*Interaction{ia, ia}); err != nil {
		t.Fatal(err)
	}
	pb := batchOf([]*Interaction{ia, ia})
	rolledBack := errors.New("rolled back")
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := pb.apply(tx); err != nil {
			return err
		}
		return rolledBack
	}); !errors.Is(err, rolledBack) {
		t.Fatal(err)
	}
	if err := s.db.Update(pb.apply); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check after applying a batch twice: %v", err)
	}
}

// TestMigrationSkipsBadRecord: one record that does not decode neither
// stops migration 5 (the daemon could not start) nor hides the others.
func TestMigrationSkipsBadRecord(t *testing.T) {
	t.Parallel()
	path, s := openAt(t)
	c := mustContact(t, s, Contact{Name: "Yossi"})
	for range 5 {
		mustInteraction(t, s, Interaction{ContactIDs: []ID{c.ID}, Type: "Call", Title: "Brought an etrog"})
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bInteractions).Put(ID(1).key(), []byte{0xff, 0x01}); err != nil {
			return err
		}
		return downgrade(tx)
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatalf("open with an undecodable record: %v", err)
	}
	defer s.Close()
	if got := matchIDs(t, s, Filter{Text: []string{"etrog"}}, 50); len(got) != 5 {
		t.Errorf("etrog finds %d after the migration, want 5", len(got))
	}
	if err := s.Check(); err == nil || !strings.Contains(err.Error(), "interactions 1") {
		t.Errorf("Check = %v, want it to name the bad record", err)
	}
}
