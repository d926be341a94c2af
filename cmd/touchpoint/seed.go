package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"touchpoint/seed"
	"touchpoint/store"
)

// seedCmd fills an empty database with synthetic data for demos and
// benchmarks. It writes without fsync per commit (one fsync at the end):
// a crash while seeding leaves a file to delete, never data anyone relied on.
func (c *cli) seedCmd(ctx context.Context, args []string) error {
	fs, path := c.flags("seed")
	contacts := fs.Int("contacts", 0, "contacts to create, organisations included (required)")
	interactions := fs.Int("interactions", 0, "interactions to create")
	users := fs.Int("users", 20, "staff users to create (password "+seed.Password+")")
	seedValue := fs.Uint64("seed", 1, "random seed: the same seed gives the same data")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *contacts <= 0 || *interactions < 0 || *users <= 0 || fs.NArg() > 0 {
		return usageError{"seed needs --contacts N (N > 0), optionally --interactions M, --users U, --seed S"}
	}
	cfg, err := c.loadConfig(*path)
	if err != nil {
		return err
	}
	tuneGCWith(c.env, seedMemoryLimit)
	s, err := store.Open(cfg.DBPath(), store.Options{NoSync: true})
	if err != nil {
		return stopFirst(err)
	}
	defer s.Close()
	if n, err := s.CountContacts(); err != nil {
		return err
	} else if n > 0 {
		return fmt.Errorf("seed fills an empty database; %s already holds %d contacts", cfg.DBPath(), n)
	}

	opts := seed.Options{Contacts: *contacts, Interactions: *interactions, Users: *users, Seed: *seedValue,
		LoadBudget: seedLoadBudget}
	p := &seedProgress{w: c, start: time.Now(), before: *users + *contacts}
	res, err := seed.Generate(ctx, s, opts, p.report)
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	elapsed := time.Since(p.start)
	if err := s.Close(); err != nil {
		return fmt.Errorf("close database: %w", err)
	}
	size, err := syncFile(cfg.DBPath())
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stderr)

	sum := seed.Summary{
		Path: cfg.DBPath(), Users: len(res.Users), Contacts: len(res.Contacts), Interactions: res.Interactions,
		UserIDs: res.Users, BusiestContactID: res.Busiest,
		ElapsedSeconds: elapsed.Seconds(), FileBytes: size,
	}
	if !p.bulkStart.IsZero() {
		sum.InteractionsSeconds = p.end.Sub(p.bulkStart).Seconds()
	}
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	fmt.Fprintf(c.stdout, "seeded %s: %d users, %d contacts, %d interactions; busiest contact %d\n",
		sum.Path, sum.Users, sum.Contacts, sum.Interactions, sum.BusiestContactID)
	fmt.Fprintf(c.stdout, "elapsed %.1fs; interactions %.1fs", sum.ElapsedSeconds, sum.InteractionsSeconds)
	if sum.InteractionsSeconds > 0 {
		fmt.Fprintf(c.stdout, " (%.0f/s)", float64(sum.Interactions)/sum.InteractionsSeconds)
	}
	fmt.Fprintf(c.stdout, "\nfile %d bytes (%.1f MiB)\n", sum.FileBytes, float64(sum.FileBytes)/(1<<20))
	return nil
}

// seedProgress prints seed.Generate's progress to stderr about once a
// second, and notes when the interactions (the bulk path) start and end.
type seedProgress struct {
	w              *cli
	start, last    time.Time
	before         int // users and contacts: the records before interactions
	bulkStart, end time.Time
}

func (p *seedProgress) report(done, total int) {
	now := time.Now()
	if p.bulkStart.IsZero() && done >= p.before {
		p.bulkStart = now
	}
	p.end = now
	if now.Sub(p.last) < time.Second && done != total {
		return
	}
	p.last = now
	fmt.Fprintf(p.w.stderr, "\rseed: %d/%d records (%.0f%%), %s", done, total,
		100*float64(done)/float64(max(total, 1)), now.Sub(p.start).Round(100*time.Millisecond))
}

// seedLoadBudget is the memory seed's index positions may take before
// they are written: a million interactions' (about 130 MB) fit, so each
// list is written once, on full pages.
const seedLoadBudget = 256 << 20

// syncFile flushes path to disk and returns its size.
func syncFile(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("sync %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), f.Close()
}
