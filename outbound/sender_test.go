package outbound

import (
	"bytes"
	"context"
	"io"
	"mime/quotedprintable"
	"net/mail"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"touchpoint/outbound/relaytest"
	"touchpoint/store"
)

type fixture struct {
	t       *testing.T
	st      *store.Store
	path    string
	admin   *store.User
	org     *store.Contact
	members []*store.Contact
}

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(path, store.Options{NoSync: true, PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// newFixture: an admin, the organisation Acme with three people, and one
// person elsewhere.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, path: filepath.Join(t.TempDir(), "t.db")}
	f.st = openStore(t, f.path)
	t.Cleanup(func() {
		if err := f.st.Check(); err != nil {
			t.Errorf("store Check: %v", err)
		}
		f.st.Close()
	})
	ctx := context.Background()
	f.admin = &store.User{Name: "Ada Admin", Emails: []string{"ada@org.org"}, Role: store.RoleAdmin}
	if err := f.st.CreateUser(ctx, f.admin, "password123"); err != nil {
		t.Fatal(err)
	}
	f.org = f.contact(store.Contact{Kind: store.KindOrganization, Name: "Acme", Domains: []string{"acme.com"}})
	for _, c := range []store.Contact{
		{Name: "Yossi Levi", Emails: []string{"yossi@acme.com"}, OrganizationID: f.org.ID},
		{Name: "Rivka Cohen", Emails: []string{"rivka@acme.com", "rc@gmail.com"}, OrganizationID: f.org.ID},
		{Name: "Dana Mizrahi", Emails: []string{"dana@acme.com"}, OrganizationID: f.org.ID},
	} {
		f.members = append(f.members, f.contact(c))
	}
	f.contact(store.Contact{Name: "Stranger Danger", Emails: []string{"stranger@example.net"}})
	return f
}

func (f *fixture) contact(c store.Contact) *store.Contact {
	f.t.Helper()
	if err := f.st.CreateContact(context.Background(), &c); err != nil {
		f.t.Fatal(err)
	}
	return &c
}

func (f *fixture) compose(filter, body string) *store.Campaign {
	f.t.Helper()
	camp, _, err := f.st.CreateSend(context.Background(), store.SendInput{
		Subject: "Shavuot classes", Body: body, Filter: filter, CreatedBy: f.admin.ID,
	})
	if err != nil {
		f.t.Fatalf("CreateSend(%q): %v", filter, err)
	}
	return camp
}

func relayConfig(r *relaytest.Relay) Config {
	return Config{
		Host: r.Host, Port: r.Port, TLS: TLSNone, From: "office@org.org", FromName: "The Office",
		RatePerSecond: 1000, MaxAttempts: 3, RetryDelay: time.Millisecond, Timeout: 5 * time.Second,
	}
}

// drain runs the sender until nothing is due or waiting.
func drain(t *testing.T, s *Sender) {
	t.Helper()
	for range 20 {
		next, err := s.RunOnce(context.Background())
		if err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
		if next.IsZero() {
			return
		}
		time.Sleep(time.Until(next))
	}
	t.Fatal("the sender still has work after 20 rounds")
}

func decodeBody(t *testing.T, raw []byte) (*mail.Message, string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("relay got an unreadable message: %v\n%s", err, raw)
	}
	b, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	return m, string(b)
}

func campaignInteractions(t *testing.T, st *store.Store, contact store.ID) []*store.Interaction {
	t.Helper()
	items, _, err := st.ListInteractions(store.Filter{ContactIDs: []store.ID{contact}, Sources: []string{store.SourceCampaign}}, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func TestSendOverStartTLSWithAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	relay := relaytest.New(t, relaytest.Options{TLS: true, User: "office", Password: "s3cret"})
	camp := f.compose(`org:"Acme"`, "Shalom {{first_name}},\nclasses start Sunday.\n-- {{ NAME }} <{{email}}>\n")
	cfg := relayConfig(relay)
	cfg.TLS, cfg.TLSConfig, cfg.Username = TLSStartTLS, relay.ClientTLS, "office"
	cfg.Password = func() (string, error) { return "s3cret", nil }
	s := New(cfg, f.st, nil)
	if ok, why := s.Available(); !ok {
		t.Fatalf("Available() = false, %q", why)
	}
	drain(t, s)

	msgs := relay.Messages()
	if len(msgs) != 3 {
		t.Fatalf("relay got %d messages, want 3 (the people of Acme)", len(msgs))
	}
	byTo := map[string]relaytest.Message{}
	for _, m := range msgs {
		if !m.TLS || m.Auth != "office" || m.From != "office@org.org" {
			t.Errorf("message to %s: TLS %v, auth %q, from %q; want STARTTLS, office, office@org.org", m.To, m.TLS, m.Auth, m.From)
		}
		byTo[m.To] = m
	}
	for _, c := range f.members {
		m, ok := byTo[c.Emails[0]]
		if !ok {
			t.Errorf("%s (%s) got nothing", c.Name, c.Emails[0])
			continue
		}
		hdr, body := decodeBody(t, m.Data)
		first := strings.Fields(c.Name)[0]
		want := "Shalom " + first + ",\r\nclasses start Sunday.\r\n-- " + c.Name + " <" + c.Emails[0] + ">\r\n"
		if body != want {
			t.Errorf("body to %s = %q, want %q", c.Name, body, want)
		}
		wantID := "<" + MessageID(camp.ID, c.Emails[0], "org.org") + ">"
		if got := hdr.Header.Get("Message-Id"); got != wantID {
			t.Errorf("Message-ID to %s = %q, want %q", c.Name, got, wantID)
		}
		if got := hdr.Header.Get("Subject"); got != "Shavuot classes" {
			t.Errorf("Subject = %q", got)
		}
		ias := campaignInteractions(t, f.st, c.ID)
		if len(ias) != 1 || ias[0].Title != "Shavuot classes" || ias[0].CampaignID != camp.ID || ias[0].Email == nil ||
			"<"+ias[0].Email.MessageID+">" != wantID {
			t.Errorf("%s's campaign interactions = %+v, want one titled with the subject, the campaign and the Message-ID", c.Name, ias)
		}
	}
	cs, err := f.st.SendOf(camp.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cs.Status != store.SendDone || cs.Counts.Sent != 3 || cs.Counts.Total() != 3 {
		t.Errorf("send = %s %+v, want done with 3 sent", cs.Status, cs.Counts)
	}
	got, _ := f.st.GetCampaign(camp.ID)
	if got.Logged != 3 {
		t.Errorf("campaign logged = %d, want 3", got.Logged)
	}
	// Nothing is sent twice.
	drain(t, s)
	if n := len(relay.Messages()); n != 3 {
		t.Errorf("after a second run the relay has %d messages, want 3", n)
	}
}

func TestWrongPasswordIsRetriedNotFailed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	relay := relaytest.New(t, relaytest.Options{User: "office", Password: "right"})
	camp := f.compose(`name:yossi`, "Hi {{name}}")
	cfg := relayConfig(relay)
	cfg.Username, cfg.MaxAttempts, cfg.RetryDelay = "office", 2, time.Hour
	cfg.Password = func() (string, error) { return "wrong", nil }
	s := New(cfg, f.st, nil)
	if _, err := s.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	rs, _, _ := f.st.SendRecipients(camp.ID, "", "", 10)
	if len(rs) != 1 || rs[0].State != store.RcptPending || !strings.Contains(rs[0].Answer, "535") {
		t.Fatalf("recipients = %+v, want one pending with the 535 answer", rs)
	}
}

func TestTemporaryFailureRetriedThenSent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	relay := relaytest.New(t, relaytest.Options{})
	relay.Script("yossi@acme.com", relaytest.Err(451, smtp.EnhancedCode{4, 3, 0}, "try later"))
	camp := f.compose(`name:yossi`, "Hi {{name}}")
	cfg := relayConfig(relay)
	var mu sync.Mutex
	var observed []string
	cfg.Observe = func(state string) {
		mu.Lock()
		observed = append(observed, state)
		mu.Unlock()
	}
	s := New(cfg, f.st, nil)
	drain(t, s)
	mu.Lock()
	if got := strings.Join(observed, " "); got != "pending sent" {
		t.Errorf("observed attempts %q, want \"pending sent\"", got)
	}
	mu.Unlock()
	if n := relay.Attempts("yossi@acme.com"); n != 2 {
		t.Errorf("relay saw %d attempts, want 2", n)
	}
	if n := len(relay.Messages()); n != 1 {
		t.Errorf("relay accepted %d messages, want 1", n)
	}
	rs, _, _ := f.st.SendRecipients(camp.ID, "", "", 10)
	if len(rs) != 1 || rs[0].State != store.RcptSent || rs[0].Attempts != 2 || rs[0].InteractionID == 0 {
		t.Errorf("recipients = %+v, want one sent after 2 attempts, logged", rs)
	}
}

func TestPermanentFailureListedWithAnswer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	relay := relaytest.New(t, relaytest.Options{})
	relay.Script("dana@acme.com", relaytest.Err(550, smtp.EnhancedCode{5, 1, 1}, "no such mailbox"))
	for range 5 {
		relay.Script("rivka@acme.com", relaytest.Err(452, smtp.EnhancedCode{4, 2, 2}, "mailbox full"))
	}
	camp := f.compose(`org:acme`, "Hi {{name}}")
	s := New(relayConfig(relay), f.st, nil)
	drain(t, s)
	cs, _ := f.st.SendOf(camp.ID)
	if cs.Status != store.SendDone || cs.Counts.Sent != 1 || cs.Counts.Failed != 2 {
		t.Fatalf("send = %s %+v, want done, 1 sent, 2 failed", cs.Status, cs.Counts)
	}
	failed, _, _ := f.st.SendRecipients(camp.ID, store.RcptFailed, "", 10)
	want := map[string]string{
		"dana@acme.com":  "550 5.1.1 no such mailbox",
		"rivka@acme.com": "gave up after 3 attempts: 452 4.2.2 mailbox full",
	}
	for _, r := range failed {
		if r.Answer != want[r.Address] {
			t.Errorf("%s failed with %q, want %q", r.Address, r.Answer, want[r.Address])
		}
		if len(campaignInteractions(t, f.st, r.ContactID)) != 0 {
			t.Errorf("failed recipient %s is logged on the timeline", r.Address)
		}
	}
	if relay.Attempts("dana@acme.com") != 1 {
		t.Errorf("a 550 was retried: %d attempts", relay.Attempts("dana@acme.com"))
	}
	if relay.Attempts("rivka@acme.com") != 3 {
		t.Errorf("rivka: %d attempts, want 3 (max_attempts)", relay.Attempts("rivka@acme.com"))
	}
}

// TestResumeAfterRestart: a daemon that stopped with one recipient in
// "sending" and others pending resumes without sending that one again.
func TestResumeAfterRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	relay := relaytest.New(t, relaytest.Options{})
	camp := f.compose(`org:acme`, "Hi {{name}}")
	// The first daemon: begins yossi's attempt, then "crashes".
	if _, err := f.st.BeginAttempt(context.Background(), camp.ID, "yossi@acme.com"); err != nil {
		t.Fatal(err)
	}
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	f.st = openStore(t, f.path)
	s := New(relayConfig(relay), f.st, nil)
	if err := s.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	drain(t, s)
	if relay.Attempts("yossi@acme.com") != 0 {
		t.Errorf("the recipient in flight at the crash was sent again")
	}
	if n := len(relay.Messages()); n != 2 {
		t.Errorf("relay got %d messages, want the 2 still pending", n)
	}
	cs, _ := f.st.SendOf(camp.ID)
	if cs.Status != store.SendDone || cs.Counts.Sent != 2 || cs.Counts.Unknown != 1 {
		t.Errorf("send = %s %+v, want done, 2 sent, 1 unknown", cs.Status, cs.Counts)
	}
	for _, c := range f.members {
		if n := len(campaignInteractions(t, f.st, c.ID)); n != 1 {
			t.Errorf("%s has %d campaign interactions, want 1 (sent and unknown are logged)", c.Name, n)
		}
	}
	unknown, _, _ := f.st.SendRecipients(camp.ID, store.RcptUnknown, "", 10)
	if len(unknown) != 1 || unknown[0].Answer != store.UnknownAnswer {
		t.Errorf("unknown recipients = %+v", unknown)
	}
}

// fakeClock advances only when the limiter sleeps.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }
func (c *fakeClock) sleep(_ context.Context, d time.Duration) error {
	c.t = c.t.Add(d)
	return nil
}

func TestLimiterCountsPerSecond(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)}
	const rate, n = 5, 23
	l := newLimiter(rate, clock.now, clock.sleep)
	var at []time.Time
	for range n {
		if err := l.wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		at = append(at, clock.now())
	}
	for i := range at {
		inWindow := 0
		for j := i; j < len(at) && at[j].Sub(at[i]) < time.Second; j++ {
			inWindow++
		}
		if inWindow > rate {
			t.Fatalf("%d messages within one second from message %d, want at most %d", inWindow, i, rate)
		}
	}
}

func TestSenderIsRateLimited(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	relay := relaytest.New(t, relaytest.Options{})
	f.compose(`org:acme`, "Hi {{name}}")
	f.compose(`email:example.net`, "Hi {{name}}")
	cfg := relayConfig(relay)
	cfg.RatePerSecond = 2
	s := New(cfg, f.st, nil)
	clock := &fakeClock{t: time.Now()}
	start := clock.t
	s.now, s.sleep = clock.now, clock.sleep
	if _, err := s.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(relay.Messages()); n != 4 {
		t.Fatalf("relay got %d messages, want 4", n)
	}
	// 4 messages at 2/s: the limiter made the sender wait 3 half-seconds.
	if waited := clock.t.Sub(start); waited < 1500*time.Millisecond {
		t.Errorf("the limiter waited %v in all for 4 messages at 2/s, want at least 1.5s", waited)
	}
}

func TestNoRelayConfigured(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	camp := f.compose(`org:acme`, "Hi")
	s := New(Config{Unconfigured: "no relay: set relay.host"}, f.st, nil)
	if ok, why := s.Available(); ok || why != "no relay: set relay.host" {
		t.Errorf("Available() = %v, %q", ok, why)
	}
	if _, err := s.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	cs, _ := f.st.SendOf(camp.ID)
	if cs.Counts.Pending != 3 {
		t.Errorf("without a relay: %+v, want all 3 still pending", cs.Counts)
	}
}

// TestRelayDownNeverFailsRecipients: a relay that cannot be reached (here
// a wrong password) is not the recipients' fault: however many runs fail,
// they stay pending with the relay's answer, never given up on.
func TestRelayDownNeverFailsRecipients(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	relay := relaytest.New(t, relaytest.Options{User: "office", Password: "right"})
	camp := f.compose(`name:yossi`, "Hi {{name}}")
	cfg := relayConfig(relay)
	cfg.Username, cfg.MaxAttempts, cfg.RetryDelay = "office", 1, 0
	cfg.Password = func() (string, error) { return "wrong", nil }
	s := New(cfg, f.st, nil)
	for range 3 {
		if _, err := s.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	rs, _, _ := f.st.SendRecipients(camp.ID, "", "", 10)
	if len(rs) != 1 || rs[0].State != store.RcptPending || !strings.Contains(rs[0].Answer, "535") {
		t.Fatalf("recipients = %+v, want one still pending with the 535 answer", rs)
	}
}
