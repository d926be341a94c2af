package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"touchpoint/config"
	"touchpoint/ingest"
	"touchpoint/web"
)

// imapConfig maps an [[imap.mailbox]] entry to the poller's configuration.
// The password is read from the environment or file at every connection.
func imapConfig(m config.Mailbox, env map[string]string, maxMessageBytes int64) ingest.IMAPConfig {
	action, folder := m.AfterAction()
	return ingest.IMAPConfig{
		Name: m.Name, Host: m.Host, Port: m.Port, TLS: m.TLS, Username: m.Username,
		Password:        func() (string, error) { return m.Password(env) },
		Folder:          m.Folder,
		After:           action,
		MoveTo:          folder,
		MaxMessageBytes: maxMessageBytes,
		CommandTimeout:  m.CommandTimeout.Std(),
	}
}

// pollers runs one IMAP poller per configured mailbox, each in its own
// goroutine, and a cron scheduler that kicks each on its schedule (the
// fallback for servers without IDLE, and a liveness check for those with).
type pollers struct {
	list   []*ingest.IMAPPoller
	cron   *cron.Cron
	cancel context.CancelFunc
	wg     sync.WaitGroup
	log    *slog.Logger
}

// startPollers validates every schedule first, then starts everything;
// with no mailboxes it starts nothing.
func startPollers(cfg *config.Config, env map[string]string, pipe *ingest.Pipeline, m *imapMetrics, log *slog.Logger) (*pollers, error) {
	ps := &pollers{log: log}
	ps.cron = cron.New(cron.WithChain(cron.Recover(cronLogger{log})), cron.WithLogger(cronLogger{log}))
	for i, mb := range cfg.IMAP.Mailboxes {
		p := ingest.NewIMAPPoller(imapConfig(mb, env, cfg.SMTP.MaxMessageBytes), pipe, log)
		if m != nil {
			m.add(mb.Name)
			p.OnPoll = m.observe
		}
		if _, err := ps.cron.AddFunc(mb.Schedule, p.Kick); err != nil {
			return nil, fmt.Errorf("imap.mailbox[%d].schedule %q: %w", i, mb.Schedule, err)
		}
		if _, err := mb.Password(env); err != nil {
			// Started anyway: the status shows it, and a file may appear.
			log.Warn("IMAP mailbox has no usable password yet", "mailbox", mb.Name, "err", err)
		}
		log.Info("IMAP mailbox configured", "mailbox", mb.String(), "tls", mb.TLS, "schedule", mb.Schedule, "after", mb.After)
		ps.list = append(ps.list, p)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ps.cancel = cancel
	for _, p := range ps.list {
		ps.wg.Add(1)
		go ps.run(ctx, p)
	}
	ps.cron.Start()
	return ps, nil
}

// run keeps one poller going: Run recovers panics inside a poll itself;
// this catches anything else and restarts it.
func (ps *pollers) run(ctx context.Context, p *ingest.IMAPPoller) {
	defer ps.wg.Done()
	for ctx.Err() == nil {
		func() {
			defer func() {
				if r := recover(); r != nil {
					ps.log.Error("IMAP poller crashed; restarting it", "mailbox", p.Name(), "panic", r, "stack", string(debug.Stack()))
				}
			}()
			p.Run(ctx)
		}()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// stop stops the schedule and every poller and waits for them, up to
// grace: a batch being committed finishes (the store must still be open),
// a connection is closed. A poller still busy after grace is left behind:
// what it had not committed is not flagged on the server and is fetched
// again next time. Call it before the store closes.
func (ps *pollers) stop(grace time.Duration) {
	if ps == nil {
		return
	}
	<-ps.cron.Stop().Done()
	ps.cancel()
	done := make(chan struct{})
	go func() {
		ps.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		ps.log.Warn("IMAP pollers still busy at the shutdown deadline; closing without them", "deadline", grace)
		return
	}
	if len(ps.list) > 0 {
		ps.log.Info("IMAP pollers stopped", "mailboxes", len(ps.list))
	}
}

// MailboxStatus implements web.MailboxStatuser.
func (ps *pollers) MailboxStatus() []web.MailboxStatus {
	out := make([]web.MailboxStatus, 0, len(ps.list))
	for _, p := range ps.list {
		st := p.Status()
		var next *time.Time
		if st.State == ingest.IMAPStateRetrying {
			next = web.TimeOrNil(st.NextAttemptAt)
		}
		out = append(out, web.MailboxStatus{
			Name: st.Name, Host: st.Host, Port: st.Port, TLS: st.TLS, Folder: st.Folder, After: st.After,
			State: st.State, Idle: st.Idle,
			LastPollAt: web.TimeOrNil(st.LastPollAt), LastSuccessAt: web.TimeOrNil(st.LastSuccessAt),
			LastError: st.LastError, LastErrorAt: web.TimeOrNil(st.LastErrorAt), ConsecutiveErrors: st.ConsecutiveErrors,
			NextAttemptAt: next,
			Ingested:      st.Ingested, Logged: st.Logged, Unmatched: st.Unmatched, Duplicates: st.Duplicates, Skipped: st.Skipped,
			UIDValidity: st.UIDValidity, LastUID: st.LastUID,
		})
	}
	return out
}

// imapMetrics: poll results per mailbox and outcome, messages stored, and
// when each mailbox last polled.
type imapMetrics struct {
	polls       *prometheus.CounterVec
	messages    *prometheus.CounterVec
	lastPoll    *prometheus.GaugeVec
	lastSuccess *prometheus.GaugeVec
	up          *prometheus.GaugeVec
	now         func() time.Time
}

// imapOutcomes are the values of the outcome label.
var imapOutcomes = []string{"ok", "config", "connect", "tls", "auth", "folder", "server", "store", "internal"}

func newIMAPMetrics(reg *prometheus.Registry) *imapMetrics {
	m := &imapMetrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "touchpoint_imap_polls_total",
			Help: "IMAP polls by mailbox and outcome: ok, or the kind of error (config, connect, tls, auth, folder, server, store, internal).",
		}, []string{"mailbox", "outcome"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "touchpoint_imap_messages_total",
			Help: "Messages fetched over IMAP and durably stored, by mailbox (outcomes are in touchpoint_messages_total{source=\"imap\"}).",
		}, []string{"mailbox"}),
		lastPoll: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "touchpoint_imap_last_poll_timestamp_seconds",
			Help: "When the mailbox's last poll attempt ended (Unix time).",
		}, []string{"mailbox"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "touchpoint_imap_last_success_timestamp_seconds",
			Help: "When the mailbox last polled successfully (Unix time).",
		}, []string{"mailbox"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "touchpoint_imap_up",
			Help: "1 when the mailbox's last poll succeeded, 0 when it failed.",
		}, []string{"mailbox"}),
		now: time.Now,
	}
	reg.MustRegister(m.polls, m.messages, m.lastPoll, m.lastSuccess, m.up)
	return m
}

// add makes a mailbox's series exist from the start (at zero).
func (m *imapMetrics) add(mailbox string) {
	for _, o := range imapOutcomes {
		m.polls.WithLabelValues(mailbox, o)
	}
	m.messages.WithLabelValues(mailbox)
	m.up.WithLabelValues(mailbox)
}

func (m *imapMetrics) observe(mailbox, outcome string, stored int) {
	now := float64(m.now().UnixNano()) / 1e9
	m.polls.WithLabelValues(mailbox, outcome).Inc()
	m.messages.WithLabelValues(mailbox).Add(float64(stored))
	m.lastPoll.WithLabelValues(mailbox).Set(now)
	if outcome == "ok" {
		m.lastSuccess.WithLabelValues(mailbox).Set(now)
		m.up.WithLabelValues(mailbox).Set(1)
	} else {
		m.up.WithLabelValues(mailbox).Set(0)
	}
}

// mailboxTest is `touchpoint mailbox test NAME`: connect, log in, examine
// the folder read-only and report, without fetching or changing anything.
func (c *cli) mailboxTest(ctx context.Context, args []string) error {
	fs, path := c.flags("mailbox test")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"use: touchpoint mailbox test NAME"}
	}
	name := fs.Arg(0)
	cfg, err := c.loadConfig(*path)
	if err != nil {
		return err
	}
	var mb *config.Mailbox
	var names []string
	for i := range cfg.IMAP.Mailboxes {
		names = append(names, cfg.IMAP.Mailboxes[i].Name)
		if cfg.IMAP.Mailboxes[i].Name == name {
			mb = &cfg.IMAP.Mailboxes[i]
		}
	}
	if mb == nil {
		if len(names) == 0 {
			return fmt.Errorf("no mailbox %q: the configuration has no [[imap.mailbox]] entries", name)
		}
		return fmt.Errorf("no mailbox %q in the configuration (configured: %s)", name, strings.Join(names, ", "))
	}
	ic := imapConfig(*mb, c.env, cfg.SMTP.MaxMessageBytes)
	ic.DialTimeout = 15 * time.Second
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	w := c.stdout
	fmt.Fprintf(w, "mailbox %s: %s, tls %s, user %s\n", mb.Name, mb.Addr(), mb.TLS, mb.Username)
	pr, err := ingest.ProbeIMAP(ctx, ic)
	if err != nil {
		return fmt.Errorf("mailbox %s: %w", mb.Name, err)
	}
	if mb.TLS == config.TLSNone {
		fmt.Fprintf(w, "  connected without TLS (tls = none) and logged in\n")
	} else {
		fmt.Fprintf(w, "  connected with %s and logged in\n", pr.TLS)
	}
	fmt.Fprintf(w, "  capabilities: %s\n", strings.Join(pr.Caps, " "))
	if pr.Idle {
		fmt.Fprintf(w, "  IDLE: yes; new mail is logged within seconds (schedule %s as a fallback)\n", mb.Schedule)
	} else {
		fmt.Fprintf(w, "  IDLE: no; polled on the schedule %s\n", mb.Schedule)
	}
	fmt.Fprintf(w, "  folder %s: %d messages, %d unseen, UIDVALIDITY %d, next UID %d\n",
		pr.Folder, pr.Messages, pr.Unseen, pr.UIDValidity, pr.UIDNext)
	switch ic.After {
	case ingest.IMAPAfterSeen:
		fmt.Fprintf(w, "  after storing: mark \\Seen\n")
	case ingest.IMAPAfterDelete:
		fmt.Fprintf(w, "  after storing: delete (\\Deleted, then %s)\n", map[bool]string{true: "UID EXPUNGE", false: "EXPUNGE"}[pr.UIDPlus])
	case ingest.IMAPAfterMove:
		how := "MOVE"
		if !pr.Move {
			how = "COPY, \\Deleted, EXPUNGE (no MOVE on this server)"
		}
		state := "exists"
		if !pr.MoveToExists {
			state = "does not exist yet; it will be created on the first poll"
		}
		fmt.Fprintf(w, "  after storing: move to %s (%s); folder %s %s\n", pr.MoveTo, how, pr.MoveTo, state)
	}
	fmt.Fprintf(w, "OK: nothing was fetched or changed\n")
	return nil
}
