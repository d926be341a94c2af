package store

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bTestPostings = []byte("test_postings")

// openPostings opens a store with an empty bucket for posting lists.
func openPostings(t *testing.T) *Store {
	t.Helper()
	s := openTest(t)
	if err := s.db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket(bTestPostings)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

// randomHit is a position near base: whole seconds mostly, some with a
// fraction, ids close to the time's like the store's.
func randomHit(r *rand.Rand, base time.Time, span time.Duration) hit {
	at := base.Add(time.Duration(r.Int64N(int64(span)))).Truncate(time.Second)
	if r.IntN(5) == 0 {
		at = at.Add(time.Duration(1 + r.IntN(999_999_999)))
	}
	return hit{timeKey(at), ID(at.Sub(idEpoch).Milliseconds())<<idSeqBits + ID(r.IntN(4))}
}

// TestPostingsMatchReference adds and removes random batches of positions
// (appended at the end, in the past, repeats, absent ones) under three
// prefixes and compares every read with a plain set after each step: the
// newest-first walk in random windows, point checks, the count, and the
// blocks' own rules (ascending, not overlapping, at most maxBlock each).
func TestPostingsMatchReference(t *testing.T) {
	t.Parallel()
	s := openPostings(t)
	r := rand.New(rand.NewPCG(5, 11))
	prefixes := [][]byte{strPrefix("etrog"), strPrefix("lulav"), strPrefix(pendingWord)}
	ref := map[string]map[hit]bool{}
	for _, p := range prefixes {
		ref[string(p)] = map[hit]bool{}
	}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	newest := base
	for step := range 150 {
		p := prefixes[r.IntN(len(prefixes))]
		set := ref[string(p)]
		var hs []hit
		add := r.IntN(3) > 0 || len(set) == 0
		n := 1 + r.IntN(300)
		switch {
		case add && r.IntN(2) == 0: // new mail: after everything so far
			for range n {
				newest = newest.Add(time.Duration(1+r.IntN(600)) * time.Second)
				hs = append(hs, randomHit(r, newest, time.Second))
			}
		case add: // backdated, and some already there
			for range n {
				hs = append(hs, randomHit(r, base.Add(-24*time.Hour), newest.Sub(base)+48*time.Hour))
			}
			for h := range set {
				if len(hs) > n+n/4 {
					break
				}
				hs = append(hs, h)
			}
		default: // remove some that are there, and some that are not
			for h := range set {
				if len(hs) >= n {
					break
				}
				hs = append(hs, h)
			}
			hs = append(hs, randomHit(r, base, newest.Sub(base)+time.Hour))
		}
		slices.SortFunc(hs, cmpHit)
		hs = slices.Compact(hs)
		err := s.db.Update(func(tx *bolt.Tx) error {
			if add {
				return postingAdd(tx.Bucket(bTestPostings), p, hs)
			}
			return postingRemove(tx.Bucket(bTestPostings), p, hs)
		})
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		for _, h := range hs {
			if add {
				set[h] = true
			} else {
				delete(set, h)
			}
		}
		if err := s.db.View(func(tx *bolt.Tx) error { return checkPostings(tx, r, prefixes, ref) }); err != nil {
			t.Fatalf("step %d (add %v, %d positions under %q): %v", step, add, len(hs), p, err)
		}
	}
	total := 0
	for _, set := range ref {
		total += len(set)
	}
	if total < 2*maxBlock {
		t.Fatalf("only %d positions at the end: the blocks were never split", total)
	}
}

// checkPostings compares the bucket with the reference sets.
func checkPostings(tx *bolt.Tx, r *rand.Rand, prefixes [][]byte, ref map[string]map[hit]bool) error {
	b := tx.Bucket(bTestPostings)
	total := 0
	for _, p := range prefixes {
		want := make([]hit, 0, len(ref[string(p)]))
		for h := range ref[string(p)] {
			want = append(want, h)
		}
		slices.SortFunc(want, func(a, b hit) int { return cmpHit(b, a) }) // newest first
		total += len(want)
		// The whole list, then random windows.
		windows := [][2]hit{{{0, 0}, {math.MaxUint64, math.MaxUint64}}}
		for range 5 {
			if len(want) == 0 {
				break
			}
			a, z := want[r.IntN(len(want))], want[r.IntN(len(want))]
			if a.less(z) {
				a, z = z, a
			}
			if r.IntN(2) == 0 {
				a.id++ // hi between two positions
			}
			windows = append(windows, [2]hit{z, a})
		}
		for _, w := range windows {
			lo, hi := w[0].t, w[1]
			var exp []hit
			for _, h := range want {
				if h.less(hi) && h.t >= lo {
					exp = append(exp, h)
				}
			}
			it := newPostingIter(b, p, lo, hi)
			var got []hit
			for h, ok := it.next(); ok; h, ok = it.next() {
				got = append(got, h)
			}
			if it.err != nil {
				return it.err
			}
			if !slices.Equal(got, exp) {
				return fmt.Errorf("%q walk [%d, %v): %d positions, want %d", p, lo, hi, len(got), len(exp))
			}
		}
		for i := 0; i < 20 && len(want) > 0; i++ {
			h := want[r.IntN(len(want))]
			if ok, err := postingHas(b, p, h); !ok || err != nil {
				return fmt.Errorf("%q has %v = %v, %v; want true", p, h, ok, err)
			}
			h.id += 1 << 40 // not there
			if ok, err := postingHas(b, p, h); ok || err != nil {
				return fmt.Errorf("%q has absent %v = %v, %v", p, h, ok, err)
			}
		}
		// The blocks themselves.
		c := b.Cursor()
		var last hit
		started := false
		for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
			first, ok := blockFirst(p, k)
			if !ok {
				return fmt.Errorf("%q: key %x is not a block key", p, k)
			}
			hs, err := decodeBlock(nil, first, v)
			if err != nil {
				return err
			}
			if len(hs) > maxBlock {
				return fmt.Errorf("%q: a block of %d positions", p, len(hs))
			}
			if started && !last.less(first) {
				return fmt.Errorf("%q: blocks overlap at %v", p, first)
			}
			last, started = hs[len(hs)-1], true
		}
	}
	n, err := postingCount(b)
	if err != nil {
		return err
	}
	if n != total {
		return fmt.Errorf("postingCount = %d, want %d", n, total)
	}
	return nil
}

// TestPostingsAppendFillsBlocks: mail arrives newest last, one message at a
// time; its positions fill blocks to maxBlock instead of splitting them in
// halves, and a position of whole seconds takes a few bytes.
func TestPostingsAppendFillsBlocks(t *testing.T) {
	t.Parallel()
	s := openPostings(t)
	p := strPrefix("etrog")
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	id := ID(at.Sub(idEpoch).Milliseconds()) << idSeqBits
	const n = 1000
	for i := range n {
		at = at.Add(time.Duration(1+i%300) * time.Minute)
		id += ID(1+i%7) << idSeqBits
		err := s.db.Update(func(tx *bolt.Tx) error {
			return postingAdd(tx.Bucket(bTestPostings), p, []hit{{timeKey(at), id}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bTestPostings)
		st := b.Stats()
		if want := (n + maxBlock - 1) / maxBlock; st.KeyN != want {
			t.Errorf("%d blocks for %d appended positions, want %d", st.KeyN, n, want)
		}
		size := 0
		b.ForEach(func(k, v []byte) error { size += len(k) + len(v); return nil })
		if per := float64(size) / n; per > 8 {
			t.Errorf("%.1f bytes per position, want at most 8", per)
		}
		return nil
	})
}

// TestPostingsPutKeys: index entry keys of several prefixes, unsorted and
// repeated, go in and out through putIndex and deleteIndex, the entry
// points single writes use.
func TestPostingsPutKeys(t *testing.T) {
	t.Parallel()
	_, s := openAt(t) // no Check at the end: the entries have no records
	defer s.Close()
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var keys [][]byte
	for i := range 300 {
		w := []string{"etrog", "lulav", "hadas"}[i%3]
		keys = append(keys, tiKey(strPrefix(w), at.Add(time.Duration(i*7919%300)*time.Minute), ID(i+1)))
	}
	keys = append(keys, bytes.Clone(keys[0]), bytes.Clone(keys[10]))
	entries := func(keys [][]byte) []indexEntry {
		var out []indexEntry
		for _, k := range keys {
			out = append(out, indexEntry{ixWord, k, nil})
		}
		return out
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := putIndex(tx, entries(keys)); err != nil {
			return err
		}
		return deleteIndex(tx, entries(keys[:150]))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(ixWord)
		for i, k := range keys[:300] {
			p, h := splitEntry(k)
			if ok, err := postingHas(b, p, h); ok != (i >= 150) || err != nil {
				t.Errorf("entry %d: has = %v, %v; want %v", i, ok, err, i >= 150)
			}
		}
		if n, err := postingCount(b); n != 150 || err != nil {
			t.Errorf("postingCount = %d, %v; want 150", n, err)
		}
		return nil
	})
}

// TestPostingsDamagedBlock: a block that does not decode (cut short, a
// position repeated, a fraction out of range) is an error for the walk,
// the point check, the count and a change, never a silently shorter list.
func TestPostingsDamagedBlock(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	hs := []hit{{timeKey(at), 1}, {timeKey(at.Add(time.Hour)), 2}, {timeKey(at.Add(2 * time.Hour)), 3}}
	damage := map[string]func(v []byte) []byte{
		"cut short":         func(v []byte) []byte { return v[:len(v)-1] },
		"repeated position": func(v []byte) []byte { return append(bytes.Clone(v), 0, 0) },
		"fraction of zero":  func(v []byte) []byte { return append(bytes.Clone(v), 1, 0, 2) },
		"fraction too big":  func(v []byte) []byte { return append(bytes.Clone(v), 1, 0x80, 0x94, 0xeb, 0xdc, 0x03, 2) },
	}
	for name, fn := range damage {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := openPostings(t)
			p := strPrefix("etrog")
			if err := s.db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket(bTestPostings)
				if err := postingAdd(b, p, hs); err != nil {
					return err
				}
				k, v := b.Cursor().First()
				return b.Put(bytes.Clone(k), fn(v))
			}); err != nil {
				t.Fatal(err)
			}
			s.db.View(func(tx *bolt.Tx) error {
				b := tx.Bucket(bTestPostings)
				it := newPostingIter(b, p, 0, hit{math.MaxUint64, math.MaxUint64})
				for _, ok := it.next(); ok; _, ok = it.next() {
				}
				if it.err == nil {
					t.Error("walk over a damaged block: no error")
				}
				if _, err := postingHas(b, p, hit{timeKey(at.Add(3 * time.Hour)), 9}); err == nil {
					t.Error("postingHas in a damaged block: no error")
				}
				if _, err := postingCount(b); err == nil {
					t.Error("postingCount over a damaged block: no error")
				}
				return nil
			})
			err := s.db.Update(func(tx *bolt.Tx) error {
				return postingAdd(tx.Bucket(bTestPostings), p, []hit{{timeKey(at.Add(30 * time.Minute)), 9}})
			})
			if err == nil {
				t.Error("adding into a damaged block: no error")
			}
		})
	}
}

// TestPostingsBackwardsStayBlocked: positions added oldest last, one at a
// time (an import walking back through a mailbox), join the first block
// instead of making a block each.
func TestPostingsBackwardsStayBlocked(t *testing.T) {
	t.Parallel()
	s := openPostings(t)
	p := strPrefix("etrog")
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	const n = 1000
	for i := range n {
		h := hit{timeKey(at.Add(-time.Duration(i) * time.Minute)), ID(n - i)}
		if err := s.db.Update(func(tx *bolt.Tx) error { return postingAdd(tx.Bucket(bTestPostings), p, []hit{h}) }); err != nil {
			t.Fatal(err)
		}
	}
	s.db.View(func(tx *bolt.Tx) error {
		if got, most := tx.Bucket(bTestPostings).Stats().KeyN, 2*n/maxBlock+1; got > most {
			t.Errorf("%d blocks for %d positions added backwards, want at most %d", got, n, most)
		}
		return nil
	})
}

// FuzzPostingBlock: any bytes decode without panicking, and positions that
// decode encode back to the same positions.
func FuzzPostingBlock(f *testing.F) {
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	f.Add(appendDeltas(nil, hit{timeKey(at), 5}, []hit{{timeKey(at.Add(time.Second)), 4}, {timeKey(at.Add(time.Second + 7)), 90}}))
	f.Add([]byte{0x01, 0x00, 0x02})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, v []byte) {
		first := hit{timeKey(at), 1 << 30}
		hs, err := decodeBlock(nil, first, v)
		if err != nil {
			return
		}
		for i := 1; i < len(hs); i++ {
			if !hs[i-1].less(hs[i]) {
				t.Fatalf("decoded positions out of order at %d", i)
			}
		}
		again, err := decodeBlock(nil, first, appendDeltas(nil, hs[0], hs[1:]))
		if err != nil || !slices.Equal(again, hs) {
			t.Fatalf("round trip: %v, %d positions against %d", err, len(again), len(hs))
		}
	})
}

// BenchmarkPostingAddBatch measures the word index's share of a batch:
// the postings of 1,000 messages (~35 words each, from a vocabulary of
// 5,000) added to lists already holding 200,000 positions.
func BenchmarkPostingAddBatch(b *testing.B) {
	s, err := Open(b.TempDir()+"/b.db", Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(1, 2))
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	id := ID(1)
	batch := func() *postingBatch {
		pb := new(postingBatch)
		for range 1000 {
			at = at.Add(time.Duration(1+r.IntN(120)) * time.Second)
			id++
			for range 35 {
				w := fmt.Sprintf("w%d", int(math.Pow(r.Float64(), 3)*5000))
				pb.add(listWord, strPrefix(w), hit{timeKey(at), id})
			}
		}
		return pb
	}
	for range 6 {
		s.db.Update(batch().apply)
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		pb := batch()
		b.StartTimer()
		if err := s.db.Update(pb.apply); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPostingFindMatchesHas: postingFind's walk answers as postingHas
// does position by position, for positions in the list, between its
// blocks, below and above it, beside a neighbouring list.
func TestPostingFindMatchesHas(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	t.Cleanup(func() { s.db.Update(resetIndexes) }) // no records behind these lists
	r := rand.New(rand.NewPCG(9, 10))
	prefix, other := strPrefix("etrog"), strPrefix("etrogs")
	for round := range 40 {
		var list, probe []hit
		for range r.IntN(600) {
			list = append(list, hit{uint64(100+r.IntN(1000)) * 1e9, ID(1 + r.IntN(5))})
		}
		for range 1 + r.IntN(300) {
			probe = append(probe, hit{uint64(r.IntN(1200)) * 1e9, ID(1 + r.IntN(5))})
		}
		probe = append(probe, list[:min(len(list), 50)]...)
		for _, hs := range [][]hit{list, probe} {
			slices.SortFunc(hs, cmpHit)
		}
		list, probe = slices.Compact(list), slices.Compact(probe)
		err := s.db.Update(func(tx *bolt.Tx) error {
			if err := resetIndexes(tx); err != nil {
				return err
			}
			b := tx.Bucket(ixWord)
			if err := postingAdd(b, other, list); err != nil {
				return err
			}
			if len(list) == 0 {
				return nil
			}
			return postingAdd(b, prefix, list)
		})
		if err != nil {
			t.Fatal(err)
		}
		s.view(func(tx *bolt.Tx) error {
			b := tx.Bucket(ixWord)
			var got []hit
			var calls int
			postingFind(b, prefix, probe, func(h hit, held bool) {
				calls++
				if held {
					got = append(got, h)
				}
			}, func(err error) { t.Fatal(err) })
			var want []hit
			for _, h := range probe {
				ok, err := postingHas(b, prefix, h)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					want = append(want, h)
				}
			}
			if calls != len(probe) || !slices.Equal(got, want) {
				t.Fatalf("round %d: %d calls for %d positions; held %d, postingHas %d", round, calls, len(probe), len(got), len(want))
			}
			return nil
		})
	}
}
