package tests

import (
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// generatedPassword matches the bootstrap admin's generated password as
// serve prints it.
var generatedPassword = regexp.MustCompile(`(?m)^\s*Password:\s*(\S+)\s*$`)

// TestZeroConfigStart starts the daemon with nothing but a data directory
// and an address: it makes the first admin with a generated password shown
// once, and the command line hands out a working API token.
func TestZeroConfigStart(t *testing.T) {
	t.Parallel()
	in := newInstall(t, "")
	delete(in.vars, "TOUCHPOINT_ADMIN_EMAIL") // the default will do
	d := in.start(t)

	stderr := d.waitStderr(t, "touchpoint started")
	m := generatedPassword.FindAllStringSubmatch(stderr, -1)
	if len(m) != 1 {
		t.Fatalf("stderr shows %d generated passwords, want 1:\n%s", len(m), stderr)
	}
	pw := m[0][1]
	if len(pw) < 12 {
		t.Errorf("generated password %q is short", pw)
	}
	if n := strings.Count(stderr, pw); n != 1 {
		t.Errorf("the generated password appears %d times on stderr, want once", n)
	}

	// Health and metrics need no credentials.
	anon := d.as(t, "")
	var health map[string]any
	anon.call("GET", "/healthz", nil, http.StatusOK, &health)
	r := anon.do("GET", "/metrics", nil)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), "# TYPE ") {
		t.Errorf("GET /metrics = %d %.200s, want Prometheus text", r.status, r.body)
	}

	tok := in.token(t, "--name", "t", "--role", "admin")
	c := d.as(t, tok)
	var users page[user]
	c.call("GET", "/api/v1/users", nil, http.StatusOK, &users)
	if len(users.Items) != 1 || users.Items[0].Role != "admin" || len(users.Items[0].Emails) != 1 {
		t.Fatalf("GET /users = %+v, want the one admin", users.Items)
	}
	if email := users.Items[0].Emails[0]; !strings.Contains(stderr, email) {
		t.Errorf("stderr does not say who the first admin is (%s):\n%s", email, stderr)
	}
	anon.wantError("GET /users without a token", anon.do("GET", "/api/v1/users", nil), http.StatusUnauthorized, "")
	// Tokens are secrets: the daemon must not log them.
	if strings.Contains(d.stderr.String(), tok) {
		t.Errorf("the daemon logged the token it issued")
	}
}

// TestSecondProcess starts a second serve on a database in use: it must
// fail at once, say why, and leave the first daemon working.
func TestSecondProcess(t *testing.T) {
	t.Parallel()
	in := newInstall(t, adminPassword)
	d := in.start(t)

	cmd := exec.Command(binary, "serve")
	vars := maps.Clone(in.vars)
	vars["TOUCHPOINT_HTTP_ADDR"] = freeAddr(t)
	cmd.Env = environ(vars)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("a second serve on the same data directory still ran after 3s; stderr:\n%s", stderr.String())
	}
	took := time.Since(start)
	if code := cmd.ProcessState.ExitCode(); code == 0 {
		t.Errorf("second serve exited with status 0, want non-zero; stderr:\n%s", stderr.String())
	}
	if msg := stderr.String(); !strings.Contains(strings.ToLower(msg), "in use") || !strings.Contains(msg, "database") {
		t.Errorf("second serve said %q, want a message that the database is in use", msg)
	}
	t.Logf("second serve gave up after %v", took.Round(time.Millisecond))

	// The first one is untouched, control socket included.
	d.as(t, "").call("GET", "/healthz", nil, http.StatusOK, nil)
	tok := in.token(t, "--name", "after", "--role", "admin")
	d.as(t, tok).call("GET", "/api/v1/users", nil, http.StatusOK, nil)
}

// TestBackupWhileRunning takes a backup from a running daemon and starts a
// new daemon on it.
func TestBackupWhileRunning(t *testing.T) {
	t.Parallel()
	in, d, tok, c := startAsAdmin(t)
	ct := c.createContact(map[string]any{"name": "Miriam Stone", "emails": []string{"miriam@example.com"}})
	ia := c.createInteraction(map[string]any{
		"contact_ids": []uint64{ct.ID}, "type": "Visit", "address": "7 Rose Ln", "occurred_at": "2026-02-02T14:00:00Z",
	})

	file := filepath.Join(t.TempDir(), "backup.db")
	r := in.mustRun(t, "", "backup", file)
	st, err := os.Stat(file)
	if err != nil || st.Size() == 0 {
		t.Fatalf("backup %s: %v (size %v); %s", file, err, st, r)
	}
	if r.stdout != "" {
		t.Errorf("backup FILE printed %q on stdout, want nothing", r.stdout)
	}
	// To stdout, for a pipe: the same database, nothing else on stdout.
	if r := in.mustRun(t, "", "backup", "-"); int64(len(r.stdout)) != st.Size() {
		t.Errorf("backup - wrote %d bytes, backup FILE %d", len(r.stdout), st.Size())
	}
	// The daemon kept working through it.
	c.call("GET", fmt.Sprintf("/api/v1/contacts/%d", ct.ID), nil, http.StatusOK, nil)
	d.stop()

	restored := newInstall(t, adminPassword)
	if err := os.MkdirAll(restored.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(restored.dataDir, "touchpoint.db"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	d2 := restored.start(t)
	c2 := d2.as(t, tok) // the tokens came along
	var got contact
	c2.call("GET", fmt.Sprintf("/api/v1/contacts/%d", ct.ID), nil, http.StatusOK, &got)
	if got.Name != ct.Name {
		t.Errorf("restored contact = %+v, want %+v", got, ct)
	}
	var tl page[interaction]
	c2.call("GET", fmt.Sprintf("/api/v1/contacts/%d/interactions", ct.ID), nil, http.StatusOK, &tl)
	if len(tl.Items) != 1 || tl.Items[0].ID != ia.ID || tl.Items[0].Address != "7 Rose Ln" {
		t.Errorf("restored timeline = %+v, want the one visit %d", tl.Items, ia.ID)
	}
	// And it is a whole database that takes writes.
	c2.createInteraction(map[string]any{"contact_ids": []uint64{ct.ID}, "type": "Call"})
}

// TestRestartPersistence stops the daemon and starts it again on the same
// directory: the data is there and no second admin is made.
func TestRestartPersistence(t *testing.T) {
	t.Parallel()
	in := newInstall(t, "")
	d := in.start(t)
	if m := generatedPassword.FindAllString(d.waitStderr(t, "touchpoint started"), -1); len(m) != 1 {
		t.Fatalf("first start shows %d generated passwords, want 1", len(m))
	}
	tok := in.token(t, "--name", "r", "--role", "admin", "--user", adminEmail)
	c := d.as(t, tok)
	ct := c.createContact(map[string]any{"name": "Yossi Klein", "emails": []string{"yossi@example.com"}, "phones": []string{"050-1234567"}})
	ia := c.createInteraction(map[string]any{
		"contact_ids": []uint64{ct.ID}, "type": "Call", "actions": []string{"Tefillin"}, "title": "before restart",
	})
	d.stop()
	if _, err := os.Stat(filepath.Join(in.dataDir, "touchpoint.sock")); err == nil {
		t.Errorf("the control socket is still there after shutdown")
	}
	// With no daemon, the admin commands open the database themselves.
	offline := in.token(t, "--name", "offline", "--role", "admin")
	backup := filepath.Join(t.TempDir(), "offline.db")
	in.mustRun(t, "", "backup", backup)
	if st, err := os.Stat(backup); err != nil || st.Size() == 0 {
		t.Errorf("backup with no daemon: %v", err)
	}

	d2 := in.start(t)
	stderr := d2.waitStderr(t, "touchpoint started")
	if generatedPassword.MatchString(stderr) {
		t.Errorf("the second start printed an admin password again:\n%s", stderr)
	}
	c2 := d2.as(t, tok)
	d2.as(t, offline).call("GET", "/api/v1/users", nil, http.StatusOK, nil)
	var users page[user]
	c2.call("GET", "/api/v1/users", nil, http.StatusOK, &users)
	if len(users.Items) != 1 {
		t.Errorf("after restart %d users, want the 1 admin: %+v", len(users.Items), users.Items)
	}
	var got interaction
	c2.call("GET", fmt.Sprintf("/api/v1/interactions/%d", ia.ID), nil, http.StatusOK, &got)
	if got.Title != "before restart" || !got.OccurredAt.Equal(ia.OccurredAt) {
		t.Errorf("after restart = %+v, want %+v", got, ia)
	}
	var search page[contact]
	c2.call("GET", "/api/v1/contacts?q=yossi", nil, http.StatusOK, &search)
	if len(search.Items) != 1 || search.Items[0].ID != ct.ID {
		t.Errorf("search after restart = %+v, want contact %d", search.Items, ct.ID)
	}
	// New records after a restart get new ids.
	ia2 := c2.createInteraction(map[string]any{"contact_ids": []uint64{ct.ID}, "type": "Call"})
	if ia2.ID <= ia.ID {
		t.Errorf("id after restart %d, want more than %d", ia2.ID, ia.ID)
	}
}

// TestCLI covers the commands that need no daemon.
func TestCLI(t *testing.T) {
	t.Parallel()
	in := newInstall(t, adminPassword)

	t.Run("version", func(t *testing.T) {
		t.Parallel()
		r := in.mustRun(t, "", "version")
		if !regexp.MustCompile(`^touchpoint \S+.*\n$`).MatchString(r.stdout) {
			t.Errorf("version printed %q, want one line starting \"touchpoint VERSION\"", r.stdout)
		}
	})
	t.Run("config check", func(t *testing.T) {
		t.Parallel()
		r := in.mustRun(t, "", "config", "check")
		if strings.Contains(r.stdout+r.stderr, adminPassword) {
			t.Errorf("config check shows the admin password:\n%s", r)
		}
	})
	t.Run("config check bad env", func(t *testing.T) {
		t.Parallel()
		for _, kv := range []string{"TOUCHPOINT_SMTP_MAX_RECIPIENTS=abc", "TOUCHPOINT_HTTP_READ_TIMEOUT=soon"} {
			r := in.run(t, "", []string{kv}, "config", "check")
			name, _, _ := strings.Cut(kv, "=")
			if r.code == 0 || !strings.Contains(r.stderr, name) {
				t.Errorf("config check with %s: %s\nwant a non-zero exit naming %s", kv, r, name)
			}
		}
		r := in.run(t, "", []string{"TOUCHPOINT_SMTP_MAX_RECIPIENTS=0", "TOUCHPOINT_LOG_LEVEL=loud"}, "config", "check")
		if r.code == 0 || !strings.Contains(r.stderr, "max_recipients") || !strings.Contains(r.stderr, "log.level") {
			t.Errorf("config check with two bad values: %s\nwant a non-zero exit naming both", r)
		}
	})
	t.Run("usage", func(t *testing.T) {
		t.Parallel()
		for _, args := range [][]string{{"nosuch"}, {}, {"token", "create"}, {"user", "add", "--email", "x@example.org"}, {"serve", "--nosuch-flag"}} {
			r := in.run(t, "", nil, args...)
			if r.code != 2 || r.stderr == "" {
				t.Errorf("touchpoint %s: %s\nwant exit 2 and a message on stderr", strings.Join(args, " "), r)
			}
		}
	})
	t.Run("user add without a password", func(t *testing.T) {
		t.Parallel()
		r := in.run(t, "", nil, "user", "add", "--email", "nopw@example.org", "--name", "No Password")
		if r.code == 0 {
			t.Errorf("user add with nothing on stdin: %s\nwant a failure", r)
		}
	})
}
