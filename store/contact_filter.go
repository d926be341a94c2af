package store

import (
	"bytes"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// The contact filter picks the recipients of a campaign Touchpoint sends. It
// is the interaction filter language (see filter.go) with four more keys
// about the contact itself:
//
//	org:"Acme"            people of an organisation (name, address or id)
//	kind:person           person or organization
//	email:acme.com        an address of the contact contains the text
//	name:david            the contact's name has a word starting so
//
// A free word or "phrase" matches the contact's name (words starting so) or
// an address containing it. The interaction keys (type, action, owner,
// source, contact, after, before, from, to, on) together describe one
// interaction: the contact must have at least one interaction matching them
// all, so `action:Tefillin after:2026-01-01` is everyone with a Tefillin
// interaction this year. A leading '-' negates a contact key.

// contactKeys are the keys about the contact itself.
var contactKeys = []string{"org", "kind", "email", "name"}

// ParseContactQuery parses a contact filter expression.
func ParseContactQuery(s string) (*Query, error) {
	return parseQuery(s, append(slices.Clone(filterKeys), contactKeys...))
}

// ContactFilter is a resolved contact filter.
type ContactFilter struct {
	// Interactions is set when the query has interaction terms: a contact
	// needs one interaction matching it.
	Interactions *Filter
	OrgIDs       []ID
	NotOrgIDs    []ID
	Kinds        []string
	NotKinds     []string
	Emails       []string // lowercase substrings
	NotEmails    []string
	Names        [][]string // word prefixes
	NotNames     [][]string
	Text         []string // name words or address substring
	NotText      []string
}

// resolveContactFilter splits q into contact and interaction terms and
// resolves both (names of owners, contacts and organisations to ids).
func resolveContactFilter(tx *bolt.Tx, q *Query) (*ContactFilter, error) {
	cf := &ContactFilter{}
	var ia Filter
	hasIA := false
	for _, t := range q.Terms {
		v := strings.TrimSpace(t.Value)
		var err error
		switch t.Key {
		case "org":
			var ids []ID
			if ids, err = resolveOrg(tx, v); err == nil {
				pick(t.Neg, &cf.OrgIDs, &cf.NotOrgIDs, ids...)
			}
		case "kind":
			k := strings.ToLower(v)
			if k == "organisation" {
				k = KindOrganization
			}
			if k != KindPerson && k != KindOrganization {
				err = queryErr("kind:%s: must be %s or %s", v, KindPerson, KindOrganization)
			} else {
				pick(t.Neg, &cf.Kinds, &cf.NotKinds, k)
			}
		case "email":
			pick(t.Neg, &cf.Emails, &cf.NotEmails, strings.ToLower(v))
		case "name":
			pick(t.Neg, &cf.Names, &cf.NotNames, words(v))
		case "":
			pick(t.Neg, &cf.Text, &cf.NotText, strings.ToLower(v))
		default:
			hasIA = true
			err = ia.addTerm(tx, t)
		}
		if err != nil {
			return nil, t.errField(err)
		}
	}
	if hasIA {
		if !ia.From.IsZero() && !ia.To.IsZero() && !ia.From.Before(ia.To) {
			ia.None = true
		}
		cf.Interactions = &ia
	}
	return cf, nil
}

// resolveOrg finds the organisations an org: value names.
func resolveOrg(tx *bolt.Tx, v string) ([]ID, error) {
	ids, err := resolveContact(tx, v)
	if err != nil {
		return nil, queryErr("org:%s: matches no organisation", v)
	}
	var out []ID
	for _, id := range ids {
		c, err := getContact(tx, id)
		if err != nil {
			return nil, err
		}
		switch {
		case c.Kind == KindOrganization:
			out = append(out, id)
		case c.OrganizationID != 0 && strings.Contains(v, "@"):
			out = append(out, c.OrganizationID) // a member's address names its organisation
		}
	}
	if len(out) == 0 {
		return nil, queryErr("org:%s: matches no organisation", v)
	}
	return out, nil
}

// match reports whether c satisfies the contact terms (not the
// interaction ones).
func (cf *ContactFilter) match(c *Contact) bool {
	if len(cf.OrgIDs) > 0 && !slices.Contains(cf.OrgIDs, c.OrganizationID) {
		return false
	}
	if c.OrganizationID != 0 && slices.Contains(cf.NotOrgIDs, c.OrganizationID) {
		return false
	}
	if len(cf.Kinds) > 0 && !slices.Contains(cf.Kinds, c.Kind) {
		return false
	}
	if slices.Contains(cf.NotKinds, c.Kind) {
		return false
	}
	hasAddr := func(sub string) bool {
		return slices.ContainsFunc(c.Emails, func(e string) bool { return strings.Contains(e, sub) }) ||
			slices.ContainsFunc(c.Domains, func(d string) bool { return strings.Contains(d, sub) })
	}
	if len(cf.Emails) > 0 && !slices.ContainsFunc(cf.Emails, hasAddr) {
		return false
	}
	if slices.ContainsFunc(cf.NotEmails, hasAddr) {
		return false
	}
	names := words(c.Name)
	named := func(q []string) bool { return wordsMatch(names, q) }
	if len(cf.Names) > 0 && !slices.ContainsFunc(cf.Names, named) {
		return false
	}
	if slices.ContainsFunc(cf.NotNames, named) {
		return false
	}
	text := func(q string) bool { return contactMatches(c, q, words(q)) }
	for _, q := range cf.Text {
		if !text(q) {
			return false
		}
	}
	return !slices.ContainsFunc(cf.NotText, text)
}

// ContactSelection is what a contact filter selects.
type ContactSelection struct {
	// Contacts are the selected contacts that have an address, in name
	// order, up to the limit asked; Count counts them all.
	Contacts []*Contact
	Count    int
	// NoAddress counts the selected contacts without any address (they
	// cannot be mailed); NoAddressNames lists a few of them.
	NoAddress      int
	NoAddressNames []string
}

// SelectContacts evaluates a contact filter (ParseContactQuery). It keeps
// up to limit contacts in the answer and counts the rest.
func (s *Store) SelectContacts(q *Query, limit int) (*ContactSelection, error) {
	sel := &ContactSelection{}
	err := s.view(func(tx *bolt.Tx) error {
		cf, err := resolveContactFilter(tx, q)
		if err != nil {
			return err
		}
		return cf.each(tx, func(c *Contact) {
			if len(c.Emails) == 0 {
				sel.NoAddress++
				if len(sel.NoAddressNames) < 20 {
					sel.NoAddressNames = append(sel.NoAddressNames, c.Name)
				}
				return
			}
			sel.Count++
			if len(sel.Contacts) < limit {
				sel.Contacts = append(sel.Contacts, c)
			}
		})
	})
	return sel, err
}

// each calls fn for every contact cf selects, in name order.
func (cf *ContactFilter) each(tx *bolt.Tx, fn func(*Contact)) error {
	var ids []ID
	switch {
	case cf.Interactions != nil:
		// The contacts of every matching interaction (one entry each).
		seen := map[ID]bool{}
		err := cf.Interactions.each(tx, nil, func(ia *Interaction) (bool, error) {
			for _, id := range ia.ContactIDs {
				if !seen[id] {
					seen[id] = true
					ids = append(ids, id)
				}
			}
			return true, nil
		})
		if err != nil {
			return err
		}
	case len(cf.OrgIDs) > 0:
		// Each organisation once: two terms may name the same one
		// (org:acme org:yossi@acme.com), and its members must not repeat.
		orgs := slices.Clone(cf.OrgIDs)
		slices.Sort(orgs)
		cur := tx.Bucket(ixOrgMember).Cursor()
		for _, org := range slices.Compact(orgs) {
			p := org.key()
			for k, _ := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = cur.Next() {
				ids = append(ids, keyID(k[8:]))
			}
		}
	default:
		// Every contact, already in name order.
		cur := tx.Bucket(ixContactName).Cursor()
		for k, _ := cur.First(); k != nil; k, _ = cur.Next() {
			c, err := getContact(tx, keyID(k[len(k)-8:]))
			if err != nil {
				return err
			}
			if cf.match(c) {
				fn(c)
			}
		}
		return nil
	}
	var out []*Contact
	for _, id := range ids {
		c, err := getContact(tx, id)
		if err == ErrNotFound {
			continue
		}
		if err != nil {
			return err
		}
		if cf.match(c) {
			out = append(out, c)
		}
	}
	sortContacts(out)
	for _, c := range out {
		fn(c)
	}
	return nil
}
