package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

const (
	testIMAPUser = "log@org.org"
	testIMAPPass = "imap-secret-42"
)

// memIMAP is go-imap's in-memory server on loopback with one user.
func memIMAP(t *testing.T, msgs ...string) (port int, user *imapmemserver.User) {
	t.Helper()
	mem := imapmemserver.New()
	user = imapmemserver.NewUser(testIMAPUser, testIMAPPass)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if _, err := user.Append("INBOX", strings.NewReader(m), &imap.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port, user
}

const testMail = "From: Stranger <someone@example.net>\r\nTo: log@org.org\r\nSubject: Hello\r\n" +
	"Date: Tue, 05 May 2026 10:00:00 +0000\r\nMessage-ID: <cmd-imap-1@example.net>\r\n\r\nHi.\r\n"

// mailboxConfig writes a configuration with one mailbox on port.
func mailboxConfig(t *testing.T, port int, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "touchpoint.toml")
	conf := fmt.Sprintf(`system_address = "log@org.org"

[[imap.mailbox]]
name = "office"
host = "127.0.0.1"
port = %d
tls = "none"
username = %q
password_env = "OFFICE_IMAP_PASSWORD"
schedule = "@every 1s"
after = "move:Processed"
%s`, port, testIMAPUser, extra)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCLI(ctx context.Context, env []string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(ctx, args, strings.NewReader(""), &out, &errb, env)
	return code, out.String(), errb.String()
}

func TestMailboxTestCommand(t *testing.T) {
	t.Parallel()
	port, _ := memIMAP(t, testMail)
	conf := mailboxConfig(t, port, "")
	env := []string{"TOUCHPOINT_DATA_DIR=" + t.TempDir(), "OFFICE_IMAP_PASSWORD=" + testIMAPPass}
	ctx := context.Background()

	code, out, errs := runCLI(ctx, env, "mailbox", "test", "--config", conf, "office")
	if code != 0 {
		t.Fatalf("mailbox test = %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		fmt.Sprintf("mailbox office: 127.0.0.1:%d, tls none, user log@org.org", port),
		"connected without TLS (tls = none) and logged in",
		"IDLE: yes",
		"folder INBOX: 1 messages, 1 unseen, UIDVALIDITY 1, next UID 2",
		"move to Processed (MOVE); folder Processed does not exist yet",
		"nothing was fetched or changed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errs, testIMAPPass) {
		t.Error("the password was printed")
	}

	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"wrong password", []string{"OFFICE_IMAP_PASSWORD=nope"}, []string{"office"}, 1, "mailbox office: wrong username or password (user log@org.org)"},
		{"password unset", nil, []string{"office"}, 1, "password environment variable OFFICE_IMAP_PASSWORD is not set"},
		{"unknown mailbox", []string{"OFFICE_IMAP_PASSWORD=x"}, []string{"home"}, 1, `no mailbox "home" in the configuration (configured: office)`},
		{"no name", nil, nil, 2, "use: touchpoint mailbox test NAME"},
	} {
		env := append([]string{"TOUCHPOINT_DATA_DIR=" + t.TempDir()}, tc.env...)
		code, out, errs := runCLI(ctx, env, append([]string{"mailbox", "test", "--config", conf}, tc.args...)...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, stderr %q (stdout %q); want %d and %q", tc.name, code, errs, out, tc.code, tc.want)
		}
	}
}

// serve runs the pollers: mail in the mailbox is stored, the status is in
// the API and /metrics, and shutdown stops the pollers before the store.
func TestServeRunsIMAPPollers(t *testing.T) {
	t.Parallel()
	port, _ := memIMAP(t, testMail)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	conf := mailboxConfig(t, port, "")
	env := []string{"TOUCHPOINT_DATA_DIR=" + dir, "TOUCHPOINT_HTTP_ADDR=" + httpAddr, "TOUCHPOINT_SMTP_ADDR=off",
		"TOUCHPOINT_ADMIN_PASSWORD=admin-password-1", "OFFICE_IMAP_PASSWORD=" + testIMAPPass, "TOUCHPOINT_CONFIG=" + conf}
	ctx := context.Background()
	code, tok, errs := runCLI(ctx, env, "token", "create", "--name", "test", "--role", "admin")
	if code != 0 {
		t.Fatalf("token create: %d %s", code, errs)
	}
	tok = strings.TrimSpace(tok)

	sctx, cancel := context.WithCancel(ctx)
	var logs syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(sctx, []string{"serve"}, strings.NewReader(""), io.Discard, &logs, env) }()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d:\n%s", code, logs.String())
			}
		case <-time.After(15 * time.Second):
			t.Errorf("serve did not stop within 15 s")
		}
		out := logs.String()
		if i, j := strings.Index(out, "IMAP pollers stopped"), strings.Index(out, `msg="stopped cleanly"`); i < 0 || j < 0 || i > j {
			t.Errorf("pollers must stop before the store closes:\n%s", out)
		}
		if strings.Contains(out, testIMAPPass) {
			t.Error("the password is in the log")
		}
	}()

	get := func(path string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+httpAddr+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	type item struct {
		Name       string     `json:"name"`
		LastPollAt *time.Time `json:"last_poll_at"`
		LastError  string     `json:"last_error"`
		Ingested   int64      `json:"ingested"`
		State      string     `json:"state"`
		Host       string     `json:"host"`
	}
	var l struct{ Items []item }
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get("/api/v1/mailboxes")
		if code == 200 {
			l.Items = nil
			json.Unmarshal([]byte(body), &l)
			if len(l.Items) == 1 && l.Items[0].Ingested == 1 && l.Items[0].State == "idle" {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailbox never ingested: %d %s\n%s", code, body, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if it := l.Items[0]; it.Name != "office" || it.LastPollAt == nil || it.LastError != "" || it.Host != "127.0.0.1" {
		t.Errorf("mailbox = %+v", it)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		`touchpoint_imap_polls_total{mailbox="office",outcome="ok"}`,
		`touchpoint_imap_messages_total{mailbox="office"} 1`,
		`touchpoint_imap_up{mailbox="office"} 1`,
		`touchpoint_messages_total{source="imap",status="unmatched"} 1`,
		`touchpoint_imap_polls_total{mailbox="office",outcome="auth"} 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
