package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A campaign Touchpoint sends itself is a Campaign (so its recipients are
// logged exactly as a reported one's) plus a CampaignSend: the body, the
// filter that chose the recipients, the send time, and one SendRecipient per
// address with its delivery state. The recipients are fixed when the send
// is composed; the state of each is committed before and after each attempt:
//
//	pending → sending → sent | failed | pending (a temporary failure, retried later)
//
// A recipient found in "sending" when the daemon starts was being handed to
// the relay when it stopped: it may have been delivered, so it becomes
// "unknown" and is never sent again (at most once). Sent and unknown
// recipients are logged on their contact's timeline in the same transaction
// as their state.

// Send statuses.
const (
	SendScheduled = "scheduled" // waiting for its send time
	SendSending   = "sending"
	SendDone      = "done"
	SendCancelled = "cancelled"
)

// Recipient states.
const (
	RcptPending   = "pending"
	RcptSending   = "sending"
	RcptSent      = "sent"
	RcptFailed    = "failed"
	RcptUnknown   = "unknown" // was being sent when the daemon stopped
	RcptCancelled = "cancelled"
)

// RcptStates lists every recipient state, in the order of a send's life.
var RcptStates = []string{RcptPending, RcptSending, RcptSent, RcptFailed, RcptUnknown, RcptCancelled}

// Limits on a composed campaign.
const (
	MaxSendSubjectLen = 300
	MaxSendBodyLen    = 100_000
	MaxSendRecipients = 20_000
	// maxAnswerLen bounds the server answer kept per recipient, in
	// characters.
	maxAnswerLen = 500
	// maxSendAhead bounds how far ahead a send may be scheduled.
	maxSendAhead = 366 * 24 * time.Hour
)

// SendCounts counts a send's recipients by state.
type SendCounts struct {
	Pending   int `json:"pending"`
	Sending   int `json:"sending"`
	Sent      int `json:"sent"`
	Failed    int `json:"failed"`
	Unknown   int `json:"unknown"`
	Cancelled int `json:"cancelled"`
}

func (c *SendCounts) field(state string) *int {
	switch state {
	case RcptPending:
		return &c.Pending
	case RcptSending:
		return &c.Sending
	case RcptSent:
		return &c.Sent
	case RcptFailed:
		return &c.Failed
	case RcptUnknown:
		return &c.Unknown
	default:
		return &c.Cancelled
	}
}

// move counts one recipient going from one state to another.
func (c *SendCounts) move(from, to string) {
	*c.field(from)--
	*c.field(to)++
}

// Total is the number of recipients.
func (c SendCounts) Total() int {
	return c.Pending + c.Sending + c.Sent + c.Failed + c.Unknown + c.Cancelled
}

// CampaignSend is what Touchpoint sends for a campaign it sends itself.
type CampaignSend struct {
	CampaignID ID         `json:"campaign_id"`
	Filter     string     `json:"filter"`
	Body       string     `json:"body"`
	SendAt     time.Time  `json:"send_at"`
	Status     string     `json:"status"`
	CreatedBy  ID         `json:"created_by,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt time.Time  `json:"finished_at"`
	Counts     SendCounts `json:"counts"`
}

// Active reports whether the send still has work to do.
func (cs *CampaignSend) Active() bool { return cs.Status == SendScheduled || cs.Status == SendSending }

const campaignSendV1 = 1

func (cs *CampaignSend) encode() []byte {
	e := encoder{b: make([]byte, 0, 64+len(cs.Filter)+len(cs.Body))}
	e.byte(campaignSendV1)
	e.str(cs.Filter)
	e.str(cs.Body)
	e.time(cs.SendAt)
	e.str(cs.Status)
	e.id(cs.CreatedBy)
	e.time(cs.CreatedAt)
	e.time(cs.UpdatedAt)
	e.time(cs.StartedAt)
	e.time(cs.FinishedAt)
	for _, st := range RcptStates {
		e.varint(int64(*cs.Counts.field(st)))
	}
	return e.b
}

func decodeCampaignSend(id ID, b []byte) (*CampaignSend, error) {
	d := decoder{b: b}
	if d.byte() != campaignSendV1 {
		return nil, errCorrupt
	}
	cs := &CampaignSend{CampaignID: id}
	cs.Filter = d.str()
	cs.Body = d.str()
	cs.SendAt = d.time()
	cs.Status = d.str()
	cs.CreatedBy = d.id()
	cs.CreatedAt = d.time()
	cs.UpdatedAt = d.time()
	cs.StartedAt = d.time()
	cs.FinishedAt = d.time()
	for _, st := range RcptStates {
		*cs.Counts.field(st) = int(d.varint())
	}
	return cs, d.err
}

func getCampaignSend(tx *bolt.Tx, id ID) (*CampaignSend, error) {
	v := tx.Bucket(bCampaignSends).Get(id.key())
	if v == nil {
		return nil, ErrNotFound
	}
	return decodeCampaignSend(id, v)
}

func putCampaignSend(tx *bolt.Tx, cs *CampaignSend) error {
	return tx.Bucket(bCampaignSends).Put(cs.CampaignID.key(), cs.encode())
}

// SendRecipient is one address of a send and its delivery state.
type SendRecipient struct {
	CampaignID ID     `json:"-"`
	Address    string `json:"address"`
	ContactID  ID     `json:"contact_id"`
	Name       string `json:"name"`
	State      string `json:"state"`
	Attempts   int    `json:"attempts"`
	// Answer is the relay's last answer (or the error) for a failure, a
	// retry or an unknown outcome.
	Answer        string    `json:"answer,omitempty"`
	NextAttempt   time.Time `json:"next_attempt"`
	UpdatedAt     time.Time `json:"updated_at"`
	InteractionID ID        `json:"interaction_id,omitempty"`
}

const sendRecipientV1 = 1

func (r *SendRecipient) encode() []byte {
	e := encoder{b: make([]byte, 0, 48+len(r.Name)+len(r.Answer))}
	e.byte(sendRecipientV1)
	e.id(r.ContactID)
	e.str(r.Name)
	e.str(r.State)
	e.varint(int64(r.Attempts))
	e.str(r.Answer)
	e.time(r.NextAttempt)
	e.time(r.UpdatedAt)
	e.id(r.InteractionID)
	return e.b
}

func decodeSendRecipient(cid ID, addr string, b []byte) (*SendRecipient, error) {
	d := decoder{b: b}
	if d.byte() != sendRecipientV1 {
		return nil, errCorrupt
	}
	r := &SendRecipient{CampaignID: cid, Address: addr}
	r.ContactID = d.id()
	r.Name = d.str()
	r.State = d.str()
	r.Attempts = int(d.varint())
	r.Answer = d.str()
	r.NextAttempt = d.time()
	r.UpdatedAt = d.time()
	r.InteractionID = d.id()
	return r, d.err
}

func rcptKey(cid ID, addr string) []byte { return append(cid.key(), addr...) }

func dueKey(cid ID, t time.Time, addr string) []byte {
	k := binary.BigEndian.AppendUint64(cid.key(), timeKey(t))
	return append(k, addr...)
}

func getSendRecipient(tx *bolt.Tx, cid ID, addr string) (*SendRecipient, error) {
	v := tx.Bucket(bSendRcpt).Get(rcptKey(cid, addr))
	if v == nil {
		return nil, ErrNotFound
	}
	return decodeSendRecipient(cid, addr, v)
}

// putSendRecipient stores r and keeps the due index: a pending recipient is
// listed under its next attempt, no other. old is the stored version (nil
// for a new one).
func putSendRecipient(tx *bolt.Tx, r, old *SendRecipient) error {
	due := tx.Bucket(ixSendDue)
	if old != nil && old.State == RcptPending {
		if err := due.Delete(dueKey(r.CampaignID, old.NextAttempt, r.Address)); err != nil {
			return err
		}
	}
	if r.State == RcptPending {
		if err := due.Put(dueKey(r.CampaignID, r.NextAttempt, r.Address), []byte{}); err != nil {
			return err
		}
	}
	return tx.Bucket(bSendRcpt).Put(rcptKey(r.CampaignID, r.Address), r.encode())
}

// Placeholders are the fields a body may use as {{name}}.
var Placeholders = []string{"name", "first_name", "email"}

// expandPlaceholders replaces every {{key}} (spaces inside allowed, case
// ignored) with value(key); an unknown key is an error.
func expandPlaceholders(body string, value func(key string) string) (string, error) {
	var b strings.Builder
	rest := body
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		j := strings.Index(rest[i:], "}}")
		if j < 0 {
			return "", invalid("body", "a placeholder is not closed with }} (known: %s)", placeholderList())
		}
		key := strings.ToLower(strings.TrimSpace(rest[i+2 : i+j]))
		if !slices.Contains(Placeholders, key) {
			return "", invalid("body", "unknown placeholder {{%.40s}} (known: %s)", key, placeholderList())
		}
		b.WriteString(rest[:i])
		b.WriteString(value(key))
		rest = rest[i+j+2:]
	}
}

func placeholderList() string {
	out := make([]string, len(Placeholders))
	for i, p := range Placeholders {
		out[i] = "{{" + p + "}}"
	}
	return strings.Join(out, ", ")
}

// Personalize fills the body's placeholders for this recipient.
func (r *SendRecipient) Personalize(body string) (string, error) {
	return expandPlaceholders(body, func(key string) string {
		switch key {
		case "name":
			return r.Name
		case "first_name":
			if f := strings.Fields(r.Name); len(f) > 0 {
				return f[0]
			}
			return r.Name
		default:
			return r.Address
		}
	})
}

// SendInput is a campaign as an admin composes it.
type SendInput struct {
	Name    string // defaults to Subject
	Subject string
	Body    string
	// Filter selects the recipients (ParseContactQuery).
	Filter string
	// SendAt is when to start; zero means now.
	SendAt    time.Time
	CreatedBy ID
}

func (in *SendInput) normalize(now time.Time) (*Query, error) {
	in.Subject = strings.TrimSpace(in.Subject)
	if err := checkText("subject", in.Subject, MaxSendSubjectLen, true); err != nil {
		return nil, err
	}
	if strings.ContainsAny(in.Subject, "\r\n") {
		return nil, invalid("subject", "must be on one line")
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		in.Name = in.Subject
	}
	if err := checkText("name", in.Name, MaxNameLen, true); err != nil {
		return nil, err
	}
	in.Body = strings.ReplaceAll(in.Body, "\r\n", "\n")
	if err := checkText("body", in.Body, MaxSendBodyLen, true); err != nil {
		return nil, err
	}
	if _, err := expandPlaceholders(in.Body, func(string) string { return "" }); err != nil {
		return nil, err
	}
	in.Filter = strings.TrimSpace(in.Filter)
	if in.Filter == "" {
		return nil, invalid("filter", "is required: say who gets it, e.g. org:\"Acme\" or kind:person")
	}
	q, err := ParseContactQuery(in.Filter)
	if err != nil {
		return nil, renameField(err, "filter")
	}
	if in.SendAt.IsZero() {
		in.SendAt = now
	}
	in.SendAt = in.SendAt.UTC()
	if in.SendAt.Before(now.Add(-time.Minute)) {
		return nil, invalid("send_at", "is in the past")
	}
	if in.SendAt.After(now.Add(maxSendAhead)) {
		return nil, invalid("send_at", "is more than a year ahead")
	}
	return q, nil
}

// renameField names field in a validation error.
func renameField(err error, field string) error {
	if ve, ok := err.(*ValidationError); ok {
		ve.Field = field
	}
	return err
}

// CreateSend composes a campaign: it selects the recipients now, and
// records the campaign, its send and every recipient (pending) in one
// transaction. The sender picks it up at SendAt.
func (s *Store) CreateSend(ctx context.Context, in SendInput) (*Campaign, *CampaignSend, error) {
	now := s.now().UTC()
	q, err := in.normalize(now)
	if err != nil {
		return nil, nil, err
	}
	sel, err := s.SelectContacts(q, MaxSendRecipients)
	if err != nil {
		return nil, nil, renameField(err, "filter")
	}
	switch {
	case sel.Count == 0 && sel.NoAddress > 0:
		return nil, nil, invalid("filter", "selects %d contacts, none of whom has an email address", sel.NoAddress)
	case sel.Count == 0:
		return nil, nil, invalid("filter", "selects no contact")
	case sel.Count > MaxSendRecipients:
		return nil, nil, invalid("filter", "selects %d contacts, at most %d per campaign: narrow the filter", sel.Count, MaxSendRecipients)
	}
	id := s.NewID()
	camp := &Campaign{
		ID: id, ExternalID: "touchpoint-send-" + id.String(), Name: in.Name, Subject: in.Subject, SentAt: in.SendAt,
		CreatedAt: now, UpdatedAt: now, CreatedBy: in.CreatedBy,
	}
	cs := &CampaignSend{
		CampaignID: id, Filter: in.Filter, Body: in.Body, SendAt: in.SendAt, Status: SendScheduled,
		CreatedBy: in.CreatedBy, CreatedAt: now, UpdatedAt: now,
	}
	err = s.update(ctx, func(tx *bolt.Tx) error {
		cs.Counts = SendCounts{}
		if err := tx.Bucket(ixCampaignExt).Put([]byte(camp.ExternalID), id.key()); err != nil {
			return err
		}
		if err := tx.Bucket(bCampaigns).Put(id.key(), camp.encode()); err != nil {
			return err
		}
		// SelectContacts lists each contact once, and no two contacts
		// list the same address: every recipient is new.
		for _, c := range sel.Contacts {
			r := &SendRecipient{CampaignID: id, Address: c.Emails[0], ContactID: c.ID, Name: c.Name, State: RcptPending,
				NextAttempt: in.SendAt, UpdatedAt: now}
			if err := putSendRecipient(tx, r, nil); err != nil {
				return err
			}
			cs.Counts.Pending++
		}
		return putCampaignSend(tx, cs)
	})
	if err != nil {
		return nil, nil, err
	}
	return camp, cs, nil
}

// SendOf returns the send of a campaign Touchpoint sends itself;
// ErrNotFound for a reported campaign.
func (s *Store) SendOf(id ID) (*CampaignSend, error) {
	var cs *CampaignSend
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		cs, err = getCampaignSend(tx, id)
		return err
	})
	return cs, err
}

// ActiveSends lists the sends that are scheduled or sending, oldest first.
func (s *Store) ActiveSends() ([]*CampaignSend, error) {
	return s.sendsWhere((*CampaignSend).Active)
}

func (s *Store) sendsWhere(keep func(*CampaignSend) bool) ([]*CampaignSend, error) {
	var out []*CampaignSend
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bCampaignSends).ForEach(func(k, v []byte) error {
			cs, err := decodeCampaignSend(keyID(k), v)
			if err != nil {
				return err
			}
			if keep(cs) {
				out = append(out, cs)
			}
			return nil
		})
	})
	return out, err
}

// DueRecipients returns up to limit pending recipients of a send whose next
// attempt is at or before now, the earliest first, and the time of the
// first pending one that is not due yet (zero when none is).
func (s *Store) DueRecipients(id ID, now time.Time, limit int) ([]*SendRecipient, time.Time, error) {
	var out []*SendRecipient
	var later time.Time
	err := s.view(func(tx *bolt.Tx) error {
		p := id.key()
		cur := tx.Bucket(ixSendDue).Cursor()
		for k, _ := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = cur.Next() {
			t := keyTime(binary.BigEndian.Uint64(k[8:16]))
			if t.After(now) {
				later = t
				return nil
			}
			if len(out) == limit {
				return nil
			}
			r, err := getSendRecipient(tx, id, string(k[16:]))
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	return out, later, err
}

// SendRecipients lists a send's recipients in address order, after the
// address after, only those in state when it is not ""; next continues.
func (s *Store) SendRecipients(id ID, state, after string, limit int) ([]*SendRecipient, string, error) {
	limit = clampLimit(limit)
	var out []*SendRecipient
	next := ""
	err := s.view(func(tx *bolt.Tx) error {
		if _, err := getCampaignSend(tx, id); err != nil {
			return err
		}
		p := id.key()
		start := rcptKey(id, after)
		cur := tx.Bucket(bSendRcpt).Cursor()
		k, v := cur.Seek(start)
		if after != "" && bytes.Equal(k, start) {
			k, v = cur.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, p); k, v = cur.Next() {
			r, err := decodeSendRecipient(id, string(k[8:]), v)
			if err != nil {
				return err
			}
			if state != "" && r.State != state {
				continue
			}
			if len(out) == limit {
				next = out[len(out)-1].Address
				return nil
			}
			out = append(out, r)
		}
		return nil
	})
	return out, next, err
}

// BeginAttempt marks a pending recipient "sending" (one more attempt) and
// commits it, before anything goes to the relay. ErrConflict when the
// recipient is not pending any more (the send was cancelled, or another
// attempt took it).
func (s *Store) BeginAttempt(ctx context.Context, id ID, addr string) (*SendRecipient, error) {
	now := s.now().UTC()
	var out *SendRecipient
	err := s.update(ctx, func(tx *bolt.Tx) error {
		cs, err := getCampaignSend(tx, id)
		if err != nil {
			return err
		}
		old, err := getSendRecipient(tx, id, addr)
		if err != nil {
			return err
		}
		if !cs.Active() || old.State != RcptPending {
			return conflict("state", "recipient %s is %s, not pending", addr, old.State)
		}
		r := *old
		r.State, r.Attempts, r.UpdatedAt = RcptSending, old.Attempts+1, now
		cs.Counts.move(RcptPending, RcptSending)
		if cs.Status == SendScheduled {
			cs.Status, cs.StartedAt = SendSending, now
		}
		cs.UpdatedAt = now
		if err := putSendRecipient(tx, &r, old); err != nil {
			return err
		}
		out = &r
		return putCampaignSend(tx, cs)
	})
	return out, err
}

// SendOutcome is what one attempt came to.
type SendOutcome struct {
	// State is RcptSent, RcptFailed, RcptUnknown, or RcptPending for a
	// temporary failure to retry at RetryAt.
	State   string
	Answer  string
	RetryAt time.Time
	// MessageID is the id the message was sent with (logged on the
	// interaction).
	MessageID string
}

// FinishAttempt records the outcome of an attempt BeginAttempt started. A
// sent (or unknown) recipient is logged on its contact's timeline in the
// same transaction, exactly as a reported campaign's recipient.
func (s *Store) FinishAttempt(ctx context.Context, id ID, addr string, out SendOutcome) error {
	if !slices.Contains([]string{RcptSent, RcptFailed, RcptUnknown, RcptPending}, out.State) {
		return fmt.Errorf("store: FinishAttempt: bad state %q", out.State)
	}
	now := s.now().UTC()
	iid := s.NewID()
	return s.update(ctx, func(tx *bolt.Tx) error {
		cs, err := getCampaignSend(tx, id)
		if err != nil {
			return err
		}
		old, err := getSendRecipient(tx, id, addr)
		if err != nil {
			return err
		}
		if old.State != RcptSending {
			return conflict("state", "recipient %s is %s, not sending", addr, old.State)
		}
		r := *old
		r.State, r.Answer, r.UpdatedAt = out.State, truncateRunes(out.Answer, maxAnswerLen), now
		if out.State == RcptPending {
			if cs.Status == SendCancelled {
				r.State = RcptCancelled
			}
			r.NextAttempt = out.RetryAt
		}
		if err := s.settle(tx, cs, &r, old, iid, out.MessageID, now); err != nil {
			return err
		}
		return putCampaignSend(tx, cs)
	})
}

// settle stores a recipient's new state, counts it, logs it when it was
// (or may have been) delivered, and ends the send when nothing is left.
func (s *Store) settle(tx *bolt.Tx, cs *CampaignSend, r, old *SendRecipient, iid ID, messageID string, now time.Time) error {
	if r.State == RcptSent || r.State == RcptUnknown {
		p := pendingRecipient{addr: r.Address, contact: r.ContactID, iid: iid, messageID: messageID}
		if _, err := logRecipients(tx, cs.CampaignID, []pendingRecipient{p}, cs.CreatedBy, 0, now, maxListed); err != nil {
			return err
		}
		if v := tx.Bucket(ixCampaignRcpt).Get(rcptKey(cs.CampaignID, r.Address)); len(v) == 16 {
			r.InteractionID = keyID(v)
		}
	}
	cs.Counts.move(old.State, r.State)
	cs.UpdatedAt = now
	if cs.Active() && cs.Counts.Pending == 0 && cs.Counts.Sending == 0 {
		cs.Status, cs.FinishedAt = SendDone, now
	}
	return putSendRecipient(tx, r, old)
}

// UnknownAnswer is what an unknown recipient's answer says.
const UnknownAnswer = "Touchpoint stopped while handing this message to the relay: it may have been delivered, so it is not sent again"

// RecoverSends runs at start, before any send: every recipient still
// "sending" was being handed to the relay when the daemon stopped. It may
// have been delivered, so it becomes "unknown" (logged, never resent).
// messageID gives the Message-ID each was sent with. It returns how many
// there were.
func (s *Store) RecoverSends(ctx context.Context, messageID func(campaign ID, addr string) string) (int, error) {
	sends, err := s.sendsWhere(func(cs *CampaignSend) bool { return cs.Counts.Sending > 0 })
	if err != nil {
		return 0, err
	}
	total := 0
	for _, cs0 := range sends {
		id := cs0.CampaignID
		var stuck []string
		err := s.view(func(tx *bolt.Tx) error {
			p := id.key()
			cur := tx.Bucket(bSendRcpt).Cursor()
			for k, v := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = cur.Next() {
				r, err := decodeSendRecipient(id, string(k[8:]), v)
				if err != nil {
					return err
				}
				if r.State == RcptSending {
					stuck = append(stuck, r.Address)
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		for _, addr := range stuck {
			err := s.FinishAttempt(ctx, id, addr, SendOutcome{State: RcptUnknown, Answer: UnknownAnswer, MessageID: messageID(id, addr)})
			if err != nil {
				return total, err
			}
			total++
		}
	}
	return total, nil
}

// CancelSend stops a send: pending recipients become cancelled; one being
// sent at this moment finishes.
func (s *Store) CancelSend(ctx context.Context, id ID) (*CampaignSend, error) {
	now := s.now().UTC()
	var out *CampaignSend
	err := s.update(ctx, func(tx *bolt.Tx) error {
		cs, err := getCampaignSend(tx, id)
		if err != nil {
			return err
		}
		if !cs.Active() {
			return conflict("status", "this campaign is %s already", cs.Status)
		}
		var pending []*SendRecipient
		p := id.key()
		cur := tx.Bucket(ixSendDue).Cursor()
		for k, _ := cur.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = cur.Next() {
			r, err := getSendRecipient(tx, id, string(k[16:]))
			if err != nil {
				return err
			}
			pending = append(pending, r)
		}
		for _, old := range pending {
			r := *old
			r.State, r.UpdatedAt = RcptCancelled, now
			if err := putSendRecipient(tx, &r, old); err != nil {
				return err
			}
			cs.Counts.move(RcptPending, RcptCancelled)
		}
		cs.Status, cs.FinishedAt, cs.UpdatedAt = SendCancelled, now, now
		out = cs
		return putCampaignSend(tx, cs)
	})
	return out, err
}
