package store

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"
)

// fakeClock is a settable clock for expiry tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openClocked(t *testing.T) (*Store, *fakeClock) {
	t.Helper()
	clk := &fakeClock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	s, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{NoSync: true, PasswordCost: bcrypt.MinCost, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

func TestSessionLifecycle(t *testing.T) {
	t.Parallel()
	s, clk := openClocked(t)
	ctx := context.Background()
	u := mustUser(t, s, "Sarah Cohen", "sarah@org.org", RoleStaff)

	plain, ss, err := s.CreateSession(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(plain) != 43 || ss.UserID != u.ID {
		t.Fatalf("CreateSession = %q, %+v", plain, ss)
	}
	other, _, _ := s.CreateSession(ctx, u.ID)
	if other == plain {
		t.Fatal("two sessions share an id")
	}
	// Only the hash is stored.
	s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bSessions).ForEach(func(k, v []byte) error {
			if bytes.Contains(k, []byte(plain)) || bytes.Contains(v, []byte(plain)) {
				t.Error("session id stored in clear")
			}
			return nil
		})
	})

	got, err := s.SessionByID(ctx, plain)
	if err != nil || got.UserID != u.ID {
		t.Fatalf("SessionByID = %+v, %v", got, err)
	}
	for _, bad := range []string{"", "nope", plain + "x"} {
		if _, err := s.SessionByID(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("SessionByID(%q) = %v, want ErrNotFound", bad, err)
		}
	}

	// Use within the idle timeout keeps it alive...
	for range 3 {
		clk.add(SessionIdleTimeout - time.Minute)
		if _, err := s.SessionByID(ctx, plain); err != nil {
			t.Fatalf("session dropped while in use: %v", err)
		}
	}
	// ...and the other one, unused, expired.
	if _, err := s.SessionByID(ctx, other); !errors.Is(err, ErrNotFound) {
		t.Errorf("idle session = %v, want ErrNotFound", err)
	}
	// Sign-out ends it at once.
	if err := s.DeleteSession(ctx, plain); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SessionByID(ctx, plain); !errors.Is(err, ErrNotFound) {
		t.Errorf("after DeleteSession = %v", err)
	}
	// Creating a session sweeps the expired one.
	if _, _, err := s.CreateSession(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if n := countSessions(s); n != 1 {
		t.Errorf("%d sessions stored, want 1", n)
	}
	if _, _, err := s.CreateSession(ctx, 12345); !errors.Is(err, ErrNotFound) {
		t.Errorf("session for a missing user = %v", err)
	}
}

func TestSessionAbsoluteExpiry(t *testing.T) {
	t.Parallel()
	s, clk := openClocked(t)
	ctx := context.Background()
	u := mustUser(t, s, "Sarah Cohen", "sarah@org.org", RoleStaff)
	plain, _, _ := s.CreateSession(ctx, u.ID)
	for elapsed := time.Duration(0); elapsed < SessionMaxAge-time.Hour; elapsed += time.Hour {
		clk.add(time.Hour)
		if _, err := s.SessionByID(ctx, plain); err != nil {
			t.Fatalf("after %v: %v", elapsed, err)
		}
	}
	clk.add(time.Hour)
	if _, err := s.SessionByID(ctx, plain); !errors.Is(err, ErrNotFound) {
		t.Errorf("session older than SessionMaxAge = %v", err)
	}
	// The next sign-in sweeps it.
	if _, _, err := s.CreateSession(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if n := countSessions(s); n != 1 {
		t.Errorf("%d sessions stored after the next sign-in, want 1", n)
	}
}

func TestDeleteUserSessions(t *testing.T) {
	t.Parallel()
	s, _ := openClocked(t)
	ctx := context.Background()
	a := mustUser(t, s, "Ada", "ada@org.org", RoleAdmin)
	b := mustUser(t, s, "Ben", "ben@org.org", RoleStaff)
	a1, _, _ := s.CreateSession(ctx, a.ID)
	s.CreateSession(ctx, b.ID)
	s.CreateSession(ctx, b.ID)
	if n, err := s.DeleteUserSessions(ctx, b.ID); n != 2 || err != nil {
		t.Fatalf("DeleteUserSessions = %d, %v", n, err)
	}
	if _, err := s.SessionByID(ctx, a1); err != nil {
		t.Errorf("another user's session ended: %v", err)
	}
}

func TestSecretIsStable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.db")
	s, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k1, err := s.Secret(ctx, "csrf")
	if err != nil || len(k1) != 32 {
		t.Fatalf("Secret = %x, %v", k1, err)
	}
	k2, _ := s.Secret(ctx, "other")
	if bytes.Equal(k1, k2) {
		t.Error("two names share a secret")
	}
	s.Close()
	s, err = Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if k3, _ := s.Secret(ctx, "csrf"); !bytes.Equal(k1, k3) {
		t.Error("secret changed across a restart")
	}
}

func countSessions(s *Store) int {
	n := 0
	s.view(func(tx *bolt.Tx) error {
		n = tx.Bucket(bSessions).Stats().KeyN
		return nil
	})
	return n
}
