package web

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestCSVWriterMatchesEncodingCSV: rows of awkward cells come out byte for
// byte as encoding/csv (UseCRLF) writes them.
func TestCSVWriterMatchesEncodingCSV(t *testing.T) {
	t.Parallel()
	pieces := []string{"", "a", " ", "\t", ",", `"`, "\r", "\n", "\r\n", `\.`, "=1+1", "שלום", "\u00a0x", "é", "plain text", `say "hi"`}
	rng := rand.New(rand.NewPCG(7, 7))
	cellOf := func() string {
		var b strings.Builder
		for range rng.IntN(4) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	for range 3000 {
		row := make([]string, 1+rng.IntN(6))
		for j := range row {
			row[j] = cellOf()
		}
		checkRowLikeCSV(t, row)
	}
}

// checkRowLikeCSV fails t unless csvWriter writes row byte for byte as
// encoding/csv (UseCRLF) does.
func checkRowLikeCSV(t *testing.T, row []string) {
	t.Helper()
	var want bytes.Buffer
	cw := csv.NewWriter(&want)
	cw.UseCRLF = true
	if err := cw.Write(row); err != nil {
		t.Fatal(err)
	}
	cw.Flush()
	var got bytes.Buffer
	bw := bufio.NewWriter(&got)
	w := &csvWriter{w: bw}
	for _, c := range row {
		w.text(c)
	}
	w.end()
	bw.Flush()
	if got.String() != want.String() {
		t.Fatalf("%q:\n got %q\nwant %q", row, got.String(), want.String())
	}
}

// FuzzCSVWriter holds the row writer to encoding/csv (UseCRLF) on any
// three cells.
func FuzzCSVWriter(f *testing.F) {
	for _, s := range []string{"", " x", "a,b", `"`, "\r\n", `\.`, "=cmd", "\xff\xfe", "שלום, עולם"} {
		f.Add(s, s+"\n", "plain")
	}
	f.Fuzz(func(t *testing.T, a, b, c string) { checkRowLikeCSV(t, []string{a, b, c}) })
}
