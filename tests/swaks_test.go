package tests

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// swaks runs the swaks SMTP client against addr and returns its exit
// status and transcript.
func swaks(t *testing.T, addr string, args ...string) (int, string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "swaks", append([]string{"--server", host, "--port", port, "--helo", "client.test"}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("swaks %s: timed out\n%s", strings.Join(args, " "), out.String())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	} else if err != nil {
		t.Fatalf("swaks: %v", err)
	}
	return 0, out.String()
}

// mustSwaks is swaks that wants the message accepted (exit 0); it returns
// once the message is in the database (the 250 comes first).
func mustSwaks(t *testing.T, d *daemon, addr string, args ...string) string {
	t.Helper()
	code, out := swaks(t, addr, args...)
	if code != 0 {
		t.Fatalf("swaks %s: exit %d, want 0 (message accepted)\n%s", strings.Join(args, " "), code, out)
	}
	d.settle(t)
	return out
}

// TestSwaks drives the SMTP listener with a real, independent client
// (swaks, as an operator would check a setup): a BCC'd outbound mail, the
// contact's reply with the system address in Cc, an unknown recipient, a
// resend, and mail from an unknown sender resolved through the API.
func TestSwaks(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("swaks"); err != nil {
		t.Skip("swaks is not on PATH: install it (Debian package swaks; `make test` runs scripts/install-test-deps.sh, which does)")
	}
	in := newMailInstall(t)
	d := in.start(t)
	addr := d.smtpAddr(t)
	c := d.as(t, in.token(t, "--name", "swaks", "--role", "admin", "--user", sarahEmail))
	sarahID := c.userID(sarahEmail)
	yossi := c.createContact(map[string]any{"name": "Yossi Levi", "emails": []string{"yossi@example.net"}})

	// 1. Sarah writes to Yossi and BCCs the system address: it is in the
	// envelope only, never in a header.
	subject := "Shalom Yossi — שיעור on Tuesday" // RFC 2047 on the wire
	encSubject := "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte(subject)) + "?="
	attachment := bytes.Repeat([]byte("%PDF-1.4 agenda\n"), 100)
	attPath := filepath.Join(t.TempDir(), "agenda.pdf")
	if err := os.WriteFile(attPath, attachment, 0o644); err != nil {
		t.Fatal(err)
	}
	const outID = "swaks-out-1@org.org"
	const text = "We agreed: Tuesday at 8, the class on the weekly portion."
	sendOut := func() string {
		return mustSwaks(t, d, addr,
			"--from", sarahEmail, "--to", systemAddress,
			"--header", "From: "+sarahName+" <"+sarahEmail+">",
			"--header", "To: Yossi Levi <yossi@example.net>",
			"--header", "Subject: "+encSubject,
			"--header", "Message-Id: <"+outID+">",
			"--body", text,
			"--attach-type", "application/pdf", "--attach", "@"+attPath)
	}
	transcript := sendOut()
	if !strings.Contains(transcript, "RCPT TO:<"+systemAddress+">") || strings.Contains(transcript, "RCPT TO:<yossi") {
		t.Fatalf("swaks did not BCC as intended (one RCPT, the system address):\n%s", transcript)
	}

	tl := c.timeline(yossi.ID)
	got := withMessageID(tl, outID)
	if len(got) != 1 {
		t.Fatalf("Yossi's timeline has %d interactions of <%s>, want 1: %+v", len(got), outID, tl)
	}
	out := got[0]
	t.Run("outbound", func(t *testing.T) {
		e := out.Email
		if out.Type != "Email" || out.Source != "smtp" {
			t.Errorf("type %q source %q, want Email smtp", out.Type, out.Source)
		}
		if !slices.Equal(out.OwnerIDs, []uint64{sarahID}) {
			t.Errorf("owner_ids = %v, want [%d] (Sarah, the sender)", out.OwnerIDs, sarahID)
		}
		if !slices.Equal(out.ContactIDs, []uint64{yossi.ID}) {
			t.Errorf("contact_ids = %v, want [%d]", out.ContactIDs, yossi.ID)
		}
		if out.Title != subject || e.Subject != subject {
			t.Errorf("title %q, email.subject %q, want the decoded subject %q", out.Title, e.Subject, subject)
		}
		if e.Direction != "outbound" {
			t.Errorf("direction %q, want outbound", e.Direction)
		}
		if e.From != sarahEmail || !slices.Equal(e.To, []string{"yossi@example.net"}) {
			t.Errorf("from %q to %v, want %s to [yossi@example.net]", e.From, e.To, sarahEmail)
		}
		if !strings.Contains(out.Details, text) {
			t.Errorf("details = %q, want the text %q", out.Details, text)
		}
		if strings.Contains(out.Details, "PDF-1.4") {
			t.Errorf("details include the attachment's content: %q", out.Details)
		}
		if len(e.Attachments) != 1 || e.Attachments[0].Name != "agenda.pdf" ||
			e.Attachments[0].ContentType != "application/pdf" || e.Attachments[0].Size != int64(len(attachment)) {
			t.Errorf("attachments = %+v, want [agenda.pdf application/pdf %d bytes]", e.Attachments, len(attachment))
		}
	})

	t.Run("raw", func(t *testing.T) {
		c := d.as(t, c.token)
		r := c.raw("GET", fmt.Sprintf("/api/v1/interactions/%d/raw", out.ID), "", nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET /interactions/%d/raw = %d %s", out.ID, r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "message/rfc822") {
			t.Errorf("raw: Content-Type %q, want message/rfc822", ct)
		}
		raw := string(r.body)
		b64 := base64.StdEncoding.EncodeToString(attachment)
		for _, want := range []string{"Message-Id: <" + outID + ">", "Subject: " + encSubject, text, b64[:60], "\r\n"} {
			if !strings.Contains(raw, want) {
				t.Errorf("raw message has no %q:\n%s", want, raw)
			}
		}
	})

	// 2. Yossi replies to Sarah with the system address in Cc.
	const replyID = "swaks-reply-1@example.net"
	mustSwaks(t, d, addr,
		"--from", "yossi@example.net", "--to", systemAddress,
		"--header", "From: Yossi Levi <yossi@example.net>",
		"--header", "To: "+sarahName+" <"+sarahEmail+">",
		"--header", "Cc: "+systemAddress,
		"--header", "Subject: Re: Tuesday",
		"--header", "Message-Id: <"+replyID+">",
		"--header", "In-Reply-To: <"+outID+">",
		"--body", "Tuesday is fine, see you.")
	t.Run("inbound reply", func(t *testing.T) {
		c := d.as(t, c.token)
		got := withMessageID(c.timeline(yossi.ID), replyID)
		if len(got) != 1 {
			t.Fatalf("Yossi's timeline has %d interactions of the reply, want 1", len(got))
		}
		ia := got[0]
		if ia.Email.Direction != "inbound" || !slices.Equal(ia.OwnerIDs, []uint64{sarahID}) || ia.Title != "Re: Tuesday" {
			t.Errorf("reply: direction %q owners %v title %q, want inbound, [%d], Re: Tuesday", ia.Email.Direction, ia.OwnerIDs, ia.Title, sarahID)
		}
	})

	t.Run("unknown recipient", func(t *testing.T) {
		code, tr := swaks(t, addr, "--from", sarahEmail, "--to", "nobody@org.org", "--body", "hello")
		if code != 24 || !strings.Contains(tr, "550 5.1.1") {
			t.Errorf("swaks to nobody@org.org: exit %d, want 24 (no RCPT accepted) after a 550 5.1.1:\n%s", code, tr)
		}
		// A lookalike of a per-user address with a made-up token, too.
		code, tr = swaks(t, addr, "--from", sarahEmail, "--to", "log+notatoken@org.org", "--body", "hello")
		if code != 24 || !strings.Contains(tr, "550 5.1.1") {
			t.Errorf("swaks to log+notatoken@org.org: exit %d, want 24 after a 550 5.1.1:\n%s", code, tr)
		}
	})

	t.Run("resend is one interaction", func(t *testing.T) {
		c := d.as(t, c.token)
		sendOut() // a retry: same Message-ID, accepted again
		got := withMessageID(c.timeline(yossi.ID), outID)
		if len(got) != 1 {
			t.Errorf("after a resend Yossi's timeline has %d interactions of <%s>, want 1", len(got), outID)
		}
		var all page[mailInteraction]
		c.call("GET", "/api/v1/interactions?source=smtp&limit=500", nil, http.StatusOK, &all)
		if n := len(withMessageID(all.Items, outID)); n != 1 {
			t.Errorf("GET /interactions?source=smtp has %d interactions of <%s>, want 1", n, outID)
		}
	})

	// 3. Dana, whom nobody has entered yet, writes to Sarah twice (Cc the
	// system address): both wait in the unmatched queue as no_contact.
	for i, id := range []string{"dana-1@example.com", "dana-2@example.com"} {
		mustSwaks(t, d, addr,
			"--from", "dana@example.com", "--to", systemAddress,
			"--header", "From: Dana Katz <dana@example.com>",
			"--header", "To: "+sarahEmail,
			"--header", "Cc: "+systemAddress,
			"--header", fmt.Sprintf("Subject: Question %d", i+1),
			"--header", "Message-Id: <"+id+">",
			"--body", "Could we meet?")
	}
	t.Run("unmatched, assigned with remember", func(t *testing.T) {
		c := d.as(t, c.token)
		var q page[unmatchedItem]
		c.call("GET", "/api/v1/unmatched", nil, http.StatusOK, &q)
		byID := map[string]unmatchedItem{}
		for _, u := range q.Items {
			byID[u.MessageID] = u
		}
		first, ok1 := byID["dana-1@example.com"]
		second, ok2 := byID["dana-2@example.com"]
		if !ok1 || !ok2 || len(q.Items) != 2 {
			t.Fatalf("GET /unmatched = %+v, want exactly Dana's two messages", q.Items)
		}
		for _, u := range []unmatchedItem{first, second} {
			if u.Reason != "no_contact" || u.Status != "pending" || u.From != "dana@example.com" ||
				!slices.Contains(u.Unknown, "dana@example.com") {
				t.Errorf("unmatched %+v, want reason no_contact, pending, from dana@example.com, unknown [dana@example.com]", u)
			}
		}
		dana := c.createContact(map[string]any{"name": "Dana Katz", "emails": []string{"dana.katz@work.example"}})
		var res struct {
			Interaction  mailInteraction `json:"interaction"`
			AlsoResolved []uint64        `json:"also_resolved"`
		}
		c.call("POST", fmt.Sprintf("/api/v1/unmatched/%d/assign", first.ID),
			map[string]any{"contact_ids": []uint64{dana.ID}, "remember": true}, http.StatusOK, &res)
		if res.Interaction.ID == 0 || !slices.Equal(res.Interaction.ContactIDs, []uint64{dana.ID}) {
			t.Errorf("assign answered interaction %+v, want one on contact %d", res.Interaction, dana.ID)
		}
		if !slices.Equal(res.AlsoResolved, []uint64{second.ID}) {
			t.Errorf("also_resolved = %v, want [%d] (Dana's other pending message)", res.AlsoResolved, second.ID)
		}
		var got contact
		c.call("GET", fmt.Sprintf("/api/v1/contacts/%d", dana.ID), nil, http.StatusOK, &got)
		if !slices.Contains(got.Emails, "dana@example.com") || !slices.Contains(got.Emails, "dana.katz@work.example") {
			t.Errorf("contact after remember has emails %v, want dana@example.com added to dana.katz@work.example", got.Emails)
		}
		tl := c.timeline(dana.ID)
		if len(withMessageID(tl, "dana-1@example.com")) != 1 || len(withMessageID(tl, "dana-2@example.com")) != 1 || len(tl) != 2 {
			t.Errorf("Dana's timeline = %+v, want her two messages", tl)
		}
		for _, ia := range tl {
			if ia.Email == nil || ia.Email.Direction != "inbound" || !slices.Equal(ia.OwnerIDs, []uint64{sarahID}) {
				t.Errorf("Dana's message %+v: want inbound, owner Sarah", ia)
			}
		}
		c.call("GET", "/api/v1/unmatched", nil, http.StatusOK, &q)
		if len(q.Items) != 0 {
			t.Errorf("GET /unmatched after assigning = %+v, want nothing pending", q.Items)
		}
		// Her next message is logged at once.
		mustSwaks(t, d, addr,
			"--from", "dana@example.com", "--to", systemAddress,
			"--header", "From: Dana Katz <dana@example.com>",
			"--header", "To: "+sarahEmail, "--header", "Cc: "+systemAddress,
			"--header", "Subject: Thanks", "--header", "Message-Id: <dana-3@example.com>",
			"--body", "Thanks!")
		if n := len(withMessageID(c.timeline(dana.ID), "dana-3@example.com")); n != 1 {
			t.Errorf("Dana's message after remember: %d on her timeline, want 1", n)
		}
	})
}
