package store

import (
	"bytes"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Check verifies the database: bbolt's own page consistency, every record
// decodes, and the index buckets hold exactly the entries the records imply.
// It returns every problem found, joined.
func (s *Store) Check() error {
	var errs []error
	err := s.view(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		want := map[string]map[string]string{} // bucket → key → value
		// ix_word is checked without holding its keys (tens of millions at
		// a million interactions): every entry the records imply must be
		// there, and the bucket must hold no more than that many.
		words := tx.Bucket(ixWord)
		wordN, vocab := 0, map[string]bool{}
		add := func(entries []indexEntry) {
			for _, e := range entries {
				if bytes.Equal(e.bucket, ixWord) {
					wordN++
					if w := wordOf(e.key); !isMarker(w) {
						vocab[string(w)] = true
					}
					if words.Get(e.key) == nil {
						errs = append(errs, fmt.Errorf("%s: missing entry %x", ixWord, e.key))
					}
					continue
				}
				m := want[string(e.bucket)]
				if m == nil {
					m = map[string]string{}
					want[string(e.bucket)] = m
				}
				m[string(e.key)] = string(e.value)
			}
		}
		records := []struct {
			bucket []byte
			index  func(id ID, v []byte) ([]indexEntry, error)
		}{
			{bContacts, func(id ID, v []byte) ([]indexEntry, error) {
				c, err := decodeContact(id, v)
				if err != nil {
					return nil, err
				}
				return contactIndex(c), nil
			}},
			{bUsers, func(id ID, v []byte) ([]indexEntry, error) {
				u, err := decodeUser(id, v)
				if err != nil {
					return nil, err
				}
				return userIndex(u), nil
			}},
			{bUnmatched, func(id ID, v []byte) ([]indexEntry, error) {
				u, err := decodeUnmatched(id, v)
				if err != nil {
					return nil, err
				}
				return unmatchedIndex(u), nil
			}},
			{bInteractions, func(id ID, v []byte) ([]indexEntry, error) {
				ia, err := decodeInteraction(id, v)
				if err != nil {
					return nil, err
				}
				if words == nil {
					return interactionIndex(ia), nil
				}
				return append(interactionIndex(ia), storedWordEntries(tx, ia)...), nil
			}},
		}
		for _, r := range records {
			err := tx.Bucket(r.bucket).ForEach(func(k, v []byte) error {
				entries, err := r.index(keyID(k), v)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s %d: %w", r.bucket, keyID(k), err))
					return nil
				}
				add(entries)
				return nil
			})
			if err != nil {
				return err
			}
		}
		for _, b := range [][]byte{ixContactEmail, ixContactDomain, ixContactWord, ixContactName, ixOrgMember,
			ixUserEmail, ixUserAddr, ixTime, ixContactTime, ixType, ixAction, ixOwner, ixSource, ixUnmatched, ixUnmatchedAddr} {
			m := want[string(b)]
			n := 0
			err := tx.Bucket(b).ForEach(func(k, v []byte) error {
				n++
				wv, ok := m[string(k)]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("%s: stray entry %x", b, k))
				case !bytes.Equal([]byte(wv), v):
					errs = append(errs, fmt.Errorf("%s: entry %x points to %x, want %x", b, k, v, wv))
				}
				return nil
			})
			if err != nil {
				return err
			}
			if n != len(m) {
				errs = append(errs, fmt.Errorf("%s: %d entries, records imply %d", b, n, len(m)))
			}
		}
		if words == nil {
			// A file from before the word index, opened read-only (a
			// backup being restored): the next read-write open builds it.
			return nil
		}
		if n := words.Stats().KeyN; n != wordN {
			errs = append(errs, fmt.Errorf("%s: %d entries, records imply %d", ixWord, n, wordN))
		}
		n := 0
		err := tx.Bucket(ixWordVocab).ForEach(func(k, _ []byte) error {
			n++
			if !vocab[string(k)] {
				errs = append(errs, fmt.Errorf("%s: stray word %q", ixWordVocab, k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n != len(vocab) {
			errs = append(errs, fmt.Errorf("%s: %d words, records imply %d", ixWordVocab, n, len(vocab)))
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
