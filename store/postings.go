package store

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// Posting lists. A posting list is the set of (t, id) positions, one per
// interaction, filed under a prefix (for ix_word: the word and 0x00). A key
// per position cost ~45 bytes of file each (bbolt's 16-byte leaf element,
// the word, t and id, on half-full pages) and a bbolt Put each, which made
// the word index most of the file and most of a bulk load. The list is kept
// in blocks instead:
//
//	key:   prefix | t | id            the block's first (lowest) position
//	value: the block's other positions, ascending, each a delta from the one
//	       before: uvarint(seconds<<1 | 1 if a fraction follows),
//	       [uvarint(nanoseconds)], varint(id delta)
//
// Times are mostly whole seconds, and positions close in time have close
// ids, so a position takes 2–4 bytes. A block holds at most maxBlock
// positions; blocks of one prefix do not overlap, so the block holding a
// position is the one with the greatest first position not above it.
//
// Callers see positions only: postingAdd, postingRemove, postingHas, and
// postingIter, a newest-first walk.

// isPostings reports the index buckets kept as posting lists rather than a
// key per entry.
func isPostings(bucket []byte) bool {
	for _, b := range postingBuckets {
		if bytes.Equal(b, bucket) {
			return true
		}
	}
	return false
}

// maxBlock bounds the positions of one block: a point check decodes up to
// that many, a change rewrites that many.
const maxBlock = 128

// errBadBlock reports a block that does not decode.
var errBadBlock = errors.New("damaged posting block")

// blockKey is prefix | h: a block's key, or an index entry's.
func blockKey(prefix []byte, h hit) []byte {
	return appendBlockKey(make([]byte, 0, len(prefix)+16), prefix, h)
}

// appendBlockKey appends prefix | h to dst.
func appendBlockKey(dst, prefix []byte, h hit) []byte {
	dst = append(dst, prefix...)
	dst = binary.BigEndian.AppendUint64(dst, h.t)
	return binary.BigEndian.AppendUint64(dst, uint64(h.id))
}

// blockFirst returns the first position of a block key of prefix, and
// false for a key of another prefix (or none).
func blockFirst(prefix, k []byte) (hit, bool) {
	if len(k) != len(prefix)+16 || !bytes.HasPrefix(k, prefix) {
		return hit{}, false
	}
	return hit{binary.BigEndian.Uint64(k[len(prefix):]), keyID(k[len(prefix)+8:])}, true
}

// appendDeltas appends hs (ascending, after prev) as deltas, each from the
// one before.
func appendDeltas(out []byte, prev hit, hs []hit) []byte {
	for _, h := range hs {
		out = appendDelta(out, prev, h)
		prev = h
	}
	return out
}

// appendDelta appends h, after prev, as a delta from it.
func appendDelta(out []byte, prev, h hit) []byte {
	dt := h.t - prev.t
	sec, ns := dt/1e9, dt%1e9
	if ns == 0 {
		out = binary.AppendUvarint(out, sec<<1)
	} else {
		out = binary.AppendUvarint(out, sec<<1|1)
		out = binary.AppendUvarint(out, ns)
	}
	return binary.AppendVarint(out, int64(h.id-prev.id))
}

// blockTail returns a block's last position and how many it holds.
func blockTail(first hit, v []byte) (last hit, n int, err error) {
	r := blockReader{v: v, cur: first}
	last, n = first, 1
	for h, ok := r.next(); ok; h, ok = r.next() {
		last = h
		n++
	}
	return last, n, r.err
}

// blockReader decodes a block's positions in order.
type blockReader struct {
	v   []byte
	cur hit
	err error
}

// next returns the position after r.cur, false at the end or on damage
// (r.err).
func (r *blockReader) next() (hit, bool) {
	if len(r.v) == 0 {
		return hit{}, false
	}
	v, n := binary.Uvarint(r.v)
	if n <= 0 {
		return r.fail()
	}
	r.v = r.v[n:]
	dt := (v >> 1) * 1e9
	if v&1 != 0 {
		ns, n := binary.Uvarint(r.v)
		if n <= 0 || ns == 0 || ns >= 1e9 {
			return r.fail()
		}
		r.v = r.v[n:]
		dt += ns
	}
	did, n := binary.Varint(r.v)
	if n <= 0 {
		return r.fail()
	}
	r.v = r.v[n:]
	next := hit{r.cur.t + dt, r.cur.id + ID(did)}
	if !r.cur.less(next) {
		return r.fail()
	}
	r.cur = next
	return next, true
}

func (r *blockReader) fail() (hit, bool) {
	r.err, r.v = errBadBlock, nil
	return hit{}, false
}

// decodeBlock appends a block's positions, first included, to dst.
func decodeBlock(dst []hit, first hit, v []byte) ([]hit, error) {
	dst = append(dst, first)
	r := blockReader{v: v, cur: first}
	for h, ok := r.next(); ok; h, ok = r.next() {
		dst = append(dst, h)
	}
	return dst, r.err
}

// below positions c at the greatest key under seek and returns it (nil:
// none): with seek a prefix and a position, the last block of the prefix
// starting below that position, or a key of another prefix.
func below(c *bolt.Cursor, seek []byte) (k, v []byte) {
	if k, _ := c.Seek(seek); k == nil {
		return c.Last()
	}
	return c.Prev()
}

// blockAt finds the block of prefix that holds h, or would: the one with
// the greatest first position not above h, else (h is below them all) the
// first one. It returns the block's key (nil: prefix has no block) and
// value, and bound, the first position of the block after it (ok false:
// none).
func blockAt(c *bolt.Cursor, prefix []byte, h hit) (k, v []byte, bound hit, ok bool) {
	seek := blockKey(prefix, h)
	k, v = c.Seek(seek)
	if k != nil && bytes.Equal(k, seek) {
		nk, _ := c.Next()
		bound, ok = blockFirst(prefix, nk)
		return k, v, bound, ok
	}
	next, nextOK := blockFirst(prefix, k)
	pk, pv := below(c, seek)
	if _, own := blockFirst(prefix, pk); own {
		return pk, pv, next, nextOK
	}
	if !nextOK {
		return nil, nil, hit{}, false
	}
	// h is below every block: the first one takes it.
	k, v = c.Seek(seek)
	nk, _ := c.Next()
	bound, ok = blockFirst(prefix, nk)
	return k, v, bound, ok
}

// postingHas reports whether h is in prefix's list.
func postingHas(b *bolt.Bucket, prefix []byte, h hit) (bool, error) {
	c := b.Cursor()
	seek := blockKey(prefix, h)
	if k, _ := c.Seek(seek); bytes.Equal(k, seek) {
		return true, nil
	}
	k, v := below(c, seek)
	first, ok := blockFirst(prefix, k)
	if !ok {
		return false, nil
	}
	r := blockReader{v: v, cur: first}
	for p, ok := r.next(); ok; p, ok = r.next() {
		if p == h {
			return true, nil
		}
		if h.less(p) {
			return false, nil
		}
	}
	if r.err != nil {
		return false, fmt.Errorf("block %x: %w", k, r.err)
	}
	return false, nil
}

// postingFind calls fn with each of hs (ascending, no repeats) and whether
// prefix's list holds it, walking the list's blocks forward from the one
// that holds hs[0]: each block is decoded once for all of hs, against a
// seek and a partial decode per position for postingHas. A damaged
// block's positions from the damage on are not known: the hs it would
// hold are passed as held, and damaged is called once for the block.
func postingFind(b *bolt.Bucket, prefix []byte, hs []hit, fn func(h hit, held bool), damaged func(error)) {
	if len(hs) == 0 {
		return
	}
	c := b.Cursor()
	k, _, _, _ := blockAt(c, prefix, hs[0])
	var v []byte
	if k != nil {
		k, v = c.Seek(k)
	}
	for len(hs) > 0 {
		first, ok := blockFirst(prefix, k)
		if !ok {
			break
		}
		nk, nv := c.Next()
		next, bounded := blockFirst(prefix, nk)
		r := blockReader{v: v, cur: first}
		p, more := first, true
		for len(hs) > 0 && (!bounded || hs[0].less(next)) {
			for more && p.less(hs[0]) {
				p, more = r.next()
			}
			fn(hs[0], more && p == hs[0] || r.err != nil)
			hs = hs[1:]
		}
		if r.err != nil {
			damaged(fmt.Errorf("block %x: %w", k, r.err))
		}
		k, v = nk, nv
	}
	for _, h := range hs {
		fn(h, false)
	}
}

// postingAdd adds hs (ascending, no repeats) to prefix's list; positions
// already there are left as they are.
func postingAdd(b *bolt.Bucket, prefix []byte, hs []hit) error {
	return postingChange(b, prefix, hs, true)
}

// postingRemove removes hs (ascending, no repeats) from prefix's list;
// positions not there are ignored.
func postingRemove(b *bolt.Bucket, prefix []byte, hs []hit) error {
	return postingChange(b, prefix, hs, false)
}

func postingChange(b *bolt.Bucket, prefix []byte, hs []hit, add bool) error {
	c := b.Cursor()
	scratch := hitScratch.Get().(*[2][]hit)
	defer hitScratch.Put(scratch)
	cur, merged := scratch[0][:0], scratch[1][:0]
	defer func() { scratch[0], scratch[1] = cur[:0], merged[:0] }()
	for len(hs) > 0 {
		k, v, bound, bounded := blockAt(c, prefix, hs[0])
		n := len(hs)
		if bounded {
			n, _ = slices.BinarySearchFunc(hs, bound, cmpHit)
		}
		if n == 0 { // cannot be: the block holds or takes hs[0]
			return fmt.Errorf("posting list %q: no block for %v", prefix, hs[0])
		}
		part := hs[:n]
		hs = hs[n:]
		if add && !bounded && k != nil {
			// The usual write: positions after the list's last one go at
			// the end of its last block, without decoding it into a list.
			first, _ := blockFirst(prefix, k)
			last, count, err := blockTail(first, v)
			if err != nil {
				return fmt.Errorf("block %x: %w", k, err)
			}
			if last.less(part[0]) {
				if take := min(maxBlock-count, len(part)); take > 0 {
					nv := make([]byte, len(v), len(v)+4*take+8)
					copy(nv, v)
					if err := b.Put(bytes.Clone(k), appendDeltas(nv, last, part[:take])); err != nil {
						return err
					}
					part = part[take:]
				}
				if err := putBlocks(b, prefix, part, true); err != nil {
					return err
				}
				continue
			}
		}
		cur = cur[:0]
		if k != nil {
			first, _ := blockFirst(prefix, k)
			var err error
			if cur, err = decodeBlock(cur, first, v); err != nil {
				return fmt.Errorf("block %x: %w", k, err)
			}
		}
		var appended bool
		if add {
			appended = !bounded && (len(cur) == 0 || cur[len(cur)-1].less(part[0]))
			merged = mergeHits(merged[:0], cur, part)
		} else {
			merged = subtractHits(merged[:0], cur, part)
		}
		if len(merged) == len(cur) {
			continue // nothing added or removed
		}
		if k != nil && (len(merged) == 0 || merged[0] != cur[0]) {
			if err := b.Delete(bytes.Clone(k)); err != nil {
				return err
			}
		}
		if err := putBlocks(b, prefix, merged, appended); err != nil {
			return err
		}
	}
	return nil
}

// hitScratch holds postingChange's decoded blocks between calls: a write
// changes a block per index entry.
var hitScratch = sync.Pool{New: func() any { return new([2][]hit) }}

// putBlocks writes hs as blocks of at most maxBlock: full ones when the
// list only grew at its end (the usual case: new mail is newest), else
// evenly split ones with room for later inserts.
func putBlocks(b *bolt.Bucket, prefix []byte, hs []hit, appended bool) error {
	size := maxBlock
	if len(hs) > maxBlock && !appended {
		parts := (len(hs) + maxBlock*3/4 - 1) / (maxBlock * 3 / 4)
		size = (len(hs) + parts - 1) / parts
	}
	w := blockWriter{b: b, prefix: prefix, size: size, buf: make([]byte, 0, 4*len(hs))}
	for _, h := range hs {
		if err := w.add(h); err != nil {
			return err
		}
	}
	return w.flush()
}

// blockWriter writes one list's positions, given ascending, as new blocks
// of at most size positions; a repeat of the last position is skipped.
// The blocks' values share one buffer.
type blockWriter struct {
	b           *bolt.Bucket
	prefix      []byte
	size        int
	buf         []byte
	start       int // where the block in progress starts in buf
	first, last hit
	n           int // positions in the block in progress
}

func (w *blockWriter) add(h hit) error {
	if w.n > 0 && h == w.last {
		return nil
	}
	if w.n == w.size {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if w.n == 0 {
		w.first = h
	} else {
		w.buf = appendDelta(w.buf, w.last, h)
	}
	w.last = h
	w.n++
	return nil
}

// flush writes the block in progress.
func (w *blockWriter) flush() error {
	if w.n == 0 {
		return nil
	}
	err := w.b.Put(blockKey(w.prefix, w.first), w.buf[w.start:len(w.buf):len(w.buf)])
	w.start, w.n = len(w.buf), 0
	return err
}

func cmpHit(a, b hit) int {
	if a.t != b.t {
		return cmp.Compare(a.t, b.t)
	}
	return cmp.Compare(a.id, b.id)
}

// mergeHits appends the union of two ascending lists to dst.
func mergeHits(dst, a, b []hit) []hit {
	for len(a) > 0 && len(b) > 0 {
		switch c := cmpHit(a[0], b[0]); {
		case c < 0:
			dst, a = append(dst, a[0]), a[1:]
		case c > 0:
			dst, b = append(dst, b[0]), b[1:]
		default:
			dst, a, b = append(dst, a[0]), a[1:], b[1:]
		}
	}
	return append(append(dst, a...), b...)
}

// subtractHits appends a without b (both ascending) to dst.
func subtractHits(dst, a, b []hit) []hit {
	for len(a) > 0 {
		for len(b) > 0 && b[0].less(a[0]) {
			b = b[1:]
		}
		if len(b) == 0 || a[0] != b[0] {
			dst = append(dst, a[0])
		}
		a = a[1:]
	}
	return dst
}

// postingIter walks one prefix's list newest first: the positions below
// hi and at or above lo.
type postingIter struct {
	c      *bolt.Cursor
	prefix []byte
	lo     uint64
	buf    []hit
	i      int // buf[:i] are still to return
	err    error
}

func newPostingIter(b *bolt.Bucket, prefix []byte, lo uint64, hi hit) *postingIter {
	it := &postingIter{c: b.Cursor(), prefix: prefix, lo: lo}
	if !it.load(below(it.c, blockKey(prefix, hi))) {
		it.c = nil
		return it
	}
	it.i, _ = slices.BinarySearchFunc(it.buf, hi, cmpHit)
	return it
}

// load decodes the block at k; false when k is not one of the prefix's.
func (it *postingIter) load(k, v []byte) bool {
	it.buf, it.i = it.buf[:0], 0
	first, ok := blockFirst(it.prefix, k)
	if !ok {
		return false
	}
	var err error
	if it.buf, err = decodeBlock(it.buf, first, v); err != nil {
		it.err = fmt.Errorf("block %x: %w", k, err)
		it.buf = it.buf[:0]
		return false
	}
	it.i = len(it.buf)
	return true
}

// next returns the next position, newest first.
func (it *postingIter) next() (hit, bool) {
	for it.i == 0 {
		if it.c == nil {
			return hit{}, false
		}
		k, v := it.c.Prev()
		if !it.load(k, v) {
			it.c = nil
			return hit{}, false
		}
	}
	it.i--
	h := it.buf[it.i]
	if h.t < it.lo {
		it.c, it.i = nil, 0
		return hit{}, false
	}
	return h, true
}

func (it *postingIter) failed() error { return it.err }

// postingCount counts the positions of every list in b.
func postingCount(b *bolt.Bucket) (int, error) {
	n := 0
	err := eachPosting(b, func([]byte) bool { n++; return true })
	return n, err
}

// eachPosting calls fn with every position of every list in b, as an entry
// key (prefix | t | id, valid during the call), until fn returns false. A
// damaged block's positions up to the damage are passed; the walk goes on,
// and the damaged blocks (the first maxDamaged) are reported at the end.
func eachPosting(b *bolt.Bucket, fn func(entry []byte) bool) error {
	var entry []byte
	var damaged []error
	err := b.ForEach(func(k, v []byte) error {
		if len(k) < 16 {
			damaged = append(damaged, fmt.Errorf("block %x: %w: key too short", k, errBadBlock))
			return nil
		}
		prefix, first := splitEntry(k)
		r := blockReader{v: v, cur: first}
		for h, ok := first, true; ok; h, ok = r.next() {
			entry = appendBlockKey(entry[:0], prefix, h)
			if !fn(entry) {
				return errEnough
			}
		}
		if r.err != nil {
			damaged = append(damaged, fmt.Errorf("block %x: %w", k, r.err))
		}
		if len(damaged) >= maxDamaged {
			return errEnough
		}
		return nil
	})
	if err != nil && err != errEnough {
		return err
	}
	return errors.Join(damaged...)
}

// maxDamaged bounds the damaged blocks (or raw messages) one check walk
// reports.
const maxDamaged = 20

// splitEntry splits an index entry key into its prefix and position.
func splitEntry(k []byte) ([]byte, hit) {
	p := len(k) - 16
	return k[:p], hit{binary.BigEndian.Uint64(k[p:]), keyID(k[p+8:])}
}
