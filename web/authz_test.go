package web

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"touchpoint/matcher"
	"touchpoint/store"
)

// The authorisation matrix: every route the server registers (read from
// gin's Routes(), so a route added without an expectation fails the test)
// against every kind of caller, on the real server over loopback.

// Callers.
const (
	anon = iota
	staffSession
	adminSession
	staffToken
	adminToken
	revokedToken
	nCallers
)

var callerNames = [nCallers]string{"anonymous", "staff session", "admin session", "staff token", "admin token", "revoked token"}

// toLogin stands for "303 to the sign-in page, to come back here".
const toLogin = 1303

// authzCase is one route's request and the status each caller gets. path
// and body may make fresh records, so that a request that deletes or
// resolves something finds it whoever went before.
type authzCase struct {
	path func(f *authzFixture) string
	body func(f *authzFixture) string // JSON for /api, a form (without csrf_token) for pages; nil for none
	want [nCallers]int
}

// request makes the case's path and body (and the records they need).
func (tc authzCase) request(f *authzFixture) (path, body string) {
	if tc.body != nil {
		return tc.path(f), tc.body(f)
	}
	return tc.path(f), ""
}

// Expectation builders.
func everyone(code int) [nCallers]int {
	return [nCallers]int{code, code, code, code, code, code}
}

// api: no or revoked credentials are 401; a session and a token of a role
// get the same answer.
func api(staff, admin int) [nCallers]int {
	return [nCallers]int{401, staff, admin, staff, admin, 401}
}

// page: pages read only the session; a GET without one goes to sign-in.
func page(staff, admin int) [nCallers]int {
	return [nCallers]int{toLogin, staff, admin, toLogin, toLogin, toLogin}
}

// form: a form post without a session is refused (it cannot be replayed
// after signing in).
func form(staff, admin int) [nCallers]int {
	return [nCallers]int{401, staff, admin, 401, 401, 401}
}

func fixed(s string) func(*authzFixture) string { return func(*authzFixture) string { return s } }

// authzFixture holds the records the requests point at.
type authzFixture struct {
	t                           *testing.T
	e                           *uiEnv
	staffTok, adminTok, revoked string
	csrfCookie                  *http.Cookie
	csrfToken                   string
	contact                     *store.Contact
	mail                        store.ID // an email interaction of the admin's, with an attachment
	campaign                    store.ID
	unmatched                   store.ID
	n                           int
	hc                          *http.Client
}

func newAuthzFixture(t *testing.T) *authzFixture {
	t.Helper()
	var e *uiEnv
	e = newUIEnvWith(t, func(o *Options) { o.Ingester = storeIngester{o.Store} })
	ctx := context.Background()
	f := &authzFixture{t: t, e: e, hc: &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	var err error
	if f.staffTok, _, err = e.s.CreateToken(ctx, "staff", store.RoleStaff, e.staff.ID); err != nil {
		t.Fatal(err)
	}
	if f.adminTok, _, err = e.s.CreateToken(ctx, "admin", store.RoleAdmin, e.admin.ID); err != nil {
		t.Fatal(err)
	}
	var gone *store.Token
	if f.revoked, gone, err = e.s.CreateToken(ctx, "revoked", store.RoleAdmin, e.admin.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.s.RevokeToken(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	f.contact = e.contact(store.Contact{Name: "David Levi", Emails: []string{"david@example.org"}})
	f.mail = f.attachmentMail()
	res, err := e.s.ReportCampaign(ctx, store.CampaignReport{ExternalID: "c1", Subject: "News", SentAt: time.Now(),
		Recipients: []string{"david@example.org"}}, func(*store.Snapshot, string) (store.ID, bool, error) { return f.contact.ID, true, nil })
	if err != nil {
		t.Fatal(err)
	}
	f.campaign = res.Campaign.ID
	f.unmatched = f.freshUnmatched()
	// The CSRF cookie and its token, as a browser gets them from the
	// sign-in page; every caller sends them, so that what is tested here
	// is who may, not the CSRF check (TestCSRFEveryUnsafePage does that).
	resp, err := f.hc.Get(e.srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == "touchpoint_csrf" {
			f.csrfCookie = ck
		}
	}
	f.csrfToken = html.UnescapeString(firstMatch(t, string(body), `name="csrf_token" value="([^"]+)"`))
	if f.csrfCookie == nil {
		t.Fatal("GET /login set no CSRF cookie")
	}
	return f
}

// storeIngester stores a posted message as unmatched, for POST
// /api/v1/messages (the mail pipeline itself is tested in ingest).
type storeIngester struct{ s *store.Store }

func (g storeIngester) Ingest(ctx context.Context, raw []byte, _ matcher.Delivery) (store.IngestResult, error) {
	return g.s.Ingest(ctx, &store.Incoming{DedupeKey: fmt.Sprintf("raw:%d", g.s.NewID()), Raw: raw, Reason: store.ReasonNoContact,
		Interaction: &store.Interaction{Type: "Email", Source: store.SourceAPI}})
}

func (f *authzFixture) seq() int { f.n++; return f.n }

func (f *authzFixture) attachmentMail() store.ID {
	raw := "From: david@example.org\r\nTo: log@org.org\r\nSubject: files\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=BB\r\n\r\n" +
		"--BB\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n" +
		"--BB\r\nContent-Type: text/plain; name=\"notes.txt\"\r\nContent-Disposition: attachment; filename=\"notes.txt\"\r\n\r\nplain notes\r\n" +
		"--BB--\r\n"
	res, err := f.e.s.Ingest(context.Background(), &store.Incoming{DedupeKey: "files", Raw: []byte(raw),
		Interaction: &store.Interaction{ContactIDs: []store.ID{f.contact.ID}, Type: "Email", Title: "files", Source: store.SourceSMTP,
			OwnerIDs: []store.ID{f.e.admin.ID},
			Email: &store.Email{From: "david@example.org", Subject: "files", Direction: store.Inbound,
				Attachments: []store.Attachment{{Name: "notes.txt", ContentType: "text/plain", Size: 11}}}}})
	if err != nil {
		f.t.Fatal(err)
	}
	return res.InteractionID
}

func (f *authzFixture) freshContact() store.ID {
	return f.e.contact(store.Contact{Name: fmt.Sprintf("Fresh %d", f.seq())}).ID
}

// freshInteraction is the admin's: staff may not change it.
func (f *authzFixture) freshInteraction() store.ID {
	return f.e.interaction(store.Interaction{ContactIDs: []store.ID{f.contact.ID}, Type: "Call", Title: "admin's call",
		OwnerIDs: []store.ID{f.e.admin.ID}, CreatedBy: f.e.admin.ID}).ID
}

func (f *authzFixture) freshUnmatched() store.ID {
	n := f.seq()
	return f.e.unmatched(fmt.Sprintf("u%d", n), fmt.Sprintf("stranger%d@example.com", n), "Hello", "Text", store.ReasonNoContact)
}

func (f *authzFixture) freshToken() store.ID {
	_, tok, err := f.e.s.CreateToken(context.Background(), "fresh", store.RoleStaff, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok.ID
}

// freshAction is the API path that removes an action added for it.
func (f *authzFixture) freshAction() string {
	name := fmt.Sprintf("Action%d", f.seq())
	if err := f.e.s.AddVocab(context.Background(), store.VocabAction, name); err != nil {
		f.t.Fatal(err)
	}
	return "/api/v1/vocabulary/actions/" + name
}

func (f *authzFixture) freshUser() store.ID {
	u := &store.User{Name: "Temp", Emails: []string{fmt.Sprintf("temp%d@org.org", f.seq())}, Role: store.RoleStaff}
	if err := f.e.s.CreateUser(context.Background(), u, testPassword); err != nil {
		f.t.Fatal(err)
	}
	return u.ID
}

func idPath(format string, id func(*authzFixture) store.ID) func(*authzFixture) string {
	return func(f *authzFixture) string { return fmt.Sprintf(format, id(f)) }
}

func (f *authzFixture) contactID() store.ID   { return f.contact.ID }
func (f *authzFixture) mailID() store.ID      { return f.mail }
func (f *authzFixture) campaignID() store.ID  { return f.campaign }
func (f *authzFixture) unmatchedID() store.ID { return f.unmatched }
func (f *authzFixture) staffID() store.ID     { return f.e.staff.ID }

// authzCases lists every route's expectation, keyed "METHOD /pattern" as
// gin registers it.
func authzCases() map[string]authzCase {
	fresh := (*authzFixture).freshContact
	freshIA := (*authzFixture).freshInteraction
	freshU := (*authzFixture).freshUnmatched
	contactJSON := func(f *authzFixture) string { return fmt.Sprintf(`{"contact_ids":[%d],"type":"Call"}`, f.contact.ID) }
	return map[string]authzCase{
		// Open to all.
		"GET /healthz":      {path: fixed("/healthz"), want: everyone(200)},
		"GET /metrics":      {path: fixed("/metrics"), want: everyone(200)},
		"GET /static/*path": {path: fixed("/static/app.css"), want: everyone(200)},
		"GET /favicon.ico":  {path: fixed("/favicon.ico"), want: everyone(301)},
		"GET /login":        {path: fixed("/login"), want: [nCallers]int{200, 303, 303, 200, 200, 200}},
		"POST /login":       {path: fixed("/login"), body: func(f *authzFixture) string { return fmt.Sprintf("email=nobody%d@org.org&password=wrong-one", f.seq()) }, want: everyone(401)},
		"POST /logout":      {path: fixed("/logout"), want: everyone(303)},

		// The JSON API.
		"GET /api/v1/contacts":                  {path: fixed("/api/v1/contacts"), want: api(200, 200)},
		"POST /api/v1/contacts":                 {path: fixed("/api/v1/contacts"), body: fixed(`{"name":"New One"}`), want: api(201, 201)},
		"GET /api/v1/contacts/:id":              {path: idPath("/api/v1/contacts/%d", (*authzFixture).contactID), want: api(200, 200)},
		"PATCH /api/v1/contacts/:id":            {path: idPath("/api/v1/contacts/%d", fresh), body: fixed(`{"address":"1 Main St"}`), want: api(200, 200)},
		"DELETE /api/v1/contacts/:id":           {path: idPath("/api/v1/contacts/%d", fresh), want: api(403, 204)},
		"POST /api/v1/contacts/:id/erase":       {path: idPath("/api/v1/contacts/%d/erase", fresh), body: fixed(`{}`), want: api(403, 200)},
		"GET /api/v1/contacts/:id/interactions": {path: idPath("/api/v1/contacts/%d/interactions", (*authzFixture).contactID), want: api(200, 200)},
		"GET /api/v1/interactions":              {path: fixed("/api/v1/interactions"), want: api(200, 200)},
		"POST /api/v1/interactions":             {path: fixed("/api/v1/interactions"), body: contactJSON, want: api(201, 201)},
		"GET /api/v1/interactions/export.csv":   {path: fixed("/api/v1/interactions/export.csv"), want: api(200, 200)},
		"GET /api/v1/interactions/:id":          {path: idPath("/api/v1/interactions/%d", (*authzFixture).mailID), want: api(200, 200)},
		"GET /api/v1/interactions/:id/raw":      {path: idPath("/api/v1/interactions/%d/raw", (*authzFixture).mailID), want: api(200, 200)},
		"PATCH /api/v1/interactions/:id":        {path: idPath("/api/v1/interactions/%d", freshIA), body: fixed(`{"title":"changed"}`), want: api(403, 200)},
		"DELETE /api/v1/interactions/:id":       {path: idPath("/api/v1/interactions/%d", freshIA), want: api(403, 204)},
		"POST /api/v1/messages": {path: fixed("/api/v1/messages"), body: func(f *authzFixture) string {
			return fmt.Sprintf("From: x@example.com\r\nSubject: %d\r\n\r\nhi\r\n", f.seq())
		}, want: api(202, 202)},
		"GET /api/v1/unmatched":                 {path: fixed("/api/v1/unmatched"), want: api(403, 200)},
		"GET /api/v1/unmatched/:id":             {path: idPath("/api/v1/unmatched/%d", (*authzFixture).unmatchedID), want: api(403, 200)},
		"GET /api/v1/unmatched/:id/raw":         {path: idPath("/api/v1/unmatched/%d/raw", (*authzFixture).unmatchedID), want: api(403, 200)},
		"POST /api/v1/unmatched/:id/assign":     {path: idPath("/api/v1/unmatched/%d/assign", freshU), body: func(f *authzFixture) string { return fmt.Sprintf(`{"contact_ids":[%d]}`, f.contact.ID) }, want: api(403, 200)},
		"POST /api/v1/unmatched/:id/discard":    {path: idPath("/api/v1/unmatched/%d/discard", freshU), body: fixed(`{}`), want: api(403, 204)},
		"GET /api/v1/mailboxes":                 {path: fixed("/api/v1/mailboxes"), want: api(403, 200)},
		"GET /api/v1/audit":                     {path: fixed("/api/v1/audit"), want: api(403, 200)},
		"GET /api/v1/vocabulary":                {path: fixed("/api/v1/vocabulary"), want: api(200, 200)},
		"POST /api/v1/vocabulary/:kind":         {path: fixed("/api/v1/vocabulary/locations"), body: func(f *authzFixture) string { return fmt.Sprintf(`{"name":"Office %d"}`, f.seq()) }, want: api(403, 201)},
		"DELETE /api/v1/vocabulary/:kind/:name": {path: (*authzFixture).freshAction, want: api(403, 204)},
		"GET /api/v1/campaigns":                 {path: fixed("/api/v1/campaigns"), want: api(200, 200)},
		"POST /api/v1/campaigns": {path: fixed("/api/v1/campaigns"), body: func(f *authzFixture) string {
			return fmt.Sprintf(`{"external_id":"x%d","subject":"S","sent_at":"2026-05-01T10:00:00Z","recipients":["a@example.com"]}`, f.seq())
		}, want: api(201, 201)},
		"GET /api/v1/campaigns/:id":             {path: idPath("/api/v1/campaigns/%d", (*authzFixture).campaignID), want: api(200, 200)},
		"GET /api/v1/campaigns/:id/recipients":  {path: idPath("/api/v1/campaigns/%d/recipients", (*authzFixture).campaignID), want: api(200, 200)},
		"POST /api/v1/campaigns/:id/recipients": {path: idPath("/api/v1/campaigns/%d/recipients", (*authzFixture).campaignID), body: fixed(`{"recipients":["b@example.com"]}`), want: api(200, 200)},
		"GET /api/v1/users":                     {path: fixed("/api/v1/users"), want: api(200, 200)},
		"POST /api/v1/users": {path: fixed("/api/v1/users"), body: func(f *authzFixture) string {
			return fmt.Sprintf(`{"name":"New","emails":["new%d@org.org"],"role":"staff","password":"long enough"}`, f.seq())
		}, want: api(403, 201)},
		"PATCH /api/v1/users/:id":   {path: idPath("/api/v1/users/%d", (*authzFixture).freshUser), body: fixed(`{"name":"Renamed"}`), want: api(403, 200)},
		"GET /api/v1/tokens":        {path: fixed("/api/v1/tokens"), want: api(403, 200)},
		"POST /api/v1/tokens":       {path: fixed("/api/v1/tokens"), body: fixed(`{"name":"t","role":"staff"}`), want: api(403, 201)},
		"DELETE /api/v1/tokens/:id": {path: idPath("/api/v1/tokens/%d", (*authzFixture).freshToken), want: api(403, 204)},

		// The pages.
		"GET /":                        {path: fixed("/"), want: page(303, 303)},
		"GET /contacts":                {path: fixed("/contacts"), want: page(200, 200)},
		"GET /contacts/new":            {path: fixed("/contacts/new"), want: page(200, 200)},
		"POST /contacts":               {path: fixed("/contacts"), body: fixed("kind=person&name=Form+Made"), want: form(303, 303)},
		"GET /contacts/:id":            {path: idPath("/contacts/%d", (*authzFixture).contactID), want: page(200, 200)},
		"GET /contacts/:id/edit":       {path: idPath("/contacts/%d/edit", (*authzFixture).contactID), want: page(200, 200)},
		"POST /contacts/:id":           {path: idPath("/contacts/%d", fresh), body: fixed("kind=person&name=Renamed"), want: form(303, 303)},
		"GET /contacts/:id/delete":     {path: idPath("/contacts/%d/delete", (*authzFixture).contactID), want: page(403, 200)},
		"POST /contacts/:id/delete":    {path: idPath("/contacts/%d/delete", fresh), want: form(403, 303)},
		"GET /contacts/:id/erase":      {path: idPath("/contacts/%d/erase", (*authzFixture).contactID), want: page(403, 200)},
		"POST /contacts/:id/erase":     {path: idPath("/contacts/%d/erase", fresh), want: form(403, 303)},
		"GET /interactions":            {path: fixed("/interactions"), want: page(200, 200)},
		"GET /interactions/export.csv": {path: fixed("/interactions/export.csv"), want: page(200, 200)},
		"GET /interactions/new":        {path: fixed("/interactions/new"), want: page(200, 200)},
		"POST /interactions":           {path: fixed("/interactions"), body: func(f *authzFixture) string { return fmt.Sprintf("contact_ids=%d&type=Call", f.contact.ID) }, want: form(303, 303)},
		"GET /interactions/:id/edit":   {path: idPath("/interactions/%d/edit", (*authzFixture).mailID), want: page(403, 200)},
		"POST /interactions/:id": {path: idPath("/interactions/%d", freshIA), body: func(f *authzFixture) string {
			return fmt.Sprintf("contact_ids=%d&type=Call&title=changed&occurred_at=2026-05-01T10:00", f.contact.ID)
		}, want: form(403, 303)},
		"GET /interactions/:id/delete":         {path: idPath("/interactions/%d/delete", (*authzFixture).mailID), want: page(403, 200)},
		"POST /interactions/:id/delete":        {path: idPath("/interactions/%d/delete", freshIA), want: form(403, 303)},
		"GET /interactions/:id/raw":            {path: idPath("/interactions/%d/raw", (*authzFixture).mailID), want: page(200, 200)},
		"GET /interactions/:id/attachments/:n": {path: idPath("/interactions/%d/attachments/0", (*authzFixture).mailID), want: page(200, 200)},
		"GET /campaigns":                       {path: fixed("/campaigns"), want: page(200, 200)},
		"GET /campaigns/:id":                   {path: idPath("/campaigns/%d", (*authzFixture).campaignID), want: page(200, 200)},
		// Sending campaigns: admins only. The test server has no relay
		// (503 to send; the form shows why), and the ids are of a reported
		// campaign, not a send (404).
		"GET /campaigns/new":               {path: fixed("/campaigns/new"), want: page(403, 200)},
		"POST /campaigns/new":              {path: fixed("/campaigns/new"), body: fixed("subject=Hello&body=Hi+{{name}}&filter=name:nobody&when=now"), want: form(403, 200)},
		"POST /campaigns/:id/cancel":       {path: idPath("/campaigns/%d/cancel", (*authzFixture).campaignID), want: form(403, 404)},
		"POST /api/v1/sends":               {path: fixed("/api/v1/sends"), body: fixed(`{"subject":"Hello","body":"Hi","filter":"name:nobody"}`), want: api(403, 503)},
		"POST /api/v1/sends/preview":       {path: fixed("/api/v1/sends/preview"), body: fixed(`{"filter":"name:nobody"}`), want: api(403, 200)},
		"GET /api/v1/sends/:id":            {path: idPath("/api/v1/sends/%d", (*authzFixture).campaignID), want: api(403, 404)},
		"GET /api/v1/sends/:id/recipients": {path: idPath("/api/v1/sends/%d/recipients", (*authzFixture).campaignID), want: api(403, 404)},
		"POST /api/v1/sends/:id/cancel":    {path: idPath("/api/v1/sends/%d/cancel", (*authzFixture).campaignID), body: fixed(`{}`), want: api(403, 404)},
		"GET /unmatched":                   {path: fixed("/unmatched"), want: page(403, 200)},
		"POST /unmatched/bulk":             {path: fixed("/unmatched/bulk"), body: func(f *authzFixture) string { return fmt.Sprintf("op=discard&ids=%d", f.freshUnmatched()) }, want: form(403, 303)},
		"GET /unmatched/:id":               {path: idPath("/unmatched/%d", (*authzFixture).unmatchedID), want: page(403, 200)},
		"POST /unmatched/:id/assign":       {path: idPath("/unmatched/%d/assign", freshU), body: func(f *authzFixture) string { return fmt.Sprintf("contact_ids=%d", f.contact.ID) }, want: form(403, 303)},
		"POST /unmatched/:id/create-contact": {path: idPath("/unmatched/%d/create-contact", freshU), body: func(f *authzFixture) string {
			return fmt.Sprintf("kind=person&name=From+Mail&address=new%d@example.net", f.seq())
		}, want: form(403, 303)},
		"POST /unmatched/:id/discard": {path: idPath("/unmatched/%d/discard", freshU), want: form(403, 303)},
		"GET /unmatched/:id/raw":      {path: idPath("/unmatched/%d/raw", (*authzFixture).unmatchedID), want: page(403, 200)},
		"GET /admin":                  {path: fixed("/admin"), want: page(403, 303)},
		"GET /admin/users":            {path: fixed("/admin/users"), want: page(403, 200)},
		"POST /admin/users": {path: fixed("/admin/users"), body: func(f *authzFixture) string {
			return fmt.Sprintf("name=Form+User&emails=form%d@org.org&role=staff&password=long+enough", f.seq())
		}, want: form(403, 303)},
		"GET /admin/users/:id": {path: idPath("/admin/users/%d", (*authzFixture).staffID), want: page(403, 200)},
		"POST /admin/users/:id": {path: idPath("/admin/users/%d", (*authzFixture).freshUser), body: func(f *authzFixture) string {
			return fmt.Sprintf("name=Renamed&emails=renamed%d@org.org&role=staff", f.seq())
		}, want: form(403, 303)},
		"GET /admin/lists":               {path: fixed("/admin/lists"), want: page(403, 200)},
		"POST /admin/lists/:kind":        {path: fixed("/admin/lists/locations"), body: func(f *authzFixture) string { return fmt.Sprintf("name=Branch+%d", f.seq()) }, want: form(403, 303)},
		"POST /admin/lists/:kind/remove": {path: fixed("/admin/lists/actions/remove"), body: fixed("name=Discussion"), want: form(403, 303)},
		"GET /admin/tokens":              {path: fixed("/admin/tokens"), want: page(403, 200)},
		"POST /admin/tokens":             {path: fixed("/admin/tokens"), body: fixed("name=ci&role=staff"), want: form(403, 201)},
		"POST /admin/tokens/:id/revoke":  {path: idPath("/admin/tokens/%d/revoke", (*authzFixture).freshToken), want: form(403, 303)},
		"GET /admin/mailboxes":           {path: fixed("/admin/mailboxes"), want: page(403, 200)},
		"GET /admin/audit":               {path: fixed("/admin/audit"), want: page(403, 200)},
	}
}

// do sends one request as caller and returns the status (toLogin for a
// redirect to the sign-in page) and the body.
func (f *authzFixture) do(caller int, method, path, body string, csrfToken string) (int, string) {
	f.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	api := strings.HasPrefix(path, "/api/")
	if !api && method != http.MethodGet {
		// A form: the token rides in the body, as from the page.
		v, _ := url.ParseQuery(body)
		if csrfToken != "" {
			v.Set(csrfField, csrfToken)
		}
		rd = strings.NewReader(v.Encode())
	}
	req, err := http.NewRequest(method, f.e.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	switch {
	case path == "/api/v1/messages":
		req.Header.Set("Content-Type", "message/rfc822")
	case api && body != "":
		req.Header.Set("Content-Type", "application/json")
	case !api && method != http.MethodGet:
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", "text/html")
	req.AddCookie(f.csrfCookie)
	switch caller {
	case staffSession, adminSession:
		u := f.e.staff
		if caller == adminSession {
			u = f.e.admin
		}
		// A fresh session each time: a request may be the sign-out.
		plain, _, err := f.e.s.CreateSession(context.Background(), u.ID)
		if err != nil {
			f.t.Fatal(err)
		}
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: plain})
	case staffToken:
		req.Header.Set("Authorization", "Bearer "+f.staffTok)
	case adminToken:
		req.Header.Set("Authorization", "Bearer "+f.adminTok)
	case revokedToken:
		req.Header.Set("Authorization", "Bearer "+f.revoked)
	}
	resp, err := f.hc.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
		return toLogin, string(b)
	}
	return resp.StatusCode, string(b)
}

// registered lists the server's routes as "METHOD /pattern".
func registered(s *Server) []string {
	var out []string
	for _, r := range s.engine.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	slices.Sort(out)
	return out
}

func statusName(code int) string {
	if code == toLogin {
		return "303 to /login"
	}
	return fmt.Sprint(code)
}

func TestAuthorisationMatrix(t *testing.T) {
	t.Parallel()
	f := newAuthzFixture(t)
	cases := authzCases()
	routes := registered(New(Options{Store: f.e.s}))
	for _, r := range routes {
		if _, ok := cases[r]; !ok {
			t.Errorf("route %s has no expectation in the authorisation matrix: add one to authzCases", r)
		}
	}
	for k := range cases {
		if !slices.Contains(routes, k) {
			t.Errorf("authzCases has %s, which the server does not register", k)
		}
	}
	for _, r := range routes {
		tc, ok := cases[r]
		if !ok {
			continue
		}
		method, _, _ := strings.Cut(r, " ")
		for caller := range nCallers {
			path, body := tc.request(f)
			got, resp := f.do(caller, method, path, body, f.csrfToken)
			if got != tc.want[caller] {
				t.Errorf("%s %s as %s = %s, want %s\n%s", method, path, callerNames[caller], statusName(got), statusName(tc.want[caller]), clip(resp))
			}
		}
	}
}
