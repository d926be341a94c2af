package outbound

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLS modes of the relay connection.
const (
	TLSStartTLS = "starttls"
	TLSImplicit = "implicit"
	TLSNone     = "none"
)

// verdict is what one delivery attempt came to.
type verdict int

const (
	delivered   verdict = iota
	temporary           // 4xx or a connection error before the end of DATA: retry
	permanent           // 5xx: give up
	ambiguous           // the connection failed after the final dot: it may have been delivered
	unreachable         // no connection to the relay (down, TLS, AUTH): not the recipient's fault
)

// relay holds one connection to the relay, reused from message to message.
type relay struct {
	cfg *Config
	c   *smtp.Client
}

// dial connects, says EHLO, and authenticates when a user is configured.
func (r *relay) dial() error {
	cfg := r.cfg
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	tc := cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	}
	d := net.Dialer{Timeout: cfg.Timeout}
	var conn net.Conn
	var err error
	if cfg.TLS == TLSImplicit {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: tc}).Dial("tcp", addr)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("connect to the relay %s: %w", addr, err)
	}
	var c *smtp.Client
	if cfg.TLS == TLSStartTLS {
		if c, err = smtp.NewClientStartTLS(conn, tc); err != nil {
			return fmt.Errorf("STARTTLS with the relay %s: %w", addr, err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout, c.SubmissionTimeout = cfg.Timeout, cfg.Timeout
	if err := c.Hello(cfg.HeloName); err != nil {
		c.Close()
		return fmt.Errorf("EHLO to the relay %s: %w", addr, err)
	}
	if cfg.Username != "" {
		pw, err := cfg.Password()
		if err != nil {
			c.Close()
			return err
		}
		if err := c.Auth(sasl.NewPlainClient("", cfg.Username, pw)); err != nil {
			c.Close()
			return fmt.Errorf("AUTH PLAIN as %s at the relay %s: %w", cfg.Username, addr, err)
		}
	}
	r.c = c
	return nil
}

// close ends the connection (politely when it still works).
func (r *relay) close() {
	if r.c == nil {
		return
	}
	r.c.Quit()
	r.c.Close()
	r.c = nil
}

// drop ends a connection that failed.
func (r *relay) drop() {
	if r.c != nil {
		r.c.Close()
		r.c = nil
	}
}

// send hands one message to the relay and says what became of it, with the
// relay's answer.
func (r *relay) send(from, to string, msg []byte) (verdict, string) {
	if r.c == nil {
		if err := r.dial(); err != nil {
			// Not this recipient's fault (the relay is down, the
			// password wrong): try again later whatever the code.
			return unreachable, answer(err)
		}
	}
	c := r.c
	fail := func(err error) (verdict, string) {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			if c.Reset() != nil {
				r.drop()
			}
		} else {
			r.drop()
		}
		return classify(err), answer(err)
	}
	if err := c.Mail(from, nil); err != nil {
		return fail(err)
	}
	if err := c.Rcpt(to, nil); err != nil {
		return fail(err)
	}
	w, err := c.Data()
	if err != nil {
		return fail(err)
	}
	if _, err := w.Write(msg); err != nil {
		// The final dot was not sent: the relay cannot have accepted it.
		r.drop()
		return temporary, answer(err)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return classify(err), answer(err)
		}
		// The dot may have reached the relay and its 250 been lost.
		r.drop()
		return ambiguous, answer(err)
	}
	return delivered, "250 " + resp.StatusText
}

// classify: 5xx is permanent, anything else (4xx, a network error) is
// temporary.
func classify(err error) verdict {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 {
		return permanent
	}
	return temporary
}

// answer renders an error as the relay said it: "550 5.1.1 No such user".
func answer(err error) string {
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		return err.Error()
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%03d", se.Code)
	if ec := se.EnhancedCode; ec[0] > 0 {
		fmt.Fprintf(&b, " %d.%d.%d", ec[0], ec[1], ec[2])
	}
	if se.Message != "" {
		b.WriteString(" " + se.Message)
	}
	return b.String()
}
