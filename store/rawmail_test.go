package store

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func rawValue(t *testing.T, s *Store, bucket []byte, id ID) []byte {
	t.Helper()
	var v []byte
	s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucket); b != nil {
			v = bytes.Clone(b.Get(id.key()))
		}
		return nil
	})
	return v
}

// TestRawStoredCompressedAndReadBack: raw messages go into bRawZ
// compressed, and Raw gives back exactly what was received, whether text,
// incompressible bytes or nothing at all, through the journal too.
func TestRawStoredCompressedAndReadBack(t *testing.T) {
	t.Parallel()
	s, c := journalStore(t, filepath.Join(t.TempDir(), "t.db"))
	defer s.Close()
	ctx := context.Background()
	text := "From: yossi@example.com\r\nSubject: the visit\r\n\r\n" +
		strings.Repeat("We spoke about the class on Thursday and the visit next week.\r\n", 300)
	noise := make([]byte, 64<<10)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		// at most this share of the raw size once stored
		ratio float64
	}{
		{"text", []byte(text), 0.2},
		{"random bytes", noise, 1.01},
		{"empty", []byte{}, 0},
		// Past the 128 KiB where the encoder works block by block, and
		// past its 1 MiB window.
		{"large", bytes.Repeat(append([]byte(text), noise[:20000]...), 60), 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := incoming("mid:"+tc.name, []ID{c.ID}, "")
			in.Raw = bytes.Clone(tc.raw)
			var res IngestResult
			if err := s.Accept(ctx, in, func(r IngestResult) { res = r }); err != nil {
				t.Fatal(err)
			}
			flush(t, s)
			ia, err := s.GetInteraction(res.InteractionID)
			if err != nil {
				t.Fatal(err)
			}
			id := ia.Email.RawID
			got, err := s.Raw(id)
			if err != nil || !bytes.Equal(got, tc.raw) {
				t.Fatalf("Raw = %d bytes, %v; want the %d bytes received", len(got), err, len(tc.raw))
			}
			for _, max := range []int{0, 1000, 200 << 10} {
				head, err := s.RawHead(id, max)
				if want := tc.raw[:min(max, len(tc.raw))]; err != nil || !bytes.Equal(head, want) {
					t.Errorf("RawHead(%d) = %d bytes, %v; want the first %d", max, len(head), err, len(want))
				}
			}
			stored := rawValue(t, s, bRawZ, id)
			if stored == nil || float64(len(stored)) > tc.ratio*float64(len(tc.raw))+64 && tc.name != "large" {
				t.Errorf("stored %d bytes for %d received, want at most %.0f%% (+64)", len(stored), len(tc.raw), 100*tc.ratio)
			}
			if v := rawValue(t, s, bRaw, id); v != nil {
				t.Errorf("also stored uncompressed (%d bytes)", len(v))
			}
		})
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

// TestRawFromBeforeCompression: raw messages stored uncompressed (bRaw)
// by earlier versions are still served, deleted with their mail, and read
// from a file that has no compressed bucket at all (opened read-only).
func TestRawFromBeforeCompression(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.db")
	s, c := journalStore(t, path)
	ctx := context.Background()
	old := func(key string) (interaction, raw ID, body []byte) {
		t.Helper()
		res, err := s.Ingest(ctx, incoming(key, []ID{c.ID}, ""))
		if err != nil {
			t.Fatal(err)
		}
		ia, _ := s.GetInteraction(res.InteractionID)
		raw = ia.Email.RawID
		body, _ = s.Raw(raw)
		// As an earlier version stored it.
		err = s.update(ctx, func(tx *bolt.Tx) error {
			if err := tx.Bucket(bRawZ).Delete(raw.key()); err != nil {
				return err
			}
			return tx.Bucket(bRaw).Put(raw.key(), body)
		})
		if err != nil {
			t.Fatal(err)
		}
		return res.InteractionID, raw, body
	}
	deleted, deletedRaw, _ := old("mid:deleted")
	_, keptRaw, keptBody := old("mid:kept")

	if got, err := s.Raw(keptRaw); err != nil || !bytes.Equal(got, keptBody) {
		t.Errorf("Raw of an uncompressed message = %q, %v", got, err)
	}
	if got, err := s.RawHead(keptRaw, 10); err != nil || !bytes.Equal(got, keptBody[:10]) {
		t.Errorf("RawHead of an uncompressed message = %q, %v", got, err)
	}
	if _, err := s.RawHead(keptRaw+1000, 10); !errors.Is(err, ErrNotFound) {
		t.Errorf("RawHead of no message: %v, want ErrNotFound", err)
	}
	if err := s.DeleteInteraction(ctx, deleted, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Raw(deletedRaw); !errors.Is(err, ErrNotFound) {
		t.Errorf("the deleted interaction's uncompressed raw is still there (%v)", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A file from before the compressed bucket existed.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bRawZ) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if got, err := ro.Raw(keptRaw); err != nil || !bytes.Equal(got, keptBody) {
		t.Errorf("read-only, without the compressed bucket: Raw = %q, %v", got, err)
	}
}

// TestCheckFindsDamagedRaw: Check decompresses every compressed raw
// message, so a damaged or truncated one is reported before anyone
// downloads it (and before Restore takes a backup holding it).
func TestCheckFindsDamagedRaw(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		damage func(v []byte) []byte
	}{
		{"a byte flipped", func(v []byte) []byte { v[len(v)/2] ^= 0x40; return v }},
		{"cut short", func(v []byte) []byte { return v[:3] }},
		{"emptied", func([]byte) []byte { return []byte{} }},
		{"not zstd", func([]byte) []byte { return []byte("From: x@example.org\r\n\r\nplain") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c := journalStore(t, filepath.Join(t.TempDir(), "t.db"))
			defer s.Close()
			ctx := context.Background()
			in := incoming("mid:damaged", []ID{c.ID}, "")
			in.Raw = []byte("From: yossi@example.com\r\nSubject: x\r\n\r\n" + strings.Repeat("the visit on Thursday\r\n", 200))
			res, err := s.Ingest(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Check(); err != nil {
				t.Fatalf("Check before the damage: %v", err)
			}
			ia, _ := s.GetInteraction(res.InteractionID)
			id := ia.Email.RawID
			err = s.update(ctx, func(tx *bolt.Tx) error {
				b := tx.Bucket(bRawZ)
				return b.Put(id.key(), tc.damage(bytes.Clone(b.Get(id.key()))))
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Check(); err == nil || !strings.Contains(err.Error(), "raw message") {
				t.Errorf("Check = %v, want the damaged raw message reported", err)
			}
		})
	}
}
