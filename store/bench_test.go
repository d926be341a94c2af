package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"touchpoint/seed"
	"touchpoint/store"
)

// Benchmarks for the write paths and for the read paths over seeded
// databases of 100k and 1M interactions:
//
//	go test -run XXX -bench . ./store                                   # writes and 100k
//	TOUCHPOINT_BENCH_1M=1 go test -run XXX -bench . -timeout 1h ./store # and 1M
//
// Seeded databases are cached in os.TempDir()/touchpoint-bench, keyed by size,
// seed.Version and store.SchemaVersion(); delete the directory to rebuild
// them. The first 1M run spends about a minute seeding (1.3 GB).

// benchEnd is the end of the seeded period; filters use the last 30 days.
var benchEnd = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

type benchSize struct {
	name         string
	interactions int
}

var benchSizes = []benchSize{{"100k", 100_000}, {"1M", 1_000_000}}

func benchOptions(sz benchSize) seed.Options {
	return seed.Options{Contacts: sz.interactions / 20, Interactions: sz.interactions, Users: 20, Seed: 1, End: benchEnd}
}

// benchMeta is kept next to a cached database: what was seeded and how long
// it took.
type benchMeta struct {
	Options  seed.Options
	Result   seed.Result
	Duration time.Duration
	Bytes    int64
}

type benchDB struct {
	s    *store.Store
	path string
	meta benchMeta
}

// forEachSize runs fn as a sub-benchmark per size, on the cached seeded
// database opened read-only.
func forEachSize(b *testing.B, fn func(b *testing.B, d *benchDB)) {
	for _, sz := range benchSizes {
		b.Run("size="+sz.name, func(b *testing.B) {
			d := openSeeded(b, sz)
			fn(b, d)
		})
	}
}

func skipLarge(b *testing.B, sz benchSize) {
	if sz.interactions < 1_000_000 {
		return
	}
	if testing.Short() {
		b.Skip("1M benchmarks do not run with -short")
	}
	if os.Getenv("TOUCHPOINT_BENCH_1M") != "1" {
		b.Skip("set TOUCHPOINT_BENCH_1M=1 to run the 1M benchmarks")
	}
}

func openSeeded(b *testing.B, sz benchSize) *benchDB {
	b.Helper()
	skipLarge(b, sz)
	path, meta := seeded(b, sz)
	// Read-only: the cached file stays as generated, and open skips the
	// bucket and migration transaction.
	s, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		b.Fatalf("Open(%s): %v", path, err)
	}
	b.Cleanup(func() { s.Close() })
	return &benchDB{s: s, path: path, meta: meta}
}

// seeded returns the cached database for sz, generating it first when
// missing: into a temporary file, renamed into place once complete, so an
// interrupted run leaves no half-seeded cache behind.
func seeded(b *testing.B, sz benchSize) (string, benchMeta) {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "touchpoint-bench")
	path := filepath.Join(dir, fmt.Sprintf("%s-v%d.%d.db", sz.name, seed.Version, store.SchemaVersion()))
	var meta benchMeta
	if raw, err := os.ReadFile(path + ".json"); err == nil && json.Unmarshal(raw, &meta) == nil {
		if _, err := os.Stat(path); err == nil {
			return path, meta
		}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		b.Fatal(err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		b.Fatal(err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	s, err := store.Open(tmp.Name(), store.Options{NoSync: true, PasswordCost: bcrypt.MinCost})
	if err != nil {
		b.Fatal(err)
	}
	meta.Options = benchOptions(sz)
	start := time.Now()
	res, err := seed.Generate(context.Background(), s, meta.Options, nil)
	if err == nil {
		err = s.Close()
	} else {
		s.Close()
	}
	if err == nil {
		err = syncFile(tmp.Name())
	}
	if err != nil {
		b.Fatalf("seed %s: %v", sz.name, err)
	}
	meta.Duration = time.Since(start)
	meta.Result = *res
	if fi, err := os.Stat(tmp.Name()); err == nil {
		meta.Bytes = fi.Size()
	}
	raw, err := json.Marshal(meta)
	if err == nil {
		err = os.WriteFile(path+".json.tmp", raw, 0o600)
	}
	if err == nil {
		err = os.Rename(path+".json.tmp", path+".json")
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		b.Fatalf("cache seeded database: %v", err)
	}
	b.Logf("seeded %s in %v (%.0f interactions/s), %.1f MB, cached as %s", sz.name, meta.Duration.Round(time.Millisecond),
		float64(res.Interactions)/meta.Duration.Seconds(), float64(meta.Bytes)/(1<<20), path)
	return path, meta
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// combined is the filter of the filtered benchmarks: the last 30 days, one
// type, one action, one owner (the second busiest).
func (d *benchDB) combined() store.Filter {
	return store.Filter{
		From:     benchEnd.AddDate(0, 0, -30),
		To:       benchEnd,
		Types:    []string{"call"},
		Actions:  []string{"tefillin"},
		OwnerIDs: []store.ID{d.meta.Result.Users[1]},
	}
}

// matchesCombined evaluates combined() in Go, for the walk over everything.
func (d *benchDB) matchesCombined(ia *store.Interaction) bool {
	f := d.combined()
	return !ia.OccurredAt.Before(f.From) && ia.OccurredAt.Before(f.To) &&
		strings.EqualFold(ia.Type, f.Types[0]) &&
		slices.ContainsFunc(ia.Actions, func(a string) bool { return strings.EqualFold(a, f.Actions[0]) }) &&
		slices.Contains(ia.OwnerIDs, f.OwnerIDs[0])
}

func (d *benchDB) count(b *testing.B, f store.Filter, keep func(*store.Interaction) bool) int {
	b.Helper()
	n := 0
	err := d.s.ExportInteractions(f, func(ia *store.Interaction, _ []*store.ExportContact) error {
		if keep == nil || keep(ia) {
			n++
		}
		return nil
	})
	if err != nil {
		b.Fatalf("ExportInteractions: %v", err)
	}
	return n
}

// BenchmarkSeed times nothing itself: it makes sure the cached databases
// exist (seeding them if not) and reports how long seeding took when they
// were generated, how fast that was, and the file's size.
func BenchmarkSeed(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("size="+sz.name, func(b *testing.B) {
			skipLarge(b, sz)
			path, meta := seeded(b, sz)
			b.Logf("%s: seeded in %v", path, meta.Duration.Round(time.Millisecond))
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(meta.Duration.Seconds(), "seed-s")
			b.ReportMetric(float64(meta.Result.Interactions)/meta.Duration.Seconds(), "interactions/s")
			b.ReportMetric(float64(meta.Bytes)/(1<<20), "file-MB")
			s, err := store.Open(path, store.Options{ReadOnly: true})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			raw, err := s.RawValueBytes()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(raw)/(1<<20), "raw-MB")
			b.ReportMetric(float64(meta.Bytes)/float64(raw), "file/raw")
		})
	}
}

// firstPage benchmarks one ListInteractions call for the first page.
func firstPage(b *testing.B, d *benchDB, f store.Filter, want int) {
	b.Helper()
	items, _, err := d.s.ListInteractions(f, store.DefaultLimit, "")
	if err != nil || len(items) < want {
		b.Fatalf("ListInteractions = %d items, %v; want at least %d", len(items), err, want)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := d.s.ListInteractions(f, store.DefaultLimit, ""); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTimelineFirstPage(b *testing.B) {
	forEachSize(b, func(b *testing.B, d *benchDB) {
		busiest := d.meta.Result.Busiest
		b.ReportAllocs()
		items, _, err := d.s.Timeline(busiest, store.DefaultLimit, "")
		if err != nil || len(items) != store.DefaultLimit {
			b.Fatalf("Timeline = %d items, %v", len(items), err)
		}
		for b.Loop() {
			if _, _, err := d.s.Timeline(busiest, store.DefaultLimit, ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkListFirstPage(b *testing.B) {
	forEachSize(b, func(b *testing.B, d *benchDB) {
		firstPage(b, d, store.Filter{}, store.DefaultLimit)
	})
}

func BenchmarkFilteredFirstPage(b *testing.B) {
	forEachSize(b, func(b *testing.B, d *benchDB) {
		f := d.combined()
		n := d.count(b, f, nil)
		b.Logf("%d interactions match the combined filter", n)
		firstPage(b, d, f, min(n, store.DefaultLimit))
	})
}

// BenchmarkFullScanFiltered finds every match of the combined filter two
// ways: export runs ExportInteractions with the filter (the index plan, to
// the last match); scan walks every interaction (ExportInteractions with no
// filter) and tests the filter in Go, the cost without indexes.
func BenchmarkFullScanFiltered(b *testing.B) {
	forEachSize(b, func(b *testing.B, d *benchDB) {
		f := d.combined()
		want := d.count(b, f, nil)
		if got := d.count(b, store.Filter{}, d.matchesCombined); got != want {
			b.Fatalf("the indexed filter finds %d interactions, a full scan %d", want, got)
		}
		b.Run("via=export", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d.count(b, f, nil)
			}
		})
		b.Run("via=scan", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d.count(b, store.Filter{}, d.matchesCombined)
			}
		})
	})
}

// BenchmarkFreeText searches the text for a word in about 0.5% of
// interactions (a page of hits reads ~10k records), and for a word in none
// (every record is read).
func BenchmarkFreeText(b *testing.B) {
	forEachSize(b, func(b *testing.B, d *benchDB) {
		b.Run("word=rare", func(b *testing.B) {
			firstPage(b, d, store.Filter{Text: []string{seed.RareWord}}, store.DefaultLimit)
		})
		b.Run("word=absent", func(b *testing.B) {
			firstPage(b, d, store.Filter{Text: []string{"xylophone"}}, 0)
		})
		// Inside words: "draise" (fundraiser), a phrase, two terms.
		b.Run("word=fragment", func(b *testing.B) {
			firstPage(b, d, store.Filter{Text: []string{"draise"}}, store.DefaultLimit)
		})
		b.Run("word=phrase", func(b *testing.B) {
			firstPage(b, d, store.Filter{Text: []string{"brought an " + seed.RareWord}}, store.DefaultLimit)
		})
		b.Run("word=two", func(b *testing.B) {
			firstPage(b, d, store.Filter{Text: []string{seed.RareWord, "invoice"}}, 0)
		})
		b.Run("word=rare+filter", func(b *testing.B) {
			f := d.combined()
			f.From = time.Time{}
			f.Text = []string{seed.RareWord}
			firstPage(b, d, f, 0)
		})
		// Two letters, in no word: the shortest run the index answers.
		b.Run("word=short-absent", func(b *testing.B) {
			firstPage(b, d, store.Filter{Text: []string{"qz"}}, 0)
		})
	})
}

// BenchmarkExport walks every interaction with its contacts. heap-MB is the
// heap's growth over the whole run (HeapAlloc after, without a GC, minus
// HeapAlloc before, after one); peak-heap-MB the largest growth seen,
// sampled every 50k rows. Flat memory shows as a few MB at any size.
func BenchmarkExport(b *testing.B) {
	forEachSize(b, func(b *testing.B, d *benchDB) {
		b.ReportAllocs()
		var before, now runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		peak, rows := before.HeapAlloc, 0
		for b.Loop() {
			err := d.s.ExportInteractions(store.Filter{}, func(ia *store.Interaction, cs []*store.ExportContact) error {
				rows++
				if rows%50_000 == 0 {
					runtime.ReadMemStats(&now)
					peak = max(peak, now.HeapAlloc)
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		runtime.ReadMemStats(&now)
		b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(int64(now.HeapAlloc)-int64(before.HeapAlloc))/(1<<20), "heap-MB")
		b.ReportMetric(float64(max(peak, now.HeapAlloc)-before.HeapAlloc)/(1<<20), "peak-heap-MB")
	})
}

// BenchmarkCountInteractions: CountInteractions walks the whole bucket
// (bbolt's Stats), so it grows with the database.
func BenchmarkCountInteractions(b *testing.B) {
	forEachSize(b, func(b *testing.B, d *benchDB) {
		for b.Loop() {
			if _, err := d.s.CountInteractions(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOpen opens a copy of the seeded database: read-write (what the
// daemon does: with NoFreelistSync bbolt rebuilds the free list by walking
// every page) and read-only.
func BenchmarkOpen(b *testing.B) {
	forEachSize(b, func(b *testing.B, d *benchDB) {
		cp := filepath.Join(b.TempDir(), "copy.db")
		if err := copyFile(d.path, cp); err != nil {
			b.Fatal(err)
		}
		for _, mode := range []struct {
			name string
			opts store.Options
		}{{"rw", store.Options{}}, {"ro", store.Options{ReadOnly: true}}} {
			b.Run("mode="+mode.name, func(b *testing.B) {
				for b.Loop() {
					s, err := store.Open(cp, mode.opts)
					if err != nil {
						b.Fatal(err)
					}
					s.Close()
				}
			})
		}
	})
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeStore returns a fresh store holding a small seeded base (contacts and
// users to refer to, a few thousand interactions), reopened with opts.
func writeStore(b *testing.B, opts store.Options, contacts, interactions int) (*store.Store, *seed.Result) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "w.db")
	s, err := store.Open(path, store.Options{NoSync: true, PasswordCost: bcrypt.MinCost})
	if err != nil {
		b.Fatal(err)
	}
	res, err := seed.Generate(context.Background(), s, seed.Options{Contacts: contacts, Interactions: interactions, Users: 20, Seed: 2, End: benchEnd}, nil)
	s.Close()
	if err != nil {
		b.Fatal(err)
	}
	opts.PasswordCost = bcrypt.MinCost
	if s, err = store.Open(path, opts); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, res
}

var (
	benchTypes   = []string{"Email", "Email", "Call", "Call", "Meeting", "Visit", "Appointment", "Other"}
	benchActions = []string{"Tefillin", "Neshek", "Discussion"}
	benchWords   = strings.Fields("called about the fundraiser and the holiday schedule she asked us to send details of the youth program " +
		"before Friday he will follow up next week with the family regarding tuition assistance and the new office lease")
)

// benchInteraction is a typical manual entry: a title of about 45
// characters, details of about 200, one or two actions, one owner.
func benchInteraction(r *rand.Rand, res *seed.Result, at time.Time) *store.Interaction {
	text := func(n int) string {
		var sb strings.Builder
		for sb.Len() < n {
			if sb.Len() > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(benchWords[r.IntN(len(benchWords))])
		}
		return sb.String()
	}
	ia := &store.Interaction{
		ContactIDs:      []store.ID{res.Contacts[r.IntN(len(res.Contacts))]},
		Type:            benchTypes[r.IntN(len(benchTypes))],
		Actions:         []string{benchActions[r.IntN(len(benchActions))]},
		Title:           text(45),
		Details:         text(200),
		OccurredAt:      at,
		DurationMinutes: 15,
		OwnerIDs:        []store.ID{res.Users[r.IntN(len(res.Users))]},
	}
	if r.IntN(3) == 0 {
		ia.Actions = append(ia.Actions, "Discussion")
	}
	return ia
}

func reportRate(b *testing.B, n float64, unit string) {
	b.ReportMetric(n/b.Elapsed().Seconds(), unit)
}

// BenchmarkCreateInteraction is one interaction per write, fsynced: one
// writer pays a commit each; many writers share commits (group commit).
func BenchmarkCreateInteraction(b *testing.B) {
	for _, writers := range []int{1, 16 * runtime.GOMAXPROCS(0)} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, res := writeStore(b, store.Options{}, 1000, 10_000)
			createEach(b, s, res, writers)
		})
	}
}

// BenchmarkCreateInteractionSeeded is BenchmarkCreateInteraction on a
// durable copy of the seeded 100k and 1M databases: the insert rate once
// the indexes are deep.
func BenchmarkCreateInteractionSeeded(b *testing.B) {
	for _, sz := range benchSizes {
		b.Run("size="+sz.name, func(b *testing.B) {
			skipLarge(b, sz)
			path, meta := seeded(b, sz)
			cp := filepath.Join(b.TempDir(), "w.db")
			if err := copyBenchFile(path, cp); err != nil {
				b.Fatal(err)
			}
			s, err := store.Open(cp, store.Options{PasswordCost: bcrypt.MinCost})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			for _, writers := range []int{1, 16 * runtime.GOMAXPROCS(0)} {
				b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) { createEach(b, s, &meta.Result, writers) })
			}
		})
	}
}

// createEach creates b.N interactions, one per write, from writers
// goroutines, and reports the rate.
func createEach(b *testing.B, s *store.Store, res *seed.Result, writers int) {
	var seq atomic.Uint64
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(2, seq.Add(1)))
			for next.Add(1) <= int64(b.N) {
				if err := s.CreateInteraction(context.Background(), benchInteraction(r, res, time.Now())); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	reportRate(b, float64(b.N), "ops/s")
}

func copyBenchFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}

// BenchmarkCreateInteractionsBulk stores batches of 5000 in one transaction
// each, without fsync, into a database that grows as the benchmark runs:
// in time order (live logging, seeding) and in random order (importing a
// history).
func BenchmarkCreateInteractionsBulk(b *testing.B) {
	const batch = 5000
	for _, order := range []string{"time", "random"} {
		b.Run("order="+order, func(b *testing.B) {
			s, res := writeStore(b, store.Options{NoSync: true}, 5000, 0)
			r := rand.New(rand.NewPCG(3, 3))
			start := benchEnd.AddDate(-3, 0, 0)
			span := int64(benchEnd.Sub(start))
			at := start
			items := make([]*store.Interaction, batch)
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				for i := range items {
					if order == "time" {
						at = at.Add(time.Duration(r.Int64N(int64(time.Minute))))
						items[i] = benchInteraction(r, res, at)
					} else {
						items[i] = benchInteraction(r, res, start.Add(time.Duration(r.Int64N(span))))
					}
				}
				b.StartTimer()
				if err := s.CreateInteractions(context.Background(), items); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, float64(b.N*batch), "interactions/s")
		})
	}
}
