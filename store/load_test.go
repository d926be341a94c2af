package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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
	for _, budget := range []int{0, 2000, 1 << 30} {
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
}

func equalResults(a, b map[string][]string) bool {
	for k := range b {
		if !slices.Equal(a[k], b[k]) {
			return false
		}
	}
	return len(a) == len(b)
}

// TestLoadStops: an invalid batch, or a cancelled context, stops Load; the
// batches stored before it keep their records and index entries, and the
// failed batch leaves nothing.
func TestLoadStops(t *testing.T) {
	t.Parallel()
	for _, stop := range []string{"invalid batch", "cancelled", "next fails"} {
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
					case "cancelled":
						cancel()
					case "next fails":
						return nil, nextErr
					}
				}
				return b, nil
			}, LoadOptions{Budget: 4 << 10})
			var ve *ValidationError
			switch {
			case stop == "invalid batch" && (!errors.As(err, &ve) || ve.Field != "[50].contact_ids"):
				t.Fatalf("Load: %v, want the invalid item named", err)
			case stop == "cancelled" && !errors.Is(err, context.Canceled):
				t.Fatalf("Load: %v, want cancelled", err)
			case stop == "next fails" && !errors.Is(err, nextErr):
				t.Fatalf("Load: %v, want next's error", err)
			}
			// Batch 5 failed. Batches 1-3 were stored before it was
			// taken; batch 4, in flight beside it, may have been stored or
			// stopped by the cancellation, and batch 6 may have been taken
			// before the failure was known.
			if stored%100 != 0 || stored < 300 || stored > 500 {
				t.Errorf("stored %d, want 300, 400 or 500", stored)
			}
			all, _, err := listAll(s, Filter{}, 500)
			if err != nil || len(all) != stored {
				t.Fatalf("found %d, stored %d (%v)", len(all), stored, err)
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
	prefix := strPrefix("etrog")
	for round := range 50 {
		var all []hit
		acc := new(postingBatch)
		for range 1 + r.IntN(6) {
			pb := new(postingBatch)
			base := uint64(r.IntN(1000))
			for range r.IntN(40) {
				h := hit{(base + uint64(r.IntN(200))) * 1e9, ID(1 + r.IntN(20))}
				if r.IntN(4) == 0 {
					h.t += uint64(r.IntN(1e9))
				}
				pb.add(listWord, prefix, h)
				all = append(all, h)
			}
			acc.merge(pb)
		}
		slices.SortFunc(all, cmpHit)
		all = slices.Compact(all)
		var got []hit
		if len(all) > 0 {
			got, _ = acc.runs[listWord][acc.lists[listWord][string(prefix)]].hits(nil, nil)
		}
		if !slices.Equal(got, all) {
			t.Fatalf("round %d: merged %d positions, want %d:\n%v\n%v", round, len(got), len(all), got, all)
		}
		// Written twice: into the emptied bucket, then again over itself.
		for pass, start := range []func(tx *bolt.Tx) error{resetIndexes, func(*bolt.Tx) error { return nil }} {
			if err := s.db.Update(func(tx *bolt.Tx) error {
				if err := start(tx); err != nil {
					return err
				}
				return acc.applyFill(tx, 1)
			}); err != nil {
				t.Fatal(err)
			}
			var stored []hit
			s.view(func(tx *bolt.Tx) error {
				it := newPostingIter(tx.Bucket(ixWord), prefix, 0, hit{math.MaxUint64, math.MaxUint64})
				for h, ok := it.next(); ok; h, ok = it.next() {
					stored = append(stored, h)
				}
				if it.err != nil {
					t.Fatal(it.err)
				}
				return nil
			})
			slices.Reverse(stored)
			if !slices.Equal(stored, all) {
				t.Fatalf("round %d, pass %d: stored %d positions, want %d:\n%v\n%v", round, pass, len(stored), len(all), stored, all)
			}
		}
	}
}
