package store

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Unmatched statuses.
const (
	StatusPending   = "pending"
	StatusResolved  = "resolved"
	StatusDiscarded = "discarded"
)

// UnmatchedStatuses lists the statuses in the order the UI offers them.
var UnmatchedStatuses = []string{StatusPending, StatusResolved, StatusDiscarded}

// Reasons the store itself falls back to (the matcher owns the full list).
const (
	ReasonNoContact   = "no_contact"
	ReasonUnparseable = "unparseable"
)

// Ingest outcomes.
const (
	IngestLogged    = "logged"
	IngestUnmatched = "unmatched"
	IngestDuplicate = "duplicate"
	// IngestFailed: journaled, but the database could not take it; kept
	// in a file beside the journal (see deadLetter).
	IngestFailed = "failed"
)

// Unmatched is a received message that was not logged automatically. It
// keeps the interaction it would become (Draft: title, text, mail headers,
// owners, direction), so resolving it needs no re-parsing.
type Unmatched struct {
	ID         ID
	ReceivedAt time.Time
	Reason     string
	Status     string
	// Unknown lists the external addresses that matched no contact.
	Unknown       []string
	DedupeKey     string
	Draft         *Interaction
	ResolvedAt    time.Time
	ResolvedBy    ID
	InteractionID ID
}

const unmatchedV1 = 1

func (u *Unmatched) encode() []byte {
	var e encoder
	e.byte(unmatchedV1)
	e.time(u.ReceivedAt)
	e.str(u.Reason)
	e.str(u.Status)
	e.strs(u.Unknown)
	e.str(u.DedupeKey)
	e.bytes(u.Draft.encode())
	e.time(u.ResolvedAt)
	e.id(u.ResolvedBy)
	e.id(u.InteractionID)
	return e.b
}

func decodeUnmatched(id ID, b []byte) (*Unmatched, error) {
	d := decoder{b: b}
	if d.byte() != unmatchedV1 {
		return nil, errCorrupt
	}
	u := &Unmatched{ID: id}
	u.ReceivedAt = d.time()
	u.Reason = d.str()
	u.Status = d.str()
	u.Unknown = d.strs()
	u.DedupeKey = d.str()
	draft := d.raw()
	u.ResolvedAt = d.time()
	u.ResolvedBy = d.id()
	u.InteractionID = d.id()
	if d.err != nil {
		return nil, d.err
	}
	var err error
	u.Draft, err = decodeInteraction(0, draft)
	return u, err
}

func unmatchedIndex(u *Unmatched) []indexEntry {
	out := []indexEntry{{ixUnmatched, tiKey(strPrefix(u.Status), u.ReceivedAt, u.ID), nil}}
	if u.Status == StatusPending {
		for _, a := range u.Unknown {
			out = append(out, indexEntry{ixUnmatchedAddr, append(strPrefix(a), u.ID.key()...), nil})
		}
	}
	return out
}

func putUnmatched(tx *bolt.Tx, u, old *Unmatched) error {
	if old != nil {
		if err := deleteIndex(tx, unmatchedIndex(old)); err != nil {
			return err
		}
	}
	if err := putIndex(tx, unmatchedIndex(u)); err != nil {
		return err
	}
	return tx.Bucket(bUnmatched).Put(u.ID.key(), u.encode())
}

func getUnmatched(tx *bolt.Tx, id ID) (*Unmatched, error) {
	v := tx.Bucket(bUnmatched).Get(id.key())
	if v == nil {
		return nil, ErrNotFound
	}
	return decodeUnmatched(id, v)
}

// Dedupe entries point at what a message became.
const (
	dedupeInteraction = 'i'
	dedupeUnmatched   = 'u'
)

func dedupeValue(kind byte, id ID) []byte { return append([]byte{kind}, id.key()...) }

// Incoming is a received message ready to store: the raw bytes, its dedupe
// key, and the interaction it becomes (ContactIDs set when Reason is "") or
// the reason it is not logged.
type Incoming struct {
	DedupeKey   string
	Raw         []byte
	Interaction *Interaction // Email set; Source says how it came
	Reason      string
	Unknown     []string
	ReceivedAt  time.Time
}

// IngestResult says what became of a message.
type IngestResult struct {
	Status        string `json:"status"`
	InteractionID ID     `json:"interaction_id,omitempty"`
	UnmatchedID   ID     `json:"unmatched_id,omitempty"`
}

// MaxRawBytes bounds one stored raw message.
const MaxRawBytes = 64 << 20

// Ingest stores a received message exactly once: in one transaction it
// checks the dedupe key, stores the raw message and either the interaction
// or the unmatched entry. When Ingest returns nil the message is durable.
// A message whose interaction turns out invalid at write time (a contact
// deleted meanwhile) is kept as unmatched rather than refused: nothing
// received is dropped.
func (s *Store) Ingest(ctx context.Context, in *Incoming) (IngestResult, error) {
	p, err := s.prepare(in)
	if err != nil {
		return IngestResult{}, err
	}
	var res IngestResult
	err = s.update(ctx, func(tx *bolt.Tx) error {
		var err error
		res, err = p.write(tx)
		return err
	})
	return res, err
}

// MaxDedupeKeyLen bounds an Incoming's DedupeKey.
const MaxDedupeKeyLen = 1000

// prepared is an Incoming checked and given its ids, ready to write.
type prepared struct {
	in            *Incoming
	reason        string
	rawID, itemID ID
	rawZ          []byte // in.Raw compressed, as bRawZ keeps it
}

// prepare checks what needs no transaction and assigns ids.
func (s *Store) prepare(in *Incoming) (*prepared, error) {
	if in.DedupeKey == "" || len(in.DedupeKey) > MaxDedupeKeyLen {
		return nil, invalid("dedupe_key", "is required (at most %d bytes)", MaxDedupeKeyLen)
	}
	if len(in.Raw) > MaxRawBytes {
		return nil, invalid("raw", "larger than %d bytes", MaxRawBytes)
	}
	now := s.now().UTC()
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = now
	}
	ia := in.Interaction
	if ia.Email == nil {
		ia.Email = &Email{}
	}
	reason := in.Reason
	if reason == "" {
		if err := ia.normalize(now); err != nil {
			s.log.Warn("received message does not make a valid interaction; keeping it unmatched", "err", err)
			reason = ReasonUnparseable
		}
	}
	if reason != "" {
		ia.ContactIDs = nil
		sanitizeDraft(ia, now)
	}
	p := &prepared{in: in, reason: reason, rawID: s.NewID(), itemID: s.NewID(), rawZ: compressRaw(in.Raw)}
	ia.Email.RawID = p.rawID
	ia.CreatedAt, ia.UpdatedAt = now, now
	return p, nil
}

// write stores a prepared message in tx. It may run more than once (the
// writer's retry), so it derives everything from p and tx.
func (p *prepared) write(tx *bolt.Tx) (IngestResult, error) {
	in, ia := p.in, p.in.Interaction
	dd := tx.Bucket(ixDedupe)
	if v := dd.Get([]byte(in.DedupeKey)); len(v) == 9 {
		if v[0] == dedupeInteraction {
			return IngestResult{Status: IngestDuplicate, InteractionID: keyID(v[1:])}, nil
		}
		return IngestResult{Status: IngestDuplicate, UnmatchedID: keyID(v[1:])}, nil
	}
	if p.rawZ == nil { // replayed from the journal
		p.rawZ = compressRaw(in.Raw)
	}
	if err := putRaw(tx, p.rawID, p.rawZ); err != nil {
		return IngestResult{}, err
	}
	why := p.reason
	if why == "" {
		ia.ID = p.itemID
		err := ia.resolve(tx)
		var ve *ValidationError
		switch {
		case err == nil:
			if err := putInteraction(tx, ia, nil); err != nil {
				return IngestResult{}, err
			}
			return IngestResult{Status: IngestLogged, InteractionID: p.itemID}, dd.Put([]byte(in.DedupeKey), dedupeValue(dedupeInteraction, p.itemID))
		case errors.As(err, &ve):
			why = ReasonNoContact // a contact or owner vanished since matching
		default:
			return IngestResult{}, err
		}
	}
	draft := *ia
	draft.ID, draft.ContactIDs = 0, nil
	u := &Unmatched{ID: p.itemID, ReceivedAt: in.ReceivedAt, Reason: why, Status: StatusPending,
		Unknown: normAddrs(in.Unknown), DedupeKey: in.DedupeKey, Draft: &draft}
	if err := putUnmatched(tx, u, nil); err != nil {
		return IngestResult{}, err
	}
	return IngestResult{Status: IngestUnmatched, UnmatchedID: p.itemID}, dd.Put([]byte(in.DedupeKey), dedupeValue(dedupeUnmatched, p.itemID))
}

// sanitizeDraft makes a draft storable whatever the parser produced: the
// required fields get defaults and text is cut to the limits.
func sanitizeDraft(ia *Interaction, now time.Time) {
	if strings.TrimSpace(ia.Type) == "" || checkLabel("type", ia.Type) != nil {
		ia.Type = "Email"
	}
	ia.Title = truncateRunes(ia.Title, MaxTitleLen)
	ia.Details = truncateRunes(ia.Details, MaxDetailsLen)
	if ia.OccurredAt.IsZero() || ia.OccurredAt.Before(minOccurred) || !ia.OccurredAt.Before(maxOccurred) {
		ia.OccurredAt = now
	}
	if !slices.Contains(Sources, ia.Source) {
		ia.Source = SourceSMTP
	}
}

func truncateRunes(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}

func normAddrs(in []string) []string {
	var out []string
	for _, a := range in {
		if e, ok := NormalizeEmail(a); ok && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

// Raw returns a stored raw message.
func (s *Store) Raw(id ID) ([]byte, error) {
	return s.readRaw(func(tx *bolt.Tx) ([]byte, error) { return getRaw(tx, id) })
}

// RawHead returns at most max bytes from the start of a stored raw
// message (its header, for one), without reading the rest.
func (s *Store) RawHead(id ID, max int) ([]byte, error) {
	return s.readRaw(func(tx *bolt.Tx) ([]byte, error) { return getRawHead(tx, id, max) })
}

func (s *Store) readRaw(get func(*bolt.Tx) ([]byte, error)) (out []byte, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		out, err = get(tx)
		return err
	})
	return out, err
}

// GetUnmatched returns one unmatched message.
func (s *Store) GetUnmatched(id ID) (*Unmatched, error) {
	var u *Unmatched
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		u, err = getUnmatched(tx, id)
		return err
	})
	return u, err
}

// UnmatchedFilter selects unmatched messages: by statuses (none: every
// status) and reasons (none: every reason).
type UnmatchedFilter struct {
	Statuses []string
	Reasons  []string
}

// ListUnmatched returns one page of unmatched messages, newest first.
func (s *Store) ListUnmatched(f UnmatchedFilter, limit int, after string) ([]*Unmatched, string, error) {
	limit = clampLimit(limit)
	c, ok, err := parseCursor(after)
	if err != nil {
		return nil, "", err
	}
	hi := hit{^uint64(0), ^ID(0)}
	if ok {
		hi = hit{c.t, c.id}
	}
	statuses := f.Statuses
	if len(statuses) == 0 {
		statuses = UnmatchedStatuses
	}
	var out []*Unmatched
	var next string
	err = s.view(func(tx *bolt.Tx) error {
		w := newWalker(tx, term{bucket: ixUnmatched, prefixes: strPrefixes(statuses)}, 0, hi)
		for {
			h, ok := w.next()
			if !ok {
				return w.err()
			}
			u, err := getUnmatched(tx, h.id)
			if err != nil {
				return err
			}
			if len(f.Reasons) > 0 && !slices.Contains(f.Reasons, u.Reason) {
				continue
			}
			if len(out) == limit {
				last := out[len(out)-1]
				next = cursor{timeKey(last.ReceivedAt), last.ID}.String()
				return nil
			}
			out = append(out, u)
		}
	})
	return out, next, err
}

// Assignment says how an admin resolves an unmatched message.
type Assignment struct {
	ContactIDs []ID
	// NewContact, when set, is created in the same transaction and the
	// message is assigned to it too.
	NewContact *Contact
	// Remember adds the message's unknown addresses to the (single)
	// contact, and logs every other pending message from them at once.
	Remember bool
	By       ID // the user resolving, 0 for a bare token
	ByToken  ID
}

// AssignUnmatched logs a pending message on contacts. It returns the new
// interaction and the ids of other unmatched messages it resolved too
// (Remember).
func (s *Store) AssignUnmatched(ctx context.Context, id ID, a Assignment) (*Interaction, []ID, error) {
	now := s.now().UTC()
	if a.NewContact != nil {
		if err := a.NewContact.normalize(); err != nil {
			return nil, nil, err
		}
		a.NewContact.ID = s.NewID()
		a.NewContact.CreatedAt, a.NewContact.UpdatedAt = now, now
	}
	var out *Interaction
	var also []ID
	err := s.update(ctx, func(tx *bolt.Tx) error {
		also = also[:0]
		contacts := slices.Clone(a.ContactIDs)
		if a.NewContact != nil {
			if err := putContact(tx, a.NewContact, nil); err != nil {
				return err
			}
			contacts = append(contacts, a.NewContact.ID)
		}
		contacts = uniqIDs(contacts)
		if len(contacts) == 0 {
			return invalid("contact_ids", "at least one contact is required")
		}
		if a.Remember && len(contacts) != 1 {
			return invalid("remember", "needs exactly one contact to remember the address on")
		}
		u, err := getUnmatched(tx, id)
		if err != nil {
			return err
		}
		if u.Status != StatusPending {
			return conflict("status", "this message is already %s", u.Status)
		}
		ia, err := s.logUnmatched(tx, u, contacts, a, now)
		if err != nil {
			return err
		}
		out = ia
		if !a.Remember {
			return nil
		}
		cid := contacts[0]
		c, err := getContact(tx, cid)
		if err != nil {
			return err
		}
		old := *c
		var remembered []string
		for _, addr := range u.Unknown {
			if owner := tx.Bucket(ixContactEmail).Get([]byte(addr)); owner == nil && len(c.Emails) < MaxListLen {
				c.Emails = append(slices.Clone(c.Emails), addr)
				remembered = append(remembered, addr)
			}
		}
		if len(remembered) == 0 {
			return nil
		}
		c.UpdatedAt = now
		if err := putContact(tx, c, &old); err != nil {
			return err
		}
		// Every other pending message from these addresses that only
		// lacked a contact is logged on it now.
		var pending []ID
		for _, addr := range remembered {
			p := strPrefix(addr)
			cur := tx.Bucket(ixUnmatchedAddr).Cursor()
			for k, _ := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = cur.Next() {
				if pid := keyID(k[len(p):]); !slices.Contains(pending, pid) {
					pending = append(pending, pid)
				}
			}
		}
		for _, pid := range pending {
			pu, err := getUnmatched(tx, pid)
			if err != nil {
				return err
			}
			if pu.Status != StatusPending || pu.Reason != ReasonNoContact {
				continue
			}
			if _, err := s.logUnmatched(tx, pu, []ID{cid}, a, now); err != nil {
				return err
			}
			also = append(also, pid)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, also, nil
}

// logUnmatched turns a pending message into an interaction on contacts and
// marks it resolved.
func (s *Store) logUnmatched(tx *bolt.Tx, u *Unmatched, contacts []ID, a Assignment, now time.Time) (*Interaction, error) {
	ia := *u.Draft
	ia.ID = s.NewID()
	ia.ContactIDs = contacts
	if len(ia.OwnerIDs) == 0 && a.By != 0 {
		ia.OwnerIDs = []ID{a.By}
	}
	ia.CreatedBy, ia.CreatedByToken = a.By, a.ByToken
	ia.CreatedAt, ia.UpdatedAt = now, now
	if err := ia.normalize(now); err != nil {
		return nil, err
	}
	if err := ia.resolve(tx); err != nil {
		return nil, err
	}
	if err := putInteraction(tx, &ia, nil); err != nil {
		return nil, err
	}
	old := *u
	u.Status, u.ResolvedAt, u.ResolvedBy, u.InteractionID = StatusResolved, now, a.By, ia.ID
	if err := putUnmatched(tx, u, &old); err != nil {
		return nil, err
	}
	if err := tx.Bucket(ixDedupe).Put([]byte(u.DedupeKey), dedupeValue(dedupeInteraction, ia.ID)); err != nil {
		return nil, err
	}
	return &ia, nil
}

// DiscardUnmatched marks a pending message discarded. The message and its raw
// bytes stay (status discarded), so nothing received is ever lost.
func (s *Store) DiscardUnmatched(ctx context.Context, id, by ID) error {
	now := s.now().UTC()
	return s.update(ctx, func(tx *bolt.Tx) error {
		u, err := getUnmatched(tx, id)
		if err != nil {
			return err
		}
		if u.Status != StatusPending {
			return conflict("status", "this message is already %s", u.Status)
		}
		old := *u
		u.Status, u.ResolvedAt, u.ResolvedBy = StatusDiscarded, now, by
		return putUnmatched(tx, u, &old)
	})
}

// dropRaws deletes the raw messages of interactions just deleted, so a
// deleted email is gone, not only hidden. A resolved queue entry that
// became one of them shares its raw message: the entry stays (the queue's
// history) without it. The dedupe entry stays too, so the same message
// arriving again is a duplicate: deleted mail stays deleted. It returns how
// many raw messages went.
func dropRaws(tx *bolt.Tx, deleted []*Interaction) (int, error) {
	rawOf := map[ID]ID{} // interaction → its raw message
	for _, ia := range deleted {
		if ia.Email != nil && ia.Email.RawID != 0 {
			rawOf[ia.ID] = ia.Email.RawID
		}
	}
	if len(rawOf) == 0 {
		return 0, nil
	}
	// Only an assignment makes an interaction out of a queue entry, and it
	// marks the entry resolved: walk those alone (collected first, as the
	// index changes under putUnmatched).
	var resolved []ID
	p := strPrefix(StatusResolved)
	c := tx.Bucket(ixUnmatched).Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		resolved = append(resolved, keyID(k[len(k)-8:]))
	}
	for _, id := range resolved {
		u, err := getUnmatched(tx, id)
		if err != nil {
			return 0, err
		}
		raw, ok := rawOf[u.InteractionID]
		if !ok || u.Draft == nil || u.Draft.Email == nil || u.Draft.Email.RawID != raw {
			continue
		}
		old := *u
		draft, mail := *u.Draft, *u.Draft.Email
		mail.RawID = 0
		draft.Email = &mail
		u.Draft = &draft
		if err := putUnmatched(tx, u, &old); err != nil {
			return 0, err
		}
	}
	n := 0
	for _, raw := range rawOf {
		found, err := deleteRaw(tx, raw)
		if err != nil {
			return 0, err
		}
		if found {
			n++
		}
	}
	return n, nil
}
