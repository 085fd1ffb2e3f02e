package pwlog_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/internal/crashkit"
	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/internal/model"
	"github.com/pwlog/pwlog/internal/tutorial"
)

// TestRunsMatchModel adds random files over several runs; every run must
// emit exactly the difference between the from-scratch result before and
// after its files.
func TestRunsMatchModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
		output := filepath.Join(dir, "out.csv")
		os.Mkdir(input, 0o755)
		appendMode := rapid.Bool().Draw(rt, "append")
		batch := rapid.SampledFrom([]int{1, 7, 50, 1 << 16}).Draw(rt, "batchRows")
		// 1 byte: a background compaction after nearly every commit.
		compactBytes := rapid.SampledFrom([]int64{-1, 1, 0}).Draw(rt, "compactBytes")
		tiny := rapid.Bool().Draw(rt, "tiny")
		var before []string
		var changelog []string
		files := 0
		runs := rapid.IntRange(1, 5).Draw(rt, "runs")
		for run := 0; run < runs; run++ {
			n := rapid.IntRange(0, 3).Draw(rt, "files")
			if n > 0 {
				spec := gen.Spec{
					Seed:      rapid.Uint64().Draw(rt, "seed"),
					Rows:      rapid.IntRange(0, 60).Draw(rt, "rows"),
					Users:     rapid.IntRange(1, 4).Draw(rt, "users"),
					Files:     n,
					Window:    int64(rapid.IntRange(1, 900).Draw(rt, "window")),
					FirstFile: files,
				}
				// Files may overlap in time, so new rows land inside,
				// between and across old sessions.
				spec.Start = 1701100000 - int64(files)*spec.Window + int64(rapid.IntRange(0, 600).Draw(rt, "shift"))
				if _, err := gen.Write(input, spec); err != nil {
					rt.Fatal(err)
				}
				files += n
			}
			p := pwlog.New()
			tutorial.Sessions(p, input, 300).WriteCSV("output", output, pwlog.SinkOptions{Append: appendMode})
			cfg := quietConfig(storage)
			cfg.BatchRows = batch
			cfg.CompactBytes = compactBytes
			tinyState(&cfg, tiny)
			if err := p.Run(context.Background(), cfg); err != nil {
				rt.Fatalf("run %d: %v", run, err)
			}
			acc, err := model.Accesses(input)
			if err != nil {
				rt.Fatal(err)
			}
			after := model.Strings(model.Sessions(acc, 300))
			want := model.Diff(before, after)
			lines := readSink(t, output)
			if appendMode {
				changelog = append(changelog, want...)
				slices.Sort(changelog)
				want = changelog
			}
			// Within a run, a batch may insert a session a later batch
			// retracts: compare consolidated per run (fresh mode) or the
			// consolidated changelog (append mode).
			if got := consolidatedSigned(lines); !slices.Equal(got, consolidatedSigned(signedLines(want))) {
				rt.Fatalf("run %d emitted %v, want %v", run, got, want)
			}
			// One batch per run: the run emits exactly the difference.
			if batch == 1<<16 && !appendMode {
				if got := signed(lines); !slices.Equal(got, want) {
					rt.Fatalf("run %d emitted %v, want exactly %v", run, got, want)
				}
			}
			before = after
		}
	})
}

// TestRestartRebuildsArrangements checks that the state rebuilt from the
// log after several runs equals the state of one uninterrupted run over
// the same files.
func TestRestartRebuildsArrangements(t *testing.T) {
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	os.Mkdir(input, 0o755)
	for i := 0; i < 3; i++ {
		if _, err := gen.Write(input, gen.Spec{Seed: uint64(i), Rows: 3000, Users: 50, Files: 2, FirstFile: 2 * i, Window: 3000}); err != nil {
			t.Fatal(err)
		}
		if err := runSessions(t, input, filepath.Join(dir, "out.csv"), storage, false); err != nil {
			t.Fatal(err)
		}
	}
	// A run with nothing new only replays.
	restarted := pwlog.New()
	tutorial.Sessions(restarted, input, 300).WriteCSV("output", filepath.Join(dir, "out.csv"))
	if err := restarted.Run(context.Background(), quietConfig(storage)); err != nil {
		t.Fatal(err)
	}
	if got := readSink(t, filepath.Join(dir, "out.csv")); len(got) != 0 {
		t.Fatalf("a run with no new input emitted %d rows", len(got))
	}
	once := pwlog.New()
	tutorial.Sessions(once, input, 300).WriteCSV("output", filepath.Join(dir, "once.csv"))
	if err := once.Run(context.Background(), quietConfig("")); err != nil {
		t.Fatal(err)
	}
	// The restarted execution read its state in place and folded nothing
	// new: the checkpoint it leaves is the state, and equals what an
	// uninterrupted execution holds in memory.
	state := crashkit.CheckpointState(t, storage)
	compared := 0
	ops, onceArrs := pwlog.Arrangements(once)
	for i, name := range ops {
		for _, want := range onceArrs[i] {
			if want.Len() == 0 {
				t.Fatalf("%s/%s is empty", name, want.Name())
			}
			got := state[compaction.ArrKey{Operator: name, Arrangement: want.Name()}]
			if !crashkit.EqualDeltas(got, want.Snapshot()) {
				t.Fatalf("%s/%s: the restarted state differs from an uninterrupted run's (%d vs %d entries)",
					name, want.Name(), got.Len(), want.Len())
			}
			compared++
		}
	}
	if compared != 2 {
		t.Fatalf("compared %d arrangements, want 2", compared)
	}
}
