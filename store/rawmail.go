package store

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
	bolt "go.etcd.io/bbolt"
)

// Raw messages are kept zstd-compressed (bRawZ, fastest level): mail text
// shrinks two to four times, so more messages share a page, a batch
// commit writes fewer pages, and the file holds more mail. Messages stored
// before (bRaw) are read as they are. The compression runs in prepare,
// off the writer's goroutine.

var (
	rawEncoder = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
		if err != nil {
			panic(err) // only for invalid options
		}
		return e
	})
	rawDecoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(MaxRawBytes+1<<20))
		if err != nil {
			panic(err)
		}
		return d
	})
)

// compressRaw returns raw as stored in bRawZ.
func compressRaw(raw []byte) []byte {
	return rawEncoder().EncodeAll(raw, make([]byte, 0, len(raw)/2+64))
}

func putRaw(tx *bolt.Tx, id ID, compressed []byte) error {
	return tx.Bucket(bRawZ).Put(id.key(), compressed)
}

// getRaw returns a stored raw message, a copy the caller owns.
func getRaw(tx *bolt.Tx, id ID) ([]byte, error) {
	if b := tx.Bucket(bRawZ); b != nil { // absent from files older than it, opened read-only
		if v := b.Get(id.key()); v != nil {
			raw, err := rawDecoder().DecodeAll(v, nil)
			if err != nil {
				return nil, fmt.Errorf("raw message %d: %w", id, err)
			}
			return raw, nil
		}
	}
	if v := tx.Bucket(bRaw).Get(id.key()); v != nil {
		return bytes.Clone(v), nil
	}
	return nil, ErrNotFound
}

// deleteRaw deletes a stored raw message and reports whether there was one.
func deleteRaw(tx *bolt.Tx, id ID) (bool, error) {
	found := false
	for _, name := range [][]byte{bRawZ, bRaw} {
		b := tx.Bucket(name)
		if b.Get(id.key()) == nil {
			continue
		}
		found = true
		if err := b.Delete(id.key()); err != nil {
			return found, err
		}
	}
	return found, nil
}
