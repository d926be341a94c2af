package store

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

type writeReq struct {
	fn   func(tx *bolt.Tx) error
	done chan error
	// exp is the caller's announcement (Expect), if any: the writer ends
	// it on taking the request, before it decides whether to wait for
	// more, so a batch never waits for the very write it already holds.
	exp *expectation
}

// writer is the only goroutine that writes. It blocks for one request, then
// takes every request already queued (up to max) and commits them together:
// while one commit syncs, the next batch gathers, so a lone writer pays one
// fsync and concurrent writers share one. There is no fixed timer: the
// writer waits (at most maxLinger) only while writes that callers announced
// with Expect are still on their way, so a lone writer never waits.
func (s *Store) writer(max int) {
	defer s.writerWG.Done()
	b := newBatcher(s.writes, max, &s.expected, &s.lingerExpired, func(r *writeReq) { r.exp.release() })
	for batch := b.next(); batch != nil; batch = b.next() {
		s.commit(batch)
	}
}

// batcher gathers requests from a channel into batches: after the first
// request it takes whatever is queued and, while announced requests
// (pending) are still on their way, whatever arrives within maxLinger. The
// writer and the journal both batch this way.
type batcher[T any] struct {
	in      <-chan T
	max     int
	pending *atomic.Int64 // announced and not yet queued
	expired *atomic.Int64 // batches that waited the whole maxLinger
	take    func(T)       // ends a request's announcement
	linger  *time.Timer
	batch   []T
}

func newBatcher[T any](in <-chan T, max int, pending, expired *atomic.Int64, take func(T)) *batcher[T] {
	t := time.NewTimer(0)
	<-t.C
	return &batcher[T]{in: in, max: max, pending: pending, expired: expired, take: take, linger: t, batch: make([]T, 0, max)}
}

// next blocks for a batch; it returns nil once the channel is closed and
// drained. The slice is reused by the following call.
func (b *batcher[T]) next() []T {
	req, ok := <-b.in
	if !ok {
		return nil
	}
	b.take(req)
	clear(b.batch) // the last batch's requests are done: do not keep them alive
	b.batch = append(b.batch[:0], req)
	lingering := false
fill:
	for len(b.batch) < b.max {
		select {
		case r, ok := <-b.in:
			if !b.add(r, ok) {
				break fill
			}
			continue
		default:
		}
		if b.pending.Load() <= 0 {
			break
		}
		if !lingering {
			lingering = true
			b.linger.Reset(maxLinger)
		}
		select {
		case r, ok := <-b.in:
			if !b.add(r, ok) {
				break fill
			}
		case <-b.linger.C:
			lingering = false
			b.expired.Add(1)
			break fill
		}
	}
	if lingering && !b.linger.Stop() {
		<-b.linger.C
	}
	return b.batch
}

// add takes a received request into the batch; ok false (the channel is
// closed) ends the batch.
func (b *batcher[T]) add(r T, ok bool) bool {
	if ok {
		b.take(r)
		b.batch = append(b.batch, r)
	}
	return ok
}

// maxLinger bounds how long a batch waits for announced writes.
const maxLinger = time.Millisecond

type expectKey struct{}

type expectation struct {
	counter *atomic.Int64
	once    sync.Once
}

func (e *expectation) release() {
	if e != nil {
		e.once.Do(func() { e.counter.Add(-1) })
	}
}

// Expecting reports whether ctx already carries an announcement.
func Expecting(ctx context.Context) bool {
	_, ok := ctx.Value(expectKey{}).(*expectation)
	return ok
}

// Expect announces a write that is on its way (a message being parsed), so
// the writer may hold a batch open for it a little. Pass the returned
// context to the write; call release when done whatever happens (the write
// itself releases the announcement the moment it is queued).
func (s *Store) Expect(ctx context.Context) (context.Context, func()) {
	return expect(ctx, &s.expected)
}

func expect(ctx context.Context, counter *atomic.Int64) (context.Context, func()) {
	e := &expectation{counter: counter}
	counter.Add(1)
	return context.WithValue(ctx, expectKey{}, e), e.release
}

// commit runs the batch in one transaction. If any function fails, the
// transaction is rolled back and each function is run again in its own, so
// one bad write cannot take the others down with it.
func (s *Store) commit(batch []*writeReq) {
	failed := -1
	err := s.run(func(tx *bolt.Tx) error {
		fillAppendOnly(tx)
		for i, r := range batch {
			if err := r.fn(tx); err != nil {
				failed = i
				return err
			}
		}
		return flushPendingWords(tx, pendingFlushAt)
	})
	if err == nil {
		for _, r := range batch {
			r.done <- nil
		}
		return
	}
	if len(batch) == 1 || failed < 0 {
		// A lone write, or the commit itself failed (disk full, I/O error):
		// retry alone only when there is something to isolate.
		if len(batch) == 1 {
			batch[0].done <- err
			return
		}
		s.log.Error("group commit failed", "err", err, "writes", len(batch))
	}
	for _, r := range batch {
		r.done <- s.run(func(tx *bolt.Tx) error {
			fillAppendOnly(tx)
			if err := r.fn(tx); err != nil {
				return err
			}
			return flushPendingWords(tx, pendingFlushAt)
		})
	}
}

// appendOnly are the buckets keyed by increasing ids: new keys always go at
// the end, so pages may be filled almost full instead of bbolt's half
// (measured: 45% page use at a million interactions with the default).
var appendOnly = [][]byte{bInteractions, bRaw, bRawZ, bContacts, bUnmatched}

func fillAppendOnly(tx *bolt.Tx) {
	for _, b := range appendOnly {
		tx.Bucket(b).FillPercent = 0.95
	}
}

// internalError is a panic in a store write, turned into an error.
type internalError struct{ p any }

func (e *internalError) Error() string { return fmt.Sprintf("store: internal error: %v", e.p) }

func isInternal(err error) bool {
	var ie *internalError
	return errors.As(err, &ie)
}

// run is one bbolt update with panics turned into errors, so a bug in one
// write cannot kill the writer and strand every caller.
func (s *Store) run(fn func(tx *bolt.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in store write", "panic", p, "stack", string(debug.Stack()))
			err = &internalError{p}
		}
	}()
	err = s.db.Update(fn)
	var ve *ValidationError
	if err != nil && !errors.As(err, &ve) && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
		s.log.Debug("store write failed", "err", err)
	}
	return err
}
