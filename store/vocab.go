package store

import (
	"bytes"
	"context"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Vocabulary kinds: the lists the UI offers. Types and actions grow as the
// team uses new ones; locations are kept by admins.
const (
	VocabType     = "type"
	VocabAction   = "action"
	VocabLocation = "location"
)

// The lists a new database starts with.
var (
	DefaultTypes   = []string{"Email", "Call", "Visit", "Meeting", "Appointment", "Other"}
	DefaultActions = []string{"Tefillin", "Neshek", "Discussion"}
)

func vocabKey(kind, name string) []byte {
	return append(strPrefix(kind), strings.ToLower(name)...)
}

func putVocab(tx *bolt.Tx, kind, name string) error {
	return tx.Bucket(bVocab).Put(vocabKey(kind, name), []byte(name))
}

// canonical returns the spelling already on the list for name (matched
// case-insensitively), adding name to the list when it is new.
func canonical(tx *bolt.Tx, kind, name string) (string, error) {
	if v := tx.Bucket(bVocab).Get(vocabKey(kind, name)); v != nil {
		return string(v), nil
	}
	return name, putVocab(tx, kind, name)
}

// Vocab lists a vocabulary in alphabetical order.
func (s *Store) Vocab(kind string) ([]string, error) {
	var out []string
	err := s.view(func(tx *bolt.Tx) error {
		p := strPrefix(kind)
		c := tx.Bucket(bVocab).Cursor()
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			out = append(out, string(v))
		}
		return nil
	})
	return out, err
}

// AddVocab adds a name to a list (no-op when present, whatever its case).
func (s *Store) AddVocab(ctx context.Context, kind, name string) error {
	name = strings.TrimSpace(name)
	if err := checkLabel(kind, name); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		_, err := canonical(tx, kind, name)
		return err
	})
}

// RemoveVocab removes a name from a list. Interactions keep their values.
func (s *Store) RemoveVocab(ctx context.Context, kind, name string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bVocab)
		k := vocabKey(kind, name)
		if b.Get(k) == nil {
			return ErrNotFound
		}
		return b.Delete(k)
	})
}
