package web

import (
	"fmt"
	"strings"
	"testing"

	"touchpoint/store"
)

func TestCampaignsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	yossi := e.contact(map[string]any{"name": "Yossi", "emails": []string{"yossi@acme.com"}})
	acme := e.contact(map[string]any{"kind": "organization", "name": "Acme", "domains": []string{"acme.com"}})
	fans := e.contact(map[string]any{"kind": "organization", "name": "Gmail fans", "domains": []string{"gmail.com"}})
	body := map[string]any{
		"external_id": "mc-1", "name": "May newsletter", "subject": "Shavuot classes", "sent_at": "2026-05-01T09:00:00Z",
		"recipients": []string{"YOSSI+news@acme.com", "someone@acme.com", "stranger@gmail.com", "sarah@org.org", "oops"},
	}
	var a campaignAnswer
	e.must(e.bareTok, "POST", "/api/v1/campaigns", body, 201).json(t, &a)
	// yossi+news folds to Yossi; someone@acme.com is Acme's by domain;
	// gmail.com never matches by domain; staff are no contact.
	if a.ID == 0 || !a.Created || a.Logged != 2 || a.UnmatchedCount != 2 || a.RejectedCount != 1 ||
		strings.Join(a.Unmatched, ",") != "stranger@gmail.com,sarah@org.org" || a.Rejected[0].Address != "oops" {
		t.Fatalf("POST /campaigns = %+v", a)
	}
	for _, id := range []store.ID{yossi.ID, acme.ID} {
		var tl list[store.Interaction]
		e.must(e.staffTok, "GET", fmt.Sprintf("/api/v1/contacts/%d/interactions", id), nil, 200).json(t, &tl)
		if len(tl.Items) != 1 || tl.Items[0].Source != "campaign" || tl.Items[0].Title != "Shavuot classes" || tl.Items[0].CampaignID != a.ID {
			t.Errorf("timeline of %d = %+v", id, tl.Items)
		}
	}
	var none list[store.Interaction]
	e.must(e.staffTok, "GET", fmt.Sprintf("/api/v1/contacts/%d/interactions", fans.ID), nil, 200).json(t, &none)
	if len(none.Items) != 0 {
		t.Errorf("free-mail organisation got %d interactions", len(none.Items))
	}
	var q list[map[string]any]
	e.must(e.adminTok, "GET", "/api/v1/unmatched", nil, 200).json(t, &q)
	if len(q.Items) != 0 {
		t.Errorf("unmatched queue has %d entries, want none", len(q.Items))
	}

	// Retried: same id, nothing logged twice.
	var again campaignAnswer
	e.must(e.bareTok, "POST", "/api/v1/campaigns", body, 200).json(t, &again)
	if again.ID != a.ID || again.Created || again.Logged != 0 || again.Duplicates != 4 {
		t.Errorf("retry = %+v", again)
	}
	// A further chunk.
	rivka := e.contact(map[string]any{"name": "Rivka", "emails": []string{"rivka@example.net"}})
	var more campaignAnswer
	e.must(e.bareTok, "POST", fmt.Sprintf("/api/v1/campaigns/%d/recipients", a.ID), map[string]any{"recipients": []string{"rivka@example.net", "yossi@acme.com"}}, 200).json(t, &more)
	if more.Logged != 1 || more.Duplicates != 1 || more.Campaign.Logged != 3 {
		t.Errorf("chunk = %+v / %+v", more, more.Campaign)
	}
	var rt list[store.Interaction]
	e.must(e.staffTok, "GET", fmt.Sprintf("/api/v1/contacts/%d/interactions", rivka.ID), nil, 200).json(t, &rt)
	if len(rt.Items) != 1 {
		t.Errorf("Rivka has %d interactions", len(rt.Items))
	}
	e.must(e.bareTok, "POST", "/api/v1/campaigns/999/recipients", map[string]any{"recipients": []string{"a@b.org"}}, 404)

	var camps list[store.Campaign]
	e.must(e.staffTok, "GET", "/api/v1/campaigns", nil, 200).json(t, &camps)
	if len(camps.Items) != 1 || camps.Items[0].ID != a.ID || camps.Items[0].Logged != 3 || camps.Items[0].Unmatched != 2 || camps.Items[0].Recipients != 5 {
		t.Errorf("GET /campaigns = %+v", camps.Items)
	}
	var one store.Campaign
	e.must(e.staffTok, "GET", fmt.Sprintf("/api/v1/campaigns/%d", a.ID), nil, 200).json(t, &one)
	if one.Name != "May newsletter" || one.ExternalID != "mc-1" {
		t.Errorf("GET /campaigns/{id} = %+v", one)
	}
	var rcpts list[store.CampaignRecipient]
	e.must(e.staffTok, "GET", fmt.Sprintf("/api/v1/campaigns/%d/recipients?limit=2", a.ID), nil, 200).json(t, &rcpts)
	if len(rcpts.Items) != 2 || rcpts.NextCursor == "" {
		t.Errorf("recipients page = %+v", rcpts)
	}
	e.must(e.staffTok, "GET", "/api/v1/campaigns/123", nil, 404)
	e.must("", "GET", "/api/v1/campaigns", nil, 401)
	e.must("", "POST", "/api/v1/campaigns", body, 401)
}

func TestCampaignsAPIBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := func() map[string]any {
		return map[string]any{"external_id": "x", "subject": "Hi", "sent_at": "2026-05-01T09:00:00Z", "recipients": []string{"a@b.org"}}
	}
	cases := []struct {
		name  string
		edit  func(map[string]any)
		field string
	}{
		{"no recipients", func(b map[string]any) { b["recipients"] = []string{} }, "recipients"},
		{"bad sent_at", func(b map[string]any) { b["sent_at"] = "yesterday" }, "sent_at"},
		{"missing sent_at", func(b map[string]any) { delete(b, "sent_at") }, "sent_at"},
		{"empty subject", func(b map[string]any) { b["subject"] = " " }, "subject"},
		{"no external_id", func(b map[string]any) { delete(b, "external_id") }, "external_id"},
		{"recipients not strings", func(b map[string]any) { b["recipients"] = []int{1} }, "recipients"},
		{"unknown field", func(b map[string]any) { b["body"] = "x" }, "body"},
	}
	for _, tc := range cases {
		b := good()
		tc.edit(b)
		r := e.must(e.bareTok, "POST", "/api/v1/campaigns", b, 400)
		if !strings.HasPrefix(r.errField(), tc.field) {
			t.Errorf("%s: error %s, want field %s", tc.name, r.body, tc.field)
		}
	}
	var camps list[store.Campaign]
	e.must(e.staffTok, "GET", "/api/v1/campaigns", nil, 200).json(t, &camps)
	if len(camps.Items) != 0 {
		t.Errorf("bad reports made %d campaigns", len(camps.Items))
	}
}

// TestCampaignsAPILargeReport posts 20,000 recipients, malformed ones among
// them, past the ordinary 1 MiB body limit.
func TestCampaignsAPILargeReport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.contact(map[string]any{"kind": "organization", "name": "Acme", "domains": []string{"acme.com"}})
	const n = 20_000
	rcpts := make([]string, n)
	for i := range rcpts {
		switch {
		case i%1000 == 0:
			rcpts[i] = fmt.Sprintf("person%d@acme.com", i)
		case i%5000 == 1:
			rcpts[i] = "no-at-sign-here-" + strings.Repeat("x", 40)
		default:
			rcpts[i] = fmt.Sprintf("someone.with.a.long.name%d@unknown-domain-%d.example", i, i%300)
		}
	}
	var a campaignAnswer
	e.must(e.bareTok, "POST", "/api/v1/campaigns", map[string]any{
		"external_id": "big", "subject": "Big", "sent_at": "2026-05-01", "recipients": rcpts}, 201).json(t, &a)
	if a.Logged != 1 || a.RejectedCount != 4 || a.UnmatchedCount != n-20-4 || len(a.Unmatched) != 1000 {
		t.Errorf("large report: logged %d rejected %d unmatched %d (listed %d)", a.Logged, a.RejectedCount, a.UnmatchedCount, len(a.Unmatched))
	}
}
