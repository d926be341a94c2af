package ingest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"touchpoint/store"
)

var benchBody = strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 70)

// benchSeq numbers benchmark messages, so no two share a Message-ID.
var benchSeq atomic.Int64

// sendConcurrently sends n 4 KiB messages from senders concurrent
// clients, a new connection per message, and returns the messages per
// second until the last 250.
func sendConcurrently(b *testing.B, e *smtpEnv, senders, n int) float64 {
	var left atomic.Int64
	left.Store(int64(n))
	var wg sync.WaitGroup
	start := time.Now()
	for range senders {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				i := benchSeq.Add(1)
				msg := fmt.Sprintf("From: Sarah <sarah@org.org>\r\nTo: Yossi <yossi@example.com>\r\nSubject: bench %d\r\nMessage-ID: <b%d@org.org>\r\n\r\n%s", i, i, benchBody)
				if err := e.sendOnly("sarah@org.org", []string{"log@org.org"}, msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkSMTPDurable sends 4 KiB messages over loopback to the real
// listener on a durable (fsync) store, a new connection per message, with
// one sender and with 20. bench/smtp.sh gives the ratio to Postfix's
// smtp-sink; this one is for profiles (-cpuprofile).
func BenchmarkSMTPDurable(b *testing.B) {
	for _, senders := range []int{1, 20} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			e := newSMTPEnv(b, nil)
			b.ResetTimer()
			rate := sendConcurrently(b, e, senders, b.N)
			b.StopTimer()
			e.settle()
			b.ReportMetric(rate, "msgs/s")
		})
	}
}

// BenchmarkSMTPDurabilityCost is issue 7's P3: 20 senders against a
// durable store and against the same listener on a store that never syncs
// (Options.NoSync, a test-only setting), interleaved over three rounds in
// one run; durable/nosync is the ratio of their median rates (target
// ≥ 0.85).
//
//	go test -run '^$' -bench SMTPDurabilityCost -benchtime 9000x ./ingest
func BenchmarkSMTPDurabilityCost(b *testing.B) {
	durable := newSMTPEnvWith(b, store.Options{PasswordCost: bcrypt.MinCost}, nil)
	nosync := newSMTPEnvWith(b, store.Options{PasswordCost: bcrypt.MinCost, NoSync: true}, nil)
	const rounds, senders = 3, 20
	per := max(b.N/rounds, 1)
	var rd, rn []float64
	b.ResetTimer()
	for range rounds {
		rd = append(rd, sendConcurrently(b, durable, senders, per))
		rn = append(rn, sendConcurrently(b, nosync, senders, per))
	}
	b.StopTimer()
	durable.settle()
	nosync.settle()
	d, n := median(rd), median(rn)
	b.ReportMetric(d, "durable-msgs/s")
	b.ReportMetric(n, "nosync-msgs/s")
	b.ReportMetric(d/n, "durable/nosync")
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
