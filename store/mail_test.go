package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func incoming(key string, contacts []ID, reason string, unknown ...string) *Incoming {
	return &Incoming{
		DedupeKey: key,
		Raw:       []byte("From: x@example.org\r\nSubject: " + key + "\r\n\r\nbody\r\n"),
		Interaction: &Interaction{
			ContactIDs: contacts, Type: "Email", Title: "Subject " + key, Details: "body", Source: SourceSMTP,
			Email: &Email{MessageID: key, From: "x@example.org", Subject: "Subject " + key, Direction: Inbound},
		},
		Reason:  reason,
		Unknown: unknown,
	}
}

func TestIngestLoggedOnceAndRawKept(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	c := mustContact(t, s, Contact{Name: "Yossi"})
	res, err := s.Ingest(ctx, incoming("mid:a@x", []ID{c.ID}, ""))
	if err != nil || res.Status != IngestLogged || res.InteractionID == 0 {
		t.Fatalf("Ingest = %+v, %v", res, err)
	}
	again, err := s.Ingest(ctx, incoming("mid:a@x", []ID{c.ID}, ""))
	if err != nil || again.Status != IngestDuplicate || again.InteractionID != res.InteractionID {
		t.Fatalf("second Ingest = %+v, %v; want duplicate of %d", again, err, res.InteractionID)
	}
	ia, err := s.GetInteraction(res.InteractionID)
	if err != nil || ia.Email == nil || ia.Email.RawID == 0 || ia.Source != SourceSMTP {
		t.Fatalf("interaction = %+v, %v", ia, err)
	}
	raw, err := s.Raw(ia.Email.RawID)
	if err != nil || string(raw[:5]) != "From:" {
		t.Errorf("Raw = %q, %v", raw, err)
	}
	if n, _ := s.CountInteractions(); n != 1 {
		t.Errorf("%d interactions, want 1", n)
	}
}

// TestDeletedMailIsGone: deleting an email interaction (alone, or with the
// contact it was on) deletes its raw message; a queue entry that became it
// stays without the raw; the same message arriving again stays deleted; a
// message shared with another contact keeps its raw.
func TestDeletedMailIsGone(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	yossi := mustContact(t, s, Contact{Name: "Yossi"})
	dina := mustContact(t, s, Contact{Name: "Dina"})
	rawOf := func(id ID) ID {
		t.Helper()
		ia, err := s.GetInteraction(id)
		if err != nil {
			t.Fatal(err)
		}
		return ia.Email.RawID
	}
	gone := func(what string, raw ID) {
		t.Helper()
		if _, err := s.Raw(raw); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: raw message %d still there (%v)", what, raw, err)
		}
	}

	// Logged, deleted, delivered again.
	res, _ := s.Ingest(ctx, incoming("mid:logged", []ID{yossi.ID}, ""))
	raw := rawOf(res.InteractionID)
	if err := s.DeleteInteraction(ctx, res.InteractionID, nil); err != nil {
		t.Fatal(err)
	}
	gone("deleted interaction", raw)
	if again, err := s.Ingest(ctx, incoming("mid:logged", []ID{yossi.ID}, "")); err != nil || again.Status != IngestDuplicate {
		t.Errorf("the same message again = %+v, %v; want a duplicate (deleted mail stays deleted)", again, err)
	}

	// Assigned from the queue, then deleted: the entry stays, without raw.
	q, _ := s.Ingest(ctx, incoming("mid:queued", nil, ReasonNoContact, "new@example.org"))
	ia, _, err := s.AssignUnmatched(ctx, q.UnmatchedID, Assignment{ContactIDs: []ID{yossi.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteInteraction(ctx, ia.ID, nil); err != nil {
		t.Fatal(err)
	}
	gone("deleted assigned interaction", ia.Email.RawID)
	if u, err := s.GetUnmatched(q.UnmatchedID); err != nil || u.Status != StatusResolved || u.Draft.Email.RawID != 0 {
		t.Errorf("queue entry after the delete = %+v, %v; want it resolved, without its raw", u, err)
	}

	// A contact's delete takes the mail on it alone; shared mail stays.
	alone, _ := s.Ingest(ctx, incoming("mid:alone", []ID{dina.ID}, ""))
	shared, _ := s.Ingest(ctx, incoming("mid:shared", []ID{dina.ID, yossi.ID}, ""))
	aloneRaw, sharedRaw := rawOf(alone.InteractionID), rawOf(shared.InteractionID)
	if err := s.DeleteContact(ctx, dina.ID); err != nil {
		t.Fatal(err)
	}
	gone("contact's own mail", aloneRaw)
	if _, err := s.Raw(sharedRaw); err != nil {
		t.Errorf("shared mail lost its raw message: %v", err)
	}
}

func TestIngestConcurrentDuplicatesCollapse(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	c := mustContact(t, s, Contact{Name: "Yossi"})
	var wg sync.WaitGroup
	results := make([]IngestResult, 40)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			results[i], err = s.Ingest(context.Background(), incoming(fmt.Sprint("mid:", i%4), []ID{c.ID}, ""))
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	logged := 0
	for _, r := range results {
		if r.Status == IngestLogged {
			logged++
		}
	}
	if n, _ := s.CountInteractions(); n != 4 || logged != 4 {
		t.Errorf("%d interactions, %d logged answers; want 4 and 4", n, logged)
	}
}

func TestIngestFallsBackToUnmatched(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	// The contact the matcher found is gone by the time we write.
	res, err := s.Ingest(ctx, incoming("mid:gone", []ID{12345}, ""))
	if err != nil || res.Status != IngestUnmatched {
		t.Fatalf("Ingest = %+v, %v", res, err)
	}
	u, err := s.GetUnmatched(res.UnmatchedID)
	if err != nil || u.Reason != ReasonNoContact || u.Status != StatusPending || u.Draft.Title != "Subject mid:gone" {
		t.Fatalf("unmatched = %+v, %v", u, err)
	}
	// An invalid draft (no type, an absurd date) is kept, not refused.
	in := incoming("mid:odd", nil, "unparseable")
	in.Interaction.Type = ""
	in.Interaction.OccurredAt = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)
	if res, err := s.Ingest(ctx, in); err != nil || res.Status != IngestUnmatched {
		t.Fatalf("Ingest of a broken draft = %+v, %v", res, err)
	}
}

func TestAssignRememberAndDiscard(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	admin := mustUser(t, s, "Ada", "ada@org.org", RoleAdmin)
	yossi := mustContact(t, s, Contact{Name: "Yossi"})
	var pending []ID
	for i, reason := range []string{"no_contact", "no_contact", "no_staff", "auto_reply"} {
		res, err := s.Ingest(ctx, incoming(fmt.Sprint("mid:", i), nil, reason, "New@Example.org"))
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, res.UnmatchedID)
	}
	other, _ := s.Ingest(ctx, incoming("mid:other", nil, "no_contact", "someone@else.org"))

	ia, also, err := s.AssignUnmatched(ctx, pending[0], Assignment{ContactIDs: []ID{yossi.ID}, Remember: true, By: admin.ID})
	if err != nil {
		t.Fatalf("AssignUnmatched: %v", err)
	}
	if len(ia.ContactIDs) != 1 || ia.ContactIDs[0] != yossi.ID || ia.OwnerIDs[0] != admin.ID || ia.Email.RawID == 0 {
		t.Errorf("interaction = %+v", ia)
	}
	if fmt.Sprint(also) != fmt.Sprint([]ID{pending[1]}) {
		t.Errorf("also resolved %v, want only the other no_contact message %d", also, pending[1])
	}
	if c, _ := s.ContactByEmail("new@example.org"); c == nil || c.ID != yossi.ID {
		t.Errorf("address not remembered on the contact")
	}
	for i, want := range []string{StatusResolved, StatusResolved, StatusPending, StatusPending} {
		if u, _ := s.GetUnmatched(pending[i]); u.Status != want {
			t.Errorf("message %d status %s, want %s", i, u.Status, want)
		}
	}
	// Resolved messages dedupe to their interaction now.
	dup, _ := s.Ingest(ctx, incoming("mid:1", nil, "no_contact"))
	if dup.Status != IngestDuplicate || dup.InteractionID == 0 {
		t.Errorf("re-delivery of a resolved message = %+v", dup)
	}
	if _, _, err := s.AssignUnmatched(ctx, pending[0], Assignment{ContactIDs: []ID{yossi.ID}}); !errors.Is(err, ErrConflict) {
		t.Errorf("second assign = %v, want ErrConflict", err)
	}
	// Create a contact from the address and assign, in one step.
	nc := &Contact{Name: "Someone", Emails: []string{"someone@else.org"}}
	if _, _, err := s.AssignUnmatched(ctx, other.UnmatchedID, Assignment{NewContact: nc, By: admin.ID}); err != nil {
		t.Fatalf("assign to a new contact: %v", err)
	}
	if c, err := s.ContactByEmail("someone@else.org"); err != nil || c.ID != nc.ID {
		t.Errorf("new contact = %v, %v", c, err)
	}
	// Bad assignments change nothing.
	if _, _, err := s.AssignUnmatched(ctx, pending[2], Assignment{}); err == nil {
		t.Error("assign with no contact accepted")
	}
	if _, _, err := s.AssignUnmatched(ctx, pending[2], Assignment{ContactIDs: []ID{999}}); err == nil {
		t.Error("assign to an unknown contact accepted")
	}
	bad := &Contact{Name: "Dup", Emails: []string{"someone@else.org"}}
	if _, _, err := s.AssignUnmatched(ctx, pending[2], Assignment{NewContact: bad}); !errors.Is(err, ErrConflict) {
		t.Errorf("new contact with a taken address = %v", err)
	}
	if err := s.DiscardUnmatched(ctx, pending[3], admin.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DiscardUnmatched(ctx, pending[3], admin.ID); !errors.Is(err, ErrConflict) {
		t.Errorf("second discard = %v", err)
	}
	list := func(f UnmatchedFilter) []ID {
		items, _, err := s.ListUnmatched(f, 100, "")
		if err != nil {
			t.Fatal(err)
		}
		var out []ID
		for _, u := range items {
			out = append(out, u.ID)
		}
		return out
	}
	if got := list(UnmatchedFilter{Statuses: []string{StatusPending}}); fmt.Sprint(got) != fmt.Sprint([]ID{pending[2]}) {
		t.Errorf("pending = %v", got)
	}
	if got := list(UnmatchedFilter{Statuses: []string{StatusDiscarded}}); fmt.Sprint(got) != fmt.Sprint([]ID{pending[3]}) {
		t.Errorf("discarded = %v", got)
	}
	if got := list(UnmatchedFilter{Reasons: []string{"no_contact"}}); len(got) != 3 {
		t.Errorf("no_contact in any status = %v, want 3", got)
	}
	if got := list(UnmatchedFilter{}); len(got) != 5 || got[0] != other.UnmatchedID {
		t.Errorf("all = %v, want 5 newest first", got)
	}
}

func TestListUnmatchedPages(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	for i := range 13 {
		s.Ingest(context.Background(), incoming(fmt.Sprint("mid:", i), nil, "no_contact"))
	}
	seen := map[ID]bool{}
	cur := ""
	for range 20 {
		items, next, err := s.ListUnmatched(UnmatchedFilter{}, 5, cur)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range items {
			if seen[u.ID] {
				t.Fatalf("%d twice", u.ID)
			}
			seen[u.ID] = true
		}
		if next == "" {
			break
		}
		cur = next
	}
	if len(seen) != 13 {
		t.Errorf("paged %d, want 13", len(seen))
	}
}

func TestIngestBatchMovesTheCursorAtomically(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	c := mustContact(t, s, Contact{Name: "Yossi"})
	if cur, err := s.MailboxCursor("office"); err != nil || cur != (MailboxCursor{}) {
		t.Fatalf("new mailbox cursor = %+v, %v", cur, err)
	}
	batch := []*Incoming{incoming("mid:1", []ID{c.ID}, ""), incoming("mid:2", nil, "no_contact"), incoming("mid:1", []ID{c.ID}, "")}
	res, err := s.IngestBatch(ctx, batch, "office", MailboxCursor{UIDValidity: 7, UID: 3})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != IngestLogged || res[1].Status != IngestUnmatched || res[2].Status != IngestDuplicate {
		t.Errorf("results = %+v", res)
	}
	if cur, _ := s.MailboxCursor("office"); cur != (MailboxCursor{7, 3}) {
		t.Errorf("cursor = %+v", cur)
	}
	// A batch that fails writes nothing, cursor included.
	bad := incoming("", nil, "no_contact")
	if _, err := s.IngestBatch(ctx, []*Incoming{incoming("mid:3", nil, "no_contact"), bad}, "office", MailboxCursor{7, 9}); err == nil {
		t.Fatal("batch with an invalid message succeeded")
	}
	if cur, _ := s.MailboxCursor("office"); cur != (MailboxCursor{7, 3}) {
		t.Errorf("cursor moved by a failed batch: %+v", cur)
	}
	if err := s.ResetMailbox(ctx, "office", 8); err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.MailboxCursor("office"); cur != (MailboxCursor{8, 0}) {
		t.Errorf("cursor after reset = %+v", cur)
	}
}
