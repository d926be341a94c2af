package store

import (
	"bytes"
	"encoding/binary"
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
	// 5: the word index as posting lists (ix_word_post, store/postings.go),
	// built from the records; then the key-per-posting ix_word goes.
	{
		batched: func(db *bolt.DB) error { return buildWordIndex(db, wordIndexBatch) },
		tx: func(tx *bolt.Tx, now time.Time) error {
			if tx.Bucket(ixWordV4) != nil {
				return tx.DeleteBucket(ixWordV4)
			}
			return nil
		},
	},
}

var keySchemaVersion = []byte("schema_version")

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

// keyWordIndexDone was migration 3's resume point; keyWordPostDone is the
// last interaction id buildWordIndex has indexed, so a build cut short
// resumes there.
var (
	keyWordIndexDone = []byte("word_index_done")
	keyWordPostDone  = []byte("word_post_done")
)

// wordIndexBatch is how many interactions one transaction of the build
// indexes: a few hundred thousand word entries, sorted, then put.
const wordIndexBatch = 20_000

// buildWordIndex indexes the words of every interaction, batch at a time,
// each batch committed with its resume point. Putting an entry twice (after
// a crash) is harmless.
func buildWordIndex(db *bolt.DB, batch int) error {
	for {
		done := false
		err := db.Update(func(tx *bolt.Tx) error {
			meta := tx.Bucket(bMeta)
			c := tx.Bucket(bInteractions).Cursor()
			var k, v []byte
			if after := meta.Get(keyWordPostDone); after != nil {
				if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			} else {
				k, v = c.First()
			}
			var keys [][]byte
			var last []byte
			for n := 0; k != nil && n < batch; k, v = c.Next() {
				ia, err := decodeInteraction(keyID(k), v)
				if err != nil {
					return fmt.Errorf("interaction %d: %w", keyID(k), err)
				}
				keys = append(keys, wordKeys(wordEntries(ia))...)
				last = k
				n++
			}
			done = k == nil
			if err := putSorted(tx, ixWord, keys); err != nil {
				return err
			}
			if err := syncVocab(tx, distinctWords(keys), nil); err != nil {
				return err
			}
			if done {
				return meta.Delete(keyWordPostDone)
			}
			return meta.Put(keyWordPostDone, bytes.Clone(last))
		})
		if err != nil || done {
			return err
		}
	}
}
