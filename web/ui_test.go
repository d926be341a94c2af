package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"touchpoint/store"
)

func TestUIPagesNeedASession(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.browser()
	for _, path := range []string{"/", "/contacts", "/contacts/1", "/interactions", "/interactions/new", "/unmatched", "/admin/users", "/interactions/export.csv"} {
		r := b.get(path, 0)
		if r.code != http.StatusSeeOther || !strings.HasPrefix(r.loc, "/login?next=") {
			t.Errorf("GET %s without a session = %d %q, want a redirect to /login", path, r.code, r.loc)
		}
	}
	r := b.get("/interactions?type=Call", 303)
	if want := "/login?next=" + url.QueryEscape("/interactions?type=Call"); r.loc != want {
		t.Errorf("redirect = %q, want %q", r.loc, want)
	}
	// A form post without a session is refused, not redirected.
	b.get("/login", 200)
	b.post("/contacts", url.Values{"name": {"X"}}, http.StatusUnauthorized)
	// The sign-in page sends the user back where they were going...
	r = b.post("/login", url.Values{"email": {"ada@org.org"}, "password": {testPassword}, "next": {"/interactions?type=Call"}}, 303)
	if r.loc != "/interactions?type=Call" {
		t.Errorf("after sign-in = %q", r.loc)
	}
	// ...but never to another site.
	for _, next := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example"} {
		b2 := e.browser()
		b2.get("/login", 200)
		r = b2.post("/login", url.Values{"email": {"ada@org.org"}, "password": {testPassword}, "next": {next}}, 303)
		if r.loc != "/" {
			t.Errorf("next=%q redirects to %q", next, r.loc)
		}
	}
	// Static files need no session.
	if r := b.get("/static/app.css", 200); !strings.Contains(r.hdr.Get("Content-Type"), "text/css") {
		t.Errorf("app.css type %q", r.hdr.Get("Content-Type"))
	}
}

func TestUISignInSessionCookie(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.browser()
	r := b.get("/login", 200)
	r.has(t, `<label for="email">Email</label>`, `<label for="password">Password</label>`, `>Sign in</button>`)

	// A session id planted before sign-in is not the one after it.
	u, _ := url.Parse(e.srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: "planted-by-attacker", Path: "/"}})
	r = b.post("/login", url.Values{"email": {"ADA@org.org"}, "password": {testPassword}}, 303)
	var sc *http.Cookie
	for _, ck := range (&http.Response{Header: r.hdr}).Cookies() {
		if ck.Name == sessionCookie {
			sc = ck
		}
	}
	if sc == nil || sc.Value == "planted-by-attacker" || len(sc.Value) < 40 {
		t.Fatalf("session cookie = %+v", sc)
	}
	if !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Secure || sc.Path != "/" {
		t.Errorf("session cookie flags = %+v, want HttpOnly, SameSite=Lax, not Secure over plain HTTP", sc)
	}
	b.get("/contacts", 200).has(t, "Ada Admin", `>Sign out</button>`)

	// Behind a TLS proxy the cookie is Secure.
	b2 := e.browser()
	b2.get("/login", 200)
	form := url.Values{"email": {"ada@org.org"}, "password": {testPassword}, "csrf_token": {b2.token}}
	req, _ := http.NewRequest("POST", e.srv.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Referer", "https://"+u.Host+"/login")
	r = b2.do(req, 303)
	if !strings.Contains(strings.Join(r.hdr.Values("Set-Cookie"), "\n"), "; Secure") {
		t.Errorf("cookies over HTTPS lack Secure: %q", r.hdr.Values("Set-Cookie"))
	}

	// Sign-out ends the session on the server: the old cookie is dead.
	old := b.c.Jar.Cookies(u)
	b.get("/contacts", 200)
	r = b.post("/logout", nil, 303)
	if r.loc != "/login" {
		t.Errorf("sign-out redirects to %q", r.loc)
	}
	b.get("/contacts", 303)
	b3 := e.browser()
	b3.c.Jar.SetCookies(u, old)
	b3.get("/contacts", 303)
}

func TestUISignInErrorsAndRateLimit(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.browser()
	b.get("/login", 200)
	r := b.post("/login", url.Values{"email": {"ada@org.org"}, "password": {"wrong-password"}}, http.StatusUnauthorized)
	r.has(t, "Wrong email address or password.", `value="ada@org.org"`)
	r.hasNot(t, "wrong-password")
	for range loginFailuresPerAccount - 1 {
		b.post("/login", url.Values{"email": {"ada@org.org"}, "password": {"wrong-password"}}, http.StatusUnauthorized)
	}
	// Over the limit even the right password waits.
	r = b.post("/login", url.Values{"email": {"ada@org.org"}, "password": {testPassword}}, http.StatusTooManyRequests)
	r.has(t, "Too many failed sign-in attempts")
	if r.hdr.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Another account from the same address still signs in.
	b.post("/login", url.Values{"email": {"sarah@org.org"}, "password": {testPassword}}, 303)
	// A disabled user cannot sign in.
	e.s.UpdateUser(context.Background(), e.staff.ID, func(u *store.User) error { u.Disabled = true; return nil })
	b2 := e.browser()
	b2.get("/login", 200)
	b2.post("/login", url.Values{"email": {"sarah@org.org"}, "password": {testPassword}}, http.StatusUnauthorized)
	// ...and their open session stops working.
	b.get("/contacts", 303)
}

func TestUISignInOverlongEmail(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.browser()
	b.get("/login", 200)
	keys := func(l *loginLimiter) []string {
		l.mu.Lock()
		defer l.mu.Unlock()
		var out []string
		for k := range l.fails {
			out = append(out, k)
		}
		return out
	}
	// An address of the longest length is an account key like any other.
	longest := strings.Repeat("a", store.MaxEmailLen-len("@org.org")) + "@org.org"
	b.post("/login", url.Values{"email": {longest}, "password": {"wrong-password"}}, http.StatusUnauthorized)
	if got := keys(e.web.limiter); len(got) != 1 || got[0] != "acct:"+longest {
		t.Fatalf("account limiter keys = %q, want the %d-byte address", got, store.MaxEmailLen)
	}
	// One byte more is a failed sign-in with the usual answer, counted
	// against the client address only.
	for _, email := range []string{"a" + longest, strings.Repeat("x", 100_000)} {
		r := b.post("/login", url.Values{"email": {email}, "password": {testPassword}}, http.StatusUnauthorized)
		r.has(t, "Wrong email address or password.")
	}
	if got := keys(e.web.limiter); len(got) != 1 {
		t.Errorf("account limiter keys = %d after overlong addresses, want still 1", len(got))
	}
	ips := e.web.ipLimiter
	ips.mu.Lock()
	defer ips.mu.Unlock()
	if len(ips.fails) != 1 {
		t.Fatalf("client address limiter has %d keys, want 1", len(ips.fails))
	}
	for k, v := range ips.fails {
		if len(v) != 3 {
			t.Errorf("client address limiter %s counted %d failures, want 3", k, len(v))
		}
	}
}

func TestLoginLimiterWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	l := newLoginLimiter(3, time.Minute, func() time.Time { return now })
	for range 3 {
		if over, _ := l.blocked("k"); over {
			t.Fatal("blocked too early")
		}
		l.fail("k")
		now = now.Add(10 * time.Second)
	}
	if over, wait := l.blocked("k"); !over || wait != 30*time.Second {
		t.Errorf("blocked = %v, %v; want true, 30s", over, wait)
	}
	now = now.Add(31 * time.Second)
	if over, _ := l.blocked("k"); over {
		t.Error("still blocked after the oldest failure left the window")
	}
	l.reset("k")
	if len(l.fails) != 0 {
		t.Errorf("reset left %v", l.fails)
	}
}

func TestUIAdminPagesForbiddenToStaff(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	staff := e.signedIn(e.staff)
	r := staff.get("/contacts", 200)
	r.has(t, `>Contacts</a>`, `>Interactions</a>`)
	r.hasNot(t, `href="/admin"`, `href="/unmatched"`)
	for _, path := range []string{"/admin", "/admin/users", "/admin/lists", "/admin/tokens", "/admin/mailboxes", "/unmatched",
		fmt.Sprintf("/admin/users/%d", e.admin.ID), "/contacts/1/delete"} {
		staff.get(path, http.StatusForbidden)
	}
	staff.get("/contacts", 200)
	staff.post("/admin/users", url.Values{"name": {"Eve"}, "emails": {"eve@org.org"}, "role": {"admin"}, "password": {"password123"}}, http.StatusForbidden)
	staff.post(fmt.Sprintf("/admin/users/%d", e.staff.ID), url.Values{"name": {"Sarah"}, "emails": {"sarah@org.org"}, "role": {"admin"}}, http.StatusForbidden)
	if u, _ := e.s.GetUser(e.staff.ID); u.Role != store.RoleStaff {
		t.Error("staff promoted themselves")
	}
	if _, err := e.s.UserByEmail("eve@org.org"); err == nil {
		t.Error("staff created a user")
	}
	admin := e.signedIn(e.admin)
	admin.get("/contacts", 200).has(t, `>Unmatched</a>`, `>Admin</a>`)
	admin.get("/admin/users", 200)
}

func TestUICSRF(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn(e.admin)
	b.get("/contacts/new", 200).has(t, `name="csrf_token"`)
	// No token, a wrong token: refused, nothing written.
	b.post("/contacts", url.Values{"name": {"No Token"}, "csrf_token": {""}}, http.StatusForbidden).has(t, "This form expired")
	b.post("/contacts", url.Values{"name": {"Bad Token"}, "csrf_token": {"AAAA" + b.token[4:]}}, http.StatusForbidden)
	// Another browser's valid token does not fit this browser's cookie.
	other := e.signedIn(e.staff)
	other.get("/contacts/new", 200)
	b.post("/contacts", url.Values{"name": {"Foreign Token"}, "csrf_token": {other.token}}, http.StatusForbidden)
	// A post from another site is refused by its Origin.
	form := url.Values{"name": {"Cross Site"}, "csrf_token": {b.token}}
	req, _ := http.NewRequest("POST", e.srv.URL+"/contacts", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://evil.example")
	b.do(req, http.StatusForbidden)
	// Sign-out needs the token too.
	b.post("/logout", url.Values{"csrf_token": {""}}, http.StatusForbidden)
	if n, _ := e.s.CountContacts(); n != 0 {
		t.Errorf("%d contacts created by refused posts", n)
	}
	// With the token it works.
	b.get("/contacts/new", 200)
	b.post("/contacts", url.Values{"name": {"With Token"}, "kind": {"person"}}, 303)
}

func TestUISecurityHeadersAndEscaping(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	evil := "<script>alert(1)</script>"
	ct := e.contact(store.Contact{Name: evil + " Levi", Emails: []string{"david@example.org"}, Address: evil})
	e.interaction(store.Interaction{ContactIDs: []store.ID{ct.ID}, Type: evil, Actions: []string{evil}, Title: evil, Details: evil,
		OwnerIDs: []store.ID{e.admin.ID}, Location: evil, Address: evil})
	e.unmatched("u1", "stranger@example.org", evil, "<b>bold</b> "+evil, "no_contact")
	b := e.signedIn(e.admin)
	for _, path := range []string{"/contacts", fmt.Sprintf("/contacts/%d", ct.ID), "/interactions", "/unmatched", "/interactions/new?contact=" + ct.ID.String()} {
		r := b.get(path, 200)
		r.hasNot(t, "<script>alert")
		r.has(t, "&lt;script&gt;alert(1)&lt;/script&gt;")
		if csp := r.hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s CSP = %q", path, csp)
		}
		if r.hdr.Get("X-Content-Type-Options") != "nosniff" || r.hdr.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s headers = %v", path, r.hdr)
		}
	}
	// The unmatched message is shown as text, its HTML escaped.
	list := b.get("/unmatched", 200)
	id := firstMatch(t, list.body, `href="/unmatched/(\d+)"`)
	b.get("/unmatched/"+id, 200).has(t, "&lt;b&gt;bold&lt;/b&gt;")
}

func TestUIContactsCRUD(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn(e.admin)
	b.get("/contacts", 200).has(t, "No contacts yet.")
	b.get("/contacts/new?kind=organization", 200)
	r := b.post("/contacts", url.Values{"kind": {"organization"}, "name": {"Acme Ltd"}, "domains": {"acme.com"}, "phones": {"+1 555 0100"}}, 303)
	acme := strings.TrimPrefix(r.loc, "/contacts/")
	b.get("/contacts/new", 200)
	// Errors are shown next to their field, the form kept.
	r = b.post("/contacts", url.Values{"kind": {"person"}, "name": {"David Levi"}, "emails": {"not-an-address"}, "address": {"1 Main St"}}, 400)
	r.has(t, `&#34;not-an-address&#34; is not valid`, `>1 Main St</textarea>`, `value="David Levi"`)
	r = b.post("/contacts", url.Values{"kind": {"person"}, "name": {"David Levi"}, "emails": {"david@example.org"}, "organization": {"Nobody Inc"}}, 400)
	r.has(t, "No organisation is called")
	r = b.post("/contacts", url.Values{"kind": {"person"}, "name": {"David Levi"}, "emails": {"david@example.org\nDavid@Home.org"}, "organization": {"acme ltd"}}, 303)
	david := strings.TrimPrefix(r.loc, "/contacts/")
	p := b.get("/contacts/"+david, 200)
	p.has(t, "David Levi", "david@example.org", "david@home.org", `href="/contacts/`+acme+`"`, "log@org.org", "No interactions yet.")
	// The signed-in user's own BCC address is on the profile.
	admin, _ := e.s.GetUser(e.admin.ID)
	p.has(t, "log+"+admin.AddressToken+"@org.org", `>Add an interaction</button>`)
	// A second contact may not claim the same address.
	b.get("/contacts/new", 200)
	b.post("/contacts", url.Values{"kind": {"person"}, "name": {"Dup"}, "emails": {"david@example.org"}}, 400).has(t, "already belongs to contact")
	// Search and edit.
	b.get("/contacts?q=dav", 200).has(t, "David Levi")
	b.get("/contacts?q=zzz", 200).has(t, "No contact matches")
	b.get("/contacts/"+david+"/edit", 200).has(t, `value="Acme Ltd"`)
	b.post("/contacts/"+david, url.Values{"kind": {"person"}, "name": {"David H. Levi"}, "emails": {"david@example.org"}, "organization": {""}}, 303)
	if c, _ := e.s.GetContact(mustID(t, david)); c.Name != "David H. Levi" || c.OrganizationID != 0 || len(c.Emails) != 1 {
		t.Errorf("after edit: %+v", c)
	}
	b.get("/contacts/"+acme, 200).has(t, "acme.com")
	// Delete asks first.
	b.get("/contacts/"+david+"/delete", 200).has(t, "Delete David H. Levi?")
	b.post("/contacts/"+david+"/delete", nil, 303)
	b.get("/contacts/"+david, 404)
	// Paging.
	for i := range 55 {
		e.contact(store.Contact{Name: fmt.Sprintf("Person %02d", i)})
	}
	r = b.get("/contacts", 200)
	next := firstMatch(t, r.body, `href="/contacts\?cursor=([^"]+)"`)
	b.get("/contacts?cursor="+next, 200).has(t, "Person 54", "First page")
}

func mustID(t *testing.T, s string) store.ID {
	t.Helper()
	id, err := store.ParseID(s)
	if err != nil {
		t.Fatalf("id %q: %v", s, err)
	}
	return id
}

func TestUIInteractionFormAndTimeline(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	ctx := context.Background()
	e.s.AddVocab(ctx, store.VocabLocation, "Main office")
	e.s.AddVocab(ctx, store.VocabAction, "Shabbat meal")
	david := e.contact(store.Contact{Name: "David Levi", Emails: []string{"david@example.org"}})
	old := e.interaction(store.Interaction{ContactIDs: []store.ID{david.ID}, Type: "Call", Title: "An older call",
		OccurredAt: time.Now().Add(-48 * time.Hour), OwnerIDs: []store.ID{e.staff.ID}})
	b := e.signedIn(e.admin)
	profile := fmt.Sprintf("/contacts/%d", david.ID)

	// The form: labels of the contract, the actions the team added, now.
	f := b.get(fmt.Sprintf("/interactions/new?contact=%d&return=%s", david.ID, url.QueryEscape(profile)), 200)
	f.has(t, `<label for="type">Type</label>`, `<label for="details">Comment</label>`, `<label for="occurred_at">Date and time</label>`,
		`<label for="address">Full address</label>`, `>Save</button>`, `value="Tefillin"> Tefillin</label>`, `value="Shabbat meal"> Shabbat meal</label>`,
		`<option value="Main office">`, `type="datetime-local"`, time.Now().UTC().Format("2006-01-02T"))
	f.has(t, fmt.Sprintf(`name="owner_ids" value="%d" checked`, e.admin.ID), fmt.Sprintf(`name="contact_ids" value="%d" checked`, david.ID))

	base := url.Values{"contact_ids": {david.ID.String()}, "type": {"Visit"}, "actions": {"Tefillin", "Neshek"}, "new_actions": {"Mezuzah check"},
		"details": {"Visited the new home <b>today</b>"}, "address": {"12 Herzl St, Haifa"}, "owner_ids": {e.admin.ID.String(), e.staff.ID.String()},
		"location": {"Main office"}, "duration_minutes": {"45"}, "return": {profile}}
	// Every mistake next to its field, all at once, the form still filled in.
	bad := cloneValues(base)
	bad.Set("occurred_at", "yesterday-ish")
	bad.Set("duration_minutes", "an hour")
	bad.Del("contact_ids")
	r := b.post("/interactions", bad, 400)
	r.has(t, "Use a date and time like", "whole number of minutes", "Choose at least one contact.", `value="yesterday-ish"`,
		`>Visited the new home &lt;b&gt;today&lt;/b&gt;</textarea>`, `>12 Herzl St, Haifa</textarea>`, `value="Tefillin" checked`, `value="Mezuzah check"`)
	// A custom type is typed in; a new action added in place.
	good := cloneValues(base)
	good.Set("occurred_at", time.Now().UTC().Format(dtLocalLayout))
	r = b.post("/interactions", good, 303)
	if r.loc != profile {
		t.Fatalf("after save: %q, want %q", r.loc, profile)
	}
	p := b.get(profile, 200)
	p.has(t, "Interaction saved.", `<span class="tag tag-type">Visit</span>`, `<span class="tag tag-action">Mezuzah check</span>`,
		"12 Herzl St, Haifa", "45 min", "At Main office")
	// Newest first: the new visit is above the older call.
	if iv, ic := strings.Index(p.body, "Visited the new home"), strings.Index(p.body, "An older call"); iv < 0 || ic < 0 || iv > ic {
		t.Errorf("timeline order: visit at %d, call at %d", iv, ic)
	}
	if acts, _ := e.s.Vocab(store.VocabAction); !containsFold(acts, "Mezuzah check") {
		t.Errorf("new action not on the list: %v", acts)
	}
	items, _, _ := e.s.Timeline(david.ID, 10, "")
	ia := items[0]
	if ia.Type != "Visit" || ia.Address != "12 Herzl St, Haifa" || ia.DurationMinutes != 45 || len(ia.OwnerIDs) != 2 ||
		ia.Source != store.SourceManual || ia.CreatedBy != e.admin.ID || len(ia.Actions) != 3 {
		t.Errorf("stored: %+v", ia)
	}
	// Edit reopens it pre-filled and saves; backdating is fine.
	edit := b.get(fmt.Sprintf("/interactions/%d/edit?return=%s", ia.ID, url.QueryEscape(profile)), 200)
	edit.has(t, `<option value="Visit" selected>`, `value="Neshek" checked`, `>12 Herzl St, Haifa</textarea>`, `value="45"`,
		`value="`+ia.OccurredAt.UTC().Format(dtLocalLayout)+`"`)
	upd := cloneValues(good)
	upd.Set("type", "Call")
	upd.Set("custom_type", "Home group")
	upd.Set("occurred_at", "2020-02-03T10:15")
	upd.Set("details", "Changed")
	b.post(fmt.Sprintf("/interactions/%d", ia.ID), upd, 303)
	got, _ := e.s.GetInteraction(ia.ID)
	if got.Type != "Home group" || got.Details != "Changed" || !got.OccurredAt.Equal(time.Date(2020, 2, 3, 10, 15, 0, 0, time.UTC)) {
		t.Errorf("after edit: %+v", got)
	}
	// Delete asks for confirmation, then deletes.
	c := b.get(fmt.Sprintf("/interactions/%d/delete?return=%s", ia.ID, url.QueryEscape(profile)), 200)
	c.has(t, "Delete this interaction?", ">Delete</button>", "Changed")
	if _, err := e.s.GetInteraction(ia.ID); err != nil {
		t.Fatal("the confirmation page deleted it")
	}
	r = b.post(fmt.Sprintf("/interactions/%d/delete", ia.ID), url.Values{"return": {profile}}, 303)
	if r.loc != profile {
		t.Errorf("after delete: %q", r.loc)
	}
	if _, err := e.s.GetInteraction(ia.ID); err == nil {
		t.Error("still there after delete")
	}
	// A contact deleted while the form was open: the error is on the field.
	gone := e.contact(store.Contact{Name: "Gone Soon"})
	b.get("/interactions/new?contact="+gone.ID.String(), 200)
	e.s.DeleteContact(ctx, gone.ID)
	r = b.post("/interactions", url.Values{"contact_ids": {gone.ID.String()}, "type": {"Call"}, "details": {"kept text"}}, 400)
	r.has(t, "does not exist", ">kept text</textarea>")
	// The profile's search finds by subject; an empty search result says so.
	b.get(profile+"?q=older", 200).has(t, "An older call")
	b.get(profile+"?q=nothing-like-this", 200).has(t, "Nothing matches")
	_ = old
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func TestUIStaffEditsOnlyTheirOwn(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	david := e.contact(store.Contact{Name: "David Levi"})
	mine := e.interaction(store.Interaction{ContactIDs: []store.ID{david.ID}, Type: "Call", Title: "mine", CreatedBy: e.staff.ID, OwnerIDs: []store.ID{e.staff.ID}})
	theirs := e.interaction(store.Interaction{ContactIDs: []store.ID{david.ID}, Type: "Call", Title: "theirs", CreatedBy: e.admin.ID, OwnerIDs: []store.ID{e.admin.ID}})
	b := e.signedIn(e.staff)
	p := b.get(fmt.Sprintf("/contacts/%d", david.ID), 200)
	p.has(t, fmt.Sprintf("/interactions/%d/edit", mine.ID))
	p.hasNot(t, fmt.Sprintf("/interactions/%d/edit", theirs.ID), "Remove contact")
	b.get(fmt.Sprintf("/interactions/%d/edit", theirs.ID), http.StatusForbidden)
	b.get(fmt.Sprintf("/interactions/%d/delete", theirs.ID), http.StatusForbidden)
	b.get(fmt.Sprintf("/interactions/%d/edit", mine.ID), 200)
	b.post(fmt.Sprintf("/interactions/%d/delete", theirs.ID), nil, http.StatusForbidden)
	b.post(fmt.Sprintf("/interactions/%d", theirs.ID), url.Values{"contact_ids": {david.ID.String()}, "type": {"Visit"}, "occurred_at": {"2026-01-01T10:00"}}, http.StatusForbidden)
	if got, _ := e.s.GetInteraction(theirs.ID); got.Type != "Call" {
		t.Error("staff changed another's interaction")
	}
	b.post(fmt.Sprintf("/interactions/%d/delete", mine.ID), nil, 303)
	b.get("/interactions/999999/edit", 404)
}

func TestUIGlobalViewFiltersAndExport(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	david := e.contact(store.Contact{Name: "David Levi", Emails: []string{"david@example.org"}})
	rachel := e.contact(store.Contact{Name: "Rachel Green", Emails: []string{"rachel@example.org"}})
	// Recent days, so that the chart of the last weeks shows them.
	base := time.Now().UTC().AddDate(0, 0, -20).Truncate(24 * time.Hour).Add(10 * time.Hour)
	day := func(d int) time.Time { return base.AddDate(0, 0, d) }
	e.interaction(store.Interaction{ContactIDs: []store.ID{david.ID}, Type: "Call", Actions: []string{"Tefillin"}, Title: "weekly class call", OccurredAt: day(3), OwnerIDs: []store.ID{e.staff.ID}})
	e.interaction(store.Interaction{ContactIDs: []store.ID{david.ID, rachel.ID}, Type: "Visit", Title: "home visit", OccurredAt: day(5), OwnerIDs: []store.ID{e.admin.ID}})
	e.interaction(store.Interaction{ContactIDs: []store.ID{rachel.ID}, Type: "Call", Title: "=HYPERLINK(evil)", OccurredAt: day(7), OwnerIDs: []store.ID{e.staff.ID}})
	b := e.signedIn(e.admin)

	all := b.get("/interactions", 200)
	all.has(t, "weekly class call", "home visit", `>Export</a>`, `href="/interactions/export.csv"`, `<svg viewBox`, "Interactions per week, by type",
		`>Edit</a>`, `>Delete</button>`, fmt.Sprintf(`href="/contacts/%d">Rachel Green</a>`, rachel.ID))
	// Fields and the expression go through one parser; all in the URL.
	q := url.Values{"type": {"Call"}, "owner": {e.staff.ID.String()}, "from": {day(1).Format(time.DateOnly)}, "to": {day(6).Format(time.DateOnly)}, "q": {`"class"`}}
	r := b.get("/interactions?"+q.Encode(), 200)
	r.has(t, "weekly class call", "/interactions/export.csv?"+strings.ReplaceAll(q.Encode(), "&", "&amp;"))
	r.hasNot(t, "home visit", "HYPERLINK")
	b.get("/interactions?q="+url.QueryEscape("type:Visit contact:rachel"), 200).has(t, "home visit")
	b.get("/interactions?text=hyperlink", 200).has(t, "=HYPERLINK(evil)")
	b.get("/interactions?contact=david%40example.org&type=Visit", 200).has(t, "home visit")
	// Mistakes are shown next to their fields, the values kept.
	bad := b.get("/interactions?"+url.Values{"q": {"tpye:Call"}, "contact": {"nobody-at-all"}, "from": {"May 1st"}, "type": {"Call"}}.Encode(), 400)
	bad.has(t, `Unknown filter "tpye:"`, "Matches no contact", "Not a date", `value="tpye:Call"`, `value="nobody-at-all"`, `<option selected>Call</option>`)
	b.get("/interactions/export.csv?q=tpye:Call", 400).has(t, "Unknown filter")

	// Export downloads exactly the filtered set, as the API's exporter does.
	resp, err := b.c.Get(e.srv.URL + "/interactions/export.csv?" + url.Values{"contact": {"rachel"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("export headers: %v", resp.Header)
	}
	// One row per interaction and contact: the visit is on David and Rachel.
	if len(rows) != 4 || strings.Join(rows[0][:7], ",") != "date,contact_name,contact_email,contact_phone,type,actions,description" {
		t.Fatalf("export = %q", rows)
	}
	if rows[1][6] != "'=HYPERLINK(evil)" || rows[1][1] != "Rachel Green" || rows[2][6] != "home visit" || rows[3][6] != "home visit" {
		t.Errorf("export rows = %q", rows[1:])
	}
	// Paging keeps the filter.
	for i := range 55 {
		e.interaction(store.Interaction{ContactIDs: []store.ID{david.ID}, Type: "Meeting", Title: fmt.Sprintf("meeting %02d", i), OccurredAt: day(10).Add(time.Duration(i) * time.Minute)})
	}
	p1 := b.get("/interactions?type=Meeting", 200)
	next := firstMatch(t, p1.body, `href="(/interactions\?cursor=[^"]+)"`)
	p2 := b.get(strings.ReplaceAll(next, "&amp;", "&"), 200)
	p2.has(t, "meeting 00", "meeting 04")
	p2.hasNot(t, "weekly class call", "meeting 54")
	if !strings.Contains(next, "type=Meeting") {
		t.Errorf("next page link %q lost the filter", next)
	}
}

func TestUIMultiContactInteraction(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	david := e.contact(store.Contact{Name: "David Levi", Emails: []string{"david@example.org"}})
	rachel := e.contact(store.Contact{Name: "Rachel Green"})
	b := e.signedIn(e.staff)
	b.get("/interactions/new?return=/interactions", 200).has(t, "No contact chosen yet.", `name="contact_q"`)
	// Search adds candidates without losing what was typed.
	r := b.post("/interactions", url.Values{"op": {"search"}, "contact_q": {"rach"}, "details": {"typed so far"}, "return": {"/interactions"}}, 200)
	r.has(t, fmt.Sprintf(`name="contact_ids" value="%d"> Rachel Green`, rachel.ID), ">typed so far</textarea>")
	r = b.post("/interactions", url.Values{"op": {"search"}, "contact_q": {"david@"}, "contact_ids": {rachel.ID.String()}, "return": {"/interactions"}}, 200)
	r.has(t, fmt.Sprintf(`value="%d" checked> Rachel Green`, rachel.ID), fmt.Sprintf(`value="%d"> David Levi`, david.ID))
	// Saved once, on both.
	r = b.post("/interactions", url.Values{"contact_ids": {rachel.ID.String(), david.ID.String()}, "type": {"Meeting"}, "title": {"Board meeting"},
		"occurred_at": {"2026-05-04T18:00"}, "return": {"/interactions"}}, 303)
	if r.loc != "/interactions" {
		t.Errorf("after save: %q", r.loc)
	}
	b.get("/interactions", 200).has(t, "Interaction saved on 2 contacts.", "Board meeting")
	for _, id := range []store.ID{david.ID, rachel.ID} {
		if items, _, _ := e.s.Timeline(id, 10, ""); len(items) != 1 || items[0].Title != "Board meeting" || items[0].OwnerIDs != nil {
			t.Errorf("timeline of %d: %+v", id, items)
		}
	}
	// No type: said next to the field.
	b.post("/interactions", url.Values{"contact_ids": {david.ID.String()}}, 400).has(t, "Choose a type, or type a new one.")
}

func TestFormIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		vals    []string
		want    []store.ID
		tooMany bool
	}{
		{"none", nil, nil, false},
		{"repeats and junk dropped, order kept", []string{"3", " 1 ", "x", "3", "0", "1", "2"}, []store.ID{3, 1, 2}, false},
		{"at the limit", []string{"1", "2", "3", "1"}, []store.ID{1, 2, 3}, false},
		{"over the limit", []string{"1", "2", "3", "4", "5"}, []store.ID{1, 2, 3}, true},
	}
	for _, tt := range tests {
		got, msg := formIDs(tt.vals, 3, "contacts")
		if !slices.Equal(got, tt.want) || (msg != "") != tt.tooMany {
			t.Errorf("%s: formIDs(%q, 3) = %v, %q; want %v, too many %v", tt.name, tt.vals, got, msg, tt.want, tt.tooMany)
		}
	}
	if _, msg := formIDs([]string{"1", "2"}, 1, "owners"); msg != "Choose at most 1 owners." {
		t.Errorf("formIDs over the limit says %q", msg)
	}
}

// manyIDs returns first followed by n other distinct ids (of no contact).
func manyIDs(first store.ID, n int) []string {
	out := []string{first.String()}
	for i := range n {
		out = append(out, strconv.Itoa(1_000_000+i))
	}
	return out
}

func TestUITooManyIDs(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	david := e.contact(store.Contact{Name: "David Levi", Emails: []string{"david@example.org"}})
	b := e.signedIn(e.staff)
	b.get("/interactions/new", 200)
	// One contact more than an interaction may have: refused next to the
	// field, the rest of the form as typed.
	form := url.Values{"contact_ids": manyIDs(david.ID, store.MaxContactsPer), "type": {"Meeting"}, "title": {"Board meeting"},
		"occurred_at": {"2026-05-04T18:00"}}
	r := b.post("/interactions", form, 400)
	r.has(t, fmt.Sprintf("Choose at most %d contacts.", store.MaxContactsPer), `value="Board meeting"`,
		fmt.Sprintf(`value="%d" checked> David Levi`, david.ID))
	if items, _, _ := e.s.Timeline(david.ID, 10, ""); len(items) != 0 {
		t.Errorf("refused form saved %d interactions", len(items))
	}
	owners := url.Values{"contact_ids": {david.ID.String()}, "type": {"Meeting"}, "owner_ids": manyIDs(e.staff.ID, store.MaxListLen)}
	b.post("/interactions", owners, 400).has(t, fmt.Sprintf("Choose at most %d owners.", store.MaxListLen))
	// The same limit on the unmatched queue's contact picker, and one on
	// the messages a bulk action takes.
	u := e.unmatched("u", "stranger@example.org", "Question", "Hello", "no_contact")
	a := e.signedIn(e.admin)
	a.get(fmt.Sprintf("/unmatched/%d", u), 200)
	r = a.post(fmt.Sprintf("/unmatched/%d/assign", u), url.Values{"contact_ids": manyIDs(david.ID, store.MaxContactsPer)}, 400)
	r.has(t, fmt.Sprintf("Choose at most %d contacts.", store.MaxContactsPer), fmt.Sprintf(`value="%d" checked> David Levi`, david.ID))
	a.get("/unmatched", 200)
	r = a.post("/unmatched/bulk", url.Values{"op": {"discard"}, "ids": manyIDs(u, store.MaxLimit)}, 400)
	r.has(t, fmt.Sprintf("Choose at most %d messages.", store.MaxLimit))
	if got, _ := e.s.GetUnmatched(u); got.Status != store.StatusPending {
		t.Errorf("unmatched message %s after refused actions, want pending", got.Status)
	}
}

func TestUIUnmatchedQueue(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	david := e.contact(store.Contact{Name: "David Levi", Emails: []string{"david@example.org"}})
	a := e.unmatched("a", "stranger@example.org", "Question about the class", "Hello, is there a class?", "no_contact")
	a2 := e.unmatched("a2", "stranger@example.org", "Second question", "And another", "no_contact")
	noise := e.unmatched("n", "mailer-daemon@example.org", "Undeliverable", "bounce", "bounce")
	c1 := e.unmatched("c1", "one@example.org", "Bulk one", "x", "no_staff")
	c2 := e.unmatched("c2", "two@example.org", "Bulk two", "y", "no_staff")
	d := e.unmatched("d", "three@example.org", "To discard", "z", "no_contact")
	b := e.signedIn(e.admin)

	list := b.get("/unmatched", 200)
	list.has(t, "Question about the class", "Bulk one", "no_contact", "Needs attention")
	list.hasNot(t, "Undeliverable")
	b.get("/unmatched?tab=noise", 200).has(t, "Undeliverable", "bounce")

	// The message view, and assign with "remember": the other pending
	// message from the address is logged too.
	show := b.get(fmt.Sprintf("/unmatched/%d", a), 200)
	show.has(t, "Hello, is there a class?", "stranger@example.org", `<pre class="msg-text">`, ">Assign</button>", ">Discard</button>", "Create contact and assign")
	show.has(t, `name="name" type="text" value="Stranger"`) // the raw From header's display name
	b.post(fmt.Sprintf("/unmatched/%d/assign", a), url.Values{}, 400).has(t, "Choose at least one contact.")
	b.post(fmt.Sprintf("/unmatched/%d/assign", a), url.Values{"op": {"search"}, "contact_q": {"david"}}, 200).has(t, "David Levi")
	b.post(fmt.Sprintf("/unmatched/%d/assign", a), url.Values{"contact_ids": {david.ID.String()}, "remember": {"on"}}, 303)
	b.get("/unmatched", 200).has(t, "1 other pending message(s)")
	if c, _ := e.s.GetContact(david.ID); len(c.Emails) != 2 {
		t.Errorf("address not remembered: %v", c.Emails)
	}
	for _, id := range []store.ID{a, a2} {
		if u, _ := e.s.GetUnmatched(id); u.Status != store.StatusResolved {
			t.Errorf("%d: %s", id, u.Status)
		}
	}
	b.post(fmt.Sprintf("/unmatched/%d/assign", a), url.Values{"contact_ids": {david.ID.String()}}, http.StatusConflict).has(t, "already resolved")
	// Bulk: assign needs a contact that resolves to one; errors next to the field.
	b.get("/unmatched", 200)
	r := b.post("/unmatched/bulk", url.Values{"op": {"assign"}, "ids": {c1.String(), c2.String()}, "contact": {"nobody"}}, 400)
	r.has(t, "matches no contact", `value="nobody"`, fmt.Sprintf(`value="%d" aria-label="Select message %d" checked`, c1, c1))
	b.post("/unmatched/bulk", url.Values{"op": {"discard"}}, 400).has(t, "Select at least one message first.")
	b.post("/unmatched/bulk", url.Values{"op": {"assign"}, "ids": {c1.String(), c2.String()}, "contact": {"david levi"}}, 303)
	b.get("/unmatched", 200).has(t, "Assigned 2 message(s).")
	if items, _, _ := e.s.Timeline(david.ID, 10, ""); len(items) != 4 {
		t.Errorf("david has %d interactions, want 4", len(items))
	}
	// Create a contact from the address.
	r = b.post(fmt.Sprintf("/unmatched/%d/create-contact", d), url.Values{"name": {""}, "kind": {"person"}, "address": {"three@example.org"}, "remember": {"on"}}, 400)
	r.has(t, "Is required")
	r = b.post(fmt.Sprintf("/unmatched/%d/create-contact", d), url.Values{"name": {"Three Person"}, "kind": {"person"}, "address": {"three@example.org"}, "remember": {"on"}}, 303)
	p := b.get(r.loc, 200)
	p.has(t, "Three Person", "three@example.org", "To discard")
	// Discard.
	b.get(fmt.Sprintf("/unmatched/%d", noise), 200)
	b.post(fmt.Sprintf("/unmatched/%d/discard", noise), nil, 303)
	b.get("/unmatched?tab=discarded", 200).has(t, "Undeliverable")
	b.post(fmt.Sprintf("/unmatched/%d/discard", noise), nil, http.StatusConflict).has(t, "already discarded")
}

func TestUIAdmin(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn(e.admin)
	ctx := context.Background()

	// Users: add (errors next to fields), change role, reset password, deactivate.
	b.get("/admin/users", 200).has(t, "Sarah Staff", "Add a user")
	r := b.post("/admin/users", url.Values{"name": {"Ben"}, "emails": {"ben@org.org"}, "role": {"staff"}, "password": {"short"}}, 400)
	r.has(t, "at least 8 characters", `value="Ben"`)
	r.hasNot(t, `value="short"`)
	b.post("/admin/users", url.Values{"name": {"Ben Cohen"}, "emails": {"ben@org.org"}, "role": {"staff"}, "password": {"ben-password"}}, 303)
	ben, err := e.s.UserByEmail("ben@org.org")
	if err != nil {
		t.Fatal(err)
	}
	benB := e.browser()
	benB.get("/login", 200)
	benB.post("/login", url.Values{"email": {"ben@org.org"}, "password": {"ben-password"}}, 303)
	benB.get("/contacts", 200)
	path := fmt.Sprintf("/admin/users/%d", ben.ID)
	b.get(path, 200).has(t, `value="Ben Cohen"`, "Reset password", "Deactivated")
	b.post(path, url.Values{"name": {"Ben Cohen"}, "emails": {"ben@org.org"}, "role": {"admin"}, "initials": {"BC"}, "color": {"#112233"}, "password": {"new-password-1"}}, 303)
	if u, _ := e.s.GetUser(ben.ID); u.Role != store.RoleAdmin || u.Color != "#112233" {
		t.Errorf("after change: %+v", u)
	}
	benB.get("/contacts", 303) // signed out by the reset
	if _, err := e.s.Authenticate("ben@org.org", "new-password-1"); err != nil {
		t.Errorf("new password: %v", err)
	}
	// A reset through the API signs the user out just the same.
	benB.post("/login", url.Values{"email": {"ben@org.org"}, "password": {"new-password-1"}}, 303)
	benB.get("/contacts", 200)
	apiTok, _, err := e.s.CreateToken(ctx, "admin", store.RoleAdmin, e.admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PATCH", e.srv.URL+fmt.Sprintf("/api/v1/users/%d", ben.ID), strings.NewReader(`{"password":"api-password-2"}`))
	req.Header.Set("Authorization", "Bearer "+apiTok)
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("API reset: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	benB.get("/contacts", 303)
	b.post(path, url.Values{"name": {"Ben Cohen"}, "emails": {"ben@org.org"}, "role": {"staff"}, "disabled": {"on"}}, 303)
	if u, _ := e.s.GetUser(ben.ID); !u.Disabled {
		t.Error("not deactivated")
	}
	// The last admin cannot demote themselves.
	b.post(fmt.Sprintf("/admin/users/%d", e.admin.ID), url.Values{"name": {"Ada Admin"}, "emails": {"ada@org.org"}, "role": {"staff"}}, 400).
		has(t, "last active admin")

	// Lists.
	b.get("/admin/lists", 200).has(t, "Tefillin", "Visit", "Locations")
	b.post("/admin/lists/locations", url.Values{"name": {"Main office"}}, 303)
	b.post("/admin/lists/actions", url.Values{"name": {""}}, 400).has(t, "Is required")
	b.post("/admin/lists/actions/remove", url.Values{"name": {"Neshek"}}, 303)
	locs, _ := e.s.Vocab(store.VocabLocation)
	acts, _ := e.s.Vocab(store.VocabAction)
	if len(locs) != 1 || containsFold(acts, "Neshek") {
		t.Errorf("lists: %v %v", locs, acts)
	}

	// Tokens: shown once, then revoked.
	r = b.post("/admin/tokens", url.Values{"name": {"campaigns"}, "role": {"staff"}, "user_id": {e.staff.ID.String()}}, http.StatusCreated)
	secret := firstMatch(t, r.body, `<p class="secret">(tp_[a-z0-9]+)</p>`)
	tok, err := e.s.TokenByPlaintext(secret)
	if err != nil || tok.UserID != e.staff.ID {
		t.Fatalf("token %+v, %v", tok, err)
	}
	b.get("/admin/tokens", 200).hasNot(t, secret)
	b.post(fmt.Sprintf("/admin/tokens/%d/revoke", tok.ID), nil, 303)
	if _, err := e.s.TokenByPlaintext(secret); err == nil {
		t.Error("revoked token still works")
	}
	b.post("/admin/tokens", url.Values{"name": {""}}, 400).has(t, "Is required")
	b.get("/admin/mailboxes", 200).has(t, "[[imap.mailbox]]")
	_ = ctx
}

func TestUIChartEscapesAndCounts(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 14, 12, 0, 0, 0, time.UTC) // a Thursday
	start := weekStart(now, time.UTC)
	if start.Weekday() != time.Monday || start.Day() != 11 {
		t.Fatalf("weekStart = %v", start)
	}
	counts := make([]map[string]int, 3)
	for i := range counts {
		counts[i] = map[string]int{}
	}
	counts[0]["Call"], counts[2]["Call"], counts[2]["<b>x</b>"] = 2, 1, 3
	cv := drawChart("c", start, 3, counts, map[string]int{"Call": 3, "<b>x</b>": 3}, 6, false)
	if len(cv.Bars) != 3 || len(cv.Legend) != 2 || cv.Legend[0].Name != "<b>x</b>" {
		t.Fatalf("chart = %+v", cv)
	}
	if cv.Grid[len(cv.Grid)-1].Label != "5" {
		t.Errorf("y axis top = %q, want 5", cv.Grid[len(cv.Grid)-1].Label)
	}
	for n, want := range map[int]int{0: 1, 1: 1, 3: 5, 7: 10, 10: 10, 11: 20, 99: 100, 101: 200} {
		if got := niceCeil(n); got != want {
			t.Errorf("niceCeil(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestUIAPIWithSession(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn(e.staff)
	// Reads work with the session cookie.
	r := b.get("/api/v1/contacts", 200)
	if !strings.Contains(r.body, `"items"`) {
		t.Errorf("GET /api/v1/contacts = %s", r.body)
	}
	// A form-encoded post (what another site could send) is refused...
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/contacts", strings.NewReader("name=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	b.do(req, http.StatusForbidden)
	req, _ = http.NewRequest("POST", e.srv.URL+"/api/v1/contacts", strings.NewReader(`{"name":"x"}`))
	req.Header.Set("Content-Type", "text/plain")
	b.do(req, http.StatusForbidden)
	// ...JSON (which needs a CORS preflight cross-site) is accepted.
	req, _ = http.NewRequest("POST", e.srv.URL+"/api/v1/contacts", strings.NewReader(`{"name":"Via Session"}`))
	req.Header.Set("Content-Type", "application/json")
	b.do(req, http.StatusCreated)
	// Roles still apply.
	b.get("/api/v1/unmatched", http.StatusForbidden)
	// Without a session: 401.
	e.browser().get("/api/v1/contacts", http.StatusUnauthorized)
}

func TestUIAttachmentDownload(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	david := e.contact(store.Contact{Name: "David Levi"})
	raw := "From: david@example.org\r\nTo: log@org.org\r\nSubject: files\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=BB\r\n\r\n" +
		"--BB\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
		"--BB\r\nContent-Type: text/plain; name=\"notes.txt\"\r\nContent-Disposition: attachment; filename=\"notes.txt\"\r\n\r\nplain notes\r\n" +
		"--BB\r\nContent-Type: application/pdf; name=\"r\u00e9sum\u00e9.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\nJSVFT0YK\r\n" +
		"--BB--\r\n"
	res, err := e.s.Ingest(context.Background(), &store.Incoming{DedupeKey: "files", Raw: []byte(raw),
		Interaction: &store.Interaction{ContactIDs: []store.ID{david.ID}, Type: "Email", Title: "files", Source: store.SourceSMTP,
			Email: &store.Email{From: "david@example.org", Subject: "files", Direction: store.Inbound, Attachments: []store.Attachment{
				{Name: "notes.txt", ContentType: "text/plain", Size: 11},
				{Name: "résumé.pdf", ContentType: "application/pdf", Size: 15},
			}}}})
	if err != nil {
		t.Fatal(err)
	}
	b := e.signedIn(e.staff)
	p := b.get(fmt.Sprintf("/contacts/%d", david.ID), 200)
	p.has(t, "notes.txt", "résumé.pdf", "Received (inbound)", fmt.Sprintf("/interactions/%d/raw", res.InteractionID))
	r := b.get(fmt.Sprintf("/interactions/%d/attachments/1", res.InteractionID), 200)
	if r.body != "%PDF-1.4\n%%EOF\n" || r.hdr.Get("Content-Type") != "application/octet-stream" ||
		!strings.Contains(r.hdr.Get("Content-Disposition"), "attachment") || r.hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("attachment = %q %v", r.body, r.hdr)
	}
	if r := b.get(fmt.Sprintf("/interactions/%d/attachments/0", res.InteractionID), 200); r.body != "plain notes" {
		t.Errorf("first attachment = %q", r.body)
	}
	b.get(fmt.Sprintf("/interactions/%d/attachments/2", res.InteractionID), 404)
	if r := b.get(fmt.Sprintf("/interactions/%d/raw", res.InteractionID), 200); !strings.Contains(r.body, "See attached.") {
		t.Errorf("raw = %q", r.body)
	}
}

type uiMailboxes []MailboxStatus

func (f uiMailboxes) MailboxStatus() []MailboxStatus { return f }

func TestUIMailboxStatus(t *testing.T) {
	t.Parallel()
	last := time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)
	e := newUIEnvWith(t, func(o *Options) {
		o.Mailboxes = uiMailboxes{
			{Name: "office", Host: "imap.example.org", Port: 993, TLS: "implicit", Folder: "INBOX", After: "seen", State: "idle", Idle: true,
				LastPollAt: &last, LastSuccessAt: &last, Ingested: 12, Logged: 10, Unmatched: 2},
			{Name: "<b>broken</b>", Host: "imap.bad.example", Port: 143, TLS: "starttls", Folder: "INBOX", State: "retrying",
				LastError: "login refused: <wrong password>", LastErrorAt: &last, ConsecutiveErrors: 3},
		}
		o.TimeZone = time.FixedZone("IDT", 3*3600)
	})
	b := e.signedIn(e.admin)
	r := b.get("/admin/mailboxes", 200)
	r.has(t, "office", "imap.example.org:993", "12 messages", "10 logged", "1 May 2026, 12:30", "login refused: <wrong password>", "3 times in a row")
	r.hasNot(t, "<b>broken</b>", "<wrong password>")
	e.signedIn(e.staff).get("/admin/mailboxes", http.StatusForbidden)
}
