package store

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
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
	batch := make([]*writeReq, 0, max)
	linger := time.NewTimer(0)
	<-linger.C
	for req := range s.writes {
		req.exp.release()
		batch = append(batch[:0], req)
		lingering := false
	fill:
		for len(batch) < max {
			select {
			case r, ok := <-s.writes:
				if !ok {
					break fill
				}
				r.exp.release()
				batch = append(batch, r)
				continue
			default:
			}
			if s.expected.Load() <= 0 {
				break
			}
			if !lingering {
				lingering = true
				linger.Reset(maxLinger)
			}
			select {
			case r, ok := <-s.writes:
				if !ok {
					break fill
				}
				r.exp.release()
				batch = append(batch, r)
			case <-linger.C:
				lingering = false
				s.lingerExpired.Add(1)
				break fill
			}
		}
		if lingering && !linger.Stop() {
			<-linger.C
		}
		s.commit(batch)
	}
}

// maxLinger bounds how long a batch waits for announced writes.
const maxLinger = time.Millisecond

type expectKey struct{}

type expectation struct {
	s    *Store
	once sync.Once
}

func (e *expectation) release() {
	if e != nil {
		e.once.Do(func() { e.s.expected.Add(-1) })
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
	e := &expectation{s: s}
	s.expected.Add(1)
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
var appendOnly = [][]byte{bInteractions, bRaw, bContacts, bUnmatched}

func fillAppendOnly(tx *bolt.Tx) {
	for _, b := range appendOnly {
		tx.Bucket(b).FillPercent = 0.95
	}
}

// run is one bbolt update with panics turned into errors, so a bug in one
// write cannot kill the writer and strand every caller.
func (s *Store) run(fn func(tx *bolt.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic in store write", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("store: internal error: %v", p)
		}
	}()
	err = s.db.Update(fn)
	var ve *ValidationError
	if err != nil && !errors.As(err, &ve) && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrConflict) {
		s.log.Debug("store write failed", "err", err)
	}
	return err
}
