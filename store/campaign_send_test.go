package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// contactFixture: Acme with two people, Globex with one, a person without
// an address, and people with interactions.
func contactFixture(t *testing.T) *Store {
	t.Helper()
	s := openTest(t)
	sarah := mustUser(t, s, "Sarah Cohen", "sarah@org.org", RoleStaff)
	acme := mustContact(t, s, Contact{Kind: KindOrganization, Name: "Acme", Emails: []string{"info@acme.com"}, Domains: []string{"acme.com"}})
	globex := mustContact(t, s, Contact{Kind: KindOrganization, Name: "Globex"})
	yossi := mustContact(t, s, Contact{Name: "Yossi Levi", Emails: []string{"yossi@acme.com"}, OrganizationID: acme.ID})
	mustContact(t, s, Contact{Name: "Rivka Levi", Emails: []string{"rivka@acme.com"}, OrganizationID: acme.ID})
	dana := mustContact(t, s, Contact{Name: "Dana Mizrahi", Emails: []string{"dana@globex.org"}, OrganizationID: globex.ID})
	mustContact(t, s, Contact{Name: "Moshe Nomail"})
	david := mustContact(t, s, Contact{Name: "David Katz", Emails: []string{"david@gmail.com"}})
	mustInteraction(t, s, Interaction{ContactIDs: []ID{yossi.ID}, Type: "Visit", Actions: []string{"Tefillin"}, OccurredAt: day("2026-03-01"), OwnerIDs: []ID{sarah.ID}})
	mustInteraction(t, s, Interaction{ContactIDs: []ID{david.ID, dana.ID}, Type: "Call", Actions: []string{"Tefillin"}, OccurredAt: day("2025-06-01")})
	mustInteraction(t, s, Interaction{ContactIDs: []ID{david.ID}, Type: "Call", Actions: []string{"Discussion"}, OccurredAt: day("2026-02-01")})
	return s
}

func TestSelectContacts(t *testing.T) {
	t.Parallel()
	s := contactFixture(t)
	tests := []struct {
		name, q   string
		want      []string
		noAddress int
	}{
		{name: "people of an organisation", q: `org:"Acme"`, want: []string{"Rivka Levi", "Yossi Levi"}},
		{name: "org by address of a member", q: `org:yossi@acme.com`, want: []string{"Rivka Levi", "Yossi Levi"}},
		{name: "two organisations", q: `org:acme org:globex`, want: []string{"Dana Mizrahi", "Rivka Levi", "Yossi Levi"}},
		{name: "one organisation named twice", q: `org:acme org:yossi@acme.com`, want: []string{"Rivka Levi", "Yossi Levi"}},
		{name: "not an organisation", q: `kind:person -org:acme`, want: []string{"Dana Mizrahi", "David Katz"}, noAddress: 1},
		{name: "kind", q: `kind:organization`, want: []string{"Acme"}, noAddress: 1},
		{name: "name word", q: `levi`, want: []string{"Rivka Levi", "Yossi Levi"}},
		{name: "name key", q: `name:yos`, want: []string{"Yossi Levi"}},
		{name: "email", q: `email:gmail.com`, want: []string{"David Katz"}},
		{name: "action this year", q: `action:Tefillin after:2026-01-01`, want: []string{"Yossi Levi"}},
		{name: "action ever", q: `action:tefillin`, want: []string{"Dana Mizrahi", "David Katz", "Yossi Levi"}},
		{name: "action and contact terms", q: `action:tefillin kind:person -email:gmail`, want: []string{"Dana Mizrahi", "Yossi Levi"}},
		{name: "type and owner", q: `type:visit owner:sarah`, want: []string{"Yossi Levi"}},
		{name: "nobody", q: `action:Neshek`, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := ParseContactQuery(tt.q)
			if err != nil {
				t.Fatalf("ParseContactQuery(%q): %v", tt.q, err)
			}
			sel, err := s.SelectContacts(q, 100)
			if err != nil {
				t.Fatalf("SelectContacts(%q): %v", tt.q, err)
			}
			var got []string
			for _, c := range sel.Contacts {
				got = append(got, c.Name)
			}
			if !slices.Equal(got, tt.want) || sel.Count != len(tt.want) || sel.NoAddress != tt.noAddress {
				t.Errorf("SelectContacts(%q) = %v (count %d, %d without address), want %v (%d without address)",
					tt.q, got, sel.Count, sel.NoAddress, tt.want, tt.noAddress)
			}
		})
	}
}

func TestContactQueryErrors(t *testing.T) {
	t.Parallel()
	s := contactFixture(t)
	for q, want := range map[string]string{
		`org:Initech`:     "matches no organisation",
		`org:"Yossi"`:     "matches no organisation",
		`kind:robot`:      "must be person or organization",
		`owner:nobody`:    "matches no user",
		`colour:blue`:     "unknown filter",
		`after:yesterday`: "not a date",
	} {
		parsed, err := ParseContactQuery(q)
		if err == nil {
			_, err = s.SelectContacts(parsed, 10)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one saying %q", q, err, want)
		}
	}
	// The interaction filter language is unchanged: contact keys stay out.
	if _, err := ParseQuery("org:acme"); err == nil {
		t.Error(`ParseQuery("org:acme") accepted a contact key`)
	}
}

func TestPersonalize(t *testing.T) {
	t.Parallel()
	r := &SendRecipient{Name: "Yossi Levi", Address: "yossi@acme.com"}
	got, err := r.Personalize("Dear {{first_name}} ({{ Name }}, {{email}}) {{name}}")
	if want := "Dear Yossi (Yossi Levi, yossi@acme.com) Yossi Levi"; err != nil || got != want {
		t.Errorf("Personalize = %q, %v; want %q", got, err, want)
	}
	for body, want := range map[string]string{
		"Hi {{nmae}}":   "unknown placeholder {{nmae}}",
		"Hi {{name":     "not closed",
		"Hi {{}} there": "unknown placeholder",
	} {
		if _, err := r.Personalize(body); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Personalize(%q) error %v, want %q", body, err, want)
		}
	}
}

func TestCreateSendValidation(t *testing.T) {
	t.Parallel()
	s := contactFixture(t)
	ctx := context.Background()
	ok := SendInput{Subject: "Hello", Body: "Hi {{name}}", Filter: "org:acme"}
	tests := []struct {
		name  string
		edit  func(*SendInput)
		field string
	}{
		{"no subject", func(in *SendInput) { in.Subject = " " }, "subject"},
		{"long subject", func(in *SendInput) { in.Subject = strings.Repeat("x", MaxSendSubjectLen+1) }, "subject"},
		{"no body", func(in *SendInput) { in.Body = "" }, "body"},
		{"long body", func(in *SendInput) { in.Body = strings.Repeat("x", MaxSendBodyLen+1) }, "body"},
		{"bad placeholder", func(in *SendInput) { in.Body = "{{surname}}" }, "body"},
		{"no filter", func(in *SendInput) { in.Filter = "" }, "filter"},
		{"bad filter", func(in *SendInput) { in.Filter = "org:Initech" }, "filter"},
		{"nobody selected", func(in *SendInput) { in.Filter = "action:Neshek" }, "filter"},
		{"no addresses", func(in *SendInput) { in.Filter = "moshe" }, "filter"},
		{"past", func(in *SendInput) { in.SendAt = time.Now().Add(-time.Hour) }, "send_at"},
	}
	for _, tt := range tests {
		in := ok
		tt.edit(&in)
		_, _, err := s.CreateSend(ctx, in)
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tt.field {
			t.Errorf("%s: CreateSend error %v, want a validation error on %s", tt.name, err, tt.field)
		}
	}
	camp, cs, err := s.CreateSend(ctx, ok)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Status != SendScheduled || cs.Counts.Pending != 2 || camp.Name != "Hello" {
		t.Errorf("CreateSend = %+v %+v", camp, cs)
	}
	rs, _, err := s.SendRecipients(camp.ID, "", "", 10)
	if err != nil || len(rs) != 2 || rs[0].Address != "rivka@acme.com" || rs[0].State != RcptPending {
		t.Errorf("SendRecipients = %+v, %v", rs, err)
	}
	// Cancelling leaves nothing due.
	if _, err := s.CancelSend(ctx, camp.ID); err != nil {
		t.Fatal(err)
	}
	due, _, _ := s.DueRecipients(camp.ID, time.Now().Add(time.Hour), 10)
	cs, _ = s.SendOf(camp.ID)
	if len(due) != 0 || cs.Status != SendCancelled || cs.Counts.Cancelled != 2 {
		t.Errorf("after cancel: %d due, %s %+v", len(due), cs.Status, cs.Counts)
	}
}

func TestFinishAttemptLongAnswer(t *testing.T) {
	t.Parallel()
	s := contactFixture(t)
	ctx := context.Background()
	camp, _, err := s.CreateSend(ctx, SendInput{Subject: "Hello", Body: "Hi {{name}}", Filter: "yossi"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.BeginAttempt(ctx, camp.ID, "yossi@acme.com"); err != nil {
		t.Fatal(err)
	}
	// A relay's answer past the limit, cut in the middle of a character
	// were it cut by bytes, and with a byte that is not UTF-8.
	answer := "550 \xff" + strings.Repeat("é", maxAnswerLen)
	if err := s.FinishAttempt(ctx, camp.ID, "yossi@acme.com", SendOutcome{State: RcptFailed, Answer: answer}); err != nil {
		t.Fatal(err)
	}
	rs, _, err := s.SendRecipients(camp.ID, RcptFailed, "", 10)
	if err != nil || len(rs) != 1 {
		t.Fatalf("SendRecipients(failed) = %+v, %v", rs, err)
	}
	got := rs[0].Answer
	want := "550 \uFFFD" + strings.Repeat("é", maxAnswerLen-5)
	if got != want {
		t.Errorf("stored answer = %q (%d characters), want the first %d characters of it", got, utf8.RuneCountInString(got), maxAnswerLen)
	}
}
