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

// exportFixture makes n interactions over a few contacts, some on two.
func exportFixture(t *testing.T, n int) (*Store, []*Contact) {
	t.Helper()
	s := openTest(t)
	var cs []*Contact
	for i := range 7 {
		c := Contact{Name: fmt.Sprintf("Contact %d", i)}
		if i%2 == 0 {
			c.Emails = []string{fmt.Sprintf("c%d@example.com", i), fmt.Sprintf("second%d@example.org", i)}
			c.Phones = []string{fmt.Sprintf("+1 555 010%d", i), "+1 555 0199"}
		}
		cs = append(cs, mustContact(t, s, c))
	}
	items := make([]*Interaction, n)
	for i := range items {
		ids := []ID{cs[i%len(cs)].ID}
		if i%3 == 0 {
			ids = append(ids, cs[(i+1)%len(cs)].ID)
		}
		items[i] = &Interaction{ContactIDs: ids, Type: []string{"Call", "Visit"}[i%2],
			OccurredAt: day("2026-01-01").Add(time.Duration(i*37%n) * time.Hour), Title: fmt.Sprintf("row %d", i)}
	}
	if err := s.CreateInteractions(context.Background(), items); err != nil {
		t.Fatal(err)
	}
	return s, cs
}

// TestExportInteractions: the export hands over, in order, exactly what
// paging the list gives, each interaction with its own contacts, across
// several of the walk's batches.
func TestExportInteractions(t *testing.T) {
	t.Parallel()
	s, cs := exportFixture(t, 3*exportBatch+17)
	byID := map[ID]*Contact{}
	for _, c := range cs {
		byID[c.ID] = c
	}
	for _, f := range []Filter{{}, {Types: []string{"Visit"}}, {None: true}} {
		want, _, err := listAll(s, f, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []*Interaction
		err = s.ExportInteractions(f, func(ia *Interaction, contacts []*ExportContact) error {
			var cids []ID
			for _, c := range contacts {
				cids = append(cids, c.ID)
				full := byID[c.ID]
				if full == nil || c.Name != full.Name || c.Email != firstOf(full.Emails) || c.Phone != firstOf(full.Phones) {
					return fmt.Errorf("contact %+v, want the name, first email and first phone of %+v", c, full)
				}
			}
			if !slices.Equal(cids, ia.ContactIDs) {
				return fmt.Errorf("%d: contacts %v, want %v", ia.ID, cids, ia.ContactIDs)
			}
			got = append(got, ia)
			return nil
		})
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		if fmt.Sprint(ids(got)) != fmt.Sprint(ids(want)) {
			t.Errorf("%+v: export gave %d rows, the list %d, or another order", f, len(got), len(want))
		}
	}
}

// TestExportStops: an error or a panic in fn stops the walk and closes its
// read transaction before ExportInteractions returns, so the store can be
// compacted and closed at once (an open read transaction would block both).
func TestExportStops(t *testing.T) {
	t.Parallel()
	s, _ := exportFixture(t, 4*exportBatch)
	boom := errors.New("client went away")
	rows := 0
	err := s.ExportInteractions(Filter{}, func(*Interaction, []*ExportContact) error {
		rows++
		if rows == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || rows != 10 {
		t.Fatalf("err %v after %d rows, want %v after 10", err, rows, boom)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the panic in fn did not come through")
			}
		}()
		_ = s.ExportInteractions(Filter{}, func(*Interaction, []*ExportContact) error { panic("writer broke") })
	}()
	// A panic in the walk itself (bbolt panics on a damaged page) is the
	// export's error, not the end of the process.
	s.exportWalkHook = func(ia *Interaction) {
		if ia.Title == "row 7" {
			panic("invalid page type")
		}
	}
	err = s.ExportInteractions(Filter{}, func(*Interaction, []*ExportContact) error { return nil })
	s.exportWalkHook = nil
	if err == nil || !strings.Contains(err.Error(), "invalid page type") {
		t.Errorf("a panic in the walk gave %v, want it as the error", err)
	}
	if got := s.db.Stats().OpenTxN; got != 0 {
		t.Errorf("%d read transactions still open after the exports returned", got)
	}
}

func firstOf(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
