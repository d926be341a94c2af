package matcher

import (
	"errors"
	"testing"

	"touchpoint/store"
)

func TestRecipientsContact(t *testing.T) {
	t.Parallel()
	cfg := baseConfig()
	cfg.FoldPlusTags = true
	rs, w := NewRecipients(cfg), newWorld()
	cases := []struct {
		name string
		addr string
		want store.ID // 0: no contact
	}{
		{"contact address", "rivka@example.net", rivka},
		{"case and brackets", " <RIVKA@Example.NET> ", rivka},
		{"plus tag folded", "rivka+news@example.net", rivka},
		{"tagged address listed", "news+crm@example.net", tagged},
		{"person before organisation", "yossi@acme.com", yossi},
		{"organisation domain", "someone@acme.com", acme},
		{"organisation parent domain", "someone@eu.acme.com", acme},
		{"free-mail contact address", "dana@gmail.com", dana},
		{"free-mail domain never", "stranger@gmail.com", 0},
		{"staff", "sarah@ourco.com", 0},
		{"internal domain, listed by mistake", "board@ourco.com", 0},
		{"system address", sys, 0},
		{"unknown", "nobody@nowhere.example", 0},
		{"not an address", "not-an-address", 0},
	}
	for _, tc := range cases {
		got, ok, err := rs.Contact(w, tc.addr)
		if err != nil {
			t.Fatalf("Contact(%q) error: %v", tc.addr, err)
		}
		if ok != (tc.want != 0) || got != tc.want {
			t.Errorf("%s: Contact(%q) = %v, %v, want %v", tc.name, tc.addr, got, ok, tc.want)
		}
	}
}

func TestRecipientsLookupError(t *testing.T) {
	t.Parallel()
	w := newWorld()
	boom := errors.New("boom")
	w.errs = map[string]error{"contact:rivka@example.net": boom}
	if _, _, err := NewRecipients(baseConfig()).Contact(w, "rivka@example.net"); !errors.Is(err, boom) {
		t.Errorf("Contact with a failing lookup: err = %v, want boom", err)
	}
}
