package ingest

import (
	"context"
	"os"
	"testing"
	"time"

	"touchpoint/matcher"
	"touchpoint/store"
)

// BenchmarkPrepare is the CPU cost of parsing and matching one typical
// 2.5 KB logged message (the IMAP benchmark's mail).
func BenchmarkPrepare(b *testing.B) {
	e := newIngestEnv(b)
	raws := benchMails(256)
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, processCPU())
	for i := range b.N {
		if _, err := e.pipe.Prepare(raws[i%len(raws)], matcher.Delivery{Source: store.SourceIMAP}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPrepareRealistic is BenchmarkPrepare for bench/smtp.sh's P2
// message (testdata/bench-realistic.eml, made by `smtpbench eml`): 5 KiB of
// multipart/mixed with encoded words, quoted-printable text and HTML and a
// base64 attachment.
func BenchmarkPrepareRealistic(b *testing.B) {
	e := newIngestEnv(b)
	raw, err := os.ReadFile("testdata/bench-realistic.eml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, processCPU())
	for range b.N {
		if _, err := e.pipe.Prepare(raw, matcher.Delivery{Source: store.SourceSMTP}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngestBatch stores prepared messages the way the IMAP poller
// does: 1,000 per durable transaction, with the mailbox cursor. It also
// reports the database file's size per message (of ~2.5 KB).
func BenchmarkIngestBatch(b *testing.B) {
	const batch = 1000
	e := newIngestEnv(b)
	raws := benchMails(b.N)
	ins := make([]*store.Incoming, b.N)
	for i, raw := range raws {
		in, err := e.pipe.Prepare(raw, matcher.Delivery{Source: store.SourceIMAP})
		if err != nil {
			b.Fatal(err)
		}
		ins[i] = in
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b, processCPU())
	for i := 0; i < len(ins); i += batch {
		end := min(i+batch, len(ins))
		if _, err := e.s.IngestBatch(context.Background(), ins[i:end], "bench", store.MailboxCursor{UIDValidity: 1, UID: uint32(end)}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if fi, err := os.Stat(e.s.Path()); err == nil {
		b.ReportMetric(float64(fi.Size())/float64(b.N), "file_B/msg")
	}
}

func benchMails(n int) [][]byte {
	raws := make([][]byte, n)
	for i := range raws {
		raws[i] = benchMail(i)
	}
	return raws
}

// reportCPU reports the process CPU time per operation since start: unlike
// ns/op it hardly moves when other work shares the machine.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((processCPU()-start).Microseconds())/float64(b.N), "cpu_µs/op")
}
