package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestSearchContactsPagesMatchEveryContact: whatever path a search takes
// (few candidates decoded and sorted, or many walked in name order), its
// pages list exactly the contacts that match, in name order, once each.
func TestSearchContactsPagesMatchEveryContact(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	first := []string{"Sarah", "Yossi", "Dana", "Rivka", "Moshe", "Leah"}
	last := []string{"Cohen", "Levi", "Mizrahi", "Peretz"}
	for i := range 240 {
		domain := "gmail.com"
		if i%7 == 0 {
			domain = "acme.org"
		}
		mustContact(t, s, Contact{
			Name:   fmt.Sprintf("%s %s %03d", first[i%len(first)], last[i%len(last)], i),
			Emails: []string{fmt.Sprintf("person%03d@%s", i, domain)},
		})
	}
	var all []*Contact
	for after := ""; ; {
		page, next, err := s.SearchContacts("", 100, after)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if after = next; next == "" {
			break
		}
	}
	// gmail: ~200 candidates (many: walked); acme: ~35 (few: sorted);
	// cohen: a name word; "levi 01": two words; zz: none.
	for _, q := range []string{"gmail", "acme", "cohen", "levi 01", "Person1", "zz"} {
		lq := strings.ToLower(strings.TrimSpace(q))
		var want []ID
		for _, c := range all {
			if contactMatches(c, lq, words(lq)) {
				want = append(want, c.ID)
			}
		}
		for _, limit := range []int{7, 50} {
			var got []ID
			for after, pages := "", 0; ; pages++ {
				page, next, err := s.SearchContacts(q, limit, after)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > limit || pages > 100 {
					t.Fatalf("%q: a page of %d (limit %d), or endless paging", q, len(page), limit)
				}
				for _, c := range page {
					got = append(got, c.ID)
				}
				if after = next; next == "" {
					break
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("SearchContacts(%q), pages of %d: %d contacts %v…, want %d %v…", q, limit, len(got), got[:min(5, len(got))], len(want), want[:min(5, len(want))])
			}
		}
	}
}

// TestContactCacheStaysBounded: the export's cache answers every contact
// right while it evicts, and never holds more than its bound.
func TestContactCacheStaysBounded(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	var ids []ID
	for i := range 20 {
		ids = append(ids, mustContact(t, s, Contact{Name: fmt.Sprintf("Contact %02d", i)}).ID)
	}
	err := s.view(func(tx *bolt.Tx) error {
		cc := newContactCache(tx, 3)
		for round := range 3 {
			for i, id := range ids {
				c, err := cc.get(id)
				if err != nil {
					return err
				}
				if c.ID != id || c.Name != fmt.Sprintf("Contact %02d", i) {
					t.Errorf("round %d: get(%d) = %d %q", round, id, c.ID, c.Name)
				}
				if len(cc.m) > 3 {
					t.Fatalf("cache holds %d, bound 3", len(cc.m))
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
