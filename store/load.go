package store

import (
	"cmp"
	"context"
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
	// so far after each batch's records are committed.
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
// pages. Its index positions are not written with it: they gather in
// memory, encoded (2–4 bytes each), and are written list by list when
// they reach the budget and at the end, each list's blocks then once, in
// key order, on full pages. Batches in time order are quickest; any order
// is correct.
//
// Until Load returns, interactions it stored are not yet found by lists,
// filters and search, and an update or delete of one would leave its
// positions behind: Load is for a store nothing else writes meanwhile
// (touchpoint seed holds the file alone). On an error, including ctx's,
// Load stops taking batches and still writes the positions of every batch
// it stored; it returns how many interactions it stored. A load cut short
// by a crash leaves records without index entries: touchpoint check names
// them, touchpoint reindex builds them.
func (s *Store) Load(ctx context.Context, next func() ([]*Interaction, error), o LoadOptions) (int, error) {
	l := &loader{s: s, next: next, o: o, gathered: new(postingBatch)}
	l.o.Budget = cmp.Or(l.o.Budget, DefaultLoadBudget)
	l.turn = sync.NewCond(&l.mu)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range loadWorkers {
		wg.Go(func() {
			if err := l.work(ctx); err != nil {
				l.fail(err)
				cancel()
			}
		})
	}
	wg.Wait()
	// The stored records' positions are written whatever stopped the load.
	err := l.write(context.WithoutCancel(ctx), l.gathered)
	return l.stored, cmp.Or(l.err, err)
}

// loader is one Load's state.
type loader struct {
	s    *Store
	next func() ([]*Interaction, error)
	o    LoadOptions

	pull   sync.Mutex // held while calling next: batches are numbered in next's order
	pulled int
	ended  bool // next returned none, or the load failed

	mu       sync.Mutex
	turn     *sync.Cond    // signalled when merged grows
	merged   int           // batches done, in order: merged into gathered or failed
	gathered *postingBatch // positions of stored records not yet written
	stored   int
	err      error // the first
}

// work takes batches until there are none or the load fails.
func (l *loader) work(ctx context.Context) error {
	for {
		l.pull.Lock()
		items, err := l.nextBatch()
		seq := l.pulled
		l.pulled++
		l.pull.Unlock()
		if err != nil || len(items) == 0 {
			l.done(seq, nil, 0)
			return err
		}
		pb, err := l.store(ctx, items)
		if err != nil {
			l.done(seq, nil, 0)
			return err
		}
		if full := l.done(seq, pb, len(items)); full != nil {
			// Stored records get their positions whatever stops the load.
			if err := l.write(context.WithoutCancel(ctx), full); err != nil {
				return err
			}
		}
	}
}

// nextBatch is next, or nothing once it returned none or the load failed.
func (l *loader) nextBatch() ([]*Interaction, error) {
	l.mu.Lock()
	failed := l.err != nil
	l.mu.Unlock()
	if failed || l.ended {
		return nil, nil
	}
	items, err := l.next()
	l.ended = err != nil || len(items) == 0
	return items, err
}

// store validates and stores one batch's records, and returns their
// index positions.
func (l *loader) store(ctx context.Context, items []*Interaction) (*postingBatch, error) {
	if err := l.s.prepareNew(items); err != nil {
		return nil, err
	}
	pb := batchOf(items)
	return pb, l.s.update(ctx, func(tx *bolt.Tx) error {
		if err := resolveAll(tx, items); err != nil {
			return err
		}
		b := tx.Bucket(bInteractions)
		b.FillPercent = 1 // ids ascend: each page is left behind full
		for _, ia := range items {
			if err := b.Put(ia.ID.key(), ia.encode()); err != nil {
				return err
			}
		}
		return nil
	})
}

// done ends batch seq in its turn, merging its positions (pb, nil when it
// stored nothing); it returns the gathered positions to write when they
// are over the budget.
func (l *loader) done(seq int, pb *postingBatch, n int) (full *postingBatch) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.merged != seq {
		l.turn.Wait()
	}
	if pb != nil {
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

func (l *loader) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = err
	}
}

// write writes gathered positions, in one transaction.
func (l *loader) write(ctx context.Context, pb *postingBatch) error {
	if pb.size == 0 {
		return nil
	}
	return l.s.update(ctx, func(tx *bolt.Tx) error { return pb.applyFill(tx, 1) })
}
