package pwlog_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/internal/crashkit"
	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/tool"
	"github.com/pwlog/pwlog/vfs"
)

// The storage of format 1 in testdata/format1 (see its README.md) was
// written by the previous release over the tutorial's three runs, the
// third killed after its commit: its sink is testdata/format1/sessions.csv,
// its source read a directory that no longer exists.
const format1Data = "testdata/format1"

// format1Copy copies the storage of format 1 and its sink into a new root
// (root/storage, root/sessions.csv) and returns the root.
func format1Copy(t testing.TB) string {
	t.Helper()
	return crashkit.CopyTree(t, format1Data)
}

// tutorialInput returns a new input directory holding the files of the
// tutorial's runs 1 to 3, which the storage of format 1 read.
func tutorialInput(t testing.TB) string {
	t.Helper()
	input := filepath.Join(t.TempDir(), "input")
	if err := os.Mkdir(input, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, run := range []string{"run1", "run2", "run3"} {
		copyFiles(t, filepath.Join("testdata", "tutorial", run), input)
	}
	return input
}

// runMoved runs the tutorial pipeline in append mode on the storage and
// sink under root, its source reading input (not the directory the
// storage recorded: FileOptions.Moved).
func runMoved(root, input string) error {
	p := pwlog.New()
	tutorial.Sessions(p, input, 300, pwlog.FileOptions{Moved: true}).
		WriteCSV("output", filepath.Join(root, "sessions.csv"), pwlog.SinkOptions{Append: true})
	return p.Run(context.Background(), quietConfig(filepath.Join(root, "storage")))
}

// marker returns what the storage's format marker says.
func marker(t testing.TB, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "PWLOG"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkFormat2 checks that the storage is of format 2 and sound: its
// marker says so, every run of its manifest opens in place and Verify
// finds no damage.
func checkFormat2(t testing.TB, dir, what string) {
	t.Helper()
	if m := marker(t, dir); m != "pwlog storage format 2\n" {
		t.Fatalf("%s: the marker holds %q", what, m)
	}
	b, err := backend.NewFilesystem(storage.CheckpointDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	m, err := compaction.Latest(context.Background(), b)
	if err != nil || m == nil {
		t.Fatalf("%s: manifest %v, %v", what, m, err)
	}
	for _, r := range m.Runs {
		data, err := os.ReadFile(filepath.Join(storage.CheckpointDir(dir), filepath.FromSlash(r.Name)))
		if err != nil {
			t.Fatal(err)
		}
		run, err := checkpoint.OpenRun(r.Name, strings.NewReader(string(data)), int64(len(data)), nil)
		if err != nil {
			t.Fatalf("%s: run %s: %v", what, r.Name, err)
		}
		run.Close()
	}
	rep, err := tool.Verify(context.Background(), dir, nil)
	if err != nil || !rep.Sound() {
		t.Fatalf("%s: verify: %+v, %v", what, rep, err)
	}
}

// A pipeline refuses a storage of format 1, saying how to upgrade it,
// and changes nothing but the lock file.
func TestFormat1Refused(t *testing.T) {
	root := format1Copy(t)
	dir := filepath.Join(root, "storage")
	before := treeBut(t, root, filepath.Join("storage", "LOCK"))
	err := runMoved(root, tutorialInput(t))
	var oe *storage.OldFormatError
	if !errors.Is(err, pwlog.ErrFormat) || !errors.As(err, &oe) || oe.Format != 1 {
		t.Fatalf("run on a storage of format 1: %v, want ErrFormat", err)
	}
	if want := `run "pwlog compact ` + dir + `" to upgrade it`; !strings.Contains(err.Error(), want) {
		t.Fatalf("the error %q does not say %q", err, want)
	}
	if treeBut(t, root, filepath.Join("storage", "LOCK")) != before {
		t.Fatal("a refused run changed the storage or its sink")
	}
}

// tool.Compact upgrades a storage of format 1: its runs open in place,
// its marker says 2, Verify finds it sound and what it commits is kept;
// a second Compact has nothing to upgrade.
func TestUpgradeFormat1(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(format1Copy(t), "storage")
	before, err := tool.Inspect(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if before.Format != 1 {
		t.Fatalf("inspect of the storage of format 1: format %d", before.Format)
	}
	state := crashkit.CheckpointState(t, dir)
	st, err := tool.Compact(ctx, dir, &tool.CompactOptions{Logger: quietConfig("").Logger})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Upgraded || st.FormatBefore != 1 || st.RunsUpgraded != 4 || !st.Compacted {
		t.Fatalf("compact: %+v", st)
	}
	if !reflect.DeepEqual(st.Committed, before.Committed) {
		t.Fatalf("compact read %+v, inspect %+v", st.Committed, before.Committed)
	}
	checkFormat2(t, dir, "after the upgrade")
	// The checkpoint holds the old runs' entries and what the log folded.
	after := crashkit.CheckpointState(t, dir)
	for k, d := range state {
		if after[k].Len() < d.Len() {
			t.Errorf("%v: %d entries after the upgrade, %d before", k, after[k].Len(), d.Len())
		}
	}
	st2, err := tool.Compact(ctx, dir, &tool.CompactOptions{Logger: quietConfig("").Logger})
	if err != nil || st2.Upgraded || st2.RunsUpgraded != 0 || st2.FormatBefore != 2 {
		t.Fatalf("second compact: %+v, %v", st2, err)
	}
	checkFormat2(t, dir, "after a second compact")
}

// After the upgrade the pipeline goes on from where the previous release
// stopped: with new input, its append-mode changelog, the previous
// release's lines included, adds up to what a from-scratch run over all
// the input emits.
func TestUpgradeThenRun(t *testing.T) {
	root := format1Copy(t)
	input := tutorialInput(t)
	if _, err := tool.Compact(context.Background(), filepath.Join(root, "storage"),
		&tool.CompactOptions{Logger: quietConfig("").Logger}); err != nil {
		t.Fatal(err)
	}
	// The restart alone emits what the killed execution had left to
	// acknowledge, and nothing twice.
	if err := runMoved(root, input); err != nil {
		t.Fatal(err)
	}
	checkTotal(t, "after a restart", filepath.Join(root, "sessions.csv"), input)
	// New accesses, inside and after the tutorial's sessions.
	if _, err := gen.Write(input, gen.Spec{Seed: 5, Rows: 300, Users: 4, Files: 3, Window: 1200, Start: 1701102000}); err != nil {
		t.Fatal(err)
	}
	if err := runMoved(root, input); err != nil {
		t.Fatal(err)
	}
	checkTotal(t, "after new input", filepath.Join(root, "sessions.csv"), input)
	checkFormat2(t, filepath.Join(root, "storage"), "after the runs")
}

// checkTotal checks that the changelog at out has its times in order and
// sums, per row, to what a from-scratch run over input emits.
func checkTotal(t *testing.T, what, out, input string) {
	t.Helper()
	lines := readSink(t, out)
	for i := 1; i < len(lines); i++ {
		if lines[i].time < lines[i-1].time {
			t.Fatalf("%s: time %d after time %d", what, lines[i].time, lines[i-1].time)
		}
	}
	scratch := filepath.Join(t.TempDir(), "scratch.csv")
	if err := runSessions(t, input, scratch, "", false); err != nil {
		t.Fatal(err)
	}
	want := consolidatedSigned(readSink(t, scratch))
	if got := consolidatedSigned(lines); !slices.Equal(got, want) {
		t.Fatalf("%s: the changelog sums to\n%v\nwant\n%v", what, got, want)
	}
}

// An upgrade crashed at every filesystem operation, each crash image
// built by vfs.Recorder: on every image a second tool.Compact completes
// the upgrade, and the storage then holds what a clean upgrade leaves.
func TestUpgradeCrashAtEveryOperation(t *testing.T) {
	ctx := context.Background()
	compact := func(root string, fsys vfs.FS) error {
		_, err := tool.Compact(ctx, filepath.Join(root, "storage"), &tool.CompactOptions{Logger: quietConfig("").Logger, FS: fsys})
		return err
	}
	clean := crashkit.CopyTree(t, format1Data)
	if err := compact(clean, vfs.Default); err != nil {
		t.Fatal(err)
	}
	want, err := tool.Inspect(ctx, filepath.Join(clean, "storage"), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantState := crashkit.CheckpointState(t, filepath.Join(clean, "storage"))
	n := crashkit.CountOps(t, format1Data, compact)
	oldRuns, marker2 := 0, 0 // images with runs of format 1 in force; with marker 2
	for _, k := range crashkit.Points(n) {
		for seed := range crashkit.Seeds() {
			img, hit, runErr := crashkit.Crash(t, format1Data, k, seed, compact)
			what := crashkit.DescribeHit(hit)
			if hit == nil {
				t.Fatalf("k=%d of %d: the upgrade did not crash (%v)", k, n, runErr)
			}
			dir := filepath.Join(img, "storage")
			// What a crash leaves is no damage: the tools read it, of
			// format 1 or 2.
			rep, err := tool.Verify(ctx, dir, nil)
			if err != nil || !rep.Sound() {
				t.Fatalf("%s: verify of the crash image: %+v, %v", what, rep.Problems, err)
			}
			wasUpgraded := marker(t, dir) == "pwlog storage format 2\n"
			if wasUpgraded {
				marker2++
			}
			if rep.Runs > 0 && hasOldRuns(t, dir) {
				if wasUpgraded {
					t.Fatalf("%s: the marker says format 2 while runs of format 1 are in force", what)
				}
				oldRuns++
			}
			st, err := tool.Compact(ctx, dir, &tool.CompactOptions{Logger: quietConfig("").Logger})
			if err != nil {
				t.Fatalf("%s: compact after the crash: %v", what, err)
			}
			if st.Upgraded == wasUpgraded {
				t.Fatalf("%s: the image's marker says format 2: %v; the second compact upgraded: %v", what, wasUpgraded, st.Upgraded)
			}
			checkFormat2(t, dir, what)
			got, err := tool.Inspect(ctx, dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Committed, want.Committed) {
				t.Fatalf("%s: after the second compact the storage commits\n%+v\nwant\n%+v", what, got.Committed, want.Committed)
			}
			state := crashkit.CheckpointState(t, dir)
			if len(state) != len(wantState) {
				t.Fatalf("%s: %d arrangements, want %d", what, len(state), len(wantState))
			}
			for k, d := range wantState {
				if !crashkit.EqualDeltas(state[k], d) {
					t.Fatalf("%s: %v differs from a clean upgrade's", what, k)
				}
			}
		}
	}
	t.Logf("crashed an upgrade at each of %d operations: %d images with runs of format 1, %d with marker 2", n, oldRuns, marker2)
	if oldRuns == 0 || marker2 == 0 {
		t.Fatal("the crash images do not cover both ends of the upgrade")
	}
}

// hasOldRuns reports whether the manifest in force names a run of format 1.
func hasOldRuns(t testing.TB, dir string) bool {
	t.Helper()
	b, err := backend.NewFilesystem(storage.CheckpointDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	m, err := compaction.Latest(context.Background(), b)
	if err != nil || m == nil {
		t.Fatalf("manifest %v, %v", m, err)
	}
	for _, r := range m.Runs {
		_, closer, err := compaction.OpenRun(context.Background(), b, r, nil)
		if errors.Is(err, checkpoint.ErrOldFormat) {
			return true
		}
		if err != nil {
			t.Fatal(err)
		}
		closer.Close()
	}
	return false
}

// treeBut returns every file under root but skip (relative to root) with
// its content.
func treeBut(t testing.TB, root, skip string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == filepath.Join(root, skip) {
			return err
		}
		data, err := os.ReadFile(p)
		b.WriteString(p + " " + string(data) + "\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
