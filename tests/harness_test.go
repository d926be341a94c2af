// Package tests is Touchpoint's black-box suite: TestMain builds the
// touchpoint binary once, and each test runs `touchpoint serve` as a real
// process in its own data directory, talking to it only over loopback HTTP
// and through the command line, as an operator or a client would.
//
// It imports no Touchpoint package on purpose: what it checks is the
// contract of SPEC.md section 7, not the code behind it.
//
//	go test -race -count=1 ./tests
//
// -short skips the suite. TOUCHPOINT_TEST_RACE=1 builds the binary itself
// with -race, so data races in the daemon show up in its stderr (slower).
package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the touchpoint executable built by TestMain; empty in -short
// mode. It is written once, before any test runs.
var binary string

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run() // every test skips (see newInstall)
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "touchpoint-blackbox-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "touchpoint")
	args := []string{"build", "-o", binary}
	if os.Getenv("TOUCHPOINT_TEST_RACE") == "1" {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "./cmd/touchpoint")...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "tests: go build ./cmd/touchpoint: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// moduleRoot walks up from the working directory (the package directory
// under go test) to the go.mod of module touchpoint.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && slices.Contains(lines(string(b)), "module touchpoint") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of module touchpoint above the working directory")
		}
		dir = parent
	}
}

// install is one Touchpoint installation: a data directory and the
// environment every command of a test runs with.
type install struct {
	dataDir string
	vars    map[string]string
	// bin, when set, is the executable `serve` runs instead of binary
	// (e.g. a build with other tags); commands run by run stay on binary.
	bin string
}

const (
	adminEmail    = "boss@example.org"
	adminPassword = "correct horse battery"
)

// newInstall makes an installation in a fresh directory. password is the
// bootstrap admin's; "" lets the daemon generate one.
func newInstall(t *testing.T, password string) *install {
	t.Helper()
	if binary == "" {
		t.Skip("black-box tests skipped in -short mode")
	}
	in := &install{dataDir: filepath.Join(t.TempDir(), "data")}
	in.vars = map[string]string{
		"TOUCHPOINT_DATA_DIR":    in.dataDir,
		"TOUCHPOINT_HTTP_ADDR":   "127.0.0.1:1", // each daemon gets its own port
		"TOUCHPOINT_SMTP_ADDR":   "off",
		"TOUCHPOINT_ADMIN_EMAIL": adminEmail,
		"TOUCHPOINT_LOG_LEVEL":   "debug",
	}
	if password != "" {
		in.vars["TOUCHPOINT_ADMIN_PASSWORD"] = password
	}
	return in
}

// environ is the process environment: ours, without any TOUCHPOINT_*
// variable the developer may have set, plus the installation's.
func environ(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TOUCHPOINT_") {
			env = append(env, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// result is what a finished command left behind.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs `touchpoint args...` to completion with stdin and the
// installation's environment (plus extra, "KEY=value" pairs).
func (in *install) run(t *testing.T, stdin string, extra []string, args ...string) result {
	t.Helper()
	vars := maps.Clone(in.vars)
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = environ(vars)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ctx.Err() == nil:
		r.code = ee.ExitCode()
	default:
		t.Fatalf("touchpoint %s: %v\n%s", strings.Join(args, " "), err, r)
	}
	return r
}

// mustRun is run that wants exit status 0.
func (in *install) mustRun(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	r := in.run(t, stdin, nil, args...)
	if r.code != 0 {
		t.Fatalf("touchpoint %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// token runs `touchpoint token create args...` and returns the token, after
// checking that it is alone on stdout.
// startAsAdmin starts a daemon on a new install and returns an admin API
// client of it, and the client's token for a later daemon of the install.
func startAsAdmin(t *testing.T) (in *install, d *daemon, token string, c *client) {
	t.Helper()
	in = newInstall(t, adminPassword)
	d = in.start(t)
	token = in.token(t, "--name", "admin-client", "--role", "admin", "--user", adminEmail)
	return in, d, token, d.as(t, token)
}

func (in *install) token(t *testing.T, args ...string) string {
	t.Helper()
	r := in.mustRun(t, "", append([]string{"token", "create"}, args...)...)
	tok, ok := strings.CutSuffix(r.stdout, "\n")
	if !ok || strings.ContainsAny(tok, "\r\n \t") || !strings.HasPrefix(tok, "tp_") || len(tok) < 20 {
		t.Fatalf("token create printed %q on stdout, want one line with a tp_ token", r.stdout)
	}
	return tok
}

// daemon is a running `touchpoint serve`.
type daemon struct {
	t       *testing.T
	base    string // http://127.0.0.1:PORT
	cmd     *exec.Cmd
	stdout  syncBuffer
	stderr  syncBuffer
	exited  chan struct{} // closed once the process is reaped
	stopped bool
	hc      *http.Client
}

// start runs `touchpoint serve` on the installation and waits until
// /healthz answers 200. Cleanup stops it and wants exit status 0; when the
// test failed, the daemon's output goes to the test log.
func (in *install) start(t *testing.T) *daemon {
	t.Helper()
	for attempt := 1; ; attempt++ {
		d, err := in.tryStart(t)
		if err == nil {
			return d
		}
		// Another process may have taken the port between our probe and
		// the daemon's listen; anything else is a real failure.
		if attempt == 3 || !strings.Contains(d.stderr.String(), "address already in use") {
			t.Fatalf("touchpoint serve did not come up: %v\n--- stderr:\n%s", err, d.stderr.String())
		}
	}
}

func (in *install) tryStart(t *testing.T) (*daemon, error) {
	t.Helper()
	addr := freeAddr(t)
	d := &daemon{
		t:      t,
		base:   "http://" + addr,
		exited: make(chan struct{}),
		hc:     &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second},
	}
	vars := maps.Clone(in.vars)
	vars["TOUCHPOINT_HTTP_ADDR"] = addr
	exe := binary
	if in.bin != "" {
		exe = in.bin
	}
	d.cmd = exec.Command(exe, "serve")
	d.cmd.Env = environ(vars)
	d.cmd.Stdout, d.cmd.Stderr = &d.stdout, &d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start touchpoint serve: %v", err)
	}
	go func() {
		d.cmd.Wait()
		close(d.exited)
	}()
	if err := d.waitHealthy(10 * time.Second); err != nil {
		d.cmd.Process.Kill()
		<-d.exited
		return d, err
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("touchpoint serve on %s, stdout:\n%s\n--- stderr:\n%s", addr, d.stdout.String(), d.stderr.String())
		}
	})
	t.Cleanup(d.stop) // runs first: the log above then includes the shutdown
	return d, nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func (d *daemon) waitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	for {
		select {
		case <-d.exited:
			return fmt.Errorf("it exited with %v", d.cmd.ProcessState)
		default:
		}
		resp, err := hc.Get(d.base + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GET /healthz did not answer 200 within %v (last: %v)", timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and wants the daemon gone, with status 0, within 5s.
func (d *daemon) stop() {
	d.t.Helper()
	if d.stopped {
		return
	}
	d.stopped = true
	d.hc.CloseIdleConnections()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		d.t.Errorf("SIGTERM to touchpoint serve: %v", err)
	}
	select {
	case <-d.exited:
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		d.t.Errorf("touchpoint serve still ran 5s after SIGTERM")
		return
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		d.t.Errorf("touchpoint serve exited with status %d after SIGTERM, want 0", code)
	}
}

// waitStderr waits until the daemon's stderr contains s (the pipe may lag
// behind what the daemon already did).
func (d *daemon) waitStderr(t *testing.T, s string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := d.stderr.String()
		if strings.Contains(out, s) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon stderr has no %q after 5s:\n%s", s, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer that the process's copier goroutine writes
// while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// client makes API requests to a daemon on behalf of one test, with one
// bearer token ("" for none).
type client struct {
	t     *testing.T
	d     *daemon
	token string
}

// settle waits until the journal's backlog is empty, so SMTP mail answered
// 250 so far is in the database (and its counters), and returns the
// metrics read after that. Not the scrape that saw the backlog empty: a
// scrape collects its metrics concurrently, so it may have read the
// ingest histogram before the last messages' outcomes were told, and the
// backlog after (the applier tells the outcomes, then empties the
// backlog).
func (d *daemon) settle(t *testing.T) map[string]float64 {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m := scrape(t, d)
		if m[`touchpoint_journal_backlog`] == 0 {
			return scrape(t, d)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the journal still holds %v messages after 30 s", m[`touchpoint_journal_backlog`])
		}
	}
}

func (d *daemon) as(t *testing.T, token string) *client { return &client{t: t, d: d, token: token} }

// response is a read HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// raw sends a request with body sent as is under contentType.
func (c *client) raw(method, path, contentType string, body []byte) response {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, c.d.base+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.d.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// do sends body (nil for none) as JSON.
func (c *client) do(method, path string, body any) response {
	c.t.Helper()
	if body == nil {
		return c.raw(method, path, "", nil)
	}
	b, err := json.Marshal(body)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.raw(method, path, "application/json", b)
}

// call sends body as JSON, wants status want and decodes the answer into out
// (when not nil).
func (c *client) call(method, path string, body any, want int, out any) {
	c.t.Helper()
	r := c.do(method, path, body)
	if r.status != want {
		c.t.Fatalf("%s %s = %d %s, want %d", method, path, r.status, r.body, want)
	}
	if out == nil {
		return
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		c.t.Fatalf("%s %s: Content-Type %q, want application/json", method, path, ct)
	}
	if err := json.Unmarshal(r.body, out); err != nil {
		c.t.Fatalf("%s %s: decode %s: %v", method, path, r.body, err)
	}
}

// apiError is the body of every API error.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field"`
}

// wantError checks that r is an API error: status, a JSON body with a
// non-empty error, and (when field is not "") the field named.
func (c *client) wantError(what string, r response, status int, field string) apiError {
	c.t.Helper()
	var e apiError
	if r.status != status {
		c.t.Errorf("%s = %d %s, want %d", what, r.status, r.body, status)
		return e
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		c.t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
		c.t.Errorf("%s: body %s, want {\"error\": \"...\"}", what, r.body)
	}
	if field != "" && e.Field != field {
		c.t.Errorf("%s: field %q (error %q), want field %q", what, e.Field, e.Error, field)
	}
	return e
}

// Records as the API shows them (only the fields the tests look at).

type contact struct {
	ID             uint64   `json:"id"`
	Kind           string   `json:"kind"`
	Name           string   `json:"name"`
	Emails         []string `json:"emails"`
	Domains        []string `json:"domains"`
	Phones         []string `json:"phones"`
	OrganizationID uint64   `json:"organization_id"`
	Address        string   `json:"address"`
}

type interaction struct {
	ID              uint64    `json:"id"`
	ContactIDs      []uint64  `json:"contact_ids"`
	Type            string    `json:"type"`
	Actions         []string  `json:"actions"`
	Title           string    `json:"title"`
	Details         string    `json:"details"`
	OccurredAt      time.Time `json:"occurred_at"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	DurationMinutes int       `json:"duration_minutes"`
	OwnerIDs        []uint64  `json:"owner_ids"`
	Source          string    `json:"source"`
	Location        string    `json:"location"`
	Address         string    `json:"address"`
}

type user struct {
	ID     uint64   `json:"id"`
	Name   string   `json:"name"`
	Emails []string `json:"emails"`
	Role   string   `json:"role"`
}

type page[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

func (c *client) createContact(body map[string]any) contact {
	c.t.Helper()
	var ct contact
	c.call("POST", "/api/v1/contacts", body, http.StatusCreated, &ct)
	if ct.ID == 0 {
		c.t.Fatalf("POST /api/v1/contacts %v: answer without id", body)
	}
	return ct
}

func (c *client) createInteraction(body map[string]any) interaction {
	c.t.Helper()
	var ia interaction
	c.call("POST", "/api/v1/interactions", body, http.StatusCreated, &ia)
	if ia.ID == 0 {
		c.t.Fatalf("POST /api/v1/interactions %v: answer without id", body)
	}
	return ia
}

// userID finds a user's id by address in GET /users.
func (c *client) userID(email string) uint64 {
	c.t.Helper()
	var users page[user]
	c.call("GET", "/api/v1/users", nil, http.StatusOK, &users)
	for _, u := range users.Items {
		if slices.Contains(u.Emails, email) {
			return u.ID
		}
	}
	c.t.Fatalf("GET /api/v1/users: no user with address %s in %+v", email, users.Items)
	return 0
}

// pages follows next_cursor from path (which has a query string) and
// returns every item and the size of each page.
func pages[T any](c *client, path string) (items []T, sizes []int) {
	c.t.Helper()
	cursor := ""
	for n := 0; ; n++ {
		if n == 100 {
			c.t.Fatalf("GET %s: more than 100 pages", path)
		}
		p := path
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		var pg page[T]
		c.call("GET", p, nil, http.StatusOK, &pg)
		if pg.Items == nil {
			c.t.Fatalf("GET %s: items is null or missing, want a list", p)
		}
		items = append(items, pg.Items...)
		sizes = append(sizes, len(pg.Items))
		if pg.NextCursor == "" {
			return items, sizes
		}
		cursor = pg.NextCursor
	}
}

// lines splits s into lines (a trailing newline ends the last one).
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}
