package store

import (
	"bytes"
	"context"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Campaign is a send reported by campaign tooling: a subject sent at one time
// to many recipients. Each recipient is recorded once (ix_campaign_rcpt); the
// ones that match a contact get one Email interaction each on that contact.
type Campaign struct {
	ID             ID        `json:"id"`
	ExternalID     string    `json:"external_id"`
	Name           string    `json:"name"`
	Subject        string    `json:"subject"`
	SentAt         time.Time `json:"sent_at"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	CreatedBy      ID        `json:"created_by,omitempty"`
	CreatedByToken ID        `json:"created_by_token,omitempty"`
	// Recipients counts the distinct addresses recorded, Logged the
	// interactions created, Unmatched the addresses that matched no contact.
	Recipients int `json:"recipients"`
	Logged     int `json:"logged"`
	Unmatched  int `json:"unmatched_count"`
}

// Campaign limits.
const (
	MaxExternalIDLen      = 200
	MaxCampaignRecipients = 200_000 // per request
	// campaignBatch is how many recipients one write transaction records:
	// small enough that a commit stays short and other writers interleave.
	campaignBatch = 2000
	// maxListed caps the unmatched and rejected addresses an answer lists;
	// the counts are always complete.
	maxListed = 1000
)

const campaignV1 = 1

func (c *Campaign) encode() []byte {
	e := encoder{b: make([]byte, 0, 64+len(c.ExternalID)+len(c.Name)+len(c.Subject))}
	e.byte(campaignV1)
	e.str(c.ExternalID)
	e.str(c.Name)
	e.str(c.Subject)
	e.time(c.SentAt)
	e.time(c.CreatedAt)
	e.time(c.UpdatedAt)
	e.id(c.CreatedBy)
	e.id(c.CreatedByToken)
	e.varint(int64(c.Recipients))
	e.varint(int64(c.Logged))
	e.varint(int64(c.Unmatched))
	return e.b
}

func decodeCampaign(id ID, b []byte) (*Campaign, error) {
	d := decoder{b: b}
	if d.byte() != campaignV1 {
		return nil, errCorrupt
	}
	c := &Campaign{ID: id}
	c.ExternalID = d.str()
	c.Name = d.str()
	c.Subject = d.str()
	c.SentAt = d.time()
	c.CreatedAt = d.time()
	c.UpdatedAt = d.time()
	c.CreatedBy = d.id()
	c.CreatedByToken = d.id()
	c.Recipients = int(d.varint())
	c.Logged = int(d.varint())
	c.Unmatched = int(d.varint())
	return c, d.err
}

func getCampaign(tx *bolt.Tx, id ID) (*Campaign, error) {
	v := tx.Bucket(bCampaigns).Get(id.key())
	if v == nil {
		return nil, ErrNotFound
	}
	return decodeCampaign(id, v)
}

// CampaignReport is a send as campaign tooling reports it.
type CampaignReport struct {
	ExternalID string
	Name       string // defaults to Subject
	Subject    string
	SentAt     time.Time
	Recipients []string
	// Who reports it: the user becomes the interactions' owner.
	CreatedBy      ID
	CreatedByToken ID
}

// MatchFunc resolves one normalised recipient address to the contact it
// belongs to (package matcher holds the rules); ok is false for none. It
// looks up through sn, the snapshot its batch of recipients is matched in.
type MatchFunc func(sn *Snapshot, addr string) (contact ID, ok bool, err error)

// Rejected is a recipient that is not an email address.
type Rejected struct {
	Address string `json:"address"`
	Error   string `json:"error"`
}

// CampaignResult says what one report (or chunk of recipients) did.
type CampaignResult struct {
	Campaign *Campaign
	// Created is true when this report made the campaign.
	Created bool
	// Logged counts the interactions created.
	Logged int
	// Duplicates counts recipients already recorded for this campaign (a
	// retry, a repeat in the list, or another address of a contact already
	// logged).
	Duplicates int
	// Unmatched lists (up to 1,000 of) the addresses that matched no
	// contact; UnmatchedCount counts them all.
	Unmatched      []string
	UnmatchedCount int
	// Rejected lists (up to 1,000 of) the recipients that are not
	// addresses; RejectedCount counts them all.
	Rejected      []Rejected
	RejectedCount int
}

func (r *CampaignResult) reject(addr string) {
	r.RejectedCount++
	if len(r.Rejected) < maxListed {
		if len(addr) > 320 {
			addr = addr[:320]
		}
		r.Rejected = append(r.Rejected, Rejected{Address: addr, Error: "not an email address"})
	}
}

// checkRecipients refuses a list that is empty, too long, or holds no
// address at all, before anything is written.
func checkRecipients(list []string) error {
	if len(list) == 0 {
		return invalid("recipients", "at least one recipient is required")
	}
	if len(list) > MaxCampaignRecipients {
		return invalid("recipients", "has %d recipients, at most %d per request: send the rest with POST /api/v1/campaigns/{id}/recipients", len(list), MaxCampaignRecipients)
	}
	for _, a := range list {
		if _, ok := NormalizeAddress(a); ok {
			return nil
		}
	}
	return invalid("recipients", "none of the %d recipients is an email address (first: %.80q)", len(list), list[0])
}

func (r *CampaignReport) normalize() error {
	r.ExternalID = strings.TrimSpace(r.ExternalID)
	if err := checkText("external_id", r.ExternalID, MaxExternalIDLen, true); err != nil {
		return err
	}
	r.Subject = strings.TrimSpace(r.Subject)
	if err := checkText("subject", r.Subject, MaxTitleLen, true); err != nil {
		return err
	}
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" {
		r.Name = r.Subject
	}
	if err := checkText("name", r.Name, MaxNameLen, true); err != nil {
		return err
	}
	if r.SentAt.IsZero() {
		return invalid("sent_at", "is required (RFC 3339, e.g. 2026-05-01T09:00:00Z)")
	}
	r.SentAt = r.SentAt.UTC()
	if r.SentAt.Before(minOccurred) || !r.SentAt.Before(maxOccurred) {
		return invalid("sent_at", "must be between 1900 and 2199")
	}
	return checkRecipients(r.Recipients)
}

// ReportCampaign records a send and logs its recipients. The campaign is
// found by ExternalID or made; then the recipients are recorded in batches of
// a few thousand, each batch one transaction, matched before its write. A
// recipient already recorded for the campaign is never logged again, so a
// retry of the same report, in whole or from any point, is safe. Recipients
// that are not addresses are listed in Rejected and the rest recorded.
func (s *Store) ReportCampaign(ctx context.Context, r CampaignReport, match MatchFunc) (*CampaignResult, error) {
	if err := r.normalize(); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	fresh := &Campaign{
		ID: s.NewID(), ExternalID: r.ExternalID, Name: r.Name, Subject: r.Subject, SentAt: r.SentAt,
		CreatedAt: now, UpdatedAt: now, CreatedBy: r.CreatedBy, CreatedByToken: r.CreatedByToken,
	}
	res := &CampaignResult{}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		res.Campaign, res.Created = nil, false
		ext := tx.Bucket(ixCampaignExt)
		if v := ext.Get([]byte(fresh.ExternalID)); v != nil {
			c, err := getCampaign(tx, keyID(v))
			res.Campaign = c
			return err
		}
		res.Campaign, res.Created = fresh, true
		if err := ext.Put([]byte(fresh.ExternalID), fresh.ID.key()); err != nil {
			return err
		}
		return tx.Bucket(bCampaigns).Put(fresh.ID.key(), fresh.encode())
	})
	if err != nil {
		return nil, err
	}
	return res, s.recordRecipients(ctx, res, r.Recipients, r.CreatedBy, r.CreatedByToken, match)
}

// AddCampaignRecipients records more recipients of an existing campaign (a
// tool that reports a large send in chunks), with ReportCampaign's rules.
func (s *Store) AddCampaignRecipients(ctx context.Context, id ID, recipients []string, by, byToken ID, match MatchFunc) (*CampaignResult, error) {
	if err := checkRecipients(recipients); err != nil {
		return nil, err
	}
	c, err := s.GetCampaign(id)
	if err != nil {
		return nil, err
	}
	res := &CampaignResult{Campaign: c}
	return res, s.recordRecipients(ctx, res, recipients, by, byToken, match)
}

type pendingRecipient struct {
	addr    string
	contact ID // 0: unmatched
	iid     ID // the interaction it gets, when it does
	// messageID is the sent message's id, for a campaign Touchpoint sent
	// itself ("" for a reported one).
	messageID string
}

// recordRecipients writes the recipients batch by batch. On error the
// batches before it are committed (and a retry skips them).
func (s *Store) recordRecipients(ctx context.Context, res *CampaignResult, list []string, by, byToken ID, match MatchFunc) error {
	batch := make([]pendingRecipient, 0, min(len(list), campaignBatch))
	cid := res.Campaign.ID
	for start := 0; start < len(list); start += campaignBatch {
		batch = batch[:0]
		// The batch is matched in one read transaction, which ends before
		// the batch's write: a reader held across the write could
		// deadlock it (bbolt waits for readers to remap a growing file).
		err := s.Snapshot(func(sn *Snapshot) error {
			for _, raw := range list[start:min(start+campaignBatch, len(list))] {
				addr, ok := NormalizeAddress(raw)
				if !ok {
					res.reject(raw)
					continue
				}
				contact, ok, err := match(sn, addr)
				if err != nil {
					return err
				}
				if !ok {
					contact = 0
				}
				p := pendingRecipient{addr: addr, contact: contact}
				if contact != 0 {
					p.iid = s.NewID()
				}
				batch = append(batch, p)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			continue
		}
		now := s.now().UTC()
		// The closure may run twice (see update): it fills its own
		// tally and the caller adds it once it has committed.
		var t recipientTally
		err = s.update(ctx, func(tx *bolt.Tx) error {
			var err error
			t, err = logRecipients(tx, cid, batch, by, byToken, now, len(res.Unmatched))
			return err
		})
		if err != nil {
			return err
		}
		res.Campaign = t.camp
		res.Logged += t.logged
		res.Duplicates += t.dups
		res.UnmatchedCount += t.unmatched
		// Repeats across batches of one request are caught by the
		// recipient index, not an in-memory set: memory stays bounded.
		res.Unmatched = append(res.Unmatched, t.unknown...)
	}
	return nil
}

// recipientTally is what logging one batch of recipients did.
type recipientTally struct {
	logged, dups, unmatched int
	unknown                 []string // unmatched addresses, up to maxListed-listed
	camp                    *Campaign
}

// logRecipients records a batch of a campaign's recipients inside tx: each
// address once (ix_campaign_rcpt), and one Email interaction per matched
// contact, owned by the user by. It is the one place a campaign recipient
// is logged, whether a tool reported the send or Touchpoint made it.
// listed is how many unmatched addresses the caller has listed already.
func logRecipients(tx *bolt.Tx, cid ID, batch []pendingRecipient, by, byToken ID, now time.Time, listed int) (recipientTally, error) {
	var t recipientTally
	var owners []ID
	if by != 0 {
		owners = []ID{by}
	}
	c, err := getCampaign(tx, cid)
	if err != nil {
		return t, err
	}
	rb, cb, contacts := tx.Bucket(ixCampaignRcpt), tx.Bucket(ixCampaignContact), tx.Bucket(bContacts)
	typ, err := canonical(tx, VocabType, "Email")
	if err != nil {
		return t, err
	}
	for _, p := range batch {
		rk := append(cid.key(), p.addr...)
		if rb.Get(rk) != nil {
			t.dups++
			continue
		}
		if p.contact == 0 || contacts.Get(p.contact.key()) == nil {
			t.unmatched++
			if listed+len(t.unknown) < maxListed {
				t.unknown = append(t.unknown, p.addr)
			}
			if err := rb.Put(rk, []byte{'u'}); err != nil {
				return t, err
			}
			continue
		}
		ck := append(cid.key(), p.contact.key()...)
		if v := cb.Get(ck); v != nil {
			// Another address of a contact already logged.
			t.dups++
			if err := rb.Put(rk, append(bytes.Clone(v), p.contact.key()...)); err != nil {
				return t, err
			}
			continue
		}
		ia := &Interaction{
			ID: p.iid, ContactIDs: []ID{p.contact}, Type: typ, Title: c.Subject,
			OccurredAt: c.SentAt, OwnerIDs: owners, Source: SourceCampaign,
			CreatedAt: now, UpdatedAt: now, CreatedBy: by, CreatedByToken: byToken, CampaignID: cid,
			Email: &Email{MessageID: p.messageID, To: []string{p.addr}, Subject: c.Subject, Direction: Outbound},
		}
		if err := putInteraction(tx, ia, nil); err != nil {
			return t, err
		}
		if err := cb.Put(ck, p.iid.key()); err != nil {
			return t, err
		}
		if err := rb.Put(rk, append(p.iid.key(), p.contact.key()...)); err != nil {
			return t, err
		}
		t.logged++
	}
	c.Recipients += t.logged + t.unmatched
	c.Logged += t.logged
	c.Unmatched += t.unmatched
	c.UpdatedAt = now
	t.camp = c
	return t, tx.Bucket(bCampaigns).Put(cid.key(), c.encode())
}

// GetCampaign returns one campaign with its counts.
func (s *Store) GetCampaign(id ID) (*Campaign, error) {
	var c *Campaign
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		c, err = getCampaign(tx, id)
		return err
	})
	return c, err
}

// Campaigns lists campaigns newest first (by when they were first
// reported). cursor is the next_cursor of the previous page.
func (s *Store) Campaigns(limit int, cursor string) ([]*Campaign, string, error) {
	return newestFirst(s, bCampaigns, limit, cursor, decodeCampaign)
}

// CampaignRecipient is one recorded recipient: the contact and interaction
// it was logged on, or zeros when it matched no contact.
type CampaignRecipient struct {
	Address       string `json:"address"`
	ContactID     ID     `json:"contact_id,omitempty"`
	InteractionID ID     `json:"interaction_id,omitempty"`
}

// CampaignRecipients lists a campaign's recorded recipients in address
// order, after the address after ("" for the first page); next is the
// after of the next page, "" at the end.
func (s *Store) CampaignRecipients(id ID, after string, limit int) ([]CampaignRecipient, string, error) {
	limit = clampLimit(limit)
	var out []CampaignRecipient
	next := ""
	err := s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bCampaigns).Get(id.key()) == nil {
			return ErrNotFound
		}
		prefix := id.key()
		cur := tx.Bucket(ixCampaignRcpt).Cursor()
		start := append(id.key(), after...)
		k, v := cur.Seek(start)
		if after != "" && bytes.Equal(k, start) {
			k, v = cur.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
			if len(out) == limit {
				next = out[len(out)-1].Address
				return nil
			}
			r := CampaignRecipient{Address: string(k[len(prefix):])}
			if len(v) == 16 {
				r.InteractionID, r.ContactID = keyID(v), keyID(v[8:])
			}
			out = append(out, r)
		}
		return nil
	})
	return out, next, err
}
