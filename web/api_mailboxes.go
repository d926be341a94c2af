package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// MailboxStatus is one polled IMAP mailbox as admins see it. The web layer
// does not know the poller; the daemon adapts its status to this.
type MailboxStatus struct {
	Name   string `json:"name"`
	Host   string `json:"host"`
	Port   int    `json:"port"`
	TLS    string `json:"tls"`
	Folder string `json:"folder"`
	After  string `json:"after"`
	// State: starting, connecting, polling, idle (connected, IDLE),
	// waiting (no IDLE: until the next scheduled poll), retrying (after an
	// error), stopped.
	State string `json:"state"`
	// Idle says whether the server offers IDLE (mail logged within
	// seconds) rather than only the schedule.
	Idle bool `json:"idle"`
	// LastPollAt is when the last attempt ended, successful or not; nil
	// before the first.
	LastPollAt    *time.Time `json:"last_poll_at"`
	LastSuccessAt *time.Time `json:"last_success_at"`
	// LastError is why the last attempt failed, in plain words; "" when it
	// succeeded.
	LastError         string     `json:"last_error"`
	LastErrorAt       *time.Time `json:"last_error_at"`
	ConsecutiveErrors int        `json:"consecutive_errors"`
	NextAttemptAt     *time.Time `json:"next_attempt_at,omitempty"`
	// Ingested counts messages fetched and stored since the daemon
	// started; the next four break it down (Skipped: too large, left in
	// the folder).
	Ingested    int64  `json:"ingested"`
	Logged      int64  `json:"logged"`
	Unmatched   int64  `json:"unmatched"`
	Duplicates  int64  `json:"duplicates"`
	Skipped     int64  `json:"skipped"`
	UIDValidity uint32 `json:"uid_validity"`
	LastUID     uint32 `json:"last_uid"`
}

// MailboxStatuser reports the IMAP pollers' state (the daemon's pollers).
type MailboxStatuser interface {
	MailboxStatus() []MailboxStatus
}

// listMailboxes is GET /api/v1/mailboxes (admins): the configured mailboxes
// and how their polling goes.
func (s *Server) listMailboxes(c *gin.Context) {
	var items []MailboxStatus
	if s.opts.Mailboxes != nil {
		items = s.opts.Mailboxes.MailboxStatus()
	}
	c.JSON(http.StatusOK, newList(items, ""))
}

// TimeOrNil is t in UTC, or nil for the zero time (JSON null: "never").
func TimeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
