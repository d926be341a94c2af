// Package outbound sends the campaigns admins compose in Touchpoint through
// a configured SMTP relay (go-smtp client; STARTTLS or implicit TLS, AUTH
// PLAIN), rate-limited, at most once per recipient: each recipient's state
// is committed in the store before the message goes to the relay and after
// the relay answers (see store/campaign_send.go).
package outbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"touchpoint/store"
)

// Config is the relay and how to use it.
type Config struct {
	// Host empty means no relay: nothing is sent and Available says so.
	Host     string
	Port     int
	TLS      string // TLSStartTLS, TLSImplicit or TLSNone
	Username string // empty: no AUTH
	// Password reads the password (from an environment variable or a
	// file) at each connection; it is never stored or logged.
	Password func() (string, error)
	From     string // envelope and header sender, local@domain
	FromName string
	HeloName string
	// RatePerSecond caps the messages handed to the relay per second.
	RatePerSecond int
	// MaxAttempts per recipient before a temporary failure is final.
	MaxAttempts int
	// RetryDelay is the wait before the first retry; it doubles with each
	// attempt, up to an hour.
	RetryDelay time.Duration
	// Timeout bounds connecting and each SMTP command.
	Timeout time.Duration
	// TLSConfig overrides the default (verify the relay's certificate for
	// Host); tests trust their own certificate with it.
	TLSConfig *tls.Config
	// Unconfigured says why there is no relay, for the UI.
	Unconfigured string
	// Observe, when set, is told the state every attempt left its
	// recipient in (sent, failed, unknown, or pending for a retry), for
	// metrics.
	Observe func(state string)
}

// maxRetryDelay caps the backoff.
const maxRetryDelay = time.Hour

// batch is how many due recipients one store read fetches.
const batch = 50

// Sender sends composed campaigns. Run it in one goroutine; Kick wakes it.
type Sender struct {
	cfg   Config
	st    *store.Store
	log   *slog.Logger
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
	kick  chan struct{}
	lim   *limiter
	relay relay
}

// New makes a sender; it does nothing until Run.
func New(cfg Config, st *store.Store, log *slog.Logger) *Sender {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxAttempts < 1 {
		cfg.MaxAttempts = 5
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.HeloName == "" {
		cfg.HeloName = "localhost"
	}
	if cfg.Password == nil {
		cfg.Password = func() (string, error) { return "", errors.New("no relay password configured") }
	}
	s := &Sender{cfg: cfg, st: st, log: log, now: time.Now, sleep: sleepCtx, kick: make(chan struct{}, 1)}
	s.relay.cfg = &s.cfg
	s.lim = newLimiter(cfg.RatePerSecond, func() time.Time { return s.now() }, func(ctx context.Context, d time.Duration) error { return s.sleep(ctx, d) })
	return s
}

// Kick asks the sender to look for due work now (a campaign was composed,
// or the scheduler's tick). It never blocks.
func (s *Sender) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Available says whether campaigns can be sent, and why not.
func (s *Sender) Available() (bool, string) {
	if s.cfg.Host == "" {
		why := s.cfg.Unconfigured
		if why == "" {
			why = "no SMTP relay is configured"
		}
		return false, why
	}
	if s.cfg.Username != "" {
		if _, err := s.cfg.Password(); err != nil {
			return false, "the relay password cannot be read: " + err.Error()
		}
	}
	return true, ""
}

// Run recovers what a crash left half done, then sends due recipients
// until ctx ends. It returns when ctx ends, after the message in flight.
func (s *Sender) Run(ctx context.Context) {
	if err := s.Recover(ctx); err != nil {
		s.log.Error("recover campaign sends", "err", err)
	}
	var timer *time.Timer
	for ctx.Err() == nil {
		next := s.runSafe(ctx)
		var wake <-chan time.Time
		if !next.IsZero() {
			timer = time.NewTimer(max(next.Sub(s.now()), 10*time.Millisecond))
			wake = timer.C
		}
		select {
		case <-ctx.Done():
		case <-s.kick:
		case <-wake:
		}
		if timer != nil {
			timer.Stop()
		}
	}
	s.relay.close()
}

// Recover marks every recipient a stopped daemon left in "sending" as
// unknown (logged, never resent). Run calls it first.
func (s *Sender) Recover(ctx context.Context) error {
	n, err := s.st.RecoverSends(context.WithoutCancel(ctx), s.messageID)
	if n > 0 {
		s.log.Warn("recipients were being sent when Touchpoint stopped; marked unknown, not resent", "recipients", n)
	}
	return err
}

// runSafe is RunOnce with panics logged, so one bad campaign cannot stop
// the sender.
func (s *Sender) runSafe(ctx context.Context) (next time.Time) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in campaign sender", "panic", p, "stack", string(debug.Stack()))
			s.relay.drop()
			next = s.now().Add(time.Minute)
		}
	}()
	next, err := s.RunOnce(ctx)
	if err != nil && ctx.Err() == nil {
		s.log.Error("campaign sender", "err", err)
		return s.now().Add(time.Minute)
	}
	return next
}

// RunOnce sends every recipient that is due now and returns when the next
// one will be (zero when none is waiting). Without a relay it sends
// nothing.
func (s *Sender) RunOnce(ctx context.Context) (time.Time, error) {
	if ok, _ := s.Available(); !ok {
		return time.Time{}, nil
	}
	sends, err := s.st.ActiveSends()
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	defer s.relay.close()
	for _, cs := range sends {
		if cs.SendAt.After(s.now()) {
			earliest(cs.SendAt)
			continue
		}
		camp, err := s.st.GetCampaign(cs.CampaignID)
		if err != nil {
			return next, err
		}
		for {
			due, later, err := s.st.DueRecipients(cs.CampaignID, s.now(), batch)
			if err != nil {
				return next, err
			}
			if len(due) == 0 {
				earliest(later)
				break
			}
			for _, r := range due {
				if err := s.lim.wait(ctx); err != nil {
					return next, nil
				}
				if err := s.sendOne(ctx, camp, cs, r); errors.Is(err, errRelayDown) {
					earliest(s.now().Add(s.cfg.RetryDelay))
					return next, nil
				} else if err != nil {
					return next, err
				}
			}
		}
	}
	return next, nil
}

func (s *Sender) messageID(campaign store.ID, addr string) string {
	return MessageID(campaign, addr, domainOf(s.cfg.From))
}

// sendOne is one attempt at one recipient: committed as "sending" first,
// then handed to the relay, then committed with the outcome.
func (s *Sender) sendOne(ctx context.Context, camp *store.Campaign, cs *store.CampaignSend, r *store.SendRecipient) error {
	log := s.log.With("campaign", camp.ID, "rcpt", r.Address)
	r, err := s.st.BeginAttempt(ctx, camp.ID, r.Address)
	if errors.Is(err, store.ErrConflict) {
		return nil // cancelled meanwhile
	}
	if err != nil {
		return fmt.Errorf("begin attempt: %w", err)
	}
	relayDown := false
	msgID := s.messageID(camp.ID, r.Address)
	out := store.SendOutcome{MessageID: msgID}
	body, err := r.Personalize(cs.Body)
	if err != nil {
		out.State, out.Answer = store.RcptFailed, err.Error()
	} else {
		msg := buildMessage(s.cfg.From, s.cfg.FromName, r, camp.Subject, body, msgID, camp.ID, s.now())
		v, ans := s.relay.send(s.cfg.From, r.Address, msg)
		out.Answer = ans
		switch v {
		case delivered:
			out.State = store.RcptSent
		case permanent:
			out.State = store.RcptFailed
		case unreachable:
			// Never counted towards giving up: the whole run stops
			// and retries later (below), so an outage or a wrong
			// password cannot fail every recipient in turn.
			out.State = store.RcptPending
			out.RetryAt = s.now().Add(s.cfg.RetryDelay)
			relayDown = true
		case ambiguous:
			out.State = store.RcptUnknown
			out.Answer = "no answer after the message was handed over (" + ans + "): it may have been delivered, so it is not sent again"
		case temporary:
			if r.Attempts >= s.cfg.MaxAttempts {
				out.State = store.RcptFailed
				out.Answer = fmt.Sprintf("gave up after %d attempts: %s", r.Attempts, ans)
			} else {
				out.State = store.RcptPending
				out.RetryAt = s.now().Add(s.backoff(r.Attempts))
			}
		}
	}
	// The relay has answered: record it even if we are shutting down.
	if err := s.st.FinishAttempt(context.WithoutCancel(ctx), camp.ID, r.Address, out); err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	if s.cfg.Observe != nil {
		s.cfg.Observe(out.State)
	}
	lvl := slog.LevelDebug
	if out.State != store.RcptSent {
		lvl = slog.LevelWarn
	}
	log.Log(ctx, lvl, "campaign message", "state", out.State, "attempt", r.Attempts, "answer", oneLine(out.Answer))
	if relayDown {
		return errRelayDown
	}
	return nil
}

// errRelayDown stops a run: the relay cannot be reached, so no other
// recipient is tried until the next one.
var errRelayDown = errors.New("the relay cannot be reached")

// backoff is the wait after the n-th attempt failed for a temporary cause.
func (s *Sender) backoff(n int) time.Duration {
	d := s.cfg.RetryDelay
	for i := 1; i < n && d < maxRetryDelay; i++ {
		d *= 2
	}
	return min(d, maxRetryDelay)
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
