package tests

// Helpers for the mail tests (swaks_test.go, messages_test.go,
// crash_test.go): an installation with the SMTP listener on, a raw message
// builder, an SMTP client with deadlines, and the API's view of email
// interactions and unmatched mail.

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// The organisation every mail test plays: Sarah is the first admin (and so
// a user whose mail identifies her), org.org is internal, log@org.org is
// the system address staff BCC.
const (
	sarahEmail    = "sarah@org.org"
	sarahName     = "Sarah Cohen"
	systemAddress = "log@org.org"
)

// newMailInstall is an installation with the SMTP listener on a port the
// kernel picks (see smtpAddr), Sarah as the first admin, log@org.org as the
// system address and org.org as the internal domain.
func newMailInstall(t *testing.T) *install {
	t.Helper()
	in := newInstall(t, adminPassword)
	in.vars["TOUCHPOINT_ADMIN_EMAIL"] = sarahEmail
	in.vars["TOUCHPOINT_ADMIN_NAME"] = sarahName
	in.vars["TOUCHPOINT_SYSTEM_ADDRESS"] = systemAddress
	in.vars["TOUCHPOINT_INTERNAL_DOMAINS"] = "org.org"
	in.vars["TOUCHPOINT_SMTP_ADDR"] = "127.0.0.1:0"
	return in
}

var smtpStarted = regexp.MustCompile(`msg="touchpoint started".* smtp=(\S+)`)

// smtpAddr is the address the daemon's SMTP listener is bound to, from its
// "touchpoint started" log line (the listener is bound before /healthz
// answers, so it accepts connections already).
func (d *daemon) smtpAddr(t *testing.T) string {
	t.Helper()
	out := d.waitStderr(t, `msg="touchpoint started"`)
	m := smtpStarted.FindStringSubmatch(out)
	if m == nil || m[1] == "off" {
		t.Fatalf("no SMTP address in the daemon's start line:\n%s", out)
	}
	return m[1]
}

// kill SIGKILLs the daemon and reaps it; the cleanup then has nothing to stop.
func (d *daemon) kill() {
	d.stopped = true
	d.cmd.Process.Kill()
	<-d.exited
	d.hc.CloseIdleConnections()
}

// message is a mail message as a test writes it.
type message struct {
	from, to, cc, subject, id string
	headers                   []string // more "Name: value" lines
	body                      string
}

// bytes renders the message with CRLF line ends, as SMTP carries it.
// Empty fields are left out (an empty id: no Message-ID header).
func (m message) bytes() []byte {
	var b strings.Builder
	hdr := func(name, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", name, v)
		}
	}
	hdr("From", m.from)
	hdr("To", m.to)
	hdr("Cc", m.cc)
	hdr("Subject", m.subject)
	hdr("Date", "Mon, 04 May 2026 10:00:00 +0000")
	if m.id != "" {
		hdr("Message-ID", "<"+m.id+">")
	}
	for _, h := range m.headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	body := strings.ReplaceAll(m.body, "\r\n", "\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	if !strings.HasSuffix(body, "\n") {
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

// sendSMTP delivers raw to addr in one session of its own (MAIL FROM from,
// RCPT TO each of rcpts) and returns nil only when DATA got a 250. onAck,
// when not nil, runs as soon as the 250 is read (before QUIT).
func sendSMTP(addr, from string, rcpts []string, raw []byte, onAck func()) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if err := c.Mail(from, nil); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("DATA: write: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end of DATA: %w", err)
	}
	if onAck != nil {
		onAck()
	}
	c.Quit() // the message is acknowledged; QUIT may fail, it does not matter
	return nil
}

// emailInfo is the email part of an interaction.
type emailInfo struct {
	MessageID   string   `json:"message_id"`
	From        string   `json:"from"`
	To          []string `json:"to"`
	Cc          []string `json:"cc"`
	Subject     string   `json:"subject"`
	Direction   string   `json:"direction"`
	Attachments []struct {
		Name        string `json:"name"`
		ContentType string `json:"content_type"`
		Size        int64  `json:"size"`
	} `json:"attachments"`
}

// mailInteraction is an interaction with its email part.
type mailInteraction struct {
	interaction
	Email *emailInfo `json:"email"`
}

// unmatchedItem is an entry of GET /unmatched.
type unmatchedItem struct {
	ID            uint64   `json:"id"`
	From          string   `json:"from"`
	To            []string `json:"to"`
	Cc            []string `json:"cc"`
	Subject       string   `json:"subject"`
	MessageID     string   `json:"message_id"`
	Reason        string   `json:"reason"`
	Status        string   `json:"status"`
	Unknown       []string `json:"unknown_addresses"`
	InteractionID uint64   `json:"interaction_id"`
}

// ingestAnswer is the body of POST /messages.
type ingestAnswer struct {
	Status        string `json:"status"`
	InteractionID uint64 `json:"interaction_id"`
	UnmatchedID   uint64 `json:"unmatched_id"`
}

// postMessage POSTs raw to /api/v1/messages and wants 202.
func (c *client) postMessage(raw []byte) ingestAnswer {
	c.t.Helper()
	r := c.raw("POST", "/api/v1/messages", "message/rfc822", raw)
	if r.status != http.StatusAccepted {
		c.t.Fatalf("POST /api/v1/messages = %d %s, want 202", r.status, r.body)
	}
	var a ingestAnswer
	if err := json.Unmarshal(r.body, &a); err != nil {
		c.t.Fatalf("POST /api/v1/messages: decode %s: %v", r.body, err)
	}
	return a
}

// timeline is every interaction on a contact's timeline, newest first.
func (c *client) timeline(contactID uint64) []mailInteraction {
	c.t.Helper()
	items, _ := pages[mailInteraction](c, fmt.Sprintf("/api/v1/contacts/%d/interactions?limit=100", contactID))
	return items
}

// withMessageID keeps the interactions of one message.
func withMessageID(items []mailInteraction, id string) []mailInteraction {
	var out []mailInteraction
	for _, ia := range items {
		if ia.Email != nil && ia.Email.MessageID == id {
			out = append(out, ia)
		}
	}
	return out
}
