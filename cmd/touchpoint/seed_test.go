package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"touchpoint/seed"
	"touchpoint/store"
)

func TestSeedCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := []string{"TOUCHPOINT_DATA_DIR=" + dir}
	ctx := context.Background()
	args := []string{"seed", "--contacts", "60", "--interactions", "700", "--users", "2", "--seed", "7"}

	code, stdout, stderr := runCLI(ctx, env, append(args, "--json")...)
	if code != exitOK {
		t.Fatalf("seed = exit %d\n%s%s", code, stdout, stderr)
	}
	var sum seed.Summary
	if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
		t.Fatalf("seed --json printed %q: %v", stdout, err)
	}
	if sum.Users != 2 || len(sum.UserIDs) != 2 || sum.Contacts != 60 || sum.Interactions != 700 ||
		sum.BusiestContactID == 0 || sum.FileBytes == 0 || sum.Path != filepath.Join(dir, "touchpoint.db") {
		t.Errorf("summary = %+v", sum)
	}
	if !strings.Contains(stderr, "seed: ") || !strings.Contains(stderr, "(100%)") {
		t.Errorf("no progress on stderr: %q", stderr)
	}

	// A second seed refuses: the database is no longer empty.
	if code, _, stderr := runCLI(ctx, env, args...); code != exitError || !strings.Contains(stderr, "empty database") {
		t.Errorf("seed of a seeded database: exit %d, %q", code, stderr)
	}

	st, err := store.Open(sum.Path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := st.CountInteractions()
	if err != nil || n != 700 {
		t.Errorf("CountInteractions = %d, %v; want 700", n, err)
	}
	items, _, err := st.Timeline(sum.BusiestContactID, 5, "")
	if err != nil || len(items) == 0 {
		t.Errorf("Timeline(busiest) = %d items, %v", len(items), err)
	}
	// While another process (the daemon) holds the file, seed refuses.
	code, _, stderr = runCLI(ctx, []string{"TOUCHPOINT_DATA_DIR=" + dir}, args...)
	st.Close()
	if code != exitError || !strings.Contains(stderr, "stop the daemon first") {
		t.Errorf("seed while the database is held: exit %d, %q", code, stderr)
	}

	// The human summary.
	other := []string{"TOUCHPOINT_DATA_DIR=" + t.TempDir()}
	code, stdout, stderr = runCLI(ctx, other, "seed", "--contacts", "10", "--users", "1")
	if code != exitOK || !strings.Contains(stdout, "1 users, 10 contacts, 0 interactions") || !strings.Contains(stdout, "bytes") {
		t.Errorf("seed without interactions: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, _ := runCLI(ctx, other, "seed", "--interactions", "5"); code != exitUsage {
		t.Errorf("seed without --contacts: exit %d, want %d", code, exitUsage)
	}
}
