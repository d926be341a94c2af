package main

import (
	"bytes"
	"encoding/csv"
	"testing"
	"testing/iotest"
)

// TestCountCSVRows: the counter agrees with encoding/csv on records with
// quoted line breaks, quotes and commas, read in small pieces so quotes
// and line ends fall across reads.
func TestCountCSVRows(t *testing.T) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	w.Write([]string{"date", "text"})
	for i := range 500 {
		cells := []string{"2026-01-01", "plain"}
		switch i % 4 {
		case 1:
			cells[1] = "two\nlines, and \"quotes\""
		case 2:
			cells[1] = "\"\n\""
		case 3:
			cells[1] = ""
		}
		w.Write(cells)
	}
	w.Flush()
	want, err := csv.NewReader(bytes.NewReader(b.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got, err := countCSVRows(iotest.OneByteReader(bytes.NewReader(b.Bytes())))
	if err != nil || got != len(want)-1 {
		t.Fatalf("countCSVRows = %d, %v; want %d", got, err, len(want)-1)
	}
}
