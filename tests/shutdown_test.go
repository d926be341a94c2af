package tests

import (
	"strings"
	"syscall"
	"testing"
)

// TestSIGTERMUnderLoad stops a daemon with SIGTERM while SMTP clients keep
// sending: it must exit 0 and say it stopped cleanly, every message that
// got a 250 must be stored once, and no client may lose a transaction it
// had begun (after MAIL FROM was accepted, only a 250 is acceptable;
// new connections and new transactions may be refused).
func TestSIGTERMUnderLoad(t *testing.T) {
	t.Parallel()
	in, d, tok := crashSetup(t, "")
	acked, after := loadUntil(t, d, "sigterm", syscall.SIGTERM)
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0", code)
	}
	out := d.stderr.String()
	if !strings.Contains(out, `msg="stopped cleanly"`) {
		t.Errorf("the log does not say the daemon stopped cleanly:\n%s", tail(out, 20))
	}
	for _, err := range after {
		// sendSMTP names the step that failed.
		if msg := err.Error(); strings.Contains(msg, "RCPT TO") || strings.Contains(msg, "DATA") {
			t.Errorf("a transaction begun before the shutdown was cut: %v", err)
		}
	}
	t.Logf("%d clients refused after SIGTERM", len(after))

	d2 := in.start(t)
	if lost := crashCheck(t, d2.as(t, tok), acked, acked); len(lost) > 0 {
		t.Fatalf("%d of %d acknowledged messages are not stored after SIGTERM, e.g. %v", len(lost), len(acked), lost[:min(len(lost), 5)])
	}
	d2.stop()
	if out := in.mustRun(t, "", "check"); !strings.Contains(out.stdout, "database OK") {
		t.Errorf("touchpoint check after SIGTERM and restart: %s", out)
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	l := lines(s)
	return strings.Join(l[max(0, len(l)-n):], "\n")
}
