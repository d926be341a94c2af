package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		want     string // the terms, printed
		err      string // a substring of the error
	}{
		{name: "empty", in: "  ", want: "[]"},
		{name: "spec example", in: `type:Call action:Tefillin owner:sarah after:2026-05-01 "class"`,
			want: `[{type Call false q} {action Tefillin false q} {owner sarah false q} {after 2026-05-01 false q} { class false q}]`},
		{name: "quoted value", in: `type:"Phone call" "two words"`, want: `[{type Phone call false q} { two words false q}]`},
		{name: "negation", in: `-type:Email -spam`, want: `[{type Email true q} { spam true q}]`},
		{name: "key case", in: `TYPE:Call`, want: `[{type Call false q}]`},
		{name: "escaped quote", in: `"say \"hi\""`, want: `[{ say "hi" false q}]`},
		{name: "lone dash is text", in: `- x`, want: `[{ - false q} { x false q}]`},
		{name: "unknown key", in: `tpye:Call`, err: `unknown filter "tpye:"`},
		{name: "unclosed quote", in: `"class`, err: "quote is not closed"},
		{name: "empty value", in: `type:`, err: "type: needs a value"},
		{name: "bad date", in: `after:yesterday`, err: "not a date"},
		{name: "negated date", in: `-after:2026-01-01`, err: "cannot be negated"},
		{name: "bad source", in: `source:fax`, err: "must be one of"},
		{name: "too long", in: strings.Repeat("a", MaxQueryLen+1), err: "too long"},
		{name: "too many terms", in: strings.Repeat("a ", MaxQueryTerms+1), err: "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := ParseQuery(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseQuery(%q) error = %v, want %q", tt.in, err, tt.err)
				}
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Field != "q" {
					t.Errorf("error %v is not a validation error on q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseQuery(%q): %v", tt.in, err)
			}
			if got := fmt.Sprint(q.Terms); got != tt.want {
				t.Errorf("ParseQuery(%q) = %s, want %s", tt.in, got, tt.want)
			}
			// String renders an expression that parses to the same terms.
			again, err := ParseQuery(q.String())
			if err != nil || fmt.Sprint(again.Terms) != tt.want {
				t.Errorf("round trip of %q via %q = %v, %v", tt.in, q.String(), again, err)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	sarah := mustUser(t, s, "Sarah Cohen", "sarah@org.org", RoleStaff)
	sara := mustUser(t, s, "Sara Levi", "slevi@org.org", RoleStaff)
	david := mustContact(t, s, Contact{Name: "David Katz", Emails: []string{"david@example.org"}})
	dana := mustContact(t, s, Contact{Name: "Dana Katz"})
	tests := []struct {
		in   string
		want Filter
		err  string
	}{
		{in: "owner:sarah", want: Filter{OwnerIDs: []ID{sarah.ID}}},
		{in: "owner:sara", want: Filter{OwnerIDs: []ID{sara.ID, sarah.ID}}},
		{in: "owner:slevi", want: Filter{OwnerIDs: []ID{sara.ID}}},
		{in: "owner:sarah@org.org", want: Filter{OwnerIDs: []ID{sarah.ID}}},
		{in: fmt.Sprintf("owner:%d", sarah.ID), want: Filter{OwnerIDs: []ID{sarah.ID}}},
		{in: "owner:nobody", err: "matches no user"},
		{in: "contact:david@example.org", want: Filter{ContactIDs: []ID{david.ID}}},
		{in: `contact:"david katz"`, want: Filter{ContactIDs: []ID{david.ID}}},
		{in: "contact:katz", want: Filter{ContactIDs: []ID{dana.ID, david.ID}}},
		{in: "-contact:dana", want: Filter{NotContactIDs: []ID{dana.ID}}},
		{in: "contact:who@nowhere.org", err: "no contact has this address"},
		{in: "contact:999", err: "no such contact"},
		{in: "type:CALL action:Tefillin source:smtp class", want: Filter{Types: []string{"call"}, Actions: []string{"tefillin"}, Sources: []string{"smtp"}, Text: []string{"class"}}},
		{in: "after:2026-05-01 before:2026-06-01", want: Filter{From: day("2026-05-01"), To: day("2026-06-01")}},
		{in: "from:2026-05-01 to:2026-05-31", want: Filter{From: day("2026-05-01"), To: day("2026-06-01")}},
		{in: "on:2026-05-01", want: Filter{From: day("2026-05-01"), To: day("2026-05-02")}},
		{in: "after:2026-05-01 after:2026-04-01 to:2026-05-10T12:00:00Z", want: Filter{From: day("2026-05-01"), To: day("2026-05-10").Add(12*time.Hour + time.Nanosecond)}},
		{in: "after:2026-06-01 before:2026-05-01", want: Filter{From: day("2026-06-01"), To: day("2026-05-01"), None: true}},
	}
	for _, tt := range tests {
		q, err := ParseQuery(tt.in)
		if err != nil {
			t.Fatalf("ParseQuery(%q): %v", tt.in, err)
		}
		f, err := s.Resolve(q)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Resolve(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Resolve(%q): %v", tt.in, err)
			continue
		}
		sortFilterIDs(&f)
		sortFilterIDs(&tt.want)
		if fmt.Sprintf("%+v", f) != fmt.Sprintf("%+v", tt.want) {
			t.Errorf("Resolve(%q) =\n %+v\nwant\n %+v", tt.in, f, tt.want)
		}
	}
}

func sortFilterIDs(f *Filter) {
	for _, s := range []*[]ID{&f.OwnerIDs, &f.ContactIDs, &f.NotContactIDs} {
		ids := *s
		for i := range ids {
			for j := i + 1; j < len(ids); j++ {
				if ids[j] < ids[i] {
					ids[i], ids[j] = ids[j], ids[i]
				}
			}
		}
	}
}

func TestQueryAddNamesTheKey(t *testing.T) {
	t.Parallel()
	q := &Query{}
	err := q.Add("from", "from", "last week")
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "from" {
		t.Fatalf("Add(from, bad) = %v, want a validation error on from", err)
	}
	if err := q.Add("type", "type", "Call"); err != nil || q.String() != "type:Call" {
		t.Fatalf("Add(type, Call) = %v, String() = %q", err, q.String())
	}
}

func TestFilterTextAndSources(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	c := mustContact(t, s, Contact{Name: "C"})
	mustInteraction(t, s, Interaction{ContactIDs: []ID{c.ID}, Type: "Email", Source: SourceSMTP, Title: "Re: the Class", Email: &Email{From: "rabbi@shul.org", Attachments: []Attachment{{Name: "Schedule.pdf"}}}})
	mustInteraction(t, s, Interaction{ContactIDs: []ID{c.ID}, Type: "Visit", Address: "12 Herzl St, Haifa"})
	for in, want := range map[string]int{
		"class": 1, "CLASS": 1, "rabbi@": 1, "schedule.pdf": 1, "herzl": 1, "-class": 1,
		"source:smtp": 1, "-source:smtp": 1, "class herzl": 0, `"the class"`: 1, "type:visit haifa": 1,
	} {
		q, err := ParseQuery(in)
		if err != nil {
			t.Fatal(err)
		}
		f, err := s.Resolve(q)
		if err != nil {
			t.Fatal(err)
		}
		items, _, err := s.ListInteractions(f, 10, "")
		if err != nil || len(items) != want {
			t.Errorf("%q: %d items (%v), want %d", in, len(items), err, want)
		}
	}
	_ = context.Background()
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{`type:Call action:Tefillin owner:sarah after:2026-05-01 "class"`, `-x "a\"b"`, `type:"`, `on:2026-02-30`, "\"0\n0\"", "\"a\u00a0b\"", "0 " + strings.Repeat(`\\`, 990) + " 0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		q, err := ParseQuery(in)
		if err != nil {
			return
		}
		if len(q.String()) > MaxQueryLen {
			// Quoting can lengthen a query (each " or \ gains a \): one
			// near the limit renders past it, and the limit still holds.
			if _, err := ParseQuery(q.String()); err == nil {
				t.Fatalf("a %d-byte query parsed, over the %d limit", len(q.String()), MaxQueryLen)
			}
			return
		}
		again, err := ParseQuery(q.String())
		if err != nil {
			t.Fatalf("String() of a parsed query does not parse: %q → %q: %v", in, q.String(), err)
		}
		if fmt.Sprint(again.Terms) != fmt.Sprint(q.Terms) {
			t.Fatalf("round trip changed the terms: %q → %v → %q → %v", in, q.Terms, q.String(), again.Terms)
		}
	})
}
