package tests

// The kill -9 test of campaign sending: the daemon sends a campaign through
// a relay the test runs, is SIGKILLed mid-send (once at the worst moment:
// the relay has the message and the daemon has not read its 250), restarts,
// and finishes. No recipient may get two copies, and every recipient the
// relay got must be logged on its contact's timeline exactly once.

import (
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/mail"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// captureRelay is an SMTP relay on loopback that keeps every message.
type captureRelay struct {
	addr   *net.TCPAddr
	mu     sync.Mutex
	got    map[string][]string // recipient → Message-IDs received
	total  int
	onData func(total int) // called with the relay's lock held, before the 250
}

func newCaptureRelay(t *testing.T) *captureRelay {
	t.Helper()
	r := &captureRelay{got: map[string][]string{}}
	srv := smtp.NewServer(r)
	srv.Domain = "relay.test"
	srv.ErrorLog = log.New(io.Discard, "", 0) // the kills reset connections
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().(*net.TCPAddr)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return r
}

func (r *captureRelay) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &captureSession{r: r}, nil
}

func (r *captureRelay) snapshot() (map[string][]string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]string, len(r.got))
	for k, v := range r.got {
		out[k] = append([]string(nil), v...)
	}
	return out, r.total
}

type captureSession struct {
	r  *captureRelay
	to string
}

func (s *captureSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *captureSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}
func (s *captureSession) Reset()        { s.to = "" }
func (s *captureSession) Logout() error { return nil }

func (s *captureSession) Data(rd io.Reader) error {
	m, err := mail.ReadMessage(rd)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, m.Body)
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got[s.to] = append(r.got[s.to], m.Header.Get("Message-Id"))
	r.total++
	if r.onData != nil {
		r.onData(r.total)
	}
	return nil
}

type sendState struct {
	Send struct {
		Status string         `json:"status"`
		Counts map[string]int `json:"counts"`
	} `json:"send"`
}

type sendRecipient struct {
	Address   string `json:"address"`
	ContactID uint64 `json:"contact_id"`
	State     string `json:"state"`
}

func TestCampaignSendSurvivesKill(t *testing.T) {
	t.Parallel()
	relay := newCaptureRelay(t)
	in := newInstall(t, adminPassword)
	in.vars["TOUCHPOINT_LOG_LEVEL"] = "info"
	in.vars["TOUCHPOINT_RELAY_HOST"] = "127.0.0.1"
	in.vars["TOUCHPOINT_RELAY_PORT"] = strconv.Itoa(relay.addr.Port)
	in.vars["TOUCHPOINT_RELAY_TLS"] = "none"
	in.vars["TOUCHPOINT_RELAY_FROM"] = "office@example.org"
	in.vars["TOUCHPOINT_RELAY_RATE_PER_SECOND"] = "50"
	d := in.start(t)
	tok := in.token(t, "--name", "campaigns", "--role", "admin")
	c := d.as(t, tok)
	const n = 120
	contactOf := map[string]uint64{}
	for i := range n {
		addr := fmt.Sprintf("person%03d@example.net", i)
		contactOf[addr] = c.createContact(map[string]any{"name": fmt.Sprintf("Person %03d", i), "emails": []string{addr}}).ID
	}

	// First kill: inside the relay's DATA, the message kept, the 250 not
	// yet sent.
	firstKill := 10 + rand.N(30)
	killed := make(chan struct{})
	relay.mu.Lock()
	relay.onData = func(total int) {
		if total == firstKill {
			d.cmd.Process.Kill()
			close(killed)
		}
	}
	relay.mu.Unlock()
	var created struct {
		Campaign struct {
			ID uint64 `json:"id"`
		} `json:"campaign"`
	}
	c.call("POST", "/api/v1/sends", map[string]any{
		"subject": "Shavuot classes", "body": "Shalom {{first_name}}", "filter": "email:example.net",
	}, http.StatusCreated, &created)
	id := created.Campaign.ID
	select {
	case <-killed:
	case <-time.After(30 * time.Second):
		t.Fatal("the relay did not get enough messages for the first kill within 30s")
	}
	d.kill()
	relay.mu.Lock()
	relay.onData = nil
	relay.mu.Unlock()
	_, atFirst := relay.snapshot()
	t.Logf("first SIGKILL inside DATA of message %d", atFirst)

	// Second kill: at a random moment of the resumed send.
	d = in.start(t)
	time.Sleep(100*time.Millisecond + rand.N(500*time.Millisecond))
	d.kill()
	_, atSecond := relay.snapshot()
	t.Logf("second SIGKILL with %d messages at the relay", atSecond)

	// Restart and let it finish.
	d = in.start(t)
	c = d.as(t, tok)
	var st sendState
	deadline := time.Now().Add(60 * time.Second)
	for {
		c.call("GET", fmt.Sprintf("/api/v1/sends/%d", id), nil, http.StatusOK, &st)
		if st.Send.Status == "done" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the send is still %s after 60s: %v", st.Send.Status, st.Send.Counts)
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, total := relay.snapshot()
	t.Logf("done: %v; the relay got %d messages", st.Send.Counts, total)

	// Nobody got two copies.
	for addr, ids := range got {
		if len(ids) != 1 {
			t.Errorf("%s got %d copies: %v", addr, len(ids), ids)
		}
	}
	recipients, _ := pages[sendRecipient](c, fmt.Sprintf("/api/v1/sends/%d/recipients?limit=50", id))
	if len(recipients) != n {
		t.Fatalf("the send lists %d recipients, want %d", len(recipients), n)
	}
	logged := map[uint64]int{}
	items, _ := pages[mailInteraction](c, "/api/v1/interactions?source=campaign&limit=500")
	for _, ia := range items {
		for _, cid := range ia.ContactIDs {
			logged[cid]++
		}
	}
	unknown := 0
	for _, r := range recipients {
		_, received := got[r.Address]
		switch r.State {
		case "sent":
			if !received {
				t.Errorf("%s is sent but the relay never got it", r.Address)
			}
		case "unknown":
			unknown++
		default:
			t.Errorf("%s ended %s, want sent (or unknown after a kill)", r.Address, r.State)
		}
		// Sent and unknown are logged; everything the relay got is one of them.
		if logged[contactOf[r.Address]] != 1 {
			t.Errorf("%s (received: %v, state %s) is logged %d times, want once", r.Address, received, r.State, logged[contactOf[r.Address]])
		}
	}
	if unknown == 0 || unknown > 2 {
		t.Errorf("%d recipients unknown, want 1 or 2 (one in flight per kill)", unknown)
	}
}
