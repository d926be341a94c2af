package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// migrations run in order, each once, inside the transaction that opens the
// database; meta/schema_version records how many have run. Append only.
var migrations = []func(tx *bolt.Tx, now time.Time) error{
	// 1: the default interaction types and actions.
	func(tx *bolt.Tx, now time.Time) error {
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
	},
	// 2: the Message-ID index became the dedupe index (ix_dedupe).
	func(tx *bolt.Tx, now time.Time) error {
		if tx.Bucket([]byte("ix_message_id")) != nil {
			return tx.DeleteBucket([]byte("ix_message_id"))
		}
		return nil
	},
}

var keySchemaVersion = []byte("schema_version")

// SchemaVersion is the version a database has after Open.
func SchemaVersion() int { return len(migrations) }

func migrate(tx *bolt.Tx, now time.Time) error {
	meta := tx.Bucket(bMeta)
	var have uint64
	if v := meta.Get(keySchemaVersion); len(v) == 8 {
		have = binary.BigEndian.Uint64(v)
	}
	if have > uint64(len(migrations)) {
		return fmt.Errorf("database schema version %d is newer than this binary knows (%d): upgrade touchpoint", have, len(migrations))
	}
	for i := have; i < uint64(len(migrations)); i++ {
		if err := migrations[i](tx, now); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if err := meta.Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, i+1)); err != nil {
			return fmt.Errorf("record schema version: %w", err)
		}
	}
	return nil
}
