package store

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Contact kinds.
const (
	KindPerson       = "person"
	KindOrganization = "organization"
)

// Contact is a person or an organisation that interactions are logged on.
type Contact struct {
	ID             ID        `json:"id"`
	Kind           string    `json:"kind"`
	Name           string    `json:"name"`
	Emails         []string  `json:"emails"`
	Domains        []string  `json:"domains"`
	Phones         []string  `json:"phones"`
	OrganizationID ID        `json:"organization_id,omitempty"`
	Address        string    `json:"address"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

const contactV1 = 1

func (c *Contact) encode() []byte {
	e := encoder{b: make([]byte, 0, 64+len(c.Name)+len(c.Address))}
	e.byte(contactV1)
	e.str(c.Kind)
	e.str(c.Name)
	e.strs(c.Emails)
	e.strs(c.Domains)
	e.strs(c.Phones)
	e.id(c.OrganizationID)
	e.str(c.Address)
	e.time(c.CreatedAt)
	e.time(c.UpdatedAt)
	return e.b
}

func decodeContact(id ID, b []byte) (*Contact, error) {
	d := decoder{b: b}
	if d.byte() != contactV1 {
		return nil, errCorrupt
	}
	c := &Contact{ID: id}
	c.Kind = d.str()
	c.Name = d.str()
	c.Emails = d.strs()
	c.Domains = d.strs()
	c.Phones = d.strs()
	c.OrganizationID = d.id()
	c.Address = d.str()
	c.CreatedAt = d.time()
	c.UpdatedAt = d.time()
	return c, d.err
}

// normalize validates c in place: trims, lowercases addresses, drops
// duplicates. References to other records are checked in the transaction.
func (c *Contact) normalize() error {
	c.Kind = strings.ToLower(strings.TrimSpace(c.Kind))
	if c.Kind == "" {
		c.Kind = KindPerson
	}
	if c.Kind != KindPerson && c.Kind != KindOrganization {
		return invalid("kind", "must be %q or %q", KindPerson, KindOrganization)
	}
	c.Name = strings.TrimSpace(c.Name)
	if err := checkText("name", c.Name, MaxNameLen, true); err != nil {
		return err
	}
	var err error
	if c.Emails, err = normList("emails", c.Emails, NormalizeEmail); err != nil {
		return err
	}
	if c.Domains, err = normList("domains", c.Domains, NormalizeDomain); err != nil {
		return err
	}
	if c.Phones, err = normList("phones", c.Phones, normPhone); err != nil {
		return err
	}
	if c.Kind == KindPerson && len(c.Domains) > 0 {
		return invalid("domains", "only organisations have email domains")
	}
	if c.Kind == KindOrganization && c.OrganizationID != 0 {
		return invalid("organization_id", "an organisation cannot belong to another")
	}
	c.Address = strings.TrimSpace(c.Address)
	return checkText("address", c.Address, MaxAddressLen, false)
}

func getContact(tx *bolt.Tx, id ID) (*Contact, error) {
	v := tx.Bucket(bContacts).Get(id.key())
	if v == nil {
		return nil, ErrNotFound
	}
	return decodeContact(id, v)
}

// contactIndex lists the (bucket, key, value) entries that exist for c.
func contactIndex(c *Contact) []indexEntry {
	idk := c.ID.key()
	var out []indexEntry
	for _, e := range c.Emails {
		out = append(out, indexEntry{ixContactEmail, []byte(e), idk})
	}
	for _, d := range c.Domains {
		out = append(out, indexEntry{ixContactDomain, []byte(d), idk})
	}
	seen := map[string]bool{}
	for _, w := range words(c.Name) {
		if !seen[w] {
			seen[w] = true
			out = append(out, indexEntry{ixContactWord, append(strPrefix(w), idk...), nil})
		}
	}
	out = append(out, indexEntry{ixContactName, nameKey(c), nil})
	if c.OrganizationID != 0 {
		out = append(out, indexEntry{ixOrgMember, append(c.OrganizationID.key(), idk...), nil})
	}
	return out
}

type indexEntry struct {
	bucket, key, value []byte
}

func putIndex(tx *bolt.Tx, entries []indexEntry) error {
	for _, e := range entries {
		if isPostings(e.bucket) {
			prefix, h := splitEntry(e.key)
			if err := postingAdd(tx.Bucket(e.bucket), prefix, []hit{h}); err != nil {
				return err
			}
			continue
		}
		v := e.value
		if v == nil {
			v = []byte{}
		}
		if err := tx.Bucket(e.bucket).Put(e.key, v); err != nil {
			return err
		}
	}
	return nil
}

func deleteIndex(tx *bolt.Tx, entries []indexEntry) error {
	for _, e := range entries {
		if isPostings(e.bucket) {
			prefix, h := splitEntry(e.key)
			if err := postingRemove(tx.Bucket(e.bucket), prefix, []hit{h}); err != nil {
				return err
			}
			continue
		}
		if err := tx.Bucket(e.bucket).Delete(e.key); err != nil {
			return err
		}
	}
	return nil
}

// putContact checks references and uniqueness, then writes c and its index,
// replacing old's index entries when old is not nil.
func putContact(tx *bolt.Tx, c, old *Contact) error {
	if err := checkOrganization(tx, c); err != nil {
		return err
	}
	if err := checkAddresses(c, storedHolder(tx)); err != nil {
		return err
	}
	if old != nil {
		if old.Kind == KindOrganization && c.Kind != KindOrganization && hasMembers(tx, c.ID) {
			return invalid("kind", "this organisation has members; move them first")
		}
		if err := deleteIndex(tx, contactIndex(old)); err != nil {
			return err
		}
	}
	if err := putIndex(tx, contactIndex(c)); err != nil {
		return err
	}
	return tx.Bucket(bContacts).Put(c.ID.key(), c.encode())
}

// checkOrganization checks that c's organisation, if any, is one.
func checkOrganization(tx *bolt.Tx, c *Contact) error {
	if c.OrganizationID == 0 {
		return nil
	}
	org, err := getContact(tx, c.OrganizationID)
	if err == ErrNotFound || (err == nil && org.Kind != KindOrganization) {
		return invalid("organization_id", "%d is not an organisation", c.OrganizationID)
	}
	return err
}

// holder returns the contact an address (ixContactEmail) or domain
// (ixContactDomain) belongs to, if any, and how an error names it.
type holder func(bucket []byte, key string) (id ID, name string, ok bool)

func storedHolder(tx *bolt.Tx) holder {
	return func(bucket []byte, key string) (ID, string, bool) {
		v := tx.Bucket(bucket).Get([]byte(key))
		if v == nil {
			return 0, "", false
		}
		return keyID(v), strconv.FormatUint(uint64(keyID(v)), 10), true
	}
}

// checkAddresses checks that no other contact holds c's addresses and
// domains.
func checkAddresses(c *Contact, held holder) error {
	for _, e := range c.Emails {
		if id, name, ok := held(ixContactEmail, e); ok && id != c.ID {
			return conflict("emails", "%s already belongs to contact %s", e, name)
		}
	}
	for _, d := range c.Domains {
		if id, name, ok := held(ixContactDomain, d); ok && id != c.ID {
			return conflict("domains", "%s already belongs to organisation %s", d, name)
		}
	}
	return nil
}

func hasMembers(tx *bolt.Tx, org ID) bool {
	p := org.key()
	k, _ := tx.Bucket(ixOrgMember).Cursor().Seek(p)
	return k != nil && bytes.HasPrefix(k, p)
}

// CreateContact validates c, assigns its id and stores it.
func (s *Store) CreateContact(ctx context.Context, c *Contact) error {
	if err := c.normalize(); err != nil {
		return err
	}
	c.ID = s.NewID()
	c.CreatedAt = s.now().UTC()
	c.UpdatedAt = c.CreatedAt
	return s.update(ctx, func(tx *bolt.Tx) error { return putContact(tx, c, nil) })
}

// CreateContacts validates and stores many contacts in one transaction,
// all or none: the bulk path of imports and touchpoint seed. An error
// names the contact by its index ("[3].emails"), a conflict included:
// with a stored contact or an earlier one of the batch.
//
// The records go on full pages (ids ascend). So do the index entries when
// the batch is at least as large as the contacts stored: each index page
// then takes a page or more of new entries, and packed pages stay mostly
// full. A smaller batch's entries are scattered, a few per page, and a
// full page would split into a full one and a near-empty one: those keep
// bbolt's half-and-half split. (Measured at 100k contacts in batches of
// 2,000 with full pages: 15% of the pages in use; one at a time: 51–69%.)
// Other writes grouped into the same commit share those fills.
func (s *Store) CreateContacts(ctx context.Context, cs []*Contact) error {
	now := s.now().UTC()
	for i, c := range cs {
		if err := c.normalize(); err != nil {
			return itemError(i, err)
		}
		c.CreatedAt, c.UpdatedAt = now, now
	}
	newIDs(s, cs, func(c *Contact, id ID) { c.ID = id })
	return s.update(ctx, func(tx *bolt.Tx) error {
		records := tx.Bucket(bContacts)
		if atMost(records, len(cs)) {
			for _, b := range contactIndexes {
				tx.Bucket(b).FillPercent = 1
			}
		}
		records.FillPercent = 1
		// The batch's addresses and domains, checked as they are taken: a
		// conflict within the batch names the other contact by its index.
		type taken struct {
			id ID
			i  int
		}
		batch := map[string]taken{} // bucket 0x00 address or domain
		held := storedHolder(tx)
		inBatch := func(bucket []byte, key string) (ID, string, bool) {
			if t, ok := batch[string(bucket)+"\x00"+key]; ok {
				return t.id, fmt.Sprintf("[%d] of this batch", t.i), true
			}
			return held(bucket, key)
		}
		var entries []indexEntry
		for i, c := range cs {
			if err := checkOrganization(tx, c); err != nil {
				return itemError(i, err)
			}
			if err := checkAddresses(c, inBatch); err != nil {
				return itemError(i, err)
			}
			for _, e := range contactIndex(c) {
				if e.value != nil { // an address or a domain: unique
					batch[string(e.bucket)+"\x00"+string(e.key)] = taken{c.ID, i}
				}
				entries = append(entries, e)
			}
			if err := records.Put(c.ID.key(), c.encode()); err != nil {
				return err
			}
		}
		// In key order: bbolt inserts into a node's sorted slice, so keys in
		// random order would move half of a large node for each.
		slices.SortFunc(entries, func(a, b indexEntry) int {
			return cmp.Or(bytes.Compare(a.bucket, b.bucket), bytes.Compare(a.key, b.key))
		})
		return putIndex(tx, entries)
	})
}

// atMost reports whether b holds at most n keys, in O(n).
func atMost(b *bolt.Bucket, n int) bool {
	c := b.Cursor()
	k, _ := c.First()
	for range n {
		if k == nil {
			return true
		}
		k, _ = c.Next()
	}
	return k == nil
}

// contactIndexes are the contacts' index buckets.
var contactIndexes = [][]byte{ixContactEmail, ixContactDomain, ixContactWord, ixContactName, ixOrgMember}

// UpdateContact applies edit to the stored contact and saves the result.
// edit runs inside the write and may run more than once.
func (s *Store) UpdateContact(ctx context.Context, id ID, edit func(*Contact) error) (*Contact, error) {
	var out *Contact
	now := s.now().UTC()
	err := s.update(ctx, func(tx *bolt.Tx) error {
		old, err := getContact(tx, id)
		if err != nil {
			return err
		}
		c, _ := decodeContact(id, old.encode())
		if err := edit(c); err != nil {
			return err
		}
		c.ID, c.CreatedAt, c.UpdatedAt = id, old.CreatedAt, now
		if err := c.normalize(); err != nil {
			return err
		}
		if c.OrganizationID == id {
			return invalid("organization_id", "a contact cannot belong to itself")
		}
		out = c
		return putContact(tx, c, old)
	})
	return out, err
}

// DeleteContact removes a contact. Its interactions are detached from it;
// those that were on it alone are deleted with it, raw messages included.
// Members of a deleted organisation lose their organisation link.
func (s *Store) DeleteContact(ctx context.Context, id ID) error {
	now := s.now().UTC()
	return s.update(ctx, func(tx *bolt.Tx) error {
		c, err := getContact(tx, id)
		if err != nil {
			return err
		}
		rm, err := removeContact(tx, c, now)
		if err != nil {
			return err
		}
		_, err = dropRaws(tx, rm.deleted)
		return err
	})
}

// contactRemoval says what removeContact did.
type contactRemoval struct {
	deleted  []*Interaction // the interactions that were on the contact alone
	detached int            // shared interactions that lost the contact
	members  int            // members that lost their organisation
}

// removeContact deletes c, its index entries and the interactions on it
// alone, detaches it from shared ones and unlinks its members.
func removeContact(tx *bolt.Tx, c *Contact, now time.Time) (contactRemoval, error) {
	var r contactRemoval
	// Collect first: a bbolt cursor must not see its bucket change.
	var iids []ID
	p := c.ID.key()
	it := newPostingIter(tx.Bucket(ixContactTime), p, 0, hit{math.MaxUint64, math.MaxUint64})
	for h, ok := it.next(); ok; h, ok = it.next() {
		iids = append(iids, h.id)
	}
	if it.err != nil {
		return r, it.err
	}
	for _, iid := range iids {
		gone, err := detachInteraction(tx, iid, c.ID, now)
		if err != nil {
			return r, err
		}
		if gone != nil {
			r.deleted = append(r.deleted, gone)
		} else {
			r.detached++
		}
	}
	var members []ID
	cur := tx.Bucket(ixOrgMember).Cursor()
	for k, _ := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = cur.Next() {
		members = append(members, keyID(k[8:]))
	}
	for _, m := range members {
		mc, err := getContact(tx, m)
		if err != nil {
			return r, err
		}
		old := *mc
		mc.OrganizationID = 0
		mc.UpdatedAt = now
		if err := putContact(tx, mc, &old); err != nil {
			return r, err
		}
	}
	r.members = len(members)
	if err := deleteIndex(tx, contactIndex(c)); err != nil {
		return r, err
	}
	return r, tx.Bucket(bContacts).Delete(c.ID.key())
}

// GetContact returns one contact.
func (s *Store) GetContact(id ID) (*Contact, error) {
	var c *Contact
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		c, err = getContact(tx, id)
		return err
	})
	return c, err
}

// Members lists the people of an organisation, by name.
func (s *Store) Members(org ID) ([]*Contact, error) {
	var out []*Contact
	err := s.view(func(tx *bolt.Tx) error {
		p := org.key()
		cur := tx.Bucket(ixOrgMember).Cursor()
		for k, _ := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = cur.Next() {
			c, err := getContact(tx, keyID(k[8:]))
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return nil
	})
	sortContacts(out)
	return out, err
}

func sortContacts(cs []*Contact) {
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := strings.ToLower(cs[i].Name), strings.ToLower(cs[j].Name)
		if a != b {
			return a < b
		}
		return cs[i].ID < cs[j].ID
	})
}

// maxSearchCandidates bounds the work of one search.
const maxSearchCandidates = 20_000

// SearchContacts lists contacts by name. With a query, it returns those whose
// name words start with every query word, or whose email address or domain
// contains the query; without one, every contact. Either way the list is in
// name order, limit at a time; the returned cursor continues it ("" at the
// end).
func (s *Store) SearchContacts(q string, limit int, after string) ([]*Contact, string, error) {
	limit = clampLimit(limit)
	q = strings.ToLower(strings.TrimSpace(q))
	var out []*Contact
	var next string
	err := s.view(func(tx *bolt.Tx) error {
		if q == "" {
			return listContacts(tx, limit, after, &out, &next)
		}
		ids := map[ID]bool{}
		qw := words(q)
		if len(qw) > 0 {
			p := []byte(qw[0])
			cur := tx.Bucket(ixContactWord).Cursor()
			for k, _ := cur.Seek(p); k != nil && bytes.HasPrefix(k, p) && len(ids) < maxSearchCandidates; k, _ = cur.Next() {
				ids[keyID(k[len(k)-8:])] = true
			}
		}
		for _, b := range [][]byte{ixContactEmail, ixContactDomain} {
			// Addresses match anywhere ("acme" finds sarah@acme.org), so
			// these two small indexes are scanned.
			cur := tx.Bucket(b).Cursor()
			for k, v := cur.First(); k != nil && len(ids) < maxSearchCandidates; k, v = cur.Next() {
				if bytes.Contains(k, []byte(q)) {
					ids[keyID(v)] = true
				}
			}
		}
		match := func(c *Contact) bool { return contactMatches(c, q, qw) }
		if len(ids) > 4*limit {
			// Many candidates (a common word, "gmail"): walking the
			// sorted names and decoding only candidates stops after one
			// page, where decoding and sorting them all does not.
			return walkNames(tx, limit, after, ids, match, &out, &next)
		}
		var start []byte
		if after != "" {
			var err error
			if start, err = decodeNameCursor(after); err != nil {
				return err
			}
		}
		for id := range ids {
			c, err := getContact(tx, id)
			if err != nil {
				return err
			}
			if match(c) && (start == nil || bytes.Compare(nameKey(c), start) > 0) {
				out = append(out, c)
			}
		}
		return nil
	})
	sortContacts(out)
	if len(out) > limit {
		out = out[:limit]
		next = encodeNameCursor(nameKey(out[limit-1]))
	}
	return out, next, err
}

// nameKey is c's key in the name index: the order of every contact list.
func nameKey(c *Contact) []byte {
	return append(strPrefix(strings.ToLower(c.Name)), c.ID.key()...)
}

func contactMatches(c *Contact, q string, qw []string) bool {
	for _, list := range [][]string{c.Emails, c.Domains} {
		for _, e := range list {
			if strings.Contains(e, q) {
				return true
			}
		}
	}
	if len(qw) == 0 {
		return false
	}
	names := words(c.Name)
	for _, w := range qw {
		found := false
		for _, n := range names {
			if strings.HasPrefix(n, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func listContacts(tx *bolt.Tx, limit int, after string, out *[]*Contact, next *string) error {
	return walkNames(tx, limit, after, nil, nil, out, next)
}

// walkNames lists contacts in name order from the cursor after, up to
// limit: every one, or those whose id is in only (and that match).
func walkNames(tx *bolt.Tx, limit int, after string, only map[ID]bool, match func(*Contact) bool, out *[]*Contact, next *string) error {
	cur := tx.Bucket(ixContactName).Cursor()
	var k []byte
	if after != "" {
		start, err := decodeNameCursor(after)
		if err != nil {
			return err
		}
		k, _ = cur.Seek(start)
		if bytes.Equal(k, start) {
			k, _ = cur.Next()
		}
	} else {
		k, _ = cur.First()
	}
	var last []byte
	for ; k != nil; k, _ = cur.Next() {
		if len(*out) == limit {
			*next = encodeNameCursor(last)
			return nil
		}
		id := keyID(k[len(k)-8:])
		if only != nil && !only[id] {
			continue
		}
		c, err := getContact(tx, id)
		if err != nil {
			return err
		}
		if match != nil && !match(c) {
			continue
		}
		*out = append(*out, c)
		last = k
	}
	return nil
}

// The contact list cursor is the name-index key of the last contact returned;
// the next page starts after it.
func encodeNameCursor(k []byte) string { return b64(k) }

func decodeNameCursor(s string) ([]byte, error) {
	k, err := unb64(s)
	if err != nil || len(k) < 9 {
		return nil, ErrBadCursor
	}
	return k, nil
}

// CountContacts returns the number of contacts.
func (s *Store) CountContacts() (int, error) {
	var n int
	err := s.view(func(tx *bolt.Tx) error {
		n = tx.Bucket(bContacts).Stats().KeyN
		return nil
	})
	return n, err
}
