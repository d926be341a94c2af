package ingest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"touchpoint/matcher"
	"touchpoint/store"
)

// smtpEnv is a real listener on loopback over a real store, with a staff
// member (Sarah) and a contact (Yossi).
type smtpEnv struct {
	t     testing.TB
	s     *store.Store
	srv   *SMTPServer
	addr  string
	sarah *store.User
	yossi *store.Contact
	// closed is set by a test that closes the store itself.
	closed bool
}

func newSMTPEnv(t testing.TB, tweak func(*SMTPConfig), pipeTweaks ...func(*Pipeline)) *smtpEnv {
	t.Helper()
	return newSMTPEnvWith(t, store.Options{PasswordCost: bcrypt.MinCost}, tweak, pipeTweaks...)
}

// newSMTPEnvWith is newSMTPEnv on a store opened with opts.
func newSMTPEnvWith(t testing.TB, opts store.Options, tweak func(*SMTPConfig), pipeTweaks ...func(*Pipeline)) *smtpEnv {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "t.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e := &smtpEnv{t: t, s: st}
	e.sarah = &store.User{Name: "Sarah Cohen", Emails: []string{"sarah@org.org"}}
	if err := st.CreateUser(ctx, e.sarah, "password123"); err != nil {
		t.Fatal(err)
	}
	e.yossi = &store.Contact{Name: "Yossi Levi", Emails: []string{"yossi@example.com"}}
	if err := st.CreateContact(ctx, e.yossi); err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{Store: st, Limits: DefaultLimits(), Matcher: matcher.Config{
		SystemAddress: "log@org.org", InternalDomains: []string{"org.org"}, FreemailDomains: []string{"gmail.com"},
	}}
	for _, f := range pipeTweaks {
		f(p)
	}
	cfg := SMTPConfig{Hostname: "test", MaxMessageBytes: 64 << 10, MaxRecipients: 5, MaxLineLength: 65536,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, SessionTimeout: time.Minute, MaxConnections: 100, MaxConnectionsIP: 50}
	if tweak != nil {
		tweak(&cfg)
	}
	e.srv = NewSMTPServer(cfg, p, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { e.srv.Serve(ln); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.srv.Shutdown(ctx)
		<-done
		if e.closed {
			return
		}
		e.settle()
		if err := st.Check(); err != nil {
			t.Errorf("store Check: %v", err)
		}
		st.Close()
	})
	return e
}

// send runs one SMTP transaction and returns the error of the first step
// that failed (nil: 250 after DATA). After a 250 it waits until the store
// has applied the journaled message, so the test can read it.
func (e *smtpEnv) send(from string, rcpts []string, msg string) error {
	if err := e.sendOnly(from, rcpts, msg); err != nil {
		return err
	}
	e.settle()
	return nil
}

// settle waits until every message acknowledged so far is in the database.
func (e *smtpEnv) settle() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.s.Flush(ctx); err != nil {
		e.t.Fatalf("flush: %v", err)
	}
}

// sendOnly is send without waiting for the store to apply the message.
func (e *smtpEnv) sendOnly(from string, rcpts []string, msg string) error {
	c, err := smtp.Dial(e.addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

const bccMail = "From: Sarah Cohen <sarah@org.org>\r\n" +
	"To: Yossi Levi <yossi@example.com>\r\n" +
	"Subject: =?UTF-8?B?16nXnNeV150=?= and the class\r\n" +
	"Date: Tue, 05 May 2026 10:00:00 +0000\r\n" +
	"Message-ID: <bcc-1@org.org>\r\n" +
	"\r\n" +
	"See you Thursday.\r\n"

func TestSMTPBccIsLoggedOnce(t *testing.T) {
	t.Parallel()
	e := newSMTPEnv(t, nil)
	for range 2 { // a retry, or a second BCC
		if err := e.send("sarah@org.org", []string{"log@org.org"}, bccMail); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	items, _, err := e.s.Timeline(e.yossi.ID, 10, "")
	if err != nil || len(items) != 1 {
		t.Fatalf("timeline = %d items, %v; want 1", len(items), err)
	}
	ia := items[0]
	if ia.Title != "שלום and the class" || ia.Type != "Email" || ia.Source != store.SourceSMTP ||
		len(ia.OwnerIDs) == 0 || ia.OwnerIDs[0] != e.sarah.ID || ia.Email.Direction != store.Outbound ||
		!strings.Contains(ia.Details, "See you Thursday.") || ia.OccurredAt.Format(time.RFC3339) != "2026-05-05T10:00:00Z" {
		t.Errorf("interaction = %+v / %+v", ia, ia.Email)
	}
}

// TestSMTPLongMessageIDIsLoggedOnce: a Message-ID near the header line
// limit is too long for the store's dedupe key as it is; it is logged (not
// answered 451 for ever) and its retry is still a duplicate.
func TestSMTPLongMessageIDIsLoggedOnce(t *testing.T) {
	t.Parallel()
	e := newSMTPEnv(t, nil)
	id := strings.Repeat("x", 990) + "@org.org" // 998 bytes, the most the parser takes
	msg := strings.Replace(bccMail, "<bcc-1@org.org>", "\r\n <"+id+">", 1)
	for range 2 {
		if err := e.send("sarah@org.org", []string{"log@org.org"}, msg); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	items, _, err := e.s.Timeline(e.yossi.ID, 10, "")
	if err != nil || len(items) != 1 || items[0].Email.MessageID != id {
		t.Fatalf("timeline = %d items, %v; want 1 with the long id", len(items), err)
	}
}

func TestSMTPRecipientsAndUserAddress(t *testing.T) {
	t.Parallel()
	e := newSMTPEnv(t, nil)
	if err := e.send("x@example.com", []string{"someone@org.org"}, bccMail); smtpCode(err) != 550 {
		t.Errorf("RCPT to a stranger = %v, want 550", err)
	}
	if err := e.send("x@example.com", []string{"log+nosuchtoken@org.org"}, bccMail); smtpCode(err) != 550 {
		t.Errorf("RCPT with a bad token = %v, want 550", err)
	}
	// Mail through Sarah's secret address is hers even from an alias.
	alias := strings.Replace(strings.Replace(bccMail, "sarah@org.org", "sarah.cohen@private.net", 1), "bcc-1", "bcc-2", 1)
	if err := e.send("sarah.cohen@private.net", []string{"LOG+" + strings.ToUpper(e.sarah.AddressToken) + "@org.org"}, alias); err != nil {
		t.Fatalf("send through the user address: %v", err)
	}
	items, _, _ := e.s.Timeline(e.yossi.ID, 10, "")
	if len(items) != 1 || items[0].OwnerIDs[0] != e.sarah.ID {
		t.Fatalf("timeline = %+v", items)
	}
	many := []string{}
	for range 6 {
		many = append(many, "log@org.org")
	}
	if err := e.send("x@example.com", many, bccMail); smtpCode(err) != 452 {
		t.Errorf("too many recipients = %v, want 452", err)
	}
}

func TestSMTPTooLarge(t *testing.T) {
	t.Parallel()
	e := newSMTPEnv(t, nil)
	big := bccMail + strings.Repeat("x", 70<<10) + "\r\n"
	err := e.send("sarah@org.org", []string{"log@org.org"}, big)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 552 || se.EnhancedCode != (smtp.EnhancedCode{5, 3, 4}) {
		t.Errorf("oversize = %v, want 552 5.3.4", err)
	}
	if n, _ := e.s.CountInteractions(); n != 0 {
		t.Errorf("%d interactions after a refused message", n)
	}
}

func TestSMTPUnparseableAndNoContactAreKept(t *testing.T) {
	t.Parallel()
	e := newSMTPEnv(t, nil)
	if err := e.send("a@b.c", []string{"log@org.org"}, "\x00\x01garbage without headers"); err != nil {
		t.Fatalf("garbage: %v", err)
	}
	stranger := strings.Replace(strings.Replace(bccMail, "yossi@example.com", "nobody@example.net", 1), "bcc-1", "bcc-3", 1)
	if err := e.send("sarah@org.org", []string{"log@org.org"}, stranger); err != nil {
		t.Fatal(err)
	}
	items, _, err := e.s.ListUnmatched(store.UnmatchedFilter{}, 10, "")
	if err != nil || len(items) != 2 {
		t.Fatalf("unmatched = %d, %v; want 2", len(items), err)
	}
	reasons := items[0].Reason + " " + items[1].Reason
	if reasons != "no_contact unparseable" {
		t.Errorf("reasons = %q", reasons)
	}
}

func TestSMTPStorageFailureIsTemporary(t *testing.T) {
	t.Parallel()
	e := newSMTPEnv(t, nil)
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Mail("sarah@org.org", nil)
	if err := c.Rcpt("log@org.org", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(bccMail))
	// The store goes away between RCPT and the end of DATA.
	e.s.Close()
	e.closed = true
	if err := w.Close(); smtpCode(err) != 451 {
		t.Errorf("DATA with a closed store = %v, want 451", err)
	}
}

func TestSMTPConnectionCaps(t *testing.T) {
	t.Parallel()
	e := newSMTPEnv(t, func(c *SMTPConfig) { c.MaxConnectionsIP = 2 })
	var held []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, conn)
		buf := make([]byte, 3)
		conn.Read(buf) // the 220 greeting: the connection counts now
	}
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := conn.Read(buf)
	if !strings.HasPrefix(string(buf[:n]), "421") {
		t.Errorf("third connection got %q, want 421", buf[:n])
	}
	conn.Close()
	held[0].Close()
	// A slot is free again once a connection closes.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := e.send("sarah@org.org", []string{"log@org.org"}, bccMail)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot after closing a connection: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	held[1].Close()
}

func TestSMTPConcurrentSendersAllDurable(t *testing.T) {
	t.Parallel()
	e := newSMTPEnv(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := strings.Replace(bccMail, "bcc-1", fmt.Sprint("c-", i), 1)
			errs <- e.send("sarah@org.org", []string{"log@org.org"}, msg)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	e.settle()
	if n, _ := e.s.CountInteractions(); n != 40 {
		t.Errorf("%d interactions, want 40", n)
	}
}

func TestSMTPSlowDataIsCutOff(t *testing.T) {
	t.Parallel()
	e := newSMTPEnv(t, func(c *SMTPConfig) { c.ReadTimeout = 500 * time.Millisecond })
	conn, err := net.Dial("tcp", e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	buf := make([]byte, 512)
	rd := bufio.NewReader(conn)
	// say sends a command and returns the reply's last line ("250 ..."
	// after any "250-..." continuation lines).
	say := func(line string) string {
		if line != "" {
			conn.Write([]byte(line + "\r\n"))
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			l, err := rd.ReadString('\n')
			if err != nil || len(l) < 4 || l[3] != '-' {
				return l
			}
		}
	}
	say("")
	say("EHLO t")
	say("MAIL FROM:<sarah@org.org>")
	say("RCPT TO:<log@org.org>")
	if r := say("DATA"); !strings.HasPrefix(r, "354") {
		t.Fatalf("DATA = %q", r)
	}
	// A byte every 100 ms: far below the minimum rate.
	start := time.Now()
	for i := 0; time.Since(start) < 5*time.Second; i++ {
		if _, err := conn.Write([]byte{'x'}); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
		conn.SetReadDeadline(time.Now().Add(time.Millisecond))
		if n, err := rd.Read(buf); n > 0 || (err != nil && !isTimeout(err)) {
			break // the server answered or hung up
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("trickling DATA was not cut off after %v", d)
	}
	if n, _ := e.s.CountInteractions(); n != 0 {
		t.Errorf("a cut-off message was logged")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A large message arriving steadily may take longer than ReadTimeout: the
// DATA deadline grows with the bytes received.
func TestSMTPSteadyLargeDataIsNotCutOff(t *testing.T) {
	t.Parallel()
	e := newSMTPEnv(t, func(c *SMTPConfig) { c.ReadTimeout = 300 * time.Millisecond; c.MaxMessageBytes = 4 << 20 })
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("sarah@org.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("log@org.org", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(bccMail))
	line := strings.Repeat("y", 1000) + "\r\n"
	for range 20 { // ~1 s in all, well past ReadTimeout
		w.Write([]byte(strings.Repeat(line, 32)))
		time.Sleep(50 * time.Millisecond)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("steady large DATA = %v, want 250", err)
	}
	e.settle()
	if n, _ := e.s.CountInteractions(); n != 1 {
		t.Errorf("%d interactions, want 1", n)
	}
}

func TestSMTPRefusesWhenDiskAlmostFull(t *testing.T) {
	t.Parallel()
	// Free space is never 1.5 × 2^60 bytes: every MAIL FROM is refused.
	e := newSMTPEnv(t, func(c *SMTPConfig) { c.DataDir = t.TempDir(); c.MaxMessageBytes = 1 << 60 })
	err := e.send("sarah@org.org", []string{"log@org.org"}, bccMail)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 452 || se.EnhancedCode != (smtp.EnhancedCode{4, 3, 1}) {
		t.Errorf("MAIL FROM on a full disk = %v, want 452 4.3.1", err)
	}
}

func TestSMTPStartTLS(t *testing.T) {
	t.Parallel()
	cert := selfSigned(t)
	e := newSMTPEnv(t, func(c *SMTPConfig) { c.TLS = &tls.Config{Certificates: []tls.Certificate{cert}} })
	c, err := smtp.DialStartTLS(e.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	defer c.Close()
	if _, ok := c.TLSConnectionState(); !ok {
		t.Fatal("connection is not TLS after STARTTLS")
	}
	if err := c.SendMail("sarah@org.org", []string{"log@org.org"}, strings.NewReader(bccMail)); err != nil {
		t.Fatalf("send over TLS: %v", err)
	}
	e.settle()
	if n, _ := e.s.CountInteractions(); n != 1 {
		t.Errorf("%d interactions, want 1", n)
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"}, DNSNames: []string{"test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// A message in DATA when shutdown starts is finished and answered.
func TestSMTPShutdownFinishesInFlight(t *testing.T) {
	t.Parallel()
	e := newSMTPEnv(t, nil)
	c, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("sarah@org.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("log@org.org", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(bccMail[:40]))
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- e.srv.Shutdown(ctx)
	}()
	time.Sleep(100 * time.Millisecond) // shutdown has begun: no new connections
	if _, err := net.DialTimeout("tcp", e.addr, time.Second); err == nil {
		t.Error("a new connection was accepted during shutdown")
	}
	w.Write([]byte(bccMail[40:]))
	if err := w.Close(); err != nil {
		t.Fatalf("in-flight message = %v, want 250", err)
	}
	c.Quit()
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	e.settle()
	if n, _ := e.s.CountInteractions(); n != 1 {
		t.Errorf("%d interactions, want 1", n)
	}
}

// Shutdown closes sessions between transactions at once, refuses a new
// transaction on a session that was in one, and closes that session
// after the answer to its message.
func TestSMTPShutdownRefusesNewWork(t *testing.T) {
	t.Parallel()
	e := newSMTPEnv(t, nil)
	idle, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := idle.Hello("idle.test"); err != nil {
		t.Fatal(err)
	}
	busy, err := smtp.Dial(e.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := busy.Mail("sarah@org.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := busy.Rcpt("log@org.org", nil); err != nil {
		t.Fatal(err)
	}
	shut := make(chan error, 1)
	go func() {
		// A deadline far beyond what the test needs: an idle session
		// that were not closed would make Shutdown end with its error.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shut <- e.srv.Shutdown(ctx)
	}()
	// Shutdown has begun (it closes idle sessions as it marks the server
	// draining): the goroutine may not have run yet under load.
	waitFor(t, 5*time.Second, "shutdown to begin", func() bool {
		e.srv.mu.Lock()
		defer e.srv.mu.Unlock()
		return e.srv.draining
	})
	// The idle session is closed: its next command fails.
	if err := idle.Noop(); err == nil {
		// The close may race the NOOP; a second command cannot succeed.
		if err := idle.Mail("sarah@org.org", nil); err == nil {
			t.Error("MAIL FROM on an idle session after shutdown began succeeded")
		}
	}
	w, err := busy.Data()
	if err != nil {
		t.Fatalf("DATA on the session in a transaction: %v", err)
	}
	w.Write([]byte(bccMail))
	if err := w.Close(); err != nil {
		t.Fatalf("message in flight at shutdown = %v, want 250", err)
	}
	if err := busy.Mail("sarah@org.org", nil); err == nil {
		t.Error("a second transaction after shutdown began was accepted")
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v, want nil (no session left to wait for)", err)
	}
	e.settle()
	if n, _ := e.s.CountInteractions(); n != 1 {
		t.Errorf("%d interactions, want 1", n)
	}
}
