package seed

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"touchpoint/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "seed.db"), store.Options{NoSync: true, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// timelineLen pages through a contact's whole timeline.
func timelineLen(t *testing.T, s *store.Store, id store.ID) int {
	t.Helper()
	n, cur := 0, ""
	for {
		items, next, err := s.Timeline(id, store.MaxLimit, cur)
		if err != nil {
			t.Fatalf("Timeline(%d): %v", id, err)
		}
		n += len(items)
		if next == "" {
			return n
		}
		cur = next
	}
}

func TestGenerate(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	o := Options{Contacts: 200, Interactions: 2000, Users: 5, Seed: 1, BatchSize: 300}
	var calls, lastDone, lastTotal int
	res, err := Generate(context.Background(), s, o, func(done, total int) {
		if done < lastDone {
			t.Errorf("progress went back from %d to %d", lastDone, done)
		}
		calls, lastDone, lastTotal = calls+1, done, total
	})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	if want := 5 + 200 + 2000; calls == 0 || lastDone != want || lastTotal != want {
		t.Errorf("last progress = %d/%d after %d calls, want %d/%d", lastDone, lastTotal, calls, want, want)
	}
	if len(res.Users) != 5 || len(res.Contacts) != 200 || res.Interactions != 2000 {
		t.Errorf("Result has %d users, %d contacts, %d interactions; want 5, 200, 2000", len(res.Users), len(res.Contacts), res.Interactions)
	}
	if n, _ := s.CountContacts(); n != 200 {
		t.Errorf("CountContacts = %d, want 200", n)
	}
	if n, _ := s.CountInteractions(); n != 2000 {
		t.Errorf("CountInteractions = %d, want 2000", n)
	}

	busiest := timelineLen(t, s, res.Busiest)
	if busiest < 2000/100 {
		t.Errorf("busiest contact has %d interactions, want at least 1%% (20)", busiest)
	}
	for _, id := range res.Contacts {
		if n := timelineLen(t, s, id); id != res.Busiest && n >= busiest {
			t.Errorf("contact %d has %d interactions, busiest %d has %d", id, n, res.Busiest, busiest)
		}
	}

	orgs, members := 0, 0
	for _, id := range res.Contacts {
		c, err := s.GetContact(id)
		if err != nil {
			t.Fatalf("GetContact(%d): %v", id, err)
		}
		switch {
		case c.Kind == store.KindOrganization:
			orgs++
			if len(c.Domains) < 1 || len(c.Domains) > 2 {
				t.Errorf("organisation %q has domains %v, want 1 or 2", c.Name, c.Domains)
			}
		case len(c.Emails) < 1 || len(c.Emails) > 3:
			t.Errorf("person %q has emails %v, want 1 to 3", c.Name, c.Emails)
		case c.OrganizationID != 0:
			members++
		}
	}
	if orgs != 10 || members < 60 || members > 130 {
		t.Errorf("%d organisations with %d members, want 10 and about 95", orgs, members)
	}

	types := map[string]int{}
	multi, rare := 0, 0
	o, _ = o.withDefaults()
	err = s.ExportInteractions(store.Filter{}, func(ia *store.Interaction, _ []*store.ExportContact) error {
		types[ia.Type]++
		if len(ia.ContactIDs) > 1 {
			multi++
		}
		if strings.Contains(ia.Details, RareWord) {
			rare++
		}
		if n := utf8.RuneCountInString(ia.Title); n < 20 || n > 80 {
			t.Errorf("title %q has %d characters, want 20 to 80", ia.Title, n)
		}
		if n := utf8.RuneCountInString(ia.Details); n > 600 {
			t.Errorf("details of %d have %d characters, want at most 600", ia.ID, n)
		}
		if ia.OccurredAt.Before(o.Start) || !ia.OccurredAt.Before(o.End) {
			t.Errorf("occurred_at %v outside [%v, %v)", ia.OccurredAt, o.Start, o.End)
		}
		if len(ia.OwnerIDs) < 1 || len(ia.OwnerIDs) > 2 || len(ia.Actions) > 3 {
			t.Errorf("interaction %d has %d owners and %d actions", ia.ID, len(ia.OwnerIDs), len(ia.Actions))
		}
		if (ia.Type == "Email") != (ia.Email != nil) {
			t.Errorf("%s interaction %d has email %v", ia.Type, ia.ID, ia.Email)
		}
		if m := ia.Email; m != nil && (m.MessageID == "" || m.From == "" || len(m.To) == 0 || m.Subject != ia.Title) {
			t.Errorf("email of %d is incomplete: %+v", ia.ID, m)
		}
		if ia.Type == "Visit" && ia.Address == "" {
			t.Errorf("visit %d has no address", ia.ID)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ExportInteractions: %v", err)
	}
	for typ, n := range types {
		if typ != "Email" && n >= types["Email"] {
			t.Errorf("%d %s interactions, %d Email: Email should be the most common", n, typ, types["Email"])
		}
	}
	if types["Call"] <= types["Meeting"] || len(types) < 8 {
		t.Errorf("types = %v, want Call above Meeting and custom types", types)
	}
	if multi < 40 || multi > 180 {
		t.Errorf("%d of 2000 interactions on several contacts, want about 5%%", multi)
	}
	if rare == 0 || rare > 40 {
		t.Errorf("%d of 2000 interactions mention %q, want a few", rare, RareWord)
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// fingerprint renders a store's contents without what the store assigns
// (ids, timestamps), naming records by their position in res.
func fingerprint(t *testing.T, s *store.Store, res *Result) string {
	t.Helper()
	ref := func(list []store.ID, ids []store.ID) []int {
		out := make([]int, len(ids))
		for i, id := range ids {
			out[i] = slices.Index(list, id)
		}
		return out
	}
	var b strings.Builder
	for _, id := range res.Contacts {
		c, err := s.GetContact(id)
		if err != nil {
			t.Fatalf("GetContact: %v", err)
		}
		fmt.Fprintf(&b, "%s %s %v %v %v %v %q\n", c.Kind, c.Name, c.Emails, c.Domains, c.Phones,
			ref(res.Contacts, []store.ID{c.OrganizationID}), c.Address)
	}
	err := s.ExportInteractions(store.Filter{}, func(ia *store.Interaction, _ []*store.ExportContact) error {
		fmt.Fprintf(&b, "%v %v %s %v %q %q %d %v %q %q %s %v\n", ia.OccurredAt, ref(res.Contacts, ia.ContactIDs),
			ia.Type, ia.Actions, ia.Title, ia.Details, ia.DurationMinutes, ref(res.Users, ia.OwnerIDs),
			ia.Location, ia.Address, ia.Source, ia.Email)
		return nil
	})
	if err != nil {
		t.Fatalf("ExportInteractions: %v", err)
	}
	return b.String()
}

func TestGenerateDeterministic(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) string {
		s := openStore(t)
		res, err := Generate(context.Background(), s, Options{Contacts: 40, Interactions: 300, Users: 3, Seed: seed, BatchSize: 64}, nil)
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		return fingerprint(t, s, res)
	}
	a, b, c := run(7), run(7), run(8)
	if a != b {
		t.Errorf("two runs with seed 7 differ")
	}
	if a == c {
		t.Errorf("seeds 7 and 8 generate the same data")
	}
}

func TestGenerateOptions(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	tests := []struct {
		name string
		o    Options
	}{
		{"no contacts", Options{}},
		{"negative interactions", Options{Contacts: 10, Interactions: -1}},
		{"all organisations", Options{Contacts: 10, Organizations: 10}},
		{"empty period", Options{Contacts: 10, Start: referenceEnd, End: referenceEnd}},
	}
	for _, tt := range tests {
		if _, err := Generate(context.Background(), s, tt.o, nil); err == nil {
			t.Errorf("%s: Generate(%+v) = nil error, want one", tt.name, tt.o)
		}
	}
	res, err := Generate(context.Background(), s, Options{Contacts: 3, Users: 1}, nil)
	if err != nil || len(res.Contacts) != 3 || res.Interactions != 0 || res.Busiest != 0 {
		t.Fatalf("Generate(3 contacts, no interactions) = %+v, %v", res, err)
	}
}

func TestGenerateCancelled(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Generate(ctx, s, Options{Contacts: 50, Interactions: 5000, Users: 2, BatchSize: 100}, func(done, total int) {
		if done > 1000 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Generate after cancel = %v, want context.Canceled", err)
	}
	if err := s.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}
