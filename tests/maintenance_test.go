package tests

// Offline maintenance: touchpoint restore and touchpoint compact, which
// replace the database file and so refuse while the daemon runs.

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// asideFiles lists the files restore and compact keep beside the database.
func asideFiles(t *testing.T, dataDir, tag string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dataDir, "touchpoint.db."+tag+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// wantRefused runs a command that must fail without touching anything,
// its message containing each of want.
func wantRefused(t *testing.T, in *install, want []string, args ...string) {
	t.Helper()
	r := in.run(t, "", nil, args...)
	if r.code == 0 {
		t.Fatalf("touchpoint %s: %s\nwant a failure", strings.Join(args, " "), r)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("touchpoint %s said %q, want it to mention %q", strings.Join(args, " "), r.stderr, w)
		}
	}
}

// TestRestore: data, a backup, then the data altered and the file
// destroyed; restore brings the backed-up data back, verified, with the
// broken file kept aside.
func TestRestore(t *testing.T) {
	t.Parallel()
	in, d, tok, c := startAsAdmin(t)
	kept := c.createContact(map[string]any{"name": "Dina Backup", "emails": []string{"dina@example.com"}})
	ia := c.createInteraction(map[string]any{"contact_ids": []uint64{kept.ID}, "type": "Call", "title": "in the backup"})
	backup := filepath.Join(t.TempDir(), "backup.db")
	in.mustRun(t, "", "backup", backup)

	// After the backup: one contact deleted, another added.
	c.call("DELETE", fmt.Sprintf("/api/v1/contacts/%d", kept.ID), nil, http.StatusNoContent, nil)
	later := c.createContact(map[string]any{"name": "Late Comer", "emails": []string{"late@example.com"}})

	wantRefused(t, in, []string{"in use", "stop the daemon"}, "restore", backup)
	c.call("GET", fmt.Sprintf("/api/v1/contacts/%d", later.ID), nil, http.StatusOK, nil) // still its database
	d.stop()

	// Destroy the file: its second half is gone.
	db := filepath.Join(in.dataDir, "touchpoint.db")
	st, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	half := st.Size() / 2
	if err := os.Truncate(db, half); err != nil {
		t.Fatal(err)
	}

	// A file that is not a backup is refused, and nothing moves.
	junk := filepath.Join(t.TempDir(), "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, in, []string{"does not verify"}, "restore", junk)
	if a := asideFiles(t, in.dataDir, "before-restore"); len(a) != 0 {
		t.Errorf("a refused restore moved the database aside: %v", a)
	}

	r := in.mustRun(t, "", "restore", backup)
	aside := asideFiles(t, in.dataDir, "before-restore")
	if len(aside) != 1 {
		t.Fatalf("after restore, files kept aside: %v, want 1\n%s", aside, r)
	}
	if !strings.Contains(r.stdout, filepath.Base(aside[0])) {
		t.Errorf("restore did not say where the old file went (%s):\n%s", aside[0], r)
	}
	if st, err := os.Stat(aside[0]); err != nil || st.Size() != half {
		t.Errorf("the file kept aside: %v %v, want the destroyed database of %d bytes", st, err, half)
	}
	if out := in.mustRun(t, "", "check"); !strings.Contains(out.stdout, "database OK") {
		t.Errorf("check after restore: %s", out)
	}

	d2 := in.start(t)
	c2 := d2.as(t, tok)
	var got contact
	c2.call("GET", fmt.Sprintf("/api/v1/contacts/%d", kept.ID), nil, http.StatusOK, &got)
	if got.Name != kept.Name {
		t.Errorf("restored contact = %+v, want %+v", got, kept)
	}
	var tl page[interaction]
	c2.call("GET", fmt.Sprintf("/api/v1/contacts/%d/interactions", kept.ID), nil, http.StatusOK, &tl)
	if len(tl.Items) != 1 || tl.Items[0].ID != ia.ID || tl.Items[0].Title != "in the backup" {
		t.Errorf("restored timeline = %+v, want interaction %d", tl.Items, ia.ID)
	}
	c2.wantError("the contact made after the backup", c2.do("GET", fmt.Sprintf("/api/v1/contacts/%d", later.ID), nil), http.StatusNotFound, "")
	c2.createInteraction(map[string]any{"contact_ids": []uint64{kept.ID}, "type": "Visit"}) // it takes writes
}

// TestCompact fills the database, deletes most of it, and compacts: the
// file shrinks, what was kept is all there, and the check is clean.
func TestCompact(t *testing.T) {
	t.Parallel()
	in := newInstall(t, adminPassword)
	in.vars["TOUCHPOINT_LOG_LEVEL"] = "info"
	d := in.start(t)
	tok := in.token(t, "--name", "c", "--role", "admin", "--user", adminEmail)
	c := d.as(t, tok)
	ct := c.createContact(map[string]any{"name": "Big Talker", "emails": []string{"big@example.com"}})
	var keep, drop []uint64
	for i := range 200 {
		ia := c.createInteraction(map[string]any{
			"contact_ids": []uint64{ct.ID}, "type": "Call", "title": fmt.Sprintf("call %d", i),
			"details": strings.Repeat(fmt.Sprintf("Long notes of call %d. ", i), 200),
		})
		if i%10 == 0 {
			keep = append(keep, ia.ID)
		} else {
			drop = append(drop, ia.ID)
		}
	}
	for _, id := range drop {
		c.call("DELETE", fmt.Sprintf("/api/v1/interactions/%d", id), nil, http.StatusNoContent, nil)
	}
	wantRefused(t, in, []string{"in use", "stop the daemon"}, "compact")
	d.stop()

	db := filepath.Join(in.dataDir, "touchpoint.db")
	before, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	r := in.mustRun(t, "", "compact")
	after, err := os.Stat(db)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() >= before.Size() {
		t.Errorf("compact: %d bytes before, %d after, want smaller\n%s", before.Size(), after.Size(), r)
	}
	if want := fmt.Sprintf("%d bytes before, %d after", before.Size(), after.Size()); !strings.Contains(r.stdout, want) {
		t.Errorf("compact said %q, want the sizes %q", r.stdout, want)
	}
	if a := asideFiles(t, in.dataDir, "before-compact"); len(a) != 0 {
		t.Errorf("compact without --keep-old left %v", a)
	}
	if out := in.mustRun(t, "", "check"); !strings.Contains(out.stdout, "database OK") {
		t.Errorf("check after compact: %s", out)
	}
	in.mustRun(t, "", "compact", "--keep-old")
	if a := asideFiles(t, in.dataDir, "before-compact"); len(a) != 1 {
		t.Errorf("compact --keep-old kept %v, want one file", a)
	}

	d2 := in.start(t)
	c2 := d2.as(t, tok)
	items, _ := pages[interaction](c2, fmt.Sprintf("/api/v1/contacts/%d/interactions?limit=100", ct.ID))
	var ids []uint64
	for _, ia := range items {
		ids = append(ids, ia.ID)
	}
	if len(ids) != len(keep) {
		t.Fatalf("after compact %d interactions, want %d", len(ids), len(keep))
	}
	for i, id := range keep {
		if ids[len(ids)-1-i] != id { // newest first
			t.Errorf("after compact, interaction %d is %d, want %d", i, ids[len(ids)-1-i], id)
		}
	}
	c2.createInteraction(map[string]any{"contact_ids": []uint64{ct.ID}, "type": "Visit"})
}

// TestReindex rebuilds the interaction indexes of a stopped daemon's
// database: refused while the daemon runs, then the timeline and the
// free-text search answer as before.
func TestReindex(t *testing.T) {
	t.Parallel()
	in, d, tok, c := startAsAdmin(t)
	ct := c.createContact(map[string]any{"name": "Dina Levy", "emails": []string{"dina@example.com"}})
	for i := range 30 {
		c.createInteraction(map[string]any{"contact_ids": []uint64{ct.ID}, "type": "Call", "title": fmt.Sprintf("etrog call %d", i)})
	}
	wantRefused(t, in, []string{"in use", "stop the daemon"}, "reindex")
	d.stop()

	if r := in.mustRun(t, "", "reindex"); !strings.Contains(r.stdout, "rebuilt the interaction indexes") {
		t.Errorf("reindex said %q", r.stdout)
	}
	d2 := in.start(t)
	c2 := d2.as(t, tok)
	items, _ := pages[interaction](c2, fmt.Sprintf("/api/v1/contacts/%d/interactions?limit=100", ct.ID))
	found, _ := pages[interaction](c2, "/api/v1/interactions?q=etrog&limit=100")
	if len(items) != 30 || len(found) != 30 {
		t.Errorf("after reindex: timeline %d, free text %d; want 30 and 30", len(items), len(found))
	}
}
