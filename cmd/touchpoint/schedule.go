package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"touchpoint/config"
	"touchpoint/store"
)

// startScheduler starts the cron scheduler with the jobs the configuration
// asks for (now: online backups). stop waits for a running job to finish.
func startScheduler(cfg *config.Config, st *store.Store, log *slog.Logger) (stop func(), err error) {
	c := cron.New(cron.WithChain(cron.Recover(cronLogger{log})), cron.WithLogger(cronLogger{log}))
	if cfg.Backup.Schedule != "" {
		dir, keep := cfg.Backup.Dir, cfg.Backup.Keep
		_, err := c.AddFunc(cfg.Backup.Schedule, func() {
			path, err := rotateBackup(st, dir, keep, time.Now())
			if err != nil {
				log.Error("scheduled backup failed", "err", err)
				return
			}
			log.Info("scheduled backup written", "path", path)
		})
		if err != nil {
			return nil, fmt.Errorf("backup.schedule %q: %w", cfg.Backup.Schedule, err)
		}
		log.Info("scheduled backups", "schedule", cfg.Backup.Schedule, "dir", dir, "keep", keep)
	}
	c.Start()
	return func() { <-c.Stop().Done() }, nil
}

const backupPrefix = "touchpoint-"

// rotateBackup writes a timestamped backup into dir and deletes the oldest
// beyond keep.
func rotateBackup(st *store.Store, dir string, keep int, now time.Time) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("create backup directory: %w", err)
	}
	path := filepath.Join(dir, backupPrefix+now.UTC().Format("20060102T150405.000000000Z")+".db")
	if _, err := st.BackupFile(path); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return path, fmt.Errorf("list backups: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); e.Type().IsRegular() && strings.HasPrefix(n, backupPrefix) && strings.HasSuffix(n, ".db") {
			names = append(names, n)
		}
	}
	slices.Sort(names) // the timestamp sorts by age
	for len(names) > keep {
		if err := os.Remove(filepath.Join(dir, names[0])); err != nil {
			return path, fmt.Errorf("remove old backup: %w", err)
		}
		names = names[1:]
	}
	return path, nil
}

// cronLogger sends robfig/cron's logs to slog.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "err", err)...)
}
