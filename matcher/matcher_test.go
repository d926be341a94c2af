package matcher

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"touchpoint/store"
)

// fakeLookup is an in-memory Lookup over a few users and contacts. errs
// makes a lookup fail: keys are "user:ADDR", "token:TOKEN", "contact:ADDR"
// and "org:DOMAIN"; "*" fails every lookup.
type fakeLookup struct {
	users    []*store.User
	contacts []*store.Contact
	errs     map[string]error

	mu    sync.Mutex
	calls map[string]int
}

func (f *fakeLookup) call(key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[key]++
	if err := f.errs["*"]; err != nil {
		return err
	}
	return f.errs[key]
}

func (f *fakeLookup) UserByEmail(email string) (*store.User, error) {
	email = strings.ToLower(email)
	if err := f.call("user:" + email); err != nil {
		return nil, err
	}
	for _, u := range f.users {
		if slices.Contains(u.Emails, email) {
			return u, nil
		}
	}
	return nil, store.ErrNotFound
}

func (f *fakeLookup) UserByAddressToken(token string) (*store.User, error) {
	token = strings.ToLower(token)
	if err := f.call("token:" + token); err != nil {
		return nil, err
	}
	for _, u := range f.users {
		if u.AddressToken == token {
			return u, nil
		}
	}
	return nil, store.ErrNotFound
}

func (f *fakeLookup) ContactByEmail(email string) (*store.Contact, error) {
	email = strings.ToLower(email)
	if err := f.call("contact:" + email); err != nil {
		return nil, err
	}
	for _, c := range f.contacts {
		if slices.Contains(c.Emails, email) {
			return c, nil
		}
	}
	return nil, store.ErrNotFound
}

func (f *fakeLookup) OrganizationByDomain(domain string) (*store.Contact, error) {
	domain = strings.ToLower(domain)
	if err := f.call("org:" + domain); err != nil {
		return nil, err
	}
	for _, c := range f.contacts {
		if c.Kind == store.KindOrganization && slices.Contains(c.Domains, domain) {
			return c, nil
		}
	}
	return nil, store.ErrNotFound
}

// IDs of the test world.
const (
	sarah store.ID = 1
	david store.ID = 2
	mike  store.ID = 3

	yossi  store.ID = 10
	rivka  store.ID = 11
	dana   store.ID = 12
	board  store.ID = 13
	tagged store.ID = 14
	acme   store.ID = 20
	fans   store.ID = 21
	beta   store.ID = 22
)

const sys = "log@ourco.com"

func newWorld() *fakeLookup {
	return &fakeLookup{
		users: []*store.User{
			{ID: sarah, Name: "Sarah", Emails: []string{"sarah@ourco.com"}, AddressToken: "sarahtok"},
			// David also sends from a free-mail address: staff, never a contact.
			{ID: david, Name: "David", Emails: []string{"david@ourco.com", "david.levi@gmail.com"}, AddressToken: "davidtok"},
			{ID: mike, Name: "Mike", Emails: []string{"mike@ourco.com"}, AddressToken: "miketok", Disabled: true},
		},
		contacts: []*store.Contact{
			{ID: yossi, Kind: store.KindPerson, Name: "Yossi", Emails: []string{"yossi@acme.com", "yossi.cohen@gmail.com"}, OrganizationID: acme},
			{ID: rivka, Kind: store.KindPerson, Name: "Rivka", Emails: []string{"rivka@example.net"}},
			{ID: dana, Kind: store.KindPerson, Name: "Dana", Emails: []string{"dana@gmail.com"}},
			// Listed by mistake with an internal address: never matched.
			{ID: board, Kind: store.KindPerson, Name: "Board", Emails: []string{"board@ourco.com"}},
			{ID: tagged, Kind: store.KindPerson, Name: "Tagged", Emails: []string{"news+crm@example.net"}},
			{ID: acme, Kind: store.KindOrganization, Name: "Acme", Emails: []string{"info@acme.com"}, Domains: []string{"acme.com"}},
			// An organisation listing a free-mail domain must not swallow gmail.
			{ID: fans, Kind: store.KindOrganization, Name: "Gmail fans", Domains: []string{"gmail.com"}},
			{ID: beta, Kind: store.KindOrganization, Name: "Beta", Domains: []string{"beta.io"}},
		},
	}
}

func baseConfig() Config {
	return Config{
		SystemAddress:   sys,
		InternalDomains: []string{"ourco.com"},
		FreemailDomains: []string{"gmail.com", "yahoo.com"},
	}
}

func a(email string) Address { return Address{Email: email} }

func na(name, email string) Address { return Address{Name: name, Email: email} }

func as(emails ...string) []Address {
	out := make([]Address, len(emails))
	for i, e := range emails {
		out[i] = a(e)
	}
	return out
}

func ids(v ...store.ID) []store.ID { return v }

// smtpTo is an SMTP delivery to the given envelope recipients.
func smtpTo(rcpts ...string) Delivery {
	return Delivery{MailFrom: "someone@example.org", Recipients: rcpts, Source: store.SourceSMTP}
}

var (
	bcc   = smtpTo(sys)
	viaIM = Delivery{Source: store.SourceIMAP}
)

func logged(contacts []store.ID, owners []store.ID, dir string, unknown ...Address) Decision {
	if len(unknown) == 0 {
		unknown = nil
	}
	return Decision{ContactIDs: contacts, OwnerIDs: owners, Direction: dir, Unknown: unknown}
}

func unmatched(reason string, contacts []store.ID, owners []store.ID, dir string, unknown ...Address) Decision {
	d := logged(contacts, owners, dir, unknown...)
	d.Reason = reason
	return d
}

func noise(reason string) Decision { return Decision{Reason: reason} }

type matchCase struct {
	name string
	cfg  func(*Config)
	m    Message
	d    Delivery
	want Decision
}

func runCases(t *testing.T, cases []matchCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := baseConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			m := tc.m
			got, err := Match(cfg, newWorld(), &m, tc.d)
			if err != nil {
				t.Fatalf("Match(%q) error: %v", tc.m.Subject, err)
			}
			// ClaimedStaff has a test of its own (TestMatchClaimedStaff).
			got.ClaimedStaff = tc.want.ClaimedStaff
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Match(%q) = %+v, want %+v", tc.m.Subject, got, tc.want)
			}
		})
	}
}

func fold(c *Config) { c.FoldPlusTags = true }

func TestMatchParticipants(t *testing.T) {
	t.Parallel()
	runCases(t, []matchCase{
		{
			name: "bcc outbound to a contact",
			m:    Message{Subject: "Quote", From: as("sarah@ourco.com"), To: []Address{na("Yossi Cohen", "yossi@acme.com")}},
			d:    bcc,
			want: logged(ids(yossi), ids(sarah), store.Outbound),
		},
		{
			name: "cc inbound reply",
			m:    Message{Subject: "Re: Quote", From: as("yossi@acme.com"), To: as("sarah@ourco.com"), Cc: as(sys)},
			d:    bcc,
			want: logged(ids(yossi), ids(sarah), store.Inbound),
		},
		{
			name: "imap delivery without envelope",
			m:    Message{Subject: "Re: Quote", From: as("yossi@acme.com"), To: as("sarah@ourco.com"), Cc: as(sys)},
			d:    viaIM,
			want: logged(ids(yossi), ids(sarah), store.Inbound),
		},
		{
			name: "several contacts in order without repeats",
			m: Message{
				Subject: "Meeting",
				From:    as("sarah@ourco.com"),
				To:      as("rivka@example.net", "yossi@acme.com"),
				Cc:      as("dana@gmail.com", "rivka@example.net", "yossi.cohen@gmail.com"),
			},
			d:    bcc,
			want: logged(ids(rivka, yossi, dana), ids(sarah), store.Outbound),
		},
		{
			name: "organisation by domain",
			m:    Message{Subject: "Hello Bob", From: as("sarah@ourco.com"), To: as("bob@acme.com")},
			d:    bcc,
			want: logged(ids(acme), ids(sarah), store.Outbound),
		},
		{
			name: "organisation by parent domain",
			m:    Message{Subject: "Hello EU", From: as("sarah@ourco.com"), To: as("bob@eu.acme.com")},
			d:    bcc,
			want: logged(ids(acme), ids(sarah), store.Outbound),
		},
		{
			name: "organisation listed address",
			m:    Message{Subject: "Info", From: as("info@acme.com"), To: as("sarah@ourco.com"), Cc: as(sys)},
			d:    bcc,
			want: logged(ids(acme), ids(sarah), store.Inbound),
		},
		{
			name: "person beats organisation",
			m:    Message{Subject: "Both", From: as("sarah@ourco.com"), To: as("yossi@acme.com", "bob@acme.com")},
			d:    bcc,
			want: logged(ids(yossi, acme), ids(sarah), store.Outbound),
		},
		{
			name: "freemail never matches by domain",
			m:    Message{Subject: "Gmail", From: as("sarah@ourco.com"), To: []Address{na("Stranger", "stranger@gmail.com")}},
			d:    bcc,
			want: unmatched(ReasonNoContact, nil, ids(sarah), store.Outbound, na("Stranger", "stranger@gmail.com")),
		},
		{
			name: "freemail subdomain never matches by domain",
			m:    Message{Subject: "Gmail sub", From: as("sarah@ourco.com"), To: as("x@eu.gmail.com")},
			d:    bcc,
			want: unmatched(ReasonNoContact, nil, ids(sarah), store.Outbound, a("x@eu.gmail.com")),
		},
		{
			name: "freemail address listed on a person matches",
			m:    Message{Subject: "Dana", From: as("sarah@ourco.com"), To: as("dana@gmail.com")},
			d:    bcc,
			want: logged(ids(dana), ids(sarah), store.Outbound),
		},
		{
			name: "staff address at a freemail domain is staff",
			m:    Message{Subject: "From home", From: as("david.levi@gmail.com"), To: as("rivka@example.net")},
			d:    bcc,
			want: logged(ids(rivka), ids(david), store.Outbound),
		},
		{
			name: "internal address listed on a contact is never a contact",
			m:    Message{Subject: "Board", From: as("sarah@ourco.com"), To: as("board@ourco.com")},
			d:    bcc,
			want: unmatched(ReasonNoContact, nil, ids(sarah), store.Outbound),
		},
		{
			name: "unknown colleague is dropped",
			m:    Message{Subject: "Intern", From: as("yossi@acme.com"), To: as("intern@ourco.com"), Cc: as(sys)},
			d:    bcc,
			want: unmatched(ReasonNoStaff, ids(yossi), nil, store.Inbound),
		},
		{
			name: "internal subdomain is internal",
			m:    Message{Subject: "Sub", From: as("sarah@ourco.com"), To: as("ops@mail.ourco.com", "rivka@example.net")},
			d:    bcc,
			want: logged(ids(rivka), ids(sarah), store.Outbound),
		},
		{
			name: "shared mailbox sent on behalf of staff",
			m:    Message{Subject: "Office", From: as("office@ourco.com"), Sender: &Address{Email: "sarah@ourco.com"}, To: as("yossi@acme.com")},
			d:    bcc,
			want: logged(ids(yossi), ids(sarah), store.Outbound),
		},
		{
			name: "sender header of a contact",
			m:    Message{Subject: "Assistant", From: as("boss@example.org"), Sender: &Address{Email: "rivka@example.net"}, To: as("sarah@ourco.com"), Cc: as(sys)},
			d:    bcc,
			want: logged(ids(rivka), ids(sarah), store.Inbound, a("boss@example.org")),
		},
		{
			name: "reply-to names the contact",
			m: Message{
				Subject: "Ticket",
				From:    []Address{na("Tickets", "noreply@tickets.example.org")},
				ReplyTo: as("yossi@acme.com"),
				To:      as("sarah@ourco.com"),
				Cc:      as(sys),
			},
			d:    bcc,
			want: logged(ids(yossi), ids(sarah), store.Inbound, na("Tickets", "noreply@tickets.example.org")),
		},
		{
			name: "reply-to of staff",
			m:    Message{Subject: "Team", From: as("sarah@ourco.com"), ReplyTo: as("david@ourco.com"), To: as("yossi@acme.com")},
			d:    bcc,
			want: logged(ids(yossi), ids(sarah, david), store.Outbound),
		},
		{
			name: "staff among recipients own an inbound message in order",
			m:    Message{Subject: "To the team", From: as("yossi@acme.com"), To: as("david@ourco.com"), Cc: as("sarah@ourco.com", sys)},
			d:    bcc,
			want: logged(ids(yossi), ids(david, sarah), store.Inbound),
		},
		{
			name: "staff sender first then other staff",
			m:    Message{Subject: "Team out", From: as("david@ourco.com"), To: as("yossi@acme.com", "sarah@ourco.com"), Cc: as("david@ourco.com")},
			d:    bcc,
			want: logged(ids(yossi), ids(david, sarah), store.Outbound),
		},
		{
			name: "disabled user is still staff",
			m:    Message{Subject: "Old mail", From: as("mike@ourco.com"), To: as("rivka@example.net")},
			d:    smtpTo(sys),
			want: logged(ids(rivka), ids(mike), store.Outbound),
		},
		{
			name: "several from addresses",
			m:    Message{Subject: "Two authors", From: as("sarah@ourco.com", "yossi@acme.com"), To: as("rivka@example.net")},
			d:    bcc,
			want: logged(ids(yossi, rivka), ids(sarah), store.Outbound),
		},
		{
			name: "malformed addresses are skipped",
			m:    Message{Subject: "Undisclosed", From: as("", "sarah@ourco.com"), To: as("undisclosed-recipients:;", "not an address", "rivka@example.net")},
			d:    bcc,
			want: logged(ids(rivka), ids(sarah), store.Outbound),
		},
		{
			name: "system address as sender is dropped",
			m:    Message{Subject: "Loop", From: as(sys), To: as("yossi@acme.com")},
			d:    bcc,
			want: unmatched(ReasonNoStaff, ids(yossi), nil, store.Inbound),
		},
		{
			name: "system address only",
			m:    Message{Subject: "Note to self", From: as("sarah@ourco.com"), To: as(sys)},
			d:    bcc,
			want: unmatched(ReasonNoContact, nil, ids(sarah), store.Outbound),
		},
		{
			name: "no addresses at all",
			m:    Message{Subject: "Empty"},
			d:    viaIM,
			want: unmatched(ReasonNoStaff, nil, nil, store.Inbound),
		},
		{
			name: "no staff",
			m:    Message{Subject: "Between contacts", From: as("yossi@acme.com"), To: as("rivka@example.net"), Cc: as(sys)},
			d:    bcc,
			want: unmatched(ReasonNoStaff, ids(yossi, rivka), nil, store.Inbound),
		},
		{
			name: "no staff and no contact is no_staff",
			m:    Message{Subject: "Strangers", From: as("a@example.org"), To: as("b@example.org"), Cc: as(sys)},
			d:    bcc,
			want: unmatched(ReasonNoStaff, nil, nil, store.Inbound, a("a@example.org"), a("b@example.org")),
		},
		{
			name: "no contact",
			m:    Message{Subject: "New lead", From: as("sarah@ourco.com"), To: []Address{na("Lead", "lead@example.org")}},
			d:    bcc,
			want: unmatched(ReasonNoContact, nil, ids(sarah), store.Outbound, na("Lead", "lead@example.org")),
		},
		{
			name: "no system address configured",
			cfg:  func(c *Config) { c.SystemAddress = "" },
			m:    Message{Subject: "No system", From: as("sarah@ourco.com"), To: as("yossi@acme.com"), Cc: as("log+sarahtok@ourco.com")},
			d:    viaIM,
			want: logged(ids(yossi), ids(sarah), store.Outbound),
		},
	})
}

func TestMatchNamesAndCase(t *testing.T) {
	t.Parallel()
	runCases(t, []matchCase{
		{
			name: "case-insensitive addresses",
			m:    Message{Subject: "CASE", From: as("Sarah@OurCo.COM"), To: as("YOSSI@Acme.Com", "Bob@ACME.com"), Cc: as("LOG@OURCO.COM")},
			d:    smtpTo("LOG@OurCo.com"),
			want: logged(ids(yossi, acme), ids(sarah), store.Outbound),
		},
		{
			name: "case-insensitive token",
			m:    Message{Subject: "Token case", From: as("sarah.private@gmail.com"), To: as("yossi@acme.com")},
			d:    smtpTo("LOG+SarahTok@OurCo.com"),
			want: logged(ids(yossi), ids(sarah), store.Outbound),
		},
		{
			name: "config in mixed case",
			cfg: func(c *Config) {
				c.SystemAddress = "Log@OurCo.com"
				c.InternalDomains = []string{" @OurCo.COM "}
				c.FreemailDomains = []string{"GMail.com"}
			},
			m:    Message{Subject: "Config case", From: as("sarah@ourco.com"), To: as("intern@ourco.com", "x@gmail.com", "yossi@acme.com"), Cc: as(sys)},
			d:    viaIM,
			want: logged(ids(yossi), ids(sarah), store.Outbound, a("x@gmail.com")),
		},
		{
			name: "display names with commas",
			m: Message{
				Subject: "Commas",
				From:    []Address{na("Levi, Sarah", "sarah@ourco.com")},
				To:      []Address{na("Cohen, Yossi", "yossi@acme.com"), na("Levi, Noa (Sales, EMEA)", "noa@example.net")},
			},
			d:    bcc,
			want: logged(ids(yossi), ids(sarah), store.Outbound, na("Levi, Noa (Sales, EMEA)", "noa@example.net")),
		},
		{
			name: "decoded non-ascii names kept",
			m:    Message{Subject: "Grüße", From: as("sarah@ourco.com"), To: []Address{na("Zoë Ünal", "zoe@example.org"), na("שרה כהן", "sc@example.org")}},
			d:    bcc,
			want: unmatched(ReasonNoContact, nil, ids(sarah), store.Outbound, na("Zoë Ünal", "zoe@example.org"), na("שרה כהן", "sc@example.org")),
		},
		{
			name: "unknown deduplicated and named from a later occurrence",
			m:    Message{Subject: "Dupes", From: as("sarah@ourco.com"), To: as("noa@example.net"), Cc: []Address{na(" Noa ", "NOA@example.net"), na("Other", "noa@example.net")}},
			d:    bcc,
			want: unmatched(ReasonNoContact, nil, ids(sarah), store.Outbound, na("Noa", "noa@example.net")),
		},
		{
			name: "unknown in appearance order across headers",
			m: Message{
				Subject: "Order",
				From:    as("c@example.org"),
				ReplyTo: as("b@example.org"),
				To:      as("sarah@ourco.com", "a@example.org"),
				Cc:      as(sys, "c@example.org"),
			},
			d:    bcc,
			want: unmatched(ReasonNoContact, nil, ids(sarah), store.Inbound, a("c@example.org"), a("b@example.org"), a("a@example.org")),
		},
	})
}

func TestMatchTokensAndTags(t *testing.T) {
	t.Parallel()
	runCases(t, []matchCase{
		{
			name: "token attributes mail from an alias",
			m:    Message{Subject: "From my phone", From: []Address{na("Sarah", "sarah.private@gmail.com")}, To: as("yossi@acme.com")},
			d:    smtpTo("log+sarahtok@ourco.com"),
			want: logged(ids(yossi), ids(sarah), store.Outbound),
		},
		{
			name: "token in a cc header without envelope",
			m:    Message{Subject: "Cc token", From: as("sarah.private@gmail.com"), To: as("yossi@acme.com"), Cc: as("log+sarahtok@ourco.com")},
			d:    viaIM,
			want: logged(ids(yossi), ids(sarah), store.Outbound),
		},
		{
			name: "token alone with an alias and no contact",
			m:    Message{Subject: "Alias lead", From: as("sarah.private@gmail.com"), To: as("lead@example.org")},
			d:    smtpTo("log+sarahtok@ourco.com"),
			want: unmatched(ReasonNoContact, nil, ids(sarah), store.Outbound, a("lead@example.org")),
		},
		{
			name: "token user owns over a staff sender",
			m:    Message{Subject: "On behalf", From: as("david@ourco.com"), To: as("yossi@acme.com")},
			d:    smtpTo("log+sarahtok@ourco.com"),
			want: logged(ids(yossi), ids(sarah, david), store.Outbound),
		},
		{
			name: "sender's own token first among several",
			m:    Message{Subject: "Two tokens", From: as("david@ourco.com"), To: as("yossi@acme.com"), Cc: as("log+sarahtok@ourco.com")},
			d:    smtpTo("log+sarahtok@ourco.com", "log+davidtok@ourco.com"),
			want: logged(ids(yossi), ids(david, sarah), store.Outbound),
		},
		{
			name: "token with a contact sender is inbound",
			m:    Message{Subject: "Re: reply all", From: as("yossi@acme.com"), To: as("sarah@ourco.com"), Cc: as("log+sarahtok@ourco.com")},
			d:    smtpTo("log+sarahtok@ourco.com"),
			want: logged(ids(yossi), ids(sarah), store.Inbound),
		},
		{
			name: "token with an organisation sender is inbound",
			m:    Message{Subject: "Org reply", From: as("bob@acme.com"), To: as("sarah.private@gmail.com")},
			d:    smtpTo("log+sarahtok@ourco.com"),
			want: logged(ids(acme), ids(sarah), store.Inbound, a("sarah.private@gmail.com")),
		},
		{
			name: "unknown token is ignored",
			m:    Message{Subject: "Bad token", From: as("sarah.private@gmail.com"), To: as("yossi@acme.com")},
			d:    smtpTo("log+nosuchtoken@ourco.com"),
			want: unmatched(ReasonNoStaff, ids(yossi), nil, store.Inbound, a("sarah.private@gmail.com")),
		},
		{
			name: "unknown token with a staff sender",
			m:    Message{Subject: "Bad token staff", From: as("sarah@ourco.com"), To: as("yossi@acme.com"), Cc: as("log+nosuchtoken@ourco.com")},
			d:    smtpTo("log+nosuchtoken@ourco.com"),
			want: logged(ids(yossi), ids(sarah), store.Outbound),
		},
		{
			name: "token of another domain is not a token",
			m:    Message{Subject: "Other domain", From: as("sarah.private@gmail.com"), To: as("yossi@acme.com", "log+sarahtok@elsewhere.org")},
			d:    viaIM,
			want: unmatched(ReasonNoStaff, ids(yossi), nil, store.Inbound, a("sarah.private@gmail.com"), a("log+sarahtok@elsewhere.org")),
		},
		{
			name: "disabled user's token is ignored",
			m:    Message{Subject: "Retired token", From: as("mike.private@gmail.com"), To: as("yossi@acme.com")},
			d:    smtpTo("log+miketok@ourco.com"),
			want: unmatched(ReasonNoStaff, ids(yossi), nil, store.Inbound, a("mike.private@gmail.com")),
		},
		{
			name: "plus tag not folded by default falls to the organisation",
			m:    Message{Subject: "Tag off", From: as("sarah@ourco.com"), To: as("yossi+news@acme.com")},
			d:    bcc,
			want: logged(ids(acme), ids(sarah), store.Outbound),
		},
		{
			name: "plus tag folded to the person",
			cfg:  fold,
			m:    Message{Subject: "Tag on", From: as("sarah@ourco.com"), To: as("yossi+news@acme.com")},
			d:    bcc,
			want: logged(ids(yossi), ids(sarah), store.Outbound),
		},
		{
			name: "plus tag not folded stays unknown",
			m:    Message{Subject: "Tag off unknown", From: as("sarah@ourco.com"), To: as("rivka+x@example.net")},
			d:    bcc,
			want: unmatched(ReasonNoContact, nil, ids(sarah), store.Outbound, a("rivka+x@example.net")),
		},
		{
			name: "plus tag folded keeps the first tag split",
			cfg:  fold,
			m:    Message{Subject: "Tag on two", From: as("sarah@ourco.com"), To: as("rivka+x+y@example.net")},
			d:    bcc,
			want: logged(ids(rivka), ids(sarah), store.Outbound),
		},
		{
			name: "exact tagged address wins over folding",
			cfg:  fold,
			m:    Message{Subject: "Tag exact", From: as("sarah@ourco.com"), To: as("news+crm@example.net")},
			d:    bcc,
			want: logged(ids(tagged), ids(sarah), store.Outbound),
		},
		{
			name: "folding applies to staff addresses",
			cfg:  fold,
			m:    Message{Subject: "Staff tag on", From: as("sarah+crm@ourco.com"), To: as("rivka@example.net")},
			d:    bcc,
			want: logged(ids(rivka), ids(sarah), store.Outbound),
		},
		{
			name: "staff tag without folding is an unknown colleague",
			m:    Message{Subject: "Staff tag off", From: as("sarah+crm@ourco.com"), To: as("rivka@example.net")},
			d:    bcc,
			want: unmatched(ReasonNoStaff, ids(rivka), nil, store.Outbound),
		},
		{
			name: "system address variants are not folded into contacts",
			cfg:  fold,
			m:    Message{Subject: "Sys tag", From: as("sarah@ourco.com"), To: as("log+whatever@ourco.com", "log+@ourco.com")},
			d:    bcc,
			want: unmatched(ReasonNoContact, nil, ids(sarah), store.Outbound),
		},
	})
}

func TestMatchForwards(t *testing.T) {
	t.Parallel()
	runCases(t, []matchCase{
		{
			name: "rfc822 forward of a contact's mail",
			m: Message{
				Subject:   "Fwd: Quote",
				From:      as("sarah@ourco.com"),
				To:        as(sys),
				Forwarded: &Message{Subject: "Quote", From: []Address{na("Yossi", "yossi@acme.com")}, To: as("sarah@ourco.com")},
			},
			d:    bcc,
			want: logged(ids(yossi), ids(sarah), store.Inbound),
		},
		{
			name: "forward of staff's own mail",
			m: Message{
				Subject:   "Fwd: Proposal",
				From:      as("sarah@ourco.com"),
				To:        as(sys),
				Forwarded: &Message{Subject: "Proposal", From: as("sarah@ourco.com"), To: as("rivka@example.net"), Cc: as("david@ourco.com", "bob@acme.com")},
			},
			d:    bcc,
			want: logged(ids(rivka, acme), ids(sarah, david), store.Outbound),
		},
		{
			name: "forward by staff of a colleague's mail",
			m: Message{
				Subject:   "Fwd: from David",
				From:      as("sarah@ourco.com"),
				To:        as(sys),
				Forwarded: &Message{From: as("david@ourco.com"), To: as("yossi@acme.com")},
			},
			d:    bcc,
			want: logged(ids(yossi), ids(sarah, david), store.Outbound),
		},
		{
			name: "forward ignores the outer external recipients",
			m: Message{
				Subject:   "Fwd: Quote",
				From:      as("sarah@ourco.com"),
				To:        as("dana@gmail.com", "lead@example.org"),
				Forwarded: &Message{From: as("yossi@acme.com"), To: as("sarah@ourco.com")},
			},
			d:    bcc,
			want: logged(ids(yossi), ids(sarah), store.Inbound),
		},
		{
			name: "forward reply-to of the original",
			m: Message{
				Subject:   "Fwd: Ticket",
				From:      as("sarah@ourco.com"),
				To:        as(sys),
				Forwarded: &Message{From: as("noreply@tickets.example.org"), ReplyTo: as("rivka@example.net"), To: as("sarah@ourco.com")},
			},
			d:    bcc,
			want: logged(ids(rivka), ids(sarah), store.Inbound, a("noreply@tickets.example.org")),
		},
		{
			name: "forward of an unknown sender",
			m: Message{
				Subject:   "Fwd: hello",
				From:      as("sarah@ourco.com"),
				To:        as(sys),
				Forwarded: &Message{From: []Address{na("New, Person", "new@example.org")}, To: as("sarah@ourco.com")},
			},
			d:    bcc,
			want: unmatched(ReasonNoContact, nil, ids(sarah), store.Inbound, na("New, Person", "new@example.org")),
		},
		{
			name: "forward via token from an alias",
			m: Message{
				Subject:   "Fwd: Quote",
				From:      as("sarah.private@gmail.com"),
				To:        as("log+sarahtok@ourco.com"),
				Forwarded: &Message{From: as("yossi@acme.com"), To: as("sarah.private@gmail.com")},
			},
			d:    smtpTo("log+sarahtok@ourco.com"),
			want: logged(ids(yossi), ids(sarah), store.Inbound),
		},
		{
			name: "forward of own mail sent from an alias",
			m: Message{
				Subject:   "Fwd: sent from phone",
				From:      as("sarah.private@gmail.com"),
				To:        as(sys),
				Forwarded: &Message{From: as("sarah.private@gmail.com"), To: as("rivka@example.net")},
			},
			d:    smtpTo("log+sarahtok@ourco.com"),
			want: logged(ids(rivka), ids(sarah), store.Outbound),
		},
		{
			name: "forward by a non-staff follows normal rules",
			m: Message{
				Subject:   "Fwd: FYI",
				From:      as("yossi@acme.com"),
				To:        as("sarah@ourco.com"),
				Cc:        as(sys),
				Forwarded: &Message{From: as("rivka@example.net"), To: as("yossi@acme.com")},
			},
			d:    bcc,
			want: logged(ids(yossi), ids(sarah), store.Inbound),
		},
		{
			name: "forward by an unknown colleague follows normal rules",
			m: Message{
				Subject:   "Fwd: intern",
				From:      as("intern@ourco.com"),
				To:        as("david@ourco.com", sys),
				Forwarded: &Message{From: as("rivka@example.net")},
			},
			d:    bcc,
			want: unmatched(ReasonNoContact, nil, ids(david), store.Outbound),
		},
		{
			name: "fwd subject without a forwarded message",
			m:    Message{Subject: "Fwd: hello", From: as("sarah@ourco.com"), To: as("yossi@acme.com")},
			d:    bcc,
			want: logged(ids(yossi), ids(sarah), store.Outbound),
		},
		{
			name: "forwarded message without a from",
			m: Message{
				Subject:   "Fwd: ???",
				From:      as("sarah@ourco.com"),
				To:        as(sys),
				Forwarded: &Message{To: as("rivka@example.net")},
			},
			d:    bcc,
			want: logged(ids(rivka), ids(sarah), store.Outbound),
		},
		{
			name: "tokens inside the forwarded message do not attribute",
			m: Message{
				Subject:   "Fwd: old",
				From:      as("sarah@ourco.com"),
				To:        as(sys),
				Forwarded: &Message{From: as("yossi@acme.com"), Cc: as("log+davidtok@ourco.com")},
			},
			d:    bcc,
			want: logged(ids(yossi), ids(sarah), store.Inbound),
		},
	})
}

func TestMatchNoise(t *testing.T) {
	t.Parallel()
	// A message that would be logged but for its noise signals.
	base := func(edit func(*Message)) Message {
		m := Message{Subject: "Re: Quote", From: as("yossi@acme.com"), To: as("sarah@ourco.com"), Cc: as(sys)}
		edit(&m)
		return m
	}
	cases := []matchCase{
		{name: "null sender", m: base(func(*Message) {}), d: Delivery{IsNullSender: true, Recipients: []string{sys}}, want: noise(ReasonBounce)},
		{name: "delivery report", m: base(func(m *Message) { m.Report = true }), d: bcc, want: noise(ReasonBounce)},
		{name: "from mailer-daemon", m: base(func(m *Message) { m.From = as("MAILER-DAEMON@mx.acme.com") }), d: bcc, want: noise(ReasonBounce)},
		{name: "from postmaster", m: base(func(m *Message) { m.From = as("postmaster@acme.com") }), d: viaIM, want: noise(ReasonBounce)},
		{name: "envelope from mailer-daemon", m: base(func(*Message) {}), d: Delivery{MailFrom: "mailer-daemon@mx.example.org", Recipients: []string{sys}}, want: noise(ReasonBounce)},
		{name: "auto-submitted auto-replied", m: base(func(m *Message) { m.AutoSubmitted = "auto-replied" }), d: bcc, want: noise(ReasonAutoReply)},
		{name: "auto-submitted auto-generated with parameters", m: base(func(m *Message) { m.AutoSubmitted = "auto-generated; owner-email=x@acme.com" }), d: bcc, want: noise(ReasonAutoReply)},
		{name: "auto-submitted no is not noise", m: base(func(m *Message) { m.AutoSubmitted = "no" }), d: bcc, want: logged(ids(yossi), ids(sarah), store.Inbound)},
		{name: "vendor auto-reply headers", m: base(func(m *Message) { m.AutoReplyHeaders = true }), d: bcc, want: noise(ReasonAutoReply)},
		{name: "precedence auto_reply", m: base(func(m *Message) { m.Precedence = "auto_reply" }), d: bcc, want: noise(ReasonAutoReply)},
		{name: "subject out of office", m: base(func(m *Message) { m.Subject = "OUT OF OFFICE: back Monday" }), d: bcc, want: noise(ReasonAutoReply)},
		{name: "subject automatic reply", m: base(func(m *Message) { m.Subject = "Automatic reply: Quote" }), d: bcc, want: noise(ReasonAutoReply)},
		{name: "subject auto colon", m: base(func(m *Message) { m.Subject = "auto: Re: Quote" }), d: bcc, want: noise(ReasonAutoReply)},
		{name: "subject autoreply", m: base(func(m *Message) { m.Subject = "AutoReply: away" }), d: bcc, want: noise(ReasonAutoReply)},
		{name: "subject auto-reply", m: base(func(m *Message) { m.Subject = "  Auto-Reply: away" }), d: bcc, want: noise(ReasonAutoReply)},
		{name: "subject abwesenheitsnotiz", m: base(func(m *Message) { m.Subject = "Abwesenheitsnotiz: Angebot" }), d: bcc, want: noise(ReasonAutoReply)},
		{name: "out of office later in the subject is not noise", m: base(func(m *Message) { m.Subject = "Re: Out of office plans" }), d: bcc, want: logged(ids(yossi), ids(sarah), store.Inbound)},
		{name: "automobile subject is not noise", m: base(func(m *Message) { m.Subject = "Automobile insurance" }), d: bcc, want: logged(ids(yossi), ids(sarah), store.Inbound)},
		{name: "list-id", m: base(func(m *Message) { m.ListID = "<news.acme.com>" }), d: bcc, want: noise(ReasonList)},
		{name: "list-unsubscribe", m: base(func(m *Message) { m.ListUnsubscribe = true }), d: bcc, want: noise(ReasonList)},
		{name: "precedence bulk", m: base(func(m *Message) { m.Precedence = "bulk" }), d: bcc, want: noise(ReasonList)},
		{name: "precedence list", m: base(func(m *Message) { m.Precedence = "list" }), d: bcc, want: noise(ReasonList)},
		{name: "precedence junk", m: base(func(m *Message) { m.Precedence = "junk" }), d: bcc, want: noise(ReasonList)},
		{name: "precedence first-class is not noise", m: base(func(m *Message) { m.Precedence = "first-class" }), d: bcc, want: logged(ids(yossi), ids(sarah), store.Inbound)},
		{name: "bounce beats auto-reply", m: base(func(m *Message) { m.Report = true; m.AutoSubmitted = "auto-replied" }), d: bcc, want: noise(ReasonBounce)},
		{name: "auto-reply beats list", m: base(func(m *Message) { m.AutoReplyHeaders = true; m.ListID = "x" }), d: bcc, want: noise(ReasonAutoReply)},
		{name: "noise wins over no_contact", m: Message{Subject: "News", From: as("sarah@ourco.com"), To: as("lead@example.org"), ListUnsubscribe: true}, d: bcc, want: noise(ReasonList)},
		{name: "noise wins over no_staff", m: Message{Subject: "Out of Office", From: as("a@example.org"), To: as(sys)}, d: bcc, want: noise(ReasonAutoReply)},
		{name: "noise wins over a per-user token", m: Message{Subject: "Digest", From: as("yossi@acme.com"), To: as("sarah@ourco.com"), Precedence: "bulk"}, d: smtpTo("log+sarahtok@ourco.com"), want: noise(ReasonList)},
		{name: "forwarded noise does not make the forward noise", m: Message{Subject: "Fwd: away", From: as("sarah@ourco.com"), To: as(sys), Forwarded: &Message{Subject: "Out of Office", From: as("yossi@acme.com"), AutoSubmitted: "auto-replied"}}, d: bcc, want: logged(ids(yossi), ids(sarah), store.Inbound)},
	}
	runCases(t, cases)
}

func TestMatchNoiseMakesNoLookups(t *testing.T) {
	t.Parallel()
	lk := newWorld()
	lk.errs = map[string]error{"*": errors.New("store down")}
	m := &Message{Subject: "Automatic reply: Quote", From: as("yossi@acme.com"), To: as("sarah@ourco.com")}
	got, err := Match(baseConfig(), lk, m, smtpTo("log+sarahtok@ourco.com"))
	if err != nil || got.Reason != ReasonAutoReply {
		t.Errorf("Match(%q) = %+v, %v, want reason %q", m.Subject, got, err, ReasonAutoReply)
	}
	if len(lk.calls) != 0 {
		t.Errorf("Match(%q) made lookups %v, want none", m.Subject, lk.calls)
	}
}

func TestMatchLookupErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk on fire")
	m := Message{
		Subject: "Errors",
		From:    as("sarah@ourco.com"),
		To:      as("yossi@acme.com", "bob@beta.io"),
	}
	for _, key := range []string{"token:sarahtok", "user:sarah@ourco.com", "user:yossi@acme.com", "contact:yossi@acme.com", "contact:bob@beta.io", "org:beta.io"} {
		t.Run(key, func(t *testing.T) {
			t.Parallel()
			lk := newWorld()
			lk.errs = map[string]error{key: boom}
			got, err := Match(baseConfig(), lk, &m, smtpTo("log+sarahtok@ourco.com"))
			if !errors.Is(err, boom) {
				t.Fatalf("Match(%q) with %s failing = %+v, %v, want %v", m.Subject, key, got, err, boom)
			}
			if !reflect.DeepEqual(got, Decision{}) {
				t.Errorf("Match(%q) with %s failing = %+v, want the zero Decision", m.Subject, key, got)
			}
		})
	}

	// Not found is not an error, wrapped or not.
	lk := newWorld()
	lk.errs = map[string]error{"contact:yossi@acme.com": fmt.Errorf("index: %w", store.ErrNotFound)}
	got, err := Match(baseConfig(), lk, &m, bcc)
	want := logged(ids(acme, beta), ids(sarah), store.Outbound)
	want.ClaimedStaff = "sarah@ourco.com"
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Match(%q) with a wrapped not-found = %+v, %v, want %+v", m.Subject, got, err, want)
	}
}

func TestMatchLooksUpEachAddressOnce(t *testing.T) {
	t.Parallel()
	lk := newWorld()
	m := &Message{
		Subject:   "Fwd: many",
		From:      as("sarah@ourco.com"),
		Sender:    &Address{Email: "sarah@ourco.com"},
		ReplyTo:   as("sarah@ourco.com"),
		To:        as("bob@acme.com", "ann@acme.com", "yossi@acme.com", sys),
		Cc:        as("bob@acme.com", "log+sarahtok@ourco.com"),
		Forwarded: &Message{From: as("yossi@acme.com"), To: as("sarah@ourco.com", "carl@acme.com")},
	}
	if _, err := Match(baseConfig(), lk, m, smtpTo("log+sarahtok@ourco.com")); err != nil {
		t.Fatalf("Match(%q) error: %v", m.Subject, err)
	}
	for key, n := range lk.calls {
		if n != 1 {
			t.Errorf("Match(%q) looked up %s %d times, want once", m.Subject, key, n)
		}
	}
}

// stringCase is a message, its delivery and an expected string.
type stringCase struct {
	name string
	m    Message
	d    Delivery
	want string
}

// TestMatchClaimedStaff: a From naming staff is only a claim unless a
// per-user secret address vouches for the message.
func TestMatchClaimedStaff(t *testing.T) {
	t.Parallel()
	tests := []stringCase{
		{"staff sender via the system address", Message{From: as("Sarah@OurCo.com"), To: as("yossi@acme.com")}, bcc, "sarah@ourco.com"},
		{"internal-domain sender", Message{From: as("office@ourco.com"), To: as("yossi@acme.com"), Cc: as("sarah@ourco.com")}, bcc, "office@ourco.com"},
		{"staff sender through their own token", Message{From: as("sarah@ourco.com"), To: as("yossi@acme.com")}, smtpTo("log+sarahtok@ourco.com"), ""},
		{"alias through a token", Message{From: as("sarah.private@gmail.com"), To: as("yossi@acme.com")}, smtpTo("log+sarahtok@ourco.com"), ""},
		{"contact writing to staff", Message{From: as("yossi@acme.com"), To: as("sarah@ourco.com")}, bcc, ""},
		{"stranger", Message{From: as("who@example.org"), To: as("sarah@ourco.com")}, bcc, ""},
		{"staff forwarding", Message{Subject: "Fwd: x", From: as("sarah@ourco.com"), To: as(sys),
			Forwarded: &Message{From: as("yossi@acme.com"), To: as("sarah@ourco.com")}}, bcc, "sarah@ourco.com"},
	}
	for _, tc := range tests {
		m := tc.m
		got, err := Match(baseConfig(), newWorld(), &m, tc.d)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got.ClaimedStaff != tc.want {
			t.Errorf("%s: ClaimedStaff = %q, want %q (decision %+v)", tc.name, got.ClaimedStaff, tc.want, got)
		}
	}
}

func TestMatchNilMessage(t *testing.T) {
	t.Parallel()
	if _, err := Match(baseConfig(), newWorld(), nil, bcc); !errors.Is(err, ErrNilMessage) {
		t.Errorf("Match(nil) error = %v, want %v", err, ErrNilMessage)
	}
}

func TestNormalizeAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
		ok   bool
	}{
		{"lowercase", "Yossi@ACME.com", "yossi@acme.com", true},
		{"trimmed", "  a@b.org\t", "a@b.org", true},
		{"angle brackets", "<A@B.org>", "a@b.org", true},
		{"plus tag kept", "a+x@b.org", "a+x@b.org", true},
		{"single label host", "log@localhost", "log@localhost", true},
		{"empty", "", "", false},
		{"no at", "yossi", "", false},
		{"no local", "@acme.com", "", false},
		{"space inside", "yo ssi@acme.com", "", false},
		{"group syntax", "undisclosed-recipients:;", "", false},
		{"bad host", "a@-acme.com", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := NormalizeAddress(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("NormalizeAddress(%q) = %q, %v, want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestUserToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		system string
		in     string
		want   string
		ok     bool
	}{
		{"token", sys, "log+abc123@ourco.com", "abc123", true},
		{"case", sys, "LOG+ABC123@OurCo.com", "abc123", true},
		{"system config case", "Log@OurCo.com", "log+abc@ourco.com", "abc", true},
		{"angle brackets", sys, "<log+abc@ourco.com>", "abc", true},
		{"token with plus", sys, "log+a+b@ourco.com", "a+b", true},
		{"system address itself", sys, sys, "", false},
		{"empty token", sys, "log+@ourco.com", "", false},
		{"other domain", sys, "log+abc@other.com", "", false},
		{"other local", sys, "logs+abc@ourco.com", "", false},
		{"prefix only", sys, "logabc@ourco.com", "", false},
		{"not an address", sys, "log+abc", "", false},
		{"no system address", "", "log+abc@ourco.com", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := UserToken(Config{SystemAddress: tc.system}, tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("UserToken(%q) = %q, %v, want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestNoiseReason(t *testing.T) {
	t.Parallel()
	tests := []stringCase{
		{"clean", Message{Subject: "Hello"}, bcc, ""},
		{"auto-submitted upper case", Message{AutoSubmitted: " Auto-Replied "}, bcc, ReasonAutoReply},
		{"precedence upper case", Message{Precedence: "BULK"}, bcc, ReasonList},
		{"blank list-id", Message{ListID: "  "}, bcc, ""},
		{"postmaster in a later from", Message{From: as("a@example.org", "postmaster@example.org")}, bcc, ReasonBounce},
		{"postmaster as a recipient is fine", Message{To: as("postmaster@example.org")}, bcc, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := NoiseReason(&tc.m, tc.d); got != tc.want {
				t.Errorf("NoiseReason(%q) = %q, want %q", tc.m.Subject, got, tc.want)
			}
			if got := Noise(NoiseReason(&tc.m, tc.d)); got != (tc.want != "") {
				t.Errorf("Noise(NoiseReason(%q)) = %v, want %v", tc.m.Subject, got, tc.want != "")
			}
		})
	}
}

func TestDefaultFreemailDomains(t *testing.T) {
	t.Parallel()
	d := DefaultFreemailDomains()
	if !slices.Contains(d, "gmail.com") {
		t.Errorf("DefaultFreemailDomains() = %v, want gmail.com in it", d)
	}
	d[0] = "changed"
	if DefaultFreemailDomains()[0] == "changed" {
		t.Errorf("DefaultFreemailDomains() shares its slice between calls")
	}
}

// FuzzMatch checks Match's invariants on arbitrary addresses and headers.
func FuzzMatch(f *testing.F) {
	f.Add("sarah@ourco.com", "yossi@acme.com", "log+sarahtok@ourco.com", "Quote", "", true, false)
	f.Add("sarah.private@gmail.com", "Yossi+x@ACME.com", "log+nosuch@ourco.com", "Fwd: x", "yossi@acme.com", false, true)
	f.Add("intern@ourco.com", "bob@eu.acme.com", sys, "Auto: away", "", true, false)
	f.Add("", "@", "log+@ourco.com", "", "<>", false, false)
	f.Fuzz(func(t *testing.T, from, to, rcpt, subject, fwdFrom string, fold, forward bool) {
		cfg := baseConfig()
		cfg.FoldPlusTags = fold
		m := &Message{Subject: subject, From: as(from), To: as(to, from), Cc: as(rcpt)}
		if forward {
			m.Forwarded = &Message{From: as(fwdFrom), To: as(to)}
		}
		d1, err := Match(cfg, newWorld(), m, smtpTo(rcpt))
		if err != nil {
			t.Fatalf("Match(%q) error: %v", subject, err)
		}
		d2, _ := Match(cfg, newWorld(), m, smtpTo(rcpt))
		if !reflect.DeepEqual(d1, d2) {
			t.Fatalf("Match(%q) not deterministic: %+v then %+v", subject, d1, d2)
		}
		if d1.Reason == "" && (len(d1.ContactIDs) == 0 || len(d1.OwnerIDs) == 0) {
			t.Errorf("Match(%q) = %+v: logged without a contact and an owner", subject, d1)
		}
		if Noise(d1.Reason) && !reflect.DeepEqual(d1, Decision{Reason: d1.Reason}) {
			t.Errorf("Match(%q) = %+v: noise with more than a reason", subject, d1)
		}
		if !Noise(d1.Reason) && d1.Direction != store.Inbound && d1.Direction != store.Outbound {
			t.Errorf("Match(%q) = %+v: bad direction", subject, d1)
		}
		seen := map[store.ID]bool{}
		for _, id := range append(append([]store.ID{}, d1.ContactIDs...), d1.OwnerIDs...) {
			if seen[id] {
				t.Errorf("Match(%q) = %+v: repeated id %d", subject, d1, id)
			}
			seen[id] = true
		}
		for _, u := range d1.Unknown {
			if _, ok := NormalizeAddress(u.Email); !ok || u.Email == sys {
				t.Errorf("Match(%q) = %+v: bad unknown %q", subject, d1, u.Email)
			}
		}
	})
}
