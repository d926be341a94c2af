package tests

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Sign-in, sessions and secrets, against the real daemon over loopback.

// webUser is a browser: it keeps cookies by hand (so a test can plant or
// replay one), follows no redirects and remembers the last CSRF token.
type webUser struct {
	t       *testing.T
	d       *daemon
	cookies map[string]string
	token   string
}

func (d *daemon) browser(t *testing.T) *webUser {
	return &webUser{t: t, d: d, cookies: map[string]string{}}
}

var csrfTokenRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

type webAnswer struct {
	status int
	loc    string
	body   string
	header http.Header
}

func (w *webUser) send(method, path string, form url.Values) webAnswer {
	w.t.Helper()
	var body io.Reader
	if form != nil {
		if _, ok := form["csrf_token"]; !ok {
			form.Set("csrf_token", w.token)
		}
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, w.d.base+path, body)
	if err != nil {
		w.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	for k, v := range w.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	hc := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		w.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 {
			delete(w.cookies, ck.Name)
		} else {
			w.cookies[ck.Name] = ck.Value
		}
	}
	if m := csrfTokenRE.FindStringSubmatch(string(b)); m != nil {
		w.token = html.UnescapeString(m[1])
	}
	return webAnswer{resp.StatusCode, resp.Header.Get("Location"), string(b), resp.Header}
}

func (w *webUser) signIn(email, password string) webAnswer {
	w.t.Helper()
	w.send("GET", "/login", nil)
	return w.send("POST", "/login", url.Values{"email": {email}, "password": {password}})
}

// signedIn says whether the browser's session opens a page.
func (w *webUser) signedIn() bool {
	w.t.Helper()
	r := w.send("GET", "/contacts", nil)
	switch {
	case r.status == 200:
		return true
	case r.status == 303 && strings.HasPrefix(r.loc, "/login"):
		return false
	}
	w.t.Fatalf("GET /contacts = %d %q", r.status, r.loc)
	return false
}

const sessionCookie = "touchpoint_session"

func TestSessionFixationAndSignOut(t *testing.T) {
	t.Parallel()
	in := newInstall(t, adminPassword)
	d := in.start(t)
	admin := d.as(t, in.token(t, "--name", "setup", "--role", "admin"))
	admin.call("POST", "/api/v1/users", map[string]any{"name": "Mallory", "emails": []string{"mallory@example.org"},
		"role": "staff", "password": "mallory's password"}, http.StatusCreated, nil)

	// The attacker signs in and plants their own, valid, session id in
	// the victim's browser; the victim (an admin) then signs in.
	attacker := d.browser(t)
	if r := attacker.signIn("mallory@example.org", "mallory's password"); r.status != 303 {
		t.Fatalf("attacker sign-in = %d", r.status)
	}
	planted := attacker.cookies[sessionCookie]
	victim := d.browser(t)
	victim.send("GET", "/login", nil)
	victim.cookies[sessionCookie] = planted
	if r := victim.signIn(adminEmail, adminPassword); r.status != 303 {
		t.Fatalf("victim sign-in = %d\n%s", r.status, r.body)
	}
	got := victim.cookies[sessionCookie]
	if got == "" || got == planted {
		t.Fatalf("session id after sign-in = %q, planted %q: the planted id was adopted", got, planted)
	}
	// The planted id gives the attacker nothing: not the admin's pages,
	// not even their own session any more.
	if attacker.signedIn() {
		t.Error("the planted session id still works after the victim signed in with it")
	}
	if r := attacker.send("GET", "/admin/users", nil); r.status == 200 {
		t.Error("the planted session id opens the admin pages")
	}
	// A made-up id is not adopted either.
	made := d.browser(t)
	made.send("GET", "/login", nil)
	made.cookies[sessionCookie] = "attacker-chosen-value-0123456789abcdefghijklmn"
	made.signIn(adminEmail, adminPassword)
	if made.cookies[sessionCookie] == "attacker-chosen-value-0123456789abcdefghijklmn" {
		t.Error("a made-up session id was adopted at sign-in")
	}

	// Signing in again in the same browser rotates the id; the old one dies.
	before := victim.cookies[sessionCookie]
	victim.signIn(adminEmail, adminPassword)
	after := victim.cookies[sessionCookie]
	if after == before {
		t.Error("the session id did not change at a second sign-in")
	}
	old := d.browser(t)
	old.cookies[sessionCookie] = before
	if old.signedIn() {
		t.Error("the session id from before the second sign-in still works")
	}

	// Sign-out kills the session on the server: the same cookie, replayed,
	// opens neither the pages nor the API.
	if !victim.signedIn() {
		t.Fatal("the victim is not signed in")
	}
	victim.send("GET", "/contacts", nil)
	if r := victim.send("POST", "/logout", url.Values{}); r.status != 303 || r.loc != "/login" {
		t.Fatalf("sign-out = %d %q", r.status, r.loc)
	}
	replay := d.browser(t)
	replay.cookies[sessionCookie] = after
	if replay.signedIn() {
		t.Error("the session cookie still works after sign-out")
	}
	req, _ := http.NewRequest("GET", d.base+"/api/v1/contacts", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: after})
	resp, err := d.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API with the signed-out session = %d, want 401", resp.StatusCode)
	}
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	in := newInstall(t, adminPassword)
	d := in.start(t)
	admin := d.as(t, in.token(t, "--name", "setup", "--role", "admin"))
	admin.call("POST", "/api/v1/users", map[string]any{"name": "Sarah", "emails": []string{"sarah@example.org"},
		"role": "staff", "password": "sarah's password"}, http.StatusCreated, nil)

	// Per account: five failures, then even the right password waits.
	b := d.browser(t)
	for i := range 5 {
		if r := b.signIn(adminEmail, "wrong password"); r.status != 401 {
			t.Fatalf("failed sign-in %d = %d, want 401", i+1, r.status)
		}
	}
	r := b.signIn(adminEmail, adminPassword)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" || !noSession(r) {
		t.Errorf("sign-in past the account limit = %d (Retry-After %q), want 429 with Retry-After and no session",
			r.status, r.header.Get("Retry-After"))
	}
	// Another account from the same address still signs in...
	if r := d.browser(t).signIn("sarah@example.org", "sarah's password"); r.status != 303 {
		t.Errorf("another account = %d, want 303", r.status)
	}
	// ...until the address itself has failed too often (20 a minute),
	// spread over accounts.
	for i := range 15 {
		if r := d.browser(t).signIn("nobody"+string(rune('a'+i))+"@example.org", "guess"); r.status != 401 {
			t.Fatalf("failed sign-in on account %d = %d, want 401", i, r.status)
		}
	}
	if r := d.browser(t).signIn("sarah@example.org", "sarah's password"); r.status != http.StatusTooManyRequests {
		t.Errorf("sign-in past the address limit = %d, want 429", r.status)
	}
}

// noSession says the answer r set no session cookie.
func noSession(r webAnswer) bool {
	for _, c := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, sessionCookie+"=") && !strings.Contains(c, "Max-Age=0") {
			return false
		}
	}
	return true
}

// TestSecretsNeverLogged signs in, fails to, adds users and creates tokens
// through every door (command line, API, pages) with the daemon logging at
// debug level, then looks for each secret in everything it wrote.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	in := newInstall(t, adminPassword)
	d := in.start(t)
	var secrets []string
	// The command line, through the daemon's control socket.
	in.mustRun(t, "cli-user-password-1\n", "user", "add", "--email", "cli@example.org", "--name", "Cli User", "--role", "staff")
	secrets = append(secrets, "cli-user-password-1", adminPassword)
	tok := in.token(t, "--name", "cli", "--role", "admin")
	secrets = append(secrets, tok)
	// The API.
	api := d.as(t, tok)
	api.call("POST", "/api/v1/users", map[string]any{"name": "Api User", "emails": []string{"api@example.org"},
		"role": "staff", "password": "api-user-password-2"}, http.StatusCreated, nil)
	secrets = append(secrets, "api-user-password-2")
	var created struct {
		Token string `json:"token"`
	}
	api.call("POST", "/api/v1/tokens", map[string]any{"name": "api", "role": "staff"}, http.StatusCreated, &created)
	if !strings.HasPrefix(created.Token, "tp_") {
		t.Fatalf("POST /tokens answered token %q", created.Token)
	}
	secrets = append(secrets, created.Token)
	// The pages: a failed and a good sign-in, a user and a token added.
	b := d.browser(t)
	if r := b.signIn(adminEmail, "wrong-password-3"); r.status != 401 {
		t.Fatalf("failed sign-in = %d", r.status)
	}
	secrets = append(secrets, "wrong-password-3")
	if r := b.signIn(adminEmail, adminPassword); r.status != 303 {
		t.Fatalf("sign-in = %d", r.status)
	}
	secrets = append(secrets, b.cookies[sessionCookie])
	b.send("GET", "/admin/users", nil)
	if r := b.send("POST", "/admin/users", url.Values{"name": {"Form User"}, "emails": {"form@example.org"}, "role": {"staff"},
		"password": {"form-user-password-4"}}); r.status != 303 {
		t.Fatalf("add user page = %d", r.status)
	}
	secrets = append(secrets, "form-user-password-4")
	b.send("GET", "/admin/tokens", nil)
	r := b.send("POST", "/admin/tokens", url.Values{"name": {"page"}, "role": {"staff"}})
	m := regexp.MustCompile(`tp_[A-Za-z0-9_-]{20,}`).FindString(r.body)
	if m == "" {
		t.Fatalf("token page shows no token (%d)", r.status)
	}
	secrets = append(secrets, m)
	// Sign-ins with the new accounts, and a token that does not exist.
	for _, acct := range [][2]string{{"cli@example.org", "cli-user-password-1"}, {"form@example.org", "form-user-password-4"}} {
		if r := d.browser(t).signIn(acct[0], acct[1]); r.status != 303 {
			t.Errorf("sign-in as %s = %d", acct[0], r.status)
		}
	}
	d.as(t, "tp_not-a-real-token-5555555555").raw("GET", "/api/v1/contacts", "", nil)
	secrets = append(secrets, "tp_not-a-real-token-5555555555")

	// The last request is logged once it is answered.
	d.waitStderr(t, `route=/api/v1/contacts status=401`)
	logs := d.stderr.String() + d.stdout.String()
	if !strings.Contains(logs, "signed in") || !strings.Contains(logs, "sign-in failed") {
		t.Fatalf("the daemon's log lacks the sign-in lines; is it logging at all?\n%s", logs)
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatal("an empty secret")
		}
		if strings.Contains(logs, s) {
			t.Errorf("the daemon's log holds the secret %q", s)
		}
	}
}

// TestEraseThroughTheDaemon erases a contact with logged and unmatched
// mail through the API of the real daemon; the database check stays clean
// and the audit log tells who did it.
func TestEraseThroughTheDaemon(t *testing.T) {
	t.Parallel()
	in := newInstall(t, adminPassword)
	d := in.start(t)
	admin := d.as(t, in.token(t, "--name", "dpo", "--role", "admin", "--user", adminEmail))
	staff := d.as(t, in.token(t, "--name", "staff", "--role", "staff"))
	david := admin.createContact(map[string]any{"name": "David Levi", "emails": []string{"david@example.org"}})
	rachel := admin.createContact(map[string]any{"name": "Rachel Green"})
	alone := admin.createInteraction(map[string]any{"contact_ids": []uint64{david.ID}, "type": "Call"})
	shared := admin.createInteraction(map[string]any{"contact_ids": []uint64{david.ID, rachel.ID}, "type": "Meeting"})
	// Mail from David with no staff member on it waits as unmatched.
	var posted struct {
		Status      string `json:"status"`
		UnmatchedID uint64 `json:"unmatched_id"`
	}
	r := admin.raw("POST", "/api/v1/messages", "message/rfc822",
		[]byte("From: David <david@example.org>\r\nTo: log@localhost\r\nSubject: hello\r\nMessage-ID: <erase-1@example.org>\r\n\r\nHi\r\n"))
	if r.status != http.StatusAccepted || json.Unmarshal(r.body, &posted) != nil || posted.Status != "unmatched" {
		t.Fatalf("POST /messages = %d %s, want 202 unmatched", r.status, r.body)
	}

	path := fmt.Sprintf("/api/v1/contacts/%d/erase", david.ID)
	staff.wantError("erase as staff", staff.do("POST", path, nil), http.StatusForbidden, "")
	var entry struct {
		ID          uint64         `json:"id"`
		Action      string         `json:"action"`
		ActorName   string         `json:"actor_name"`
		ContactID   uint64         `json:"contact_id"`
		ContactName string         `json:"contact_name"`
		Counts      map[string]int `json:"counts"`
	}
	admin.call("POST", path, nil, http.StatusOK, &entry)
	if entry.Action != "contact.erase" || entry.ContactID != david.ID || entry.ContactName != "David Levi" ||
		entry.Counts["interactions_deleted"] != 1 || entry.Counts["interactions_detached"] != 1 || entry.Counts["unmatched_deleted"] != 1 {
		t.Errorf("erase answer = %+v", entry)
	}
	admin.wantError("erased contact", admin.do("GET", fmt.Sprintf("/api/v1/contacts/%d", david.ID), nil), http.StatusNotFound, "")
	admin.wantError("interaction on it alone", admin.do("GET", fmt.Sprintf("/api/v1/interactions/%d", alone.ID), nil), http.StatusNotFound, "")
	admin.wantError("its unmatched mail", admin.do("GET", fmt.Sprintf("/api/v1/unmatched/%d", posted.UnmatchedID), nil), http.StatusNotFound, "")
	var sh interaction
	admin.call("GET", fmt.Sprintf("/api/v1/interactions/%d", shared.ID), nil, http.StatusOK, &sh)
	if len(sh.ContactIDs) != 1 || sh.ContactIDs[0] != rachel.ID {
		t.Errorf("shared interaction = %+v, want it on Rachel alone", sh)
	}
	var log page[struct {
		ID        uint64 `json:"id"`
		ActorName string `json:"actor_name"`
	}]
	admin.call("GET", "/api/v1/audit", nil, http.StatusOK, &log)
	if len(log.Items) != 1 || log.Items[0].ID != entry.ID || log.Items[0].ActorName == "" {
		t.Errorf("GET /audit = %+v", log)
	}
	staff.wantError("audit as staff", staff.do("GET", "/api/v1/audit", nil), http.StatusForbidden, "")
	if r := in.run(t, "", nil, "check"); r.code != 0 {
		t.Errorf("touchpoint check after erase: %s", r)
	}
}
