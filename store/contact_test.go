package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func TestContactCreateValidates(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	org := mustContact(t, s, Contact{Kind: KindOrganization, Name: "Acme", Domains: []string{"@Acme.COM"}})
	if org.Domains[0] != "acme.com" {
		t.Errorf("domain = %q, want acme.com", org.Domains[0])
	}
	tests := []struct {
		name  string
		c     Contact
		field string
	}{
		{"no name", Contact{Name: "  "}, "name"},
		{"bad kind", Contact{Kind: "robot", Name: "R2"}, "kind"},
		{"bad email", Contact{Name: "A", Emails: []string{"not-an-address"}}, "emails"},
		{"person with domain", Contact{Name: "A", Domains: []string{"a.com"}}, "domains"},
		{"bad phone", Contact{Name: "A", Phones: []string{"call me"}}, "phones"},
		{"org in org", Contact{Kind: KindOrganization, Name: "B", OrganizationID: org.ID}, "organization_id"},
		{"unknown org", Contact{Name: "A", OrganizationID: 12345}, "organization_id"},
		{"control char", Contact{Name: "A\x00B"}, "name"},
		{"too many emails", Contact{Name: "A", Emails: manyEmails(MaxListLen + 1)}, "emails"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreateContact(ctx, &tt.c)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.field {
				t.Fatalf("CreateContact = %v, want a validation error on %s", err, tt.field)
			}
		})
	}
}

func manyEmails(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("p%d@example.org", i)
	}
	return out
}

func TestContactUniqueAddresses(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	a := mustContact(t, s, Contact{Name: "Yossi", Emails: []string{"Yossi@Example.org", "yossi@example.org"}})
	if len(a.Emails) != 1 || a.Emails[0] != "yossi@example.org" {
		t.Fatalf("emails = %v, want one lowercase address", a.Emails)
	}
	err := s.CreateContact(ctx, &Contact{Name: "Other", Emails: []string{"YOSSI@example.org"}})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate email: err = %v, want ErrConflict", err)
	}
	mustContact(t, s, Contact{Kind: KindOrganization, Name: "Acme", Domains: []string{"acme.com"}})
	if err := s.CreateContact(ctx, &Contact{Kind: KindOrganization, Name: "Acme 2", Domains: []string{"ACME.com"}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("duplicate domain: err = %v, want ErrConflict", err)
	}
	// Updating a contact keeps its own address without conflicting.
	if _, err := s.UpdateContact(ctx, a.ID, func(c *Contact) error { c.Phones = []string{"+972 50 123 4567"}; return nil }); err != nil {
		t.Fatalf("UpdateContact: %v", err)
	}
	got, err := s.ContactByEmail(" yossi@EXAMPLE.org ")
	if err != nil || got.ID != a.ID {
		t.Fatalf("ContactByEmail = %v, %v; want %d", got, err, a.ID)
	}
	org, err := s.OrganizationByDomain("Acme.Com")
	if err != nil || org.Name != "Acme" {
		t.Fatalf("OrganizationByDomain = %v, %v", org, err)
	}
}

func TestContactUpdateMovesIndexes(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	a := mustContact(t, s, Contact{Name: "David Levi", Emails: []string{"david@old.org"}})
	_, err := s.UpdateContact(ctx, a.ID, func(c *Contact) error {
		c.Name = "Dovid Levine"
		c.Emails = []string{"dovid@new.org"}
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateContact: %v", err)
	}
	if _, err := s.ContactByEmail("david@old.org"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old address still found: %v", err)
	}
	if c, err := s.ContactByEmail("dovid@new.org"); err != nil || c.Name != "Dovid Levine" {
		t.Errorf("new address: %v, %v", c, err)
	}
	if got, _, _ := s.SearchContacts("david", 10, ""); len(got) != 0 {
		t.Errorf("search for old name found %d contacts", len(got))
	}
	if got, _, _ := s.SearchContacts("levine", 10, ""); len(got) != 1 {
		t.Errorf("search for new name found %d contacts, want 1", len(got))
	}
	// A third contact can now take the freed address.
	mustContact(t, s, Contact{Name: "New David", Emails: []string{"david@old.org"}})
}

func TestSearchContacts(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	acme := mustContact(t, s, Contact{Kind: KindOrganization, Name: "Acme Widgets", Domains: []string{"acme.com"}})
	mustContact(t, s, Contact{Name: "Sarah Cohen", Emails: []string{"sarah@acme.com"}, OrganizationID: acme.ID})
	mustContact(t, s, Contact{Name: "Sara Levi", Emails: []string{"sl@gmail.com"}})
	mustContact(t, s, Contact{Name: "Moshe Cohen", Emails: []string{"moshe@example.org"}})
	tests := []struct {
		q    string
		want []string
	}{
		{"sar", []string{"Sara Levi", "Sarah Cohen"}},
		{"cohen", []string{"Moshe Cohen", "Sarah Cohen"}},
		{"sarah coh", []string{"Sarah Cohen"}},
		{"ACME", []string{"Acme Widgets", "Sarah Cohen"}},
		{"gmail.com", []string{"Sara Levi"}},
		{"moshe@example.org", []string{"Moshe Cohen"}},
		{"nobody", nil},
	}
	for _, tt := range tests {
		got, _, err := s.SearchContacts(tt.q, 10, "")
		if err != nil {
			t.Fatalf("SearchContacts(%q): %v", tt.q, err)
		}
		var names []string
		for _, c := range got {
			names = append(names, c.Name)
		}
		if fmt.Sprint(names) != fmt.Sprint(tt.want) {
			t.Errorf("SearchContacts(%q) = %v, want %v", tt.q, names, tt.want)
		}
	}
	members, err := s.Members(acme.ID)
	if err != nil || len(members) != 1 || members[0].Name != "Sarah Cohen" {
		t.Errorf("Members = %v, %v", members, err)
	}
}

func TestListContactsPages(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	for i := range 25 {
		mustContact(t, s, Contact{Name: fmt.Sprintf("Person %02d", 24-i)})
	}
	var names []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		got, next, err := s.SearchContacts("", 10, cursor)
		if err != nil {
			t.Fatalf("SearchContacts page %d: %v", pages, err)
		}
		for _, c := range got {
			names = append(names, c.Name)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(names) != 25 {
		t.Fatalf("paged %d contacts, want 25", len(names))
	}
	for i, n := range names {
		if want := fmt.Sprintf("Person %02d", i); n != want {
			t.Fatalf("names[%d] = %q, want %q", i, n, want)
		}
	}
	if _, _, err := s.SearchContacts("", 10, "!!"); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: err = %v, want ErrBadCursor", err)
	}
}

func TestDeleteContact(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	org := mustContact(t, s, Contact{Kind: KindOrganization, Name: "Acme", Domains: []string{"acme.com"}})
	a := mustContact(t, s, Contact{Name: "A", Emails: []string{"a@acme.com"}, OrganizationID: org.ID})
	b := mustContact(t, s, Contact{Name: "B"})
	only := mustInteraction(t, s, Interaction{ContactIDs: []ID{a.ID}, Type: "Call", Title: "only a"})
	shared := mustInteraction(t, s, Interaction{ContactIDs: []ID{a.ID, b.ID}, Type: "Meeting", Title: "a and b"})
	onOrg := mustInteraction(t, s, Interaction{ContactIDs: []ID{org.ID}, Type: "Visit"})

	if err := s.DeleteContact(ctx, org.ID); err != nil {
		t.Fatalf("DeleteContact(org): %v", err)
	}
	if got, _ := s.GetContact(a.ID); got.OrganizationID != 0 {
		t.Errorf("member still in deleted organisation %d", got.OrganizationID)
	}
	if _, err := s.GetInteraction(onOrg.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("interaction on the deleted organisation alone survives: %v", err)
	}
	if err := s.DeleteContact(ctx, a.ID); err != nil {
		t.Fatalf("DeleteContact: %v", err)
	}
	if _, err := s.GetInteraction(only.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("interaction on the deleted contact alone survives: %v", err)
	}
	got, err := s.GetInteraction(shared.ID)
	if err != nil || len(got.ContactIDs) != 1 || got.ContactIDs[0] != b.ID {
		t.Errorf("shared interaction = %+v, %v; want it on B alone", got, err)
	}
	if _, err := s.ContactByEmail("a@acme.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted contact's address still indexed: %v", err)
	}
	if err := s.DeleteContact(ctx, a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
}

func TestOrganisationWithMembersCannotBecomePerson(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	org := mustContact(t, s, Contact{Kind: KindOrganization, Name: "Acme"})
	mustContact(t, s, Contact{Name: "A", OrganizationID: org.ID})
	_, err := s.UpdateContact(context.Background(), org.ID, func(c *Contact) error { c.Kind = KindPerson; return nil })
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "kind" {
		t.Fatalf("UpdateContact = %v, want kind error", err)
	}
}

func TestSearchContactsPages(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	for i := range 7 {
		mustContact(t, s, Contact{Name: fmt.Sprintf("Cohen %d", i)})
	}
	mustContact(t, s, Contact{Name: "Levi"})
	var names []string
	cur := ""
	for range 10 {
		got, next, err := s.SearchContacts("cohen", 3, cur)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range got {
			names = append(names, c.Name)
		}
		if next == "" {
			break
		}
		cur = next
	}
	if fmt.Sprint(names) != "[Cohen 0 Cohen 1 Cohen 2 Cohen 3 Cohen 4 Cohen 5 Cohen 6]" {
		t.Errorf("paged search = %v", names)
	}
}
