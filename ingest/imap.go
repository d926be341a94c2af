package ingest

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"touchpoint/matcher"
	"touchpoint/store"
)

// IMAP TLS modes (IMAPConfig.TLS); the same words as the configuration's.
const (
	IMAPTLSImplicit = "implicit"
	IMAPTLSStartTLS = "starttls"
	IMAPTLSNone     = "none"
)

// IMAP after-actions (IMAPConfig.After).
const (
	IMAPAfterSeen   = "seen"
	IMAPAfterMove   = "move"
	IMAPAfterDelete = "delete"
)

// IMAPConfig is one mailbox to poll. The zero values of the tuning fields
// take the defaults shown.
type IMAPConfig struct {
	// Name identifies the mailbox: in logs, in the status, and as the key
	// of its cursor in the store.
	Name     string
	Host     string
	Port     int
	TLS      string // IMAPTLSImplicit, IMAPTLSStartTLS or IMAPTLSNone
	Username string
	// Password is called for every connection (so a rotated password file
	// is picked up); the password is never stored or logged.
	Password func() (string, error)
	Folder   string // default INBOX
	After    string // IMAPAfterSeen (default), IMAPAfterMove or IMAPAfterDelete
	MoveTo   string // the destination folder for IMAPAfterMove
	// TLSConfig is the base TLS configuration (nil: system roots); the
	// server name defaults to Host.
	TLSConfig *tls.Config

	// BatchSize is how many messages one store transaction covers
	// (1,000): large transactions share each index page's rewrite among
	// many messages (docs/PERFORMANCE.md, "IMAP ingest").
	BatchSize int
	// MaxBatchBytes ends a batch early once its messages add up to this
	// many bytes (16 MiB), which with at most two batches in flight bounds
	// memory whatever the mailbox holds.
	MaxBatchBytes int64
	// MaxMessageBytes: bigger messages are left in the folder, untouched,
	// and reported (25 MiB).
	MaxMessageBytes int64
	// DialTimeout bounds connecting and the TLS handshake (30 s).
	DialTimeout time.Duration
	// CommandTimeout is how long a command may go without a byte from the
	// server before the connection is closed and the poll fails (2 min).
	// It bounds every command from LOGIN on; IDLE waits on its own bound,
	// IdleRefresh.
	CommandTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before reconnecting after an
	// error; it doubles from one to the other (1 s, 5 min).
	MinBackoff, MaxBackoff time.Duration
	// IdleRefresh ends an IDLE that heard nothing for this long with a poll,
	// which also proves the connection still works (10 min).
	IdleRefresh time.Duration
}

// Addr is host:port.
func (c IMAPConfig) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

func (c IMAPConfig) withDefaults() IMAPConfig {
	if c.Folder == "" {
		c.Folder = "INBOX"
	}
	if c.TLS == "" {
		c.TLS = IMAPTLSImplicit
	}
	if c.After == "" {
		c.After = IMAPAfterSeen
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 1000
	}
	if c.MaxBatchBytes <= 0 {
		c.MaxBatchBytes = 16 << 20
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 25 << 20
	}
	if c.MaxMessageBytes > store.MaxRawBytes {
		c.MaxMessageBytes = store.MaxRawBytes
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 30 * time.Second
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 2 * time.Minute
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(5*time.Minute, c.MinBackoff)
	}
	if c.IdleRefresh <= 0 {
		c.IdleRefresh = 10 * time.Minute
	}
	return c
}

// afterWords describes the after-action for the status and logs.
func (c IMAPConfig) afterWords() string {
	if c.After == IMAPAfterMove {
		return "move:" + c.MoveTo
	}
	return c.After
}

// Poller states (IMAPStatus.State).
const (
	IMAPStateStarting   = "starting"   // not connected yet
	IMAPStateConnecting = "connecting" // dialling, TLS, login, select
	IMAPStatePolling    = "polling"    // fetching and storing
	IMAPStateIdle       = "idle"       // connected, IDLE: new mail is logged within seconds
	IMAPStateWaiting    = "waiting"    // no IDLE: disconnected until the next scheduled poll
	IMAPStateRetrying   = "retrying"   // the last attempt failed; waiting to reconnect
	IMAPStateStopped    = "stopped"
)

// IMAPStatus is a poller's state for admins (API, metrics, CLI). The
// counters are since the daemon started.
type IMAPStatus struct {
	Name, Host string
	Port       int
	TLS        string
	Folder     string
	After      string
	State      string
	// Idle says whether the server offered IDLE on the last connection.
	Idle bool
	// LastPollAt is when the last poll attempt ended, successful or not;
	// LastSuccessAt when one last succeeded.
	LastPollAt, LastSuccessAt time.Time
	// LastError is why the last attempt failed, in words an admin can act
	// on; "" when it succeeded. ConsecutiveErrors counts failures since
	// the last success.
	LastError         string
	LastErrorAt       time.Time
	ConsecutiveErrors int
	// NextAttemptAt is when a failed poller reconnects.
	NextAttemptAt time.Time
	// Ingested counts messages fetched and durably stored (whatever became
	// of them); Logged, Unmatched and Duplicates break it down. Skipped
	// counts messages left in the folder because they are too large.
	Ingested, Logged, Unmatched, Duplicates, Skipped int64
	// UIDValidity and LastUID are the stored cursor as of the last poll.
	UIDValidity, LastUID uint32
}

// IMAPPoller fetches new mail from one IMAP folder into the pipeline and
// then marks it seen, moves or deletes it. Run it in its own goroutine;
// Kick asks for a poll (the scheduler calls it); Status reports.
type IMAPPoller struct {
	cfg  IMAPConfig
	pipe *Pipeline
	log  *slog.Logger
	kick chan struct{}
	now  func() time.Time

	// OnPoll, when set, is told how every poll ended: outcome "ok" or the
	// kind of error ("config", "connect", "tls", "auth", "folder",
	// "server", "store", "internal"), and how many messages it stored.
	OnPoll func(mailbox, outcome string, stored int)

	// afterCommit, in tests, runs after each batch is committed and before
	// its after-action; an error ends the session there (a crash).
	afterCommit func(uids []imap.UID) error
	// onBatch, in tests, sees the size of every batch handed to the store.
	onBatch func(msgs int, bytes int64)

	mu     sync.Mutex
	status IMAPStatus
}

// NewIMAPPoller makes a poller; nothing happens until Run.
func NewIMAPPoller(cfg IMAPConfig, p *Pipeline, log *slog.Logger) *IMAPPoller {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ip := &IMAPPoller{cfg: cfg, pipe: p, log: log.With("mailbox", cfg.Name), kick: make(chan struct{}, 1), now: time.Now}
	ip.status = IMAPStatus{Name: cfg.Name, Host: cfg.Host, Port: cfg.Port, TLS: cfg.TLS, Folder: cfg.Folder,
		After: cfg.afterWords(), State: IMAPStateStarting}
	return ip
}

// Name is the mailbox's name.
func (p *IMAPPoller) Name() string { return p.cfg.Name }

// Kick asks for a poll soon; it never blocks. While IDLE it interrupts the
// IDLE; while waiting to reconnect after an error it reconnects at once.
func (p *IMAPPoller) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Status returns a snapshot of the poller's state.
func (p *IMAPPoller) Status() IMAPStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

func (p *IMAPPoller) update(f func(*IMAPStatus)) {
	p.mu.Lock()
	f(&p.status)
	p.mu.Unlock()
}

func (p *IMAPPoller) setState(s string) { p.update(func(st *IMAPStatus) { st.State = s }) }

// Run polls until ctx ends: a poll at once, then on every IDLE
// notification (when the server offers IDLE) and every Kick. Errors are
// recorded in the status and retried with exponential backoff; a panic is
// recovered, recorded and retried the same way.
func (p *IMAPPoller) Run(ctx context.Context) {
	defer p.setState(IMAPStateStopped)
	backoff := p.cfg.MinBackoff
	for {
		polled, err := p.safeSession(ctx)
		if ctx.Err() != nil {
			return
		}
		if polled {
			backoff = p.cfg.MinBackoff
		}
		if err == nil { // no IDLE: wait for the schedule
			p.setState(IMAPStateWaiting)
			select {
			case <-ctx.Done():
				return
			case <-p.kick:
			}
			continue
		}
		p.update(func(st *IMAPStatus) {
			st.State = IMAPStateRetrying
			st.NextAttemptAt = p.now().Add(backoff)
		})
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-p.kick:
			t.Stop()
		}
		backoff = min(2*backoff, p.cfg.MaxBackoff)
	}
}

// safeSession runs one session, turning a panic into an error. polled
// says whether at least one poll succeeded.
func (p *IMAPPoller) safeSession(ctx context.Context) (polled bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("panic in IMAP poller", "panic", r, "stack", string(debug.Stack()))
			err = &imapFailure{kind: "internal", msg: fmt.Sprintf("internal error: %v (see the log)", r)}
			p.failed(err, 0)
		}
	}()
	return p.session(ctx)
}

// failed records a failed poll attempt.
func (p *IMAPPoller) failed(err error, stored int) {
	kind := failureKind(err)
	now := p.now()
	p.update(func(st *IMAPStatus) {
		st.LastPollAt, st.LastErrorAt = now, now
		st.LastError = err.Error()
		st.ConsecutiveErrors++
	})
	p.log.Warn("IMAP poll failed", "err", err, "kind", kind)
	if p.OnPoll != nil {
		p.OnPoll(p.cfg.Name, kind, stored)
	}
}

// succeeded records a successful poll.
func (p *IMAPPoller) succeeded(stored int) {
	now := p.now()
	p.update(func(st *IMAPStatus) {
		st.LastPollAt, st.LastSuccessAt = now, now
		st.LastError, st.LastErrorAt, st.ConsecutiveErrors, st.NextAttemptAt = "", time.Time{}, 0, time.Time{}
	})
	if p.OnPoll != nil {
		p.OnPoll(p.cfg.Name, "ok", stored)
	}
}

// imapConn is one logged-in connection with its folder selected.
type imapConn struct {
	c    *imapclient.Client
	cfg  IMAPConfig
	caps imap.CapSet
	sel  *imap.SelectData
	// newMail is signalled when the server announces EXISTS.
	newMail chan struct{}
	stop    func() bool // stops the ctx watcher
	tls     string      // how the connection is protected, in words
	dog     *watchdog
}

func (ic *imapConn) close() {
	ic.stop()
	ic.dog.disarm()
	ic.c.Close()
}

// watchdog bounds the commands of one connection. imapclient bounds a
// response once its first byte has arrived but waits for that byte
// forever, so a server that stays connected and stops answering would hold
// the poller in one command for good. While armed, the watchdog closes the
// connection (failing the command) once nothing has been read for the
// timeout; every read restarts the count, so a long FETCH that keeps
// arriving is never cut off. It is disarmed while IDLE waits.
type watchdog struct {
	conn    net.Conn // the TCP connection, under any TLS
	timeout time.Duration
	born    time.Time
	heardAt atomic.Int64 // when something was last read, as time since born

	mu    sync.Mutex
	timer *time.Timer
	doing string // the command armed for; "" when disarmed
	fired string // the command the connection was closed in
}

func newWatchdog(conn net.Conn, timeout time.Duration) *watchdog {
	return &watchdog{conn: conn, timeout: timeout, born: time.Now()}
}

// heard restarts the count: the server sent something, or the poller
// consumed what it had sent.
func (w *watchdog) heard() { w.heardAt.Store(int64(time.Since(w.born))) }

// arm starts the count for a command the server must answer; doing names
// it in the error.
func (w *watchdog) arm(doing string) {
	w.heard()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.doing = doing
	if w.timer == nil {
		w.timer = time.AfterFunc(w.timeout, w.check)
	} else {
		w.timer.Reset(w.timeout)
	}
}

func (w *watchdog) disarm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.doing = ""
	if w.timer != nil {
		w.timer.Stop()
	}
}

func (w *watchdog) check() {
	w.mu.Lock()
	if w.doing == "" || w.fired != "" {
		w.mu.Unlock()
		return
	}
	silent := time.Since(w.born) - time.Duration(w.heardAt.Load())
	if silent < w.timeout {
		w.timer.Reset(w.timeout - silent)
		w.mu.Unlock()
		return
	}
	w.fired = w.doing
	w.mu.Unlock()
	w.conn.Close()
}

// failure is why the watchdog closed the connection, or nil.
func (w *watchdog) failure(addr string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fired == "" {
		return nil
	}
	return &imapFailure{kind: "connect", msg: fmt.Sprintf("the server at %s stopped answering: no reply to %s for %v", addr, w.fired, w.timeout)}
}

// watchedConn tells the watchdog about every read.
type watchedConn struct {
	net.Conn
	dog *watchdog
}

func (c watchedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.dog.heard()
	}
	return n, err
}

// timedOut replaces the error of a command the watchdog cut short.
func (ic *imapConn) timedOut(err error) error {
	if f := ic.dog.failure(ic.cfg.Addr()); f != nil {
		return f
	}
	return err
}

// logout ends the session politely, then closes the connection.
func (ic *imapConn) logout() {
	done := make(chan struct{})
	go func() {
		ic.c.Logout().Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	ic.close()
}

// lost reports whether the connection is gone (server closed it, or
// ctx ended).
func (ic *imapConn) lost() bool {
	// A command fails a moment before the client marks itself closed.
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ic.c.Closed():
		return true
	case <-t.C:
		return false
	}
}

// session connects, selects the folder and polls; with IDLE it stays
// connected and polls on every notification or Kick until an error or ctx
// ends it. Without IDLE it polls once and returns nil.
func (p *IMAPPoller) session(ctx context.Context) (polled bool, err error) {
	p.setState(IMAPStateConnecting)
	ic, err := dialIMAP(ctx, p.cfg, true)
	if err != nil {
		if ctx.Err() != nil {
			return false, nil // stopping: not the mailbox's failure
		}
		p.failed(err, 0)
		return false, err
	}
	defer ic.close()
	idle := ic.caps.Has(imap.CapIdle)
	p.update(func(st *IMAPStatus) { st.Idle = idle })
	p.log.Debug("IMAP connected", "idle", idle, "uidvalidity", ic.sel.UIDValidity, "messages", ic.sel.NumMessages)

	first := true
	for ctx.Err() == nil {
		// Drain before polling: an announcement that arrives during the
		// poll then triggers the next one, never gets lost.
		select {
		case <-ic.newMail:
		default:
		}
		select {
		case <-p.kick:
		default:
		}
		p.setState(IMAPStatePolling)
		if !first {
			// Select again: a folder deleted and recreated meanwhile has
			// a new UIDVALIDITY (a server need not tell an idling session).
			ic.dog.arm("SELECT")
			sel, err := ic.c.Select(p.cfg.Folder, nil).Wait()
			ic.dog.disarm()
			if err != nil {
				err = p.explainLost(ic, folderFailure(p.cfg.Folder, err))
				p.failed(err, 0)
				return polled, err
			}
			ic.sel = sel
		}
		stored, err := p.poll(ctx, ic, first)
		first = false
		if err != nil {
			if ctx.Err() != nil {
				return polled, nil
			}
			err = p.explainLost(ic, err)
			p.failed(err, stored)
			return polled, err
		}
		polled = true
		p.succeeded(stored)
		if !idle {
			ic.logout()
			return true, nil
		}
		p.setState(IMAPStateIdle)
		if err := p.idle(ctx, ic); err != nil {
			if ctx.Err() != nil {
				return polled, nil
			}
			err = p.explainLost(ic, err)
			p.failed(err, 0)
			return polled, err
		}
	}
	return polled, nil
}

// explainLost rewrites the error of a command that failed because the
// connection went away or the server stopped answering.
func (p *IMAPPoller) explainLost(ic *imapConn, err error) error {
	if f := ic.dog.failure(p.cfg.Addr()); f != nil {
		return f
	}
	if k := failureKind(err); k != "server" || !ic.lost() {
		return err
	}
	return &imapFailure{kind: "connect", msg: fmt.Sprintf("connection to %s lost (%v)", p.cfg.Addr(), err), err: err}
}

// idle waits in IDLE until the server announces mail, Kick, IdleRefresh
// passes, the connection drops or ctx ends.
func (p *IMAPPoller) idle(ctx context.Context, ic *imapConn) error {
	ic.dog.arm("IDLE")
	cmd, err := ic.c.Idle()
	ic.dog.disarm()
	if err != nil {
		return serverFailure("IDLE", err)
	}
	t := time.NewTimer(p.cfg.IdleRefresh)
	defer t.Stop()
	select {
	case <-ic.newMail:
	case <-p.kick:
	case <-t.C:
	case <-ctx.Done():
	case <-ic.c.Closed():
	}
	ic.dog.arm("DONE (the end of IDLE)")
	defer ic.dog.disarm()
	if err := cmd.Close(); err != nil {
		return serverFailure("IDLE", err)
	}
	if err := cmd.Wait(); err != nil {
		return serverFailure("IDLE", err)
	}
	return nil
}

// dialIMAP connects, logs in and, when selectFolder, selects the folder
// read-write. Errors are *imapFailure.
func dialIMAP(ctx context.Context, cfg IMAPConfig, selectFolder bool) (*imapConn, error) {
	cfg = cfg.withDefaults()
	if cfg.Password == nil {
		return nil, &imapFailure{kind: "config", msg: "no password configured"}
	}
	pw, err := cfg.Password()
	if err != nil {
		return nil, &imapFailure{kind: "config", msg: err.Error(), err: err}
	}
	addr := cfg.Addr()
	d := net.Dialer{Timeout: cfg.DialTimeout}
	tcp, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, connectFailure(addr, err)
	}
	dog := newWatchdog(tcp, cfg.CommandTimeout)
	raw := watchedConn{Conn: tcp, dog: dog}
	// Closing the connection is how ctx interrupts whatever is in progress.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	fail := func(f error) (*imapConn, error) {
		stop()
		raw.Close()
		return nil, f
	}

	newMail := make(chan struct{}, 1)
	opts := &imapclient.Options{
		TLSConfig: tlsConfigFor(cfg),
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case newMail <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	var c *imapclient.Client
	tlsWords := "no TLS"
	switch cfg.TLS {
	case IMAPTLSImplicit:
		tc := tls.Client(raw, opts.TLSConfig)
		hctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			return fail(tlsFailure(addr, err))
		}
		tlsWords = "implicit TLS, " + tls.VersionName(tc.ConnectionState().Version)
		c = imapclient.New(tc, opts)
	case IMAPTLSStartTLS:
		tlsWords = "STARTTLS"
		raw.SetDeadline(time.Now().Add(cfg.DialTimeout))
		c, err = imapclient.NewStartTLS(raw, opts)
		raw.SetDeadline(time.Time{})
		if err != nil {
			var ie *imap.Error
			if errors.As(err, &ie) {
				return fail(&imapFailure{kind: "tls", msg: fmt.Sprintf("the server at %s does not offer STARTTLS (%s); use tls = \"implicit\" on port 993 or, on a trusted network only, tls = \"none\"", addr, serverText(err)), err: err})
			}
			if isTLSError(err) {
				return fail(tlsFailure(addr, err))
			}
			return fail(greetingFailure(addr, err))
		}
	case IMAPTLSNone:
		c = imapclient.New(raw, opts)
	default:
		return fail(&imapFailure{kind: "config", msg: fmt.Sprintf("unknown TLS mode %q", cfg.TLS)})
	}
	ic := &imapConn{c: c, cfg: cfg, newMail: newMail, stop: stop, tls: tlsWords, dog: dog}
	bad := func(f error) (*imapConn, error) {
		f = ic.timedOut(f)
		ic.close()
		return nil, f
	}
	if err := c.WaitGreeting(); err != nil {
		return bad(greetingFailure(addr, err))
	}
	if c.Caps().Has(imap.CapLoginDisabled) {
		return bad(&imapFailure{kind: "auth", msg: fmt.Sprintf("the server at %s refuses to log in without TLS; set tls = \"starttls\" or \"implicit\"", addr)})
	}
	// The greeting is bounded by imapclient; from LOGIN on the watchdog is.
	dog.arm("LOGIN")
	defer dog.disarm()
	if err := c.Login(cfg.Username, pw).Wait(); err != nil {
		return bad(loginFailure(cfg, err))
	}
	ic.caps = c.Caps()
	if !selectFolder {
		return ic, nil
	}
	dog.arm("SELECT")
	sel, err := c.Select(cfg.Folder, nil).Wait()
	if err != nil {
		return bad(folderFailure(cfg.Folder, err))
	}
	if sel.UIDValidity == 0 {
		return bad(&imapFailure{kind: "server", msg: fmt.Sprintf("the server gave no UIDVALIDITY for folder %s; cannot track what was fetched", cfg.Folder)})
	}
	ic.sel = sel
	return ic, nil
}

func tlsConfigFor(cfg IMAPConfig) *tls.Config {
	var tc *tls.Config
	if cfg.TLSConfig != nil {
		tc = cfg.TLSConfig.Clone()
	} else {
		tc = &tls.Config{}
	}
	if tc.ServerName == "" {
		tc.ServerName = cfg.Host
	}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	return tc
}

// planned is one message to fetch.
type planned struct {
	uid  imap.UID
	size int64
}

// imapBatch is up to BatchSize messages fetched together and committed in one
// transaction with the cursor that covers them.
type imapBatch struct {
	uids   []imap.UID        // fetched, in order
	ins    []*store.Incoming // prepared, parallel to uids
	errs   []error
	bytes  int64
	cursor store.MailboxCursor
	wg     sync.WaitGroup
	start  time.Time
}

// poll fetches and stores everything after the cursor. first marks the
// first poll of a session, which also finishes after-actions a previous
// session left undone (a crash between commit and flagging).
func (p *IMAPPoller) poll(ctx context.Context, ic *imapConn, first bool) (stored int, err error) {
	name := p.cfg.Name
	validity := ic.sel.UIDValidity
	cur, err := p.pipe.Store.MailboxCursor(name)
	if err != nil {
		return 0, storeFailure(err)
	}
	if cur.UIDValidity != validity {
		if cur.UIDValidity != 0 {
			p.log.Warn("UIDVALIDITY changed (folder recreated?); reading the folder again from the start, duplicates are skipped",
				"old", cur.UIDValidity, "new", validity)
		}
		if err := p.pipe.Store.ResetMailbox(ctx, name, validity); err != nil {
			return 0, storeFailure(err)
		}
		cur = store.MailboxCursor{UIDValidity: validity}
	}
	p.update(func(st *IMAPStatus) { st.UIDValidity, st.LastUID = cur.UIDValidity, cur.UID })
	if p.cfg.After == IMAPAfterMove && first {
		if err := ensureFolder(ic, p.cfg.MoveTo); err != nil {
			return 0, err
		}
	}
	if first && cur.UID > 0 {
		if err := p.catchUp(ic, cur.UID); err != nil {
			return 0, err
		}
	}
	if cur.UID == ^uint32(0) {
		return 0, nil
	}
	if next := uint32(ic.sel.UIDNext); next != 0 && next <= cur.UID+1 {
		return 0, nil // nothing new since the folder was selected
	}

	plan, err := p.plan(ic, imap.UID(cur.UID))
	if err != nil {
		return 0, err
	}
	if len(plan) == 0 {
		return 0, nil
	}
	return p.ingest(ctx, ic, plan, cur)
}

// plan lists the UIDs after last with their sizes: UID FETCH last+1:*
// (UID RFC822.SIZE) is one small response per message.
func (p *IMAPPoller) plan(ic *imapConn, last imap.UID) ([]planned, error) {
	var set imap.UIDSet
	set.AddRange(last+1, 0) // last+1:*
	ic.dog.arm("UID FETCH (RFC822.SIZE)")
	defer ic.dog.disarm()
	cmd := ic.c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true})
	var out []planned
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var pl planned
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				pl.uid = it.UID
			case imapclient.FetchItemDataRFC822Size:
				pl.size = it.Size
			}
		}
		// "last+1:*" includes the highest message even when its UID is
		// not above last.
		if pl.uid > last {
			out = append(out, pl)
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, serverFailure("listing new messages (UID FETCH)", err)
	}
	slices.SortFunc(out, func(a, b planned) int { return cmp.Compare(a.uid, b.uid) })
	return out, nil
}

// ingest fetches the planned messages batch by batch. Three stages overlap:
// this goroutine fetches (and applies after-actions to committed batches),
// workers parse and match each message as it arrives, and a committer
// stores each batch with its cursor in one transaction, in order. At most
// two batches of bodies are in memory: the one being fetched and the one
// being committed.
func (p *IMAPPoller) ingest(ctx context.Context, ic *imapConn, plan []planned, cur store.MailboxCursor) (stored int, err error) {
	jobs := make(chan prepJob, 64)
	var workers sync.WaitGroup
	for range max(1, min(runtime.GOMAXPROCS(0), 8)) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for j := range jobs {
				j.run(p.pipe)
			}
		}()
	}
	toCommit := make(chan *imapBatch) // the committer holds at most one
	committed := make(chan commitResult, 1)
	var committer sync.WaitGroup
	committer.Add(1)
	go func() {
		defer committer.Done()
		p.commitLoop(ctx, toCommit, committed)
	}()
	defer func() {
		close(jobs)
		close(toCommit)
		committer.Wait()
		workers.Wait()
	}()

	inflight := 0
	// handle takes one commit result: on success the after-action runs.
	handle := func(r commitResult) error {
		inflight--
		stored += r.stored
		if r.err != nil {
			return r.err
		}
		if p.afterCommit != nil {
			if err := p.afterCommit(r.batch.uids); err != nil {
				return err
			}
		}
		return p.afterAction(ic, r.batch.uids)
	}
	fail := func(err error) (int, error) {
		// Wait for batches already handed over: they commit (or not)
		// whatever happens here, and must be counted.
		for inflight > 0 {
			r := <-committed
			inflight--
			stored += r.stored
		}
		return stored, err
	}
	for len(plan) > 0 {
		var b *imapBatch
		b, plan = p.nextBatch(plan, cur.UIDValidity)
		if err := p.fetch(ic, b, jobs); err != nil {
			return fail(err)
		}
		for handed := false; !handed; {
			select {
			case toCommit <- b:
				handed = true
				inflight++
			case r := <-committed:
				if err := handle(r); err != nil {
					return fail(err)
				}
			case <-ctx.Done():
				return fail(ctx.Err())
			}
		}
	}
	for inflight > 0 {
		if err := handle(<-committed); err != nil {
			return fail(err)
		}
	}
	return stored, nil
}

// nextBatch takes the next batch off the plan: up to BatchSize messages
// and MaxBatchBytes (always at least one message). Messages over
// MaxMessageBytes are skipped (left in the folder) but covered by the
// cursor, so they are reported once, not on every poll.
func (p *IMAPPoller) nextBatch(plan []planned, validity uint32) (*imapBatch, []planned) {
	b := &imapBatch{start: time.Now()}
	i := 0
	for ; i < len(plan) && len(b.uids) < p.cfg.BatchSize; i++ {
		m := plan[i]
		if m.size > p.cfg.MaxMessageBytes {
			p.log.Warn("message too large to fetch; left in the folder", "uid", m.uid, "bytes", m.size, "max", p.cfg.MaxMessageBytes)
			p.update(func(st *IMAPStatus) { st.Skipped++ })
			continue
		}
		if len(b.uids) > 0 && b.bytes+m.size > p.cfg.MaxBatchBytes {
			break
		}
		b.uids = append(b.uids, m.uid)
		b.bytes += m.size
	}
	b.cursor = store.MailboxCursor{UIDValidity: validity, UID: uint32(plan[i-1].uid)}
	return b, plan[i:]
}

// fetch streams the batch's bodies (BODY.PEEK[]: nothing is marked seen)
// and hands each to the workers as it arrives. A message the server no
// longer has (expunged meanwhile) is simply absent.
func (p *IMAPPoller) fetch(ic *imapConn, b *imapBatch, jobs chan<- prepJob) error {
	want := b.uids
	b.uids, b.ins, b.errs = make([]imap.UID, 0, len(want)), make([]*store.Incoming, len(want)), make([]error, len(want))
	if len(want) == 0 {
		return nil
	}
	if p.onBatch != nil {
		p.onBatch(len(want), b.bytes)
	}
	set := imap.UIDSetNum(want...)
	body := &imap.FetchItemBodySection{Peek: true}
	ic.dog.arm("UID FETCH (BODY.PEEK[])")
	defer ic.dog.disarm()
	cmd := ic.c.Fetch(set, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{body}})
	var readErr error
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		var uid imap.UID
		var raw []byte
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch it := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = it.UID
			case imapclient.FetchItemDataBodySection:
				if readErr != nil {
					continue
				}
				if it.Literal == nil { // NIL: kept as an unparseable message
					raw = []byte{}
					continue
				}
				size := it.Literal.Size()
				if size > p.cfg.MaxMessageBytes {
					readErr = &imapFailure{kind: "server", msg: fmt.Sprintf("message UID %d is %d bytes, more than the %d announced", uid, size, p.cfg.MaxMessageBytes)}
					continue
				}
				raw = make([]byte, size)
				if _, err := io.ReadFull(it.Literal, raw); err != nil {
					// The connection failed mid-message (the watchdog, or
					// the server). go-imap's reader has gone on decoding
					// since the error: reading this literal again (which
					// msg.Next and cmd.Close do) races with it. Leave the
					// command as it is; the caller drops the connection.
					b.wg.Wait()
					return serverFailure("fetching messages", err)
				}
			}
		}
		if raw == nil || uid == 0 || len(b.uids) == len(want) {
			continue
		}
		i := len(b.uids)
		b.uids = append(b.uids, uid)
		b.wg.Add(1)
		jobs <- prepJob{b: b, i: i, raw: raw}
		// Busy workers hold up reading, not the server.
		ic.dog.heard()
	}
	err := cmd.Close()
	if readErr != nil {
		err = readErr
	}
	if err != nil {
		b.wg.Wait()
		return serverFailure("fetching messages", err)
	}
	return nil
}

// prepJob is one message for a worker to parse and match.
type prepJob struct {
	b   *imapBatch
	i   int
	raw []byte
}

func (j prepJob) run(p *Pipeline) {
	defer j.b.wg.Done()
	defer func() {
		if r := recover(); r != nil {
			p.logger().Error("panic preparing a message", "panic", r, "stack", string(debug.Stack()))
			j.b.errs[j.i] = fmt.Errorf("internal error preparing a message: %v", r)
		}
	}()
	j.b.ins[j.i], j.b.errs[j.i] = p.Prepare(j.raw, matcher.Delivery{Source: store.SourceIMAP})
}

type commitResult struct {
	batch  *imapBatch
	stored int
	err    error
}

// commitLoop stores batches in order, each with its cursor in one
// transaction.
func (p *IMAPPoller) commitLoop(ctx context.Context, in <-chan *imapBatch, out chan<- commitResult) {
	for b := range in {
		n, err := p.commit(ctx, b)
		out <- commitResult{b, n, err}
	}
}

func (p *IMAPPoller) commit(ctx context.Context, b *imapBatch) (stored int, err error) {
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("panic storing a batch", "panic", r, "stack", string(debug.Stack()))
			stored, err = 0, &imapFailure{kind: "internal", msg: fmt.Sprintf("internal error storing messages: %v (see the log)", r)}
		}
		if err != nil { // the batch is not stored; it is fetched again
			for range b.uids {
				p.pipe.observe(store.SourceIMAP, StatusFailed, b.start)
			}
		}
	}()
	b.wg.Wait()
	b.ins, b.errs = b.ins[:len(b.uids)], b.errs[:len(b.uids)]
	for _, err := range b.errs {
		if err != nil {
			return 0, storeFailure(err)
		}
	}
	res, err := p.pipe.Store.IngestBatch(ctx, b.ins, p.cfg.Name, b.cursor)
	if err != nil {
		return 0, storeFailure(err)
	}
	debug := p.log.Enabled(ctx, slog.LevelDebug)
	var logged, unmatched, dups int64
	for i, r := range res {
		switch r.Status {
		case store.IngestLogged:
			logged++
		case store.IngestUnmatched:
			unmatched++
		case store.IngestDuplicate:
			dups++
		}
		p.pipe.observe(store.SourceIMAP, r.Status, b.start)
		if !debug {
			continue
		}
		in := b.ins[i]
		p.log.Debug("message ingested", "uid", b.uids[i], "status", r.Status, "reason", in.Reason,
			"msgid", in.Interaction.Email.MessageID, "interaction", r.InteractionID, "unmatched", r.UnmatchedID)
	}
	p.update(func(st *IMAPStatus) {
		st.Ingested += int64(len(res))
		st.Logged += logged
		st.Unmatched += unmatched
		st.Duplicates += dups
		st.UIDValidity, st.LastUID = b.cursor.UIDValidity, b.cursor.UID
	})
	b.ins, b.errs = nil, nil // let the bodies go
	return len(res), nil
}

// afterAction marks seen, moves or deletes messages that are durably
// stored.
func (p *IMAPPoller) afterAction(ic *imapConn, uids []imap.UID) error {
	if len(uids) == 0 {
		return nil
	}
	set := imap.UIDSetNum(uids...)
	defer ic.dog.disarm()
	switch p.cfg.After {
	case IMAPAfterSeen:
		if err := addFlag(ic, set, imap.FlagSeen); err != nil {
			return serverFailure("marking messages seen", err)
		}
	case IMAPAfterDelete:
		if err := addFlag(ic, set, imap.FlagDeleted); err != nil {
			return serverFailure("deleting messages", err)
		}
		if err := expunge(ic, set); err != nil {
			return serverFailure("deleting messages (EXPUNGE)", err)
		}
	case IMAPAfterMove:
		if ic.caps.Has(imap.CapMove) {
			ic.dog.arm("UID MOVE")
			if _, err := ic.c.Move(set, p.cfg.MoveTo).Wait(); err != nil {
				return moveFailure(p.cfg.MoveTo, err)
			}
			return nil
		}
		// No MOVE: copy, and only once the copy succeeded flag and
		// expunge (imapclient's own fallback pipelines all three, which
		// would delete messages whose copy failed).
		ic.dog.arm("UID COPY")
		if _, err := ic.c.Copy(set, p.cfg.MoveTo).Wait(); err != nil {
			return moveFailure(p.cfg.MoveTo, err)
		}
		if err := addFlag(ic, set, imap.FlagDeleted); err != nil {
			return serverFailure("moving messages (STORE \\Deleted)", err)
		}
		if err := expunge(ic, set); err != nil {
			return serverFailure("moving messages (EXPUNGE)", err)
		}
	}
	return nil
}

// addFlag and expunge arm the watchdog; their caller disarms it.
func addFlag(ic *imapConn, set imap.UIDSet, flag imap.Flag) error {
	ic.dog.arm("UID STORE")
	return ic.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{flag}}, nil).Close()
}

// expunge removes the set's \Deleted messages: UID EXPUNGE where offered,
// else EXPUNGE (which also removes other messages flagged \Deleted).
func expunge(ic *imapConn, set imap.UIDSet) error {
	if ic.caps.Has(imap.CapUIDPlus) {
		ic.dog.arm("UID EXPUNGE")
		return ic.c.UIDExpunge(set).Close()
	}
	ic.dog.arm("EXPUNGE")
	return ic.c.Expunge().Close()
}

// catchUp applies the after-action to messages up to the cursor that are
// still waiting for it: everything up to the cursor is stored, so this only
// finishes what a crash (or a failed command) interrupted. Messages too
// large to fetch are left alone.
func (p *IMAPPoller) catchUp(ic *imapConn, last uint32) error {
	var set imap.UIDSet
	set.AddRange(1, imap.UID(last))
	crit := &imap.SearchCriteria{UID: []imap.UIDSet{set}, Smaller: p.cfg.MaxMessageBytes + 1}
	if p.cfg.After == IMAPAfterSeen {
		crit.NotFlag = []imap.Flag{imap.FlagSeen}
	}
	ic.dog.arm("UID SEARCH")
	data, err := ic.c.UIDSearch(crit, nil).Wait()
	ic.dog.disarm()
	if err != nil {
		return serverFailure("looking for messages stored but not yet "+p.cfg.afterWords(), err)
	}
	uids := data.AllUIDs()
	if len(uids) == 0 {
		return nil
	}
	p.log.Info("finishing the after-action of messages already stored", "after", p.cfg.afterWords(), "messages", len(uids))
	for chunk := range slices.Chunk(uids, p.cfg.BatchSize) {
		if err := p.afterAction(ic, chunk); err != nil {
			return err
		}
	}
	return nil
}

// ensureFolder creates the move target when it does not exist.
func ensureFolder(ic *imapConn, name string) error {
	c := ic.c
	defer ic.dog.disarm()
	ic.dog.arm("LIST")
	l, err := c.List("", name, nil).Collect()
	if err != nil {
		return serverFailure("looking for folder "+name, err)
	}
	for _, d := range l {
		if d.Mailbox == name || (strings.EqualFold(name, "INBOX") && strings.EqualFold(d.Mailbox, "INBOX")) {
			return nil
		}
	}
	ic.dog.arm("CREATE")
	if err := c.Create(name, nil).Wait(); err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists {
			return nil
		}
		return &imapFailure{kind: "folder", msg: fmt.Sprintf("cannot create folder %s to move messages to: %s", name, serverText(err)), err: err}
	}
	ic.dog.arm("SUBSCRIBE")
	c.Subscribe(name).Wait() // so mail clients show it; not worth failing over
	return nil
}

// IMAPProbe is what ProbeIMAP found.
type IMAPProbe struct {
	Addr        string
	TLS         string // "implicit TLS, TLS 1.3", "STARTTLS" or "no TLS"
	Caps        []string
	Idle, Move  bool
	UIDPlus     bool
	Folder      string
	Messages    uint32
	Unseen      uint32
	UIDValidity uint32
	UIDNext     uint32
	// MoveTo is the move target and whether it exists (after = move).
	MoveTo       string
	MoveToExists bool
}

// ProbeIMAP connects, logs in and examines the folder (read-only, nothing
// changes) without fetching anything. Errors are in the poller's words.
func ProbeIMAP(ctx context.Context, cfg IMAPConfig) (*IMAPProbe, error) {
	cfg = cfg.withDefaults()
	ic, err := dialIMAP(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	defer ic.logout()
	pr := &IMAPProbe{Addr: cfg.Addr(), TLS: ic.tls, Folder: cfg.Folder}
	for c := range ic.caps {
		pr.Caps = append(pr.Caps, string(c))
	}
	slices.Sort(pr.Caps)
	pr.Idle, pr.Move, pr.UIDPlus = ic.caps.Has(imap.CapIdle), ic.caps.Has(imap.CapMove), ic.caps.Has(imap.CapUIDPlus)
	// STATUS for the counts, then EXAMINE (a read-only SELECT) to prove the
	// folder can be opened.
	defer ic.dog.disarm()
	ic.dog.arm("STATUS")
	st, err := ic.c.Status(cfg.Folder, &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true, UIDValidity: true}).Wait()
	if err != nil {
		return nil, ic.timedOut(folderFailure(cfg.Folder, err))
	}
	if st.NumUnseen != nil {
		pr.Unseen = *st.NumUnseen
	}
	ic.dog.arm("EXAMINE")
	sel, err := ic.c.Select(cfg.Folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, ic.timedOut(folderFailure(cfg.Folder, err))
	}
	pr.Messages, pr.UIDValidity, pr.UIDNext = sel.NumMessages, sel.UIDValidity, uint32(sel.UIDNext)
	if cfg.After == IMAPAfterMove {
		pr.MoveTo = cfg.MoveTo
		ic.dog.arm("LIST")
		l, err := ic.c.List("", cfg.MoveTo, nil).Collect()
		if err != nil {
			return nil, ic.timedOut(serverFailure("looking for folder "+cfg.MoveTo, err))
		}
		pr.MoveToExists = len(l) > 0
	}
	return pr, nil
}

// imapFailure is a poll error in words an admin can act on; kind labels it
// for metrics.
type imapFailure struct {
	kind string
	msg  string
	err  error
}

func (e *imapFailure) Error() string { return e.msg }
func (e *imapFailure) Unwrap() error { return e.err }

// failureKind is the metrics label of an error from the poller.
func failureKind(err error) string {
	var f *imapFailure
	if errors.As(err, &f) {
		return f.kind
	}
	return "server"
}

func connectFailure(addr string, err error) error {
	why := err.Error()
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		why = "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		why = "host unreachable"
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		why = "no such host"
	case errors.As(err, &ne) && ne.Timeout():
		why = "timed out"
	case errors.Is(err, context.Canceled):
		why = "cancelled"
	}
	return &imapFailure{kind: "connect", msg: fmt.Sprintf("cannot connect to %s: %s", addr, why), err: err}
}

func greetingFailure(addr string, err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || strings.Contains(err.Error(), "timeout") {
		return &imapFailure{kind: "connect", msg: fmt.Sprintf("connected to %s but no IMAP server answered in time", addr), err: err}
	}
	return &imapFailure{kind: "connect", msg: fmt.Sprintf("connected to %s but it did not greet like an IMAP server: %v", addr, err), err: err}
}

func isTLSError(err error) bool {
	var rh tls.RecordHeaderError
	var ae tls.AlertError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var ve *tls.CertificateVerificationError
	return errors.As(err, &rh) || errors.As(err, &ae) || errors.As(err, &ua) || errors.As(err, &he) ||
		errors.As(err, &ci) || errors.As(err, &ve) || strings.HasPrefix(err.Error(), "tls: ")
}

func tlsFailure(addr string, err error) error {
	var rh tls.RecordHeaderError
	var ne net.Error
	var ve *tls.CertificateVerificationError
	why := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "tls: "), "x509: ")
	switch {
	case errors.As(err, &ve):
		why = strings.TrimPrefix(ve.Err.Error(), "x509: ")
	case errors.As(err, &rh):
		why = fmt.Sprintf("%s does not speak TLS on this port (is it a plain or STARTTLS port? then set tls = \"starttls\")", addr)
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		why = "the server closed the connection"
	case errors.As(err, &ne) && ne.Timeout():
		why = "timed out"
	}
	return &imapFailure{kind: "tls", msg: "TLS handshake failed: " + why, err: err}
}

func loginFailure(cfg IMAPConfig, err error) error {
	var ie *imap.Error
	if !errors.As(err, &ie) {
		return &imapFailure{kind: "connect", msg: fmt.Sprintf("login to %s failed: %v", cfg.Addr(), err), err: err}
	}
	switch ie.Code {
	case imap.ResponseCodeUnavailable:
		return &imapFailure{kind: "auth", msg: fmt.Sprintf("the server cannot check passwords right now (server said: %s)", ie.Text), err: err}
	case imap.ResponseCodePrivacyRequired:
		return &imapFailure{kind: "auth", msg: "the server refuses to log in without TLS; set tls = \"starttls\" or \"implicit\"", err: err}
	case imap.ResponseCodeExpired:
		return &imapFailure{kind: "auth", msg: fmt.Sprintf("the password of %s has expired", cfg.Username), err: err}
	}
	if ie.Type == imap.StatusResponseTypeBad && strings.Contains(strings.ToLower(ie.Text), "plaintext") {
		return &imapFailure{kind: "auth", msg: "the server refuses to log in without TLS; set tls = \"starttls\" or \"implicit\"", err: err}
	}
	return &imapFailure{kind: "auth", msg: fmt.Sprintf("wrong username or password (user %s)", cfg.Username), err: err}
}

func folderFailure(folder string, err error) error {
	var ie *imap.Error
	if errors.As(err, &ie) {
		switch ie.Code {
		case imap.ResponseCodeNonExistent, "":
			return &imapFailure{kind: "folder", msg: fmt.Sprintf("folder %s does not exist", folder), err: err}
		case imap.ResponseCodeNoPerm:
			return &imapFailure{kind: "folder", msg: fmt.Sprintf("no permission to open folder %s", folder), err: err}
		}
		return &imapFailure{kind: "folder", msg: fmt.Sprintf("cannot open folder %s: %s", folder, ie.Text), err: err}
	}
	return serverFailure("opening folder "+folder, err)
}

func moveFailure(folder string, err error) error {
	return &imapFailure{kind: "server", msg: fmt.Sprintf("cannot move messages to folder %s: %s", folder, serverText(err)), err: err}
}

func serverFailure(doing string, err error) error {
	var f *imapFailure
	if errors.As(err, &f) {
		return err
	}
	return &imapFailure{kind: "server", msg: fmt.Sprintf("%s: %s", doing, serverText(err)), err: err}
}

func storeFailure(err error) error {
	return &imapFailure{kind: "store", msg: "storing messages failed (they will be fetched again): " + err.Error(), err: err}
}

// serverText is an IMAP error's text without the library's prefix.
func serverText(err error) string {
	var ie *imap.Error
	if errors.As(err, &ie) {
		if ie.Text != "" {
			return "server said: " + ie.Text
		}
		return "server said " + string(ie.Type)
	}
	return err.Error()
}
