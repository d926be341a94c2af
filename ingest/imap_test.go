package ingest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"touchpoint/matcher"
	"touchpoint/store"
)

// IMAP tests run the poller against go-imap's in-memory server on a
// loopback socket and a real store (imap_dovecot_test.go does the same
// against a real Dovecot).

const (
	memUser = "log@org.org"
	memPass = "s3cret-imap-password"
)

// ingestEnv is a real store and pipeline with a staff member (Sarah) and a
// contact (Yossi): mail from Sarah to Yossi is logged.
type ingestEnv struct {
	t     testing.TB
	s     *store.Store
	pipe  *Pipeline
	dir   string
	sarah *store.User
	yossi *store.Contact
}

func newIngestEnv(t testing.TB) *ingestEnv {
	t.Helper()
	e := &ingestEnv{t: t, dir: t.TempDir()}
	e.open()
	ctx := context.Background()
	e.sarah = &store.User{Name: "Sarah Cohen", Emails: []string{"sarah@org.org"}}
	if err := e.s.CreateUser(ctx, e.sarah, "password123"); err != nil {
		t.Fatal(err)
	}
	e.yossi = &store.Contact{Name: "Yossi Levi", Emails: []string{"yossi@example.com"}}
	if err := e.s.CreateContact(ctx, e.yossi); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if e.s == nil {
			return
		}
		if err := e.s.Check(); err != nil {
			t.Errorf("store Check: %v", err)
		}
		e.s.Close()
	})
	return e
}

// open (re)opens the store, as a restarted daemon would.
func (e *ingestEnv) open() {
	e.t.Helper()
	st, err := store.Open(filepath.Join(e.dir, "t.db"), store.Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		e.t.Fatal(err)
	}
	e.s = st
	e.pipe = &Pipeline{Store: st, Limits: DefaultLimits(), Matcher: matcher.Config{
		SystemAddress: "log@org.org", InternalDomains: []string{"org.org"}, FreemailDomains: []string{"gmail.com"},
	}}
}

func (e *ingestEnv) reopen() {
	e.t.Helper()
	if err := e.s.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

func (e *ingestEnv) interactions() int {
	e.t.Helper()
	n, err := e.s.CountInteractions()
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func (e *ingestEnv) cursor(name string) store.MailboxCursor {
	e.t.Helper()
	c, err := e.s.MailboxCursor(name)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// loggedMail is a message from Sarah to Yossi: it is logged.
func loggedMail(i int) []byte {
	return fmt.Appendf(nil, "From: Sarah Cohen <sarah@org.org>\r\nTo: Yossi Levi <yossi@example.com>\r\n"+
		"Subject: Visit number %d\r\nDate: Tue, 05 May 2026 10:00:00 +0000\r\nMessage-ID: <imap-%d@org.org>\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\nSee you on day %d.\r\n", i, i, i)
}

func mails(from, to int) [][]byte {
	var out [][]byte
	for i := from; i <= to; i++ {
		out = append(out, loggedMail(i))
	}
	return out
}

// runPoller runs p until the test ends (or stop is called) and returns
// stop, which cancels and waits for Run to return.
func runPoller(t testing.TB, p *IMAPPoller) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("poller %s did not stop within 10 s", p.Name())
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitIngested(t testing.TB, p *IMAPPoller, n int64) {
	t.Helper()
	waitFor(t, 15*time.Second, fmt.Sprintf("%s to ingest %d messages", p.Name(), n), func() bool {
		st := p.Status()
		return st.Ingested >= n && st.State != IMAPStatePolling
	})
}

// memServer is an imapmemserver on loopback.
type memServer struct {
	t    testing.TB
	mem  *imapmemserver.Server
	user *imapmemserver.User
	srv  *imapserver.Server
	addr string
	opts imapserver.Options
	tls  *tls.Config // implicit TLS when set
	// noIdle hides IDLE, which imapserver always announces.
	noIdle bool
	// stallAt, when set, is what a client sends after which the server
	// stops answering (it reads on and stays connected); with drip set it
	// answers instead, a few bytes at a time, drip apart.
	stallAt string
	drip    time.Duration
	// cut, when set with stallAt, lets that many bytes of the answer
	// through before the silence (a connection lost mid-message).
	cut int
}

var (
	capsRev2 = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
	// rev1 has no IDLE, MOVE or UIDPLUS: the fallbacks.
	capsRev1 = imap.CapSet{imap.CapIMAP4rev1: {}}
)

func newMemServer(t testing.TB, caps imap.CapSet, folders ...string) *memServer {
	t.Helper()
	m := &memServer{t: t, mem: imapmemserver.New()}
	m.user = imapmemserver.NewUser(memUser, memPass)
	for _, f := range append([]string{"INBOX"}, folders...) {
		if err := m.user.Create(f, nil); err != nil {
			t.Fatal(err)
		}
	}
	m.mem.AddUser(m.user)
	m.opts = imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return m.mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	}
	return m
}

// start listens on addr ("" for a fresh port).
func (m *memServer) start(addr string) {
	m.t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for range 100 { // the previous listener on this port may linger a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		m.t.Fatal(err)
	}
	m.addr = ln.Addr().String()
	if m.noIdle {
		ln = noIdleListener{ln}
	}
	if m.tls != nil {
		ln = tls.NewListener(ln, m.tls)
	}
	if m.stallAt != "" {
		ln = &stallListener{ln, []byte(m.stallAt), m.drip, m.cut}
	}
	m.srv = imapserver.New(&m.opts)
	go m.srv.Serve(ln)
	srv := m.srv
	m.t.Cleanup(func() { srv.Close() })
}

type noIdleListener struct{ net.Listener }

func (l noIdleListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return noIdleConn{c}, err
}

// noIdleConn drops IDLE from what the server says (the test messages never
// contain the word).
type noIdleConn struct{ net.Conn }

func (c noIdleConn) Write(p []byte) (int, error) {
	if _, err := c.Conn.Write(bytes.ReplaceAll(p, []byte(" IDLE"), nil)); err != nil {
		return 0, err
	}
	return len(p), nil
}

type stallListener struct {
	net.Listener
	trigger []byte
	drip    time.Duration
	cut     int
}

func (l *stallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &stallConn{Conn: c, trigger: l.trigger, drip: l.drip, cut: l.cut}, nil
}

// stallConn stops answering once the client sends trigger (each command
// arrives in one read in these tests), or with drip answers slowly.
type stallConn struct {
	net.Conn
	trigger []byte
	drip    time.Duration
	cut     int // bytes still let through once stalled (without drip)
	stalled atomic.Bool
	mu      sync.Mutex
}

func (c *stallConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if bytes.Contains(p[:n], c.trigger) {
		c.stalled.Store(true)
	}
	return n, err
}

func (c *stallConn) Write(p []byte) (int, error) {
	if !c.stalled.Load() {
		return c.Conn.Write(p)
	}
	if c.drip == 0 {
		c.mu.Lock()
		n := min(c.cut, len(p))
		c.cut -= n
		c.mu.Unlock()
		if n > 0 {
			if _, err := c.Conn.Write(p[:n]); err != nil {
				return 0, err
			}
		}
		return len(p), nil // the rest heard by nobody
	}
	for chunk := range slices.Chunk(p, 16) {
		time.Sleep(c.drip)
		if _, err := c.Conn.Write(chunk); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (m *memServer) host() (string, int) {
	h, p, _ := net.SplitHostPort(m.addr)
	n, _ := strconv.Atoi(p)
	return h, n
}

func (m *memServer) config(name string) IMAPConfig {
	h, p := m.host()
	tlsMode := IMAPTLSNone
	if m.tls != nil {
		tlsMode = IMAPTLSImplicit
	}
	return IMAPConfig{Name: name, Host: h, Port: p, TLS: tlsMode, Username: memUser,
		Password:   func() (string, error) { return memPass, nil },
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, DialTimeout: 5 * time.Second}
}

func (m *memServer) append(folder string, raws ...[]byte) {
	m.t.Helper()
	for _, raw := range raws {
		if _, err := m.user.Append(folder, bytes.NewReader(raw), &imap.AppendOptions{}); err != nil {
			m.t.Fatal(err)
		}
	}
}

// dialTestClient logs a plain go-imap client in (to look at what the
// poller left behind).
func dialTestClient(t testing.TB, addr, user, pass string, tc *tls.Config) *imapclient.Client {
	t.Helper()
	var c *imapclient.Client
	var err error
	if tc != nil {
		c, err = imapclient.DialTLS(addr, &imapclient.Options{TLSConfig: tc})
	} else {
		c, err = imapclient.DialInsecure(addr, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

// folderFlags lists a folder's messages: UID → flags.
func folderFlags(t testing.TB, c *imapclient.Client, folder string) map[imap.UID][]imap.Flag {
	t.Helper()
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("examine %s: %v", folder, err)
	}
	out := map[imap.UID][]imap.Flag{}
	if sel.NumMessages == 0 {
		return out
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	bufs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatalf("fetch flags in %s: %v", folder, err)
	}
	for _, b := range bufs {
		out[b.UID] = b.Flags
	}
	return out
}

func (m *memServer) flags(folder string) map[imap.UID][]imap.Flag {
	m.t.Helper()
	return folderFlags(m.t, dialTestClient(m.t, m.addr, memUser, memPass, m.clientTLS()), folder)
}

func (m *memServer) clientTLS() *tls.Config {
	if m.tls == nil {
		return nil
	}
	return &tls.Config{InsecureSkipVerify: true}
}

func allSeen(fl map[imap.UID][]imap.Flag) bool {
	for _, f := range fl {
		if !slices.Contains(f, imap.FlagSeen) {
			return false
		}
	}
	return true
}

func TestIMAPLogsNewMailOnceAndMarksItSeen(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	m := newMemServer(t, capsRev2)
	m.start("")
	m.append("INBOX", loggedMail(1), loggedMail(2), loggedMail(3))
	p := NewIMAPPoller(m.config("office"), e.pipe, nil)
	var outcomes []string
	var mu sync.Mutex
	p.OnPoll = func(name, outcome string, stored int) {
		mu.Lock()
		outcomes = append(outcomes, fmt.Sprintf("%s:%s:%d", name, outcome, stored))
		mu.Unlock()
	}
	runPoller(t, p)
	waitIngested(t, p, 3)
	waitFor(t, 5*time.Second, "IDLE", func() bool { return p.Status().State == IMAPStateIdle })

	items, _, err := e.s.Timeline(e.yossi.ID, 10, "")
	if err != nil || len(items) != 3 {
		t.Fatalf("timeline = %d items, %v; want 3", len(items), err)
	}
	for _, ia := range items {
		if ia.Source != store.SourceIMAP || ia.Email == nil || !strings.HasPrefix(ia.Title, "Visit number") {
			t.Errorf("interaction = %+v", ia)
		}
	}
	if fl := m.flags("INBOX"); len(fl) != 3 || !allSeen(fl) {
		t.Errorf("INBOX flags = %v, want 3 messages, all \\Seen", fl)
	}
	st := p.Status()
	if c := e.cursor("office"); c.UID != 3 || c.UIDValidity == 0 || st.LastUID != 3 || st.UIDValidity != c.UIDValidity {
		t.Errorf("cursor = %+v, status cursor %d/%d", c, st.UIDValidity, st.LastUID)
	}
	if st.Logged != 3 || st.Duplicates != 0 || st.LastError != "" || st.LastPollAt.IsZero() || !st.Idle {
		t.Errorf("status = %+v", st)
	}

	// New mail arrives while the poller idles: logged within seconds,
	// without a Kick.
	start := time.Now()
	m.append("INBOX", loggedMail(4))
	waitIngested(t, p, 4)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("IDLE took %v to log new mail", d)
	}
	// A scheduled poll with nothing new changes nothing.
	p.Kick()
	waitFor(t, 5*time.Second, "a second poll", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(outcomes) >= 3
	})
	waitFor(t, 5*time.Second, "IDLE again", func() bool { return p.Status().State == IMAPStateIdle })
	if n := e.interactions(); n != 4 {
		t.Errorf("%d interactions, want 4", n)
	}
	mu.Lock()
	if outcomes[0] != "office:ok:3" || outcomes[1] != "office:ok:1" || outcomes[2] != "office:ok:0" {
		t.Errorf("OnPoll saw %v", outcomes)
	}
	mu.Unlock()
}

// afterActionCase is one after-action for testAfterActions.
type afterActionCase struct {
	name   string
	after  string
	moveTo string
	caps   imap.CapSet // what the in-memory server announces (Dovecot has its own)
}

// testMailbox is a fresh mailbox on a test server.
type testMailbox struct {
	cfg IMAPConfig         // the poller's, for its INBOX
	c   *imapclient.Client // logged in, to look at the folders
	add func(raws ...[]byte)
}

// testAfterActions checks each after-action against mailboxes from
// newMailbox (the in-memory server or Dovecot): three messages are logged,
// then marked seen, moved or deleted; a fourth that arrives later (the move
// target exists by then) is treated the same.
func testAfterActions(t *testing.T, cases []afterActionCase, newMailbox func(t *testing.T, tc afterActionCase) testMailbox) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newIngestEnv(t)
			mb := newMailbox(t, tc)
			mb.add(mails(1, 3)...)
			cfg := mb.cfg
			cfg.After, cfg.MoveTo = tc.after, tc.moveTo
			p := NewIMAPPoller(cfg, e.pipe, nil)
			runPoller(t, p)
			check := func(n int) {
				t.Helper()
				waitIngested(t, p, int64(n))
				if st := p.Status(); st.LastError != "" || st.Logged != int64(n) {
					t.Fatalf("status = %+v, want %d logged", st, n)
				}
				inbox := folderFlags(t, mb.c, "INBOX")
				switch tc.after {
				case IMAPAfterSeen:
					if len(inbox) != n || !allSeen(inbox) {
						t.Errorf("INBOX = %v, want %d seen", inbox, n)
					}
				case IMAPAfterMove:
					if moved := folderFlags(t, mb.c, tc.moveTo); len(inbox) != 0 || len(moved) != n {
						t.Errorf("INBOX = %v, %s = %v; want 0 and %d", inbox, tc.moveTo, moved, n)
					}
				case IMAPAfterDelete:
					if len(inbox) != 0 {
						t.Errorf("INBOX = %v, want empty", inbox)
					}
				}
				if got := e.interactions(); got != n {
					t.Errorf("%d interactions, want %d", got, n)
				}
			}
			check(3)
			mb.add(loggedMail(4))
			check(4)
		})
	}
}

func TestIMAPAfterActions(t *testing.T) {
	t.Parallel()
	testAfterActions(t, []afterActionCase{
		{"seen", IMAPAfterSeen, "", capsRev2},
		{"move", IMAPAfterMove, "Processed", capsRev2},
		{"move without MOVE (COPY, STORE, EXPUNGE)", IMAPAfterMove, "Processed", capsRev1},
		{"move into a nested folder", IMAPAfterMove, "Archive/Logged", capsRev2},
		{"delete", IMAPAfterDelete, "", capsRev2},
		{"delete without UIDPLUS (EXPUNGE)", IMAPAfterDelete, "", capsRev1},
	}, func(t *testing.T, tc afterActionCase) testMailbox {
		m := newMemServer(t, tc.caps)
		m.start("")
		c := dialTestClient(t, m.addr, memUser, memPass, nil)
		return testMailbox{cfg: m.config("box"), c: c, add: func(raws ...[]byte) { m.append("INBOX", raws...) }}
	})
}

// Without IDLE the poller disconnects after a poll and polls again on the
// schedule (Kick).
func TestIMAPWithoutIdlePollsOnSchedule(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	m := newMemServer(t, capsRev1)
	m.noIdle = true
	m.start("")
	m.append("INBOX", loggedMail(1))
	p := NewIMAPPoller(m.config("office"), e.pipe, nil)
	runPoller(t, p)
	waitIngested(t, p, 1)
	waitFor(t, 5*time.Second, "waiting state", func() bool { return p.Status().State == IMAPStateWaiting })
	if p.Status().Idle {
		t.Error("status says IDLE on a server without it")
	}
	m.append("INBOX", loggedMail(2))
	time.Sleep(100 * time.Millisecond)
	if n := p.Status().Ingested; n != 1 {
		t.Fatalf("ingested %d before the scheduled poll, want 1", n)
	}
	p.Kick()
	waitIngested(t, p, 2)
	if n := e.interactions(); n != 2 {
		t.Errorf("%d interactions, want 2", n)
	}
}

// A big first poll goes in batches: no batch over BatchSize messages or
// MaxBatchBytes, one commit each, and everything stored once.
func TestIMAPBatchesBoundMemory(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	m := newMemServer(t, capsRev2)
	m.start("")
	const n = 450
	for i := 1; i <= n; i++ {
		m.append("INBOX", loggedMail(i))
	}
	cfg := m.config("big")
	cfg.BatchSize = 200
	p := NewIMAPPoller(cfg, e.pipe, nil)
	var mu sync.Mutex
	var batches []int
	p.onBatch = func(msgs int, _ int64) {
		mu.Lock()
		batches = append(batches, msgs)
		mu.Unlock()
	}
	runPoller(t, p)
	waitIngested(t, p, n)
	mu.Lock()
	if !slices.Equal(batches, []int{200, 200, 50}) {
		t.Errorf("batches = %v, want [200 200 50]", batches)
	}
	mu.Unlock()
	if got := e.interactions(); got != n {
		t.Errorf("%d interactions, want %d", got, n)
	}
	if c := e.cursor("big"); c.UID != n {
		t.Errorf("cursor = %+v, want UID %d", c, n)
	}

	// By bytes: ~330-byte messages, 2 KB a batch.
	e2 := newIngestEnv(t)
	cfg.Name, cfg.BatchSize, cfg.MaxBatchBytes = "bytes", 200, 2000
	p2 := NewIMAPPoller(cfg, e2.pipe, nil)
	var most int
	var most2 int64
	p2.onBatch = func(msgs int, b int64) {
		mu.Lock()
		most, most2 = max(most, msgs), max(most2, b)
		mu.Unlock()
	}
	runPoller(t, p2)
	waitIngested(t, p2, n)
	mu.Lock()
	if most2 > 2000 || most < 2 || most > 2000/200 {
		t.Errorf("largest batch %d messages, %d bytes; want at most 2000 bytes", most, most2)
	}
	mu.Unlock()
}

// A crash between the commit and the after-action: the messages are stored
// and the cursor covers them, but they are not marked seen. The restarted
// poller finishes the after-action and logs nothing twice.
func TestIMAPCrashBetweenCommitAndFlagging(t *testing.T) {
	t.Parallel()
	for _, after := range []string{IMAPAfterSeen, IMAPAfterMove, IMAPAfterDelete} {
		t.Run(after, func(t *testing.T) {
			t.Parallel()
			e := newIngestEnv(t)
			m := newMemServer(t, capsRev2)
			m.start("")
			m.append("INBOX", loggedMail(1), loggedMail(2), loggedMail(3))
			cfg := m.config("office")
			cfg.After, cfg.MoveTo = after, "Done"
			cfg.BatchSize = 2
			p := NewIMAPPoller(cfg, e.pipe, nil)
			crashed, release := make(chan struct{}), make(chan struct{})
			p.afterCommit = func(uids []imap.UID) error {
				close(crashed)
				<-release // the process dies here: nothing after the commit runs
				return errors.New("crashed")
			}
			stop := runPoller(t, p)
			<-crashed
			go func() { time.Sleep(50 * time.Millisecond); close(release) }()
			stop()
			if c := e.cursor("office"); c.UID < 2 {
				t.Fatalf("cursor after the crash = %+v, want at least the first batch", c)
			}
			if fl := m.flags("INBOX"); len(fl) != 3 || slices.ContainsFunc(slices.Collect(maps.Values(fl)), func(f []imap.Flag) bool { return len(f) > 0 }) {
				t.Fatalf("INBOX after the crash = %v, want 3 messages untouched", fl)
			}
			e.reopen()
			p2 := NewIMAPPoller(cfg, e.pipe, nil)
			runPoller(t, p2)
			waitFor(t, 10*time.Second, "the restarted poller to finish", func() bool {
				st := p2.Status()
				return st.State == IMAPStateIdle && !st.LastSuccessAt.IsZero()
			})
			st := p2.Status()
			if st.Duplicates != 0 || st.LastError != "" || st.LastUID != 3 {
				t.Errorf("restarted status = %+v", st)
			}
			if n := e.interactions(); n != 3 {
				t.Errorf("%d interactions, want 3", n)
			}
			inbox := m.flags("INBOX")
			switch after {
			case IMAPAfterSeen:
				if len(inbox) != 3 || !allSeen(inbox) {
					t.Errorf("INBOX = %v, want 3 seen", inbox)
				}
			default:
				if len(inbox) != 0 {
					t.Errorf("INBOX = %v, want empty", inbox)
				}
			}
		})
	}
}

// A batch the store cannot write is counted in touchpoint_messages_total
// with status "failed", message by message, as SMTP and pipe failures are.
func TestIMAPStoreFailureIsCountedAsFailed(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	m := newMemServer(t, capsRev2)
	m.start("")
	m.append("INBOX", loggedMail(1))
	cfg := m.config("office")
	p := NewIMAPPoller(cfg, e.pipe, nil)
	stop := runPoller(t, p)
	waitIngested(t, p, 1) // the cursor exists: the next poll writes only its batch
	stop()

	// The store turns read-only: the cursor reads and matching works, the
	// batch's commit fails.
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := store.Open(filepath.Join(e.dir, "t.db"), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	e.s, e.pipe.Store = ro, ro
	messages := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "touchpoint_messages_total"}, []string{"source", "status"})
	e.pipe.Observe = func(source, status string, _ time.Duration) { messages.WithLabelValues(source, status).Inc() }
	m.append("INBOX", loggedMail(2), loggedMail(3))
	cfg.MinBackoff = time.Minute // one attempt
	p2 := NewIMAPPoller(cfg, e.pipe, nil)
	stop2 := runPoller(t, p2)
	waitFor(t, 10*time.Second, "the commit to fail", func() bool { return p2.Status().ConsecutiveErrors == 1 })
	stop2()
	if st := p2.Status(); !strings.HasPrefix(st.LastError, "storing messages failed") || st.Ingested != 0 {
		t.Errorf("status = %+v, want a store failure", st)
	}
	if got, want := scrape(t, messages), map[string]float64{`{source="imap",status="failed"}`: 2}; !maps.Equal(got, want) {
		t.Errorf("touchpoint_messages_total = %v, want %v", got, want)
	}
}

// scrape gathers a collector as Prometheus would: series → value.
func scrape(t testing.TB, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			out["{"+strings.Join(labels, ",")+"}"] = m.GetCounter().GetValue()
		}
	}
	return out
}

// A lost cursor (or a crash before the commit) fetches again: every
// message is a duplicate, nothing is logged twice.
func TestIMAPRefetchIsDeduplicated(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	m := newMemServer(t, capsRev2)
	m.start("")
	m.append("INBOX", loggedMail(1), loggedMail(2))
	p := NewIMAPPoller(m.config("office"), e.pipe, nil)
	stop := runPoller(t, p)
	waitIngested(t, p, 2)
	stop()
	c := e.cursor("office")
	if err := e.s.ResetMailbox(context.Background(), "office", c.UIDValidity); err != nil {
		t.Fatal(err)
	}
	p2 := NewIMAPPoller(m.config("office"), e.pipe, nil)
	runPoller(t, p2)
	waitIngested(t, p2, 2)
	if st := p2.Status(); st.Duplicates != 2 || st.Logged != 0 {
		t.Errorf("status = %+v, want 2 duplicates", st)
	}
	if n := e.interactions(); n != 2 {
		t.Errorf("%d interactions, want 2", n)
	}
}

// The folder is deleted and recreated (new UIDVALIDITY) with the same
// messages plus one: the folder is read again, only the new one logged.
func TestIMAPUIDValidityChange(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	m := newMemServer(t, capsRev2, "Log")
	m.start("")
	m.append("Log", loggedMail(1), loggedMail(2))
	cfg := m.config("log")
	cfg.Folder = "Log"
	p := NewIMAPPoller(cfg, e.pipe, nil)
	stop := runPoller(t, p)
	waitIngested(t, p, 2)
	stop()
	old := e.cursor("log")

	if err := m.user.Delete("Log"); err != nil {
		t.Fatal(err)
	}
	if err := m.user.Create("Log", nil); err != nil {
		t.Fatal(err)
	}
	m.append("Log", loggedMail(1), loggedMail(2), loggedMail(3))
	p2 := NewIMAPPoller(cfg, e.pipe, nil)
	runPoller(t, p2)
	waitIngested(t, p2, 3)
	st := p2.Status()
	if st.Duplicates != 2 || st.Logged != 1 {
		t.Errorf("status = %+v, want 2 duplicates and 1 logged", st)
	}
	if c := e.cursor("log"); c.UIDValidity == old.UIDValidity || c.UID != 3 {
		t.Errorf("cursor = %+v, old %+v", c, old)
	}
	if n := e.interactions(); n != 3 {
		t.Errorf("%d interactions, want 3", n)
	}
}

// Each failure is shown in words an admin can act on, never with the
// password, and retried.
func TestIMAPErrorsInWords(t *testing.T) {
	t.Parallel()
	cert := selfSigned(t)
	refused := func() string { // a port nobody listens on
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}()
	for _, tc := range []struct {
		name string
		// setup returns the config to poll with.
		setup func(t *testing.T) IMAPConfig
		want  string
		kind  string
	}{
		{"wrong password", func(t *testing.T) IMAPConfig {
			m := newMemServer(t, capsRev2)
			m.start("")
			cfg := m.config("x")
			cfg.Password = func() (string, error) { return "not-the-password", nil }
			return cfg
		}, "wrong username or password", "auth"},
		{"missing folder", func(t *testing.T) IMAPConfig {
			m := newMemServer(t, capsRev2)
			m.start("")
			cfg := m.config("x")
			cfg.Folder = "Nope"
			return cfg
		}, "folder Nope does not exist", "folder"},
		{"connection refused", func(t *testing.T) IMAPConfig {
			h, p, _ := net.SplitHostPort(refused)
			n, _ := strconv.Atoi(p)
			return IMAPConfig{Name: "x", Host: h, Port: n, TLS: IMAPTLSNone, Username: memUser,
				Password: func() (string, error) { return memPass, nil }, MinBackoff: 20 * time.Millisecond}
		}, "cannot connect to " + refused + ": connection refused", "connect"},
		{"implicit TLS on a plain port", func(t *testing.T) IMAPConfig {
			m := newMemServer(t, capsRev2)
			m.start("")
			cfg := m.config("x")
			cfg.TLS = IMAPTLSImplicit
			return cfg
		}, "TLS handshake failed: ", "tls"},
		{"untrusted certificate", func(t *testing.T) IMAPConfig {
			m := newMemServer(t, capsRev2)
			m.tls = &tls.Config{Certificates: []tls.Certificate{cert}}
			m.start("")
			cfg := m.config("x")
			cfg.TLSConfig = &tls.Config{ServerName: "test"}
			return cfg
		}, "TLS handshake failed: certificate signed by unknown authority", "tls"},
		{"STARTTLS not offered", func(t *testing.T) IMAPConfig {
			m := newMemServer(t, capsRev2)
			m.start("")
			cfg := m.config("x")
			cfg.TLS = IMAPTLSStartTLS
			return cfg
		}, "does not offer STARTTLS", "tls"},
		{"password variable unset", func(t *testing.T) IMAPConfig {
			m := newMemServer(t, capsRev2)
			m.start("")
			cfg := m.config("x")
			cfg.Password = func() (string, error) {
				return "", errors.New(`mailbox "x": password environment variable OFFICE_PW is not set`)
			}
			return cfg
		}, "password environment variable OFFICE_PW is not set", "config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newIngestEnv(t)
			var logs bytes.Buffer
			var mu sync.Mutex
			logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
			p := NewIMAPPoller(tc.setup(t), e.pipe, logger)
			kinds := make(chan string, 10)
			p.OnPoll = func(_, outcome string, _ int) {
				select {
				case kinds <- outcome:
				default:
				}
			}
			stop := runPoller(t, p)
			waitFor(t, 10*time.Second, "two failed attempts", func() bool { return p.Status().ConsecutiveErrors >= 2 })
			stop()
			st := p.Status()
			t.Logf("LastError: %s", st.LastError)
			if !strings.Contains(st.LastError, tc.want) {
				t.Errorf("LastError = %q, want it to contain %q", st.LastError, tc.want)
			}
			if k := <-kinds; k != tc.kind {
				t.Errorf("OnPoll outcome = %q, want %q", k, tc.kind)
			}
			if st.LastErrorAt.IsZero() || st.LastPollAt.IsZero() || !st.LastSuccessAt.IsZero() {
				t.Errorf("status times = %+v", st)
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Contains(logs.String(), memPass) || strings.Contains(st.LastError, memPass) {
				t.Errorf("the password leaked: %s", logs.String())
			}
		})
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestIMAPTLSModes(t *testing.T) {
	t.Parallel()
	cert := selfSigned(t)
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	for _, mode := range []string{IMAPTLSImplicit, IMAPTLSStartTLS} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			e := newIngestEnv(t)
			m := newMemServer(t, capsRev2)
			serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
			if mode == IMAPTLSImplicit {
				m.tls = serverTLS
			} else {
				m.opts.TLSConfig = serverTLS
				m.opts.InsecureAuth = false // LOGIN only after STARTTLS
			}
			m.start("")
			m.append("INBOX", loggedMail(1))
			cfg := m.config("tls")
			cfg.TLS = mode
			// Dial 127.0.0.1, verify the certificate's name.
			cfg.TLSConfig = &tls.Config{RootCAs: roots, ServerName: "test"}
			p := NewIMAPPoller(cfg, e.pipe, nil)
			runPoller(t, p)
			waitIngested(t, p, 1)
			if st := p.Status(); st.LastError != "" || st.Logged != 1 {
				t.Errorf("status = %+v", st)
			}
			pr, err := ProbeIMAP(context.Background(), cfg)
			if want := map[string]string{IMAPTLSImplicit: "implicit TLS, TLS 1.3", IMAPTLSStartTLS: "STARTTLS"}[mode]; err != nil || pr.TLS != want {
				t.Errorf("probe = %+v, %v", pr, err)
			}
		})
	}
}

// One mailbox whose server accepts connections but never answers does not
// hold up another, and stopping does not wait for it.
func TestIMAPSlowMailboxDoesNotHoldUpOthers(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // silent: no greeting, ever
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	h, port, _ := net.SplitHostPort(ln.Addr().String())
	n, _ := strconv.Atoi(port)
	slow := NewIMAPPoller(IMAPConfig{Name: "slow", Host: h, Port: n, TLS: IMAPTLSNone, Username: "u",
		Password: func() (string, error) { return "p", nil }}, e.pipe, nil)

	m := newMemServer(t, capsRev2)
	m.start("")
	m.append("INBOX", loggedMail(1))
	good := NewIMAPPoller(m.config("good"), e.pipe, nil)

	stopSlow := runPoller(t, slow)
	runPoller(t, good)
	waitIngested(t, good, 1)
	if st := slow.Status(); st.State != IMAPStateConnecting {
		t.Errorf("slow mailbox state = %q, want connecting", st.State)
	}
	start := time.Now()
	stopSlow()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("stopping the stuck poller took %v", d)
	}
	if st := slow.Status(); st.State != IMAPStateStopped {
		t.Errorf("slow mailbox state after stop = %q", st.State)
	}
	// Stopping is not the mailbox's failure: the status keeps what it
	// last knew.
	if st := slow.Status(); st.LastError != "" || st.ConsecutiveErrors != 0 {
		t.Errorf("after stopping: last error %q, %d consecutive errors; want none", st.LastError, st.ConsecutiveErrors)
	}
}

// A server that stays connected but stops answering a command fails the
// poll within CommandTimeout, whichever command it was: the status shows
// why instead of staying "polling" (or "idle") for good.
func TestIMAPServerThatStopsAnsweringFailsThePoll(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		stallAt string // what the client sends before the silence
		after   string
		doing   string // named in the error
		// idling: the first poll succeeds, the silence comes with IDLE.
		idling bool
		cut    int // bytes of the answer let through first
	}{
		{"LOGIN", IMAPAfterSeen, "LOGIN", false, 0},
		{"SELECT", IMAPAfterSeen, "SELECT", false, 0},
		{"RFC822.SIZE", IMAPAfterSeen, "UID FETCH (RFC822.SIZE)", false, 0},
		{"BODY.PEEK", IMAPAfterSeen, "UID FETCH (BODY.PEEK[])", false, 0},
		// Silence in the middle of the message: the body's literal has
		// begun (go-imap raced with the poller when the rest of a failed
		// literal was read again).
		{"BODY.PEEK", IMAPAfterSeen, "UID FETCH (BODY.PEEK[])", false, 80},
		{"STORE", IMAPAfterSeen, "UID STORE", false, 0},
		{"MOVE", IMAPAfterMove, "UID MOVE", false, 0},
		{"EXPUNGE", IMAPAfterDelete, "UID EXPUNGE", false, 0},
		{"IDLE", IMAPAfterSeen, "IDLE", true, 0},
		{"DONE", IMAPAfterSeen, "DONE (the end of IDLE)", true, 0},
	} {
		t.Run(fmt.Sprintf("%s/cut=%d", tc.stallAt, tc.cut), func(t *testing.T) {
			t.Parallel()
			e := newIngestEnv(t)
			m := newMemServer(t, capsRev2)
			m.stallAt, m.cut = tc.stallAt, tc.cut
			m.start("")
			m.append("INBOX", loggedMail(1))
			cfg := m.config("office")
			cfg.After, cfg.MoveTo = tc.after, "Done"
			cfg.CommandTimeout = 200 * time.Millisecond
			cfg.MinBackoff = time.Minute // one attempt: the state stays put
			p := NewIMAPPoller(cfg, e.pipe, nil)
			outcomes := make(chan string, 10)
			p.OnPoll = func(_, outcome string, _ int) { outcomes <- outcome }
			stop := runPoller(t, p)
			if tc.idling {
				if o := <-outcomes; o != "ok" {
					t.Fatalf("first poll: %s", o)
				}
			}
			if tc.stallAt == "DONE" {
				waitFor(t, 5*time.Second, "IDLE", func() bool { return p.Status().State == IMAPStateIdle })
				p.Kick() // ends IDLE: DONE goes unanswered
			}
			waitFor(t, 5*time.Second, "the poll to fail", func() bool { return p.Status().ConsecutiveErrors == 1 })
			st := p.Status()
			want := fmt.Sprintf("the server at %s stopped answering: no reply to %s for 200ms", m.addr, tc.doing)
			if st.LastError != want || st.State != IMAPStateRetrying {
				t.Errorf("status = %q, %q; want %q, %q", st.State, st.LastError, IMAPStateRetrying, want)
			}
			if o := <-outcomes; o != "connect" {
				t.Errorf("OnPoll outcome = %q, want connect", o)
			}
			stop()
		})
	}
}

// The watchdog counts silence, not the length of a command: a FETCH that
// takes longer than CommandTimeout but keeps arriving is not cut off.
func TestIMAPSlowButSteadyAnswerIsNotCutOff(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	m := newMemServer(t, capsRev2)
	m.stallAt, m.drip = "BODY.PEEK", 20*time.Millisecond
	m.start("")
	m.append("INBOX", loggedMail(1))
	cfg := m.config("office")
	cfg.CommandTimeout = 200 * time.Millisecond
	p := NewIMAPPoller(cfg, e.pipe, nil)
	runPoller(t, p)
	start := time.Now()
	waitFor(t, 15*time.Second, "the message", func() bool { st := p.Status(); return st.Ingested == 1 || st.LastError != "" })
	if st := p.Status(); st.LastError != "" || st.Logged != 1 {
		t.Errorf("status = %+v", st)
	}
	if d := time.Since(start); d < cfg.CommandTimeout {
		t.Errorf("the answer took %v, less than CommandTimeout: the test proves nothing", d)
	}
}

// A panic inside a poll is recovered, shown, and the poller carries on.
func TestIMAPPanicIsRecovered(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	m := newMemServer(t, capsRev2)
	m.start("")
	m.append("INBOX", loggedMail(1))
	p := NewIMAPPoller(m.config("office"), e.pipe, nil)
	var once sync.Once
	var sawPanic bool
	p.afterCommit = func([]imap.UID) error {
		once.Do(func() {
			sawPanic = true
			panic("boom")
		})
		return nil
	}
	var outcomes []string
	var mu sync.Mutex
	p.OnPoll = func(_, outcome string, _ int) {
		mu.Lock()
		outcomes = append(outcomes, outcome)
		mu.Unlock()
	}
	runPoller(t, p)
	waitFor(t, 10*time.Second, "recovery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(outcomes) >= 2
	})
	mu.Lock()
	if !sawPanic || outcomes[0] != "internal" || outcomes[1] != "ok" {
		t.Errorf("outcomes = %v", outcomes)
	}
	mu.Unlock()
	if fl := m.flags("INBOX"); !allSeen(fl) {
		t.Errorf("INBOX = %v, want seen after recovery", fl)
	}
	if n := e.interactions(); n != 1 {
		t.Errorf("%d interactions, want 1", n)
	}
}

// The server goes away and comes back on the same address: the poller
// shows the outage and recovers by itself.
func TestIMAPServerDownThenBack(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	m := newMemServer(t, capsRev2)
	m.start("")
	m.append("INBOX", loggedMail(1))
	p := NewIMAPPoller(m.config("office"), e.pipe, nil)
	runPoller(t, p)
	waitIngested(t, p, 1)
	waitFor(t, 5*time.Second, "IDLE", func() bool { return p.Status().State == IMAPStateIdle })

	m.srv.Close()
	waitFor(t, 10*time.Second, "the outage in the status", func() bool {
		return strings.Contains(p.Status().LastError, "connection refused")
	})
	m.append("INBOX", loggedMail(2))
	m.start(m.addr)
	waitIngested(t, p, 2)
	waitFor(t, 5*time.Second, "the error to clear", func() bool { return p.Status().LastError == "" })
	if n := e.interactions(); n != 2 {
		t.Errorf("%d interactions, want 2", n)
	}
}

// A message over MaxMessageBytes is left in the folder, unseen, reported
// once; the others are logged.
func TestIMAPOversizedMessageIsLeftInTheFolder(t *testing.T) {
	t.Parallel()
	e := newIngestEnv(t)
	m := newMemServer(t, capsRev2)
	m.start("")
	big := append(loggedMail(2), bytes.Repeat([]byte("x"), 5000)...)
	m.append("INBOX", loggedMail(1), big, loggedMail(3))
	cfg := m.config("office")
	cfg.MaxMessageBytes = 2000
	p := NewIMAPPoller(cfg, e.pipe, nil)
	runPoller(t, p)
	waitIngested(t, p, 2)
	p.Kick()
	time.Sleep(100 * time.Millisecond)
	waitFor(t, 5*time.Second, "IDLE", func() bool { return p.Status().State == IMAPStateIdle })
	st := p.Status()
	if st.Ingested != 2 || st.Skipped != 1 || st.LastUID != 3 {
		t.Errorf("status = %+v, want 2 ingested, 1 skipped, cursor 3", st)
	}
	fl := m.flags("INBOX")
	if len(fl) != 3 || slices.Contains(fl[2], imap.FlagSeen) || !slices.Contains(fl[1], imap.FlagSeen) {
		t.Errorf("INBOX = %v: want UID 2 unseen, the others seen", fl)
	}
}

func TestIMAPProbe(t *testing.T) {
	t.Parallel()
	m := newMemServer(t, capsRev2)
	m.start("")
	m.append("INBOX", loggedMail(1), loggedMail(2))
	cfg := m.config("office")
	cfg.After, cfg.MoveTo = IMAPAfterMove, "Processed"
	pr, err := ProbeIMAP(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if pr.Messages != 2 || pr.Unseen != 2 || pr.UIDValidity == 0 || pr.UIDNext != 3 || !pr.Idle || !pr.Move ||
		pr.MoveTo != "Processed" || pr.MoveToExists || !slices.Contains(pr.Caps, "IMAP4rev2") {
		t.Errorf("probe = %+v", pr)
	}
	if fl := m.flags("INBOX"); len(fl) != 2 || slices.ContainsFunc(slices.Collect(maps.Values(fl)), func(f []imap.Flag) bool { return len(f) > 0 }) {
		t.Errorf("the probe changed flags: %v", fl)
	}
	cfg.Password = func() (string, error) { return "wrong", nil }
	if _, err := ProbeIMAP(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "wrong username or password") {
		t.Errorf("probe with a wrong password = %v", err)
	}
}
