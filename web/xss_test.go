package web

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-rod/rod/lib/proto"

	"touchpoint/store"
)

// Markup-carrying values in every field a user or a sender controls must
// come out as text on every page.

var xssPayloads = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`'><svg onload=alert(1)>`,
}

// xssMarkers are what a payload looks like when it was not escaped.
var xssMarkers = []string{"<script>alert", "<img src=x", "<svg onload"}

// evil is s with every payload appended, so one field carries them all.
func evil(s string) string { return s + " " + strings.Join(xssPayloads, " ") }

// evil1 is s with one payload, for labels (types, actions...) that must
// stay short.
func evil1(s string, i int) string { return s + " " + xssPayloads[i%len(xssPayloads)] }

type xssWorld struct {
	e        *uiEnv
	contact  *store.Contact
	org      *store.Contact
	ia, mail store.ID
	unm      store.ID
	campaign store.ID
	erased   store.ID
}

// seedXSS fills a store with payloads in every field that reaches a page:
// names, addresses, custom types and actions, titles, details, locations,
// subjects, senders, attachment names, campaign names, users, tokens,
// mailbox names and errors, and an erased contact's name in the audit log.
func seedXSS(t *testing.T) *xssWorld {
	t.Helper()
	ctx := context.Background()
	w := &xssWorld{}
	w.e = newUIEnvWith(t, func(o *Options) {
		now := time.Now()
		o.Mailboxes = uiMailboxes{{Name: evil("office"), Host: "imap.example.org", Port: 993, TLS: "implicit",
			Folder: evil("INBOX"), After: "seen", State: "retrying", LastPollAt: &now, LastError: evil("login failed"), LastErrorAt: &now}}
	})
	e := w.e
	s := e.s
	if _, err := s.UpdateUser(ctx, e.staff.ID, func(u *store.User) error { u.Name = evil("Sarah"); u.Initials = ""; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CreateToken(ctx, evil1("ci token", 1), store.RoleStaff, 0); err != nil {
		t.Fatal(err)
	}
	for i, k := range []string{store.VocabType, store.VocabAction, store.VocabLocation} {
		if err := s.AddVocab(ctx, k, evil1(k, i)); err != nil {
			t.Fatal(err)
		}
	}
	w.org = e.contact(store.Contact{Kind: store.KindOrganization, Name: evil("Acme"), Domains: []string{"acme.com"}, Address: evil("1 Main St")})
	w.contact = e.contact(store.Contact{Name: evil("David"), Emails: []string{"david@acme.com"}, OrganizationID: w.org.ID, Address: evil("2 Side St")})
	w.ia = e.interaction(store.Interaction{ContactIDs: []store.ID{w.contact.ID}, Type: evil1("Type", 1), Actions: []string{evil1("Action", 0), evil1("Action", 1)},
		Title: evil("Title"), Details: evil("Details"), Location: evil1("Location", 1), Address: evil("address"), Source: store.SourceManual,
		OwnerIDs: []store.ID{e.staff.ID}, CreatedBy: e.admin.ID}).ID
	subject := evil("Subject")
	res, err := s.Ingest(ctx, &store.Incoming{DedupeKey: "xss-mail", Raw: []byte("From: david@acme.com\r\nSubject: x\r\n\r\n" + evil("body") + "\r\n"),
		Interaction: &store.Interaction{ContactIDs: []store.ID{w.contact.ID}, Type: "Email", Title: subject, Details: evil("excerpt"), Source: store.SourceSMTP,
			Email: &store.Email{MessageID: "x@y", From: "david@acme.com", To: []string{"log@org.org"}, Subject: subject, Direction: store.Inbound,
				Attachments: []store.Attachment{{Name: evil("file") + ".pdf", ContentType: "application/pdf", Size: 10}}}}})
	if err != nil {
		t.Fatal(err)
	}
	w.mail = res.InteractionID
	w.unm = e.unmatched("xss-unmatched", "stranger@example.com", evil("Unmatched subject"), evil("<b>html</b> body"), "no_contact")
	camp, err := s.ReportCampaign(ctx, store.CampaignReport{ExternalID: evil("ext"), Name: evil("Campaign"), Subject: evil("Campaign subject"),
		SentAt: time.Now(), Recipients: []string{"david@acme.com", "nobody@example.net"}},
		func(_ *store.Snapshot, a string) (store.ID, bool, error) {
			return w.contact.ID, a == "david@acme.com", nil
		})
	if err != nil {
		t.Fatal(err)
	}
	w.campaign = camp.Campaign.ID
	gone := e.contact(store.Contact{Name: evil("Erased")})
	if _, err := s.EraseContact(ctx, gone.ID, store.Actor{UserID: e.admin.ID, Name: evil("Ada")}); err != nil {
		t.Fatal(err)
	}
	return w
}

// pages lists every page a payload reaches, for the admin (who sees all).
func (w *xssWorld) pages() []string {
	c, ia, mail := w.contact.ID, w.ia, w.mail
	return []string{
		"/contacts", "/contacts?q=" + url.QueryEscape("david"), "/contacts?q=" + url.QueryEscape(xssPayloads[1]),
		fmt.Sprintf("/contacts/%d", c), fmt.Sprintf("/contacts/%d", w.org.ID), fmt.Sprintf("/contacts/%d?q=%s", c, url.QueryEscape(xssPayloads[1])),
		fmt.Sprintf("/contacts/%d/edit", c), fmt.Sprintf("/contacts/%d/delete", c), fmt.Sprintf("/contacts/%d/erase", c),
		"/interactions", "/interactions?q=" + url.QueryEscape(`"`+xssPayloads[0]+`"`), "/interactions?text=" + url.QueryEscape(xssPayloads[1]),
		"/interactions?q=" + url.QueryEscape("tpye:"+xssPayloads[1]), "/interactions?owner=" + url.QueryEscape(xssPayloads[2]),
		fmt.Sprintf("/interactions/new?contact=%d", c), fmt.Sprintf("/interactions/%d/edit", ia), fmt.Sprintf("/interactions/%d/delete", ia),
		fmt.Sprintf("/interactions/%d/edit", mail),
		"/unmatched", "/unmatched?tab=all", fmt.Sprintf("/unmatched/%d", w.unm),
		"/campaigns", fmt.Sprintf("/campaigns/%d", w.campaign),
		"/admin/users", fmt.Sprintf("/admin/users/%d", w.e.staff.ID), "/admin/lists", "/admin/tokens", "/admin/mailboxes", "/admin/audit",
	}
}

func TestXSSEscapedEverywhere(t *testing.T) {
	t.Parallel()
	w := seedXSS(t)
	b := w.e.signedIn(w.e.admin)
	escaped := []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"}
	for _, p := range w.pages() {
		r := b.get(p, 0)
		if r.code != 200 && r.code != 400 {
			t.Errorf("GET %s = %d", p, r.code)
			continue
		}
		for _, m := range xssMarkers {
			if strings.Contains(r.body, m) {
				i := strings.Index(r.body, m)
				t.Errorf("GET %s: unescaped %q: …%s…", p, m, r.body[max(0, i-80):min(len(r.body), i+80)])
			}
		}
		found := false
		for _, esc := range escaped {
			found = found || strings.Contains(r.body, esc)
		}
		if !found {
			t.Errorf("GET %s shows no payload at all (escaped): the page does not test anything\n%s", p, clip(r.body))
		}
	}
	// A sign-in attempt echoes the address typed.
	anon := w.e.browser()
	anon.get("/login", 200)
	r := anon.post("/login", url.Values{"email": {xssPayloads[1]}, "password": {"x"}}, 401)
	r.hasNot(t, xssMarkers...)
	r.has(t, "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;")
	// The staff member's own view of the same records.
	staff := w.e.signedIn(w.e.staff)
	for _, p := range []string{"/contacts", fmt.Sprintf("/contacts/%d", w.contact.ID), "/interactions", fmt.Sprintf("/campaigns/%d", w.campaign)} {
		staff.get(p, 200).hasNot(t, xssMarkers...)
	}
}

// TestXSSInBrowser loads the same pages in headless Chromium: no dialog
// opens, and the DOM has no element a payload would have made (an image
// with an error handler, an inline script, an svg with onload). The CSP
// would stop inline handlers anyway; the DOM check proves the escaping.
func TestXSSInBrowser(t *testing.T) {
	t.Parallel()
	br := startBrowser(t)
	w := seedXSS(t)
	tb := newTab(t, br, w.e.srv.URL)
	var dialogs atomic.Int32
	go tb.p.EachEvent(func(e *proto.PageJavascriptDialogOpening) {
		dialogs.Add(1)
		_ = proto.PageHandleJavaScriptDialog{Accept: true}.Call(tb.p)
	})()
	tb.signIn("ada@org.org")
	for _, p := range w.pages() {
		tb.open(p)
		n := tb.p.MustEval(`() => document.querySelectorAll('[onerror], [onload], img[src="x"], script:not([src])').length`).Int()
		if n != 0 {
			t.Errorf("%s: %d elements made from a payload", p, n)
		}
		text := tb.p.MustElement("body").MustText()
		if !strings.Contains(text, "alert(1)") {
			t.Errorf("%s: the payload is not shown as text", p)
		}
	}
	time.Sleep(200 * time.Millisecond) // a late dialog
	if n := dialogs.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened", n)
	}
}
