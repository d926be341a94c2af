package store

import (
	"context"
	"encoding/binary"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Sources say how an interaction came in.
const (
	SourceManual   = "manual"
	SourceAPI      = "api"
	SourceSMTP     = "smtp"
	SourceIMAP     = "imap"
	SourcePipe     = "pipe"
	SourceCampaign = "campaign"
)

// Sources lists every valid source.
var Sources = []string{SourceManual, SourceAPI, SourceSMTP, SourceIMAP, SourcePipe, SourceCampaign}

// Email directions.
const (
	Outbound = "outbound" // staff wrote it
	Inbound  = "inbound"  // a contact wrote it
)

// Interaction is one exchange with one or more contacts.
type Interaction struct {
	ID              ID        `json:"id"`
	ContactIDs      []ID      `json:"contact_ids"`
	Type            string    `json:"type"`
	Actions         []string  `json:"actions"`
	Title           string    `json:"title"`
	Details         string    `json:"details"`
	OccurredAt      time.Time `json:"occurred_at"`
	DurationMinutes int       `json:"duration_minutes"`
	OwnerIDs        []ID      `json:"owner_ids"`
	Location        string    `json:"location"`
	Address         string    `json:"address"`
	Source          string    `json:"source"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	CreatedBy       ID        `json:"created_by,omitempty"`
	CreatedByToken  ID        `json:"created_by_token,omitempty"`
	CampaignID      ID        `json:"campaign_id,omitempty"`
	Email           *Email    `json:"email,omitempty"`
}

// Email is what an Email interaction keeps of its message.
type Email struct {
	MessageID   string       `json:"message_id"`
	From        string       `json:"from"`
	To          []string     `json:"to"`
	Cc          []string     `json:"cc"`
	Subject     string       `json:"subject"`
	Direction   string       `json:"direction"`
	ThreadID    string       `json:"thread_id,omitempty"`
	Attachments []Attachment `json:"attachments"`
	RawID       ID           `json:"raw_id,omitempty"`
}

// Attachment describes one attached file of an email.
type Attachment struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

const interactionV1 = 1

func (ia *Interaction) encode() []byte {
	e := encoder{b: make([]byte, 0, ia.encodedSizeHint())}
	ia.encodeTo(&e)
	return e.b
}

// encodedSizeHint is about the size of the encoded record.
func (ia *Interaction) encodedSizeHint() int { return 96 + len(ia.Title) + len(ia.Details) }

// encodeTo appends the encoded record to e.
func (ia *Interaction) encodeTo(e *encoder) {
	e.byte(interactionV1)
	e.ids(ia.ContactIDs)
	e.str(ia.Type)
	e.strs(ia.Actions)
	e.str(ia.Title)
	e.str(ia.Details)
	e.time(ia.OccurredAt)
	e.varint(int64(ia.DurationMinutes))
	e.ids(ia.OwnerIDs)
	e.str(ia.Location)
	e.str(ia.Address)
	e.str(ia.Source)
	e.time(ia.CreatedAt)
	e.time(ia.UpdatedAt)
	e.id(ia.CreatedBy)
	e.id(ia.CreatedByToken)
	e.id(ia.CampaignID)
	e.bool(ia.Email != nil)
	if m := ia.Email; m != nil {
		e.str(m.MessageID)
		e.str(m.From)
		e.strs(m.To)
		e.strs(m.Cc)
		e.str(m.Subject)
		e.str(m.Direction)
		e.str(m.ThreadID)
		e.uvarint(uint64(len(m.Attachments)))
		for _, a := range m.Attachments {
			e.str(a.Name)
			e.str(a.ContentType)
			e.varint(a.Size)
		}
		e.id(m.RawID)
	}
}

func decodeInteraction(id ID, b []byte) (*Interaction, error) {
	d := sharedDecoder(b)
	if d.byte() != interactionV1 {
		return nil, errCorrupt
	}
	ia := &Interaction{ID: id}
	ia.ContactIDs = d.ids()
	ia.Type = d.str()
	ia.Actions = d.strs()
	ia.Title = d.str()
	ia.Details = d.str()
	ia.OccurredAt = d.time()
	ia.DurationMinutes = int(d.varint())
	ia.OwnerIDs = d.ids()
	ia.Location = d.str()
	ia.Address = d.str()
	ia.Source = d.str()
	ia.CreatedAt = d.time()
	ia.UpdatedAt = d.time()
	ia.CreatedBy = d.id()
	ia.CreatedByToken = d.id()
	ia.CampaignID = d.id()
	if d.bool() {
		m := &Email{}
		m.MessageID = d.str()
		m.From = d.str()
		m.To = d.strs()
		m.Cc = d.strs()
		m.Subject = d.str()
		m.Direction = d.str()
		m.ThreadID = d.str()
		if n := d.count(); n > 0 {
			m.Attachments = make([]Attachment, n)
			for i := range m.Attachments {
				m.Attachments[i] = Attachment{Name: d.str(), ContentType: d.str(), Size: d.varint()}
			}
		}
		m.RawID = d.id()
		ia.Email = m
	}
	return ia, d.err
}

// The range of dates an interaction may carry.
var (
	minOccurred = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	maxOccurred = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// normalize checks the fields that need no lookups and tidies them.
func (ia *Interaction) normalize(now time.Time) error {
	ia.ContactIDs = uniqIDs(ia.ContactIDs)
	if len(ia.ContactIDs) == 0 {
		return invalid("contact_ids", "at least one contact is required")
	}
	if len(ia.ContactIDs) > MaxContactsPer {
		return invalid("contact_ids", "has %d contacts, at most %d", len(ia.ContactIDs), MaxContactsPer)
	}
	ia.Type = strings.TrimSpace(ia.Type)
	if err := checkLabel("type", ia.Type); err != nil {
		return err
	}
	var err error
	if ia.Actions, err = normList("actions", ia.Actions, nil); err != nil {
		return err
	}
	for _, a := range ia.Actions {
		if err := checkLabel("actions", a); err != nil {
			return err
		}
	}
	ia.Title = strings.TrimSpace(ia.Title)
	if err := checkText("title", ia.Title, MaxTitleLen, false); err != nil {
		return err
	}
	if err := checkText("details", ia.Details, MaxDetailsLen, false); err != nil {
		return err
	}
	if ia.OccurredAt.IsZero() {
		ia.OccurredAt = now
	}
	ia.OccurredAt = ia.OccurredAt.UTC()
	if ia.OccurredAt.Before(minOccurred) || !ia.OccurredAt.Before(maxOccurred) {
		return invalid("occurred_at", "must be between 1900 and 2199")
	}
	if ia.DurationMinutes < 0 || ia.DurationMinutes > MaxDuration {
		return invalid("duration_minutes", "must be between 0 and %d", MaxDuration)
	}
	ia.OwnerIDs = uniqIDs(ia.OwnerIDs)
	if len(ia.OwnerIDs) > MaxListLen {
		return invalid("owner_ids", "has %d owners, at most %d", len(ia.OwnerIDs), MaxListLen)
	}
	ia.Location = strings.TrimSpace(ia.Location)
	if ia.Location != "" {
		if err := checkLabel("location", ia.Location); err != nil {
			return err
		}
	}
	ia.Address = strings.TrimSpace(ia.Address)
	if err := checkText("address", ia.Address, MaxAddressLen, false); err != nil {
		return err
	}
	if ia.Source == "" {
		ia.Source = SourceManual
	}
	if !slices.Contains(Sources, ia.Source) {
		return invalid("source", "must be one of %s", strings.Join(Sources, ", "))
	}
	return nil
}

func uniqIDs(in []ID) []ID {
	out := make([]ID, 0, len(in))
	for _, id := range in {
		if id != 0 && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// resolve checks references inside the transaction and puts types and
// actions in the team's spelling, adding new ones to the lists.
func (ia *Interaction) resolve(tx *bolt.Tx) error {
	for _, c := range ia.ContactIDs {
		if tx.Bucket(bContacts).Get(c.key()) == nil {
			return invalid("contact_ids", "contact %d does not exist", c)
		}
	}
	for _, o := range ia.OwnerIDs {
		if tx.Bucket(bUsers).Get(o.key()) == nil {
			return invalid("owner_ids", "user %d does not exist", o)
		}
	}
	var err error
	if ia.Type, err = canonical(tx, VocabType, ia.Type); err != nil {
		return err
	}
	for i, a := range ia.Actions {
		if ia.Actions[i], err = canonical(tx, VocabAction, a); err != nil {
			return err
		}
	}
	return nil
}

// interactionIndex lists every index entry of ia: put on create, deleted on
// delete, swapped on update; one list so the three cannot disagree.
func interactionIndex(ia *Interaction) []indexEntry {
	out := make([]indexEntry, 0, 4+len(ia.ContactIDs)+len(ia.Actions)+len(ia.OwnerIDs))
	interactionLists(ia, func(list int, prefix []byte) {
		out = append(out, indexEntry{postingBuckets[list], tiKey(prefix, ia.OccurredAt, ia.ID), nil})
	})
	return out
}

// interactionLists calls fn with each filter index list ia belongs to: the
// index (in postingBuckets) and the prefix, which is valid during the call.
func interactionLists(ia *Interaction, fn func(list int, prefix []byte)) {
	var buf [64]byte
	str := func(s string) []byte { return append(append(buf[:0], s...), 0) }
	fn(listTime, nil)
	fn(listType, str(strings.ToLower(ia.Type)))
	fn(listSource, str(ia.Source))
	for _, c := range ia.ContactIDs {
		fn(listContact, binary.BigEndian.AppendUint64(buf[:0], uint64(c)))
	}
	for _, a := range ia.Actions {
		fn(listAction, str(strings.ToLower(a)))
	}
	for _, o := range ia.OwnerIDs {
		fn(listOwner, binary.BigEndian.AppendUint64(buf[:0], uint64(o)))
	}
}

// wordEntries lists ia's ix_word entries (store/words.go), kept apart from
// interactionIndex because an interaction written alone has a pending
// entry instead until the next flush.
func wordEntries(ia *Interaction) []indexEntry {
	words := listedWords(ia)
	// One allocation for all the keys: a message has dozens of words.
	n := 0
	for _, w := range words {
		n += len(w) + 17
	}
	buf := make([]byte, 0, n)
	out := make([]indexEntry, len(words))
	t := timeKey(ia.OccurredAt)
	for i, w := range words {
		start := len(buf)
		buf = append(buf, w...)
		buf = append(buf, 0)
		buf = binary.BigEndian.AppendUint64(buf, t)
		buf = binary.BigEndian.AppendUint64(buf, uint64(ia.ID))
		out[i] = indexEntry{ixWord, buf[start:len(buf):len(buf)], nil}
	}
	return out
}

// storedWordEntries is what ix_word holds for a stored interaction: its
// pending entry, or its words.
func storedWordEntries(tx *bolt.Tx, ia *Interaction) ([]indexEntry, error) {
	pending, err := postingHas(tx.Bucket(ixWord), strPrefix(pendingWord), hitOf(ia))
	if err != nil {
		return nil, err
	}
	if pending {
		return []indexEntry{{ixWord, pendingKey(ia), nil}}, nil
	}
	return wordEntries(ia), nil
}

func getInteraction(tx *bolt.Tx, id ID) (*Interaction, error) {
	v := tx.Bucket(bInteractions).Get(id.key())
	if v == nil {
		return nil, ErrNotFound
	}
	return decodeInteraction(id, v)
}

func putInteraction(tx *bolt.Tx, ia, old *Interaction) error {
	add := interactionIndex(ia)
	var del []indexEntry
	if old == nil {
		// A new interaction's words wait for the next flush (store/words.go).
		add = append(add, indexEntry{ixWord, pendingKey(ia), nil})
	} else {
		add = append(add, wordEntries(ia)...)
		stored, err := storedWordEntries(tx, old)
		if err != nil {
			return err
		}
		del = append(interactionIndex(old), stored...)
		// Only what changed: an edit that keeps the text rewrites no
		// word pages.
		same := make(map[string]bool, len(del))
		for _, e := range del {
			same[string(e.bucket)+"\xff"+string(e.key)] = true
		}
		var keep []indexEntry
		for _, e := range add {
			if k := string(e.bucket) + "\xff" + string(e.key); same[k] {
				delete(same, k)
			} else {
				keep = append(keep, e)
			}
		}
		add = keep
		del = slices.DeleteFunc(del, func(e indexEntry) bool { return !same[string(e.bucket)+"\xff"+string(e.key)] })
		if err := deleteIndex(tx, del); err != nil {
			return err
		}
	}
	if err := putIndex(tx, add); err != nil {
		return err
	}
	if err := syncVocab(tx, wordKeys(add), wordKeys(del)); err != nil {
		return err
	}
	return tx.Bucket(bInteractions).Put(ia.ID.key(), ia.encode())
}

func deleteInteraction(tx *bolt.Tx, ia *Interaction) error {
	stored, err := storedWordEntries(tx, ia)
	if err != nil {
		return err
	}
	entries := append(interactionIndex(ia), stored...)
	if err := deleteIndex(tx, entries); err != nil {
		return err
	}
	if err := syncVocab(tx, nil, wordKeys(entries)); err != nil {
		return err
	}
	return tx.Bucket(bInteractions).Delete(ia.ID.key())
}

// detachInteraction removes contact from an interaction, deleting the
// interaction when it was the only one; it returns the deleted one, or nil
// when the interaction stays on its other contacts.
func detachInteraction(tx *bolt.Tx, iid, contact ID, now time.Time) (*Interaction, error) {
	ia, err := getInteraction(tx, iid)
	if err != nil {
		return nil, err
	}
	if len(ia.ContactIDs) == 1 {
		return ia, deleteInteraction(tx, ia)
	}
	old := *ia
	ia.ContactIDs = slices.DeleteFunc(slices.Clone(ia.ContactIDs), func(c ID) bool { return c == contact })
	ia.UpdatedAt = now
	return nil, putInteraction(tx, ia, &old)
}

// CreateInteraction validates ia, assigns id and timestamps and stores it.
func (s *Store) CreateInteraction(ctx context.Context, ia *Interaction) error {
	now := s.now().UTC()
	if err := ia.normalize(now); err != nil {
		return err
	}
	ia.ID = s.NewID()
	ia.CreatedAt, ia.UpdatedAt = now, now
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := ia.resolve(tx); err != nil {
			return err
		}
		return putInteraction(tx, ia, nil)
	})
}

// CreateInteractions stores many interactions in one transaction: all or
// none. It is the bulk path (imports, campaigns, seeding); callers keep
// batches to a few thousand so one commit stays short.
func (s *Store) CreateInteractions(ctx context.Context, items []*Interaction) error {
	if err := s.prepareNew(items); err != nil {
		return err
	}
	// The index positions are gathered here, tokenising included, so the
	// single writer only writes them. resolve changes a type's or action's
	// spelling to the list's, never its lowercase, which is what indexes.
	pb := batchOf(items)
	return s.update(ctx, func(tx *bolt.Tx) error {
		if err := resolveAll(tx, items); err != nil {
			return err
		}
		return putInteractions(tx, items, pb)
	})
}

// prepareNew validates new interactions, naming the first invalid one by
// its index, and gives them ids and timestamps.
func (s *Store) prepareNew(items []*Interaction) error {
	now := s.now().UTC()
	for i, ia := range items {
		if err := ia.normalize(now); err != nil {
			return itemError(i, err)
		}
		ia.CreatedAt, ia.UpdatedAt = now, now
	}
	newIDs(s, items, func(ia *Interaction, id ID) { ia.ID = id })
	return nil
}

// resolveAll resolves a batch's interactions, naming the first that does
// not resolve by its index.
func resolveAll(tx *bolt.Tx, items []*Interaction) error {
	for i, ia := range items {
		if err := ia.resolve(tx); err != nil {
			return itemError(i, err)
		}
	}
	return nil
}

// putInteractions stores new interactions: their index positions (pb,
// from batchOf(items)), then the records in id order. It may run again on
// a retried commit: adding positions twice is harmless.
func putInteractions(tx *bolt.Tx, items []*Interaction, pb *postingBatch) error {
	if err := pb.apply(tx); err != nil {
		return err
	}
	return putRecords(tx.Bucket(bInteractions), items)
}

// putRecords puts new interactions' records, nothing else.
func putRecords(b *bolt.Bucket, items []*Interaction) error {
	for _, ia := range items {
		if err := b.Put(ia.ID.key(), ia.encode()); err != nil {
			return err
		}
	}
	return nil
}

// batchOf gathers the index positions of many interactions, words
// included, list by list, for postingBatch.apply: every block and leaf is
// then visited once per batch rather than once per entry.
func batchOf(items []*Interaction) *postingBatch {
	pb := new(postingBatch)
	for _, ia := range items {
		interactionLists(ia, func(list int, prefix []byte) { pb.add(list, prefix, hitOf(ia)) })
		pb.addWords(ia)
	}
	return pb
}

// UpdateInteraction applies edit to the stored interaction and saves it.
// check, when not nil, sees the stored version first (for permission checks
// that must be made against the current owners). Both may run more than once.
func (s *Store) UpdateInteraction(ctx context.Context, id ID, check func(*Interaction) error, edit func(*Interaction) error) (*Interaction, error) {
	now := s.now().UTC()
	var out *Interaction
	err := s.update(ctx, func(tx *bolt.Tx) error {
		old, err := getInteraction(tx, id)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(old); err != nil {
				return err
			}
		}
		ia, _ := decodeInteraction(id, old.encode())
		if err := edit(ia); err != nil {
			return err
		}
		// What no edit may change.
		ia.ID, ia.CreatedAt, ia.CreatedBy, ia.CreatedByToken = id, old.CreatedAt, old.CreatedBy, old.CreatedByToken
		ia.Source, ia.Email, ia.CampaignID = old.Source, old.Email, old.CampaignID
		ia.UpdatedAt = now
		if err := ia.normalize(now); err != nil {
			return err
		}
		if err := ia.resolve(tx); err != nil {
			return err
		}
		out = ia
		return putInteraction(tx, ia, old)
	})
	return out, err
}

// DeleteInteraction removes an interaction, its index entries and its raw
// message (see dropRaws). check, when not nil, may veto after seeing the
// stored version.
func (s *Store) DeleteInteraction(ctx context.Context, id ID, check func(*Interaction) error) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		ia, err := getInteraction(tx, id)
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(ia); err != nil {
				return err
			}
		}
		if err := deleteInteraction(tx, ia); err != nil {
			return err
		}
		_, err = dropRaws(tx, []*Interaction{ia})
		return err
	})
}

// GetInteraction returns one interaction.
func (s *Store) GetInteraction(id ID) (*Interaction, error) {
	var ia *Interaction
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		ia, err = getInteraction(tx, id)
		return err
	})
	return ia, err
}

// CountInteractions returns the number of interactions.
func (s *Store) CountInteractions() (int, error) {
	var n int
	err := s.view(func(tx *bolt.Tx) error {
		n = tx.Bucket(bInteractions).Stats().KeyN
		return nil
	})
	return n, err
}
