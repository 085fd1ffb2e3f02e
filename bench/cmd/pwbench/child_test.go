package main

import (
	"path/filepath"
	"runtime"
	"testing"

	"github.com/pwlog/pwlog/bench/measure"
	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/tool"
)

// The child job "run" reports the attributes of the engine's log lines
// "Opened the checkpoint" and "Read the checkpoint in place", and job
// "verify" checks its changelog against the floor's sessions.
func TestChildReportsTheEnginesLines(t *testing.T) {
	input, storage := t.TempDir(), filepath.Join(t.TempDir(), "storage")
	changelog := filepath.Join(t.TempDir(), "out.csv")
	if _, err := gen.Write(input, gen.Spec{Seed: 1, Rows: 100_000, Users: 1000, Files: 10}); err != nil {
		t.Fatal(err)
	}
	// A first run: nothing to open, nothing read from a checkpoint.
	first := spawn("run", input, storage, "0s", "0", changelog)
	if first.Opened != nil {
		t.Errorf("first run: opened %+v", *first.Opened)
	}
	if first.InPlace == nil || first.InPlace.BlockHits != 0 || first.InPlace.BlockMisses != 0 || first.InPlace.BytesRead != 0 {
		t.Errorf("first run: read in place %+v, want a line of zeros", first.InPlace)
	}
	if first.Seconds <= 0 || first.PeakRSS <= 0 {
		t.Errorf("first run: %+v", first)
	}
	// On Linux the peak is the child's own high-water mark, not its
	// rusage, which starts at this test process's resident set.
	if runtime.GOOS == "linux" && (first.HWM <= 0 || first.PeakRSS != first.HWM) {
		t.Errorf("first run: peak RSS %d, its own high-water mark %d", first.PeakRSS, first.HWM)
	}

	// A rerun with new rows for every user under a small memory bound:
	// it opens the checkpoint and reads groups from its runs.
	if _, err := gen.Write(input, gen.Spec{Seed: 2, Rows: 2000, Users: 1000, Files: 1, FirstFile: 10}); err != nil {
		t.Fatal(err)
	}
	info, err := tool.Inspect(t.Context(), storage, nil)
	if err != nil || info.Checkpoint == nil {
		t.Fatalf("inspect: %+v, %v", info, err)
	}
	var entries int64
	for _, a := range info.Checkpoint.Arrangements {
		entries += a.Entries
	}
	rerun := spawn("run", input, storage, "0s", "1048576", changelog)
	o, p := rerun.Opened, rerun.InPlace
	if o == nil || o.Manifest == 0 || o.LSN == 0 || o.Clock == 0 || o.Runs <= 0 || o.Entries != entries || o.Duration <= 0 {
		t.Errorf("rerun: opened %+v, want the checkpoint's %d entries", o, entries)
	}
	if p == nil || p.BlockMisses <= 0 || p.BlockHits < 0 || p.BytesRead <= 0 || p.hitRate() < 0 || p.hitRate() >= 1 {
		t.Errorf("rerun: read in place %+v", p)
	}

	// The changelog of both runs holds the floor's sessions; another
	// input's sessions differ.
	if v := spawn("verify", input, changelog).Check; v == nil || v.Differ() != 0 || v.Want == 0 || v.Lines <= v.Want {
		t.Errorf("verify: %+v", v)
	}
	other := t.TempDir()
	if _, err := gen.Write(other, gen.Spec{Seed: 3, Rows: 1000, Users: 10, Files: 1}); err != nil {
		t.Fatal(err)
	}
	if v := spawn("verify", other, changelog).Check; v == nil || v.Differ() == 0 || verdictText(v) == "equal" {
		t.Errorf("verify against other data: %+v", v)
	}
	if got := verdictText(&measure.ChangelogCheck{Missing: 2, Extra: 1}); got != "DIFFERENT (3 rows: 2 missing, 1 extra)" {
		t.Errorf("verdict %q", got)
	}
}

// hitRates and readShares tell runs without a line from runs with one.
func TestCacheFigures(t *testing.T) {
	ls := []*inPlaceLine{{BlockHits: 3, BlockMisses: 1, BytesRead: 50}, nil, {BlockHits: 1, BlockMisses: 1, BytesRead: 10}}
	if f, n := hitRates(ls); f != "75.0% [50.0–75.0]" || n != "median run: 3 hits, 1 misses; 1 of 3 runs logged none" {
		t.Errorf("hitRates: %q, %q", f, n)
	}
	if f, _ := hitRates([]*inPlaceLine{nil, {}}); f != "n/a" {
		t.Errorf("hitRates of nothing: %q", f)
	}
	if f, n := readShares(ls, []int64{100, 100, 100}); f != "0.500x [0.100–0.500]" || n != "0.0 MiB read of 0.0 MiB (medians)" {
		t.Errorf("readShares: %q, %q", f, n)
	}
}
