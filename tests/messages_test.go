package tests

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// toYossi is a message from Sarah to Yossi (a contact once the test made
// him): logged as soon as it arrives.
func toYossi(id, subject string) message {
	return message{
		from: sarahName + " <" + sarahEmail + ">", to: "Yossi Levi <yossi@example.net>",
		subject: subject, id: id, body: "About " + subject + ".\n",
	}
}

// ingestLine matches what `touchpoint ingest` prints per message.
var ingestLine = regexp.MustCompile(`^(.+): (logged|unmatched|duplicate) ([0-9]+)$`)

// ingestOut parses `touchpoint ingest` output: one "NAME: STATUS ID" line per
// message, in order.
func ingestOut(t *testing.T, r result, names ...string) []ingestAnswer {
	t.Helper()
	ls := lines(r.stdout)
	if r.code != 0 || len(ls) != len(names) {
		t.Fatalf("touchpoint ingest %v: %s\nwant exit 0 and one line per message", names, r)
	}
	var out []ingestAnswer
	for i, l := range ls {
		m := ingestLine.FindStringSubmatch(l)
		if m == nil || m[1] != names[i] {
			t.Fatalf("touchpoint ingest line %q, want \"%s: STATUS ID\"", l, names[i])
		}
		id, _ := strconv.ParseUint(m[3], 10, 64)
		if id == 0 {
			t.Fatalf("touchpoint ingest line %q: id 0", l)
		}
		out = append(out, ingestAnswer{Status: m[2], InteractionID: id})
	}
	return out
}

// TestPostMessages feeds raw messages through POST /api/v1/messages and
// `touchpoint ingest` while the daemon runs: logged once, then duplicate.
func TestPostMessages(t *testing.T) {
	t.Parallel()
	in := newMailInstall(t)
	in.vars["TOUCHPOINT_SMTP_ADDR"] = "off"
	d := in.start(t)
	c := d.as(t, in.token(t, "--name", "msgs", "--role", "admin", "--user", sarahEmail))
	sarahID := c.userID(sarahEmail)
	yossi := c.createContact(map[string]any{"name": "Yossi Levi", "emails": []string{"yossi@example.net"}})
	dir := t.TempDir()

	t.Run("POST /messages", func(t *testing.T) {
		t.Parallel()
		c := d.as(t, c.token)
		raw := toYossi("post-1@org.org", "The post").bytes()
		a := c.postMessage(raw)
		if a.Status != "logged" || a.InteractionID == 0 || a.UnmatchedID != 0 {
			t.Fatalf("POST /messages = %+v, want status logged with an interaction_id", a)
		}
		var ia mailInteraction
		c.call("GET", fmt.Sprintf("/api/v1/interactions/%d", a.InteractionID), nil, http.StatusOK, &ia)
		if ia.Source != "api" || ia.Title != "The post" || !slices.Equal(ia.ContactIDs, []uint64{yossi.ID}) ||
			!slices.Equal(ia.OwnerIDs, []uint64{sarahID}) || ia.Email == nil || ia.Email.Direction != "outbound" {
			t.Errorf("interaction %+v (email %+v), want source api, title The post, Yossi, owner Sarah, outbound", ia, ia.Email)
		}
		again := c.postMessage(raw)
		if again.Status != "duplicate" || again.InteractionID != a.InteractionID {
			t.Errorf("POST /messages again = %+v, want status duplicate, interaction_id %d", again, a.InteractionID)
		}
		// The same message with LF line ends (as a file would have it).
		lf := []byte(strings.ReplaceAll(string(raw), "\r\n", "\n"))
		if again := c.postMessage(lf); again.Status != "duplicate" || again.InteractionID != a.InteractionID {
			t.Errorf("POST /messages with LF line ends = %+v, want duplicate of %d", again, a.InteractionID)
		}
	})

	t.Run("wrong content type", func(t *testing.T) {
		t.Parallel()
		c := d.as(t, c.token)
		raw := toYossi("post-415@org.org", "Not this way").bytes()
		for _, ct := range []string{"text/plain", "application/json", ""} {
			c.wantError("POST /messages as "+ct, c.raw("POST", "/api/v1/messages", ct, raw), http.StatusUnsupportedMediaType, "")
		}
		if r := c.raw("POST", "/api/v1/messages", "message/rfc822", nil); r.status != http.StatusBadRequest {
			t.Errorf("POST /messages with an empty body = %d %s, want 400", r.status, r.body)
		}
		if r := d.as(t, "").raw("POST", "/api/v1/messages", "message/rfc822", raw); r.status != http.StatusUnauthorized {
			t.Errorf("POST /messages without a token = %d %s, want 401", r.status, r.body)
		}
		for _, ia := range c.timeline(yossi.ID) {
			if ia.Email != nil && ia.Email.MessageID == "post-415@org.org" {
				t.Errorf("a refused POST was stored: %+v", ia)
			}
		}
	})

	t.Run("ingest FILE", func(t *testing.T) {
		t.Parallel()
		c := d.as(t, c.token)
		f1 := filepath.Join(dir, "one.eml")
		f2 := filepath.Join(dir, "two.eml")
		os.WriteFile(f1, toYossi("file-1@org.org", "File one").bytes(), 0o644)
		os.WriteFile(f2, []byte(strings.ReplaceAll(string(toYossi("file-2@org.org", "File two").bytes()), "\r\n", "\n")), 0o644)
		got := ingestOut(t, in.mustRun(t, "", "ingest", f1, f2), f1, f2)
		if got[0].Status != "logged" || got[1].Status != "logged" {
			t.Fatalf("touchpoint ingest = %+v, want both logged", got)
		}
		var ia mailInteraction
		c.call("GET", fmt.Sprintf("/api/v1/interactions/%d", got[1].InteractionID), nil, http.StatusOK, &ia)
		if ia.Source != "pipe" || ia.Title != "File two" || ia.Email == nil || ia.Email.MessageID != "file-2@org.org" {
			t.Errorf("ingested interaction = %+v, want source pipe, title File two, message file-2@org.org", ia)
		}
		again := ingestOut(t, in.mustRun(t, "", "ingest", f1), f1)
		if again[0] != (ingestAnswer{Status: "duplicate", InteractionID: got[0].InteractionID}) {
			t.Errorf("touchpoint ingest again = %+v, want duplicate %d", again[0], got[0].InteractionID)
		}
		// A missing file fails (exit 1) and names it; the others are stored.
		f3 := filepath.Join(dir, "three.eml")
		os.WriteFile(f3, toYossi("file-3@org.org", "File three").bytes(), 0o644)
		r := in.run(t, "", nil, "ingest", filepath.Join(dir, "missing.eml"), f3)
		if r.code != 1 || !strings.Contains(r.stderr, "missing.eml") || !strings.Contains(r.stdout, f3+": logged ") {
			t.Errorf("touchpoint ingest missing.eml three.eml: %s\nwant exit 1, an error naming missing.eml, three.eml logged", r)
		}
	})

	t.Run("ingest stdin", func(t *testing.T) {
		t.Parallel()
		c := d.as(t, c.token)
		raw := string(toYossi("stdin-1@org.org", "From stdin").bytes())
		got := ingestOut(t, in.mustRun(t, raw, "ingest", "-"), "-")
		if got[0].Status != "logged" {
			t.Fatalf("touchpoint ingest - = %+v, want logged", got[0])
		}
		var ia mailInteraction
		c.call("GET", fmt.Sprintf("/api/v1/interactions/%d", got[0].InteractionID), nil, http.StatusOK, &ia)
		if ia.Title != "From stdin" || ia.Email == nil || ia.Email.MessageID != "stdin-1@org.org" {
			t.Errorf("interaction = %+v, want the message from stdin", ia)
		}
		// No argument means stdin too.
		again := ingestOut(t, in.mustRun(t, raw, "ingest"), "-")
		if again[0] != (ingestAnswer{Status: "duplicate", InteractionID: got[0].InteractionID}) {
			t.Errorf("touchpoint ingest (stdin) again = %+v, want duplicate %d", again[0], got[0].InteractionID)
		}
		if r := in.run(t, "", nil, "ingest", "-"); r.code != 1 {
			t.Errorf("touchpoint ingest - with nothing on stdin: %s\nwant exit 1", r)
		}
	})

	t.Run("no Message-ID", func(t *testing.T) {
		t.Parallel()
		c := d.as(t, c.token)
		m := toYossi("", "No id at all")
		m.body = "A message without a Message-ID header.\nTwo lines.\n"
		raw := m.bytes()
		first := c.postMessage(raw)
		if first.Status != "logged" {
			t.Fatalf("POST /messages (no Message-ID) = %+v, want logged", first)
		}
		if again := c.postMessage(raw); again.Status != "duplicate" || again.InteractionID != first.InteractionID {
			t.Errorf("POST /messages (no Message-ID) again = %+v, want duplicate %d", again, first.InteractionID)
		}
		// The same message through the pipe, with LF line ends.
		f := filepath.Join(dir, "noid.eml")
		os.WriteFile(f, []byte(strings.ReplaceAll(string(raw), "\r\n", "\n")), 0o644)
		got := ingestOut(t, in.mustRun(t, "", "ingest", f), f)
		if got[0] != (ingestAnswer{Status: "duplicate", InteractionID: first.InteractionID}) {
			t.Errorf("touchpoint ingest (no Message-ID, LF) = %+v, want duplicate %d", got[0], first.InteractionID)
		}
		n := 0
		for _, ia := range c.timeline(yossi.ID) {
			if ia.Title == "No id at all" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("Yossi's timeline has %d interactions titled %q, want 1", n, "No id at all")
		}
		// A different body is a different message.
		m.body = "Another text.\n"
		if other := c.postMessage(m.bytes()); other.Status != "logged" || other.InteractionID == first.InteractionID {
			t.Errorf("POST /messages with another body = %+v, want a new logged interaction", other)
		}
	})
}

// TestIngestWithoutDaemon runs `touchpoint ingest` with no daemon: it
// writes the database itself, and the daemon started afterwards shows what
// it stored (and still knows it, as duplicates).
func TestIngestWithoutDaemon(t *testing.T) {
	t.Parallel()
	in := newMailInstall(t)
	in.vars["TOUCHPOINT_SMTP_ADDR"] = "off"
	d := in.start(t)
	tok := in.token(t, "--name", "offline", "--role", "admin", "--user", sarahEmail)
	c := d.as(t, tok)
	yossi := c.createContact(map[string]any{"name": "Yossi Levi", "emails": []string{"yossi@example.net"}})
	d.stop()

	f := filepath.Join(t.TempDir(), "offline.eml")
	os.WriteFile(f, toYossi("offline-1@org.org", "Written offline").bytes(), 0o644)
	got := ingestOut(t, in.mustRun(t, "", "ingest", f), f)
	if got[0].Status != "logged" {
		t.Fatalf("touchpoint ingest with no daemon = %+v, want logged", got[0])
	}
	stdin := ingestOut(t, in.mustRun(t, string(toYossi("offline-2@org.org", "Offline stdin").bytes()), "ingest", "-"), "-")
	if again := ingestOut(t, in.mustRun(t, "", "ingest", f), f); again[0] != (ingestAnswer{Status: "duplicate", InteractionID: got[0].InteractionID}) {
		t.Errorf("touchpoint ingest again, no daemon = %+v, want duplicate %d", again[0], got[0].InteractionID)
	}

	d = in.start(t)
	c = d.as(t, tok)
	tl := c.timeline(yossi.ID)
	for _, want := range []struct {
		id, msgid, title string
		iid              uint64
	}{
		{"file", "offline-1@org.org", "Written offline", got[0].InteractionID},
		{"stdin", "offline-2@org.org", "Offline stdin", stdin[0].InteractionID},
	} {
		ias := withMessageID(tl, want.msgid)
		if len(ias) != 1 || ias[0].ID != want.iid || ias[0].Title != want.title || ias[0].Source != "pipe" {
			t.Errorf("after restart, Yossi's timeline has %+v for <%s>, want interaction %d titled %q, source pipe",
				ias, want.msgid, want.iid, want.title)
		}
	}
	if a := c.postMessage(toYossi("offline-1@org.org", "Written offline").bytes()); a.Status != "duplicate" || a.InteractionID != got[0].InteractionID {
		t.Errorf("POST /messages of the offline message = %+v, want duplicate %d", a, got[0].InteractionID)
	}
	// And with the daemon up again, ingest hands over to it.
	if again := ingestOut(t, in.mustRun(t, "", "ingest", f), f); again[0].Status != "duplicate" {
		t.Errorf("touchpoint ingest with the daemon back = %+v, want duplicate", again[0])
	}
}
