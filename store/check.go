package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// checkedIndexes are the index buckets Check compares with what the records
// imply, the interaction indexes (postingBuckets) aside: a file from before
// them has none. The word vocabulary is checked on its own.
var checkedIndexes = [][]byte{ixContactEmail, ixContactDomain, ixContactWord, ixContactName, ixOrgMember,
	ixUserEmail, ixUserAddr, ixUnmatched, ixUnmatchedAddr}

// hasPostings reports whether the file's interaction indexes are complete
// posting lists: not one of schema 4 or below opened read-only (a backup
// being checked), nor one whose migration 5 was cut short; the next
// read-write open (re)builds them.
func hasPostings(tx *bolt.Tx) bool { return schemaVersion(tx) >= postingsSchema }

// checkBudget bounds the memory of the implied posting positions Check
// gathers before it looks them up.
const checkBudget = 32 << 20

// maxStrays bounds how many stray index entries Check names per bucket.
const maxStrays = 10

// Check verifies the database: bbolt's own page consistency, every record
// decodes (compressed raw messages included), and the index buckets hold
// exactly the entries the records imply. It returns every problem found,
// joined.
//
// Memory stays bounded at any size: each entry a record implies is looked
// up in its bucket (the posting lists' in gatherings of at most
// checkBudget), and a bucket holding more entries than were found has
// strays, which a second walk (for that bucket only) names.
func (s *Store) Check() error {
	errs, err := s.checkPages()
	if err != nil {
		return err
	}
	err = s.view(func(tx *bolt.Tx) error {
		postings := hasPostings(tx)
		implied := map[string]int{} // bucket → entries the records imply
		found := map[string]int{}   // bucket → of those, how many are there
		vocab := map[string]bool{}
		reported := map[string]bool{}
		// report adds a problem once: a damaged block is met once per
		// position it holds.
		report := func(err error) {
			if !reported[err.Error()] {
				reported[err.Error()] = true
				errs = append(errs, err)
			}
		}
		// The posting lists' implied positions are gathered, up to
		// checkBudget, and looked up list by list: each block decoded once
		// per gathering rather than once per position.
		var gathered postingBatch
		var hs, tmp []hit
		lookUp := func() {
			for list := range gathered.runs {
				name := postingBuckets[list]
				b := tx.Bucket(name)
				for _, r := range gathered.sorted(list) {
					prefix := []byte(r.prefix)
					hs, tmp = r.hits(hs[:0], tmp)
					postingFind(b, prefix, hs, func(h hit, held bool) {
						if held {
							found[string(name)]++
						} else {
							errs = append(errs, fmt.Errorf("%s: missing entry %x", name, blockKey(prefix, h)))
						}
					}, func(err error) {
						// Reported as the damage, not as missing entries.
						report(fmt.Errorf("%s: %w", name, err))
					})
				}
			}
			gathered = postingBatch{}
		}
		lists := map[string]int{} // posting bucket → its index in postingBuckets
		for i, b := range postingBuckets {
			lists[string(b)] = i
		}
		opened := map[string]*bolt.Bucket{} // the others, as opened
		err := impliedEntries(tx, func(e indexEntry) {
			implied[string(e.bucket)]++
			if bytes.Equal(e.bucket, ixWord) {
				if w := wordOf(e.key); !isMarker(w) {
					vocab[string(w)] = true
				}
			}
			if list, ok := lists[string(e.bucket)]; ok {
				prefix, h := splitEntry(e.key)
				gathered.add(list, prefix, h)
				if gathered.size > checkBudget {
					lookUp()
				}
				return
			}
			b := opened[string(e.bucket)]
			if b == nil {
				b = tx.Bucket(e.bucket)
				opened[string(e.bucket)] = b
			}
			v := b.Get(e.key)
			if v != nil {
				found[string(e.bucket)]++
			}
			switch {
			case v == nil:
				errs = append(errs, fmt.Errorf("%s: missing entry %x", e.bucket, e.key))
			case !bytes.Equal(v, e.value) && !bytes.Equal(e.bucket, ixWord):
				errs = append(errs, fmt.Errorf("%s: entry %x points to %x, want %x", e.bucket, e.key, v, e.value))
			}
		}, report)
		if err != nil {
			return err
		}
		lookUp()
		errs = append(errs, checkRaws(tx)...)
		buckets := checkedIndexes
		if postings {
			buckets = append(buckets[:len(buckets):len(buckets)], postingBuckets...)
		}
		for _, b := range buckets {
			n, want := tx.Bucket(b).Stats().KeyN, implied[string(b)]
			if isPostings(b) {
				var err error
				if n, err = postingCount(tx.Bucket(b)); err != nil {
					report(fmt.Errorf("%s: %w", b, err))
				}
			}
			if n != want {
				errs = append(errs, fmt.Errorf("%s: %d entries, records imply %d", b, n, want))
			}
			// Entries beyond those found are strays, even when a missing
			// one evens the count out.
			if n > found[string(b)] && !bytes.Equal(b, ixWord) {
				strays, err := strayEntries(tx, b)
				if err != nil {
					report(fmt.Errorf("%s: %w", b, err))
				}
				for _, k := range strays {
					errs = append(errs, fmt.Errorf("%s: stray entry %x", b, k))
				}
			}
		}
		if !postings {
			return nil
		}
		n := 0
		err = tx.Bucket(ixWordVocab).ForEach(func(k, _ []byte) error {
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

// checkPages runs bbolt's page check. bbolt's freelist is shared by every
// transaction, so a read transaction's check sees pages that a concurrent
// commit just freed and reports them ("reachable freed"): on a store that
// may be written (a daemon's, with the journal's applier behind it) the
// check runs as a write, holding other writes back while it reads the
// pages. Read-only stores have no writers.
func (s *Store) checkPages() ([]error, error) {
	var errs []error
	check := func(tx *bolt.Tx) error {
		errs = errs[:0] // a write may run again
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return nil
	}
	if s.readOnly {
		return errs, s.view(check)
	}
	return errs, s.update(context.Background(), check)
}

// impliedEntries calls fn with every index entry the records imply, and bad
// with each record that does not decode.
func impliedEntries(tx *bolt.Tx, fn func(indexEntry), bad func(error)) error {
	postings := hasPostings(tx)
	records := []struct {
		bucket []byte
		index  func(id ID, v []byte) ([]indexEntry, error)
	}{
		{bContacts, indexOf(decodeContact, contactIndex)},
		{bUsers, indexOf(decodeUser, userIndex)},
		{bUnmatched, indexOf(decodeUnmatched, unmatchedIndex)},
		{bInteractions, func(id ID, v []byte) ([]indexEntry, error) {
			ia, err := decodeInteraction(id, v)
			if err != nil {
				return nil, err
			}
			if !postings {
				return nil, nil // decoded: the indexes are rebuilt at the next read-write open
			}
			stored, err := storedWordEntries(tx, ia)
			if err != nil {
				// The pending list is damaged, not the record: that is
				// reported, and the record's other entries still count.
				bad(fmt.Errorf("%s: %w", ixWord, err))
			}
			return append(interactionIndex(ia), stored...), nil
		}},
	}
	for _, r := range records {
		err := tx.Bucket(r.bucket).ForEach(func(k, v []byte) error {
			entries, err := r.index(keyID(k), v)
			if err != nil {
				bad(fmt.Errorf("%s %d: %w", r.bucket, keyID(k), err))
				return nil
			}
			for _, e := range entries {
				fn(e)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// indexOf turns a record kind's decoder and index function into what
// impliedEntries walks with.
func indexOf[T any](decode func(ID, []byte) (T, error), index func(T) []indexEntry) func(ID, []byte) ([]indexEntry, error) {
	return func(id ID, v []byte) ([]indexEntry, error) {
		r, err := decode(id, v)
		if err != nil {
			return nil, err
		}
		return index(r), nil
	}
}

// strayEntries names up to maxStrays entries of bucket b that no record
// implies. It holds b's implied keys, so Check calls it only for a bucket
// found to have strays.
func strayEntries(tx *bolt.Tx, b []byte) ([][]byte, error) {
	want := map[string]bool{}
	err := impliedEntries(tx, func(e indexEntry) {
		if bytes.Equal(e.bucket, b) {
			want[string(e.key)] = true
		}
	}, func(error) {})
	if err != nil {
		return nil, err
	}
	var out [][]byte
	if isPostings(b) {
		err := eachPosting(tx.Bucket(b), func(k []byte) bool {
			if !want[string(k)] {
				out = append(out, bytes.Clone(k))
			}
			return len(out) < maxStrays
		})
		return out, err
	}
	c := tx.Bucket(b).Cursor()
	for k, _ := c.First(); k != nil && len(out) < maxStrays; k, _ = c.Next() {
		if !want[string(k)] {
			out = append(out, bytes.Clone(k))
		}
	}
	return out, nil
}
