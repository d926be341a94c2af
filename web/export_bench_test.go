package web

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"touchpoint/seed"
	"touchpoint/store"
)

// BenchmarkExportCSV is P10's in-process half: the whole export (store walk,
// contacts, CSV, HTTP) of a seeded 100k database through a loopback server,
// the client counting rows. docs/PERFORMANCE.md has the figures; the
// daemon-level run is bench/scale.
func BenchmarkExportCSV(b *testing.B) {
	s, err := store.Open(filepath.Join(b.TempDir(), "b.db"), store.Options{NoSync: true, PasswordCost: bcrypt.MinCost})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	res, err := seed.Generate(ctx, s, seed.Options{Contacts: 5_000, Interactions: 100_000, Users: 20, Seed: 1,
		End: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	tok, _, err := s.CreateToken(ctx, "bench", store.RoleAdmin, res.Users[0])
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(New(Options{Store: s}).Handler())
	defer srv.Close()
	rows := 0
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/interactions/export.csv", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := countLines(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || n < 100_000 {
			b.Fatalf("export: %d, %d lines, %v", resp.StatusCode, n, err)
		}
		rows += n - 1
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// countLines counts CRLF-ended lines (a quoted cell may hold a bare LF).
func countLines(r io.Reader) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	n := 0
	prev := byte(0)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 1 && chunk[len(chunk)-2] == '\r' || len(chunk) == 1 && prev == '\r' {
			n++
		}
		if len(chunk) > 0 {
			prev = chunk[len(chunk)-1]
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return n, err
		}
	}
}
