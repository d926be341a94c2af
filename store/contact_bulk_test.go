package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"testing"
)

// people makes n people of org, with a name and an address each; the
// addresses sort all over the index, as real ones do.
func people(n int, org ID, tag string) []*Contact {
	out := make([]*Contact, n)
	for i := range out {
		h := fnv.New32a()
		fmt.Fprintf(h, "%s%d", tag, i)
		out[i] = &Contact{Name: fmt.Sprintf("Person %s%d Levi", tag, i), OrganizationID: org,
			Emails: []string{fmt.Sprintf("%08x.p%s%d@example.org", h.Sum32(), tag, i)}}
	}
	return out
}

// TestCreateContacts: a batch is stored whole and found by every index;
// an invalid contact, or a conflict with a stored contact or with another
// of the batch, names the contact by its index and stores none.
func TestCreateContacts(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	org := mustContact(t, s, Contact{Kind: KindOrganization, Name: "Acme", Domains: []string{"acme.com"}})
	batch := people(300, org.ID, "a")
	if err := s.CreateContacts(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Contact{batch[0], batch[299]} {
		got, err := s.ContactByEmail(c.Emails[0])
		if err != nil || got.ID != c.ID || got.Name != c.Name || got.CreatedAt.IsZero() {
			t.Fatalf("ContactByEmail(%s) = %+v, %v", c.Emails[0], got, err)
		}
	}
	found, _, err := s.SearchContacts("Pa299", 10, "")
	if err != nil || len(found) != 1 || found[0].ID != batch[299].ID {
		t.Fatalf("SearchContacts = %v, %v", found, err)
	}

	for name, tc := range map[string]struct {
		batch []*Contact
		field string
		is    error
	}{
		"invalid": {append(people(3, 0, "b"), &Contact{Name: " "}), "[3].name", nil},
		"stored":  {append(people(2, 0, "c"), &Contact{Name: "Again", Emails: []string{batch[7].Emails[0]}}), "[2].emails", ErrConflict},
		"batch":   {append(people(2, 0, "d"), &Contact{Name: "Twice", Emails: people(2, 0, "d")[1].Emails}), "[2].emails", ErrConflict},
	} {
		err := s.CreateContacts(ctx, tc.batch)
		var ve *ValidationError
		var ce *ConflictError
		switch {
		case tc.is == nil && (!errors.As(err, &ve) || ve.Field != tc.field):
			t.Errorf("%s: %v, want a validation error on %s", name, err, tc.field)
		case tc.is != nil && (!errors.Is(err, tc.is) || !errors.As(err, &ce) || ce.Field != tc.field):
			t.Errorf("%s: %v, want a conflict on %s", name, err, tc.field)
		case name == "batch" && !strings.Contains(err.Error(), "[1] of this batch"):
			t.Errorf("%s: %v, want the other contact named by its index", name, err)
		case name == "stored" && !strings.Contains(err.Error(), fmt.Sprint(batch[7].ID)):
			t.Errorf("%s: %v, want the stored contact named", name, err)
		}
		if _, err := s.ContactByEmail(tc.batch[0].Emails[0]); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: the batch's first contact was stored (%v)", name, err)
		}
	}
	if n, err := s.CountContacts(); err != nil || n != 301 {
		t.Errorf("%d contacts, want 301 (%v)", n, err)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

// TestCreateContactsFill: a batch as large as the contacts stored gets
// its index entries on packed pages; small batches scattered over a large
// index do not leave near-empty pages behind (full pages would split into
// a full one and one of a few entries, 15% in use at 100k).
func TestCreateContactsFill(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	fill := func() float64 {
		t.Helper()
		sizes, err := s.Sizes()
		if err != nil {
			t.Fatal(err)
		}
		for _, bs := range sizes {
			if bs.Name == string(ixContactEmail) {
				return float64(bs.InuseBytes) / float64(bs.PageBytes)
			}
		}
		t.Fatal("no ix_contact_email")
		return 0
	}
	if err := s.CreateContacts(ctx, people(6000, 0, "a")); err != nil {
		t.Fatal(err)
	}
	if f := fill(); f < 0.9 {
		t.Errorf("one batch into an empty index: %.0f%% of its pages in use, want ≥ 90%%", 100*f)
	}
	for i := range 30 {
		if err := s.CreateContacts(ctx, people(20, 0, fmt.Sprintf("b%d-", i))); err != nil {
			t.Fatal(err)
		}
	}
	if f := fill(); f < 0.5 {
		t.Errorf("after small batches: %.0f%% of the index's pages in use, want ≥ 50%%", 100*f)
	}
}
