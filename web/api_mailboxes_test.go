package web

import (
	"strings"
	"testing"
	"time"
)

type fakeMailboxes []MailboxStatus

func (f fakeMailboxes) MailboxStatus() []MailboxStatus { return f }

func TestMailboxesAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// No pollers configured: an empty list, not null.
	r := e.must(e.adminTok, "GET", "/api/v1/mailboxes", nil, 200)
	if strings.TrimSpace(string(r.body)) != `{"items":[]}` {
		t.Errorf("no mailboxes = %s", r.body)
	}

	polled := time.Date(2026, 5, 5, 10, 0, 0, 0, time.UTC)
	e.h = New(Options{Store: e.s, Mailboxes: fakeMailboxes{
		{Name: "office", Host: "imap.example.org", Port: 993, TLS: "implicit", Folder: "INBOX", After: "seen",
			State: "idle", Idle: true, LastPollAt: TimeOrNil(polled), LastSuccessAt: TimeOrNil(polled), Ingested: 12, Logged: 10, Duplicates: 2,
			UIDValidity: 7, LastUID: 40},
		{Name: "broken", Host: "imap.example.net", Port: 143, TLS: "starttls", Folder: "Log", After: "move:Done",
			State: "retrying", LastPollAt: TimeOrNil(polled), LastError: "wrong username or password (user log@example.net)",
			LastErrorAt: TimeOrNil(polled), ConsecutiveErrors: 3, LastSuccessAt: TimeOrNil(time.Time{})},
	}}).Handler()

	e.must(e.staffTok, "GET", "/api/v1/mailboxes", nil, 403)
	e.must("", "GET", "/api/v1/mailboxes", nil, 401)
	var l struct {
		Items []map[string]any `json:"items"`
	}
	e.must(e.adminTok, "GET", "/api/v1/mailboxes", nil, 200).json(t, &l)
	if len(l.Items) != 2 {
		t.Fatalf("items = %v", l.Items)
	}
	ok, broken := l.Items[0], l.Items[1]
	if ok["name"] != "office" || ok["last_poll_at"] != "2026-05-05T10:00:00Z" || ok["last_error"] != "" ||
		ok["ingested"] != float64(12) || ok["state"] != "idle" || ok["idle"] != true || ok["host"] != "imap.example.org" {
		t.Errorf("office = %v", ok)
	}
	if broken["last_error"] != "wrong username or password (user log@example.net)" || broken["last_success_at"] != nil ||
		broken["ingested"] != float64(0) || broken["state"] != "retrying" {
		t.Errorf("broken = %v", broken)
	}
	for _, k := range []string{"name", "last_poll_at", "last_error", "ingested"} {
		if _, ok := broken[k]; !ok {
			t.Errorf("field %s missing (contract)", k)
		}
	}
}
