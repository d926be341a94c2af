// Package relaytest runs a real SMTP relay (go-smtp) on a loopback port for
// tests of the campaign sender: it records every message it accepts and can
// be scripted to answer a recipient with errors first.
package relaytest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one accepted message.
type Message struct {
	From string
	To   string
	Data []byte
	// Auth is the user that authenticated ("" for none).
	Auth string
	TLS  bool
}

// Relay is the server.
type Relay struct {
	Host string
	Port int
	// ClientTLS trusts the relay's certificate (when it has one).
	ClientTLS *tls.Config

	mu       sync.Mutex
	msgs     []Message
	script   map[string][]error // address → answers to give at DATA, first first
	attempts map[string]int
	user     string
	password string
}

// Options configure New.
type Options struct {
	// TLS gives the relay a self-signed certificate and STARTTLS.
	TLS bool
	// User and Password require AUTH PLAIN (over TLS unless TLS is off).
	User, Password string
}

// New starts a relay on 127.0.0.1:0; it stops when the test ends.
func New(t testing.TB, opts Options) *Relay {
	t.Helper()
	r := &Relay{script: map[string][]error{}, attempts: map[string]int{}, user: opts.User, password: opts.Password}
	srv := smtp.NewServer(backend{r})
	srv.Domain = "relay.test"
	srv.AllowInsecureAuth = !opts.TLS
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	if opts.TLS {
		cert, pool := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		r.ClientTLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.Host = "127.0.0.1"
	r.Port = ln.Addr().(*net.TCPAddr).Port
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return r
}

// Addr is host:port.
func (r *Relay) Addr() string { return net.JoinHostPort(r.Host, strconv.Itoa(r.Port)) }

// Script makes the relay answer the next DATA transactions for addr with
// errs in order (a *smtp.SMTPError each), then accept.
func (r *Relay) Script(addr string, errs ...error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.script[addr] = append(r.script[addr], errs...)
}

// Messages returns what the relay accepted so far.
func (r *Relay) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

// Attempts counts the transactions that reached DATA for addr.
func (r *Relay) Attempts(addr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts[addr]
}

// Err is an SMTP answer for Script.
func Err(code int, enhanced smtp.EnhancedCode, msg string) error {
	return &smtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: msg}
}

type backend struct{ r *Relay }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{r: b.r, tls: isTLS}, nil
}

type session struct {
	r        *Relay
	tls      bool
	auth     string
	from, to string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.r.user || pass != s.r.password {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.auth = user
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.r.user != "" && s.auth == "" {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.to != "" {
		return errors.New("one recipient per message, please")
	}
	s.to = to
	return nil
}

func (s *session) Data(rd io.Reader) error {
	data, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts[s.to]++
	if errs := r.script[s.to]; len(errs) > 0 {
		r.script[s.to] = errs[1:]
		return errs[0]
	}
	r.msgs = append(r.msgs, Message{From: s.from, To: s.to, Data: data, Auth: s.auth, TLS: s.tls})
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", "" }
func (s *session) Logout() error { return nil }

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
