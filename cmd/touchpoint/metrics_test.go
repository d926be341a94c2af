package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"touchpoint/store"
)

// TestJournalHealth: mail set aside beside the journal makes /healthz
// degraded, naming the files; without any the check is quiet.
func TestJournalHealth(t *testing.T) {
	path := filepath.Join(t.TempDir(), "touchpoint.db")
	st, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	check := journalHealth(st)
	if why := check(); why != "" {
		t.Errorf("a healthy journal reports %q", why)
	}
	if err := os.WriteFile(path+".journal.failed-7.eml", []byte("From: x@example.org\r\n\r\nhi\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if why := check(); !strings.Contains(why, "1 received messages") || !strings.Contains(why, "touchpoint.db.journal.failed-7.eml") {
		t.Errorf("with mail set aside the check says %q", why)
	}
}
