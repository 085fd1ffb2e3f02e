// The crash kit of crash_test.go, fault_test.go and damage_test.go: the
// scenario of a crash (crashSetup) and the checks every recovery must
// pass (checkRecovers, checkChangelog). Counting a run's mutating
// filesystem operations, crashing it at the k-th one and building crash
// images are internal/crashkit's, shared with package fuzz.

package pwlog_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/crashkit"
	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/internal/model"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/tool"
	"github.com/pwlog/pwlog/vfs"
)

// crashSetup is one crash scenario's fixed part.
type crashSetup struct {
	input        string // the CSV directory
	batch        int    // pwlog.Config.BatchRows
	compactBytes int64  // pwlog.Config.CompactBytes
	interval     bool   // a positive SnapshotInterval
	// tiny runs with checkpoint blocks of a few entries and a memory
	// bound of a byte: every group leaves memory once checkpointed and
	// every commit starts a compaction, so state is read from runs all
	// the time.
	tiny bool
}

// run runs the sessions pipeline in append mode with storage and sink
// under root, through fsys.
func (c crashSetup) run(root string, fsys vfs.FS) error {
	p := pwlog.New()
	tutorial.Sessions(p, c.input, 300).WriteCSV("output", filepath.Join(root, "out.csv"), pwlog.SinkOptions{Append: true})
	cfg := quietConfig(filepath.Join(root, "storage"))
	cfg.FS = fsys
	cfg.BatchRows = c.batch
	cfg.CompactBytes = c.compactBytes
	if c.interval {
		cfg.SnapshotInterval = 200_000 // 0.2 ms: syncs lag writes
	}
	tinyState(&cfg, c.tiny)
	return p.Run(context.Background(), cfg)
}

// checkRecovers runs the pipeline to completion on the crash image img
// and checks the invariants: the run succeeds; the changelog the crashed
// run left (all but its last, possibly torn, time) is kept as it was; the
// times are in order, each time one block, so no time is emitted twice;
// and the changelog consolidates to the from-scratch result of the input.
func (c crashSetup) checkRecovers(t testing.TB, img, what string) {
	t.Helper()
	out := filepath.Join(img, "out.csv")
	before, _ := os.ReadFile(out)
	kept := crashkit.CompleteTimes(before)
	checkImage(t, img, c, what)
	if err := c.run(img, vfs.Default); err != nil {
		t.Fatalf("%s: the run after the crash failed: %v", what, err)
	}
	after, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	crashkit.CheckKept(t, what, kept, after)
	checkChangelog(t, what, out, c.input)
}

// checkChangelog checks that the append-mode changelog at out has its
// times in order and consolidates to the from-scratch result over input.
func checkChangelog(t testing.TB, what, out, input string) {
	t.Helper()
	lines := readSink(t, out)
	for i := 1; i < len(lines); i++ {
		if lines[i].time < lines[i-1].time {
			t.Fatalf("%s: time %d after time %d: a time emitted twice or out of order", what, lines[i].time, lines[i-1].time)
		}
	}
	acc, err := model.Accesses(input)
	if err != nil {
		t.Fatal(err)
	}
	want := consolidatedSigned(signedLines(model.Diff(nil, model.Strings(model.Sessions(acc, 300)))))
	if got := consolidatedSigned(lines); !slices.Equal(got, want) {
		t.Fatalf("%s: the changelog consolidates to\n%v\nwant\n%v", what, got, want)
	}
}

// twoRuns writes two inputs of the tutorial's shape, in1 with two files
// (seed, rows rows) and in2 with the same two and two more (seed+1), and
// finishes a first run into the root done over in2 when it held in1's
// files only (the storage remembers the source's directory): the base of
// the second-run tests, whose runs read in2.
func twoRuns(t testing.TB, seed uint64, rows int) (in1, in2, done string) {
	t.Helper()
	tmp := t.TempDir()
	in1, in2, done = filepath.Join(tmp, "in1"), filepath.Join(tmp, "in2"), filepath.Join(tmp, "done")
	writeInput(t, in1, seed, 2, 0, rows)
	writeInput(t, in2, seed, 2, 0, rows)
	if err := (crashSetup{input: in2, batch: 8, compactBytes: -1}).run(done, vfs.Default); err != nil {
		t.Fatal(err)
	}
	writeInput(t, in2, seed+1, 2, 2, rows)
	return in1, in2, done
}

// writeInput writes a small seeded data set of the tutorial's shape.
func writeInput(t testing.TB, dir string, seed uint64, files, firstFile, rows int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := gen.Spec{Seed: seed, Rows: rows, Users: 3, Files: files, Window: 400,
		FirstFile: firstFile, Start: 1701100000 + int64(firstFile)*400}
	if _, err := gen.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
}

// checkImage checks a crash image before anything repairs it: what a
// crash leaves is not damage, so verify finds none (a crash before the
// marker leaves no storage), and the four readers of the log agree on
// what it committed.
func checkImage(t testing.TB, img string, c crashSetup, what string) {
	t.Helper()
	rep, err := tool.Verify(context.Background(), filepath.Join(img, "storage"), nil)
	switch {
	case err != nil && !errors.Is(err, pwlog.ErrFormat) && !errors.Is(err, fs.ErrNotExist):
		t.Fatalf("%s: verify could not run on the crash image: %v", what, err)
	case err == nil && !rep.Sound():
		t.Fatalf("%s: verify reports damage on a crash image: %v", what, rep.Problems)
	}
	if r, ok := readAll(t, img, c); ok {
		r.checkAgree(t, what)
	}
}
