package store

import (
	"bytes"
	"errors"
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
		d, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(rawMaxMemory),
			zstd.WithDecoderLowmem(true), zstd.WithDecoderConcurrency(rawCoders))
		if err != nil {
			panic(err)
		}
		return d
	})
)

const (
	rawWindow = 1 << 20
	// rawMaxMemory bounds a decompressed message: every stored one fits.
	rawMaxMemory = MaxRawBytes + 1<<20
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

// findRaw returns a raw message's stored bytes (the transaction's, not a
// copy): compressed (bRawZ), or as an earlier version stored them (bRaw).
func findRaw(tx *bolt.Tx, id ID) (v []byte, compressed bool, err error) {
	if b := tx.Bucket(bRawZ); b != nil { // absent from files older than it, opened read-only
		if v := b.Get(id.key()); v != nil {
			return v, true, nil
		}
	}
	if v := tx.Bucket(bRaw).Get(id.key()); v != nil {
		return v, false, nil
	}
	return nil, false, ErrNotFound
}

// getRaw returns a stored raw message, a copy the caller owns.
func getRaw(tx *bolt.Tx, id ID) ([]byte, error) {
	v, compressed, err := findRaw(tx, id)
	if err != nil || !compressed {
		return bytes.Clone(v), err
	}
	raw, err := rawDecoder().DecodeAll(v, nil)
	if err != nil {
		return nil, fmt.Errorf("raw message %d: %w", id, err)
	}
	return raw, nil
}

// getRawHead returns at most max bytes from the start of a stored raw
// message, decompressing no more than that.
func getRawHead(tx *bolt.Tx, id ID, max int) ([]byte, error) {
	v, compressed, err := findRaw(tx, id)
	if err != nil || !compressed {
		return bytes.Clone(v[:min(len(v), max)]), err
	}
	d, err := newRawStream(bytes.NewReader(v))
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

// newRawStream decompresses one stored raw message as a stream, in flat
// memory (the shared rawDecoder decodes whole messages only).
func newRawStream(r io.Reader) (*zstd.Decoder, error) {
	return zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(rawMaxMemory))
}

// errEnough stops a walk that has found enough.
var errEnough = errors.New("enough")

// checkRaws decompresses every compressed raw message (to nowhere, so
// memory stays flat), as Check reads every record: a damaged frame fails
// its checksum here rather than at a download. It reports at most
// maxDamaged.
func checkRaws(tx *bolt.Tx) []error {
	b := tx.Bucket(bRawZ)
	if b == nil {
		return nil
	}
	d, err := newRawStream(nil)
	if err != nil {
		return []error{err}
	}
	defer d.Close()
	var errs []error
	minFrame := len(compressRaw(nil)) // the smallest frame written: an empty message's
	b.ForEach(func(k, v []byte) error {
		err := d.Reset(bytes.NewReader(v))
		if err == nil {
			_, err = io.Copy(io.Discard, d)
		}
		if err == nil && len(v) < minFrame { // an empty value reads as no frames at all
			err = fmt.Errorf("%d bytes, shorter than any frame", len(v))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("raw message %d: %w", keyID(k), err))
			if len(errs) == maxDamaged {
				return errEnough
			}
		}
		return nil
	})
	return errs
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
