package store

import (
	"fmt"
	"slices"
	"strings"
	"testing"
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
