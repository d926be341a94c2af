package store

import (
	"os"
	"path/filepath"
	"testing"
)

const testSeed = 0x746f7563

// journalFile writes recs to a new journal at path as the journal loop
// does (one batch) and returns the file's bytes.
func journalFile(t testing.TB, path string, recs [][]byte) []byte {
	t.Helper()
	writeJournal(t, path, testSeed, 0, recs)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeJournal writes recs as one batch of a journal whose chain starts
// from seed, numbered from applied+1.
func writeJournal(t testing.TB, path string, seed uint32, applied uint64, recs [][]byte) {
	t.Helper()
	j := &journal{path: path, noSync: true, seed: seed, crc: seed, seq: applied}
	j.applied.Store(applied)
	batch := make([]*journalReq, len(recs))
	for i, r := range recs {
		batch[i] = &journalReq{rec: r}
	}
	if err := j.write(batch); err != nil {
		t.Fatal(err)
	}
	j.f.Close()
}

// FuzzJournalScan: whatever bytes the journal holds (a torn write, a
// flipped bit, an earlier pass, garbage), replay neither panics nor hands
// over anything but consecutive links of the chain, each decoded or set
// aside.
func FuzzJournalScan(f *testing.F) {
	s, err := Open(filepath.Join(f.TempDir(), "seed.db"), Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	var recs [][]byte
	for _, key := range []string{"mid:a@x", "mid:b@x", "mid:c@x"} {
		p, err := s.prepare(incoming(key, []ID{1}, ""))
		if err != nil {
			f.Fatal(err)
		}
		rec, _ := p.journalRecord()
		recs = append(recs, rec)
	}
	s.Close()
	vpath := filepath.Join(f.TempDir(), "j")
	valid := journalFile(f, vpath, recs)
	if n, last, err := scanJournal(vpath, 0, testSeed, func([]*prepared, uint64) error { return nil }, nil); n != 3 || last != 3 || err != nil {
		f.Fatalf("a valid journal of 3 scans as %d records up to %d, %v", n, last, err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)-7])
	flipped := append([]byte(nil), valid...)
	flipped[len(flipped)/2] ^= 0x40
	f.Add(flipped)
	f.Add(append(append([]byte(nil), valid...), valid...)) // a second pass behind the first
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "j")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		handed, quarantined := 0, 0
		n, last, err := scanJournal(path, 0, testSeed, func(ps []*prepared, seq uint64) error {
			handed += len(ps)
			if seq != uint64(handed+quarantined) {
				t.Fatalf("%d records handed over and %d set aside up to sequence %d: not consecutive from 1", handed, quarantined, seq)
			}
			for _, p := range ps {
				if p.in == nil || p.in.Interaction == nil || p.in.Interaction.Email == nil {
					t.Fatal("a handed-over record is incomplete")
				}
			}
			return nil
		}, func(seq uint64, _ []byte, _ error) error {
			quarantined++
			if seq != uint64(handed+quarantined) {
				t.Fatalf("record %d set aside after %d handed over and %d set aside", seq, handed, quarantined-1)
			}
			return nil
		})
		if n != handed {
			t.Fatalf("scan says %d, handed %d", n, handed)
		}
		if err == nil && last != uint64(n+quarantined) {
			t.Fatalf("chain ends at %d after %d records and %d set aside", last, n, quarantined)
		}
		if len(data) > 0 && n*journalHeader > len(data) {
			t.Fatalf("%d records from %d bytes", n, len(data))
		}
	})
}
