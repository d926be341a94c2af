package store

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ingestMail stores a message as received: logged on contacts, or unmatched
// with reason when contacts is nil.
func ingestMail(t *testing.T, s *Store, key, from string, to []string, contacts []ID, reason string) IngestResult {
	t.Helper()
	raw := "From: " + from + "\r\nSubject: " + key + "\r\n\r\nbody of " + key + "\r\n"
	res, err := s.Ingest(context.Background(), &Incoming{
		DedupeKey: "mid:" + key, Raw: []byte(raw), Reason: reason, Unknown: []string{from},
		Interaction: &Interaction{ContactIDs: contacts, Type: "Email", Title: key, Source: SourceSMTP,
			Email: &Email{MessageID: key, From: from, To: to, Subject: key, Direction: Inbound}},
	})
	if err != nil {
		t.Fatalf("Ingest(%s): %v", key, err)
	}
	return res
}

func TestEraseContact(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	staff := mustUser(t, s, "Sarah", "sarah@org.org", RoleStaff)
	admin := mustUser(t, s, "Ada", "ada@org.org", RoleAdmin)
	acme := mustContact(t, s, Contact{Kind: KindOrganization, Name: "Acme", Domains: []string{"acme.com"}})
	// Reported to a campaign before David was a contact: an unmatched
	// recipient entry of his address.
	early, err := s.ReportCampaign(ctx, CampaignReport{ExternalID: "early", Subject: "Early news", SentAt: day("2026-01-01"),
		Recipients: []string{"d.levi@gmail.com", "other@example.net"}}, emailMatch(s))
	if err != nil {
		t.Fatal(err)
	}
	david := mustContact(t, s, Contact{Name: "David Levi", Emails: []string{"david@acme.com", "d.levi@gmail.com"},
		Phones: []string{"+972 50 123 4567"}, OrganizationID: acme.ID})
	rachel := mustContact(t, s, Contact{Name: "Rachel Green", Emails: []string{"rachel@example.net"}, OrganizationID: acme.ID})

	onlyDavid := mustInteraction(t, s, Interaction{ContactIDs: []ID{david.ID}, Type: "Call", Title: "Call with David", OwnerIDs: []ID{staff.ID}})
	shared := mustInteraction(t, s, Interaction{ContactIDs: []ID{david.ID, rachel.ID}, Type: "Meeting", Actions: []string{"Discussion"}, Title: "All hands"})
	onlyRachel := mustInteraction(t, s, Interaction{ContactIDs: []ID{rachel.ID}, Type: "Visit", Title: "Rachel alone"})
	mailDavid := ingestMail(t, s, "m1", "david@acme.com", []string{"sarah@org.org"}, []ID{david.ID}, "")
	mailShared := ingestMail(t, s, "m2", "rachel@example.net", []string{"sarah@org.org"}, []ID{david.ID, rachel.ID}, "")
	pendingFrom := ingestMail(t, s, "u1", "d.levi@gmail.com", []string{"log@org.org"}, nil, "no_staff")
	discardedTo := ingestMail(t, s, "u2", "stranger@example.com", []string{"david@acme.com"}, nil, "no_contact")
	if err := s.DiscardUnmatched(ctx, discardedTo.UnmatchedID, admin.ID); err != nil {
		t.Fatal(err)
	}
	stranger := ingestMail(t, s, "u3", "stranger@example.com", []string{"log@org.org"}, nil, "no_contact")
	assignedDavid := ingestMail(t, s, "u4", "stranger@example.com", []string{"log@org.org"}, nil, "no_contact")
	iaAssigned, _, err := s.AssignUnmatched(ctx, assignedDavid.UnmatchedID, Assignment{ContactIDs: []ID{david.ID}, By: admin.ID})
	if err != nil {
		t.Fatal(err)
	}
	assignedShared := ingestMail(t, s, "u5", "stranger@example.com", []string{"log@org.org"}, nil, "no_contact")
	iaAssignedShared, _, err := s.AssignUnmatched(ctx, assignedShared.UnmatchedID, Assignment{ContactIDs: []ID{david.ID, rachel.ID}, By: admin.ID})
	if err != nil {
		t.Fatal(err)
	}
	camp, err := s.ReportCampaign(ctx, CampaignReport{ExternalID: "spring", Subject: "Spring news", SentAt: day("2026-03-01"),
		Recipients: []string{"david@acme.com", "d.levi@gmail.com", "rachel@example.net", "nobody@example.org"}}, emailMatch(s))
	if err != nil || camp.Logged != 2 || camp.Duplicates != 1 || camp.UnmatchedCount != 1 {
		t.Fatalf("ReportCampaign = %+v, %v", camp, err)
	}
	rawOf := func(id ID) ID {
		t.Helper()
		ia, err := s.GetInteraction(id)
		if err != nil || ia.Email == nil || ia.Email.RawID == 0 {
			t.Fatalf("interaction %d: %+v, %v; want an email with a raw message", id, ia, err)
		}
		return ia.Email.RawID
	}
	rawDavid, rawShared, rawAssigned := rawOf(mailDavid.InteractionID), rawOf(mailShared.InteractionID), rawOf(iaAssigned.ID)
	pu, err := s.GetUnmatched(pendingFrom.UnmatchedID)
	if err != nil {
		t.Fatal(err)
	}
	rawPending := pu.Draft.Email.RawID
	var davidCampaignIA ID
	rcpts, _, _ := s.CampaignRecipients(camp.Campaign.ID, "", 100)
	for _, r := range rcpts {
		if r.ContactID == david.ID {
			davidCampaignIA = r.InteractionID
		}
	}

	by := Actor{UserID: admin.ID, Name: "Ada"}
	a, err := s.EraseContact(ctx, david.ID, by)
	if err != nil {
		t.Fatalf("EraseContact: %v", err)
	}
	if err := s.Check(); err != nil {
		t.Fatalf("Check after erase: %v", err)
	}

	// The contact and everything on it alone are gone.
	if _, err := s.GetContact(david.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetContact(erased) = %v, want ErrNotFound", err)
	}
	for _, id := range []ID{onlyDavid.ID, mailDavid.InteractionID, iaAssigned.ID, davidCampaignIA} {
		if _, err := s.GetInteraction(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("interaction %d on the erased contact alone: %v, want ErrNotFound", id, err)
		}
	}
	for _, id := range []ID{rawDavid, rawAssigned, rawPending} {
		if _, err := s.Raw(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("raw message %d: %v, want ErrNotFound", id, err)
		}
	}
	for _, id := range []ID{pendingFrom.UnmatchedID, discardedTo.UnmatchedID, assignedDavid.UnmatchedID} {
		if _, err := s.GetUnmatched(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("unmatched %d: %v, want ErrNotFound", id, err)
		}
	}
	// What others share stays, without the erased contact.
	for _, id := range []ID{shared.ID, mailShared.InteractionID, iaAssignedShared.ID} {
		ia, err := s.GetInteraction(id)
		if err != nil || !slices.Equal(ia.ContactIDs, []ID{rachel.ID}) {
			t.Errorf("shared interaction %d = %+v, %v; want it on Rachel alone", id, ia, err)
		}
	}
	if _, err := s.Raw(rawShared); err != nil {
		t.Errorf("raw message of a shared email: %v", err)
	}
	for _, id := range []ID{stranger.UnmatchedID, assignedShared.UnmatchedID} {
		if _, err := s.GetUnmatched(id); err != nil {
			t.Errorf("unmatched %d unrelated or resolved into a shared interaction: %v", id, err)
		}
	}
	if items, _, err := s.Timeline(rachel.ID, 50, ""); err != nil || len(items) != 5 {
		t.Errorf("Rachel's timeline = %d items, %v; want 5 (three shared, her own, her campaign email)", len(items), err)
	}
	if _, err := s.GetInteraction(onlyRachel.ID); err != nil {
		t.Error(err)
	}

	// Campaigns forget the contact; their counts follow.
	for _, tc := range []struct {
		id                          ID
		recipients, logged, unmatch int
		addrs                       []string
	}{
		{camp.Campaign.ID, 2, 1, 1, []string{"nobody@example.org", "rachel@example.net"}},
		{early.Campaign.ID, 1, 0, 1, []string{"other@example.net"}},
	} {
		c, err := s.GetCampaign(tc.id)
		if err != nil || c.Recipients != tc.recipients || c.Logged != tc.logged || c.Unmatched != tc.unmatch {
			t.Errorf("campaign %d after erase = %+v, %v; want %d recipients, %d logged, %d unmatched", tc.id, c, err, tc.recipients, tc.logged, tc.unmatch)
		}
		rs, _, _ := s.CampaignRecipients(tc.id, "", 100)
		var addrs []string
		for _, r := range rs {
			addrs = append(addrs, r.Address)
		}
		if !slices.Equal(addrs, tc.addrs) {
			t.Errorf("campaign %d recipients = %v, want %v", tc.id, addrs, tc.addrs)
		}
	}

	// No trace left: no bucket but the audit log holds the contact's id,
	// addresses, phone or name, or a deleted interaction's id, in a key or
	// a value.
	traces := [][]byte{david.ID.key(), onlyDavid.ID.key(), mailDavid.InteractionID.key(), iaAssigned.ID.key(), davidCampaignIA.key(),
		[]byte("david@acme.com"), []byte("d.levi@gmail.com"), []byte("David Levi"), []byte("david"), []byte("+972 50 123 4567"),
		[]byte("mid:m1"), []byte("mid:u1"), []byte("mid:u2"), []byte("mid:u4"), []byte("body of m1")}
	s.view(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if bytes.Equal(name, bAudit) {
				return nil
			}
			return b.ForEach(func(k, v []byte) error {
				for _, tr := range traces {
					if bytes.Contains(k, tr) || bytes.Contains(v, tr) {
						t.Errorf("bucket %s still holds %q: key %q", name, tr, k)
					}
				}
				return nil
			})
		})
	})

	// The audit entry says who, when, whom and how much.
	want := map[string]int{
		EraseInteractionsDeleted: 4, EraseInteractionsDetached: 3, EraseRawMessages: 4, EraseUnmatched: 3,
		EraseCampaignLinks: 4, EraseDedupeEntries: 4, EraseMembersUnlinked: 0,
	}
	log, next, err := s.Audit(10, "")
	if err != nil || len(log) != 1 || next != "" {
		t.Fatalf("Audit = %+v, %q, %v; want one entry", log, next, err)
	}
	got := log[0]
	if got.ID != a.ID || got.Action != AuditContactErase || got.ActorID != admin.ID || got.ActorName != "Ada" ||
		got.ContactID != david.ID || got.ContactName != "David Levi" || got.At.IsZero() || time.Since(got.At) > time.Minute {
		t.Errorf("audit entry = %+v", got)
	}
	for k, n := range want {
		if got.Counts[k] != n {
			t.Errorf("audit count %s = %d, want %d (all: %v)", k, got.Counts[k], n, got.Counts)
		}
	}

	// The same message delivered again is new mail, not a duplicate of
	// something erased.
	if r := ingestMail(t, s, "m1", "david@acme.com", []string{"sarah@org.org"}, nil, "no_contact"); r.Status != IngestUnmatched {
		t.Errorf("redelivery after erase = %+v, want unmatched", r)
	}

	// An organisation: its members lose the link; a second erase is 404
	// and writes no entry.
	a2, err := s.EraseContact(ctx, acme.ID, Actor{TokenID: 7, Name: "token ops"})
	if err != nil || a2.Counts[EraseMembersUnlinked] != 1 {
		t.Fatalf("EraseContact(org) = %+v, %v; want 1 member unlinked", a2, err)
	}
	if r, _ := s.GetContact(rachel.ID); r.OrganizationID != 0 {
		t.Errorf("member still in the erased organisation %d", r.OrganizationID)
	}
	if _, err := s.EraseContact(ctx, acme.ID, by); !errors.Is(err, ErrNotFound) {
		t.Errorf("second erase = %v, want ErrNotFound", err)
	}
	log, _, _ = s.Audit(10, "")
	if len(log) != 2 || log[0].ID != a2.ID || log[0].ActorTokenID != 7 || log[1].ID != a.ID {
		t.Errorf("Audit = %+v, want the two erasures newest first", log)
	}
	// Paging.
	p1, next, _ := s.Audit(1, "")
	p2, next2, _ := s.Audit(1, next)
	if len(p1) != 1 || len(p2) != 1 || p1[0].ID != a2.ID || p2[0].ID != a.ID || next2 != "" {
		t.Errorf("Audit pages = %v %q %v %q", p1, next, p2, next2)
	}
	if _, _, err := s.Audit(1, "x"); !errors.Is(err, ErrBadCursor) {
		t.Errorf("Audit(bad cursor) = %v", err)
	}
}
