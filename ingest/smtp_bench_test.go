package ingest

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// BenchmarkSMTPDurable sends 4 KiB messages over loopback to the real
// listener on a durable (fsync) store, a new connection per message, with
// one sender and with 20. bench/smtp.sh gives the ratio to Postfix's
// smtp-sink; this one is for profiles (-cpuprofile).
func BenchmarkSMTPDurable(b *testing.B) {
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 70)
	for _, senders := range []int{1, 20} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			e := newSMTPEnv(b, nil)
			var n atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := n.Add(1)
						if i > int64(b.N) {
							return
						}
						msg := fmt.Sprintf("From: Sarah <sarah@org.org>\r\nTo: Yossi <yossi@example.com>\r\nSubject: bench %d\r\nMessage-ID: <b%d@org.org>\r\n\r\n%s", i, i, body)
						if err := e.sendOnly("sarah@org.org", []string{"log@org.org"}, msg); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			e.settle()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
