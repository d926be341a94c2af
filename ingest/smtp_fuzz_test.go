package ingest

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"log/slog"

	"touchpoint/matcher"
	"touchpoint/store"
)

// fuzzWorld is one store and one SMTP listener shared by every input of a
// fuzz run (starting them per input would dwarf the work under test).
var fuzzWorld struct {
	once sync.Once
	s    *store.Store
	p    *Pipeline
	addr string
	err  error
}

func fuzzSetup(f *testing.F) (*store.Store, *Pipeline, string) {
	fuzzWorld.once.Do(func() {
		// The first fuzz target's temp dir: removed when the process ends
		// its tests; the open file stays usable until then.
		s, err := store.Open(filepath.Join(f.TempDir(), "f.db"), store.Options{NoSync: true})
		if err != nil {
			fuzzWorld.err = err
			return
		}
		ctx := context.Background()
		s.CreateUser(ctx, &store.User{Name: "Sarah", Emails: []string{"sarah@org.org"}}, "password123")
		s.CreateContact(ctx, &store.Contact{Name: "Yossi", Emails: []string{"yossi@example.com"}})
		p := &Pipeline{Store: s, Limits: DefaultLimits(), Matcher: matcher.Config{SystemAddress: "log@org.org", InternalDomains: []string{"org.org"}}}
		srv := NewSMTPServer(SMTPConfig{Hostname: "fuzz", MaxMessageBytes: 1 << 20, MaxRecipients: 10, MaxLineLength: 65536,
			ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second, SessionTimeout: 10 * time.Second}, p, slog.New(slog.DiscardHandler))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fuzzWorld.err = err
			return
		}
		go srv.Serve(ln)
		fuzzWorld.s, fuzzWorld.p, fuzzWorld.addr = s, p, ln.Addr().String()
	})
	if fuzzWorld.err != nil {
		f.Fatal(fuzzWorld.err)
	}
	return fuzzWorld.s, fuzzWorld.p, fuzzWorld.addr
}

// FuzzSMTPSession plays arbitrary bytes as a client: the server must answer,
// hang up or time out, never crash or hang, and must stay usable.
func FuzzSMTPSession(f *testing.F) {
	for _, seed := range []string{
		"EHLO x\r\nMAIL FROM:<sarah@org.org>\r\nRCPT TO:<log@org.org>\r\nDATA\r\nSubject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n",
		"HELO x\r\nMAIL FROM:<>\r\nRCPT TO:<log@org.org>\r\nDATA\r\n\r\n.\r\n",
		"EHLO x\r\nMAIL FROM:<a@b> SIZE=99999999999\r\n",
		"EHLO x\r\nRCPT TO:<log@org.org>\r\nDATA\r\n",
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<log@org.org>\r\nDATA\r\nx\n.\nstill data\r\n.\r\n",
		"BDAT 5 LAST\r\nhello",
		"AUTH PLAIN AGFhAGI=\r\nSTARTTLS\r\nNOOP\r\nRSET\r\nVRFY x\r\n",
	} {
		f.Add([]byte(seed))
	}
	_, _, addr := fuzzSetup(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		go func() {
			c.Write(in)
			if tc, ok := c.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
		}()
		io.Copy(io.Discard, c) // until the server hangs up or the deadline
	})
}

// FuzzPrepareAndStore runs arbitrary bytes through parse, match and the
// store transaction: every input must be stored (logged, unmatched or
// duplicate), and the store must stay consistent.
func FuzzPrepareAndStore(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	s, p, _ := fuzzSetup(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		res, err := p.Ingest(context.Background(), raw, matcher.Delivery{Source: store.SourcePipe})
		if err != nil {
			t.Fatalf("Ingest: %v", err)
		}
		switch res.Status {
		case store.IngestLogged, store.IngestUnmatched, store.IngestDuplicate:
		default:
			t.Fatalf("status %q", res.Status)
		}
		if res.InteractionID == 0 && res.UnmatchedID == 0 {
			t.Fatalf("no id in %+v", res)
		}
		_ = s
	})
}
