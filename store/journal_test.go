package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// openDurable opens a store at path with fsync on, as the daemon does.
func openDurable(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{PasswordCost: bcrypt.MinCost})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// acceptAll accepts the messages concurrently, as SMTP sessions do, and
// fails the test unless every one is acknowledged.
func acceptAll(t testing.TB, s *Store, ins []*Incoming) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(ins))
	for _, in := range ins {
		wg.Go(func() { errs <- s.Accept(context.Background(), in, nil) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Accept: %v", err)
		}
	}
}

// journalStore opens a durable store at path with one contact.
func journalStore(t testing.TB, path string) (*Store, *Contact) {
	t.Helper()
	s := openDurable(t, path)
	return s, mustContact(t, s, Contact{Name: "Yossi"})
}

func flush(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func journalMessages(prefix string, n int, contact ID) []*Incoming {
	ins := make([]*Incoming, n)
	for i := range ins {
		ins[i] = incoming(fmt.Sprintf("mid:%s-%d@x", prefix, i), []ID{contact}, "")
	}
	return ins
}

// copyFile copies a file as a crash would leave it (the page cache is the
// file: a killed process loses nothing written).
func copyFile(t testing.TB, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// crashCopy copies the database and its journal while no write runs (the
// applier held, or idle), as a crash at that moment would leave them.
func crashCopy(t testing.TB, s *Store, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "crash.db")
	copyFile(t, s.Path(), dst)
	copyFile(t, s.Path()+journalSuffix, dst+journalSuffix)
	return dst
}

// holdApplier makes the applier wait before each write until release is
// called; held is signalled the first time it waits.
func holdApplier(s *Store) (release func(), held <-chan struct{}) {
	hold, h := make(chan struct{}), make(chan struct{}, 1)
	s.journalApplyHook = func([]*prepared) error {
		select {
		case h <- struct{}{}:
		default:
		}
		<-hold
		return nil
	}
	var once sync.Once
	return func() { once.Do(func() { close(hold) }) }, h
}

// unappliedCrash accepts n messages while the applier is held and returns
// a crash image of the database and its journal, and the contact.
func unappliedCrash(t *testing.T, prefix string, n int) (string, *Contact) {
	t.Helper()
	dir := t.TempDir()
	s, c := journalStore(t, filepath.Join(dir, "t.db"))
	release, _ := holdApplier(s)
	t.Cleanup(func() {
		release()
		s.Close()
	})
	acceptAll(t, s, journalMessages(prefix, n, c.ID))
	return crashCopy(t, s, filepath.Join(dir, "crash")), c
}

// wantLogged fails the test unless want messages are logged on contact
// and the store checks clean.
func wantLogged(t testing.TB, s *Store, contact ID, want int) {
	t.Helper()
	if n := countLogged(t, s, contact); n != want {
		t.Errorf("%d logged, want %d", n, want)
	}
	if err := s.Check(); err != nil {
		t.Error(err)
	}
}

// reopenSettled opens the file at path again and wants nothing replayed
// and want messages logged on contact.
func reopenSettled(t testing.TB, path string, contact ID, want int) {
	t.Helper()
	r := openDurable(t, path)
	defer r.Close()
	if n := countLogged(t, r, contact); r.journalReplayed != 0 || n != want {
		t.Errorf("reopened: %d replayed, %d logged; want 0 and %d", r.journalReplayed, n, want)
	}
}

func countLogged(t testing.TB, s *Store, contact ID) int {
	t.Helper()
	items, _, err := s.Timeline(contact, 1000, "")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ia := range items {
		if seen[ia.Email.MessageID] {
			t.Errorf("%s logged twice", ia.Email.MessageID)
		}
		seen[ia.Email.MessageID] = true
	}
	return len(items)
}

func TestAcceptIsAppliedAndReplayedNever(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.db")
	s, c := journalStore(t, path)
	var mu sync.Mutex
	outcomes := map[string]int{}
	for _, in := range journalMessages("a", 20, c.ID) {
		err := s.Accept(context.Background(), in, func(r IngestResult) {
			mu.Lock()
			outcomes[r.Status]++
			mu.Unlock()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	flush(t, s)
	if n := countLogged(t, s, c.ID); n != 20 {
		t.Fatalf("%d logged after Flush, want 20", n)
	}
	mu.Lock()
	if outcomes[IngestLogged] != 20 {
		t.Errorf("outcomes = %v, want 20 logged", outcomes)
	}
	mu.Unlock()
	// The same messages again: duplicates, however they arrive.
	acceptAll(t, s, journalMessages("a", 20, c.ID))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openDurable(t, path)
	defer s.Close()
	if s.journalReplayed != 0 {
		t.Errorf("a clean close left %d messages to replay", s.journalReplayed)
	}
	wantLogged(t, s, c.ID, 20) // after reopening
}

// TestJournalReplaysAfterCrash: messages acknowledged but not yet applied
// when the process dies are applied by the next Open, once, and a torn
// record at the end of the journal is ignored.
func TestJournalReplaysAfterCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, c := journalStore(t, filepath.Join(dir, "t.db"))
	defer s.Close()
	acceptAll(t, s, journalMessages("before", 10, c.ID))
	flush(t, s)
	release, held := holdApplier(s)
	defer release()
	acceptAll(t, s, journalMessages("pending", 1, c.ID))
	<-held // the applier has the first pending message and waits
	acceptAll(t, s, journalMessages("after", 30, c.ID))
	crash := crashCopy(t, s, dir)

	r := openDurable(t, crash)
	wantLogged(t, r, c.ID, 41) // after replay
	if r.journalReplayed != 31 {
		t.Errorf("replayed %d messages, want the 31 unapplied", r.journalReplayed)
	}
	r.Close()

	// Opening again replays nothing: the applied position was committed.
	reopenSettled(t, crash, c.ID, 41)

	// A crash in the middle of a write: the last record is cut short.
	crash2 := crashCopy(t, s, filepath.Join(dir, "torn"))
	fi, err := os.Stat(crash2 + journalSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(crash2+journalSuffix, fi.Size()-10); err != nil {
		t.Fatal(err)
	}
	r = openDurable(t, crash2)
	defer r.Close()
	if n := countLogged(t, r, c.ID); n != 40 || r.journalReplayed != 30 {
		t.Errorf("torn journal: %d logged, %d replayed; want 40 and 30", n, r.journalReplayed)
	}
	// New mail after the replay is journaled and applied as usual.
	acceptAll(t, r, journalMessages("later", 3, c.ID))
	flush(t, r)
	if n := countLogged(t, r, c.ID); n != 43 {
		t.Errorf("%d logged after new mail, want 43", n)
	}
}

// TestJournalWrapsAndStaleRecordsStayApplied: once everything is applied
// the journal is written from the top again, so it stays small, and the
// records of earlier passes left behind are never applied again.
func TestJournalWrapsAndStaleRecordsStayApplied(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, c := journalStore(t, filepath.Join(dir, "t.db"))
	defer s.Close()
	// A large first pass, then many small ones over its start.
	acceptAll(t, s, journalMessages("big", 50, c.ID))
	size := func() int64 {
		t.Helper()
		if err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(s.Path() + journalSuffix)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	first := size()
	for i := range 20 {
		acceptAll(t, s, journalMessages(fmt.Sprintf("small%d", i), 1, c.ID))
		if got := size(); got != first {
			t.Fatalf("journal grew from %d to %d bytes with everything applied: it does not start over", first, got)
		}
	}
	crash := crashCopy(t, s, dir)
	r := openDurable(t, crash)
	defer r.Close()
	if r.journalReplayed != 0 {
		t.Errorf("replayed %d messages that were all applied", r.journalReplayed)
	}
	if n := countLogged(t, r, c.ID); n != 70 {
		t.Errorf("%d logged, want 70", n)
	}
}

// TestJournalFailureFallsBackToTheDatabase: when the journal cannot be
// written, the message is refused (a temporary failure for the sender)
// and later mail goes straight to the database.
func TestJournalFailureFallsBackToTheDatabase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.db")
	// A directory where the journal should be: it cannot be opened for writing.
	if err := os.Mkdir(path+journalSuffix, 0o700); err != nil {
		t.Fatal(err)
	}
	s, c := journalStore(t, path)
	defer s.Close()
	in := journalMessages("j", 1, c.ID)[0]
	if err := s.Accept(context.Background(), in, nil); err == nil {
		t.Fatal("Accept succeeded with a journal that cannot be written")
	}
	var got IngestResult
	if err := s.Accept(context.Background(), journalMessages("j", 1, c.ID)[0], func(r IngestResult) { got = r }); err != nil {
		t.Fatalf("Accept after a journal failure: %v", err)
	}
	if got.Status != IngestLogged || countLogged(t, s, c.ID) != 1 {
		t.Errorf("outcome %+v, %d logged; want logged and 1", got, countLogged(t, s, c.ID))
	}
}

// TestJournalCloseAppliesEverything: Close returns once every acknowledged
// message is in the database.
func TestJournalCloseAppliesEverything(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.db")
	s, c := journalStore(t, path)
	release, _ := holdApplier(s)
	acceptAll(t, s, journalMessages("c", 25, c.ID))
	closed := make(chan error)
	go func() { closed <- s.Close() }()
	time.Sleep(20 * time.Millisecond)
	if err := s.Accept(context.Background(), journalMessages("late", 1, c.ID)[0], nil); err != ErrClosed {
		t.Errorf("Accept while closing = %v, want ErrClosed", err)
	}
	release()
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	reopenSettled(t, path, c.ID, 25)
}

// TestJournalRecordRoundTrip: a record decodes to what write needs.
func TestJournalRecordRoundTrip(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	in := incoming("mid:rt@x", []ID{7, 9}, "", "a@b.example")
	in.Interaction.Email.Attachments = []Attachment{{Name: "a.pdf", ContentType: "application/pdf", Size: 12}}
	p, err := s.prepare(in)
	if err != nil {
		t.Fatal(err)
	}
	rec, rawAt := p.journalRecord()
	if string(rec[rawAt:rawAt+len(in.Raw)]) != string(in.Raw) {
		t.Errorf("rawAt %d does not point at the raw message", rawAt)
	}
	got, err := decodeJournalRecord(rec)
	if err != nil {
		t.Fatal(err)
	}
	if got.rawID != p.rawID || got.itemID != p.itemID || got.in.DedupeKey != in.DedupeKey ||
		string(got.in.Raw) != string(in.Raw) || !got.in.ReceivedAt.Equal(in.ReceivedAt) ||
		fmt.Sprint(got.in.Unknown) != fmt.Sprint(in.Unknown) ||
		string(got.in.Interaction.encode()) != string(in.Interaction.encode()) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got.in, in)
	}
	if _, err := decodeJournalRecord(rec[:20]); err == nil {
		t.Error("a cut record decoded")
	}
}

// TestAcceptKeepsNoHoldOnTheCallersBuffer: SMTP reuses its DATA buffer once
// Accept returns; what the applier writes later must not change with it.
func TestAcceptKeepsNoHoldOnTheCallersBuffer(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	c := mustContact(t, s, Contact{Name: "Yossi"})
	release, _ := holdApplier(s)
	in := journalMessages("buf", 1, c.ID)[0]
	buf := in.Raw
	want := string(buf)
	if err := s.Accept(context.Background(), in, nil); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'X'
	}
	release()
	flush(t, s)
	items, _, err := s.Timeline(c.ID, 1, "")
	if err != nil || len(items) != 1 {
		t.Fatalf("timeline = %d, %v", len(items), err)
	}
	raw, err := s.Raw(items[0].Email.RawID)
	if err != nil || string(raw) != want {
		t.Errorf("stored raw = %q, %v; want %q", raw, err, want)
	}
}

// BenchmarkAccept is one sender's Accept on a durable store: the journal
// write and fdatasync a 250 waits for, with the applier running behind.
func BenchmarkAccept(b *testing.B) {
	s, c := journalStore(b, filepath.Join(b.TempDir(), "t.db"))
	defer s.Close()
	raw := []byte(strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 70))
	b.ResetTimer()
	for i := range b.N {
		in := incoming(fmt.Sprintf("mid:bench-%d@x", i), []ID{c.ID}, "")
		in.Raw = raw
		if err := s.Accept(context.Background(), in, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRestoreMovesTheJournalAside: a journal belongs to the database it
// was written beside; after a restore its mail must not be replayed into
// the backup.
func TestRestoreMovesTheJournalAside(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "t.db")
	s, c := journalStore(t, path)
	backup := filepath.Join(dir, "backup.db")
	if _, err := s.BackupFile(backup); err != nil {
		t.Fatal(err)
	}
	release, _ := holdApplier(s)
	acceptAll(t, s, journalMessages("after-backup", 3, c.ID))
	crash := crashCopy(t, s, filepath.Join(dir, "crashed"))
	release()
	s.Close()

	aside, err := Restore(crash, backup)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(crash + journalSuffix); !os.IsNotExist(err) {
		t.Errorf("the journal is still beside the restored database: %v", err)
	}
	if _, err := os.Stat(aside + journalSuffix); err != nil {
		t.Errorf("the journal did not go aside with the old file: %v", err)
	}
	reopenSettled(t, crash, c.ID, 0) // the backup's
}

// TestCloseWhileTheDatabaseFails: the database refuses every apply (a
// full disk), the backlog fills and senders wait; Close still returns,
// and every acknowledged message is applied by the next Open.
func TestCloseWhileTheDatabaseFails(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.db")
	s, c := journalStore(t, path)
	s.journalApplyHook = func([]*prepared) error { return errors.New("no space left on device") }
	s.journal.maxBacklog = 4
	const n = 1000 // more than the journal's queue holds: senders block handing over
	var acked atomic.Int64
	var wg sync.WaitGroup
	for _, in := range journalMessages("full", n, c.ID) {
		wg.Go(func() {
			if s.Accept(context.Background(), in, nil) == nil {
				acked.Add(1)
			}
		})
	}
	for deadline := time.Now().Add(10 * time.Second); s.JournalBacklog() < 4; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("backlog %d, want the 4 it may hold", s.JournalBacklog())
		}
	}
	for deadline := time.Now().Add(10 * time.Second); !s.JournalStatus().Failing; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the journal's status does not say the database refuses writes")
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("Close hangs while the database fails and senders wait on a full backlog")
	}
	wg.Wait()
	if acked.Load() < 4 {
		t.Fatalf("%d acknowledged, want at least the 4 the backlog held", acked.Load())
	}
	r := openDurable(t, path)
	defer r.Close()
	if got, err := r.CountInteractions(); err != nil || int64(got) != acked.Load() || int64(r.journalReplayed) != acked.Load() {
		t.Errorf("after reopening: %d logged, %d replayed; want the %d acknowledged", got, r.journalReplayed, acked.Load())
	}
}

// TestReplayedIDsStayTaken: after a crash and a restart with the clock
// behind, new mail gets ids above the replayed mail's; it must not
// overwrite it.
func TestReplayedIDsStayTaken(t *testing.T) {
	t.Parallel()
	crash, c := unappliedCrash(t, "before-crash", 5)

	behind := time.Now().Add(-time.Hour)
	r, err := Open(crash, Options{PasswordCost: bcrypt.MinCost, Now: func() time.Time { return behind }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	items, _, err := r.Timeline(c.ID, 10, "")
	if err != nil || len(items) != 5 {
		t.Fatalf("replayed timeline = %d, %v", len(items), err)
	}
	if id := r.NewID(); id <= items[0].ID || id <= items[0].Email.RawID {
		t.Errorf("new id %d is not above the replayed interaction %d / raw %d", id, items[0].ID, items[0].Email.RawID)
	}
	acceptAll(t, r, journalMessages("after-restart", 5, c.ID))
	flush(t, r)
	wantLogged(t, r, c.ID, 10) // the 5 replayed and the 5 new
}

// TestJournalBoundsItsBacklogInBytes: past the byte bound a sender waits,
// and past the wait it is told to come back later (ErrBusy); nothing it
// was told is stored is lost.
func TestJournalBoundsItsBacklogInBytes(t *testing.T) {
	t.Parallel()
	s, c := journalStore(t, filepath.Join(t.TempDir(), "t.db"))
	defer s.Close()
	release, _ := holdApplier(s)
	s.journal.maxBacklogBytes = 1
	s.journal.acceptWait = 200 * time.Millisecond
	ins := journalMessages("bytes", 2, c.ID)
	if err := s.Accept(context.Background(), ins[0], nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Accept(context.Background(), ins[1], nil); !errors.Is(err, ErrBusy) {
		t.Errorf("Accept past the byte bound = %v, want ErrBusy", err)
	}
	release()
	// The message given up on is journaled once the first is applied,
	// then applied in turn: a retry would be a duplicate.
	for deadline := time.Now().Add(5 * time.Second); s.journal.pendingBytes.Load() != 0 || countLogged(t, s, c.ID) != 2; time.Sleep(5 * time.Millisecond) {
		flush(t, s)
		if time.Now().After(deadline) {
			t.Fatalf("%d logged, %d bytes pending; want 2 and 0", countLogged(t, s, c.ID), s.journal.pendingBytes.Load())
		}
	}
}

// TestJournalReplaysOnlyIntoItsDatabase: a journal left beside a new
// database (the old file deleted by hand) is not replayed into it.
func TestJournalReplaysOnlyIntoItsDatabase(t *testing.T) {
	t.Parallel()
	crash, _ := unappliedCrash(t, "old", 3)
	if err := os.Remove(crash); err != nil {
		t.Fatal(err)
	}
	r := openDurable(t, crash)
	defer r.Close()
	if r.journalReplayed != 0 {
		t.Errorf("a new database replayed %d messages of another's journal", r.journalReplayed)
	}
}

// TestPoisonMessageIsSetAside: a message the database cannot take because
// of a bug (a panic writing it) does not hold up the mail around it: it is
// kept in a file of its own beside the journal and the applier moves on.
func TestPoisonMessageIsSetAside(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "t.db")
	s, c := journalStore(t, path)
	const poison = "mid:poison-1@x"
	s.journalApplyHook = func(ps []*prepared) error {
		for _, p := range ps {
			if p.in.DedupeKey == poison {
				return &internalError{"a bug writing " + poison}
			}
		}
		return nil
	}
	var mu sync.Mutex
	outcomes := map[string]string{}
	for _, in := range journalMessages("poison", 3, c.ID) {
		key := in.DedupeKey
		if err := s.Accept(context.Background(), in, func(r IngestResult) {
			mu.Lock()
			outcomes[key] = r.Status
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, s)
	if n := countLogged(t, s, c.ID); n != 2 {
		t.Errorf("%d logged, want the 2 good messages", n)
	}
	mu.Lock()
	if outcomes[poison] != IngestFailed || outcomes["mid:poison-0@x"] != IngestLogged || outcomes["mid:poison-2@x"] != IngestLogged {
		t.Errorf("outcomes = %v", outcomes)
	}
	mu.Unlock()
	files := s.JournalStatus().SetAside
	if len(files) != 1 {
		t.Fatalf("dead-letter files %v, want one", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if want := journalMessages("poison", 3, c.ID)[1].Raw; string(b) != string(want) {
		t.Errorf("the file holds %q, want the poison message %q", b, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	reopenSettled(t, path, c.ID, 2)
}

// TestUndecodableRecordIsSetAside: a record that passes its checksum but
// does not decode (another version's, or a bug's) is kept in a file of its
// own; Open goes on, and the mail after it is applied.
func TestUndecodableRecordIsSetAside(t *testing.T) {
	t.Parallel()
	crash, c := unappliedCrash(t, "around", 3)
	b, err := os.ReadFile(crash + journalSuffix)
	if err != nil {
		t.Fatal(err)
	}
	var recs [][]byte
	for off := 0; off+journalHeader <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off:]))
		if n == 0 || off+journalHeader+n > len(b) {
			break
		}
		recs = append(recs, b[off+journalHeader:off+journalHeader+n])
		off += journalHeader + n
	}
	if len(recs) != 3 {
		t.Fatalf("%d records in the journal, want 3", len(recs))
	}
	recs[1][0] = 99 // an unknown record version
	// Written again as that version would have: a valid chain.
	ro, err := Open(crash, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	applied, seed, err := ro.journalState(false)
	ro.Close()
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(crash + journalSuffix)
	writeJournal(t, crash+journalSuffix, seed, applied, recs)

	r := openDurable(t, crash)
	defer r.Close()
	if n := countLogged(t, r, c.ID); n != 2 || r.journalReplayed != 2 {
		t.Errorf("%d logged, %d replayed; want the 2 records around the bad one", n, r.journalReplayed)
	}
	files, _ := filepath.Glob(crash + journalSuffix + ".failed-*.record")
	if len(files) != 1 {
		t.Fatalf("files set aside: %v, want one", files)
	}
	if got, _ := os.ReadFile(files[0]); string(got) != string(recs[1]) {
		t.Error("the file set aside is not the bad record")
	}
}
