// Command scale is issue 7's scale benchmark, lines P6–P13: the real
// touchpoint binary, built from this tree, serving a database of 100,000
// contacts and 1,000,000 interactions, measured over HTTP with an API token
// the way a client sees it. P1–P5 (SMTP ingest against Postfix's smtp-sink)
// are bench/smtp.sh.
//
//	go run ./bench/scale                 # 100k contacts, 1M interactions
//	go run ./bench/scale -quick          # 5k contacts, 100k interactions
//	go run ./bench/scale -reseed         # seed again (P11 is measured only when seeding)
//
// The seeded database is cached under the system temp dir
// (touchpoint-scale/), keyed by the parameters, seed.Version and the schema
// version; each run works on a copy, so what one run writes (P13's mail)
// never reaches the next. Results go to bench/results/scale-*.txt.
//
// This is a benchmark tool, not part of the product.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"touchpoint/seed"
	"touchpoint/store"
)

type options struct {
	contacts, interactions int
	seed                   uint64
	requests, textRequests int
	scans                  int
	smtpMsgs, smtpSenders  int
	reseed, keep           bool
	resultsDir             string
}

func main() {
	var o options
	quick := flag.Bool("quick", false, "a small run: 5,000 contacts, 100,000 interactions, fewer requests")
	flag.IntVar(&o.contacts, "contacts", 100_000, "contacts to seed")
	flag.IntVar(&o.interactions, "interactions", 1_000_000, "interactions to seed")
	flag.Uint64Var(&o.seed, "seed", 1, "seed for the generated data")
	flag.IntVar(&o.requests, "n", 300, "requests per list, timeline and filter test (P6-P8)")
	flag.IntVar(&o.textRequests, "text-n", 20, "requests per free-text word (P9)")
	flag.IntVar(&o.scans, "scans", 3, "full scans for P8's ratio (the median counts)")
	flag.IntVar(&o.smtpMsgs, "smtp-n", 20_000, "messages sent for P13's load")
	flag.IntVar(&o.smtpSenders, "smtp-c", 20, "concurrent SMTP senders for P13")
	flag.BoolVar(&o.reseed, "reseed", false, "seed a new database even when one is cached")
	flag.BoolVar(&o.keep, "keep", false, "keep the run's directory (copy of the database, daemon logs)")
	flag.StringVar(&o.resultsDir, "results", "bench/results", "where scale-YYYYMMDD-HHMMSS.txt goes")
	flag.Parse()
	if *quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, p *int, v int) {
			if !set[name] {
				*p = v
			}
		}
		def("contacts", &o.contacts, 5_000)
		def("interactions", &o.interactions, 100_000)
		def("n", &o.requests, 200)
		def("text-n", &o.textRequests, 10)
		def("smtp-n", &o.smtpMsgs, 2_000)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// note prints progress to stderr.
func note(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "# "+format+"\n", a...)
}

// seedEnd is seed's default end of the generated period (seed.Options.End):
// P8's 30-day range ends there.
var seedEnd = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func run(ctx context.Context, o options) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	rev := revision(root)
	work, err := os.MkdirTemp("", "touchpoint-scale-run-")
	if err != nil {
		return err
	}
	if o.keep {
		note("keeping %s", work)
	} else {
		defer os.RemoveAll(work)
	}
	bin, smtpbench := filepath.Join(work, "touchpoint"), filepath.Join(work, "smtpbench")
	note("building touchpoint and smtpbench")
	for _, b := range [][2]string{{bin, "./cmd/touchpoint"}, {smtpbench, "./bench/smtpbench"}} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b[0], b[1])
		cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w", b[1], err)
		}
	}

	cached, err := seeded(ctx, bin, o)
	if err != nil {
		return err
	}

	if err := os.MkdirAll(filepath.Join(root, o.resultsDir), 0o750); err != nil {
		return err
	}
	outPath := filepath.Join(root, o.resultsDir, "scale-"+time.Now().Format("20060102-150405")+".txt")
	outFile, err := os.Create(outPath)
	if err != nil {
		return err
	}
	defer outFile.Close()
	r := &report{w: io.MultiWriter(os.Stdout, outFile)}
	r.header(rev, o, cached)

	// Each run gets its own copy: P13 logs mail into it.
	data := filepath.Join(work, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		return err
	}
	db := filepath.Join(data, "touchpoint.db")
	note("copying the seeded database (%.0f MiB)", float64(cached.Seed.FileBytes)/(1<<20))
	if err := copyFile(cached.dbPath(), db); err != nil {
		return err
	}

	// P8's reference and P11's byte counts, taken while no daemon holds
	// the file.
	f := combinedFilter(cached.Seed.UserIDs[1])
	scan, matches, sizes, err := offline(db, f, o.scans)
	if err != nil {
		return err
	}

	d := &daemon{bin: bin, dataDir: data, log: filepath.Join(work, "touchpoint.log")}
	if err := d.start(ctx); err != nil {
		return err
	}
	defer d.stop()
	api := &client{base: d.base(), token: cached.Token, hc: &http.Client{Timeout: 10 * time.Minute}}
	if err := d.waitHTTP(ctx, api); err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // let start-up settle
	idle, err := procMem(d.pid())
	if err != nil {
		return err
	}

	// P6, P7, P8.
	page := strconv.Itoa(store.DefaultLimit)
	list, err := api.latencies(ctx, "/api/v1/interactions?limit="+page, o.requests, store.DefaultLimit)
	if err != nil {
		return fmt.Errorf("P6: %w", err)
	}
	r.latency("P6", "global list, first page, HTTP", list, 20*time.Millisecond)

	timeline, err := api.latencies(ctx, fmt.Sprintf("/api/v1/contacts/%d/interactions?limit=%s", cached.Seed.BusiestContactID, page),
		o.requests, store.DefaultLimit)
	if err != nil {
		return fmt.Errorf("P7: %w", err)
	}
	r.latency("P7", fmt.Sprintf("timeline first page, busiest contact (%d)", cached.Seed.BusiestContactID), timeline, 5*time.Millisecond)

	q := url.Values{
		"from": {f.From.Format(time.DateOnly)}, "to": {f.To.AddDate(0, 0, -1).Format(time.DateOnly)},
		"type": {"Call"}, "action": {"Tefillin"}, "owner_id": {strconv.FormatUint(uint64(f.OwnerIDs[0]), 10)}, "limit": {page},
	}
	filtered, err := api.latencies(ctx, "/api/v1/interactions?"+q.Encode(), o.requests, min(matches, store.DefaultLimit))
	if err != nil {
		return fmt.Errorf("P8: %w", err)
	}
	r.latency("P8", fmt.Sprintf("filtered page: 30 days+type+action+owner (%d match)", matches), filtered, 50*time.Millisecond)
	ratio := scan.Seconds() / filtered.pct(.95).Seconds()
	r.line("P8", "  vs full scan of the same filter (store, median)", fmt.Sprintf("%.0f× (scan %s)", ratio, ms(scan)), "≥ 20×", ratio >= 20,
		"scan: ExportInteractions over every record, filter tested in Go, as BenchmarkFullScanFiltered (daemon stopped)")

	// P9.
	for _, w := range []struct{ word, what string }{{seed.RareWord, "rare word (~0.5%)"}, {"xylophone", "absent word"}} {
		l, err := api.latencies(ctx, "/api/v1/interactions?limit="+page+"&q="+url.QueryEscape(w.word), o.textRequests, -1)
		if err != nil {
			return fmt.Errorf("P9 %s: %w", w.word, err)
		}
		r.latency("P9", fmt.Sprintf("free text %q, %s", w.word, w.what), l, 300*time.Millisecond)
	}
	time.Sleep(2 * time.Second) // idle again
	afterReads, err := procMem(d.pid())
	if err != nil {
		return err
	}

	// P10.
	ex, err := api.export(ctx, d.pid())
	if err != nil {
		return fmt.Errorf("P10: %w", err)
	}
	rate := float64(ex.rows) / ex.elapsed.Seconds()
	r.line("P10", fmt.Sprintf("CSV export, %d rows in %s", ex.rows, ex.elapsed.Round(time.Millisecond)),
		fmt.Sprintf("%.0f rows/s", rate), "≥ 250000 rows/s", rate >= 250_000, "")
	growth := ex.heapPeak - ex.heapBefore
	r.line("P10", "  heap growth during export (peak heap_inuse - before)", mib(growth), "≤ 64 MiB", growth <= 64<<20,
		fmt.Sprintf("heap_inuse before %s, peak %s, after %s; RssAnon peak %s (sampled every 100 ms from /metrics and /proc)",
			mib(ex.heapBefore), mib(ex.heapPeak), mib(ex.heapAfter), mib(ex.rssPeak)))

	// P11, from the seeding (cached or now).
	when := "seeded in this run"
	if !cached.fresh {
		when = "cached seed of " + cached.SeededAt.Format(time.DateTime) + "; -reseed to measure again"
	}
	r.line("P11", fmt.Sprintf("bulk load of %d interactions (touchpoint seed)", cached.Seed.Interactions),
		fmt.Sprintf("%.1f s", cached.Seed.InteractionsSeconds), "≤ 15 s", cached.Seed.InteractionsSeconds <= 15,
		fmt.Sprintf("%.0f interactions/s; whole seed %.1f s; %s", float64(cached.Seed.Interactions)/cached.Seed.InteractionsSeconds,
			cached.Seed.ElapsedSeconds, when))
	values := store.RecordValueBytes(sizes)
	fileRatio := float64(cached.Seed.FileBytes) / float64(values)
	r.line("P11", "  file size / raw record value bytes", fmt.Sprintf("%.2f", fileRatio), "≤ 1.6", fileRatio <= 1.6,
		fmt.Sprintf("file %s, record values %s (per bucket below)", mib(cached.Seed.FileBytes), mib(values)))

	// P13 under load (before the restart, on the warm daemon).
	load, err := smtpLoad(ctx, api, d, smtpbench, o)
	if err != nil {
		return fmt.Errorf("P13 load: %w", err)
	}

	// P12: restart cold.
	if err := d.stop(); err != nil {
		return err
	}
	dropped := dropCaches()
	if err := d.start(ctx); err != nil {
		return err
	}
	api.base = d.base() // new ports
	started := d.started
	if err := d.waitTCP(ctx); err != nil {
		return err
	}
	listening := time.Since(started)
	first, err := api.get(ctx, "/api/v1/interactions?limit="+page, store.DefaultLimit)
	if err != nil {
		return fmt.Errorf("P12: %w", err)
	}
	second, err := api.get(ctx, "/api/v1/interactions?limit="+page, store.DefaultLimit)
	if err != nil {
		return fmt.Errorf("P12: %w", err)
	}
	r.line("P12", "first request after a restart: global list page 1", ms(first), "≤ 50 ms", first <= 50*time.Millisecond,
		fmt.Sprintf("page cache dropped: %s; process start to HTTP listening %s; second request %s", dropped, ms(listening), ms(second)))

	r.line("P13", "serve RssAnon, idle after the P6-P9 reads", mib(afterReads.anon), "≤ 150 MiB", afterReads.anon <= 150<<20,
		fmt.Sprintf("VmRSS %s (RssFile %s: mmap page cache); just after start RssAnon %s, VmRSS %s",
			mib(afterReads.rss), mib(afterReads.file), mib(idle.anon), mib(idle.rss)))
	r.line("P13", fmt.Sprintf("serve RssAnon, %d SMTP senders (%d msgs)", o.smtpSenders, o.smtpMsgs), mib(load.peak.anon)+" peak",
		"≤ 150 MiB", load.peak.anon <= 150<<20,
		fmt.Sprintf("at the end %s; VmRSS peak %s; %s msgs/s, %d logged", mib(load.end.anon), mib(load.peak.rss), load.rate, load.logged))

	r.summary()
	r.buckets(sizes)
	note("results written to %s", outPath)
	return nil
}

// ---- the seeded database ---------------------------------------------------------

// cache is a seeded database kept between runs, with what is known of it.
type cache struct {
	dir      string
	fresh    bool // seeded in this run
	Seed     seed.Summary
	Token    string // an admin API token
	SeededAt time.Time
}

func (c *cache) dbPath() string { return filepath.Join(c.dir, "data", "touchpoint.db") }

// seeded returns the cached database for o, seeding it with `touchpoint
// seed` when missing (or when -reseed): into a temporary directory renamed
// into place once complete.
func seeded(ctx context.Context, bin string, o options) (*cache, error) {
	base := filepath.Join(os.TempDir(), "touchpoint-scale")
	dir := filepath.Join(base, fmt.Sprintf("c%d-i%d-s%d-v%d.%d", o.contacts, o.interactions, o.seed, seed.Version, store.SchemaVersion()))
	c := &cache{dir: dir}
	if raw, err := os.ReadFile(filepath.Join(dir, "meta.json")); err == nil && !o.reseed {
		if err := json.Unmarshal(raw, c); err == nil {
			if _, err := os.Stat(c.dbPath()); err == nil {
				note("using the cached database %s", dir)
				return c, nil
			}
		}
	}
	if err := os.MkdirAll(base, 0o750); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(base, ".seeding-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	c.dir = tmp
	env := []string{"TOUCHPOINT_DATA_DIR=" + filepath.Join(tmp, "data"), "TOUCHPOINT_LOG_LEVEL=warn"}
	note("seeding %d contacts and %d interactions", o.contacts, o.interactions)
	out, err := command(ctx, env, os.Stderr, bin, "seed", "--json", "--contacts", strconv.Itoa(o.contacts),
		"--interactions", strconv.Itoa(o.interactions), "--seed", strconv.FormatUint(o.seed, 10))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(out, &c.Seed); err != nil {
		return nil, fmt.Errorf("touchpoint seed --json: %w", err)
	}
	c.SeededAt = time.Now().UTC()
	c.fresh = true
	tok, err := command(ctx, env, os.Stderr, bin, "token", "create", "--name", "scale-bench", "--role", "admin")
	if err != nil {
		return nil, err
	}
	c.Token = strings.TrimSpace(string(tok))

	c.Seed.Path = filepath.Join(dir, "data", "touchpoint.db")
	raw, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "meta.json"), raw, 0o600); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, err
	}
	c.dir = dir
	return c, nil
}

// command runs bin with args and the extra environment, returning stdout.
func command(ctx context.Context, env []string, stderr io.Writer, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return out, nil
}

// cleanEnv is our environment without any TOUCHPOINT_* setting.
func cleanEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "TOUCHPOINT_") })
}

// combinedFilter is P8's filter: the last 30 days, type Call, action
// Tefillin, one owner (the second user, who owns more than most).
func combinedFilter(owner store.ID) store.Filter {
	return store.Filter{
		From: seedEnd.AddDate(0, 0, -30), To: seedEnd,
		Types: []string{"call"}, Actions: []string{"tefillin"}, OwnerIDs: []store.ID{owner},
	}
}

func matches(f store.Filter, ia *store.Interaction) bool {
	return !ia.OccurredAt.Before(f.From) && ia.OccurredAt.Before(f.To) &&
		strings.EqualFold(ia.Type, f.Types[0]) &&
		slices.ContainsFunc(ia.Actions, func(a string) bool { return strings.EqualFold(a, f.Actions[0]) }) &&
		slices.Contains(ia.OwnerIDs, f.OwnerIDs[0])
}

// offline opens the database file read-only and returns what needs the
// daemon stopped: the median time of n full scans finding every match of
// f by reading every interaction, the number of matches (checked against
// the indexed plan), and the bytes of each bucket.
func offline(path string, f store.Filter, n int) (time.Duration, int, []store.BucketSize, error) {
	s, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return 0, 0, nil, err
	}
	defer s.Close()
	note("summing each bucket's bytes")
	sizes, err := s.Sizes()
	if err != nil {
		return 0, 0, nil, err
	}
	indexed := 0
	if err := s.ExportInteractions(f, func(*store.Interaction, []*store.ExportContact) error { indexed++; return nil }); err != nil {
		return 0, 0, nil, err
	}
	var times []time.Duration
	for i := range n {
		note("P8 reference: full scan %d/%d", i+1, n)
		found := 0
		start := time.Now()
		err := s.ExportInteractions(store.Filter{}, func(ia *store.Interaction, _ []*store.ExportContact) error {
			if matches(f, ia) {
				found++
			}
			return nil
		})
		if err != nil {
			return 0, 0, nil, err
		}
		times = append(times, time.Since(start))
		if found != indexed {
			return 0, 0, nil, fmt.Errorf("full scan finds %d matches, the indexed filter %d", found, indexed)
		}
	}
	slices.Sort(times)
	return times[len(times)/2], indexed, sizes, nil
}

// ---- the daemon --------------------------------------------------------------------

type daemon struct {
	bin, dataDir, log  string
	httpAddr, smtpAddr string
	cmd                *exec.Cmd
	started            time.Time
	done               chan struct{}
	logFile            *os.File
	stopOnce           *sync.Once
	stopErr            error
}

const systemAddress = "log@scale.example"

func (d *daemon) base() string { return "http://" + d.httpAddr }
func (d *daemon) pid() int     { return d.cmd.Process.Pid }

func (d *daemon) start(ctx context.Context) error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	d.httpAddr, d.smtpAddr = ports[0], ports[1]
	d.logFile, err = os.OpenFile(d.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	d.cmd = exec.Command(d.bin, "serve")
	d.cmd.Env = append(cleanEnv(),
		"TOUCHPOINT_DATA_DIR="+d.dataDir,
		"TOUCHPOINT_HTTP_ADDR="+d.httpAddr,
		"TOUCHPOINT_SMTP_ADDR="+d.smtpAddr,
		"TOUCHPOINT_SYSTEM_ADDRESS="+systemAddress,
		"TOUCHPOINT_LOG_LEVEL=warn",
		"TOUCHPOINT_SMTP_MAX_CONNECTIONS_PER_IP=1000",
	)
	d.cmd.Stdout, d.cmd.Stderr = d.logFile, d.logFile
	d.started = time.Now()
	if err := d.cmd.Start(); err != nil {
		return err
	}
	cmd, done := d.cmd, make(chan struct{})
	d.done, d.stopOnce = done, new(sync.Once)
	go func() {
		cmd.Wait()
		close(done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			cmd.Process.Signal(syscall.SIGTERM)
		case <-done:
		}
	}()
	note("touchpoint serve pid %d (http %s, smtp %s)", d.pid(), d.httpAddr, d.smtpAddr)
	return nil
}

// stop sends SIGTERM and waits for the exit (SIGKILL after a minute).
func (d *daemon) stop() error {
	d.stopOnce.Do(func() {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(time.Minute):
			d.cmd.Process.Kill()
			<-d.done
			d.stopErr = errors.New("touchpoint serve did not stop within a minute of SIGTERM")
		}
		d.logFile.Close()
	})
	return d.stopErr
}

// waitTCP waits until the HTTP port accepts connections, without sending
// a request (P12's first request must be the page).
func (d *daemon) waitTCP(ctx context.Context) error {
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		if conn, err := net.Dial("tcp", d.httpAddr); err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-d.done:
			return fmt.Errorf("touchpoint serve exited; see %s", d.log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	return errors.New("touchpoint serve did not listen within 2 minutes")
}

// waitHTTP waits for the port, then for /healthz.
func (d *daemon) waitHTTP(ctx context.Context, api *client) error {
	if err := d.waitTCP(ctx); err != nil {
		return err
	}
	for range 100 {
		if _, err := api.get(ctx, "/healthz", -1); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("/healthz did not answer 200")
}

func freePorts(n int) ([]string, error) {
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		out = append(out, ln.Addr().String())
	}
	return out, nil
}

// dropCaches empties the kernel's page cache, so the restarted daemon reads
// the file from disk; it says whether it could.
func dropCaches() string {
	syscall.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
		return "no (" + err.Error() + ")"
	}
	return "yes (echo 3 > /proc/sys/vm/drop_caches)"
}

// mem is a process's resident memory from /proc/PID/status.
type mem struct{ rss, anon, file int64 }

func procMem(pid int) (mem, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return mem{}, err
	}
	var m mem
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			m.rss = kb << 10
		case "RssAnon:":
			m.anon = kb << 10
		case "RssFile:":
			m.file = kb << 10
		}
	}
	return m, nil
}

// ---- HTTP ------------------------------------------------------------------------------

type client struct {
	base, token string
	hc          *http.Client
}

func (c *client) do(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s %s", method, path, resp.Status, b)
	}
	return resp, nil
}

// get times one GET, the body read to the end. want ≥ 0 is the number of
// items the answer's list must hold.
func (c *client) get(ctx context.Context, path string, want int) (time.Duration, error) {
	start := time.Now()
	resp, err := c.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if want >= 0 {
		var l struct{ Items []json.RawMessage }
		if err := json.Unmarshal(b, &l); err != nil || len(l.Items) != want {
			return 0, fmt.Errorf("GET %s: %d items (%v), want %d", path, len(l.Items), err, want)
		}
	}
	return d, nil
}

func (c *client) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

// latencies is n timed GETs after a few unrecorded ones.
type latencies []time.Duration

func (c *client) latencies(ctx context.Context, path string, n, want int) (latencies, error) {
	note("GET %s × %d", path, n)
	var out latencies
	for i := range n + min(5, n) {
		d, err := c.get(ctx, path, want)
		if err != nil {
			return nil, err
		}
		if i >= min(5, n) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out, nil
}

// pct is the nearest-rank percentile of sorted latencies.
func (l latencies) pct(p float64) time.Duration {
	i := int(p*float64(len(l))+0.5) - 1
	return l[max(0, min(i, len(l)-1))]
}

// metric reads one unlabelled gauge or a labelled series from /metrics.
func (c *client) metric(ctx context.Context, series string) (float64, error) {
	resp, err := c.do(ctx, http.MethodGet, "/metrics", nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, v, ok := strings.Cut(sc.Text(), " ")
		if ok && name == series {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, nil // a counter not yet incremented is absent
}

type exportResult struct {
	rows                                     int
	elapsed                                  time.Duration
	heapBefore, heapPeak, heapAfter, rssPeak int64
}

// export streams the CSV of everything, counting rows (details hold
// newlines, so only those outside quotes end a row), while a sampler reads
// the daemon's heap from /metrics and its RssAnon from /proc.
func (c *client) export(ctx context.Context, pid int) (*exportResult, error) {
	res := &exportResult{}
	before, err := c.metric(ctx, "go_memstats_heap_inuse_bytes")
	if err != nil {
		return nil, err
	}
	res.heapBefore = int64(before)
	res.heapPeak = res.heapBefore
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if h, err := c.metric(ctx, "go_memstats_heap_inuse_bytes"); err == nil {
				res.heapPeak = max(res.heapPeak, int64(h))
			}
			if m, err := procMem(pid); err == nil {
				res.rssPeak = max(res.rssPeak, m.anon)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	note("GET /api/v1/interactions/export.csv")
	start := time.Now()
	resp, err := c.do(ctx, http.MethodGet, "/api/v1/interactions/export.csv", nil)
	if err == nil {
		res.rows, err = countCSVRows(resp.Body)
		resp.Body.Close()
	}
	res.elapsed = time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	after, err := c.metric(ctx, "go_memstats_heap_inuse_bytes")
	if err != nil {
		return nil, err
	}
	res.heapAfter = int64(after)
	res.heapPeak = max(res.heapPeak, res.heapAfter)
	return res, nil
}

// countCSVRows counts the records after the header.
func countCSVRows(r io.Reader) (int, error) {
	// Line ends outside quotes, found with IndexByte and Count (vectorised)
	// so the client's counting stays small next to the server's work.
	buf := make([]byte, 256<<10)
	quoted, lines := false, 0
	for {
		n, err := r.Read(buf)
		for b := buf[:n]; len(b) > 0; {
			i := bytes.IndexByte(b, '"')
			if i < 0 {
				i = len(b)
			}
			if !quoted {
				lines += bytes.Count(b[:i], []byte{'\n'})
			}
			if i < len(b) {
				quoted = !quoted
				i++
			}
			b = b[i:]
		}
		if errors.Is(err, io.EOF) {
			return max(lines-1, 0), nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// ---- P13: SMTP load ---------------------------------------------------------------------

type loadResult struct {
	peak, end mem
	rate      string
	logged    int
}

// smtpLoad sends o.smtpMsgs messages from a staff user to a new contact,
// the system address in BCC, o.smtpSenders at a time (bench/smtpbench, a
// new connection per message), sampling the daemon's memory meanwhile.
func smtpLoad(ctx context.Context, api *client, d *daemon, smtpbench string, o options) (*loadResult, error) {
	var users struct {
		Items []struct{ Emails []string }
	}
	if err := api.call(ctx, http.MethodGet, "/api/v1/users", nil, &users); err != nil {
		return nil, err
	}
	if len(users.Items) == 0 || len(users.Items[0].Emails) == 0 {
		return nil, errors.New("no user with an address")
	}
	staff := users.Items[0].Emails[0]
	to := fmt.Sprintf("scale-load-%d@load.example", time.Now().UnixNano())
	var contact struct{ ID store.ID }
	err := api.call(ctx, http.MethodPost, "/api/v1/contacts", map[string]any{"kind": "person", "name": "Scale Load", "emails": []string{to}}, &contact)
	if err != nil {
		return nil, err
	}
	const logged = `touchpoint_messages_total{source="smtp",status="logged"}`
	l0, err := api.metric(ctx, logged)
	if err != nil {
		return nil, err
	}

	res := &loadResult{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			if m, err := procMem(d.pid()); err == nil {
				res.peak.anon = max(res.peak.anon, m.anon)
				res.peak.rss = max(res.peak.rss, m.rss)
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	note("P13: %d messages from %s to %s, %d senders", o.smtpMsgs, staff, to, o.smtpSenders)
	out, err := command(ctx, nil, os.Stderr, smtpbench, "send", "-addr", d.smtpAddr, "-from", staff, "-to", to, "-rcpt", systemAddress,
		"-n", strconv.Itoa(o.smtpMsgs), "-c", strconv.Itoa(o.smtpSenders), "-kind", "plain", "-size", "4096", "-pid", strconv.Itoa(d.pid()))
	if err == nil {
		// Mail answered 250 reaches the database from the journal within
		// ~50 ms: the load ends (and memory is sampled) until it has.
		err = settleJournal(ctx, api)
	}
	close(stop)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	res.end, _ = procMem(d.pid())
	for _, kv := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(kv, "rate="); ok {
			res.rate = v
		}
	}
	l1, err := api.metric(ctx, logged)
	if err != nil {
		return nil, err
	}
	res.logged = int(l1 - l0)
	if res.logged != o.smtpMsgs {
		return nil, fmt.Errorf("%d of %d messages logged", res.logged, o.smtpMsgs)
	}
	return res, nil
}

// settleJournal waits (at most 30 s) until the daemon's journal holds no
// message that is not yet in the database.
func settleJournal(ctx context.Context, api *client) error {
	for deadline := time.Now().Add(30 * time.Second); ; {
		n, err := api.metric(ctx, "touchpoint_journal_backlog")
		if err != nil || n == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the journal still holds %v messages after 30 s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---- the report -------------------------------------------------------------------------

type line struct {
	id, what, figure, target, note string
	pass                           bool
}

type report struct {
	w     io.Writer
	lines []line
}

// revision is the tree's git revision, +dirty when the code differs.
func revision(root string) string {
	rev, _ := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	dirty, _ := exec.Command("git", "-C", root, "status", "--porcelain", "--", "cmd", "store", "web", "seed", "ingest", "matcher", "bench").Output()
	rv := strings.TrimSpace(string(rev))
	if len(dirty) > 0 {
		rv += "+dirty"
	}
	return rv
}

func (r *report) header(rv string, o options, c *cache) {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(r.w, "== touchpoint scale benchmark (issue 7, P6-P13) %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(r.w, "host: %d cpus, %s, kernel %s, %s; load average at start %s\n", runtime.NumCPU(), model,
		strings.TrimSpace(string(kernel)), runtime.Version(), strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Fprintf(r.w, "touchpoint: %s; data: %d contacts, %d interactions, %d users (seed %d), busiest contact %d\n",
		rv, c.Seed.Contacts, c.Seed.Interactions, c.Seed.Users, o.seed, c.Seed.BusiestContactID)
	fmt.Fprintf(r.w, "requests: %d per P6-P8 test, %d per P9 word (after 5 unrecorded), one client, keep-alive, body read to the end\n",
		o.requests, o.textRequests)
	fmt.Fprintln(r.w)
}

func (r *report) line(id, what, figure, target string, pass bool, note string) {
	l := line{id: id, what: what, figure: figure, target: target, pass: pass, note: note}
	r.lines = append(r.lines, l)
	fmt.Fprintf(r.w, "%-4s %-58s %22s  %-16s %s\n", l.id, l.what, l.figure, l.target, verdict(l.pass))
	if note != "" {
		fmt.Fprintf(r.w, "     %s\n", note)
	}
}

func (r *report) latency(id, what string, l latencies, target time.Duration) {
	r.line(id, what, "p95 "+ms(l.pct(.95)), fmt.Sprintf("≤ %g ms", target.Seconds()*1000), l.pct(.95) <= target,
		fmt.Sprintf("p50 %s, p99 %s, max %s over %d requests", ms(l.pct(.5)), ms(l.pct(.99)), ms(l[len(l)-1]), len(l)))
}

func (r *report) summary() {
	pass := 0
	for _, l := range r.lines {
		if l.pass {
			pass++
		}
	}
	fmt.Fprintf(r.w, "\n== %d of %d lines met their target\n", pass, len(r.lines))
}

// buckets prints the buckets holding at least 1 MiB of pages: where the
// file's bytes go.
func (r *report) buckets(sizes []store.BucketSize) {
	fmt.Fprintf(r.w, "\n== buckets (P11): bytes of keys and values as encoded, pages allocated, fill = in use / pages\n")
	fmt.Fprintf(r.w, "%-18s %10s %12s %12s %12s %6s\n", "bucket", "keys", "key bytes", "value bytes", "pages", "fill")
	sizes = slices.Clone(sizes)
	slices.SortFunc(sizes, func(a, b store.BucketSize) int { return int(b.PageBytes - a.PageBytes) })
	for _, bs := range sizes {
		if bs.PageBytes < 1<<20 {
			continue
		}
		fmt.Fprintf(r.w, "%-18s %10d %12s %12s %12s %5.0f%%\n", bs.Name, bs.Keys, mib(bs.KeyBytes), mib(bs.ValueBytes),
			mib(bs.PageBytes), 100*float64(bs.InuseBytes)/float64(bs.PageBytes))
	}
}

func verdict(pass bool) string {
	if pass {
		return "PASS"
	}
	return "MISS"
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// ---- files -------------------------------------------------------------------------------

// copyFile copies with cp, which clones the file where the filesystem can.
func copyFile(from, to string) error {
	if out, err := exec.Command("cp", "--reflink=auto", from, to).CombinedOutput(); err != nil {
		return fmt.Errorf("cp %s: %v: %s", from, err, out)
	}
	return nil
}

// moduleRoot is the directory of the go.mod of the module we run in.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside the touchpoint module")
	}
	return filepath.Dir(mod), nil
}
