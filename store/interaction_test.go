package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestInteractionCreateDefaultsAndVocab(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	c := mustContact(t, s, Contact{Name: "Yossi"})
	before := time.Now().UTC()
	ia := mustInteraction(t, s, Interaction{ContactIDs: []ID{c.ID, c.ID}, Type: "call", Actions: []string{"tefillin", "Shabbat meal", "TEFILLIN"}})
	if ia.Type != "Call" {
		t.Errorf("type = %q, want the list's spelling Call", ia.Type)
	}
	if fmt.Sprint(ia.Actions) != "[Tefillin Shabbat meal]" {
		t.Errorf("actions = %v, want [Tefillin Shabbat meal]", ia.Actions)
	}
	if len(ia.ContactIDs) != 1 || ia.Source != SourceManual || ia.OccurredAt.Before(before) {
		t.Errorf("defaults not applied: %+v", ia)
	}
	actions, _ := s.Vocab(VocabAction)
	if !slices.Contains(actions, "Shabbat meal") {
		t.Errorf("new action not added to the list: %v", actions)
	}
	custom := mustInteraction(t, s, Interaction{ContactIDs: []ID{c.ID}, Type: "Hospital visit"})
	types, _ := s.Vocab(VocabType)
	if !slices.Contains(types, custom.Type) || len(types) != len(DefaultTypes)+1 {
		t.Errorf("types = %v, want defaults plus Hospital visit", types)
	}
	got, err := s.GetInteraction(ia.ID)
	if err != nil || got.Type != "Call" || !got.CreatedAt.Equal(ia.CreatedAt) {
		t.Fatalf("GetInteraction = %+v, %v", got, err)
	}
}

func TestInteractionValidation(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	c := mustContact(t, s, Contact{Name: "Yossi"})
	ok := func() Interaction { return Interaction{ContactIDs: []ID{c.ID}, Type: "Call"} }
	tests := []struct {
		name  string
		edit  func(*Interaction)
		field string
	}{
		{"no contacts", func(ia *Interaction) { ia.ContactIDs = nil }, "contact_ids"},
		{"unknown contact", func(ia *Interaction) { ia.ContactIDs = []ID{999} }, "contact_ids"},
		{"no type", func(ia *Interaction) { ia.Type = " " }, "type"},
		{"long type", func(ia *Interaction) { ia.Type = strings.Repeat("x", MaxLabelLen+1) }, "type"},
		{"multi-line action", func(ia *Interaction) { ia.Actions = []string{"a\nb"} }, "actions"},
		{"unknown owner", func(ia *Interaction) { ia.OwnerIDs = []ID{42} }, "owner_ids"},
		{"negative duration", func(ia *Interaction) { ia.DurationMinutes = -5 }, "duration_minutes"},
		{"year 1800", func(ia *Interaction) { ia.OccurredAt = time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC) }, "occurred_at"},
		{"bad source", func(ia *Interaction) { ia.Source = "fax" }, "source"},
		{"huge details", func(ia *Interaction) { ia.Details = strings.Repeat("x", MaxDetailsLen+1) }, "details"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ia := ok()
			tt.edit(&ia)
			err := s.CreateInteraction(context.Background(), &ia)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("CreateInteraction = %v, want a validation error on %s", err, tt.field)
			}
		})
	}
	if n, _ := s.CountInteractions(); n != 0 {
		t.Errorf("%d interactions written by failed creates", n)
	}
}

func TestInteractionUpdateAndDelete(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	a := mustContact(t, s, Contact{Name: "A"})
	b := mustContact(t, s, Contact{Name: "B"})
	u := mustUser(t, s, "Sarah", "sarah@org.org", RoleStaff)
	ia := mustInteraction(t, s, Interaction{ContactIDs: []ID{a.ID}, Type: "Call", Actions: []string{"Neshek"}, OccurredAt: day("2026-03-01")})
	got, err := s.UpdateInteraction(ctx, ia.ID, nil, func(x *Interaction) error {
		x.ContactIDs = []ID{b.ID}
		x.Type = "Visit"
		x.Actions = []string{"Discussion"}
		x.OwnerIDs = []ID{u.ID}
		x.OccurredAt = day("2025-01-01")
		x.Source = SourceSMTP // not editable
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateInteraction: %v", err)
	}
	if got.Source != SourceManual || !got.UpdatedAt.After(got.CreatedAt) && !got.UpdatedAt.Equal(got.CreatedAt) {
		t.Errorf("update changed what it must not: %+v", got)
	}
	for _, f := range []Filter{{ContactIDs: []ID{a.ID}}, {Types: []string{"call"}}, {Actions: []string{"neshek"}}, {From: day("2026-01-01")}} {
		if items, _, _ := s.ListInteractions(f, 10, ""); len(items) != 0 {
			t.Errorf("old index entry still found with %+v", f)
		}
	}
	for _, f := range []Filter{{ContactIDs: []ID{b.ID}}, {Types: []string{"visit"}}, {Actions: []string{"discussion"}}, {OwnerIDs: []ID{u.ID}}, {To: day("2025-01-02")}} {
		if items, _, _ := s.ListInteractions(f, 10, ""); len(items) != 1 {
			t.Errorf("new index entry missing with %+v", f)
		}
	}
	deny := errors.New("not yours")
	if err := s.DeleteInteraction(ctx, ia.ID, func(*Interaction) error { return deny }); !errors.Is(err, deny) {
		t.Fatalf("vetoed delete = %v", err)
	}
	if err := s.DeleteInteraction(ctx, ia.ID, nil); err != nil {
		t.Fatalf("DeleteInteraction: %v", err)
	}
	if _, err := s.GetInteraction(ia.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted interaction found: %v", err)
	}
	if _, err := s.UpdateInteraction(ctx, ia.ID, nil, func(*Interaction) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of deleted = %v, want ErrNotFound", err)
	}
}

func TestTimelinePaging(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	c := mustContact(t, s, Contact{Name: "Busy"})
	other := mustContact(t, s, Contact{Name: "Other"})
	base := day("2026-01-01")
	for i := range 23 {
		// Several at the same instant, to test the id tie-break.
		mustInteraction(t, s, Interaction{ContactIDs: []ID{c.ID}, Type: "Call", OccurredAt: base.Add(time.Duration(i/3) * time.Hour), Title: fmt.Sprint(i)})
		mustInteraction(t, s, Interaction{ContactIDs: []ID{other.ID}, Type: "Call", OccurredAt: base.Add(time.Duration(i) * time.Hour)})
	}
	var got []*Interaction
	cur := ""
	for range 10 {
		page, next, err := s.Timeline(c.ID, 5, cur)
		if err != nil {
			t.Fatalf("Timeline: %v", err)
		}
		got = append(got, page...)
		if next == "" {
			break
		}
		cur = next
	}
	if len(got) != 23 {
		t.Fatalf("timeline has %d items, want 23", len(got))
	}
	for i := 1; i < len(got); i++ {
		a, b := got[i-1], got[i]
		if a.OccurredAt.Before(b.OccurredAt) || a.OccurredAt.Equal(b.OccurredAt) && a.ID < b.ID {
			t.Fatalf("not newest first at %d: %v/%d then %v/%d", i, a.OccurredAt, a.ID, b.OccurredAt, b.ID)
		}
		if a.ContactIDs[0] != c.ID {
			t.Fatalf("another contact's interaction in the timeline")
		}
	}
	if _, _, err := s.Timeline(c.ID, 5, "garbage"); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
}

// TestFilterAgainstBruteForce builds random data and checks that every
// combination of filters returns exactly what a scan of all interactions
// selects, in order, across pages.
func TestFilterAgainstBruteForce(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	rng := rand.New(rand.NewPCG(1, 2))
	var contacts []ID
	for i := range 12 {
		contacts = append(contacts, mustContact(t, s, Contact{Name: fmt.Sprintf("Contact %d", i)}).ID)
	}
	var users []ID
	for i := range 4 {
		users = append(users, mustUser(t, s, fmt.Sprintf("User %d", i), fmt.Sprintf("u%d@org.org", i), RoleStaff).ID)
	}
	types := []string{"Call", "Visit", "Email", "Meeting"}
	actions := []string{"Tefillin", "Neshek", "Discussion"}
	words := []string{"class", "shabbat", "donation", "visit", "hello"}
	var all []*Interaction
	for range 400 {
		ia := Interaction{
			ContactIDs: pickIDs(rng, contacts, 1+rng.IntN(3)),
			Type:       types[rng.IntN(len(types))],
			Actions:    pickStrs(rng, actions, rng.IntN(3)),
			OwnerIDs:   pickIDs(rng, users, rng.IntN(3)),
			Source:     []string{SourceManual, SourceSMTP, SourceAPI}[rng.IntN(3)],
			OccurredAt: day("2026-01-01").Add(time.Duration(rng.IntN(200*24)) * time.Hour),
			Title:      words[rng.IntN(len(words))] + " " + words[rng.IntN(len(words))],
		}
		all = append(all, mustInteraction(t, s, ia))
	}
	// Some edits and deletes, so the indexes have history.
	for i := 0; i < 40; i++ {
		ia := all[rng.IntN(len(all))]
		if ia == nil {
			continue
		}
		if i%2 == 0 {
			if err := s.DeleteInteraction(context.Background(), ia.ID, nil); err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
		} else {
			if _, err := s.UpdateInteraction(context.Background(), ia.ID, nil, func(x *Interaction) error {
				x.Type = types[rng.IntN(len(types))]
				x.OccurredAt = x.OccurredAt.Add(-time.Duration(rng.IntN(1000)) * time.Hour)
				return nil
			}); err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
		}
	}
	everything, _, err := listAll(s, Filter{}, 500)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		f := randomFilter(rng, contacts, users, types, actions, words)
		want := bruteForce(everything, f)
		got, pages, err := listAll(s, f, 1+rng.IntN(20))
		if err != nil {
			t.Fatalf("case %d %+v: %v", i, f, err)
		}
		if fmt.Sprint(ids(got)) != fmt.Sprint(ids(want)) {
			t.Fatalf("case %d %+v (%d pages):\n got %v\nwant %v", i, f, pages, ids(got), ids(want))
		}
	}
}

func listAll(s *Store, f Filter, limit int) ([]*Interaction, int, error) {
	var out []*Interaction
	cur := ""
	for pages := 1; ; pages++ {
		page, next, err := s.ListInteractions(f, limit, cur)
		if err != nil {
			return nil, pages, err
		}
		out = append(out, page...)
		if next == "" {
			return out, pages, nil
		}
		if pages > 10000 {
			return nil, pages, errors.New("paging does not end")
		}
		cur = next
	}
}

func ids(items []*Interaction) []ID {
	out := make([]ID, len(items))
	for i, ia := range items {
		out[i] = ia.ID
	}
	return out
}

func pickIDs(rng *rand.Rand, from []ID, n int) []ID {
	out := make([]ID, 0, n)
	for range n {
		out = append(out, from[rng.IntN(len(from))])
	}
	return out
}

func pickStrs(rng *rand.Rand, from []string, n int) []string {
	out := make([]string, 0, n)
	for range n {
		out = append(out, from[rng.IntN(len(from))])
	}
	return out
}

func randomFilter(rng *rand.Rand, contacts, users []ID, types, actions, words []string) Filter {
	var f Filter
	lower := func(in []string) []string {
		for i := range in {
			in[i] = strings.ToLower(in[i])
		}
		return in
	}
	if rng.IntN(3) == 0 {
		f.ContactIDs = pickIDs(rng, contacts, 1+rng.IntN(2))
	}
	if rng.IntN(4) == 0 {
		f.OwnerIDs = pickIDs(rng, users, 1+rng.IntN(2))
	}
	if rng.IntN(3) == 0 {
		f.Types = lower(pickStrs(rng, types, 1+rng.IntN(2)))
	}
	if rng.IntN(3) == 0 {
		f.Actions = lower(pickStrs(rng, actions, 1))
	}
	if rng.IntN(5) == 0 {
		f.Sources = []string{SourceSMTP}
	}
	if rng.IntN(5) == 0 {
		f.NotTypes = lower(pickStrs(rng, types, 1))
	}
	if rng.IntN(6) == 0 {
		f.NotActions = lower(pickStrs(rng, actions, 1))
	}
	if rng.IntN(6) == 0 {
		f.NotContactIDs = pickIDs(rng, contacts, 1)
	}
	if rng.IntN(3) == 0 {
		f.From = day("2026-01-01").AddDate(0, 0, rng.IntN(200))
	}
	if rng.IntN(3) == 0 {
		f.To = day("2026-01-01").AddDate(0, 0, rng.IntN(200))
	}
	if rng.IntN(4) == 0 {
		f.Text = []string{words[rng.IntN(len(words))]}
	}
	if rng.IntN(8) == 0 {
		f.NotText = []string{words[rng.IntN(len(words))]}
	}
	return f
}

// bruteForce is the specification of Filter, written as plainly as possible.
func bruteForce(all []*Interaction, f Filter) []*Interaction {
	anyID := func(have, want []ID) bool {
		return slices.ContainsFunc(have, func(id ID) bool { return slices.Contains(want, id) })
	}
	anyStr := func(have, want []string) bool {
		return slices.ContainsFunc(have, func(s string) bool { return slices.Contains(want, strings.ToLower(s)) })
	}
	var out []*Interaction
	for _, ia := range all {
		text := strings.ToLower(ia.Title)
		ok := (len(f.ContactIDs) == 0 || anyID(ia.ContactIDs, f.ContactIDs)) &&
			(len(f.OwnerIDs) == 0 || anyID(ia.OwnerIDs, f.OwnerIDs)) &&
			(len(f.Types) == 0 || anyStr([]string{ia.Type}, f.Types)) &&
			(len(f.Actions) == 0 || anyStr(ia.Actions, f.Actions)) &&
			(len(f.Sources) == 0 || anyStr([]string{ia.Source}, f.Sources)) &&
			!anyID(ia.ContactIDs, f.NotContactIDs) &&
			!anyStr([]string{ia.Type}, f.NotTypes) &&
			!anyStr(ia.Actions, f.NotActions) &&
			(f.From.IsZero() || !ia.OccurredAt.Before(f.From)) &&
			(f.To.IsZero() || ia.OccurredAt.Before(f.To)) &&
			!slices.ContainsFunc(f.Text, func(w string) bool { return !strings.Contains(text, w) }) &&
			!slices.ContainsFunc(f.NotText, func(w string) bool { return strings.Contains(text, w) })
		if ok {
			out = append(out, ia)
		}
	}
	return out
}
