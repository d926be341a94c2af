package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Web sessions. The browser holds a random 32-byte id; the store keeps only
// its SHA-256, so a copy of the database does not let anyone sign in. A
// session ends after SessionIdleTimeout without use, SessionMaxAge after
// sign-in whatever the use, or at sign-out.
const (
	SessionIdleTimeout = 12 * time.Hour
	SessionMaxAge      = 7 * 24 * time.Hour
	// sessionTouchEvery bounds the writes that keep LastSeen current: at
	// most one per session per minute, not one per request.
	sessionTouchEvery = time.Minute
)

// Session is a signed-in browser.
type Session struct {
	UserID    ID
	CreatedAt time.Time
	LastSeen  time.Time
}

// ExpiresAt is when the session ends unless used again.
func (ss *Session) ExpiresAt() time.Time {
	idle := ss.LastSeen.Add(SessionIdleTimeout)
	if abs := ss.CreatedAt.Add(SessionMaxAge); abs.Before(idle) {
		return abs
	}
	return idle
}

func (ss *Session) expired(now time.Time) bool { return !now.Before(ss.ExpiresAt()) }

const sessionV1 = 1

func (ss *Session) encode() []byte {
	var e encoder
	e.byte(sessionV1)
	e.id(ss.UserID)
	e.time(ss.CreatedAt)
	e.time(ss.LastSeen)
	return e.b
}

func decodeSession(b []byte) (*Session, error) {
	d := decoder{b: b}
	if d.byte() != sessionV1 {
		return nil, errCorrupt
	}
	ss := &Session{UserID: d.id(), CreatedAt: d.time(), LastSeen: d.time()}
	return ss, d.err
}

func sessionKey(plain string) []byte {
	h := sha256.Sum256([]byte(plain))
	return h[:]
}

// CreateSession starts a session for a user and returns the id to give the
// browser (43 URL-safe characters). Expired sessions are swept in the same
// write.
func (s *Store) CreateSession(ctx context.Context, userID ID) (string, *Session, error) {
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, err
	}
	plain := base64.RawURLEncoding.EncodeToString(raw[:])
	now := s.now().UTC()
	ss := &Session{UserID: userID, CreatedAt: now, LastSeen: now}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		if _, err := getUser(tx, userID); err != nil {
			return err
		}
		if err := pruneSessions(tx, now); err != nil {
			return err
		}
		return tx.Bucket(bSessions).Put(sessionKey(plain), ss.encode())
	})
	if err != nil {
		return "", nil, err
	}
	return plain, ss, nil
}

// SessionByID returns the live session for a browser's id; unknown and
// expired ids are ErrNotFound. It records the use (LastSeen) at most once a
// minute, which is the only write on the way.
func (s *Store) SessionByID(ctx context.Context, plain string) (*Session, error) {
	if plain == "" {
		return nil, ErrNotFound
	}
	key := sessionKey(plain)
	now := s.now().UTC()
	var ss *Session
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bSessions).Get(key)
		if v == nil {
			return ErrNotFound
		}
		var err error
		ss, err = decodeSession(v)
		return err
	})
	if err != nil {
		return nil, err
	}
	if ss.expired(now) {
		return nil, ErrNotFound
	}
	if now.Sub(ss.LastSeen) < sessionTouchEvery {
		return ss, nil
	}
	var out *Session
	err = s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bSessions)
		v := b.Get(key)
		if v == nil {
			return ErrNotFound // signed out meanwhile
		}
		cur, err := decodeSession(v)
		if err != nil {
			return err
		}
		if cur.expired(now) {
			return ErrNotFound
		}
		cur.LastSeen = now
		out = cur
		return b.Put(key, cur.encode())
	})
	return out, err
}

// DeleteSession ends a session (sign-out). Unknown ids are not an error.
func (s *Store) DeleteSession(ctx context.Context, plain string) error {
	if plain == "" {
		return nil
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bSessions).Delete(sessionKey(plain))
	})
}

// DeleteUserSessions ends every session of a user (deactivation, a new
// password) and returns how many there were.
func (s *Store) DeleteUserSessions(ctx context.Context, userID ID) (int, error) {
	var n int
	err := s.update(ctx, func(tx *bolt.Tx) error {
		n = 0
		return deleteSessionsWhere(tx, func(ss *Session) bool { return ss.UserID == userID }, &n)
	})
	return n, err
}

func pruneSessions(tx *bolt.Tx, now time.Time) error {
	var n int
	return deleteSessionsWhere(tx, func(ss *Session) bool { return ss.expired(now) }, &n)
}

// deleteSessionsWhere deletes the sessions for which match is true; a
// record that does not decode goes too (a session is cheap to lose).
func deleteSessionsWhere(tx *bolt.Tx, match func(*Session) bool, n *int) error {
	b := tx.Bucket(bSessions)
	var keys [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if ss, err := decodeSession(v); err != nil || match(ss) {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	*n = len(keys)
	return nil
}

// Secret returns a random 32-byte key kept in the database under name,
// creating it on first use: keys that must survive restarts, such as the
// one that signs the web forms' CSRF cookie.
func (s *Store) Secret(ctx context.Context, name string) ([]byte, error) {
	key := []byte("secret/" + name)
	var out []byte
	err := s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bMeta).Get(key); len(v) == 32 {
			out = bytes.Clone(v)
		}
		return nil
	})
	if err != nil || out != nil {
		return out, err
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		meta := tx.Bucket(bMeta)
		if v := meta.Get(key); len(v) == 32 {
			out = bytes.Clone(v) // another caller won the race
			return nil
		}
		out = fresh
		return meta.Put(key, fresh)
	})
	return out, err
}
