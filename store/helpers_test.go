package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "t.db"), Options{NoSync: true, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("Check after test: %v", err)
		}
		s.Close()
	})
	return s
}

func mustContact(t testing.TB, s *Store, c Contact) *Contact {
	t.Helper()
	if err := s.CreateContact(context.Background(), &c); err != nil {
		t.Fatalf("CreateContact(%q): %v", c.Name, err)
	}
	return &c
}

func mustUser(t testing.TB, s *Store, name, email, role string) *User {
	t.Helper()
	u := &User{Name: name, Emails: []string{email}, Role: role}
	if err := s.CreateUser(context.Background(), u, "password123"); err != nil {
		t.Fatalf("CreateUser(%q): %v", email, err)
	}
	return u
}

func mustInteraction(t testing.TB, s *Store, ia Interaction) *Interaction {
	t.Helper()
	if err := s.CreateInteraction(context.Background(), &ia); err != nil {
		t.Fatalf("CreateInteraction(%q): %v", ia.Title, err)
	}
	return &ia
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}
