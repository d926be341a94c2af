package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// emailMatch matches an address to the contact listing it, as the store's
// own index knows it (the matcher's rules are tested in package matcher).
func emailMatch(s *Store) MatchFunc {
	return func(sn *Snapshot, addr string) (ID, bool, error) {
		c, err := sn.ContactByEmail(addr)
		if errors.Is(err, ErrNotFound) {
			return 0, false, nil
		}
		if err != nil {
			return 0, false, err
		}
		return c.ID, true, nil
	}
}

func TestReportCampaign(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	u := mustUser(t, s, "Sarah", "sarah@org.org", RoleStaff)
	yossi := mustContact(t, s, Contact{Name: "Yossi", Emails: []string{"yossi@acme.com", "y@home.net"}})
	rivka := mustContact(t, s, Contact{Name: "Rivka", Emails: []string{"rivka@example.net"}})
	sent := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	rep := CampaignReport{
		ExternalID: "mc-42", Name: "May newsletter", Subject: "Shavuot classes", SentAt: sent,
		Recipients: []string{"Yossi@ACME.com", "rivka@example.net", "stranger@nowhere.example", "not an address", "y@home.net", "yossi@acme.com"},
		CreatedBy:  u.ID,
	}
	res, err := s.ReportCampaign(ctx, rep, emailMatch(s))
	if err != nil {
		t.Fatalf("ReportCampaign: %v", err)
	}
	if !res.Created || res.Logged != 2 || res.Duplicates != 2 || res.UnmatchedCount != 1 || res.RejectedCount != 1 {
		t.Fatalf("ReportCampaign = %+v, want created, 2 logged, 2 duplicates, 1 unmatched, 1 rejected", res)
	}
	if len(res.Unmatched) != 1 || res.Unmatched[0] != "stranger@nowhere.example" {
		t.Errorf("Unmatched = %q", res.Unmatched)
	}
	if len(res.Rejected) != 1 || res.Rejected[0].Address != "not an address" {
		t.Errorf("Rejected = %+v", res.Rejected)
	}
	c := res.Campaign
	if c.Recipients != 3 || c.Logged != 2 || c.Unmatched != 1 || c.Name != "May newsletter" {
		t.Errorf("campaign = %+v, want 3 recipients, 2 logged, 1 unmatched", c)
	}
	for _, ct := range []*Contact{yossi, rivka} {
		items, _, err := s.Timeline(ct.ID, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 1 {
			t.Fatalf("%s has %d interactions, want 1", ct.Name, len(items))
		}
		ia := items[0]
		if ia.Type != "Email" || ia.Source != SourceCampaign || ia.Title != "Shavuot classes" || !ia.OccurredAt.Equal(sent) ||
			ia.CampaignID != c.ID || ia.CreatedBy != u.ID || len(ia.OwnerIDs) != 1 || ia.OwnerIDs[0] != u.ID ||
			ia.Email == nil || ia.Email.Direction != Outbound {
			t.Errorf("%s's interaction = %+v", ct.Name, ia)
		}
	}
	if q, _, _ := s.ListUnmatched(UnmatchedFilter{}, 10, ""); len(q) != 0 {
		t.Errorf("unmatched mail queue has %d entries, want 0", len(q))
	}

	// The same report again: nothing new.
	again, err := s.ReportCampaign(ctx, rep, emailMatch(s))
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || again.Campaign.ID != c.ID || again.Logged != 0 || again.Duplicates != 5 || again.UnmatchedCount != 0 {
		t.Errorf("second report = %+v, want same campaign, 0 logged, 5 duplicates", again)
	}
	if again.Campaign.Recipients != 3 || again.Campaign.Logged != 2 {
		t.Errorf("campaign after retry = %+v", again.Campaign)
	}

	// A chunk with one new contact.
	dana := mustContact(t, s, Contact{Name: "Dana", Emails: []string{"dana@example.org"}})
	more, err := s.AddCampaignRecipients(ctx, c.ID, []string{"dana@example.org", "rivka@example.net"}, 0, 0, emailMatch(s))
	if err != nil {
		t.Fatal(err)
	}
	if more.Logged != 1 || more.Duplicates != 1 || more.Campaign.Logged != 3 || more.Campaign.Recipients != 4 {
		t.Errorf("AddCampaignRecipients = %+v / %+v", more, more.Campaign)
	}
	if items, _, _ := s.Timeline(dana.ID, 10, ""); len(items) != 1 {
		t.Errorf("Dana has %d interactions, want 1", len(items))
	}
	if _, err := s.AddCampaignRecipients(ctx, 12345, []string{"a@b.org"}, 0, 0, emailMatch(s)); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddCampaignRecipients(unknown campaign) = %v, want ErrNotFound", err)
	}

	rcpts, next, err := s.CampaignRecipients(c.ID, "", 3)
	if err != nil || len(rcpts) != 3 || next == "" {
		t.Fatalf("CampaignRecipients page 1 = %+v, %q, %v", rcpts, next, err)
	}
	rest, next2, err := s.CampaignRecipients(c.ID, next, 10)
	if err != nil || len(rest) != 2 || next2 != "" {
		t.Fatalf("CampaignRecipients page 2 = %+v, %q, %v", rest, next2, err)
	}
	all := append(rcpts, rest...)
	want := []string{"dana@example.org", "rivka@example.net", "stranger@nowhere.example", "y@home.net", "yossi@acme.com"}
	for i, r := range all {
		if r.Address != want[i] {
			t.Errorf("recipient %d = %q, want %q", i, r.Address, want[i])
		}
	}
	if all[2].ContactID != 0 || all[3].ContactID != yossi.ID || all[4].ContactID != yossi.ID || all[3].InteractionID != all[4].InteractionID {
		t.Errorf("recipients = %+v", all)
	}
}

func TestReportCampaignInvalid(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ok := CampaignReport{ExternalID: "x", Subject: "Hello", SentAt: day("2026-05-01"), Recipients: []string{"a@b.org"}}
	tooMany := make([]string, MaxCampaignRecipients+1)
	for i := range tooMany {
		tooMany[i] = "a@b.org"
	}
	cases := []struct {
		name  string
		edit  func(*CampaignReport)
		field string
	}{
		{"no external id", func(r *CampaignReport) { r.ExternalID = " " }, "external_id"},
		{"no subject", func(r *CampaignReport) { r.Subject = "" }, "subject"},
		{"no sent_at", func(r *CampaignReport) { r.SentAt = time.Time{} }, "sent_at"},
		{"sent_at out of range", func(r *CampaignReport) { r.SentAt = day("1800-01-01") }, "sent_at"},
		{"no recipients", func(r *CampaignReport) { r.Recipients = nil }, "recipients"},
		{"no address at all", func(r *CampaignReport) { r.Recipients = []string{"nope", ""} }, "recipients"},
		{"too many recipients", func(r *CampaignReport) { r.Recipients = tooMany }, "recipients"},
	}
	for _, tc := range cases {
		r := ok
		tc.edit(&r)
		_, err := s.ReportCampaign(context.Background(), r, emailMatch(s))
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.field {
			t.Errorf("%s: err = %v, want a validation error on %s", tc.name, err, tc.field)
		}
	}
	if l, _, _ := s.Campaigns(10, ""); len(l) != 0 {
		t.Errorf("invalid reports made %d campaigns", len(l))
	}
}

// TestReportCampaignBatches reports more recipients than one batch holds
// and checks the counts, the order of the list, that each batch is matched
// in one read transaction, and that a retry of the same large report logs
// nothing.
func TestReportCampaignBatches(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	const n = campaignBatch*2 + 17
	known := map[string]ID{}
	for i := range 50 {
		c := mustContact(t, s, Contact{Name: fmt.Sprintf("Person %d", i), Emails: []string{fmt.Sprintf("p%d@known.org", i)}})
		known[c.Emails[0]] = c.ID
	}
	list := make([]string, 0, n)
	for i := range n {
		switch {
		case i%100 == 0:
			list = append(list, fmt.Sprintf("P%d@KNOWN.org", i/100))
		case i%997 == 0:
			list = append(list, "broken@")
		default:
			list = append(list, fmt.Sprintf("r%d@unknown.org", i))
		}
	}
	var calls int
	var snaps []int // the read transaction of each call, by its id
	match := func(sn *Snapshot, addr string) (ID, bool, error) {
		calls++
		if txid := sn.tx.ID(); len(snaps) == 0 || snaps[len(snaps)-1] != txid {
			snaps = append(snaps, txid)
		}
		id, ok := known[addr]
		return id, ok, nil
	}
	res, err := s.ReportCampaign(ctx, CampaignReport{ExternalID: "big", Subject: "Big send", SentAt: day("2026-06-01"), Recipients: list}, match)
	if err != nil {
		t.Fatal(err)
	}
	wantLogged := (n + 99) / 100
	if res.Logged != wantLogged || res.RejectedCount != 4 || res.Logged+res.UnmatchedCount+res.RejectedCount != n {
		t.Errorf("result: logged %d unmatched %d rejected %d, want %d logged, 4 rejected, of %d", res.Logged, res.UnmatchedCount, res.RejectedCount, wantLogged, n)
	}
	if len(res.Unmatched) != maxListed || res.UnmatchedCount <= maxListed {
		t.Errorf("listed %d unmatched of %d, want the list capped at %d", len(res.Unmatched), res.UnmatchedCount, maxListed)
	}
	if calls != n-4 {
		t.Errorf("match called %d times, want %d", calls, n-4)
	}
	// Three batches, each matched in a snapshot that sees the write of
	// the batch before it.
	if len(snaps) != 3 || !slices.IsSorted(snaps) || snaps[0] == snaps[1] || snaps[1] == snaps[2] {
		t.Errorf("matched in read transactions %v, want 3, one a batch", snaps)
	}
	again, err := s.ReportCampaign(ctx, CampaignReport{ExternalID: "big", Subject: "Big send", SentAt: day("2026-06-01"), Recipients: list}, match)
	if err != nil {
		t.Fatal(err)
	}
	if again.Logged != 0 || again.UnmatchedCount != 0 || again.Duplicates != n-4 {
		t.Errorf("retry: %+v", again)
	}
	if total, _ := s.CountInteractions(); total != wantLogged {
		t.Errorf("%d interactions, want %d", total, wantLogged)
	}
}

func TestCampaignsNewestFirst(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	for i := range 3 {
		r := CampaignReport{ExternalID: fmt.Sprint("c", i), Subject: strings.Repeat("x", i+1), SentAt: day("2026-01-01"), Recipients: []string{"a@b.org"}}
		if _, err := s.ReportCampaign(context.Background(), r, emailMatch(s)); err != nil {
			t.Fatal(err)
		}
	}
	page, next, err := s.Campaigns(2, "")
	if err != nil || len(page) != 2 || page[0].ExternalID != "c2" || page[1].ExternalID != "c1" || next == "" {
		t.Fatalf("Campaigns page 1 = %v, %q, %v", page, next, err)
	}
	page, next, err = s.Campaigns(2, next)
	if err != nil || len(page) != 1 || page[0].ExternalID != "c0" || next != "" {
		t.Fatalf("Campaigns page 2 = %v, %q, %v", page, next, err)
	}
	if _, _, err := s.Campaigns(2, "garbage"); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
}
