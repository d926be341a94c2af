package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// loadItems makes n interactions over two contacts, mostly in time order
// with a tenth backdated by up to two weeks (as imports and seeds have
// them), with a few words each.
func loadItems(r *rand.Rand, contacts []ID, n int) []*Interaction {
	words := []string{"etrog", "lulav", "sukkah", "hadass", "arava", "shofar"}
	at := day("2026-01-01")
	out := make([]*Interaction, n)
	for i := range out {
		at = at.Add(time.Duration(1+r.IntN(3600)) * time.Second)
		when := at
		if r.IntN(10) == 0 {
			when = at.Add(-time.Duration(r.IntN(14*24)) * time.Hour)
		}
		out[i] = &Interaction{
			ContactIDs: []ID{contacts[r.IntN(len(contacts))]},
			Type:       []string{"Call", "Email", "Visit"}[r.IntN(3)],
			Title:      fmt.Sprintf("item %d %s %s", i, words[r.IntN(len(words))], words[r.IntN(len(words))]),
			OccurredAt: when,
		}
	}
	return out
}

// batches returns next for Load, handing out items size at a time.
func batches(items []*Interaction, size int) func() ([]*Interaction, error) {
	return func() ([]*Interaction, error) {
		n := min(size, len(items))
		b := items[:n]
		items = items[n:]
		return b, nil
	}
}

func titles(items []*Interaction) []string {
	out := make([]string, len(items))
	for i, ia := range items {
		out[i] = ia.Title
	}
	return out
}

// TestLoadMatchesCreateInteractions: the same interactions stored by Load
// (budgets small enough to write the gathered positions several times, or
// once) and by CreateInteractions are found alike by every kind of query,
// and Check finds every index entry in place.
func TestLoadMatchesCreateInteractions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 3000
	query := func(t *testing.T, s *Store, contact ID) map[string][]string { return queryTitles(t, s, contact) }
	// setup opens a store with two contacts and the n items for them.
	setup := func(t *testing.T) (*Store, ID, []*Interaction) {
		s := openTest(t)
		a, b := mustContact(t, s, Contact{Name: "Yossi"}), mustContact(t, s, Contact{Name: "Dina"})
		return s, a.ID, loadItems(rand.New(rand.NewPCG(7, 8)), []ID{a.ID, b.ID}, n)
	}

	ref, refContact, items := setup(t)
	for b := range slices.Chunk(items, 700) {
		if err := ref.CreateInteractions(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	want := query(t, ref, refContact)
	if len(want["all"]) != n || len(want["word"]) == 0 || len(want["range"]) == 0 || len(want["contact"]) == 0 {
		t.Fatalf("the reference store is not a test: %d items, %d etrog, %d in range, %d for a contact",
			len(want["all"]), len(want["word"]), len(want["range"]), len(want["contact"]))
	}

	for _, budget := range []int{1 << 10, 64 << 10, 0} {
		t.Run(fmt.Sprintf("budget %d", budget), func(t *testing.T) {
			t.Parallel()
			s, contact, items := setup(t)
			var reported []int
			stored, err := s.Load(ctx, batches(items, 250), LoadOptions{Budget: budget,
				Progress: func(n int) { reported = append(reported, n) }})
			if err != nil || stored != n {
				t.Fatalf("Load: %d stored, %v", stored, err)
			}
			if len(reported) != n/250 || reported[len(reported)-1] != n || !slices.IsSorted(reported) {
				t.Errorf("progress reported %v", reported)
			}
			if got := query(t, s, contact); !equalResults(got, want) {
				for name := range want {
					if !slices.Equal(got[name], want[name]) {
						t.Errorf("%s: Load found %d, CreateInteractions %d", name, len(got[name]), len(want[name]))
					}
				}
			}
			if err := s.Check(); err != nil {
				t.Errorf("Check after Load: %v", err)
			}
		})
	}
}

// loadFilters are the queries the bulk paths' tests compare stores by.
var loadFilters = map[string]Filter{
	"all":           {},
	"type":          {Types: []string{"call"}},
	"word":          {Text: []string{"etrog"}},
	"word and type": {Text: []string{"lulav"}, Types: []string{"visit", "email"}},
	"not word":      {NotText: []string{"sukkah"}},
	"range":         {From: day("2026-02-01"), To: day("2026-02-15")},
}

// queryTitles runs every loadFilters query, and contact's timeline, on s.
func queryTitles(t *testing.T, s *Store, contact ID) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for name, f := range loadFilters {
		got, _, err := listAll(s, f, 500)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = titles(got)
	}
	got, _, err := listAll(s, Filter{ContactIDs: []ID{contact}}, 500)
	if err != nil {
		t.Fatal(err)
	}
	out["contact"] = titles(got)
	return out
}

// TestBuildIndexesBudgets: an index build from the records (migration 5,
// touchpoint reindex) writes the same lists whether it writes after every
// batch of records read, after a few, or once.
func TestBuildIndexesBudgets(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	ctx := context.Background()
	a, b := mustContact(t, s, Contact{Name: "Yossi"}), mustContact(t, s, Contact{Name: "Dina"})
	items := loadItems(rand.New(rand.NewPCG(5, 6)), []ID{a.ID, b.ID}, 2000)
	for part := range slices.Chunk(items[:1990], 500) {
		if err := s.CreateInteractions(ctx, part); err != nil {
			t.Fatal(err)
		}
	}
	for _, ia := range items[1990:] { // pending words
		if err := s.CreateInteraction(ctx, ia); err != nil {
			t.Fatal(err)
		}
	}
	want := queryTitles(t, s, a.ID)
	// 0 writes after every batch read, 40 KiB after a few, 1 GiB once.
	for _, budget := range []int{0, 40 << 10, 1 << 30} {
		if err := s.db.Update(resetIndexes); err != nil {
			t.Fatal(err)
		}
		if err := buildIndexes(s.db, 150, budget); err != nil {
			t.Fatal(err)
		}
		if got := queryTitles(t, s, a.ID); !equalResults(got, want) {
			t.Errorf("budget %d: the rebuilt indexes answer differently", budget)
		}
		if err := s.Check(); err != nil {
			t.Errorf("budget %d: Check: %v", budget, err)
		}
		if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Delete(keyIndexPostDone) }); err != nil {
			t.Fatal(err)
		}
	}

	// A build cut short after a write: the records after its resume point
	// have no positions yet; the next build indexes exactly those.
	type record struct{ k, v []byte }
	var rest []record
	var resume []byte
	if err := s.db.Update(func(tx *bolt.Tx) error {
		if err := resetIndexes(tx); err != nil {
			return err
		}
		c := tx.Bucket(bInteractions).Cursor()
		n := 0
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n++; n == 1200 {
				resume = bytes.Clone(k)
			} else if n > 1200 {
				rest = append(rest, record{bytes.Clone(k), bytes.Clone(v)})
			}
		}
		for _, r := range rest {
			if err := tx.Bucket(bInteractions).Delete(r.k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := buildIndexes(s.db, 150, 40<<10); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		for _, r := range rest {
			if err := tx.Bucket(bInteractions).Put(r.k, r.v); err != nil {
				return err
			}
		}
		return tx.Bucket(bMeta).Put(keyIndexPostDone, resume)
	}); err != nil {
		t.Fatal(err)
	}
	if err := buildIndexes(s.db, 150, 40<<10); err != nil {
		t.Fatal(err)
	}
	if got := queryTitles(t, s, a.ID); !equalResults(got, want) {
		t.Error("resumed: the rebuilt indexes answer differently")
	}
	if err := s.Check(); err != nil {
		t.Errorf("resumed: Check: %v", err)
	}
}

func equalResults(a, b map[string][]string) bool {
	for k := range b {
		if !slices.Equal(a[k], b[k]) {
			return false
		}
	}
	return len(a) == len(b)
}

// TestLoadStops: an invalid batch, an error from next or a cancelled
// context stops Load; it returns how many it stored, the batches before
// the failure and none after, which keep their records and index entries.
func TestLoadStops(t *testing.T) {
	t.Parallel()
	for _, stop := range []string{"invalid batch", "unknown contact", "cancelled", "next fails", "next panics"} {
		t.Run(stop, func(t *testing.T) {
			t.Parallel()
			s := openTest(t)
			c := mustContact(t, s, Contact{Name: "Yossi"})
			items := loadItems(rand.New(rand.NewPCG(1, 2)), []ID{c.ID}, 1000)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			next := batches(items, 100)
			calls := 0
			var nextErr = errors.New("the source went away")
			stored, err := s.Load(ctx, func() ([]*Interaction, error) {
				calls++
				b, _ := next()
				if calls == 5 {
					switch stop {
					case "invalid batch":
						b[50].ContactIDs = nil
					case "unknown contact": // found out in the write
						b[50].ContactIDs = []ID{c.ID + 1}
					case "cancelled":
						cancel()
					case "next fails":
						return nil, nextErr
					case "next panics":
						panic("the source broke")
					}
				}
				return b, nil
			}, LoadOptions{Budget: 4 << 10})
			var ve *ValidationError
			switch {
			case stop == "invalid batch" && (!errors.As(err, &ve) || ve.Field != "[50].contact_ids"):
				t.Fatalf("Load: %v, want the invalid item named", err)
			case stop == "unknown contact" && (!errors.As(err, &ve) || ve.Field != "[50].contact_ids"):
				t.Fatalf("Load: %v, want the item naming an unknown contact named", err)
			case stop == "next panics" && (err == nil || !strings.Contains(err.Error(), "the source broke")):
				t.Fatalf("Load: %v, want next's panic as an error", err)
			case stop == "cancelled" && !errors.Is(err, context.Canceled):
				t.Fatalf("Load: %v, want cancelled", err)
			case stop == "next fails" && !errors.Is(err, nextErr):
				t.Fatalf("Load: %v, want next's error", err)
			}
			// Batch 5 failed: batches 1-4 are stored, and none after. A
			// cancellation may also stop batch 4, in flight beside it.
			if want := 400; stored != want && !(stop == "cancelled" && stored == 300) {
				t.Errorf("stored %d, want %d", stored, want)
			}
			all, _, err := listAll(s, Filter{}, 500)
			got, want := titles(all), titles(items[:stored])
			slices.Sort(got)
			slices.Sort(want)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("found %d, stored %d, want the first %d items (%v)", len(all), stored, stored, err)
			}
			if err := s.Check(); err != nil {
				t.Errorf("Check after a stopped Load: %v", err)
			}
		})
	}
}

// TestPostingBatchMerge: positions merged from batches, in order or not,
// with repeats and late ones, come out as the sorted union, and are
// written as that list into an empty bucket or beside an existing list.
func TestPostingBatchMerge(t *testing.T) {
	t.Parallel()
	s := openTest(t)
	t.Cleanup(func() { s.db.Update(resetIndexes) }) // no records behind these lists
	r := rand.New(rand.NewPCG(3, 4))
	prefixes := [][]byte{strPrefix("etrog"), strPrefix("lulav"), strPrefix("sukkah")}
	for round := range 60 {
		all := map[string][]hit{}
		acc := new(postingBatch)
		for range 1 + r.IntN(6) {
			pb := new(postingBatch)
			base := uint64(r.IntN(1000))
			for range r.IntN(300) {
				h := hit{(base + uint64(r.IntN(200))) * 1e9, ID(1 + r.IntN(20))}
				if r.IntN(4) == 0 {
					h.t += uint64(r.IntN(1e9))
				}
				p := prefixes[r.IntN(len(prefixes))]
				pb.add(listWord, p, h)
				all[string(p)] = append(all[string(p)], h)
			}
			acc.merge(pb)
		}
		for p, hs := range all {
			slices.SortFunc(hs, cmpHit)
			all[p] = slices.Compact(hs)
		}
		// Written first (the late positions as they came), into the
		// emptied bucket, then again over itself.
		for pass, start := range []func(tx *bolt.Tx) error{resetIndexes, func(*bolt.Tx) error { return nil }} {
			if err := s.db.Update(func(tx *bolt.Tx) error {
				if err := start(tx); err != nil {
					return err
				}
				return acc.applyFill(tx, 1)
			}); err != nil {
				t.Fatal(err)
			}
			for _, p := range prefixes {
				if got := storedBlocks(t, s, p); !slices.Equal(got, all[string(p)]) {
					t.Fatalf("round %d, pass %d, %q: stored %d positions, want %d:\n%v\n%v", round, pass, p, len(got), len(all[string(p)]), got, all[string(p)])
				}
			}
		}
		for _, p := range prefixes {
			var got []hit
			if i, ok := acc.lists[listWord][string(p)]; ok {
				got, _ = acc.runs[listWord][i].hits(nil, nil)
			}
			if !slices.Equal(got, all[string(p)]) {
				t.Fatalf("round %d, %q: merged %d positions, want %d", round, p, len(got), len(all[string(p)]))
			}
		}
	}
}

// storedBlocks reads prefix's blocks in the word index, checking that each
// holds at most maxBlock ascending positions and starts after the one
// before ends, and returns their positions.
func storedBlocks(t *testing.T, s *Store, prefix []byte) []hit {
	t.Helper()
	var out []hit
	s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(ixWord).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			first, ok := blockFirst(prefix, k)
			if !ok {
				break // another word's block
			}
			if len(out) > 0 && !out[len(out)-1].less(first) {
				t.Fatalf("%q: block %v starts before the one before ends (%v)", prefix, first, out[len(out)-1])
			}
			block, err := decodeBlock(nil, first, v)
			if err != nil {
				t.Fatalf("%q: block %v: %v", prefix, first, err)
			}
			if len(block) > maxBlock {
				t.Fatalf("%q: block %v holds %d positions", prefix, first, len(block))
			}
			out = append(out, block...)
		}
		return nil
	})
	return out
}
