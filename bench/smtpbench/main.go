// Command smtpbench is the Go side of bench/smtp.sh: an SMTP load generator
// that measures connect-to-250 latency, a monotonic timer for smtp-source
// runs, and the small helpers the script needs to set Touchpoint up.
//
//	smtpbench send -addr H:P -from F -rcpt R -to T -n N -c C -kind plain|realistic [-pid PID]
//	smtpbench run [-pid PID] -- CMD ARGS...   time CMD (monotonic), CPU of PID
//	smtpbench eml -kind realistic             print one generated message
//	smtpbench ports N                         print N free loopback ports
//	smtpbench usertoken -db FILE -email E     a user's secret address token (daemon stopped)
//	smtpbench count -api URL -token T -contact ID
//	                                          interactions on a contact's timeline
//	smtpbench quiet [-busy 15] [-max 120s]    wait until the machine is idle
//
// Every result line is "key=value" pairs so the script can pick fields.
// This is a benchmark tool, not part of the product.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"mime/quotedprintable"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"

	"touchpoint/store"
)

func main() {
	if len(os.Args) < 2 {
		fatalf("usage: smtpbench send|run|eml|ports|usertoken|count ...")
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "send":
		err = cmdSend(args)
	case "run":
		err = cmdRun(args)
	case "eml":
		err = cmdEml(args)
	case "ports":
		err = cmdPorts(args)
	case "usertoken":
		err = cmdUserToken(args)
	case "count":
		err = cmdCount(args)
	case "quiet":
		err = cmdQuiet(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fatalf("%s: %v", cmd, err)
	}
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "smtpbench: "+format+"\n", a...)
	os.Exit(1)
}

// ---- CPU accounting -------------------------------------------------------

// clkTck is USER_HZ; 100 on every Linux this runs on.
const clkTck = 100

// procCPU is the CPU time (user+system) a process has used so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; fields start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// hostCPU returns busy and total jiffies over all CPUs.
func hostCPU() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)[1:]
	for i, v := range f {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 7 || i == 8 { // guest time is already in user
			continue
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// meter measures one run: wall time on the monotonic clock, the CPU used by
// the watched processes and the whole machine's busy share.
type meter struct {
	pids     []int
	cpu0     []time.Duration
	hb0, ht0 int64
	start    time.Time
	elapsed  time.Duration
	cpu      []time.Duration
	hostBusy float64 // share of all CPUs busy
	// client is the CPU the load generator used (smtp-source or this
	// process), set by the caller.
	client time.Duration
}

func newMeter(pids []int) *meter {
	m := &meter{pids: pids}
	for _, p := range pids {
		c, _ := procCPU(p)
		m.cpu0 = append(m.cpu0, c)
	}
	m.hb0, m.ht0 = hostCPU()
	m.start = time.Now()
	return m
}

func (m *meter) stop() {
	m.elapsed = time.Since(m.start)
	for i, p := range m.pids {
		c, _ := procCPU(p)
		m.cpu = append(m.cpu, c-m.cpu0[i])
	}
	hb, ht := hostCPU()
	if ht > m.ht0 {
		m.hostBusy = float64(hb-m.hb0) / float64(ht-m.ht0)
	}
}

// fields renders the measurement: cpu_pct is the share of one core (200 =
// both cores of a 2-core machine busy).
func (m *meter) fields() string {
	var b strings.Builder
	fmt.Fprintf(&b, "elapsed=%.4f", m.elapsed.Seconds())
	for i := range m.pids {
		pct := 100 * m.cpu[i].Seconds() / m.elapsed.Seconds()
		if i == 0 {
			fmt.Fprintf(&b, " cpu_s=%.2f cpu_pct=%.0f", m.cpu[i].Seconds(), pct)
		} else {
			fmt.Fprintf(&b, " cpu%d_pct=%.0f", i, pct)
		}
	}
	// other_pct: CPU used by everything else on the machine (other jobs,
	// the kernel's softirq work not charged to a process...), in core-%.
	busy := m.hostBusy * float64(runtime.NumCPU()) * m.elapsed.Seconds()
	other := busy - m.client.Seconds()
	for _, c := range m.cpu {
		other -= c.Seconds()
	}
	fmt.Fprintf(&b, " client_pct=%.0f host_busy_pct=%.0f other_pct=%.0f",
		100*m.client.Seconds()/m.elapsed.Seconds(), 100*m.hostBusy, max(0, 100*other/m.elapsed.Seconds()))
	return b.String()
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type pidList []int

func (p *pidList) String() string { return fmt.Sprint(*p) }
func (p *pidList) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return err
	}
	*p = append(*p, n)
	return nil
}

// ---- run: time a command ---------------------------------------------------

func cmdRun(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	var pids pidList
	fs.Var(&pids, "pid", "process whose CPU use to report (repeatable; first is cpu_pct)")
	fs.Parse(args)
	argv := fs.Args()
	if len(argv) == 0 {
		return errors.New("no command")
	}
	c := exec.Command(argv[0], argv[1:]...)
	c.Stdin, c.Stdout, c.Stderr = nil, os.Stderr, os.Stderr
	m := newMeter(pids)
	err := c.Run()
	m.stop()
	if c.ProcessState != nil {
		m.client = c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	}
	rc := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return err
		}
		rc = ee.ExitCode()
	}
	fmt.Printf("%s rc=%d\n", m.fields(), rc)
	if rc != 0 {
		os.Exit(rc)
	}
	return nil
}

// ---- message generation ------------------------------------------------------

// plainBody is smtp-source's payload shape: length bytes of 'X' in lines
// of 78 characters plus CRLF, each line starting with its number.
func plainBody(length int) []byte {
	var b bytes.Buffer
	line := 0
	for n := 0; n < length; {
		line++
		l := fmt.Sprintf("%d", line)
		for len(l) < 78 && n+len(l) < length {
			l += "X"
		}
		n += len(l)
		b.WriteString(l)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

type msgGen struct {
	kind     string
	from, to string
	size     int
	tag      string
	seq      atomic.Uint64
	body     []byte // plain: fixed payload
	realBody []byte // realistic: everything after the headers that vary
}

func newMsgGen(kind, from, to string, size int, tag string) (*msgGen, error) {
	g := &msgGen{kind: kind, from: from, to: to, size: size, tag: tag}
	switch kind {
	case "plain":
		g.body = plainBody(size)
	case "realistic":
		g.realBody = realisticBody()
	default:
		return nil, fmt.Errorf("unknown -kind %q (plain, realistic)", kind)
	}
	return g, nil
}

const boundaryMixed = "=_mixed_7f3a9c2e41b0"
const boundaryAlt = "=_alt_5d81e0b7c2f4"

// realisticBody is a multipart/mixed body like a mail client sends: a
// multipart/alternative with quoted-printable text and HTML in UTF-8, and a
// base64 PDF attachment with an RFC 2231 encoded file name.
func realisticBody() []byte {
	text := "Shalom Yossi,\r\n\r\n" +
		"Thank you for the meeting on Tuesday. As promised, here is a summary of what we discussed — " +
		"the quarterly review, the new pricing (€1,250 per seat, 15 % off for the first year) and the " +
		"onboarding plan for your team in Zürich and Tel Aviv.\r\n\r\n" +
		"1. Kick-off call next week: Monday or Wednesday, 10:00–11:00 CET, whichever suits you better.\r\n" +
		"2. Data migration: we need read access to the old CRM export (CSV or JSON is fine).\r\n" +
		"3. Training: two sessions of 90 minutes; the slides are attached.\r\n\r\n" +
		"Let me know if anything is unclear. שבוע טוב!\r\n\r\n" +
		"Best regards,\r\nSarah Stäffler\r\nCustomer Success · Example Org\r\n+972 3 555 0100\r\n"
	html := "<html><body><p>Shalom Yossi,</p><p>Thank you for the meeting on Tuesday. As promised, here is a " +
		"summary of what we discussed &mdash; the quarterly review, the new pricing (<b>€1,250 per seat</b>, " +
		"15&nbsp;% off for the first year) and the onboarding plan for your team in Zürich and Tel Aviv.</p>" +
		"<ol><li>Kick-off call next week: Monday or Wednesday, 10:00–11:00 CET.</li><li>Data migration: " +
		"we need read access to the old CRM export.</li><li>Training: two sessions of 90 minutes.</li></ol>" +
		"<p>Let me know if anything is unclear. שבוע טוב!</p><p>Best regards,<br>Sarah Stäffler</p></body></html>"
	// A small binary attachment: deterministic pseudo-random bytes behind a
	// PDF header, so base64 does not compress into something unrealistic.
	att := make([]byte, 1820)
	copy(att, "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	x := uint32(2463534242)
	for i := 16; i < len(att); i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		att[i] = byte(x)
	}
	var b bytes.Buffer
	w := func(s string) { b.WriteString(s) }
	w("This is a multi-part message in MIME format.\r\n\r\n")
	w("--" + boundaryMixed + "\r\n")
	w("Content-Type: multipart/alternative; boundary=\"" + boundaryAlt + "\"\r\n\r\n")
	w("--" + boundaryAlt + "\r\n")
	w("Content-Type: text/plain; charset=UTF-8; format=flowed\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	w(qp(text))
	w("\r\n--" + boundaryAlt + "\r\n")
	w("Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	w(qp(html))
	w("\r\n--" + boundaryAlt + "--\r\n\r\n")
	w("--" + boundaryMixed + "\r\n")
	w("Content-Type: application/pdf; name=\"=?UTF-8?Q?Schulungsunterlagen_Z=C3=BCrich.pdf?=\"\r\n")
	w("Content-Disposition: attachment;\r\n filename*=UTF-8''Schulungsunterlagen%20Z%C3%BCrich.pdf; size=1820\r\n")
	w("Content-Transfer-Encoding: base64\r\n\r\n")
	enc := base64.StdEncoding.EncodeToString(att)
	for len(enc) > 76 {
		w(enc[:76] + "\r\n")
		enc = enc[76:]
	}
	w(enc + "\r\n")
	w("--" + boundaryMixed + "--\r\n")
	return b.Bytes()
}

func qp(s string) string {
	var b bytes.Buffer
	q := quotedprintable.NewWriter(&b)
	q.Write([]byte(s))
	q.Close()
	// quotedprintable writes CRLF for hard breaks already; make sure soft
	// breaks are CRLF as well.
	out := strings.ReplaceAll(b.String(), "\r\n", "\n")
	return strings.ReplaceAll(out, "\n", "\r\n")
}

// next returns the next message, with a Message-ID unique to this process
// run (tag) and sequence number.
func (g *msgGen) next() []byte {
	n := g.seq.Add(1)
	var b bytes.Buffer
	date := time.Now().Format(time.RFC1123Z)
	switch g.kind {
	case "plain":
		fmt.Fprintf(&b, "From: <%s>\r\nTo: <%s>\r\nDate: %s\r\nMessage-Id: <%s.%d@bench.touchpoint.test>\r\n\r\n",
			g.from, g.to, date, g.tag, n)
		b.Write(g.body)
	case "realistic":
		fmt.Fprintf(&b, "Return-Path: <%s>\r\n", g.from)
		fmt.Fprintf(&b, "From: =?UTF-8?Q?Sarah_St=C3=A4ffler?= <%s>\r\n", g.from)
		fmt.Fprintf(&b, "To: =?UTF-8?B?15nXldeh15kg15vXlNef?= <%s>\r\n", g.to)
		fmt.Fprintf(&b, "Subject: =?UTF-8?Q?Angebot_f=C3=BCr_Q3_=E2=80=93_Zusammenfassung_unseres_Gespr?=\r\n"+
			" =?UTF-8?Q?=C3=A4chs_=23%d?=\r\n", n)
		fmt.Fprintf(&b, "Date: %s\r\n", date)
		fmt.Fprintf(&b, "Message-ID: <%s.%d@mail.staff.example>\r\n", g.tag, n)
		b.WriteString("MIME-Version: 1.0\r\n")
		b.WriteString("User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0\r\n")
		b.WriteString("Content-Language: en-US\r\n")
		b.WriteString("Content-Type: multipart/mixed; boundary=\"" + boundaryMixed + "\"\r\n\r\n")
		b.Write(g.realBody)
	}
	return b.Bytes()
}

func cmdEml(args []string) error {
	fs := flag.NewFlagSet("eml", flag.ExitOnError)
	kind := fs.String("kind", "realistic", "plain or realistic")
	from := fs.String("from", "sarah@staff.example", "From address")
	to := fs.String("to", "yossi@client.example", "To address")
	size := fs.Int("size", 4096, "plain: payload bytes")
	fs.Parse(args)
	g, err := newMsgGen(*kind, *from, *to, *size, "sample")
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(g.next())
	return err
}

// ---- send: load with latency -----------------------------------------------

func cmdSend(args []string) error {
	fs := flag.NewFlagSet("send", flag.ExitOnError)
	addr := fs.String("addr", "", "server host:port")
	from := fs.String("from", "", "MAIL FROM and From:")
	rcpt := fs.String("rcpt", "", "RCPT TO (the system address)")
	to := fs.String("to", "", "To: header (defaults to -rcpt)")
	n := fs.Int("n", 1000, "messages")
	conc := fs.Int("c", 20, "concurrent sessions")
	kind := fs.String("kind", "plain", "plain (smtp-source-like, -size bytes) or realistic (~5 KiB multipart)")
	size := fs.Int("size", 4096, "plain: payload bytes")
	tag := fs.String("tag", "", "Message-ID prefix (default: pid.time)")
	var pids pidList
	fs.Var(&pids, "pid", "process whose CPU use to report (repeatable)")
	fs.Parse(args)
	if *addr == "" || *from == "" || *rcpt == "" {
		return errors.New("need -addr, -from and -rcpt")
	}
	if *to == "" {
		*to = *rcpt
	}
	if *tag == "" {
		*tag = fmt.Sprintf("%d.%d", os.Getpid(), time.Now().UnixNano())
	}
	g, err := newMsgGen(*kind, *from, *to, *size, *tag)
	if err != nil {
		return err
	}
	var (
		next     atomic.Int64
		failures atomic.Int64
		firstErr atomic.Value
		bytesOut atomic.Int64
		wg       sync.WaitGroup
		lats     = make([][]time.Duration, *conc)
	)
	self0 := selfCPU()
	m := newMeter(pids)
	for w := 0; w < *conc; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for next.Add(1) <= int64(*n) {
				msg := g.next()
				d, err := sendOne(*addr, *from, *rcpt, msg)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				bytesOut.Add(int64(len(msg)))
				lats[w] = append(lats[w], d)
			}
		}(w)
	}
	wg.Wait()
	m.stop()
	m.client = selfCPU() - self0
	all := slices.Concat(lats...)
	slices.Sort(all)
	ok := len(all)
	pct := func(p float64) float64 {
		if ok == 0 {
			return 0
		}
		i := int(p*float64(ok)+0.5) - 1
		i = max(0, min(i, ok-1))
		return float64(all[i]) / float64(time.Millisecond)
	}
	avgSize := 0
	if ok > 0 {
		avgSize = int(bytesOut.Load()) / ok
	}
	fmt.Printf("msgs=%d errors=%d rate=%.1f p50_ms=%.3f p95_ms=%.3f p99_ms=%.3f max_ms=%.3f msg_bytes=%d %s\n",
		ok, failures.Load(), float64(ok)/m.elapsed.Seconds(), pct(.50), pct(.95), pct(.99), pct(1), avgSize, m.fields())
	if failures.Load() > 0 {
		fmt.Fprintf(os.Stderr, "smtpbench send: %d failures; first: %v\n", failures.Load(), firstErr.Load())
		os.Exit(3)
	}
	return nil
}

// sendOne opens a connection, sends one message and returns the time from
// the start of the TCP connect to the server's reply to the final dot; QUIT
// comes after and is not counted.
func sendOne(addr, from, rcpt string, msg []byte) (time.Duration, error) {
	start := time.Now()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("bench.localhost"); err != nil {
		return 0, err
	}
	if err := c.Mail(from, nil); err != nil {
		return 0, err
	}
	if err := c.Rcpt(rcpt, nil); err != nil {
		return 0, err
	}
	w, err := c.Data()
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(msg); err != nil {
		return 0, err
	}
	if err := w.Close(); err != nil { // reads the 250
		return 0, err
	}
	d := time.Since(start)
	if err := c.Quit(); err != nil {
		return 0, fmt.Errorf("quit: %w", err)
	}
	return d, nil
}

// ---- helpers for the setup ----------------------------------------------------

func cmdPorts(args []string) error {
	n := 1
	if len(args) > 0 {
		n, _ = strconv.Atoi(args[0])
	}
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		lns = append(lns, ln)
		fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return nil
}

// cmdUserToken prints a user's secret address token. The token is not shown
// by the API or CLI yet, so this reads the database (the daemon must not be
// running: bbolt holds a file lock).
func cmdUserToken(args []string) error {
	fs := flag.NewFlagSet("usertoken", flag.ExitOnError)
	db := fs.String("db", "", "touchpoint.db")
	email := fs.String("email", "", "the user's address")
	fs.Parse(args)
	st, err := store.Open(*db, store.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.UserByEmail(*email)
	if err != nil {
		return fmt.Errorf("user %s: %w", *email, err)
	}
	fmt.Println(u.AddressToken)
	return nil
}

// cmdCount pages through a contact's timeline and prints how many
// interactions it holds and how many distinct Message-IDs they carry.
func cmdCount(args []string) error {
	fs := flag.NewFlagSet("count", flag.ExitOnError)
	api := fs.String("api", "", "base URL, e.g. http://127.0.0.1:8080")
	token := fs.String("token", "", "API token")
	contact := fs.String("contact", "", "contact id")
	fs.Parse(args)
	type item struct {
		ID    json.Number `json:"id"`
		Email *struct {
			MessageID string `json:"message_id"`
		} `json:"email"`
	}
	var page struct {
		Items      []item `json:"items"`
		NextCursor string `json:"next_cursor"`
	}
	total := 0
	ids := map[string]bool{}
	cursor := ""
	for {
		u := fmt.Sprintf("%s/api/v1/contacts/%s/interactions?limit=500", *api, *contact)
		if cursor != "" {
			u += "&cursor=" + cursor
		}
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+*token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		page.Items, page.NextCursor = nil, ""
		if resp.StatusCode != 200 {
			resp.Body.Close()
			return fmt.Errorf("GET %s: %s", u, resp.Status)
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			return err
		}
		total += len(page.Items)
		for _, it := range page.Items {
			if it.Email != nil {
				ids[it.Email.MessageID] = true
			}
		}
		if page.NextCursor == "" || len(page.Items) == 0 {
			break
		}
		cursor = page.NextCursor
	}
	fmt.Printf("interactions=%d distinct_message_ids=%d\n", total, len(ids))
	return nil
}

// cmdQuiet waits until the machine's CPUs are less than -busy percent busy
// over one second (other jobs on a shared machine distort the figures), at
// most -max; it prints how long it waited and the last busy share.
func cmdQuiet(args []string) error {
	fs := flag.NewFlagSet("quiet", flag.ExitOnError)
	busyMax := fs.Float64("busy", 15, "percent of all CPUs")
	maxWait := fs.Duration("max", 2*time.Minute, "give up after")
	fs.Parse(args)
	start := time.Now()
	for {
		b0, t0 := hostCPU()
		time.Sleep(time.Second)
		b1, t1 := hostCPU()
		pct := 0.0
		if t1 > t0 {
			pct = 100 * float64(b1-b0) / float64(t1-t0)
		}
		if pct < *busyMax || time.Since(start) > *maxWait {
			fmt.Printf("waited=%.0f busy_pct=%.0f quiet=%v\n", time.Since(start).Seconds(), pct, pct < *busyMax)
			return nil
		}
	}
}
