package store

import (
	"cmp"
	"context"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// LoadOptions tune Load.
type LoadOptions struct {
	// Budget bounds the memory the gathered index positions may take
	// before they are written, in bytes (0: DefaultLoadBudget). A million
	// interactions gather about 130 MB; one write of them all gives the
	// smallest file.
	Budget int
	// Progress, when set, is called with the number of interactions stored
	// so far after each batch's records are committed: in order, one call
	// at a time, from Load's goroutines, holding up the load while it runs.
	Progress func(stored int)
}

// DefaultLoadBudget is Load's memory budget for index positions when
// LoadOptions.Budget is 0.
const DefaultLoadBudget = 64 << 20

// loadWorkers is how many batches Load has in flight: while the writer
// commits one batch's records, the next one's words are tokenised.
const loadWorkers = 2

// Load stores many interactions, the batches next returns until it
// returns none, faster and in a smaller file than CreateInteractions (the
// bulk path of touchpoint seed and imports). Each batch is validated and
// stored like CreateInteractions, all or none, with its records on full
// pages, and batches are stored in next's order. Their index positions
// are not written with them: they gather in memory, encoded (2–4 bytes
// each), and are written list by list when they pass the budget and at
// the end, each list's blocks then once, in key order, on full pages.
// Batches in time order are quickest; any order is correct.
//
// Until Load returns, interactions it stored are not yet found by lists,
// filters and search, and an update or delete of one would leave its
// positions behind: Load is for a store nothing else writes meanwhile
// (touchpoint seed holds the file alone). Load stops at the first error: a
// batch that does not validate or store, an error from next (items
// returned with it are not stored), or ctx's. It returns how many
// interactions it stored: the first batches next returned, in full, none
// after the one that failed; their positions are written whatever
// stopped the load. next is called from Load's goroutines, one call at a
// time; a next that blocks holds Load up, ctx or not.
//
// Memory: Budget bounds the positions gathered; two batches in flight and
// a gathered set being written can take up to about twice that.
func (s *Store) Load(ctx context.Context, next func() ([]*Interaction, error), o LoadOptions) (int, error) {
	l := &loader{s: s, next: next, o: o, gathered: new(postingBatch)}
	l.o.Budget = cmp.Or(l.o.Budget, DefaultLoadBudget)
	l.turn = sync.NewCond(&l.mu)
	var wg sync.WaitGroup
	for range loadWorkers {
		wg.Go(func() { l.work(ctx) })
	}
	wg.Wait()
	// The stored records' positions are written whatever stopped the load.
	if err := l.write(context.WithoutCancel(ctx), l.gathered); err != nil {
		err = fmt.Errorf("store: index positions of loaded interactions not written (touchpoint reindex builds them): %w", err)
		return l.stored, cmp.Or(l.err, err)
	}
	return l.stored, l.err
}

// loader is one Load's state. Batches are numbered in next's order, and
// each goes through two turns in that order: its records' write (after
// the one before has stored or failed; none once one failed), then the
// merge of its positions into gathered.
type loader struct {
	s    *Store
	next func() ([]*Interaction, error)
	o    LoadOptions

	pull   sync.Mutex // held while calling next
	pulled int
	ended  bool // next returned none or an error

	mu       sync.Mutex
	turn     *sync.Cond // signalled when written or merged grows
	written  int        // batches whose records are stored, or failed
	merged   int        // batches whose positions are in gathered, or failed
	gathered *postingBatch
	stored   int
	err      error // the first
}

// work takes batches until there are none or the load stops.
func (l *loader) work(ctx context.Context) {
	for {
		seq, items, err := l.take()
		var pb *postingBatch
		if err == nil && len(items) > 0 {
			if err = l.s.prepareNew(items); err == nil {
				pb = batchOf(items)
			}
		}
		if stopped := l.writeTurn(seq); stopped || err != nil || len(items) == 0 {
			l.finish(seq, nil, 0, err)
			return
		}
		err = l.s.update(ctx, func(tx *bolt.Tx) error {
			if err := resolveAll(tx, items); err != nil {
				return err
			}
			b := tx.Bucket(bInteractions)
			b.FillPercent = 1 // ids ascend: each page is left behind full
			return putRecords(b, items)
		})
		full := l.finish(seq, pb, len(items), err)
		if err != nil {
			return
		}
		if full != nil {
			// Stored records get their positions whatever stops the load.
			if err := l.write(context.WithoutCancel(ctx), full); err != nil {
				l.mu.Lock()
				full.merge(l.gathered) // the final write tries them again
				l.gathered = full
				l.err = cmp.Or(l.err, err)
				l.mu.Unlock()
				return
			}
		}
	}
}

// take numbers and returns the next batch: none once next returned none
// or an error, or the load has failed.
func (l *loader) take() (seq int, items []*Interaction, err error) {
	l.pull.Lock()
	defer l.pull.Unlock()
	seq = l.pulled
	l.pulled++
	l.mu.Lock()
	failed := l.err != nil
	l.mu.Unlock()
	if failed || l.ended {
		return seq, nil, nil
	}
	defer func() {
		if p := recover(); p != nil {
			items, err = nil, fmt.Errorf("store: Load's next panicked: %v", p)
		}
		l.ended = err != nil || len(items) == 0
	}()
	items, err = l.next()
	return seq, items, err
}

// writeTurn waits until the batches before seq are stored or failed, and
// reports whether the load has stopped.
func (l *loader) writeTurn(seq int) (stopped bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.written != seq {
		l.turn.Wait()
	}
	return l.err != nil
}

// finish ends batch seq, which holds the write turn: err is why it stored
// nothing, if so; pb its positions when it stored n interactions. It
// returns the gathered positions to write when they are over the budget.
func (l *loader) finish(seq int, pb *postingBatch, n int, err error) (full *postingBatch) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.err = cmp.Or(l.err, err)
	l.written++
	l.turn.Broadcast()
	for l.merged != seq {
		l.turn.Wait()
	}
	if err == nil && pb != nil {
		l.gathered.merge(pb)
		l.stored += n
		if l.o.Progress != nil {
			l.o.Progress(l.stored)
		}
		if l.gathered.size > l.o.Budget {
			full, l.gathered = l.gathered, new(postingBatch)
		}
	}
	l.merged++
	l.turn.Broadcast()
	return full
}

// write writes gathered positions, in one transaction.
func (l *loader) write(ctx context.Context, pb *postingBatch) error {
	if pb.size == 0 {
		return nil
	}
	return l.s.update(ctx, func(tx *bolt.Tx) error { return pb.applyFill(tx, 1) })
}
