package store

import (
	"bytes"
	"fmt"
	"io"
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
	// The encoders keep their window's history (twice the window) for the
	// life of the process: a 1 MiB window costs little on mail (headers
	// and text repeat within it) and bounds them to a few MiB.
	rawEncoder = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest),
			zstd.WithWindowSize(rawWindow), zstd.WithLowerEncoderMem(true),
			zstd.WithEncoderConcurrency(rawCoders))
		if err != nil {
			panic(err) // only for invalid options
		}
		return e
	})
	rawDecoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(MaxRawBytes+1<<20),
			zstd.WithDecoderLowmem(true), zstd.WithDecoderConcurrency(rawCoders))
		if err != nil {
			panic(err)
		}
		return d
	})
)

const (
	rawWindow = 1 << 20
	// rawCoders bounds the encoders (and decoders) that run at once; a
	// message takes microseconds, so others wait briefly.
	rawCoders = 4
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

// checkRaws decompresses every compressed raw message (to nowhere, so
// memory stays flat), as Check reads every record: a damaged frame fails
// its checksum here rather than at a download.
func checkRaws(tx *bolt.Tx) []error {
	b := tx.Bucket(bRawZ)
	if b == nil {
		return nil
	}
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(MaxRawBytes+1<<20))
	if err != nil {
		return []error{err}
	}
	defer d.Close()
	var errs []error
	minFrame := len(compressRaw(nil)) // the smallest frame written: an empty message's
	b.ForEach(func(k, v []byte) error {
		if len(errs) >= 20 {
			return nil
		}
		err := d.Reset(bytes.NewReader(v))
		if err == nil {
			_, err = io.Copy(io.Discard, d)
		}
		if err == nil && len(v) < minFrame { // an empty value reads as no frames at all
			err = fmt.Errorf("%d bytes, shorter than any frame", len(v))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("raw message %d: %w", keyID(k), err))
		}
		return nil
	})
	return errs
}

// getRawHead returns at most max bytes from the start of a stored raw
// message, decompressing no more than that.
func getRawHead(tx *bolt.Tx, id ID, max int) ([]byte, error) {
	if b := tx.Bucket(bRawZ); b != nil {
		if v := b.Get(id.key()); v != nil {
			d, err := zstd.NewReader(bytes.NewReader(v), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxMemory(MaxRawBytes+1<<20))
			if err != nil {
				return nil, err
			}
			defer d.Close()
			head, err := io.ReadAll(io.LimitReader(d, int64(max)))
			if err != nil {
				return nil, fmt.Errorf("raw message %d: %w", id, err)
			}
			return head, nil
		}
	}
	if v := tx.Bucket(bRaw).Get(id.key()); v != nil {
		return bytes.Clone(v[:min(len(v), max)]), nil
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
