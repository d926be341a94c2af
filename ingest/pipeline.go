package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"touchpoint/matcher"
	"touchpoint/store"
)

// Pipeline turns raw messages into stored interactions or unmatched
// entries: parse, match, then one idempotent store transaction. Every
// transport (SMTP, IMAP, pipe, HTTP) goes through Ingest.
type Pipeline struct {
	Store   *store.Store
	Matcher matcher.Config
	Limits  Limits
	Log     *slog.Logger
	Now     func() time.Time
	// VerifyStaff, when set, requires mail whose From names staff (and that
	// no per-user secret address vouches for) to carry a DKIM signature
	// aligned with the From domain; other such mail is queued unverified.
	VerifyStaff *DKIMVerifier
	// Observe, when set, is told the outcome and duration of every message
	// (for metrics): its store.IngestResult status, or StatusFailed when
	// it was not stored.
	Observe func(source, status string, d time.Duration)
}

// Ingest stores one raw message. A nil error means the message is durable
// (committed and synced): only then may a transport acknowledge it. An error
// is temporary (storage or lookup failure): the sender should retry.
func (p *Pipeline) Ingest(ctx context.Context, raw []byte, d matcher.Delivery) (store.IngestResult, error) {
	var res store.IngestResult
	err := p.store(ctx, raw, d, func(ctx context.Context, in *store.Incoming, done func(store.IngestResult)) error {
		var err error
		if res, err = p.Store.Ingest(ctx, in); err == nil {
			done(res)
		}
		return err
	}, p.Store.Expect, nil)
	return res, err
}

// Accept is Ingest for a transport that needs only durability (SMTP): it
// returns once the message is in the store's journal, and the message
// reaches the database (and the metrics) a few milliseconds later, when
// outcome (if not nil) hears what became of it.
func (p *Pipeline) Accept(ctx context.Context, raw []byte, d matcher.Delivery, outcome func(store.IngestResult)) error {
	return p.store(ctx, raw, d, p.Store.Accept, p.Store.ExpectAccept, outcome)
}

// store parses and matches raw and hands it to put, which calls done with
// the outcome once the message is in the database; then outcome hears it.
func (p *Pipeline) store(ctx context.Context, raw []byte, d matcher.Delivery,
	put func(context.Context, *store.Incoming, func(store.IngestResult)) error,
	expect func(context.Context) (context.Context, func()), outcome func(store.IngestResult)) error {
	start := time.Now()
	// Tell the store this message is coming, so concurrent messages share
	// a commit; the announcement ends when it is queued.
	if !store.Expecting(ctx) {
		var release func()
		ctx, release = expect(ctx)
		defer release()
	}
	in, err := p.Prepare(raw, d)
	if err != nil {
		p.observe(d.Source, StatusFailed, start)
		return err
	}
	err = put(ctx, in, func(res store.IngestResult) {
		p.observe(d.Source, res.Status, start)
		p.logger().Debug("message ingested", "source", d.Source, "status", res.Status, "reason", in.Reason,
			"msgid", in.Interaction.Email.MessageID, "interaction", res.InteractionID, "unmatched", res.UnmatchedID)
		if outcome != nil {
			outcome(res)
		}
	})
	if err != nil {
		p.observe(d.Source, StatusFailed, start)
		return fmt.Errorf("store message: %w", err)
	}
	return nil
}

// StatusFailed is the outcome Observe hears for a message that could not be
// stored (the transport answered a temporary failure). It is the store's
// status for journaled mail set aside, so the metrics count both as one.
const StatusFailed = store.IngestFailed

func (p *Pipeline) observe(source, status string, start time.Time) {
	if p.Observe != nil {
		p.Observe(source, status, time.Since(start))
	}
}

func (p *Pipeline) logger() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}

func (p *Pipeline) now() time.Time {
	if p.Now == nil {
		return time.Now()
	}
	return p.Now()
}

// Prepare parses and matches a raw message into what the store writes. A
// message that does not parse is still prepared, as unparseable.
func (p *Pipeline) Prepare(raw []byte, d matcher.Delivery) (*store.Incoming, error) {
	now := p.now().UTC()
	if d.Source == "" {
		d.Source = store.SourcePipe
	}
	m, perr := Parse(raw, p.Limits)
	if perr != nil {
		p.logger().Info("message does not parse; keeping it as unparseable", "err", perr, "bytes", len(raw))
		sum := sha256.Sum256(raw)
		return &store.Incoming{
			DedupeKey: "raw:" + hex.EncodeToString(sum[:]),
			Raw:       raw,
			Interaction: &store.Interaction{
				Type: "Email", Title: "(message that could not be read)", Source: d.Source, OccurredAt: now,
				Email: &store.Email{From: d.MailFrom},
			},
			Reason:     matcher.ReasonUnparseable,
			ReceivedAt: now,
		}, nil
	}
	var dec matcher.Decision
	err := p.Store.Snapshot(func(sn *store.Snapshot) error {
		var err error
		dec, err = matcher.Match(p.Matcher, sn, m, d)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("match message: %w", err)
	}
	if p.VerifyStaff != nil && dec.ClaimedStaff != "" && !matcher.Noise(dec.Reason) {
		ok, why, err := p.VerifyStaff.Verify(raw, dec.ClaimedStaff)
		if err != nil {
			// Not stored, so the sender (or the next IMAP poll) retries.
			return nil, fmt.Errorf("verify the staff sender: %w", err)
		}
		if !ok {
			p.logger().Info("staff sender not verified; queued as unverified", "from", dec.ClaimedStaff, "why", why)
			dec.Reason = matcher.ReasonUnverified
		}
	}
	var unknown []string
	for _, a := range dec.Unknown {
		unknown = append(unknown, a.Email)
	}
	return &store.Incoming{
		DedupeKey:   DedupeKey(raw, m),
		Raw:         raw,
		Interaction: draft(m, dec, d, now),
		Reason:      dec.Reason,
		Unknown:     unknown,
		ReceivedAt:  now,
	}, nil
}

// draft is the Email interaction a message becomes.
func draft(m *matcher.Message, dec matcher.Decision, d matcher.Delivery, now time.Time) *store.Interaction {
	when := m.Date
	// A missing date, or one far in the future (a broken clock), is
	// replaced by the time we received it.
	if when.IsZero() || when.After(now.Add(24*time.Hour)) {
		when = now
	}
	title := strings.Join(strings.Fields(m.Subject), " ") // one line
	if title == "" {
		title = "(no subject)"
	}
	if r := []rune(title); len(r) > store.MaxTitleLen {
		title = string(r[:store.MaxTitleLen-1]) + "…"
	}
	from := ""
	if len(m.From) > 0 {
		from = m.From[0].Email
	}
	thread := m.MessageID
	if len(m.References) > 0 {
		thread = m.References[0]
	} else if m.InReplyTo != "" {
		thread = m.InReplyTo
	}
	return &store.Interaction{
		ContactIDs: dec.ContactIDs,
		OwnerIDs:   dec.OwnerIDs,
		Type:       "Email",
		Title:      title,
		Details:    m.Text,
		OccurredAt: when,
		Source:     d.Source,
		Email: &store.Email{
			MessageID:   m.MessageID,
			From:        from,
			To:          emails(m.To),
			Cc:          emails(m.Cc),
			Subject:     m.Subject,
			Direction:   dec.Direction,
			ThreadID:    thread,
			Attachments: m.Attachments,
		},
	}
}

func emails(as []matcher.Address) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.Email)
	}
	return out
}
