package store

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The journal is the write-ahead log of received mail. Accept appends a
// prepared message to it and syncs (one write and one fdatasync for every
// message that arrived meanwhile); from then on the message is durable and
// the transport may acknowledge it. An applier writes journaled messages to
// the database behind, many per transaction, and commits the last applied
// sequence number in the same transaction; Open applies whatever a crash
// left unapplied before anything else runs.
//
// File format: records back to back from offset 0, each a 16-byte header
// (payload length u32, sequence u64, CRC u32, little-endian) and the
// payload. The CRC (Castagnoli) covers the header's first 12 bytes and the
// payload and starts from the previous record's CRC, so the records form a
// chain: bytes left over from an earlier pass over the file, or a torn
// write, end it. Once every record written is applied, the next write
// starts again at offset 0: the file stays as large as the largest backlog
// and is overwritten in place, which syncs faster than appending.
//
// Replay walks the chain from offset 0, skips records at or below the
// applied sequence number, and applies the consecutive ones above it.

// journalSuffix names the journal beside the database file.
const journalSuffix = ".journal"

const (
	journalHeader    = 16
	maxJournalRecord = 1 << 28
	journalV1        = 1
	// maxApplyBatch bounds how many journaled messages one apply
	// transaction writes.
	maxApplyBatch = 1024
	// applyGap is the least time between two apply transactions.
	applyGap = 50 * time.Millisecond
	// maxAcceptWait bounds how long Accept waits for the journal.
	maxAcceptWait = 30 * time.Second
	// defaultMaxBacklog and defaultMaxBacklogBytes bound the journaled
	// messages held in memory for the applier (Accept waits beyond), and
	// the bytes replay holds at once.
	defaultMaxBacklog      = 4096
	defaultMaxBacklogBytes = 64 << 20
)

var (
	castagnoli        = crc32.MakeTable(crc32.Castagnoli)
	keyJournalApplied = []byte("journal_applied")
	// keyJournalSeed is the chain's first "previous CRC", random per
	// database, so a journal replays only into the database it was
	// written for (not into a new one created beside it).
	keyJournalSeed = []byte("journal_seed")
)

type journalReq struct {
	p       *prepared
	rec     []byte
	exp     *expectation
	done    chan error
	applied func(IngestResult)
	seq     uint64
}

type journal struct {
	path   string
	noSync bool
	f      *os.File // opened on the first write

	in chan *journalReq
	// queue holds acknowledged messages for the applier; ready wakes it.
	queueMu  sync.Mutex
	queue    []*journalReq
	ready    chan struct{}
	hurry    chan struct{} // cuts the applier's pause short
	done     bool          // the journal loop has ended
	expected atomic.Int64  // Accepts announced and not yet queued
	lingered atomic.Int64
	broken   atomic.Bool // an I/O error: Accept writes through the writer instead
	gaveUp   atomic.Bool // closing, and the database refused a batch: left for replay
	failing  atomic.Bool // the applier's last attempt failed (cleared by a success)
	wg       sync.WaitGroup

	// The journal loop's own state.
	off  int64
	seq  uint64 // last sequence number written
	crc  uint32 // the chain's CRC after the last record
	buf  []byte
	seed uint32 // the chain's first "previous CRC" (keyJournalSeed)
	// maxBacklog and maxBacklogBytes bound what waits for the applier:
	// defaultMaxBacklog messages, defaultMaxBacklogBytes of records
	// (tests lower them).
	maxBacklog      uint64
	maxBacklogBytes int64
	acceptWait      time.Duration // maxAcceptWait
	pendingBytes    atomic.Int64

	acked   atomic.Uint64 // last sequence number acknowledged
	applied atomic.Uint64 // last sequence number committed to the database
	mu      sync.Mutex
	changed chan struct{} // closed and replaced when applied moves
}

// Accept stores a received message for a transport that only needs to know
// it is durable (SMTP): with the journal it returns once the message is
// synced to the journal, and applied, when not nil, hears the outcome once
// the message is in the database (not after a crash: replay has no one to
// tell). Without the journal (Options.NoJournal, or after a journal I/O
// error) it is Ingest. A nil error means the message is durable.
func (s *Store) Accept(ctx context.Context, in *Incoming, applied func(IngestResult)) error {
	j := s.journal
	if j == nil || j.broken.Load() {
		res, err := s.Ingest(ctx, in)
		if err == nil && applied != nil {
			applied(res)
		}
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.prepare(in)
	if err != nil {
		return err
	}
	rec, rawAt := p.journalRecord()
	// The caller's buffer is theirs again once Accept returns, and the
	// applier writes later: the raw message is the record's copy.
	p.in.Raw = rec[rawAt : rawAt+len(p.in.Raw) : rawAt+len(p.in.Raw)]
	req := &journalReq{p: p, rec: rec, done: make(chan error, 1), applied: applied}
	req.exp, _ = ctx.Value(expectKey{}).(*expectation)
	// Normally a millisecond; bounded, so that a sender is told to come
	// back later (451) rather than held while the database cannot be
	// written and the backlog is full. A message given up on may still be
	// journaled and logged: its retry is then a duplicate.
	wait := time.NewTimer(j.acceptWait)
	defer wait.Stop()
	sent := false
	if err := s.whileOpen(func() {
		select {
		case j.in <- req:
			sent = true
		case <-wait.C:
		case <-ctx.Done():
		}
	}); err != nil {
		return err
	}
	req.exp.release()
	if sent {
		select {
		case err := <-req.done:
			return err
		case <-wait.C:
		case <-ctx.Done():
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return ErrBusy
}

// ExpectAccept is Expect for a message that will go through Accept: it
// lets the journal (or, without one, the writer) hold a batch open for it.
func (s *Store) ExpectAccept(ctx context.Context) (context.Context, func()) {
	if s.journal == nil {
		return s.Expect(ctx)
	}
	return expect(ctx, &s.journal.expected)
}

// Flush waits until every message Accept has acknowledged so far is in the
// database.
func (s *Store) Flush(ctx context.Context) error {
	j := s.journal
	if j == nil {
		return nil
	}
	target := j.acked.Load()
	for {
		j.wake()
		j.mu.Lock()
		ch := j.changed
		j.mu.Unlock()
		if j.applied.Load() >= target {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// JournalBacklog is how many acknowledged messages wait to be applied.
func (s *Store) JournalBacklog() uint64 {
	j := s.journal
	if j == nil {
		return 0
	}
	return j.acked.Load() - min(j.applied.Load(), j.acked.Load())
}

// JournalStatus is what an operator needs to know of the journal.
type JournalStatus struct {
	Backlog uint64 // acknowledged messages not yet in the database
	// Failing: the database refused the applier's last attempt (the log
	// says why); the backlog waits and is retried.
	Failing bool
	// SetAside lists the files of mail the database could not take
	// (journal.failed-*), kept beside the journal to report.
	SetAside []string
}

// JournalStatus reports the journal's backlog and trouble.
func (s *Store) JournalStatus() JournalStatus {
	st := JournalStatus{Backlog: s.JournalBacklog()}
	if s.journal != nil {
		st.Failing = s.journal.failing.Load()
	}
	st.SetAside, _ = filepath.Glob(s.journalFile() + ".failed-*")
	return st
}

// journalRecord encodes p for the journal: everything write needs, ids
// included, so a replay writes exactly what the first attempt would have.
// rawAt is where the raw message starts in the record; the interaction
// comes last and takes the rest.
func (p *prepared) journalRecord() (rec []byte, rawAt int) {
	in := p.in
	e := encoder{b: make([]byte, 0, 64+len(in.DedupeKey)+len(in.Raw)+in.Interaction.encodedSizeHint())}
	e.byte(journalV1)
	e.id(p.rawID)
	e.id(p.itemID)
	e.str(p.reason)
	e.str(in.DedupeKey)
	e.time(in.ReceivedAt)
	e.strs(in.Unknown)
	e.uvarint(uint64(len(in.Raw)))
	rawAt = len(e.b)
	e.b = append(e.b, in.Raw...)
	in.Interaction.encodeTo(&e)
	return e.b, rawAt
}

func decodeJournalRecord(b []byte) (*prepared, error) {
	d := decoder{b: b}
	if d.byte() != journalV1 {
		return nil, errCorrupt
	}
	p := &prepared{in: &Incoming{}}
	p.rawID = d.id()
	p.itemID = d.id()
	p.reason = d.str()
	p.in.Reason = p.reason
	p.in.DedupeKey = d.str()
	p.in.ReceivedAt = d.time()
	p.in.Unknown = d.strs()
	p.in.Raw = d.raw() // b is the record's own copy (replay reads each apart)
	if d.err != nil {
		return nil, d.err
	}
	ia, err := decodeInteraction(0, d.b)
	if err != nil {
		return nil, err
	}
	if ia.Email == nil {
		return nil, errCorrupt
	}
	p.in.Interaction = ia
	return p, nil
}

// openJournal replays the journal beside the database (if any) and, unless
// the store is read-only or the journal is off, starts the journal and
// applier goroutines. The writer must be running.
func (s *Store) openJournal(opts Options) error {
	path := s.journalFile()
	applied, seed, err := s.journalState(!opts.ReadOnly)
	if err != nil {
		return err
	}
	if opts.ReadOnly {
		// Copies, checks and backups of a stopped daemon: say what the
		// journal holds, never fail on it.
		n, _, err := scanJournal(path, applied, seed, func([]*prepared, uint64) error { return nil }, nil)
		if err != nil || n > 0 {
			s.log.Warn("the journal holds acknowledged messages not yet in the database; open it read-write (start touchpoint) to apply them",
				"journal", path, "messages", n, "err", err)
		}
		return nil
	}
	n, last, err := scanJournal(path, applied, seed, func(ps []*prepared, seq uint64) error {
		// Replayed ids were handed out before the crash: new ids must
		// stay above them even if the clock now reads earlier.
		recs := make([]*journalReq, len(ps))
		for i, p := range ps {
			s.noteID(max(p.rawID, p.itemID))
			recs[i] = &journalReq{p: p, seq: seq - uint64(len(ps)-1-i)}
		}
		done := 0
		return s.applyAll(recs, make([]IngestResult, len(recs)), &done)
	}, s.quarantine)
	if err != nil {
		return fmt.Errorf("replay journal %s: %w", path, err)
	}
	s.journalReplayed = n
	if n > 0 {
		s.log.Info("journal replayed", "messages", n, "applied_to", last)
	}
	if opts.NoJournal {
		return nil
	}
	j := &journal{path: path, noSync: opts.NoSync, in: make(chan *journalReq, opts.MaxBatch),
		ready: make(chan struct{}, 1), hurry: make(chan struct{}, 1), changed: make(chan struct{}),
		maxBacklog: defaultMaxBacklog, maxBacklogBytes: defaultMaxBacklogBytes, acceptWait: maxAcceptWait}
	last = max(last, applied)
	j.seq = last
	j.acked.Store(last)
	j.applied.Store(last)
	j.seed, j.crc = seed, seed
	s.journal = j
	j.wg.Add(2)
	go s.journalLoop(opts.MaxBatch)
	go s.applyLoop()
	return nil
}

// journalFile is the journal's path, beside the database.
func (s *Store) journalFile() string { return s.db.Path() + journalSuffix }

// journalState reads the last applied sequence number and the chain's
// seed, creating the seed (when writable) if the database has none yet.
func (s *Store) journalState(writable bool) (applied uint64, seed uint32, err error) {
	read := func(tx *bolt.Tx) (bool, error) {
		b := tx.Bucket(bMeta)
		if b == nil {
			return false, nil
		}
		if raw := b.Get(keyJournalApplied); len(raw) == 8 {
			applied = binary.BigEndian.Uint64(raw)
		}
		raw := b.Get(keyJournalSeed)
		if len(raw) == 4 {
			seed = binary.BigEndian.Uint32(raw)
			return true, nil
		}
		return false, nil
	}
	var found bool
	err = s.db.View(func(tx *bolt.Tx) error {
		var err error
		found, err = read(tx)
		return err
	})
	if err != nil || found || !writable {
		return applied, seed, err
	}
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		return 0, 0, err
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if ok, err := read(tx); ok || err != nil {
			return err
		}
		seed = binary.BigEndian.Uint32(r[:])
		return tx.Bucket(bMeta).Put(keyJournalSeed, r[:])
	})
	return applied, seed, err
}

// scanJournal walks the chain of records in the journal at path and hands
// those above applied, in order and in groups, to apply. A record that
// passes its checksum but does not decode (written by another version, or
// a bug) goes to quarantine when it is not nil, after the records before
// it, and is an error otherwise. It returns how many records it handed
// over and the last sequence number of the chain. A missing file is an
// empty journal.
func scanJournal(path string, applied uint64, seed uint32, apply func([]*prepared, uint64) error,
	quarantine func(seq uint64, payload []byte, err error) error) (int, uint64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, applied, nil
	}
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var (
		hdr     [journalHeader]byte
		prev    = seed
		last    = applied
		n, size int
		group   []*prepared
	)
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		err := apply(group, last)
		n += len(group)
		group, size = group[:0], 0
		return err
	}
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			break // the end of the file, or a torn header
		}
		length := binary.LittleEndian.Uint32(hdr[0:4])
		seq := binary.LittleEndian.Uint64(hdr[4:12])
		if length == 0 || length > maxJournalRecord {
			break
		}
		payload := make([]byte, length)
		if _, err := io.ReadFull(r, payload); err != nil {
			break
		}
		crc := crc32.Update(crc32.Update(prev, castagnoli, hdr[:12]), castagnoli, payload)
		if crc != binary.LittleEndian.Uint32(hdr[12:16]) {
			break // not the next link: a torn write or an earlier pass
		}
		prev = crc
		if seq <= applied {
			continue // applied before the crash, or an earlier pass
		}
		if seq != last+1 {
			break
		}
		last = seq
		p, err := decodeJournalRecord(payload)
		if err != nil {
			err = fmt.Errorf("record %d: %w", seq, err)
			if quarantine == nil {
				return n, last, err
			}
			last = seq - 1 // the group ends before it
			if err := flush(); err != nil {
				return n, last, err
			}
			last = seq
			if err := quarantine(seq, payload, err); err != nil {
				return n, last, err
			}
			continue
		}
		group = append(group, p)
		size += len(payload)
		if len(group) >= maxApplyBatch || size >= defaultMaxBacklogBytes {
			if err := flush(); err != nil {
				return n, last, err
			}
		}
	}
	return n, last, flush()
}

// applyJournaled writes journaled messages and their last sequence number
// in one transaction, and reports each outcome to results (when not nil).
func (s *Store) applyJournaled(ps []*prepared, seq uint64, results []IngestResult) error {
	req := &writeReq{done: make(chan error, 1), fn: func(tx *bolt.Tx) error {
		for i, p := range ps {
			res, err := p.write(tx)
			if err != nil {
				return err
			}
			if results != nil {
				results[i] = res
			}
		}
		return tx.Bucket(bMeta).Put(keyJournalApplied, binary.BigEndian.AppendUint64(nil, seq))
	}}
	s.writes <- req
	return <-req.done
}

// journalLoop writes batches of accepted messages to the journal: one
// write and one fdatasync per batch, then the acknowledgements, then the
// batch goes to the applier.
func (s *Store) journalLoop(max int) {
	j := s.journal
	defer j.wg.Done()
	defer j.enqueue(nil, true)
	b := newBatcher(j.in, max, &j.expected, &j.lingered, func(r *journalReq) { r.exp.release() })
	for batch := b.next(); batch != nil; batch = b.next() {
		j.waitBacklog()
		err := j.write(batch)
		if err != nil {
			if j.broken.Load() {
				s.log.Error("journal failed; received mail now goes straight to the database", "journal", j.path, "err", err)
			} else {
				s.log.Error("journal write failed; the messages get a temporary failure", "journal", j.path, "err", err)
			}
			for _, r := range batch {
				r.done <- err
			}
			continue
		}
		j.acked.Store(j.seq)
		for _, r := range batch {
			j.pendingBytes.Add(int64(len(r.rec)))
			r.done <- nil
		}
		j.enqueue(batch, false)
	}
}

// enqueue hands acknowledged messages to the applier; last says no more
// will come.
func (j *journal) enqueue(batch []*journalReq, last bool) {
	j.queueMu.Lock()
	j.queue = append(j.queue, batch...)
	j.done = j.done || last
	j.queueMu.Unlock()
	select {
	case j.ready <- struct{}{}:
	default:
	}
}

// take waits for messages to apply (at most maxApplyBatch); ok is false
// once the journal loop has ended and nothing is left.
func (j *journal) take(into []*journalReq) (recs []*journalReq, ok bool) {
	for {
		j.queueMu.Lock()
		n := min(len(j.queue), maxApplyBatch)
		recs = append(into[:0], j.queue[:n]...)
		rest := copy(j.queue, j.queue[n:])
		clear(j.queue[rest:]) // a backlog's records are not kept alive
		j.queue = j.queue[:rest]
		done := j.done
		j.queueMu.Unlock()
		if n > 0 {
			return recs, true
		}
		if done {
			return nil, false
		}
		<-j.ready
	}
}

// waitBacklog holds the journal loop while the applier is maxBacklog
// messages or maxBacklogBytes behind, so memory stays bounded when the
// database is slow.
func (j *journal) waitBacklog() {
	for {
		j.mu.Lock()
		ch := j.changed
		j.mu.Unlock()
		behind := j.seq - j.applied.Load()
		if behind == 0 || behind < j.maxBacklog && j.pendingBytes.Load() < j.maxBacklogBytes || j.gaveUp.Load() {
			return
		}
		<-ch
	}
}

// write appends batch to the journal and syncs it, starting again at the
// top of the file when everything written so far is applied. On error the
// journal's position is left as it was. A failed write (a full disk) may
// be retried with the next batch; a file that cannot be opened or a failed
// sync (after which the kernel's copy of the file cannot be trusted) marks
// the journal broken, and Accept goes to the database from then on.
func (j *journal) write(batch []*journalReq) error {
	if j.broken.Load() {
		return errors.New("journal: broken by an earlier failure")
	}
	if j.f == nil {
		f, err := os.OpenFile(j.path, os.O_RDWR|os.O_CREATE, 0o600)
		if err == nil {
			if err = syncDir(filepath.Dir(j.path)); err != nil {
				f.Close()
			}
		}
		if err != nil {
			j.broken.Store(true)
			return err
		}
		j.f = f
	}
	off, seq, crc := j.off, j.seq, j.crc
	if j.applied.Load() >= seq {
		off, crc = 0, j.seed
	}
	buf := j.buf[:0]
	for _, r := range batch {
		seq++
		r.seq = seq
		var hdr [journalHeader]byte
		binary.LittleEndian.PutUint32(hdr[0:4], uint32(len(r.rec)))
		binary.LittleEndian.PutUint64(hdr[4:12], seq)
		crc = crc32.Update(crc32.Update(crc, castagnoli, hdr[:12]), castagnoli, r.rec)
		binary.LittleEndian.PutUint32(hdr[12:16], crc)
		buf = append(append(buf, hdr[:]...), r.rec...)
	}
	if cap(buf) <= 4<<20 {
		j.buf = buf
	}
	if _, err := j.f.WriteAt(buf, off); err != nil {
		return err
	}
	if !j.noSync {
		if err := syscall.Fdatasync(int(j.f.Fd())); err != nil {
			j.broken.Store(true)
			return err
		}
	}
	j.off, j.seq, j.crc = off+int64(len(buf)), seq, crc
	return nil
}

// applyLoop writes journaled batches to the database, joining whatever
// queued meanwhile into one transaction. A failed transaction is retried
// with a growing pause: the messages are durable in the journal, and
// waiting beats dropping them. At Close a failure is left to the next
// Open's replay.
func (s *Store) applyLoop() {
	j := s.journal
	defer j.wg.Done()
	var recs []*journalReq
	var last time.Time
	for {
		// Commits at most every applyGap: a database commit's syncs
		// compete for the disk with the journal's, which senders wait for.
		if wait := time.Until(last.Add(applyGap)); wait > 0 && !s.isClosed() {
			j.pause(wait)
		}
		var ok bool
		if recs, ok = j.take(recs); !ok {
			return
		}
		last = time.Now()
		if j.gaveUp.Load() {
			continue // closing: the next Open replays these
		}
		results := make([]IngestResult, len(recs))
		seq := recs[len(recs)-1].seq
		done := 0
		for pause := 50 * time.Millisecond; ; pause = min(2*pause, 5*time.Second) {
			err := s.applyAll(recs, results, &done)
			j.failing.Store(err != nil)
			if err == nil {
				break
			}
			s.log.Error("applying journaled mail failed; retrying", "err", err, "messages", len(recs)-done, "retry_in", pause)
			if s.isClosed() {
				j.gaveUp.Store(true)
				j.setApplied(j.applied.Load()) // wakes a journal loop waiting on the backlog
				break
			}
			j.pause(pause)
		}
		if j.gaveUp.Load() {
			continue
		}
		var size int64
		for i, r := range recs {
			size += int64(len(r.rec))
			if r.applied != nil {
				r.applied(results[i])
			}
		}
		j.pendingBytes.Add(-size)
		clear(recs)       // the next batch reuses the slice; these are done
		j.setApplied(seq) // after the outcomes: Flush returns with them told
	}
}

// applyAll writes recs[*done:] in one transaction. When that fails it
// writes them one at a time, in order, so that one message cannot hold
// the others up, and a message that fails alone with an internal error
// (a bug: a panic while writing it) goes to a dead-letter file beside the
// journal instead of blocking all mail behind it. Any other error (the
// disk) is returned for the caller to retry; *done counts what is in.
func (s *Store) applyAll(recs []*journalReq, results []IngestResult, done *int) error {
	err := s.applyRecs(recs[*done:], results[*done:])
	if err == nil {
		*done = len(recs)
		return nil
	}
	if len(recs)-*done == 1 && !isInternal(err) {
		return err
	}
	for *done < len(recs) {
		i := *done
		err := s.applyRecs(recs[i:i+1], results[i:i+1])
		if err != nil && isInternal(err) {
			err = s.deadLetter(recs[i], err)
			results[i] = IngestResult{Status: IngestFailed}
		}
		if err != nil {
			return err
		}
		*done++
	}
	return nil
}

// quarantine keeps a journal record that does not decode in a file of its
// own (journal.failed-SEQ.record) and moves the applied position past it,
// so that the daemon starts and the mail after it is applied.
func (s *Store) quarantine(seq uint64, payload []byte, cause error) error {
	path := fmt.Sprintf("%s.failed-%d.record", s.journalFile(), seq)
	return s.setAside(path, payload, seq, cause)
}

// setAside writes data to path (durably) and then commits seq as applied.
func (s *Store) setAside(path string, data []byte, seq uint64, cause error) error {
	err := writeFileAtomic(path, ".touchpoint-failed-*", func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err == nil {
		err = s.applyJournaled(nil, seq, nil)
	}
	if err != nil {
		return fmt.Errorf("set aside journaled mail the database refused (%v): %w", cause, err)
	}
	s.log.Error("received mail could not be written to the database; kept aside, please report it",
		"file", path, "err", cause)
	return nil
}

// applyRecs writes consecutive journaled messages in one transaction.
func (s *Store) applyRecs(recs []*journalReq, results []IngestResult) error {
	ps := make([]*prepared, len(recs))
	for i, r := range recs {
		ps[i] = r.p
	}
	if s.journalApplyHook != nil {
		if err := s.journalApplyHook(ps); err != nil {
			return err
		}
	}
	return s.applyJournaled(ps, recs[len(recs)-1].seq, results)
}

// deadLetter keeps the raw message the database cannot take in a file of
// its own (journal.failed-SEQ.eml, which touchpoint ingest takes back) and
// moves the applied position past it.
func (s *Store) deadLetter(r *journalReq, cause error) error {
	path := fmt.Sprintf("%s.failed-%d.eml", s.journalFile(), r.seq)
	return s.setAside(path, r.p.in.Raw, r.seq, cause)
}

// pause sleeps for d unless Flush or Close cuts it short.
func (j *journal) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-j.hurry:
	}
}

// wake cuts the applier's pause short.
func (j *journal) wake() {
	select {
	case j.hurry <- struct{}{}:
	default:
	}
}

func (j *journal) setApplied(seq uint64) {
	j.applied.Store(seq)
	j.mu.Lock()
	close(j.changed)
	j.changed = make(chan struct{})
	j.mu.Unlock()
}

// close waits, once Close has closed j.in, until every journaled message
// is applied (or left for replay), and closes the file.
func (j *journal) close() error {
	j.wake()
	j.wg.Wait()
	if j.f != nil {
		return j.f.Close()
	}
	return nil
}

// isClosed reports whether Close has begun. It must not take closeMu: a
// caller blocked handing a message to a full journal holds it for reading,
// and Close waits for it to write, so a reader would queue behind Close.
func (s *Store) isClosed() bool { return s.closing.Load() }
