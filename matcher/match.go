package matcher

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"touchpoint/store"
)

// Reasons a message is not logged automatically. Noise (the first three) is
// hidden in the queue by default.
const (
	ReasonAutoReply   = "auto_reply"
	ReasonBounce      = "bounce"
	ReasonList        = "list"
	ReasonNoStaff     = "no_staff"
	ReasonNoContact   = store.ReasonNoContact
	ReasonUnparseable = store.ReasonUnparseable
	ReasonUnverified  = "unverified"
)

// Noise reports whether a reason is noise (hidden by default).
func Noise(reason string) bool {
	return reason == ReasonAutoReply || reason == ReasonBounce || reason == ReasonList
}

// Config holds the organisation's addressing rules.
type Config struct {
	// SystemAddress is the address staff BCC (lowercase); its
	// local+TOKEN@domain variants are per-user addresses.
	SystemAddress string
	// InternalDomains are the organisation's own domains (lowercase):
	// their addresses are never contacts.
	InternalDomains []string
	// FreemailDomains never match an organisation by domain.
	FreemailDomains []string
	// FoldPlusTags makes "yossi+news@x.org" match a contact listing
	// "yossi@x.org" when no contact lists the tagged address itself.
	FoldPlusTags bool
}

// Lookup is what the matcher reads from the store. Not-found answers are
// store.ErrNotFound; any other error aborts the match.
type Lookup interface {
	UserByEmail(email string) (*store.User, error)
	UserByAddressToken(token string) (*store.User, error)
	ContactByEmail(email string) (*store.Contact, error)
	OrganizationByDomain(domain string) (*store.Contact, error)
}

// Decision is the matcher's verdict on one message.
type Decision struct {
	// Reason is "" when the message is to be logged, else why not.
	Reason string
	// ContactIDs are the contacts the interaction goes on, in the order
	// their addresses appeared, without repeats.
	ContactIDs []store.ID
	// OwnerIDs are the staff taking part; the first is the owner.
	OwnerIDs []store.ID
	// Direction is store.Outbound (staff wrote it) or store.Inbound.
	Direction string
	// Unknown lists the external addresses that matched no contact, for
	// the unmatched queue's "create contact" and "remember".
	Unknown []Address
	// ClaimedStaff is the From address when it is a staff member's (or an
	// internal domain's) and nothing else vouches for it: no per-user
	// secret address was used. Anyone can write such a From; a transport
	// that requires proof (a DKIM signature aligned with its domain) marks
	// the message ReasonUnverified when the proof is missing.
	ClaimedStaff string
}

// ErrNilMessage is returned by Match for a nil message.
var ErrNilMessage = errors.New("matcher: nil message")

// Match decides what to do with m as delivered by d.
//
// Noise (bounce, auto-reply, list) is classified first and wins: such a
// Decision carries only its Reason, and no lookup is made. Otherwise the
// participants are From, Sender, Reply-To, To and Cc; the system address and
// its local+TOKEN variants are dropped, a known token naming the owner. Staff
// are users' addresses; other addresses in internal domains are dropped;
// the rest are matched to contacts by address, then (except free-mail) by
// organisation domain. A forward by staff is about the forwarded message:
// its From, Reply-To, To and Cc give the contacts and the direction.
func Match(cfg Config, lk Lookup, m *Message, d Delivery) (Decision, error) {
	if m == nil {
		return Decision{}, ErrNilMessage
	}
	if reason := NoiseReason(m, d); reason != "" {
		return Decision{Reason: reason}, nil
	}
	r := newResolver(cfg, lk)
	tokenUsers, err := r.tokenUsers(m, d)
	if err != nil {
		return Decision{}, err
	}
	from, err := r.first(m.From)
	if err != nil {
		return Decision{}, err
	}
	hasToken := len(tokenUsers) > 0
	// A token user sending from an address the store does not know (an
	// alias) is still staff writing: the alias is neither a contact nor
	// unknown.
	aliasAddr := ""
	if hasToken && from.kind == kindUnknown {
		aliasAddr = from.addr.Email
	}
	staffWrote := from.kind == kindStaff || from.kind == kindInternal ||
		hasToken && (from.kind == kindUnknown || from.kind == kindNone)
	forward := m.Forwarded != nil &&
		(from.kind == kindStaff || hasToken && from.kind != kindContact)

	var dec Decision
	addOwner := func(u *store.User) {
		if !slices.Contains(dec.OwnerIDs, u.ID) {
			dec.OwnerIDs = append(dec.OwnerIDs, u.ID)
		}
	}
	// The owner: a token user (the sender, when it used its own token),
	// else the sender if staff, else the staff among the recipients.
	if from.kind == kindStaff && slices.ContainsFunc(tokenUsers, func(u *store.User) bool { return u.ID == from.user.ID }) {
		addOwner(from.user)
	}
	for _, u := range tokenUsers {
		addOwner(u)
	}
	staffLists := [][]Address{m.From, senderList(m), m.To, m.Cc, m.ReplyTo}
	if forward {
		f := m.Forwarded
		staffLists = append(staffLists, f.From, f.ReplyTo, f.To, f.Cc)
	}
	for _, list := range staffLists {
		for _, a := range list {
			p, err := r.resolve(a)
			if err != nil {
				return Decision{}, err
			}
			if p.kind == kindStaff {
				addOwner(p.user)
			}
		}
	}

	contactLists := [][]Address{m.From, senderList(m), m.ReplyTo, m.To, m.Cc}
	if forward {
		f := m.Forwarded
		contactLists = [][]Address{f.From, f.ReplyTo, f.To, f.Cc}
	}
	for _, list := range contactLists {
		for _, a := range list {
			p, err := r.resolve(a)
			if err != nil {
				return Decision{}, err
			}
			switch {
			case p.kind == kindContact:
				if !slices.Contains(dec.ContactIDs, p.contact.ID) {
					dec.ContactIDs = append(dec.ContactIDs, p.contact.ID)
				}
			case p.kind == kindUnknown && p.addr.Email != aliasAddr:
				dec.Unknown = addUnknown(dec.Unknown, p.addr)
			}
		}
	}

	dec.Direction = store.Inbound
	if forward {
		orig, err := r.first(m.Forwarded.From)
		if err != nil {
			return Decision{}, err
		}
		// Inbound when a contact (or a stranger) wrote the original; outbound
		// for staff's own mail, the token user's alias included.
		if orig.kind != kindContact && orig.kind != kindUnknown || aliasAddr != "" && orig.addr.Email == aliasAddr {
			dec.Direction = store.Outbound
		}
	} else if staffWrote {
		dec.Direction = store.Outbound
	}

	if !hasToken && (from.kind == kindStaff || from.kind == kindInternal) {
		dec.ClaimedStaff = from.addr.Email
	}
	switch {
	case len(dec.OwnerIDs) == 0:
		dec.Reason = ReasonNoStaff
	case len(dec.ContactIDs) == 0:
		dec.Reason = ReasonNoContact
	}
	return dec, nil
}

func senderList(m *Message) []Address {
	if m.Sender == nil {
		return nil
	}
	return []Address{*m.Sender}
}

// addUnknown appends a, or gives the entry already there a's display name
// when it had none.
func addUnknown(list []Address, a Address) []Address {
	for i := range list {
		if list[i].Email == a.Email {
			if list[i].Name == "" {
				list[i].Name = a.Name
			}
			return list
		}
	}
	return append(list, a)
}

// kind is what an address turned out to be.
type kind uint8

const (
	kindNone     kind = iota // not an address, or the system address
	kindStaff                // a user's address
	kindInternal             // an internal domain's, not a user's: dropped
	kindContact              // a contact's, or its organisation's domain
	kindUnknown              // external, matching no contact
)

// party is one resolved address.
type party struct {
	addr    Address // Email normalised, Name trimmed
	kind    kind
	user    *store.User    // kindStaff
	contact *store.Contact // kindContact
}

// resolver resolves addresses for one Match, each address and domain once.
type resolver struct {
	cfg      Config
	lk       Lookup
	sys      sysAddr
	internal domainSet
	freemail domainSet
	parties  map[string]party
	orgs     map[string]*store.Contact
}

func newResolver(cfg Config, lk Lookup) *resolver {
	sys, _ := systemParts(cfg)
	return &resolver{
		cfg:      cfg,
		lk:       lk,
		sys:      sys,
		internal: newDomainSet(cfg.InternalDomains),
		freemail: newDomainSet(cfg.FreemailDomains),
		parties:  map[string]party{},
		orgs:     map[string]*store.Contact{},
	}
}

// tokenUsers returns the users named by per-user addresses among the
// envelope recipients, To and Cc, in that order, without repeats. Unknown
// tokens, and those of disabled users, are ignored.
func (r *resolver) tokenUsers(m *Message, d Delivery) ([]*store.User, error) {
	var users []*store.User
	tried := map[string]bool{}
	check := func(addr string) error {
		a, ok := NormalizeAddress(addr)
		if !ok {
			return nil
		}
		tok, ok := r.sys.token(a)
		if !ok || tried[tok] {
			return nil
		}
		tried[tok] = true
		u, err := lookup(r.lk.UserByAddressToken, tok)
		if err != nil {
			return fmt.Errorf("look up user address token: %w", err)
		}
		// A disabled user's secret address no longer attributes (the SMTP
		// listener refuses it too); their own addresses stay staff.
		if u == nil || u.Disabled {
			return nil
		}
		if !slices.ContainsFunc(users, func(v *store.User) bool { return v.ID == u.ID }) {
			users = append(users, u)
		}
		return nil
	}
	for _, rcpt := range d.Recipients {
		if err := check(rcpt); err != nil {
			return nil, err
		}
	}
	for _, list := range [][]Address{m.To, m.Cc} {
		for _, a := range list {
			if err := check(a.Email); err != nil {
				return nil, err
			}
		}
	}
	return users, nil
}

// first resolves the first well-formed address of list (kindNone when
// there is none).
func (r *resolver) first(list []Address) (party, error) {
	for _, a := range list {
		if _, ok := NormalizeAddress(a.Email); ok {
			return r.resolve(a)
		}
	}
	return party{}, nil
}

func (r *resolver) resolve(a Address) (party, error) {
	email, ok := NormalizeAddress(a.Email)
	if !ok {
		return party{}, nil
	}
	name := strings.TrimSpace(a.Name)
	if p, ok := r.parties[email]; ok {
		p.addr.Name = name
		return p, nil
	}
	p, err := r.classify(email)
	if err != nil {
		return party{}, err
	}
	p.addr = Address{Name: name, Email: email}
	r.parties[email] = p
	return p, nil
}

func (r *resolver) classify(email string) (party, error) {
	if r.sys.isSystem(email) {
		return party{kind: kindNone}, nil
	}
	folded := ""
	if r.cfg.FoldPlusTags {
		folded, _ = foldPlusTag(email)
	}
	for _, e := range []string{email, folded} {
		if e == "" {
			continue
		}
		u, err := lookup(r.lk.UserByEmail, e)
		if err != nil {
			return party{}, fmt.Errorf("look up user %s: %w", e, err)
		}
		if u != nil {
			return party{kind: kindStaff, user: u}, nil
		}
	}
	_, domain := splitAddress(email)
	if r.internal.has(domain) {
		return party{kind: kindInternal}, nil
	}
	for _, e := range []string{email, folded} {
		if e == "" {
			continue
		}
		c, err := lookup(r.lk.ContactByEmail, e)
		if err != nil {
			return party{}, fmt.Errorf("look up contact %s: %w", e, err)
		}
		if c != nil {
			return party{kind: kindContact, contact: c}, nil
		}
	}
	if r.freemail.has(domain) {
		return party{kind: kindUnknown}, nil
	}
	// eu.acme.com falls back to acme.com; never to a bare top-level domain.
	for d := domain; strings.Contains(d, "."); _, d, _ = strings.Cut(d, ".") {
		org, err := r.org(d)
		if err != nil {
			return party{}, err
		}
		if org != nil {
			return party{kind: kindContact, contact: org}, nil
		}
	}
	return party{kind: kindUnknown}, nil
}

func (r *resolver) org(domain string) (*store.Contact, error) {
	if c, ok := r.orgs[domain]; ok {
		return c, nil
	}
	c, err := lookup(r.lk.OrganizationByDomain, domain)
	if err != nil {
		return nil, fmt.Errorf("look up organisation %s: %w", domain, err)
	}
	r.orgs[domain] = c
	return c, nil
}

// lookup calls get, turning a not-found answer into nil.
func lookup[T any](get func(string) (*T, error), key string) (*T, error) {
	v, err := get(key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return v, err
}
