package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"touchpoint/store"
)

// TestIngestExitCodes: a message that cannot be stored now (the database
// is held by another process) exits 75, EX_TEMPFAIL, so that Postfix's pipe
// transport defers it; a message that can never be stored exits 1 (bounce).
func TestIngestExitCodes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"TOUCHPOINT_DATA_DIR=" + dir}
	eml := filepath.Join(t.TempDir(), "m.eml")
	if err := os.WriteFile(eml, []byte("From: a@b.example\r\nSubject: hi\r\n\r\nhello\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty.eml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(context.Background(), env, "ingest", empty); code != exitError {
		t.Errorf("ingest of an empty message: exit %d (%s), want %d", code, stderr, exitError)
	}
	// Another process holds the database (no control socket: not serve).
	st, err := store.Open(filepath.Join(dir, "touchpoint.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(context.Background(), env, "ingest", eml)
	st.Close()
	if code != exitTempFail || !strings.Contains(stderr, "try again later") {
		t.Errorf("ingest while the database is held: exit %d (%s), want %d", code, stderr, exitTempFail)
	}
	if code, stdout, stderr := runCLI(context.Background(), env, "ingest", eml); code != exitOK || !strings.Contains(stdout, "unmatched") {
		t.Errorf("ingest once free: exit %d, %q %q", code, stdout, stderr)
	}
}
