package main

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC: serve collects at GC percent 400 under a soft memory limit,
// unless GOGC or GOMEMLIMIT are set (the runtime has applied them).
func TestTuneGC(t *testing.T) {
	percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
	const unlimited = 1<<63 - 1

	debug.SetMemoryLimit(unlimited)
	tuneGC(map[string]string{})
	if got := debug.SetGCPercent(100); got != 400 {
		t.Errorf("GC percent %d, want 400", got)
	}
	if got := debug.SetMemoryLimit(unlimited); got != defaultMemoryLimit {
		t.Errorf("memory limit %d, want %d", got, defaultMemoryLimit)
	}

	tuneGCWith(map[string]string{}, seedMemoryLimit) // seed's
	if got := debug.SetGCPercent(100); got != 400 {
		t.Errorf("seed: GC percent %d, want 400", got)
	}
	if got := debug.SetMemoryLimit(unlimited); got != seedMemoryLimit {
		t.Errorf("seed's memory limit %d, want %d", got, seedMemoryLimit)
	}

	tuneGC(map[string]string{"GOGC": "200", "GOMEMLIMIT": "1GiB"})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set: GC percent changed to %d", got)
	}
	if got := debug.SetMemoryLimit(-1); got != unlimited {
		t.Errorf("GOMEMLIMIT set: memory limit changed to %d", got)
	}
}
