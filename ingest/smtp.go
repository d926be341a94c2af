package ingest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"touchpoint/matcher"
	"touchpoint/store"
)

// SMTPConfig configures the listener.
type SMTPConfig struct {
	Hostname         string
	MaxMessageBytes  int64
	MaxRecipients    int
	MaxLineLength    int
	ReadTimeout      time.Duration
	WriteTimeout     time.Duration
	SessionTimeout   time.Duration
	MaxConnections   int
	MaxConnectionsIP int
	TLS              *tls.Config // STARTTLS when set
	// DataDir is checked for free space at MAIL FROM (through Disk when
	// set, so that /healthz shares the answer).
	DataDir string
	Disk    *DiskSpace
}

// SMTPServer receives mail for the system address and its per-user
// variants. A message gets 250 only once it is durable in the store.
type SMTPServer struct {
	cfg      SMTPConfig
	pipeline *Pipeline
	log      *slog.Logger
	srv      *smtp.Server
	disk     *DiskSpace // nil: no disk check
	// Connected counts open sessions (for metrics).
	Connected atomic.Int64
	// OnConn, when set, is told of every accepted ("accepted") or refused
	// ("refused") connection, for metrics.
	OnConn func(event string)

	// mu guards sessions, each session's busy flag and draining (set by
	// Shutdown: no new transaction starts).
	mu       sync.Mutex
	sessions map[*session]struct{}
	draining bool
}

// NewSMTPServer builds the listener's server; call Serve with a listener.
func NewSMTPServer(cfg SMTPConfig, p *Pipeline, log *slog.Logger) *SMTPServer {
	s := &SMTPServer{cfg: cfg, pipeline: p, log: log, disk: cfg.Disk, sessions: map[*session]struct{}{}}
	if s.disk == nil && cfg.DataDir != "" {
		s.disk = &DiskSpace{Dir: cfg.DataDir}
	}
	srv := smtp.NewServer(s)
	srv.Domain = cfg.Hostname
	srv.MaxMessageBytes = cfg.MaxMessageBytes
	srv.MaxRecipients = cfg.MaxRecipients
	srv.MaxLineLength = cfg.MaxLineLength
	srv.ReadTimeout = cfg.ReadTimeout
	srv.WriteTimeout = cfg.WriteTimeout
	srv.TLSConfig = cfg.TLS
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = slogLogger{log}
	s.srv = srv
	return s
}

// Serve accepts connections on ln until Shutdown.
func (s *SMTPServer) Serve(ln net.Listener) error {
	return s.srv.Serve(&limitListener{Listener: ln, max: s.cfg.MaxConnections, perIP: s.cfg.MaxConnectionsIP, perIPCount: map[string]int{}, log: s.log, onConn: s.OnConn})
}

// Shutdown stops accepting and waits for sessions in flight (a message in
// DATA finishes and gets its answer) until ctx ends, then closes the rest.
// Sessions between transactions are closed at once, and a session whose
// transaction ends is closed after its answer: an idle client cannot hold
// the shutdown up.
func (s *SMTPServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	for ss := range s.sessions {
		if !ss.busy {
			ss.conn.Conn().Close()
		}
	}
	s.mu.Unlock()
	err := s.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		s.srv.Close()
	}
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	return err
}

// NewSession implements smtp.Backend.
func (s *SMTPServer) NewSession(c *smtp.Conn) (smtp.Session, error) {
	// A short random id on every line about the session, so one
	// session's lines can be picked out of a busy log.
	sess := &session{s: s, conn: c, log: s.log.With("conn", strings.ToLower(rand.Text()[:8]), "remote", c.Conn().RemoteAddr().String())}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return nil, errShuttingDown
	}
	s.sessions[sess] = struct{}{}
	s.mu.Unlock()
	if s.cfg.SessionTimeout > 0 {
		// An absolute deadline: a client trickling bytes or NOOPs cannot
		// hold a connection forever.
		sess.timer = time.AfterFunc(s.cfg.SessionTimeout, func() {
			sess.log.Info("smtp session deadline reached; closing")
			c.Conn().Close()
		})
	}
	s.Connected.Add(1)
	return sess, nil
}

type session struct {
	s     *SMTPServer
	conn  *smtp.Conn
	log   *slog.Logger
	timer *time.Timer
	busy  bool // in a transaction (from MAIL FROM to its end); guarded by s.mu

	from     string
	nullFrom bool
	rcpts    []string
	// ctx announces this transaction's write to the store from MAIL FROM
	// on, so concurrent sessions share commits; release ends it.
	ctx     context.Context
	release func()
}

var (
	errNoSuchUser   = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	errTempFail     = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, please try again later"}
	errDiskFull     = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient system storage, please try again later"}
	errTooMany      = &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
	errShuttingDown = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down, try again later"}
)

func (ss *session) Reset() {
	ss.clear()
	ss.s.mu.Lock()
	ss.busy = false
	if ss.s.draining {
		// Shutting down: the transaction's answer is written (go-smtp
		// resets after it); take no other.
		ss.conn.Conn().Close()
	}
	ss.s.mu.Unlock()
}

// clear forgets the transaction and ends its announced write.
func (ss *session) clear() {
	ss.from, ss.nullFrom, ss.rcpts = "", false, nil
	if ss.release != nil {
		ss.release()
		ss.ctx, ss.release = nil, nil
	}
}

func (ss *session) Logout() error {
	ss.Reset()
	if ss.timer != nil {
		ss.timer.Stop()
	}
	ss.s.mu.Lock()
	delete(ss.s.sessions, ss)
	ss.s.mu.Unlock()
	ss.s.Connected.Add(-1)
	ss.log.Debug("smtp session closed")
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.disk != nil && ss.s.cfg.MaxMessageBytes > 0 {
		if free, err := ss.s.disk.Free(); err == nil && free < MinFreeBytes(ss.s.cfg.MaxMessageBytes) {
			ss.log.Warn("refusing mail: disk almost full", "free", free)
			return errDiskFull
		}
	}
	ss.clear()
	ss.s.mu.Lock()
	draining := ss.s.draining
	ss.busy = !draining
	ss.s.mu.Unlock()
	if draining {
		return errShuttingDown
	}
	ss.from = strings.ToLower(from)
	ss.nullFrom = from == ""
	ss.ctx, ss.release = ss.s.pipeline.Store.ExpectAccept(context.Background())
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	addr, ok := matcher.NormalizeAddress(to)
	if !ok {
		return errNoSuchUser
	}
	cfg := ss.s.pipeline.Matcher
	if addr != cfg.SystemAddress {
		tok, ok := matcher.UserToken(cfg, addr)
		if !ok {
			return errNoSuchUser
		}
		u, err := ss.s.pipeline.Store.UserByAddressToken(tok)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
			return errNoSuchUser
		}
		if err != nil {
			ss.log.Error("rcpt lookup failed", "err", err)
			return errTempFail
		}
	}
	if max := ss.s.cfg.MaxRecipients; max > 0 && len(ss.rcpts) >= max {
		return errTooMany
	}
	ss.rcpts = append(ss.rcpts, addr)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	buf := getBuf()
	defer putBuf(buf)
	dr := &deadlineReader{r: r, conn: ss.conn.Conn(), start: time.Now(), base: ss.s.cfg.ReadTimeout}
	if _, err := buf.ReadFrom(dr); err != nil {
		// ErrDataTooLarge must reach go-smtp as it is: it answers 552.
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se
		}
		return err
	}
	d := matcher.Delivery{MailFrom: ss.from, IsNullSender: ss.nullFrom, Recipients: ss.rcpts, Source: store.SourceSMTP}
	if unsafeAck {
		raw := bytes.Clone(buf.Bytes())
		go func() {
			time.Sleep(50 * time.Millisecond)
			ss.s.pipeline.Ingest(context.Background(), raw, d)
		}()
		return nil
	}
	ctx := ss.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	size, rcpts, log := buf.Len(), len(ss.rcpts), ss.log
	err := ss.s.pipeline.Accept(ctx, buf.Bytes(), d, func(res store.IngestResult) {
		// Once the journaled message is in the database, a few
		// milliseconds after the 250.
		log.Info("message received", "status", res.Status, "interaction", res.InteractionID, "unmatched", res.UnmatchedID,
			"bytes", size, "rcpts", rcpts)
	})
	if err != nil {
		ss.log.Error("message not stored; answering 451", "err", err)
		return errTempFail
	}
	return nil
}

// limitListener caps connections in total and per remote IP; a connection
// over a cap gets a 421 and is closed before go-smtp sees it.
type limitListener struct {
	net.Listener
	max, perIP int
	log        *slog.Logger
	onConn     func(string)

	mu         sync.Mutex
	total      int
	perIPCount map[string]int
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := remoteIP(c)
		l.mu.Lock()
		over := (l.max > 0 && l.total >= l.max) || (l.perIP > 0 && l.perIPCount[ip] >= l.perIP)
		if !over {
			l.total++
			l.perIPCount[ip]++
		}
		l.mu.Unlock()
		if over {
			if l.onConn != nil {
				l.onConn("refused")
			}
			c.SetWriteDeadline(time.Now().Add(time.Second))
			io.WriteString(c, "421 4.7.0 Too many connections, try again later\r\n")
			c.Close()
			continue
		}
		if l.onConn != nil {
			l.onConn("accepted")
		}
		return &countedConn{Conn: c, release: func() { l.release(ip) }}, nil
	}
}

func (l *limitListener) release(ip string) {
	l.mu.Lock()
	l.total--
	if l.perIPCount[ip]--; l.perIPCount[ip] <= 0 {
		delete(l.perIPCount, ip)
	}
	l.mu.Unlock()
}

func remoteIP(c net.Conn) string {
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		return c.RemoteAddr().String()
	}
	return host
}

type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// slogLogger adapts go-smtp's error log to slog.
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Printf(format string, v ...any) { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l slogLogger) Println(v ...any)               { l.log.Warn(strings.TrimSpace(fmt.Sprintln(v...))) }

// minDataRate is the slowest transfer DATA tolerates, in bytes per second.
const minDataRate = 8 << 10

// deadlineReader gives DATA a deadline that grows with what has arrived:
// ReadTimeout, plus one second per minDataRate bytes received. A sender
// trickling a byte a second is cut off after about ReadTimeout; a large
// message arriving at a normal pace never is.
type deadlineReader struct {
	r     io.Reader
	conn  net.Conn
	start time.Time
	base  time.Duration
	n     int64
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	if d.base > 0 {
		grace := d.base + time.Duration(d.n/minDataRate)*time.Second
		d.conn.SetReadDeadline(d.start.Add(grace))
	}
	n, err := d.r.Read(p)
	d.n += int64(n)
	return n, err
}
