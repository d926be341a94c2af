package ingest

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that the parser never panics and that what it returns
// is fit for the store, with the default limits and with tiny ones (so
// that every limit is reached often). It calls parse, not Parse, so that
// Parse's recover does not hide a panic from the fuzzer.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed corpus: %v", err)
	}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add(nested(5))
	f.Add(nestedMessages(3))
	f.Add(manyParts(3))
	small := Limits{MaxParts: 8, MaxDepth: 3, MaxHeader: 512, MaxText: 64}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, lim := range []Limits{DefaultLimits(), small} {
			m, err := parse(raw, lim)
			_ = DedupeKey(raw, m)
			if err == nil {
				checkInvariants(t, m, lim)
			}
		}
	})
}
