package tests

// Metrics, health and logs as an operator sees them: /metrics scraped from
// a running daemon after real traffic, /healthz turning "degraded" on low
// disk and on a mailbox that cannot be polled, and the ids that tie log
// lines to an SMTP session or an HTTP request.

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// scrape reads /metrics into "name{labels}" → value (labels as the
// exposition writes them: sorted by name).
func scrape(t *testing.T, d *daemon) map[string]float64 {
	t.Helper()
	r := d.as(t, "").do("GET", "/metrics", nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics = %d %.200s", r.status, r.body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(r.body)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("GET /metrics: bad line %q", line)
		}
		out[line[:i]] = v
	}
	return out
}

// wantMetric checks one series' value.
func wantMetric(t *testing.T, m map[string]float64, series string, want float64) {
	t.Helper()
	got, ok := m[series]
	switch {
	case !ok:
		t.Errorf("/metrics has no %s", series)
	case got != want:
		t.Errorf("/metrics %s = %v, want %v", series, got, want)
	}
}

type health struct {
	Status  string   `json:"status"`
	Reasons []string `json:"reasons"`
}

// waitHealth polls /healthz (always 200) until its status is want.
func waitHealth(t *testing.T, d *daemon, want string) health {
	t.Helper()
	c := d.as(t, "")
	deadline := time.Now().Add(10 * time.Second)
	for {
		var h health
		c.call("GET", "/healthz", nil, http.StatusOK, &h)
		if h.Status == want {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz still %+v after 10s, want status %q", h, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMetrics sends mail by SMTP and the API, reports a campaign, and
// scrapes the counts back from /metrics.
func TestMetrics(t *testing.T) {
	t.Parallel()
	in := newMailInstall(t)
	d := in.start(t)
	tok := in.token(t, "--name", "metrics", "--role", "admin")
	c := d.as(t, tok)
	c.createContact(map[string]any{"name": "Yossi Levi", "emails": []string{"yossi@example.net"}})
	addr := d.smtpAddr(t)

	// Before any traffic, every series an alert would watch is there at 0.
	m := scrape(t, d)
	wantMetric(t, m, `touchpoint_messages_received_total{source="imap"}`, 0)
	wantMetric(t, m, `touchpoint_messages_total{source="smtp",status="failed"}`, 0)
	wantMetric(t, m, `touchpoint_campaign_sends_total{via="report"}`, 0)

	logged := toYossi("metrics-1@org.org", "Logged")
	unmatched := message{from: "stranger@example.com", to: systemAddress, subject: "Who?", id: "metrics-2@example.com", body: "Hello"}
	for _, raw := range [][]byte{logged.bytes(), unmatched.bytes(), logged.bytes()} {
		if err := sendSMTP(addr, sarahEmail, []string{systemAddress}, raw, nil); err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	c.postMessage(toYossi("metrics-3@org.org", "By the API").bytes())

	var camp struct {
		ID uint64 `json:"id"`
	}
	c.call("POST", "/api/v1/campaigns", map[string]any{
		"external_id": "spring-1", "name": "Spring", "subject": "Spring news", "sent_at": "2026-05-01T09:00:00Z",
		"recipients": []string{"yossi@example.net", "nobody@example.com"},
	}, http.StatusCreated, &camp)
	// Reported again: no second send.
	c.call("POST", "/api/v1/campaigns", map[string]any{
		"external_id": "spring-1", "name": "Spring", "subject": "Spring news", "sent_at": "2026-05-01T09:00:00Z",
		"recipients": []string{"yossi@example.net"},
	}, http.StatusOK, nil)

	// An SMTP session held open shows in the gauge.
	open, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if err := open.Hello("open.test"); err != nil {
		t.Fatal(err)
	}

	m = d.settle(t)
	wantMetric(t, m, `touchpoint_journal_backlog`, 0)
	wantMetric(t, m, `touchpoint_messages_received_total{source="smtp"}`, 3)
	wantMetric(t, m, `touchpoint_messages_total{source="smtp",status="logged"}`, 1)
	wantMetric(t, m, `touchpoint_messages_total{source="smtp",status="unmatched"}`, 1)
	wantMetric(t, m, `touchpoint_messages_total{source="smtp",status="duplicate"}`, 1)
	wantMetric(t, m, `touchpoint_messages_received_total{source="api"}`, 1)
	wantMetric(t, m, `touchpoint_messages_total{source="api",status="logged"}`, 1)
	wantMetric(t, m, `touchpoint_ingest_duration_seconds_count{source="smtp"}`, 3)
	wantMetric(t, m, `touchpoint_smtp_connections_total{event="accepted"}`, 4)
	wantMetric(t, m, `touchpoint_smtp_connections`, 1)
	wantMetric(t, m, `touchpoint_campaign_sends_total{via="report"}`, 1)
	wantMetric(t, m, `touchpoint_campaign_recipients_total{outcome="logged"}`, 1)
	wantMetric(t, m, `touchpoint_campaign_recipients_total{outcome="unmatched"}`, 1)
	wantMetric(t, m, `touchpoint_campaign_recipients_total{outcome="duplicate"}`, 1)
	if st, err := os.Stat(filepath.Join(in.dataDir, "touchpoint.db")); err != nil {
		t.Error(err)
	} else {
		wantMetric(t, m, `touchpoint_store_size_bytes`, float64(st.Size()))
	}
	if m[`touchpoint_data_dir_free_bytes`] <= 0 {
		t.Errorf("touchpoint_data_dir_free_bytes = %v, want the free space", m[`touchpoint_data_dir_free_bytes`])
	}
	var h health
	d.as(t, "").call("GET", "/healthz", nil, http.StatusOK, &h)
	if h.Status != "ok" || len(h.Reasons) != 0 {
		t.Errorf("/healthz = %+v, want ok with no reasons", h)
	}
}

// TestHealthDegradedLowDisk sets the free-space threshold above what any
// disk has: /healthz stays 200 but says degraded, and why.
func TestHealthDegradedLowDisk(t *testing.T) {
	t.Parallel()
	in := newInstall(t, adminPassword)
	in.vars["TOUCHPOINT_HEALTH_MIN_FREE_BYTES"] = strconv.FormatInt(1<<62, 10)
	d := in.start(t)
	h := waitHealth(t, d, "degraded")
	if len(h.Reasons) != 1 || !strings.Contains(h.Reasons[0], "disk") {
		t.Errorf("/healthz reasons = %q, want one about the disk", h.Reasons)
	}
}

// TestHealthDegradedMailbox configures an IMAP mailbox on a port nobody
// listens on: the poll fails, /metrics counts it, /healthz names it.
func TestHealthDegradedMailbox(t *testing.T) {
	t.Parallel()
	in := newInstall(t, adminPassword)
	host, port, _ := net.SplitHostPort(freeAddr(t))
	cfg := filepath.Join(t.TempDir(), "touchpoint.toml")
	toml := fmt.Sprintf("[[imap.mailbox]]\nname = \"office\"\nhost = %q\nport = %s\ntls = \"none\"\nusername = \"office@org.org\"\npassword_env = \"OFFICE_PW\"\nschedule = \"@every 1s\"\n", host, port)
	if err := os.WriteFile(cfg, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	in.vars["TOUCHPOINT_CONFIG"] = cfg
	in.vars["OFFICE_PW"] = "secret"
	d := in.start(t)
	h := waitHealth(t, d, "degraded")
	if len(h.Reasons) != 1 || !strings.Contains(h.Reasons[0], "office") {
		t.Errorf("/healthz reasons = %q, want one naming mailbox office", h.Reasons)
	}
	m := scrape(t, d)
	if n := m[`touchpoint_imap_polls_total{mailbox="office",outcome="connect"}`]; n < 1 {
		t.Errorf(`touchpoint_imap_polls_total{mailbox="office",outcome="connect"} = %v, want at least 1`, n)
	}
	wantMetric(t, m, `touchpoint_imap_polls_total{mailbox="office",outcome="ok"}`, 0)
	wantMetric(t, m, `touchpoint_imap_up{mailbox="office"}`, 0)
}

var connAttr = regexp.MustCompile(`\bconn=(\S+)`)

// TestLogIDs: an SMTP session's lines carry its conn id, the line of the
// message received among them; an HTTP request's id is echoed in
// X-Request-Id and carried by its log line.
func TestLogIDs(t *testing.T) {
	t.Parallel()
	in := newMailInstall(t)
	d := in.start(t)
	addr := d.smtpAddr(t)
	for i := range 2 {
		m := toYossi(fmt.Sprintf("logids-%d@org.org", i), "Log ids")
		if err := sendSMTP(addr, sarahEmail, []string{systemAddress}, m.bytes(), nil); err != nil {
			t.Fatal(err)
		}
	}
	// The log pipe may lag behind the 250s.
	var received []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		received = received[:0]
		for _, l := range lines(d.stderr.String()) {
			if strings.Contains(l, `msg="message received"`) {
				received = append(received, l)
			}
		}
		if len(received) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(received) != 2 {
		t.Fatalf("%d \"message received\" lines, want 2:\n%s", len(received), d.stderr.String())
	}
	ids := map[string]bool{}
	for _, l := range received {
		mm := connAttr.FindStringSubmatch(l)
		if mm == nil {
			t.Fatalf("no conn attribute in %q", l)
		}
		ids[mm[1]] = true
	}
	if len(ids) != 2 {
		t.Errorf("two sessions logged conn ids %v, want two different ids", ids)
	}

	c := d.as(t, "")
	r := c.do("GET", "/healthz", nil)
	id := r.header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("GET /healthz: no X-Request-Id header")
	}
	if id2 := c.do("GET", "/healthz", nil).header.Get("X-Request-Id"); id2 == id {
		t.Errorf("two requests got the same id %q", id)
	}
	d.waitStderr(t, "req="+id)
	// A proxy's plain id is kept; anything else is replaced.
	req, _ := http.NewRequest("GET", d.base+"/healthz", nil)
	req.Header.Set("X-Request-Id", "proxy-42")
	resp, err := d.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); got != "proxy-42" {
		t.Errorf("X-Request-Id proxy-42 came back as %q", got)
	}
	req.Header.Set("X-Request-Id", "bad id\" forged=1")
	resp, err = d.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-Id"); got == "" || strings.ContainsAny(got, " \"=") {
		t.Errorf("a forged X-Request-Id came back as %q, want a fresh plain id", got)
	}
}
