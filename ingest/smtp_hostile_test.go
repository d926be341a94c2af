package ingest

import (
	"bufio"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"touchpoint/store"
)

// rawSession talks SMTP byte for byte, for what a well-behaved client
// library refuses to send.
type rawSession struct {
	t    *testing.T
	conn net.Conn
	r    *textproto.Reader
}

func dialRaw(t *testing.T, addr string) *rawSession {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	s := &rawSession{t: t, conn: conn, r: textproto.NewReader(bufio.NewReader(conn))}
	s.expect(220)
	return s
}

func (s *rawSession) write(data string) {
	s.t.Helper()
	if _, err := s.conn.Write([]byte(data)); err != nil {
		s.t.Fatal(err)
	}
}

// expect reads one reply and fails unless its code is code.
func (s *rawSession) expect(code int) string {
	s.t.Helper()
	got, msg, err := s.r.ReadResponse(0)
	if err != nil && got == 0 {
		s.t.Fatalf("want %d, read: %v", code, err)
	}
	if got != code {
		s.t.Fatalf("got %d %s, want %d", got, msg, code)
	}
	return msg
}

// TestSMTPBareLFDoesNotEndData: "\n.\n" and its mixes with CR inside DATA
// are message text, never the end of the message: a smuggled second
// message (SMTP smuggling, CVE-2023-51766 and kin) is not accepted.
func TestSMTPBareLFDoesNotEndData(t *testing.T) {
	t.Parallel()
	e := newSMTPEnv(t, nil)
	for i, sep := range []string{"\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r\n", "\r\n.\r"} {
		s := dialRaw(t, e.addr)
		s.write("EHLO test\r\n")
		s.expect(250)
		// Pipelined, as a smuggler would.
		s.write("MAIL FROM:<sarah@org.org>\r\nRCPT TO:<log@org.org>\r\nDATA\r\n")
		s.expect(250)
		s.expect(250)
		s.expect(354)
		smuggled := fmt.Sprintf("MAIL FROM:<evil@attacker.example>\r\nRCPT TO:<log@org.org>\r\nDATA\r\n"+
			"From: Sarah Cohen <sarah@org.org>\r\nTo: yossi@example.com\r\nSubject: smuggled %d\r\nMessage-ID: <smuggled-%d@x>\r\n\r\nforged\r\n", i, i)
		s.write(fmt.Sprintf("From: Sarah Cohen <sarah@org.org>\r\nTo: Yossi <yossi@example.com>\r\nSubject: carrier %d\r\n"+
			"Message-ID: <carrier-%d@org.org>\r\n\r\nfirst part%s%s", i, i, sep, smuggled))
		s.write(".\r\n")
		s.expect(250)
		s.write("QUIT\r\n")
		s.expect(221)
	}
	e.settle()
	items, _, err := e.s.ListInteractions(store.Filter{}, 50, "")
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, ia := range items {
		titles = append(titles, ia.Title)
		if strings.HasPrefix(ia.Title, "smuggled") {
			t.Errorf("a smuggled message was logged: %q", ia.Title)
		}
	}
	if queue, _, _ := e.s.ListUnmatched(store.UnmatchedFilter{}, 50, ""); len(queue) != 0 {
		t.Errorf("%d messages in the unmatched queue, want 0", len(queue))
	}
	if len(items) != 5 {
		t.Fatalf("logged %d messages (%q), want the 5 carriers", len(items), titles)
	}
	for _, ia := range items {
		if !strings.Contains(ia.Details, "forged") {
			t.Errorf("%q lost the smuggled text from its body: %q", ia.Title, ia.Details)
		}
	}
}

// TestSMTPTenThousandRecipients: a client sending 10,000 RCPTs gets the
// first MaxRecipients accepted and a temporary 452 for every other one;
// the session stays usable and the message is logged once.
func TestSMTPTenThousandRecipients(t *testing.T) {
	t.Parallel()
	e := newSMTPEnv(t, nil)
	s := dialRaw(t, e.addr)
	s.write("EHLO test\r\nMAIL FROM:<sarah@org.org>\r\n")
	s.expect(250)
	s.expect(250)
	const n = 10_000
	var batch strings.Builder
	for range n {
		batch.WriteString("RCPT TO:<log@org.org>\r\n")
	}
	// Pipelined in one write; replies are read as they come, so neither
	// side blocks on a full socket buffer.
	go s.conn.Write([]byte(batch.String()))
	accepted, refused := 0, 0
	for range n {
		code, msg, err := s.r.ReadResponse(0)
		switch {
		case err == nil && code == 250:
			accepted++
		case code == 452:
			refused++
		default:
			t.Fatalf("RCPT %d: %d %s %v", accepted+refused, code, msg, err)
		}
	}
	if accepted != 5 || refused != n-5 {
		t.Fatalf("accepted %d, refused %d; want 5 and %d", accepted, refused, n-5)
	}
	s.write("DATA\r\n")
	s.expect(354)
	s.write(strings.ReplaceAll(bccMail, "\n.", "\n..") + ".\r\n")
	s.expect(250)
	e.settle()
	if n, err := e.s.CountInteractions(); err != nil || n != 1 {
		t.Fatalf("%d interactions (%v), want 1", n, err)
	}
}
