package web

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"touchpoint/store"
)

// fingerprint sums up what a refused request must not have changed.
func fingerprint(t *testing.T, s *store.Store) string {
	t.Helper()
	var b strings.Builder
	nc, _ := s.CountContacts()
	ni, _ := s.CountInteractions()
	fmt.Fprintf(&b, "contacts %d interactions %d\n", nc, ni)
	users, _ := s.Users()
	for _, u := range users {
		fmt.Fprintf(&b, "user %d %s %v %s %v\n", u.ID, u.Name, u.Emails, u.Role, u.Disabled)
	}
	tokens, _ := s.Tokens()
	for _, tk := range tokens {
		fmt.Fprintf(&b, "token %d %s %v\n", tk.ID, tk.Name, tk.Revoked)
	}
	um, _, _ := s.ListUnmatched(store.UnmatchedFilter{Statuses: store.UnmatchedStatuses}, store.MaxLimit, "")
	for _, u := range um {
		fmt.Fprintf(&b, "unmatched %d %s\n", u.ID, u.Status)
	}
	for _, k := range []string{store.VocabType, store.VocabAction, store.VocabLocation} {
		v, _ := s.Vocab(k)
		fmt.Fprintf(&b, "%s %v\n", k, v)
	}
	log, _, _ := s.Audit(store.MaxLimit, "")
	fmt.Fprintf(&b, "audit %d\n", len(log))
	return b.String()
}

// TestCSRFEveryUnsafePage posts to every state-changing page route (from
// gin's Routes()) as a signed-in admin: without a token, or with a forged
// one, the answer is 403 and nothing changes; with the page's token the
// request does what the authorisation matrix says.
func TestCSRFEveryUnsafePage(t *testing.T) {
	t.Parallel()
	f := newAuthzFixture(t)
	cases := authzCases()
	n := 0
	for _, r := range registered(New(Options{Store: f.e.s})) {
		method, path, _ := strings.Cut(r, " ")
		if method == http.MethodGet || strings.HasPrefix(path, "/api/") {
			continue
		}
		tc, ok := cases[r]
		if !ok {
			t.Errorf("%s: no case (TestAuthorisationMatrix names it too)", r)
			continue
		}
		n++
		forged := "AAAA" + f.csrfToken[4:]
		for _, token := range []string{"", forged} {
			p, body := tc.request(f)
			before := fingerprint(t, f.e.s)
			if got, resp := f.do(adminSession, method, p, body, token); got != http.StatusForbidden || !strings.Contains(resp, "This form expired") {
				t.Errorf("%s %s with token %q = %s, want 403 (form expired)", method, p, token, statusName(got))
			}
			if after := fingerprint(t, f.e.s); after != before {
				t.Errorf("%s %s refused, but the store changed:\n%s\nto\n%s", method, p, before, after)
			}
		}
		p, body := tc.request(f)
		if got, resp := f.do(adminSession, method, p, body, f.csrfToken); got != tc.want[adminSession] {
			t.Errorf("%s %s with the token = %s, want %s\n%s", method, p, statusName(got), statusName(tc.want[adminSession]), clip(resp))
		}
	}
	if n < 15 {
		t.Errorf("only %d unsafe page routes found; the route list is not what this test expects", n)
	}
}

// TestAPISessionRefusesForms: with the session cookie, no API route
// accepts a body a cross-site HTML form can send (the API's CSRF defence;
// PATCH and DELETE cannot come from a form at all).
func TestAPISessionRefusesForms(t *testing.T) {
	t.Parallel()
	f := newAuthzFixture(t)
	cases := authzCases()
	for _, r := range registered(New(Options{Store: f.e.s})) {
		method, path, _ := strings.Cut(r, " ")
		if method != http.MethodPost || !strings.HasPrefix(path, "/api/") {
			continue
		}
		tc := cases[r]
		for _, ct := range []string{"application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"} {
			p := tc.path(f)
			req, _ := http.NewRequest(method, f.e.srv.URL+p, strings.NewReader(`{"name":"x"}`))
			req.Header.Set("Content-Type", ct)
			plain, _, err := f.e.s.CreateSession(t.Context(), f.e.admin.ID)
			if err != nil {
				t.Fatal(err)
			}
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: plain})
			before := fingerprint(t, f.e.s)
			resp, err := f.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s with the session and %s = %d, want 403", method, p, ct, resp.StatusCode)
			}
			if after := fingerprint(t, f.e.s); after != before {
				t.Errorf("%s %s refused, but the store changed", method, p)
			}
		}
	}
}

// TestPageFormsBounded: a page form larger than the limit is refused with
// 413 before anything parses it, one that hides its length (chunked) is
// read up to the limit and refused the same way; neither changes the store. The largest text the
// store takes, in the script that costs the most bytes once encoded, still
// saves.
func TestPageFormsBounded(t *testing.T) {
	t.Parallel()
	f := newAuthzFixture(t)
	huge := "name=Big&kind=person&notes=" + strings.Repeat("x", 4<<20) // past every page form's bound
	before := fingerprint(t, f.e.s)
	if got, resp := f.do(adminSession, http.MethodPost, "/contacts", huge, f.csrfToken); got != http.StatusRequestEntityTooLarge || !strings.Contains(resp, "too large") {
		t.Errorf("declared oversize form = %s, want 413\n%s", statusName(got), clip(resp))
	}
	// Chunked: no declared length (a MultiReader hides it from the client).
	chunked := func(form string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, f.e.srv.URL+"/contacts", io.MultiReader(strings.NewReader(form), strings.NewReader("&"+csrfField+"="+url.QueryEscape(f.csrfToken))))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(f.csrfCookie)
		plain, _, err := f.e.s.CreateSession(t.Context(), f.e.admin.ID)
		if err != nil {
			t.Fatal(err)
		}
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: plain})
		resp, err := f.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := chunked(huge); got != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversize form = %d, want 413", got)
	}
	if after := fingerprint(t, f.e.s); after != before {
		t.Errorf("an oversize form changed the store:\n%s\nto\n%s", before, after)
	}

	if got := chunked("name=Chunked+Person&kind=person"); got != http.StatusSeeOther {
		t.Errorf("chunked small form = %d, want 303 (saved)", got)
	} else if cs, _, _ := f.e.s.SearchContacts("Chunked", 5, ""); len(cs) != 1 {
		t.Errorf("the chunked form's contact is not there: %d found", len(cs))
	}

	e := newUIEnv(t)
	c := &store.Contact{Name: "Yossi"}
	if err := e.s.CreateContact(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	details := strings.Repeat("😀", store.MaxDetailsLen) // 4 bytes each, 12 encoded
	e.signedIn(e.staff).post("/interactions", url.Values{"contact_ids": {c.ID.String()}, "type": {"Note"}, "details": {details}}, http.StatusSeeOther)
	if items, _, err := e.s.Timeline(c.ID, 1, ""); err != nil || len(items) != 1 || items[0].Details != details {
		t.Errorf("the longest details did not save: %d items, %v", len(items), err)
	}
}
