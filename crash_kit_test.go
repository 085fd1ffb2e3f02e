// The crash kit of crash_test.go, fault_test.go and damage_test.go: the
// scenario of a crash (crashSetup), counting a run's mutating filesystem
// operations, crashing it at the k-th one and building crash images
// (vfs.Recorder), and the checks every recovery must pass
// (checkRecovers, checkChangelog).

package pwlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/internal/model"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/tool"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/vfs/errorfs"
)

// The crash kit: a pipeline's storage and sink live under a root directory
// that a vfs.Recorder watches; a run is crashed at its k-th mutating
// filesystem operation (errorfs, sticky: every later operation fails as
// if the machine had stopped); the Recorder's crash image of the root is
// what the next process finds. Inputs live outside the root: they are the
// user's files, durable before any run.

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

// countOps runs act on a copy of base and returns how many mutating
// filesystem operations it made: the crash points.
func countOps(t testing.TB, base string, act func(root string, fsys vfs.FS) error) int64 {
	t.Helper()
	root := copyTree(t, base)
	cnt := errorfs.NewCounter(errorfs.Mutating)
	if err := act(root, errorfs.Wrap(vfs.Default, cnt)); err != nil {
		t.Fatalf("run without faults: %v", err)
	}
	return cnt.Count()
}

// crash runs act (a pipeline run, a compaction) on a copy of base,
// crashing it at the k-th mutating operation, and returns the crash
// image's root, the operation the crash hit (nil if act finished first)
// and what act returned.
func crash(t testing.TB, base string, k int64, seed uint64, act func(root string, fsys vfs.FS) error) (img string, hit *errorfs.Op, runErr error) {
	t.Helper()
	root := copyTree(t, base)
	rec, err := vfs.NewRecorder(root)
	if err != nil {
		t.Fatal(err)
	}
	at := errorfs.NewOnIndex(k, syscall.EIO, errorfs.Mutating)
	runErr = act(root, errorfs.Wrap(rec, errorfs.NewSticky(at)))
	img = filepath.Join(t.TempDir(), "img")
	if err := rec.CrashImage(rand.New(rand.NewPCG(seed, uint64(k))), img); err != nil {
		t.Fatal(err)
	}
	return img, at.Hit(), runErr
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
	kept := completeTimes(before)
	checkImage(t, img, c, what)
	if err := c.run(img, vfs.Default); err != nil {
		t.Fatalf("%s: the run after the crash failed: %v", what, err)
	}
	after, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	checkKept(t, what, kept, after)
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

// completeTimes returns the prefix of a changelog that a crash cannot
// have torn: the lines up to the first that is incomplete or damaged (an
// unwritten sector reads as zeros), less the last time among them, header
// included.
func completeTimes(b []byte) []byte {
	var lines [][]byte
	var times []uint64
	for i, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(l) == 0 || l[len(l)-1] != '\n' || bytes.IndexByte(l, 0) >= 0 {
			break
		}
		var t uint64 // the header's
		if i > 0 {
			sl, ok := parseSinkLine(string(l[:len(l)-1]))
			if !ok {
				break
			}
			t = sl.time
		}
		times = append(times, t)
		lines = append(lines, l)
	}
	if len(lines) < 2 {
		return nil
	}
	n := len(lines)
	last := times[n-1]
	for n > 1 && times[n-1] == last {
		n--
	}
	return bytes.Join(lines[:n], nil)
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

// copyTree copies the directory tree at src (which may be missing: an
// empty tree) into a new temporary directory and returns it.
func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "root")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if src == "" {
		return dst
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// crashPoints returns the crash points to try out of n: all of them, or
// with PWLOG_CRASH_STRIDE=s every s-th (and the last).
func crashPoints(n int64) []int64 {
	stride := int64(1)
	if s, err := strconv.ParseInt(os.Getenv("PWLOG_CRASH_STRIDE"), 10, 64); err == nil && s > 1 {
		stride = s
	}
	var ks []int64
	for k := int64(0); k < n; k += stride {
		ks = append(ks, k)
	}
	if ks[len(ks)-1] != n-1 {
		ks = append(ks, n-1)
	}
	return ks
}

// crashSeeds returns how many crash images to build per crash point:
// PWLOG_CRASH_SEEDS, default 2.
func crashSeeds() uint64 {
	if s, err := strconv.ParseUint(os.Getenv("PWLOG_CRASH_SEEDS"), 10, 64); err == nil && s > 0 {
		return s
	}
	return 2
}

func describeHit(hit *errorfs.Op) string {
	if hit == nil {
		return "no crash"
	}
	return fmt.Sprintf("crash at %s", hit)
}

// checkKept fails unless the changelog after a restart starts with kept,
// what the crashed execution had left in it, and shows where they part.
func checkKept(t testing.TB, what string, kept, after []byte) {
	t.Helper()
	if bytes.HasPrefix(after, kept) {
		return
	}
	i := 0
	for i < len(kept) && i < len(after) && kept[i] == after[i] {
		i++
	}
	from := bytes.LastIndexByte(kept[:i], '\n') + 1
	t.Fatalf("%s: the changelog lost what the crashed execution had written: at byte %d it left\n%q\nand the recovered changelog has\n%q",
		what, i, kept[from:min(len(kept), i+200)], after[from:min(len(after), i+200)])
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
