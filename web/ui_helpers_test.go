package web

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"touchpoint/store"
)

// uiEnv is the whole server on a loopback port, a store with an admin and a
// staff member (password "password123"), and a browser-like client per
// user.
type uiEnv struct {
	t            *testing.T
	s            *store.Store
	web          *Server
	srv          *httptest.Server
	admin, staff *store.User
}

const testPassword = "password123"

func newUIEnv(t *testing.T) *uiEnv {
	t.Helper()
	return newUIEnvWith(t, nil)
}

// newUIEnvWith lets a test set more Options.
func newUIEnvWith(t *testing.T, opt func(*Options)) *uiEnv {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "t.db"), store.Options{NoSync: true, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	e := &uiEnv{t: t, s: s}
	opts := Options{Store: s, Version: "test", SystemAddress: "log@org.org"}
	if opt != nil {
		opt(&opts)
	}
	e.web = New(opts)
	e.srv = httptest.NewServer(e.web.Handler())
	t.Cleanup(func() {
		e.srv.Close()
		if err := s.Check(); err != nil {
			t.Errorf("store Check: %v", err)
		}
		s.Close()
	})
	ctx := context.Background()
	e.admin = &store.User{Name: "Ada Admin", Emails: []string{"ada@org.org"}, Role: store.RoleAdmin}
	e.staff = &store.User{Name: "Sarah Staff", Emails: []string{"sarah@org.org"}, Role: store.RoleStaff}
	for _, u := range []*store.User{e.admin, e.staff} {
		if err := s.CreateUser(ctx, u, testPassword); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// browser is a cookie-keeping client that does not follow redirects and
// remembers the CSRF token of the last page it read.
type browser struct {
	e     *uiEnv
	c     *http.Client
	token string
}

func (e *uiEnv) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// signedIn is a browser signed in as u.
func (e *uiEnv) signedIn(u *store.User) *browser {
	e.t.Helper()
	b := e.browser()
	b.get("/login", 200)
	r := b.post("/login", url.Values{"email": {u.Emails[0]}, "password": {testPassword}}, 303)
	if r.loc != "/" {
		e.t.Fatalf("sign-in redirects to %q", r.loc)
	}
	return b
}

type uiResp struct {
	code int
	body string
	loc  string
	hdr  http.Header
}

var tokenRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func (b *browser) do(req *http.Request, want int) uiResp {
	b.e.t.Helper()
	req.Header.Set("Accept", "text/html")
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := uiResp{code: resp.StatusCode, body: string(body), loc: resp.Header.Get("Location"), hdr: resp.Header}
	if m := tokenRE.FindStringSubmatch(p.body); m != nil {
		b.token = html.UnescapeString(m[1])
	}
	if want != 0 && p.code != want {
		b.e.t.Fatalf("%s %s = %d, want %d\n%s", req.Method, req.URL.Path, p.code, want, clip(p.body))
	}
	return p
}

func clip(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "…"
	}
	return s
}

func (b *browser) get(path string, want int) uiResp {
	b.e.t.Helper()
	req, _ := http.NewRequest("GET", b.e.srv.URL+path, nil)
	return b.do(req, want)
}

// post sends a form with the CSRF token of the last page read (unless
// the form has its own csrf_token).
func (b *browser) post(path string, form url.Values, want int) uiResp {
	b.e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf_token"]; !ok {
		form.Set("csrf_token", b.token)
	}
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req, want)
}

func (p uiResp) has(t *testing.T, want ...string) {
	t.Helper()
	text := html.UnescapeString(p.body)
	for _, w := range want {
		if !strings.Contains(p.body, w) && !strings.Contains(text, w) {
			t.Errorf("page lacks %q\n%s", w, clip(p.body))
		}
	}
}

func (p uiResp) hasNot(t *testing.T, bad ...string) {
	t.Helper()
	for _, w := range bad {
		if strings.Contains(p.body, w) {
			t.Errorf("page has %q", w)
		}
	}
}

func (e *uiEnv) contact(c store.Contact) *store.Contact {
	e.t.Helper()
	if err := e.s.CreateContact(context.Background(), &c); err != nil {
		e.t.Fatal(err)
	}
	return &c
}

func (e *uiEnv) interaction(ia store.Interaction) *store.Interaction {
	e.t.Helper()
	if err := e.s.CreateInteraction(context.Background(), &ia); err != nil {
		e.t.Fatal(err)
	}
	return &ia
}

func (e *uiEnv) unmatched(key, from, subject, body, reason string) store.ID {
	e.t.Helper()
	raw := "From: Stranger <" + from + ">\r\nTo: log@org.org\r\nSubject: " + subject + "\r\nMessage-ID: <" + key + "@x>\r\n\r\n" + body + "\r\n"
	res, err := e.s.Ingest(context.Background(), &store.Incoming{
		DedupeKey: key, Raw: []byte(raw), Reason: reason, Unknown: []string{from},
		Interaction: &store.Interaction{Type: "Email", Title: subject, Details: body, Source: store.SourceSMTP,
			Email: &store.Email{MessageID: key + "@x", From: from, To: []string{"log@org.org"}, Subject: subject, Direction: store.Inbound}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return res.UnmatchedID
}

// firstMatch returns the first group of re in s.
func firstMatch(t *testing.T, s, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no match for %s in\n%s", re, clip(s))
	}
	return m[1]
}
