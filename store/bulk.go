package store

import (
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// postingFill is the page fill for posting lists written by the bulk
// paths: a batch rewrites the last block of many lists all over the
// bucket, each a little longer, so pages left full split again at the next
// batch. Measured at 100k interactions (file / raw record bytes): bbolt's
// default 0.5: 2.49; 0.8: 1.96; 0.9: 1.99; 0.95: 2.48; 1.0: 2.44.
const postingFill = 0.8

// postingBatch gathers index positions list by list for the bulk paths
// (bulk create, Load, index builds, the pending words' flush): no key per
// entry, and each list's blocks visited once when written.
//
// A list's positions are held as they come, in the blocks' own encoding
// (2–4 bytes each, against 16 decoded) while they ascend, which they
// mostly do: new mail is newest. The few that come below the list's last
// are kept apart, decoded, and merged in when the list is written.
type postingBatch struct {
	lists [numLists]map[string]int // prefix → index in runs
	runs  [numLists][]postingRun
	size  int // bytes held, roughly: what Load's budget counts
}

// postingRun is one list's positions in a postingBatch.
type postingRun struct {
	prefix      string
	first, last hit
	n           int    // positions in first and deltas
	deltas      []byte // after first, as appendDeltas
	late        []hit  // positions that came below last, in arrival order
}

// runOverhead is what a run costs beyond its positions and prefix, for
// size: the run itself and its map entry.
const runOverhead = 160

func hitOf(ia *Interaction) hit { return hit{timeKey(ia.OccurredAt), ia.ID} }

// run returns prefix's run in list, new when missing.
func (pb *postingBatch) run(list int, prefix []byte) *postingRun {
	if pb.lists[list] == nil {
		pb.lists[list] = map[string]int{}
	}
	i, ok := pb.lists[list][string(prefix)]
	if !ok {
		name := string(prefix) // one copy for the map and the run
		i = len(pb.runs[list])
		pb.lists[list][name] = i
		pb.runs[list] = append(pb.runs[list], postingRun{prefix: name})
		pb.size += runOverhead + len(prefix)
	}
	return &pb.runs[list][i]
}

// add files h under prefix in list (an index of postingBuckets).
func (pb *postingBatch) add(list int, prefix []byte, h hit) {
	pb.size += pb.run(list, prefix).add(h)
}

// add adds h and returns the bytes of memory it took (the growth of the
// run's slices' capacity).
func (r *postingRun) add(h hit) int {
	switch {
	case r.n == 0:
		r.first, r.last, r.n = h, h, 1
		return 0
	case r.last.less(h):
		before := cap(r.deltas)
		r.deltas = appendDelta(r.deltas, r.last, h)
		r.last = h
		r.n++
		return cap(r.deltas) - before
	case h == r.last:
		return 0
	}
	before := cap(r.late)
	r.late = append(r.late, h)
	return hitSize * (cap(r.late) - before)
}

// hitSize is a decoded position's size in memory.
const hitSize = 16

// addWords files ia under each of its indexed words (or overflow).
func (pb *postingBatch) addWords(ia *Interaction) {
	var buf [maxWordLen + 1]byte
	for _, w := range listedWords(ia) {
		pb.add(listWord, append(append(buf[:0], w...), 0), hitOf(ia))
	}
}

// merge moves o's positions into pb; o is not used again. It is quickest
// when o's positions come after pb's, list by list (Load merges batches in
// order).
func (pb *postingBatch) merge(o *postingBatch) {
	var scratch, tmp []hit
	for list := range o.runs {
		for i := range o.runs[list] {
			or := &o.runs[list][i]
			r := pb.run(list, []byte(or.prefix))
			switch {
			case r.n == 0:
				*r = *or
				pb.size += cap(or.deltas) + hitSize*cap(or.late)
			case r.last.less(or.first):
				before, lateBefore := cap(r.deltas), cap(r.late)
				r.deltas = append(appendDelta(r.deltas, r.last, or.first), or.deltas...)
				r.last = or.last
				r.n += or.n
				r.late = append(r.late, or.late...)
				pb.size += cap(r.deltas) - before + hitSize*(cap(r.late)-lateBefore)
			default:
				scratch, tmp = or.hits(scratch[:0], tmp)
				for _, h := range scratch {
					pb.size += r.add(h)
				}
			}
		}
	}
}

// hits appends the run's positions, ascending, without repeats, to dst;
// tmp is scratch space, returned for the next call.
func (r *postingRun) hits(dst, tmp []hit) ([]hit, []hit) {
	if len(r.late) == 0 {
		return r.decode(dst), tmp
	}
	r.sortLate()
	tmp = r.decode(tmp[:0])
	return mergeHits(dst, tmp, r.late), tmp
}

// sortLate sorts the late positions and drops repeats, in place: the same
// positions, so an apply run again (a retried commit) finds them as they
// were, only sorted.
func (r *postingRun) sortLate() {
	slices.SortFunc(r.late, cmpHit)
	r.late = slices.Compact(r.late)
}

// decode appends the ascending positions, first and deltas, to dst. The
// deltas are appendDelta's, in memory: they decode.
func (r *postingRun) decode(dst []hit) []hit {
	if r.n == 0 {
		return dst
	}
	dst, _ = decodeBlock(dst, r.first, r.deltas)
	return dst
}

// put writes the run as the blocks of a list that has none, full ones
// (maxBlock positions), merging the late positions in as it goes: no
// decoded copy of the list is made.
func (r *postingRun) put(b *bolt.Bucket) error {
	if r.n == 0 {
		return nil
	}
	r.sortLate()
	w := blockWriter{b: b, prefix: []byte(r.prefix), size: maxBlock,
		buf: make([]byte, 0, len(r.deltas)+5*len(r.late)+8)}
	br := blockReader{v: r.deltas, cur: r.first}
	late := r.late
	for h, ok := r.first, true; ok; h, ok = br.next() {
		for len(late) > 0 && late[0].less(h) {
			if err := w.add(late[0]); err != nil {
				return err
			}
			late = late[1:]
		}
		if err := w.add(h); err != nil {
			return err
		}
	}
	if br.err != nil {
		return fmt.Errorf("posting list %q: %w", r.prefix, br.err)
	}
	return w.flush() // every late position came below a position of the run
}

// sorted returns list's runs in prefix order, the key order of their
// blocks: written or read in that order, each leaf is visited once.
func (pb *postingBatch) sorted(list int) []*postingRun {
	out := make([]*postingRun, len(pb.runs[list]))
	for i := range out {
		out[i] = &pb.runs[list][i]
	}
	slices.SortFunc(out, func(a, b *postingRun) int { return strings.Compare(a.prefix, b.prefix) })
	return out
}

// apply writes the gathered positions at postingFill, and the new words
// into the vocabulary. It leaves pb as it was: a retried commit applies it
// again, harmlessly.
func (pb *postingBatch) apply(tx *bolt.Tx) error { return pb.applyFill(tx, postingFill) }

// applyFill is apply with the posting buckets' page fill: Load writes
// lists in key order, each once, so its pages may be full.
func (pb *postingBatch) applyFill(tx *bolt.Tx, fill float64) error {
	var hs, tmp []hit
	for list := range pb.runs {
		b := tx.Bucket(postingBuckets[list])
		b.FillPercent = fill
		// Into an empty bucket (a load's or an index build's first write)
		// every list is new: its blocks are encoded straight from the run.
		fresh, _ := b.Cursor().First()
		for _, r := range pb.sorted(list) {
			if fresh == nil {
				if err := r.put(b); err != nil {
					return err
				}
				continue
			}
			hs, tmp = r.hits(hs[:0], tmp)
			if err := postingAdd(b, []byte(r.prefix), hs); err != nil {
				return err
			}
		}
	}
	words := make([][]byte, len(pb.runs[listWord]))
	for i := range pb.runs[listWord] {
		words[i] = []byte(pb.runs[listWord][i].prefix)
	}
	return syncVocab(tx, words, nil)
}
