package ingest

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flood attacks the listener at addr from loopback addresses other than
// 127.0.0.1 until ctx ends: idle connections (thousands tried, from four
// addresses), NOOP tricklers and senders of one DATA byte per second. It
// returns once the attackers hold their connections, and reports how many
// connections were attempted.
func flood(ctx context.Context, t *testing.T, addr string, idle int) (attempts, held *atomic.Int64, wait func()) {
	t.Helper()
	attempts, held = new(atomic.Int64), new(atomic.Int64)
	var wg sync.WaitGroup
	var ready sync.WaitGroup
	dial := func(ip string) net.Conn {
		attempts.Add(1)
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil
		}
		context.AfterFunc(ctx, func() { c.Close() })
		return c
	}
	// Idle: connect and never say a word (over the per-IP cap, the 421
	// comes at once and the connection is gone).
	for i := range idle {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			c := dial(fmt.Sprintf("127.0.0.%d", 2+i%4))
			greeting := make([]byte, 3)
			if c != nil {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				io.ReadFull(c, greeting)
			}
			ready.Done()
			if string(greeting) == "220" {
				held.Add(1)
				<-ctx.Done()
			}
		}()
	}
	// Tricklers: EHLO, then a NOOP every 200 ms, for as long as allowed.
	for i := range 20 {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			c := dial(fmt.Sprintf("127.0.0.%d", 6+i%2))
			ready.Done()
			if c == nil {
				return
			}
			buf := make([]byte, 4096)
			c.Write([]byte("EHLO trickle\r\n"))
			for ctx.Err() == nil {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := c.Read(buf); err != nil {
					return
				}
				time.Sleep(200 * time.Millisecond)
				c.Write([]byte("NOOP\r\n"))
			}
		}()
	}
	// Slow DATA: a message one byte per second.
	for i := range 20 {
		wg.Add(1)
		ready.Add(1)
		go func() {
			defer wg.Done()
			c := dial(fmt.Sprintf("127.0.0.%d", 8+i%2))
			ready.Done()
			if c == nil {
				return
			}
			c.Write([]byte("EHLO slow\r\nMAIL FROM:<sarah@org.org>\r\nRCPT TO:<log@org.org>\r\nDATA\r\n"))
			for ctx.Err() == nil {
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}()
	}
	ready.Wait()
	return attempts, held, wg.Wait
}

// legitRate sends n messages from 4 concurrent clients on 127.0.0.1 and
// returns messages per second; every one must be acknowledged.
func legitRate(t *testing.T, e *smtpEnv, round string, n int) float64 {
	t.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				msg := strings.Replace(bccMail, "bcc-1@org.org", fmt.Sprintf("flood-%s-%d@org.org", round, i), 1)
				if err := e.send("sarah@org.org", []string{"log@org.org"}, msg); err != nil {
					t.Errorf("%s message %d: %v", round, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// TestSMTPFlood: while thousands of idle connections, NOOP tricklers and
// one-byte-per-second DATA senders hit the listener from other addresses,
// legitimate mail is still acknowledged. With TOUCHPOINT_SOAK=1 (make soak)
// it is bigger and also measures the rate against the same mail without
// the flood: at least half of it must remain.
func TestSMTPFlood(t *testing.T) {
	soak := os.Getenv("TOUCHPOINT_SOAK") != ""
	idle, n := 1000, 100
	if soak {
		idle, n = 4000, 1000
	}
	e := newSMTPEnv(t, func(c *SMTPConfig) {
		c.MaxConnections, c.MaxConnectionsIP = 1000, 50
		c.ReadTimeout = 3 * time.Second // the slow DATA senders are cut after it
		c.SessionTimeout = time.Minute
	})
	base := legitRate(t, e, "base", n)
	ctx, cancel := context.WithCancel(context.Background())
	attempts, held, wait := flood(ctx, t, e.addr, idle)
	during := legitRate(t, e, "flood", n)
	cancel()
	wait()
	t.Logf("flood: %d connections attempted, %d idle ones held; legitimate mail %.0f msgs/s without, %.0f during (%.2f)",
		attempts.Load(), held.Load(), base, during, during/base)
	// Four addresses at 50 connections each.
	if held.Load() != 200 {
		t.Errorf("%d idle connections were held, want 200 (the per-address cap)", held.Load())
	}
	e.settle()
	if n, err := e.s.CountInteractions(); err != nil || n != 2*100 && !soak || soak && n != 2*1000 {
		t.Errorf("%d interactions (%v), want every legitimate message once", n, err)
	}
	if soak && during < base/2 {
		t.Errorf("legitimate mail during the flood: %.0f msgs/s, under half of the %.0f without it", during, base)
	}
}
