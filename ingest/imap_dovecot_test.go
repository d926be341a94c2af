package ingest

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"touchpoint/store"
)

// Integration tests against a real Dovecot (Debian's dovecot-imapd; `make
// deps` installs it). The harness starts its own Dovecot in the foreground
// on a free loopback port with everything under a temporary directory: a
// passwd-file passdb, Maildir storage owned by the mail user, no TLS, no
// fsync. One shared instance serves most tests, each with its own user;
// the outage test runs its own so it can kill it.

// TestMain stops the shared Dovecot after the package's tests.
func TestMain(m *testing.M) {
	code := m.Run()
	sharedDovecot.stop()
	os.Exit(code)
}

var sharedDovecot sharedInstance

type sharedInstance struct {
	once sync.Once
	d    *dovecot
	err  error
}

func (s *sharedInstance) stop() {
	if s.d != nil {
		s.d.kill()
		os.RemoveAll(s.d.dir)
	}
}

// needDovecot skips when Dovecot is not installed, unless CI says the
// machine must have it.
func needDovecot(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
			if p := filepath.Join(dir, "dovecot"); fileExists(p) {
				return p
			}
		}
		if os.Getenv("CI") != "" {
			t.Fatal("dovecot is not installed but CI is set: run `make deps` (scripts/install-test-deps.sh) to install dovecot-imapd")
		}
		t.Skip("dovecot is not installed: skipping the Dovecot integration tests (run `make deps` to install dovecot-imapd)")
	}
	return bin
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// sharedDovecotFor returns the shared instance, started on first use.
func sharedDovecotFor(t testing.TB) *dovecot {
	t.Helper()
	bin := needDovecot(t)
	sharedDovecot.once.Do(func() {
		sharedDovecot.d, sharedDovecot.err = newDovecot(bin, "")
	})
	if sharedDovecot.err != nil {
		t.Fatal(sharedDovecot.err)
	}
	return sharedDovecot.d
}

// ownDovecot starts an instance for one test.
func ownDovecot(t testing.TB) *dovecot {
	t.Helper()
	d, err := newDovecot(needDovecot(t), "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.kill()
		os.RemoveAll(d.dir)
	})
	return d
}

type dovecot struct {
	bin  string
	dir  string
	port int
	// uid and gid own the mail (the mail user when run as root).
	uid, gid int

	mu    sync.Mutex
	cmd   *exec.Cmd
	exit  chan struct{}
	users int // handed out by newUser
}

// dovecotUsers are written to the passwd-file before Dovecot starts
// (adding users to a running Dovecot races with its reload of the file).
const dovecotUsers = 4096

func dovecotUser(i int) (name, pass string) {
	return fmt.Sprintf("user%d@example.org", i), fmt.Sprintf("pw-%d-secret", i)
}

// newDovecot writes a configuration under a fresh directory and starts
// Dovecot; port "" picks a free one.
func newDovecot(bin, port string) (*dovecot, error) {
	dir, err := os.MkdirTemp("", "touchpoint-dovecot-")
	if err != nil {
		return nil, err
	}
	// Dovecot's unprivileged processes must be able to walk the tree.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	d := &dovecot{bin: bin, dir: dir}
	fail := func(err error) (*dovecot, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	mailUser, internalUser, internalGroup, loginUser := "mail", "dovecot", "dovecot", "dovenull"
	if os.Geteuid() == 0 {
		u, err := user.Lookup("mail")
		if err != nil {
			return fail(fmt.Errorf("no mail user for Dovecot: %w", err))
		}
		d.uid, _ = strconv.Atoi(u.Uid)
		d.gid, _ = strconv.Atoi(u.Gid)
	} else {
		// Unprivileged: every process runs as the current user.
		u, err := user.Current()
		if err != nil {
			return fail(err)
		}
		d.uid, d.gid = os.Getuid(), os.Getgid()
		g, err := user.LookupGroupId(strconv.Itoa(d.gid))
		if err != nil {
			return fail(err)
		}
		mailUser, internalUser, internalGroup, loginUser = u.Username, u.Username, g.Name, u.Username
	}
	for _, sub := range []string{"run", "state", "mail"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fail(err)
		}
	}
	if err := os.Chown(filepath.Join(dir, "mail"), d.uid, d.gid); err != nil {
		return fail(err)
	}
	var users strings.Builder
	for i := range dovecotUsers {
		name, pass := dovecotUser(i)
		fmt.Fprintf(&users, "%s:{PLAIN}%s\n", name, pass)
	}
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte(users.String()), 0o644); err != nil {
		return fail(err)
	}
	if port == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fail(err)
		}
		port = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		ln.Close()
	}
	d.port, _ = strconv.Atoi(port)
	conf := strings.NewReplacer("DIR", dir, "PORT", port, "MAILUSER", mailUser, "MAILGROUP", strconv.Itoa(d.gid), "INTERNALUSER", internalUser, "INTERNALGROUP", internalGroup, "LOGINUSER", loginUser).Replace(dovecotConf)
	if err := os.WriteFile(filepath.Join(dir, "dovecot.conf"), []byte(conf), 0o644); err != nil {
		return fail(err)
	}
	if err := d.start(); err != nil {
		return fail(err)
	}
	return d, nil
}

const dovecotConf = `# A throwaway Dovecot for Touchpoint's tests.
base_dir = DIR/run
state_dir = DIR/state
log_path = DIR/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = 1
first_valid_gid = 1
default_internal_user = INTERNALUSER
default_internal_group = INTERNALGROUP
default_login_user = LOGINUSER
mail_location = maildir:DIR/mail/%u
mail_fsync = never
mail_max_userip_connections = 50
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u DIR/users
}
userdb {
  driver = static
  args = uid=MAILUSER gid=MAILGROUP home=DIR/mail/%u
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
  # No auth penalty: failed logins (a test does them on purpose) would
  # delay every later login from 127.0.0.1 by seconds.
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`

// start runs Dovecot in the foreground in its own process group and
// waits until it answers.
func (d *dovecot) start() error {
	var lastErr error
	for attempt := 0; attempt < 50; attempt++ {
		cmd := exec.Command(d.bin, "-F", "-c", filepath.Join(d.dir, "dovecot.conf"))
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start dovecot: %w", err)
		}
		exit := make(chan struct{})
		go func() {
			cmd.Wait()
			close(exit)
		}()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case <-exit:
				// Most often the port is still held by the previous
				// instance's last process: try again.
				lastErr = fmt.Errorf("dovecot exited at start: %s%s", out.String(), d.logTail())
				time.Sleep(100 * time.Millisecond)
				goto retry
			default:
			}
			if c, err := net.DialTimeout("tcp", d.addr(), time.Second); err == nil {
				c.Close()
				d.mu.Lock()
				d.cmd, d.exit = cmd, exit
				d.mu.Unlock()
				return nil
			}
			time.Sleep(10 * time.Millisecond)
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exit
		return fmt.Errorf("dovecot did not listen on %s within 5 s: %s%s", d.addr(), out.String(), d.logTail())
	retry:
	}
	return lastErr
}

// kill stops Dovecot at once (SIGKILL to the whole process group, like a
// crash) and waits for the master to exit.
func (d *dovecot) kill() {
	d.mu.Lock()
	cmd, exit := d.cmd, d.exit
	d.cmd = nil
	d.mu.Unlock()
	if cmd == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exit
}

func (d *dovecot) logTail() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "dovecot.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	if len(b) == 0 {
		return ""
	}
	return "\ndovecot.log:\n" + string(b)
}

func (d *dovecot) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(d.port)) }

// newUser hands out a fresh mail user and returns a poller config for
// its INBOX.
func (d *dovecot) newUser(t testing.TB, mailbox string) IMAPConfig {
	t.Helper()
	d.mu.Lock()
	i := d.users
	d.users++
	d.mu.Unlock()
	if i >= dovecotUsers {
		t.Fatalf("more than %d Dovecot users: raise dovecotUsers", dovecotUsers)
	}
	name, pass := dovecotUser(i)
	return IMAPConfig{Name: mailbox, Host: "127.0.0.1", Port: d.port, TLS: IMAPTLSNone, Username: name,
		Password:   func() (string, error) { return pass, nil },
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond, DialTimeout: 5 * time.Second}
}

// client logs a plain go-imap client in as cfg's user.
func (d *dovecot) client(t testing.TB, cfg IMAPConfig) *imapclient.Client {
	t.Helper()
	pw, _ := cfg.Password()
	c := dialTestClient(t, d.addr(), cfg.Username, pw, nil)
	c.Caps() // LITERAL+ makes APPEND pipeline
	return c
}

// appendMail APPENDs the messages to folder, pipelined.
func appendMail(t testing.TB, c *imapclient.Client, folder string, raws ...[]byte) {
	t.Helper()
	const window = 256
	var pending []*imapclient.AppendCommand
	wait := func() {
		for _, cmd := range pending {
			if _, err := cmd.Wait(); err != nil {
				t.Fatalf("APPEND to %s: %v", folder, err)
			}
		}
		pending = pending[:0]
	}
	for _, raw := range raws {
		cmd := c.Append(folder, int64(len(raw)), nil)
		if _, err := cmd.Write(raw); err != nil {
			t.Fatalf("APPEND: %v", err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatalf("APPEND: %v", err)
		}
		pending = append(pending, cmd)
		if len(pending) == window {
			wait()
		}
	}
	wait()
}

// multiAppend stores many messages with Dovecot's MULTIAPPEND (one APPEND
// command, one transaction per chunk, non-synchronising literals): one
// APPEND per message costs Dovecot a uidlist and index update each, and
// grows slower as the folder fills.
func (d *dovecot) multiAppend(t testing.TB, cfg IMAPConfig, folder string, raws [][]byte) {
	t.Helper()
	conn, err := net.Dial("tcp", d.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	expect := func(tag string) {
		t.Helper()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("MULTIAPPEND: %v", err)
			}
			if strings.HasPrefix(line, tag+" ") {
				if !strings.HasPrefix(line, tag+" OK") {
					t.Fatalf("MULTIAPPEND: %s", line)
				}
				return
			}
		}
	}
	pw, _ := cfg.Password()
	fmt.Fprintf(conn, "a LOGIN %q %q\r\n", cfg.Username, pw)
	expect("a")
	w := bufio.NewWriterSize(conn, 1<<20)
	for chunk := range slices.Chunk(raws, 2000) {
		fmt.Fprintf(w, "b APPEND %q", folder)
		for _, raw := range chunk {
			fmt.Fprintf(w, " {%d+}\r\n", len(raw))
			w.Write(raw)
		}
		w.WriteString("\r\n")
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		expect("b")
	}
	fmt.Fprintf(conn, "c LOGOUT\r\n")
}

func TestDovecotNewMailIsLogged(t *testing.T) {
	t.Parallel()
	d := sharedDovecotFor(t)
	e := newIngestEnv(t)
	cfg := d.newUser(t, "office")
	c := d.client(t, cfg)
	appendMail(t, c, "INBOX", mails(1, 3)...)
	p := NewIMAPPoller(cfg, e.pipe, nil)
	runPoller(t, p)
	waitIngested(t, p, 3)
	waitFor(t, 5*time.Second, "IDLE", func() bool { return p.Status().State == IMAPStateIdle })
	if st := p.Status(); !st.Idle || st.Logged != 3 || st.LastError != "" {
		t.Errorf("status = %+v", st)
	}
	start := time.Now()
	appendMail(t, c, "INBOX", loggedMail(4))
	waitIngested(t, p, 4)
	t.Logf("new mail logged %v after APPEND (IDLE)", time.Since(start).Round(time.Millisecond))
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("new mail took %v to be logged", d)
	}
	if fl := folderFlags(t, c, "INBOX"); len(fl) != 4 || !allSeen(fl) {
		t.Errorf("INBOX = %v, want 4 seen", fl)
	}
	items, _, err := e.s.Timeline(e.yossi.ID, 10, "")
	if err != nil || len(items) != 4 || items[0].Source != store.SourceIMAP {
		t.Errorf("timeline = %d items, %v", len(items), err)
	}
}

func TestDovecotAfterActions(t *testing.T) {
	t.Parallel()
	d := sharedDovecotFor(t)
	testAfterActions(t, []afterActionCase{
		{name: "seen", after: IMAPAfterSeen},
		{name: "move", after: IMAPAfterMove, moveTo: "Processed"},
		{name: "delete", after: IMAPAfterDelete},
	}, func(t *testing.T, _ afterActionCase) testMailbox {
		cfg := d.newUser(t, "office")
		c := d.client(t, cfg)
		return testMailbox{cfg: cfg, c: c, add: func(raws ...[]byte) { appendMail(t, c, "INBOX", raws...) }}
	})
}

// A message that reaches Touchpoint by SMTP and is also in the polled
// mailbox (a copy rule, a CC) is logged once, whichever comes first.
func TestDovecotMessageAlsoReceivedBySMTPIsLoggedOnce(t *testing.T) {
	t.Parallel()
	d := sharedDovecotFor(t)
	e := newIngestEnv(t)
	smtpSrv := NewSMTPServer(SMTPConfig{Hostname: "test", MaxMessageBytes: 1 << 20, MaxRecipients: 10, MaxLineLength: 65536,
		ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, MaxConnections: 10, MaxConnectionsIP: 10}, e.pipe, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go smtpSrv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		smtpSrv.Shutdown(ctx)
	})
	se := &smtpEnv{t: t, s: e.pipe.Store, addr: ln.Addr().String()}

	// First by SMTP, then found in the mailbox.
	if err := se.send("sarah@org.org", []string{"log@org.org"}, string(loggedMail(1))); err != nil {
		t.Fatalf("SMTP: %v", err)
	}
	cfg := d.newUser(t, "office")
	c := d.client(t, cfg)
	appendMail(t, c, "INBOX", loggedMail(1))
	p := NewIMAPPoller(cfg, e.pipe, nil)
	runPoller(t, p)
	waitIngested(t, p, 1)
	if st := p.Status(); st.Duplicates != 1 || st.Logged != 0 {
		t.Errorf("status = %+v, want the IMAP copy counted as a duplicate", st)
	}
	// First in the mailbox, then by SMTP.
	appendMail(t, c, "INBOX", loggedMail(2))
	waitIngested(t, p, 2)
	if err := se.send("sarah@org.org", []string{"log@org.org"}, string(loggedMail(2))); err != nil {
		t.Fatalf("SMTP: %v", err)
	}
	if n := e.interactions(); n != 2 {
		t.Errorf("%d interactions, want 2 (one per message)", n)
	}
	items, _, _ := e.s.Timeline(e.yossi.ID, 10, "")
	var sources []string
	for _, ia := range items {
		sources = append(sources, ia.Source)
	}
	slices.Sort(sources)
	if !slices.Equal(sources, []string{store.SourceIMAP, store.SourceSMTP}) {
		t.Errorf("sources = %v, want one smtp and one imap", sources)
	}
}

// Touchpoint restarts: nothing is logged twice, nothing is missed,
// including after a crash between the commit and the flagging.
func TestDovecotRestartWithoutDuplicates(t *testing.T) {
	t.Parallel()
	d := sharedDovecotFor(t)
	e := newIngestEnv(t)
	cfg := d.newUser(t, "office")
	cfg.BatchSize = 2
	c := d.client(t, cfg)
	appendMail(t, c, "INBOX", mails(1, 3)...)
	p := NewIMAPPoller(cfg, e.pipe, nil)
	stop := runPoller(t, p)
	waitIngested(t, p, 3)
	stop()
	e.reopen()

	// Two more while "down"; the next run crashes after its first commit.
	appendMail(t, c, "INBOX", mails(4, 7)...)
	p2 := NewIMAPPoller(cfg, e.pipe, nil)
	crashed, release := make(chan struct{}), make(chan struct{})
	p2.afterCommit = func([]imap.UID) error {
		close(crashed)
		<-release
		return fmt.Errorf("crashed")
	}
	stop2 := runPoller(t, p2)
	<-crashed
	go func() { time.Sleep(50 * time.Millisecond); close(release) }()
	stop2()
	e.reopen()

	p3 := NewIMAPPoller(cfg, e.pipe, nil)
	runPoller(t, p3)
	waitFor(t, 10*time.Second, "the restarted poller", func() bool {
		st := p3.Status()
		return st.State == IMAPStateIdle && st.LastUID == 7
	})
	if st := p3.Status(); st.Duplicates != 0 || st.LastError != "" {
		t.Errorf("status = %+v", st)
	}
	if n := e.interactions(); n != 7 {
		t.Errorf("%d interactions, want 7", n)
	}
	if fl := folderFlags(t, c, "INBOX"); len(fl) != 7 || !allSeen(fl) {
		t.Errorf("INBOX = %v, want 7 seen", fl)
	}
}

// The folder is deleted and recreated while the poller watches it: the new
// UIDVALIDITY makes it read the folder again; only new mail is logged.
func TestDovecotUIDValidityChange(t *testing.T) {
	t.Parallel()
	d := sharedDovecotFor(t)
	e := newIngestEnv(t)
	cfg := d.newUser(t, "log")
	cfg.Folder = "Log"
	c := d.client(t, cfg)
	if err := c.Create("Log", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMail(t, c, "Log", mails(1, 2)...)
	p := NewIMAPPoller(cfg, e.pipe, nil)
	runPoller(t, p)
	waitIngested(t, p, 2)
	waitFor(t, 5*time.Second, "IDLE", func() bool { return p.Status().State == IMAPStateIdle })
	old := e.cursor("log")

	if err := c.Delete("Log").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Log", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMail(t, c, "Log", mails(1, 3)...)
	// Dovecot does not tell a session idling in a deleted folder about
	// it: the scheduled poll finds out.
	p.Kick()
	waitIngested(t, p, 5)
	st := p.Status()
	if st.Duplicates != 2 || st.Logged != 3 || st.UIDValidity == old.UIDValidity || st.LastUID != 3 {
		t.Errorf("status = %+v (old cursor %+v)", st, old)
	}
	if n := e.interactions(); n != 3 {
		t.Errorf("%d interactions, want 3", n)
	}
}

func TestDovecotErrorsAreShown(t *testing.T) {
	t.Parallel()
	d := sharedDovecotFor(t)
	for _, tc := range []struct {
		name  string
		tweak func(*IMAPConfig)
		want  string
	}{
		{"wrong password", func(c *IMAPConfig) { c.Password = func() (string, error) { return "not-it", nil } }, "wrong username or password (user "},
		{"missing folder", func(c *IMAPConfig) { c.Folder = "Nowhere" }, "folder Nowhere does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newIngestEnv(t)
			cfg := d.newUser(t, "office")
			tc.tweak(&cfg)
			p := NewIMAPPoller(cfg, e.pipe, nil)
			runPoller(t, p)
			waitFor(t, 10*time.Second, "a failed poll", func() bool { return p.Status().ConsecutiveErrors >= 1 })
			st := p.Status()
			if !strings.Contains(st.LastError, tc.want) || strings.Contains(st.LastError, "not-it") || st.State == IMAPStateIdle {
				t.Errorf("status = %q / %s, want %q", st.LastError, st.State, tc.want)
			}
			if _, err := ProbeIMAP(context.Background(), cfg); err == nil || err.Error() != st.LastError {
				t.Errorf("probe = %v, want %q", err, st.LastError)
			}
		})
	}
}

// Dovecot dies and comes back on the same port: the poller shows the
// outage and logs mail again without help.
func TestDovecotServerDownThenBack(t *testing.T) {
	t.Parallel()
	d := ownDovecot(t)
	e := newIngestEnv(t)
	cfg := d.newUser(t, "office")
	c := d.client(t, cfg)
	appendMail(t, c, "INBOX", loggedMail(1))
	c.Close()
	p := NewIMAPPoller(cfg, e.pipe, nil)
	runPoller(t, p)
	waitIngested(t, p, 1)
	waitFor(t, 5*time.Second, "IDLE", func() bool { return p.Status().State == IMAPStateIdle })

	d.kill()
	waitFor(t, 10*time.Second, "the outage in the status", func() bool {
		return strings.Contains(p.Status().LastError, "connection refused")
	})
	t.Logf("while down: %s", p.Status().LastError)
	if err := d.start(); err != nil {
		t.Fatal(err)
	}
	c = d.client(t, cfg)
	appendMail(t, c, "INBOX", loggedMail(2))
	waitIngested(t, p, 2)
	waitFor(t, 5*time.Second, "the error to clear", func() bool { return p.Status().LastError == "" })
	if n := e.interactions(); n != 2 {
		t.Errorf("%d interactions, want 2", n)
	}
}

func TestDovecotThousandMessages(t *testing.T) {
	t.Parallel()
	d := sharedDovecotFor(t)
	e := newIngestEnv(t)
	cfg := d.newUser(t, "big")
	c := d.client(t, cfg)
	const n = 1000
	cfg.BatchSize = 250 // several batches (the default takes 1,000 at once)
	d.multiAppend(t, cfg, "INBOX", mails(1, n))
	p := NewIMAPPoller(cfg, e.pipe, nil)
	var mu sync.Mutex
	var batches []int
	p.onBatch = func(msgs int, _ int64) {
		mu.Lock()
		batches = append(batches, msgs)
		mu.Unlock()
	}
	start := time.Now()
	runPoller(t, p)
	waitIngested(t, p, n)
	t.Logf("%d messages in %v", n, time.Since(start).Round(time.Millisecond))
	mu.Lock()
	if !slices.Equal(batches, []int{250, 250, 250, 250}) {
		t.Errorf("batches = %v, want 4 of 250", batches)
	}
	mu.Unlock()
	if got := e.interactions(); got != n {
		t.Errorf("%d interactions, want %d", got, n)
	}
	if cur := e.cursor("big"); cur.UID != n {
		t.Errorf("cursor = %+v", cur)
	}
	if fl := folderFlags(t, c, "INBOX"); len(fl) != n || !allSeen(fl) {
		t.Errorf("INBOX: %d messages, all seen %v", len(fl), allSeen(fl))
	}
}
