package web

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"touchpoint/store"
)

func (e *env) unmatched(key, reason string, unknown ...string) store.ID {
	e.t.Helper()
	res, err := e.s.Ingest(context.Background(), &store.Incoming{
		DedupeKey: key,
		Raw:       []byte("From: Stranger <" + key + "@example.org>\r\nSubject: <script>alert(1)</script>\r\n\r\nHello <b>there</b>\r\n"),
		Interaction: &store.Interaction{Type: "Email", Title: "<script>alert(1)</script>", Details: "Hello <b>there</b>", Source: store.SourceSMTP,
			Email: &store.Email{MessageID: key, From: key + "@example.org", Subject: "<script>alert(1)</script>", Direction: store.Inbound}},
		Reason:  reason,
		Unknown: unknown,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return res.UnmatchedID
}

type unmatchedList struct {
	Items      []unmatchedView `json:"items"`
	NextCursor string          `json:"next_cursor"`
}

func TestUnmatchedAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.unmatched("a", "no_contact", "a@example.org")
	b := e.unmatched("b", "no_contact", "a@example.org")
	noise := e.unmatched("c", "auto_reply", "c@example.org")
	d := e.unmatched("d", "no_staff", "d@example.org")

	e.must(e.staffTok, "GET", "/api/v1/unmatched", nil, 403)
	var l unmatchedList
	e.must(e.adminTok, "GET", "/api/v1/unmatched", nil, 200).json(t, &l)
	if len(l.Items) != 4 || l.Items[0].ID != d || !l.Items[1].Noise || l.Items[1].ID != noise {
		t.Fatalf("pending list = %+v", l.Items)
	}
	first := l.Items[3]
	if first.ID != a || first.Reason != "no_contact" || first.Status != "pending" || first.From != "a@example.org" ||
		first.Subject != "<script>alert(1)</script>" || first.MessageID != "a" || first.Text != nil || first.Excerpt != "Hello <b>there</b>" {
		t.Errorf("item = %+v", first)
	}
	e.must(e.adminTok, "GET", "/api/v1/unmatched?reason=auto_reply", nil, 200).json(t, &l)
	if len(l.Items) != 1 || l.Items[0].ID != noise {
		t.Errorf("reason filter = %+v", l.Items)
	}
	e.must(e.adminTok, "GET", "/api/v1/unmatched?status=maybe", nil, 400)

	var one unmatchedView
	e.must(e.adminTok, "GET", fmt.Sprintf("/api/v1/unmatched/%d", a), nil, 200).json(t, &one)
	if one.Text == nil || *one.Text != "Hello <b>there</b>" {
		t.Errorf("GET one = %+v", one)
	}
	raw := e.must(e.adminTok, "GET", fmt.Sprintf("/api/v1/unmatched/%d/raw", a), nil, 200)
	if raw.hdr.Get("Content-Type") != "message/rfc822" || !strings.HasPrefix(raw.hdr.Get("Content-Disposition"), "attachment") ||
		!strings.HasPrefix(string(raw.body), "From: Stranger") {
		t.Errorf("raw = %v %.40q", raw.hdr, raw.body)
	}

	c := e.contact(map[string]any{"name": "Avi"})
	var out struct {
		Interaction  store.Interaction `json:"interaction"`
		AlsoResolved []store.ID        `json:"also_resolved"`
	}
	e.must(e.adminTok, "POST", fmt.Sprintf("/api/v1/unmatched/%d/assign", a), map[string]any{"contact_ids": []any{c.ID}, "remember": true}, 200).json(t, &out)
	if out.Interaction.ContactIDs[0] != c.ID || out.Interaction.Email == nil || len(out.AlsoResolved) != 1 || out.AlsoResolved[0] != b {
		t.Errorf("assign = %+v", out)
	}
	e.must(e.adminTok, "POST", fmt.Sprintf("/api/v1/unmatched/%d/assign", a), map[string]any{"contact_ids": []any{c.ID}}, 409)
	rawIA := e.must(e.staffTok, "GET", fmt.Sprintf("/api/v1/interactions/%d/raw", out.Interaction.ID), nil, 200)
	if !strings.HasPrefix(string(rawIA.body), "From: Stranger") {
		t.Errorf("interaction raw = %.40q", rawIA.body)
	}
	// Create a contact from the address and assign in one call.
	var created struct {
		Interaction store.Interaction `json:"interaction"`
		Contact     store.Contact     `json:"contact"`
	}
	e.must(e.adminTok, "POST", fmt.Sprintf("/api/v1/unmatched/%d/assign", d), map[string]any{"contact": map[string]any{"name": "Dov", "emails": []string{"d@example.org"}}}, 200).json(t, &created)
	if created.Contact.ID == 0 || created.Interaction.ContactIDs[0] != created.Contact.ID || created.Interaction.OwnerIDs[0] != e.admin.ID {
		t.Errorf("create and assign = %+v", created)
	}
	if r := e.do(e.adminTok, "POST", fmt.Sprintf("/api/v1/unmatched/%d/assign", noise), map[string]any{}); r.code != 400 || r.errField() != "contact_ids" {
		t.Errorf("assign to nobody = %d %s", r.code, r.body)
	}
	e.must(e.adminTok, "POST", fmt.Sprintf("/api/v1/unmatched/%d/discard", noise), nil, 204)
	e.must(e.adminTok, "POST", fmt.Sprintf("/api/v1/unmatched/%d/discard", noise), nil, 409)
	e.must(e.adminTok, "GET", "/api/v1/unmatched", nil, 200).json(t, &l)
	if len(l.Items) != 0 {
		t.Errorf("pending after resolving all = %+v", l.Items)
	}
	e.must(e.adminTok, "GET", "/api/v1/unmatched?status=all", nil, 200).json(t, &l)
	if len(l.Items) != 4 {
		t.Errorf("all = %d items", len(l.Items))
	}
	e.must(e.adminTok, "GET", "/api/v1/unmatched?status=discarded", nil, 200).json(t, &l)
	if len(l.Items) != 1 || l.Items[0].Status != "discarded" || l.Items[0].ResolvedAt == nil {
		t.Errorf("discarded = %+v", l.Items)
	}
	e.must(e.adminTok, "GET", "/api/v1/unmatched/999", nil, 404)
}

func TestPostMessageWithoutIngester(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := e.do(e.adminTok, "POST", "/api/v1/messages", "x")
	if req.code != 503 {
		t.Errorf("POST /messages without a pipeline = %d", req.code)
	}
}
