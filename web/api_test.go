package web

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"touchpoint/store"
)

// env is a server on a real store with an admin and a staff member, each
// with a token tied to them, and a bare staff token.
type env struct {
	t                  *testing.T
	s                  *store.Store
	h                  http.Handler
	admin, staff       *store.User
	adminTok, staffTok string
	bareTok            string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, nil)
}

// newEnvWith lets a test set more Options.
func newEnvWith(t *testing.T, opt func(*Options)) *env {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "t.db"), store.Options{NoSync: true, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Errorf("store Check: %v", err)
		}
		s.Close()
	})
	opts := Options{Store: s, Version: "test"}
	if opt != nil {
		opt(&opts)
	}
	e := &env{t: t, s: s, h: New(opts).Handler()}
	ctx := context.Background()
	e.admin = &store.User{Name: "Ada Admin", Emails: []string{"ada@org.org"}, Role: store.RoleAdmin}
	e.staff = &store.User{Name: "Sarah Staff", Emails: []string{"sarah@org.org"}, Role: store.RoleStaff}
	for _, u := range []*store.User{e.admin, e.staff} {
		if err := s.CreateUser(ctx, u, "password123"); err != nil {
			t.Fatal(err)
		}
	}
	e.adminTok, _, _ = s.CreateToken(ctx, "admin", store.RoleAdmin, e.admin.ID)
	e.staffTok, _, _ = s.CreateToken(ctx, "staff", store.RoleStaff, e.staff.ID)
	e.bareTok, _, _ = s.CreateToken(ctx, "script", store.RoleStaff, 0)
	return e
}

type resp struct {
	code int
	body []byte
	hdr  http.Header
}

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r resp) errField() string {
	var e errorBody
	json.Unmarshal(r.body, &e)
	return e.Field
}

func (e *env) do(tok, method, path string, body any) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	return resp{w.Code, w.Body.Bytes(), w.Header()}
}

func (e *env) must(tok, method, path string, body any, want int) resp {
	e.t.Helper()
	r := e.do(tok, method, path, body)
	if r.code != want {
		e.t.Fatalf("%s %s = %d %s, want %d", method, path, r.code, r.body, want)
	}
	return r
}

func (e *env) contact(body map[string]any) store.Contact {
	e.t.Helper()
	var c store.Contact
	e.must(e.adminTok, "POST", "/api/v1/contacts", body, 201).json(e.t, &c)
	return c
}

func (e *env) interaction(tok string, body map[string]any) store.Interaction {
	e.t.Helper()
	var ia store.Interaction
	e.must(tok, "POST", "/api/v1/interactions", body, 201).json(e.t, &ia)
	return ia
}

func TestAuthRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, path := range []string{"/api/v1/contacts", "/api/v1/interactions", "/api/v1/interactions/export.csv", "/api/v1/users"} {
		r := e.do("", "GET", path, nil)
		if r.code != 401 || r.hdr.Get("WWW-Authenticate") == "" || !strings.Contains(string(r.body), `"error"`) {
			t.Errorf("GET %s without a token = %d %s", path, r.code, r.body)
		}
		if r := e.do("tp_wrong", "GET", path, nil); r.code != 401 {
			t.Errorf("GET %s with a wrong token = %d", path, r.code)
		}
	}
	if r := e.do("", "GET", "/healthz", nil); r.code != 200 {
		t.Errorf("healthz = %d", r.code)
	}
	// A revoked token stops working at once.
	plain, tok, _ := e.s.CreateToken(context.Background(), "gone", store.RoleAdmin, 0)
	e.must(plain, "GET", "/api/v1/users", nil, 200)
	e.must(e.adminTok, "DELETE", fmt.Sprintf("/api/v1/tokens/%d", tok.ID), nil, 204)
	e.must(plain, "GET", "/api/v1/users", nil, 401)
	// A disabled user's token stops working too.
	e.must(e.adminTok, "PATCH", fmt.Sprintf("/api/v1/users/%d", e.staff.ID), map[string]any{"disabled": true}, 200)
	e.must(e.staffTok, "GET", "/api/v1/contacts", nil, 401)
}

func TestAdminRoutesForbiddenToStaff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.contact(map[string]any{"name": "X"})
	for _, tc := range []struct{ method, path string }{
		{"POST", "/api/v1/users"},
		{"PATCH", fmt.Sprintf("/api/v1/users/%d", e.staff.ID)},
		{"GET", "/api/v1/tokens"},
		{"POST", "/api/v1/tokens"},
		{"DELETE", "/api/v1/tokens/1"},
		{"DELETE", fmt.Sprintf("/api/v1/contacts/%d", c.ID)},
		{"DELETE", "/api/v1/vocabulary/actions/Tefillin"},
		{"POST", "/api/v1/vocabulary/locations"},
	} {
		for _, tok := range []string{e.staffTok, e.bareTok} {
			if r := e.do(tok, tc.method, tc.path, map[string]any{"name": "x"}); r.code != 403 {
				t.Errorf("staff %s %s = %d %s, want 403", tc.method, tc.path, r.code, r.body)
			}
		}
	}
	// A staff-bound token never acts as admin, whatever role it was given.
	lifted, _, _ := e.s.CreateToken(context.Background(), "lift", store.RoleAdmin, e.staff.ID)
	e.must(lifted, "GET", "/api/v1/tokens", nil, 403)
}

func TestContactsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	org := e.contact(map[string]any{"kind": "organization", "name": "Acme", "domains": []string{"acme.com"}})
	p := e.contact(map[string]any{"name": "Yossi Cohen", "emails": []string{"Yossi@Acme.com", "y@gmail.com"}, "phones": []string{"+972 50 1234567"}, "organization_id": org.ID, "address": "1 Main St"})
	if p.Emails[0] != "yossi@acme.com" || p.OrganizationID != org.ID || p.Kind != "person" {
		t.Errorf("created %+v", p)
	}
	var got store.Contact
	e.must(e.staffTok, "GET", fmt.Sprintf("/api/v1/contacts/%d", p.ID), nil, 200).json(t, &got)
	if got.Name != "Yossi Cohen" {
		t.Errorf("GET contact = %+v", got)
	}
	var l list[store.Contact]
	e.must(e.staffTok, "GET", "/api/v1/contacts?q=yoss", nil, 200).json(t, &l)
	if len(l.Items) != 1 || l.Items[0].ID != p.ID {
		t.Errorf("search by name = %+v", l)
	}
	e.must(e.staffTok, "GET", "/api/v1/contacts?q=y@gmail.com", nil, 200).json(t, &l)
	if len(l.Items) != 1 {
		t.Errorf("search by email = %+v", l)
	}
	// PATCH changes only what it names; organization_id 0 unlinks.
	got = store.Contact{}
	e.must(e.staffTok, "PATCH", fmt.Sprintf("/api/v1/contacts/%d", p.ID), map[string]any{"phones": []string{}, "organization_id": 0}, 200).json(t, &got)
	if len(got.Phones) != 0 || got.OrganizationID != 0 || got.Address != "1 Main St" || len(got.Emails) != 2 {
		t.Errorf("after PATCH %+v", got)
	}
	// Errors name the field.
	for _, tc := range []struct {
		body  any
		code  int
		field string
	}{
		{map[string]any{"name": ""}, 400, "name"},
		{map[string]any{"name": "X", "emails": []string{"nope"}}, 400, "emails"},
		{map[string]any{"name": "X", "emails": []string{"yossi@acme.com"}}, 409, "emails"},
		{map[string]any{"name": "X", "colour": "red"}, 400, "colour"},
		{map[string]any{"name": 5}, 400, "name"},
		{map[string]any{"name": "X", "organization_id": p.ID}, 400, "organization_id"},
	} {
		r := e.do(e.staffTok, "POST", "/api/v1/contacts", tc.body)
		if r.code != tc.code || r.errField() != tc.field {
			t.Errorf("POST %v = %d %s, want %d on %s", tc.body, r.code, r.body, tc.code, tc.field)
		}
	}
	e.must(e.staffTok, "GET", "/api/v1/contacts/999", nil, 404)
	e.must(e.staffTok, "GET", "/api/v1/contacts/abc", nil, 404)
	e.must(e.adminTok, "DELETE", fmt.Sprintf("/api/v1/contacts/%d", p.ID), nil, 204)
	e.must(e.adminTok, "DELETE", fmt.Sprintf("/api/v1/contacts/%d", p.ID), nil, 404)
}

func TestBodyErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := httptest.NewRequest("POST", "/api/v1/contacts", strings.NewReader("name=x"))
	req.Header.Set("Authorization", "Bearer "+e.adminTok)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, req)
	if w.Code != 415 {
		t.Errorf("form body = %d, want 415", w.Code)
	}
	for body, want := range map[string]int{
		"":                400,
		"{":               400,
		`{"name":"a"} {}`: 400,
		`[1]`:             400,
		`{"name":"` + strings.Repeat("x", 2<<20) + `"}`: 413,
	} {
		if r := e.do(e.adminTok, "POST", "/api/v1/contacts", body); r.code != want || !strings.Contains(string(r.body), `"error"`) {
			t.Errorf("body %.20q = %d %s, want %d", body, r.code, r.body, want)
		}
	}
}

func TestInteractionsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.contact(map[string]any{"name": "A"})
	b := e.contact(map[string]any{"name": "B"})
	ia := e.interaction(e.staffTok, map[string]any{
		"contact_ids": []any{a.ID, fmt.Sprint(b.ID)}, "type": "visit", "actions": []string{"Tefillin", "Kiddush"},
		"title": "Visit", "details": "Talked", "occurred_at": "2026-05-03T10:00", "duration_minutes": 30,
		"location": "Office", "address": "1 Herzl St",
	})
	if ia.Type != "Visit" || len(ia.ContactIDs) != 2 || ia.Source != store.SourceAPI ||
		len(ia.OwnerIDs) != 1 || ia.OwnerIDs[0] != e.staff.ID || ia.CreatedBy != e.staff.ID ||
		ia.OccurredAt.Format("2006-01-02T15:04") != "2026-05-03T10:00" {
		t.Errorf("created %+v", ia)
	}
	path := fmt.Sprintf("/api/v1/interactions/%d", ia.ID)
	var got store.Interaction
	e.must(e.staffTok, "PATCH", path, map[string]any{"title": "Visit home", "contact_ids": []any{a.ID}}, 200).json(t, &got)
	if got.Title != "Visit home" || len(got.ContactIDs) != 1 || got.Details != "Talked" {
		t.Errorf("after PATCH %+v", got)
	}
	// Another staff member may not touch it; an admin may.
	other := &store.User{Name: "Other", Emails: []string{"o@org.org"}}
	e.s.CreateUser(context.Background(), other, "password123")
	otherTok, _, _ := e.s.CreateToken(context.Background(), "o", store.RoleStaff, other.ID)
	e.must(otherTok, "PATCH", path, map[string]any{"title": "mine now"}, 403)
	e.must(otherTok, "DELETE", path, nil, 403)
	e.must(e.bareTok, "DELETE", path, nil, 403)
	e.must(e.adminTok, "PATCH", path, map[string]any{"details": "edited by admin"}, 200)
	// A bare token may edit what it created; the interaction has no owner by default.
	mine := e.interaction(e.bareTok, map[string]any{"contact_ids": []any{a.ID}, "type": "Call"})
	if len(mine.OwnerIDs) != 0 || mine.CreatedByToken == 0 {
		t.Errorf("bare token interaction %+v", mine)
	}
	e.must(e.bareTok, "PATCH", fmt.Sprintf("/api/v1/interactions/%d", mine.ID), map[string]any{"title": "ok"}, 200)

	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"type": "Call"}, "contact_ids"},
		{map[string]any{"contact_ids": []any{}, "type": "Call"}, "contact_ids"},
		{map[string]any{"contact_ids": []any{999}, "type": "Call"}, "contact_ids"},
		{map[string]any{"contact_ids": []any{a.ID}}, "type"},
		{map[string]any{"contact_ids": []any{a.ID}, "type": "Call", "occurred_at": "yesterday"}, "occurred_at"},
		{map[string]any{"contact_ids": []any{a.ID}, "type": "Call", "owner_ids": []any{12345}}, "owner_ids"},
		{map[string]any{"contact_ids": []any{a.ID}, "type": "Call", "duration_minutes": "long"}, "duration_minutes"},
		{map[string]any{"contact_ids": []any{a.ID}, "type": "Call", "source": "smtp"}, "source"},
	} {
		if r := e.do(e.staffTok, "POST", "/api/v1/interactions", tc.body); r.code != 400 || r.errField() != tc.field {
			t.Errorf("POST %v = %d %s, want 400 on %s", tc.body, r.code, r.body, tc.field)
		}
	}
	e.must(e.staffTok, "DELETE", path, nil, 204)
	e.must(e.staffTok, "GET", path, nil, 404)
	e.must(e.staffTok, "GET", fmt.Sprintf("/api/v1/contacts/%d/interactions", 999), nil, 404)
}

func TestListFiltersAndPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.contact(map[string]any{"name": "David Katz", "emails": []string{"david@example.org"}})
	b := e.contact(map[string]any{"name": "Dana Levi"})
	mk := func(tok string, body map[string]any) store.ID { return e.interaction(tok, body).ID }
	call := mk(e.staffTok, map[string]any{"contact_ids": []any{a.ID}, "type": "Call", "actions": []string{"Tefillin"}, "title": "About the class", "occurred_at": "2026-05-02T09:00:00Z"})
	visit := mk(e.adminTok, map[string]any{"contact_ids": []any{a.ID, b.ID}, "type": "Visit", "occurred_at": "2026-04-20T09:00:00Z"})
	old := mk(e.staffTok, map[string]any{"contact_ids": []any{b.ID}, "type": "Call", "actions": []string{"Neshek"}, "occurred_at": "2025-01-01"})
	note := mk(e.staffTok, map[string]any{"contact_ids": []any{b.ID}, "type": "Other", "title": "class notes", "occurred_at": "2026-05-10T00:00:00Z"})

	ids := func(query string) []store.ID {
		var l list[store.Interaction]
		e.must(e.staffTok, "GET", "/api/v1/interactions?"+query, nil, 200).json(t, &l)
		out := []store.ID{}
		for _, ia := range l.Items {
			out = append(out, ia.ID)
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []store.ID
	}{
		{"", []store.ID{note, call, visit, old}},
		{fmt.Sprintf("contact_id=%d", a.ID), []store.ID{call, visit}},
		{"type=call", []store.ID{call, old}},
		{"type=Call&type=Visit", []store.ID{call, visit, old}},
		{"action=Tefillin", []store.ID{call}},
		{fmt.Sprintf("owner_id=%d", e.admin.ID), []store.ID{visit}},
		{"source=api", []store.ID{note, call, visit, old}},
		{"source=smtp", []store.ID{}},
		{"from=2026-04-20&to=2026-05-02", []store.ID{call, visit}},
		{"q=class", []store.ID{note, call}},
		{"q=" + urlq(`type:Call action:Tefillin owner:sarah after:2026-05-01 "class"`), []store.ID{call}},
		{"q=" + urlq(`contact:"dana levi" -type:visit`), []store.ID{note, old}},
		{"q=" + urlq(`contact:david@example.org`), []store.ID{call, visit}},
	} {
		if got := ids(tc.query); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("GET /interactions?%s = %v, want %v", tc.query, got, tc.want)
		}
	}
	for query, field := range map[string]string{
		"q=" + urlq("tpye:Call"): "q", "from=soon": "from", "owner_id=nobody": "owner_id", "contact_id=999": "contact_id", "source=fax": "source",
		"limit=0": "limit", "limit=100000": "limit", "cursor=zzz": "cursor",
	} {
		if r := e.do(e.staffTok, "GET", "/api/v1/interactions?"+query, nil); r.code != 400 || r.errField() != field {
			t.Errorf("GET ?%s = %d %s, want 400 on %s", query, r.code, r.body, field)
		}
	}
	// Cursor paging through a contact's timeline.
	var all []store.ID
	next := ""
	for range 10 {
		var l list[store.Interaction]
		e.must(e.staffTok, "GET", fmt.Sprintf("/api/v1/contacts/%d/interactions?limit=1&cursor=%s", b.ID, next), nil, 200).json(t, &l)
		for _, ia := range l.Items {
			all = append(all, ia.ID)
		}
		if next = l.NextCursor; next == "" {
			break
		}
	}
	if fmt.Sprint(all) != fmt.Sprint([]store.ID{note, visit, old}) {
		t.Errorf("timeline pages = %v", all)
	}
}

func urlq(s string) string {
	r := strings.NewReplacer(" ", "+", `"`, "%22", ":", "%3A", "@", "%40")
	return r.Replace(s)
}

func TestExportCSV(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.contact(map[string]any{"name": "Alice", "emails": []string{"alice@example.org"}, "phones": []string{"050-1234567"}})
	b := e.contact(map[string]any{"name": "=HYPERLINK(\"evil\")"})
	e.interaction(e.staffTok, map[string]any{"contact_ids": []any{a.ID, b.ID}, "type": "Meeting", "actions": []string{"Tefillin", "Neshek"},
		"title": "=1+1", "details": "Line one, \"quoted\"\nline two", "occurred_at": "2026-05-03T10:00:00Z"})
	e.interaction(e.staffTok, map[string]any{"contact_ids": []any{a.ID}, "type": "Call", "occurred_at": "2026-05-01T10:00:00Z"})

	r := e.must(e.staffTok, "GET", "/api/v1/interactions/export.csv?type=Meeting", nil, 200)
	if ct := r.hdr.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if !strings.HasPrefix(string(r.body), "date,contact_name,contact_email,contact_phone,type,actions,description") {
		t.Fatalf("header: %.100s", r.body)
	}
	if !bytes.Contains(r.body, []byte("\r\n")) {
		t.Error("rows are not CRLF-terminated")
	}
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatalf("parse CSV: %v", err)
	}
	if len(rows) != 3 {
		t.Fatalf("%d rows, want header + one per contact (2): %q", len(rows), rows)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	names := rows[1][col["contact_name"]] + "|" + rows[2][col["contact_name"]]
	if !strings.Contains(names, "Alice") || !strings.Contains(names, `'=HYPERLINK("evil")`) {
		t.Errorf("contact names = %q (formula not guarded?)", names)
	}
	row := rows[1]
	if row[col["date"]] != "2026-05-03T10:00:00Z" || row[col["type"]] != "Meeting" || row[col["actions"]] != "Tefillin; Neshek" ||
		row[col["title"]] != "'=1+1" || row[col["details"]] != "Line one, \"quoted\"\nline two" || row[col["owners"]] != "Sarah Staff" {
		t.Errorf("row = %q", row)
	}
	for _, rw := range rows[1:] {
		if rw[col["contact_name"]] == "Alice" && (rw[col["contact_email"]] != "alice@example.org" || rw[col["contact_phone"]] != "050-1234567") {
			t.Errorf("Alice's row = %q", rw)
		}
	}
	// The same filter errors as the list.
	e.must(e.staffTok, "GET", "/api/v1/interactions/export.csv?q=%22open", nil, 400)
	// Everything: 3 rows of data.
	all, _ := csv.NewReader(bytes.NewReader(e.must(e.staffTok, "GET", "/api/v1/interactions/export.csv", nil, 200).body)).ReadAll()
	if len(all) != 4 {
		t.Errorf("unfiltered export has %d rows, want 4", len(all))
	}
}

func TestVocabularyAndUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var v map[string][]string
	e.must(e.staffTok, "GET", "/api/v1/vocabulary", nil, 200).json(t, &v)
	if fmt.Sprint(v["actions"]) != "[Discussion Neshek Tefillin]" || len(v["types"]) != 6 || v["locations"] == nil {
		t.Errorf("vocabulary = %v", v)
	}
	e.must(e.staffTok, "POST", "/api/v1/vocabulary/actions", map[string]any{"name": "Shabbat meal"}, 201)
	e.must(e.adminTok, "POST", "/api/v1/vocabulary/locations", map[string]any{"name": "Main office"}, 201)
	e.must(e.staffTok, "POST", "/api/v1/vocabulary/colours", map[string]any{"name": "red"}, 404)
	e.must(e.staffTok, "POST", "/api/v1/vocabulary/actions", map[string]any{"name": ""}, 400)
	e.must(e.adminTok, "DELETE", "/api/v1/vocabulary/actions/Shabbat%20meal", nil, 204)
	e.must(e.adminTok, "DELETE", "/api/v1/vocabulary/actions/Shabbat%20meal", nil, 404)

	var users list[store.User]
	e.must(e.staffTok, "GET", "/api/v1/users", nil, 200).json(t, &users)
	if len(users.Items) != 2 || strings.Contains(string(e.do(e.staffTok, "GET", "/api/v1/users", nil).body), "password") {
		t.Errorf("users = %+v", users)
	}
	var u store.User
	e.must(e.adminTok, "POST", "/api/v1/users", map[string]any{"name": "New One", "emails": []string{"new@org.org"}, "password": "password123"}, 201).json(t, &u)
	if u.Role != store.RoleStaff || u.Initials != "NO" {
		t.Errorf("new user %+v", u)
	}
	e.must(e.adminTok, "POST", "/api/v1/users", map[string]any{"name": "Weak", "emails": []string{"weak@org.org"}, "password": "x"}, 400)
	var tok createdToken
	e.must(e.adminTok, "POST", "/api/v1/tokens", map[string]any{"name": "ci", "role": "admin"}, 201).json(t, &tok)
	if !strings.HasPrefix(tok.Secret, store.TokenPrefix) {
		t.Errorf("token = %+v", tok)
	}
	e.must(tok.Secret, "GET", "/api/v1/tokens", nil, 200)
	if bytes.Contains(e.must(e.adminTok, "GET", "/api/v1/tokens", nil, 200).body, []byte(tok.Secret)) {
		t.Error("token list shows a secret")
	}
}

func TestMetricsAndUnknownRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.must(e.staffTok, "GET", "/api/v1/contacts", nil, 200)
	r := e.must("", "GET", "/metrics", nil, 200)
	if !bytes.Contains(r.body, []byte(`touchpoint_http_requests_total{code="200",method="GET",route="/api/v1/contacts"} 1`)) {
		t.Errorf("metrics lack the request counter:\n%.2000s", r.body)
	}
	if r := e.do("", "GET", "/nowhere", nil); r.code != 404 || !strings.Contains(string(r.body), "error") {
		t.Errorf("unknown route = %d %s", r.code, r.body)
	}
	if r := e.do(e.staffTok, "PUT", "/api/v1/contacts", nil); r.code != 405 {
		t.Errorf("PUT /contacts = %d, want 405", r.code)
	}
}
