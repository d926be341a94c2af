package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// migration is one step of the schema. tx runs in one transaction with the
// version bump; batched, for steps over every record, runs its own
// transactions (resuming after a crash) before a last one bumps the version.
type migration struct {
	tx      func(tx *bolt.Tx, now time.Time) error
	batched func(db *bolt.DB) error
}

// migrations run in order, each once, when the database is opened;
// meta/schema_version records how many have run. Append only.
var migrations = []migration{
	// 1: the default interaction types and actions.
	{tx: func(tx *bolt.Tx, now time.Time) error {
		for _, t := range DefaultTypes {
			if err := putVocab(tx, VocabType, t); err != nil {
				return err
			}
		}
		for _, a := range DefaultActions {
			if err := putVocab(tx, VocabAction, a); err != nil {
				return err
			}
		}
		return nil
	}},
	// 2: the Message-ID index became the dedupe index (ix_dedupe).
	{tx: func(tx *bolt.Tx, now time.Time) error {
		if tx.Bucket([]byte("ix_message_id")) != nil {
			return tx.DeleteBucket([]byte("ix_message_id"))
		}
		return nil
	}},
	// 3: the free-text word index (ix_word, ix_word_vocab), a key per
	// posting. Migration 5 builds its successor; a database still below 3
	// gets only that.
	{tx: func(tx *bolt.Tx, now time.Time) error { return tx.Bucket(bMeta).Delete(keyWordIndexDone) }},
	// 4: raw messages are stored compressed (raw_zstd, created with every
	// bucket at Open). Nothing to convert; the version bump makes earlier
	// binaries, which read only raw, refuse the file instead of missing
	// its mail.
	{tx: func(tx *bolt.Tx, now time.Time) error { return nil }},
	// 5: the interaction indexes as posting lists (the *_post buckets,
	// store/postings.go), built from the records; then the indexes of a
	// key per entry go. A build cut short starts again from nothing: an
	// older binary may have changed interactions since (the file was
	// still of schema 4), and positions built before would be stale.
	{
		batched: func(db *bolt.DB) error {
			fresh := false
			err := db.Update(func(tx *bolt.Tx) error {
				if bytes.Equal(tx.Bucket(bMeta).Get(keyIndexPostDone), indexBuildDone) {
					return nil // built; a crash came before the version bump
				}
				fresh = true
				return resetIndexes(tx)
			})
			if err != nil || !fresh {
				return err
			}
			return buildIndexes(db, indexBuildBatch, indexBuildBudget)
		},
		tx: func(tx *bolt.Tx, now time.Time) error {
			if err := tx.Bucket(bMeta).Delete(keyIndexPostDone); err != nil {
				return err
			}
			for _, b := range indexesV4 {
				if tx.Bucket(b) != nil {
					if err := tx.DeleteBucket(b); err != nil {
						return err
					}
				}
			}
			return nil
		},
	},
}

var keySchemaVersion = []byte("schema_version")

// postingsSchema is the first schema whose interaction indexes are posting
// lists (migration 5).
const postingsSchema = 5

// SchemaVersion is the version a database has after Open.
func SchemaVersion() int { return len(migrations) }

func schemaVersion(tx *bolt.Tx) uint64 {
	if v := tx.Bucket(bMeta).Get(keySchemaVersion); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// migrate runs the pending migrations, each in its own transactions, so a
// migration over every record does not hold them all in one.
func migrate(db *bolt.DB, now time.Time) error {
	var have uint64
	if err := db.View(func(tx *bolt.Tx) error { have = schemaVersion(tx); return nil }); err != nil {
		return err
	}
	if have > uint64(len(migrations)) {
		return fmt.Errorf("database schema version %d is newer than this binary knows (%d): upgrade touchpoint", have, len(migrations))
	}
	for i := have; i < uint64(len(migrations)); i++ {
		m := migrations[i]
		if m.batched != nil {
			if err := m.batched(db); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		err := db.Update(func(tx *bolt.Tx) error {
			if m.tx != nil {
				if err := m.tx(tx, now); err != nil {
					return fmt.Errorf("migration %d: %w", i+1, err)
				}
			}
			if err := tx.Bucket(bMeta).Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, i+1)); err != nil {
				return fmt.Errorf("record schema version: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// keyWordIndexDone was migration 3's resume point; keyIndexPostDone is the
// last interaction id buildIndexes has indexed, so a build cut short
// resumes there.
var (
	keyWordIndexDone = []byte("word_index_done")
	keyIndexPostDone = []byte("index_post_done")
	// indexBuildDone is keyIndexPostDone's value once every interaction
	// is indexed (ids are 8 bytes): the step that follows clears it.
	indexBuildDone = []byte("done")
)

// indexBuildBatch is how many interactions buildIndexes reads in one
// read transaction; indexBuildBudget bounds the memory their gathered
// positions take before they are written, with the resume point, in one
// write transaction. A million interactions gather about 130 MB.
const (
	indexBuildBatch  = 20_000
	indexBuildBudget = 32 << 20
)

// buildIndexes indexes every interaction (filter indexes and words): it
// reads the records batch at a time and gathers their positions, encoded
// (postingBatch), writing them with the resume point whenever they pass
// budget and at the end. Each list is then written once per budget's
// worth rather than once per batch of records. Nothing else writes
// meanwhile (a migration at Open, or touchpoint reindex with the daemon
// stopped); indexing one twice (after a crash) is harmless.
func buildIndexes(db *bolt.DB, batch, budget int) error {
	var after []byte
	err := db.View(func(tx *bolt.Tx) error {
		after = bytes.Clone(tx.Bucket(bMeta).Get(keyIndexPostDone))
		return nil
	})
	if err != nil || bytes.Equal(after, indexBuildDone) {
		return err // built; a crash came before the version bump
	}
	gathered := new(postingBatch)
	for {
		var items []*Interaction
		var last []byte
		done := false
		err := db.View(func(tx *bolt.Tx) error {
			c := tx.Bucket(bInteractions).Cursor()
			var k, v []byte
			if after != nil {
				if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			} else {
				k, v = c.First()
			}
			for ; k != nil && len(items) < batch; k, v = c.Next() {
				last = k
				ia, err := decodeInteraction(keyID(k), v)
				if err != nil {
					continue // not indexed: Check names the record
				}
				items = append(items, ia)
			}
			last = bytes.Clone(last)
			done = k == nil
			return nil
		})
		if err != nil {
			return err
		}
		gathered.merge(batchOf(items))
		if last != nil {
			after = last
		}
		if !done && gathered.size < budget {
			continue
		}
		resume := after
		if done {
			resume = indexBuildDone
		}
		err = db.Update(func(tx *bolt.Tx) error {
			if err := gathered.apply(tx); err != nil {
				return err
			}
			return tx.Bucket(bMeta).Put(keyIndexPostDone, resume)
		})
		if err != nil || done {
			return err
		}
		gathered = new(postingBatch)
	}
}

// RebuildIndexes drops the interaction indexes and the word vocabulary and
// builds them again from the records (touchpoint reindex, daemon stopped):
// the repair for a damaged posting block, which Check names. It resumes
// like migration 5 when cut short: run it again.
func (s *Store) RebuildIndexes() error {
	if s.readOnly {
		return errors.New("store: read-only")
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		// A rebuild cut short goes on from there: only binaries of
		// schema 5 or later open this file, and they keep the lists.
		if resuming := tx.Bucket(bMeta).Get(keyIndexPostDone); resuming != nil && !bytes.Equal(resuming, indexBuildDone) {
			return nil
		}
		return resetIndexes(tx)
	})
	if err != nil {
		return err
	}
	if err := buildIndexes(s.db, indexBuildBatch, indexBuildBudget); err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Delete(keyIndexPostDone) })
}

// resetIndexes empties the interaction indexes and the word vocabulary
// for a build from the records.
func resetIndexes(tx *bolt.Tx) error {
	for _, b := range append([][]byte{ixWordVocab}, postingBuckets...) {
		if tx.Bucket(b) != nil {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		if _, err := tx.CreateBucket(b); err != nil {
			return err
		}
	}
	return tx.Bucket(bMeta).Delete(keyIndexPostDone)
}
