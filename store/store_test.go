package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestSecondOpenFailsFast(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	_, err = Open(path, Options{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("second Open took %v to fail", d)
	}
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	c := mustContact(t, s, Contact{Name: "Kept"})
	s.Close()
	if err := s.CreateContact(context.Background(), &Contact{Name: "late"}); !errors.Is(err, ErrClosed) {
		t.Errorf("write after Close = %v, want ErrClosed", err)
	}
	s, err = Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.GetContact(c.ID); err != nil || got.Name != "Kept" {
		t.Fatalf("after reopen: %v, %v", got, err)
	}
	if id := s.NewID(); id <= c.ID {
		t.Errorf("NewID after reopen = %d, not above %d", id, c.ID)
	}
	types, _ := s.Vocab(VocabType)
	if len(types) != len(DefaultTypes) {
		t.Errorf("migrations ran twice or not at all: types = %v", types)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bMeta).Put(keySchemaVersion, ID(99).key())
	})
	s.Close()
	if _, err := Open(path, Options{NoSync: true}); err == nil {
		t.Fatal("Open of a newer schema succeeded")
	}
}

func TestIDsAreOrderedAndJSONSafe(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	s, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{NoSync: true, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	prev := ID(0)
	for range 10000 { // far more than one millisecond's sequence
		id := s.NewID()
		if id <= prev || id > maxJSONID {
			t.Fatalf("NewID = %d after %d", id, prev)
		}
		prev = id
	}
}

// TestGroupCommitIsolatesFailures runs many concurrent writes, some of which
// fail; the others must all commit, the failing ones change nothing.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	taken := mustContact(t, s, Contact{Name: "Taken", Emails: []string{"taken@example.org"}})
	var wg sync.WaitGroup
	errs := make([]error, 200)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := fmt.Sprintf("p%d@example.org", i)
			if i%7 == 0 {
				email = "taken@example.org" // conflicts
			}
			errs[i] = s.CreateContact(ctx, &Contact{Name: fmt.Sprint("P", i), Emails: []string{email}})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i%7 == 0 && !errors.Is(err, ErrConflict) {
			t.Errorf("write %d = %v, want ErrConflict", i, err)
		}
		if i%7 != 0 && err != nil {
			t.Errorf("write %d = %v, want success", i, err)
		}
	}
	n, _ := s.CountContacts()
	if want := 1 + 200 - (200+6)/7; n != want {
		t.Errorf("%d contacts, want %d", n, want)
	}
	if c, _ := s.ContactByEmail("taken@example.org"); c.ID != taken.ID {
		t.Errorf("conflicting write replaced the owner of the address")
	}
}

func TestWriterSurvivesPanic(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	err := s.update(context.Background(), func(tx *bolt.Tx) error { panic("boom") })
	if err == nil {
		t.Fatal("panicking write returned nil")
	}
	mustContact(t, s, Contact{Name: "after the panic"})
}

func TestBackupIsAUsableCopy(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	c := mustContact(t, s, Contact{Name: "In the backup"})
	path := filepath.Join(t.TempDir(), "backup.db")
	n, err := s.BackupFile(path)
	if err != nil || n == 0 {
		t.Fatalf("BackupFile = %d, %v", n, err)
	}
	mustContact(t, s, Contact{Name: "After the backup"})
	b, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Check(); err != nil {
		t.Errorf("backup Check: %v", err)
	}
	if got, err := b.GetContact(c.ID); err != nil || got.Name != c.Name {
		t.Errorf("backup lacks the contact: %v, %v", got, err)
	}
	if n, _ := b.CountContacts(); n != 1 {
		t.Errorf("backup has %d contacts, want 1", n)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", st.Mode().Perm())
	}
}

func TestUsersAndTokens(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	admin := mustUser(t, s, "Ada Admin", "ada@org.org", RoleAdmin)
	if admin.Initials != "AA" || admin.Color == "" || admin.AddressToken == "" {
		t.Errorf("derived fields not set: %+v", admin)
	}
	if err := s.CreateUser(ctx, &User{Name: "X", Emails: []string{"ADA@org.org"}}, "password123"); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate user email = %v", err)
	}
	if err := s.CreateUser(ctx, &User{Name: "X", Emails: []string{"x@org.org"}}, "short"); err == nil {
		t.Error("short password accepted")
	}
	if _, err := s.Authenticate("Ada@Org.org", "password123"); err != nil {
		t.Errorf("Authenticate: %v", err)
	}
	for _, pw := range []string{"wrong-password", ""} {
		if _, err := s.Authenticate("ada@org.org", pw); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Authenticate(%q) = %v", pw, err)
		}
	}
	if _, err := s.Authenticate("nobody@org.org", "password123"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("unknown user = %v", err)
	}
	// The last admin cannot be demoted.
	if _, err := s.UpdateUser(ctx, admin.ID, func(u *User) error { u.Role = RoleStaff; return nil }); err == nil {
		t.Error("last admin demoted")
	}
	staff := mustUser(t, s, "Sam", "sam@org.org", RoleStaff)
	if _, err := s.UpdateUser(ctx, staff.ID, func(u *User) error { u.Disabled = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("sam@org.org", "password123"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("disabled user signed in: %v", err)
	}
	if u, err := s.UserByAddressToken(admin.AddressToken); err != nil || u.ID != admin.ID {
		t.Errorf("UserByAddressToken = %v, %v", u, err)
	}

	plain, tok, err := s.CreateToken(ctx, "ci", RoleAdmin, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.TokenByPlaintext(plain)
	if err != nil || got.ID != tok.ID || got.Role != RoleAdmin {
		t.Fatalf("TokenByPlaintext = %+v, %v", got, err)
	}
	if _, err := s.TokenByPlaintext(plain + "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("wrong token = %v", err)
	}
	if err := s.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TokenByPlaintext(plain); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked token = %v", err)
	}
	if _, _, err := s.CreateToken(ctx, "bad", "root", 0); err == nil {
		t.Error("token with role root created")
	}
	if err := s.SetPassword(ctx, admin.ID, "new-password-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate("ada@org.org", "new-password-1"); err != nil {
		t.Errorf("new password: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	ia := &Interaction{ContactIDs: []ID{1, 2}, Type: "Email", Actions: []string{"a"}, Title: "t", OccurredAt: time.Unix(5, 0),
		Email: &Email{MessageID: "<x@y>", To: []string{"a@b.c"}, Attachments: []Attachment{{Name: "f", Size: 3}}}}
	f.Add(ia.encode())
	f.Add((&Contact{Name: "n", Emails: []string{"e@x.org"}}).encode())
	f.Add((&User{Name: "n", PasswordHash: []byte("h")}).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		// Corrupt input must give an error, never a panic or a huge allocation.
		if ia, err := decodeInteraction(1, b); err == nil {
			if _, err := decodeInteraction(1, ia.encode()); err != nil {
				t.Fatalf("re-encoded interaction does not decode: %v", err)
			}
		}
		decodeContact(1, b)
		decodeUser(1, b)
		decodeToken(1, b)
	})
}
