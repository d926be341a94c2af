package main

import (
	"context"
	"errors"
	"fmt"

	"touchpoint/store"
)

// restore and compact replace the database file, so they run only while
// the daemon is stopped: they take the file's lock themselves and refuse
// when a daemon holds it.

// stopFirst explains ErrLocked for an operator.
func stopFirst(err error) error {
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w\nstop the daemon first (e.g. systemctl stop touchpoint), then run this again", err)
	}
	return err
}

func (c *cli) restore(_ context.Context, args []string) error {
	fs, path := c.flags("restore")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"restore needs one BACKUP file"}
	}
	cfg, err := c.loadConfig(*path)
	if err != nil {
		return err
	}
	backup := fs.Arg(0)
	aside, err := store.Restore(cfg.DBPath(), backup)
	if err != nil {
		return stopFirst(err)
	}
	fmt.Fprintf(c.stdout, "restored %s into %s (verified: pages and every index)\n", backup, cfg.DBPath())
	if aside != "" {
		fmt.Fprintf(c.stdout, "the previous database is kept as %s; delete it once you are satisfied\n", aside)
	}
	return nil
}

func (c *cli) compact(_ context.Context, args []string) error {
	fs, path := c.flags("compact")
	keepOld := fs.Bool("keep-old", false, "keep the original file beside the compacted one")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*path)
	if err != nil {
		return err
	}
	res, err := store.Compact(cfg.DBPath(), *keepOld)
	if err != nil {
		return stopFirst(err)
	}
	saved := 0.0
	if res.Before > 0 {
		saved = 100 * float64(res.Before-res.After) / float64(res.Before)
	}
	fmt.Fprintf(c.stdout, "compacted %s: %d bytes before, %d after (%.0f%% smaller; verified: pages, every index, every bucket's keys)\n",
		cfg.DBPath(), res.Before, res.After, saved)
	if res.Aside != "" {
		fmt.Fprintf(c.stdout, "the original is kept as %s\n", res.Aside)
	}
	return nil
}

// reindex rebuilds the interaction indexes from the records: the repair
// check points to when it finds a damaged index block.
func (c *cli) reindex(_ context.Context, args []string) error {
	fs, path := c.flags("reindex")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*path)
	if err != nil {
		return err
	}
	s, err := store.Open(cfg.DBPath(), store.Options{})
	if err != nil {
		return stopFirst(err)
	}
	defer s.Close()
	if err := s.RebuildIndexes(); err != nil {
		return err
	}
	if err := s.Check(); err != nil {
		return fmt.Errorf("rebuilt the indexes, but the database still does not verify:\n%w", err)
	}
	fmt.Fprintf(c.stdout, "rebuilt the interaction indexes of %s (verified: pages and every index)\n", cfg.DBPath())
	return nil
}
