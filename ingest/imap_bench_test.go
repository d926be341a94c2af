package ingest

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// BenchmarkIMAPIngest10k polls a 10,000-message Dovecot mailbox into a
// fresh store (parse, match, durable batched commits, \Seen flags), and in
// the same iteration FETCHes the same mailbox with a bare go-imap client
// that only reads the bodies. It reports both rates and their ratio (the
// target is ≥ 0.8 of the bare fetch).
//
//	go test -run '^$' -bench IMAPIngest10k -benchtime 3x ./ingest
func BenchmarkIMAPIngest10k(b *testing.B) {
	const n = 10000
	d := ownDovecot(b)
	cfg := d.newUser(b, "bench")
	cfg.Folder = "INBOX"
	raws := make([][]byte, n)
	var size int64
	for i := range raws {
		raws[i] = benchMail(i)
		size += int64(len(raws[i]))
	}
	start := time.Now()
	d.multiAppend(b, cfg, "INBOX", raws)
	b.Logf("APPEND took %v", time.Since(start).Round(time.Millisecond))
	b.Logf("mailbox: %d messages, %.1f MiB", n, float64(size)/(1<<20))

	var bare, ingest, bareCPU, ingestCPU time.Duration
	var busy, total int64
	var objectsPeak, livePeak uint64
	b.ResetTimer()
	for range b.N {
		start, cpu := time.Now(), processCPU()
		if got := bareFetch(b, d, cfg); got != n {
			b.Fatalf("bare fetch read %d messages, want %d", got, n)
		}
		bare += time.Since(start)
		bareCPU += processCPU() - cpu

		b.StopTimer()
		e := newIngestEnv(b)
		p := NewIMAPPoller(cfg, e.pipe, nil)
		done := make(chan struct{}, 1)
		p.OnPoll = func(_, outcome string, stored int) {
			if outcome != "ok" {
				b.Errorf("poll: %s (%s)", outcome, p.Status().LastError)
			}
			select {
			case done <- struct{}{}:
			default:
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		b.StartTimer()
		start, cpu = time.Now(), processCPU()
		busy0, total0 := systemCPU()
		stopped := make(chan struct{})
		go func() {
			p.Run(ctx)
			close(stopped)
		}()
		objects0, live0 := heapBytes()
		for polled := false; !polled; {
			select {
			case <-done:
				polled = true
			case <-time.After(5 * time.Millisecond):
				o, l := heapBytes()
				objectsPeak = max(objectsPeak, o-min(objects0, o))
				livePeak = max(livePeak, l-min(live0, l))
			}
		}
		ingest += time.Since(start)
		ingestCPU += processCPU() - cpu
		busy1, total1 := systemCPU()
		busy, total = busy+busy1-busy0, total+total1-total0
		b.StopTimer()
		cancel()
		<-stopped
		if st := p.Status(); st.Ingested != n {
			b.Fatalf("ingested %d, want %d: %+v", st.Ingested, n, st)
		}
		b.StartTimer()
	}
	iters := float64(b.N)
	bareRate := n * iters / bare.Seconds()
	ingestRate := n * iters / ingest.Seconds()
	b.ReportMetric(bareRate, "bare_msgs/s")
	b.ReportMetric(ingestRate, "ingest_msgs/s")
	b.ReportMetric(ingestRate/bareRate, "ratio")
	b.ReportMetric(float64(bareCPU.Microseconds())/(n*iters), "bare_cpu_µs/msg")
	b.ReportMetric(float64(ingestCPU.Microseconds())/(n*iters), "ingest_cpu_µs/msg")
	// The heap above where the poll started, sampled every 5 ms: what the
	// batches in flight cost, with the garbage not yet collected (which
	// GOGC scales) and live alone.
	b.ReportMetric(float64(objectsPeak)/(1<<20), "heap_growth_MiB")
	b.ReportMetric(float64(livePeak)/(1<<20), "live_heap_growth_MiB")
	// Other work on the machine skews both rates; this says how busy it was.
	b.ReportMetric(100*float64(busy)/float64(max(total, 1)), "machine_busy_%")
}

// heapBytes reads the heap's live and not yet swept objects, and what the
// last collection found live.
func heapBytes() (objects, live uint64) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}

// processCPU is the CPU time this process has used (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func systemCPU() (busy, total int64) {
	data, _ := os.ReadFile("/proc/stat")
	f := strings.Fields(strings.SplitN(string(data), "\n", 2)[0])
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// bareFetch reads every body of the folder with one UID FETCH 1:* and
// returns how many messages it read.
func bareFetch(b *testing.B, d *dovecot, cfg IMAPConfig) int {
	pw, _ := cfg.Password()
	c, err := imapclient.DialInsecure(d.addr(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(cfg.Username, pw).Wait(); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Select(cfg.Folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		b.Fatal(err)
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	cmd := c.Fetch(all, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
	got := 0
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			if body, ok := item.(imapclient.FetchItemDataBodySection); ok && body.Literal != nil {
				buf := make([]byte, body.Literal.Size())
				if _, err := io.ReadFull(body.Literal, buf); err != nil {
					b.Fatal(err)
				}
				got++
			}
		}
	}
	if err := cmd.Close(); err != nil {
		b.Fatal(err)
	}
	c.Logout().Wait()
	return got
}

// benchMail is a typical logged message of about 2.5 KB: four in five from
// Sarah to Yossi (logged), one in five from a stranger (unmatched).
func benchMail(i int) []byte {
	from, to := "Sarah Cohen <sarah@org.org>", "Yossi Levi <yossi@example.com>"
	if i%5 == 4 {
		from, to = fmt.Sprintf("Someone %d <someone%d@elsewhere.example>", i, i), "log@org.org"
	}
	var body strings.Builder
	for l := 0; body.Len() < 2000; l++ {
		fmt.Fprintf(&body, "Line %d of message %d: we spoke about the class on Thursday and the visit next week.\r\n", l, i)
	}
	return fmt.Appendf(nil, "From: %s\r\nTo: %s\r\nCc: Dana <dana@example.net>\r\nSubject: Follow-up %d about the visit\r\n"+
		"Date: Tue, 05 May 2026 10:%02d:00 +0000\r\nMessage-ID: <bench-%d@org.org>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s",
		from, to, i, i%60, i, body.String())
}
