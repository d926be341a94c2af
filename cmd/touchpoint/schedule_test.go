package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"touchpoint/config"
	"touchpoint/store"
)

func testStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(filepath.Join(t.TempDir(), "t.db"), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRotateBackupKeepsNewest(t *testing.T) {
	t.Parallel()
	s := testStore(t)
	dir := filepath.Join(t.TempDir(), "backups")
	base := time.Date(2026, 5, 1, 3, 0, 0, 0, time.UTC)
	var paths []string
	for i := range 5 {
		p, err := rotateBackup(s, dir, 3, base.Add(time.Duration(i)*time.Hour))
		if err != nil {
			t.Fatalf("rotateBackup %d: %v", i, err)
		}
		paths = append(paths, p)
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600)
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 { // 3 backups + the unrelated file
		t.Fatalf("%d files in the backup directory, want 4", len(entries))
	}
	for i, p := range paths {
		_, err := os.Stat(p)
		if kept := i >= 2; kept != (err == nil) {
			t.Errorf("backup %d kept = %v, want %v", i, err == nil, kept)
		}
	}
	b, err := store.Open(paths[4], store.Options{NoSync: true})
	if err != nil {
		t.Fatalf("open newest backup: %v", err)
	}
	defer b.Close()
	if err := b.Check(); err != nil {
		t.Errorf("backup Check: %v", err)
	}
}

func TestSchedulerRunsBackups(t *testing.T) {
	t.Parallel()
	s := testStore(t)
	cfg := config.Defaults()
	cfg.Backup.Schedule = "@every 1s"
	cfg.Backup.Dir = t.TempDir()
	cfg.Backup.Keep = 2
	stop, err := startScheduler(cfg, s, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if entries, _ := os.ReadDir(cfg.Backup.Dir); len(entries) > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no scheduled backup written within 10s")
}

func TestSchedulerRejectsBadSpec(t *testing.T) {
	t.Parallel()
	cfg := config.Defaults()
	cfg.Backup.Schedule = "every tuesday"
	if _, err := startScheduler(cfg, testStore(t), slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("bad schedule accepted")
	}
}
