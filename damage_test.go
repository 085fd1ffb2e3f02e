// Damage tests: every file of a storage (log segments, checkpoint runs, the
// manifest, the format marker) damaged in turn, with bit flips and
// truncations, as a disk or a person might after the fact. The next run
// must refuse with a named error saying which file, having written to the
// changelog nothing or a part of what it writes on the undamaged storage
// (damage in a checkpoint run's block shows when the block is read), or
// (a torn log tail) recover to exactly the from-scratch result; Verify
// must agree with the run. Never wrong rows, never a panic.
// corruption_test.go has the single-flip cases and bad records whose
// checksums pass.
//
// It is exhaustive and deterministic: go test runs it whole, and `make
// fuzz` runs it the same (PWLOG_CRASH_SEEDS does not change it):
//
//	go test -run 'TestDamageIsReportedNeverWrong|TestDamagedStorageIsReported' .

package pwlog_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/internal/crashkit"
	istorage "github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/tool"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/vfs/errorfs"
	"github.com/pwlog/pwlog/wal"
)

// damage is one way of damaging a synced file.
type damage struct {
	name string
	fn   func(b []byte) []byte // nil result: not applicable to b
}

// damages returns bit flips at the start, inside and at the end, and
// truncations to nothing, to half and by one byte.
func damages() []damage {
	flip := func(at func(n int) int) func([]byte) []byte {
		return func(b []byte) []byte {
			if len(b) == 0 {
				return nil
			}
			b = bytes.Clone(b)
			b[at(len(b))] ^= 0x04
			return b
		}
	}
	cut := func(to func(n int) int) func([]byte) []byte {
		return func(b []byte) []byte {
			if len(b) == 0 {
				return nil
			}
			return bytes.Clone(b[:to(len(b))])
		}
	}
	return []damage{
		{"flip-first", flip(func(int) int { return 0 })},
		{"flip-8", flip(func(n int) int { return min(8, n-1) })},
		{"flip-third", flip(func(n int) int { return n / 3 })},
		{"flip-half", flip(func(n int) int { return n / 2 })},
		{"flip-two-thirds", flip(func(n int) int { return 2 * n / 3 })},
		{"flip-last", flip(func(n int) int { return n - 1 })},
		{"truncate-empty", cut(func(int) int { return 0 })},
		{"truncate-half", cut(func(n int) int { return n / 2 })},
		{"truncate-one", cut(func(n int) int { return n - 1 })},
	}
}

// TestDamageIsReportedNeverWrong damages, one at a time, every file of a
// storage holding a checkpoint and a committed log after it (log segments,
// checkpoint runs, the manifest, the format marker), with bit flips and
// truncations. The next run either fails with a named error that says
// which file, having written to the changelog nothing or a part of what
// a run on the undamaged storage writes (a block of a checkpoint run is
// read, and found damaged, when a group in it is needed), or (where the
// damage is a torn tail the log may legitimately end in) succeeds with
// exactly the from-scratch result. Never wrong rows, never a panic.
func TestDamageIsReportedNeverWrong(t *testing.T) {
	for _, tiny := range []bool{false, true} {
		t.Run(fmt.Sprintf("tiny=%v", tiny), func(t *testing.T) { testDamage(t, tiny) })
	}
}

// testDamage is TestDamageIsReportedNeverWrong, with tiny state (blocks
// of a few entries, a memory bound of a byte) for the run after the
// damage or not.
func testDamage(t *testing.T, tiny bool) {
	_, in2, done := twoRuns(t, 11, 40)
	base := crashkit.CopyTree(t, done)
	// The second run commits everything, then fails at its final
	// compaction's first checkpoint write: the log after the checkpoint
	// keeps its commits.
	c := crashSetup{input: in2, batch: 8, compactBytes: -1, tiny: tiny}
	stop := errorfs.NewSticky(errorfs.NewOnIndex(0, syscall.EIO, errorfs.And(errorfs.Kinds(errorfs.OpCreate), errorfs.PathContains("checkpoints"))))
	if err := c.run(base, errorfs.Wrap(vfs.Default, stop)); err == nil || !stop.Tripped() {
		t.Fatalf("the second run should fail at its final compaction: %v", err)
	}
	var files []string
	filepath.WalkDir(filepath.Join(base, "storage"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && d.Name() != "LOCK" {
			files = append(files, p)
		}
		return nil
	})
	// What the run writes to the changelog on the undamaged storage: a run
	// that finds damage while it goes (a block of a run read in place)
	// may have written a part of it, never anything else.
	ref := crashkit.CopyTree(t, base)
	if err := c.run(ref, vfs.Default); err != nil {
		t.Fatal(err)
	}
	refLines := rowsWithoutTime(t, filepath.Join(ref, "out.csv"))
	kinds := map[string]int{}
	for _, f := range files {
		rel, _ := filepath.Rel(base, f)
		orig, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range damages() {
			damaged := d.fn(orig)
			if damaged == nil {
				continue
			}
			what := fmt.Sprintf("%s %s", rel, d.name)
			root := crashkit.CopyTree(t, base)
			if err := os.WriteFile(filepath.Join(root, rel), damaged, 0o644); err != nil {
				t.Fatal(err)
			}
			// The four readers of the log agree on what it commits.
			if r, ok := readAll(t, root, c); ok {
				r.checkAgree(t, what)
			}
			// Verify, before the run repairs anything, agrees with it.
			rep, verr := tool.Verify(t.Context(), filepath.Join(root, "storage"), nil)
			out := filepath.Join(root, "out.csv")
			before, _ := os.ReadFile(out)
			err := c.run(root, vfs.Default)
			checkVerifyAgrees(t, what, filepath.Base(f), rep, verr, err)
			if err == nil {
				checkChangelog(t, what, out, in2)
				kinds["recovered"]++
				t.Logf("%s: recovered", what)
				continue
			}
			after, _ := os.ReadFile(out)
			if !bytes.HasPrefix(after, before) {
				t.Errorf("%s: the failed run changed what the changelog held", what)
			} else if got := rowsWithoutTime(t, out); len(got) > len(refLines) || !slices.Equal(got, refLines[:len(got)]) {
				t.Errorf("%s: the failed run wrote rows an undamaged run does not write", what)
			} else if !bytes.Equal(before, after) {
				kinds["failed after writing rows"]++
			}
			switch {
			case errors.Is(err, wal.ErrCorrupt), errors.Is(err, checkpoint.ErrCorrupt), errors.Is(err, pwlog.ErrFormat):
				if !strings.Contains(err.Error(), filepath.Base(f)) {
					t.Errorf("%s: the error does not name the file: %v", what, err)
				}
				kinds["corrupt"]++
			case errors.Is(err, pwlog.ErrSinkAhead):
				// A cut of the log's end is a torn tail to the log; the
				// sink holding later times shows that committed times
				// were lost.
				kinds["sink ahead"]++
			default:
				t.Errorf("%s: not a named damage error: %v", what, err)
			}
		}
	}
	t.Logf("%d files damaged: %v", len(files), kinds)
	if kinds["corrupt"] == 0 || kinds["sink ahead"] == 0 {
		t.Errorf("expected both corruption errors and a sink ahead of a cut log: %v", kinds)
	}
}

// rowsWithoutTime returns the lines of a sessions changelog without its
// time column (logical times follow the clock).
func rowsWithoutTime(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		f := strings.Split(line, ",")
		if i == 0 || len(f) < 2 {
			continue
		}
		out = append(out, strings.Join(append(f[:len(f)-2:len(f)-2], f[len(f)-1]), ","))
	}
	return out
}

// checkVerifyAgrees checks Verify's report on a damaged storage against
// what the next run did with it: a run refusing the storage as corrupt
// means a problem naming the file (or, for the marker, Verify refusing to
// run); a run that recovered means a sound storage. A cut at the log's
// end looks like a torn tail to both: only the sink shows the loss
// (ErrSinkAhead), and Verify does not read sinks.
func checkVerifyAgrees(t *testing.T, what, file string, rep *tool.VerifyReport, verr, runErr error) {
	t.Helper()
	switch {
	case errors.Is(runErr, istorage.ErrMarkerDamaged):
		// The log and checkpoints are there: verify reads them and
		// reports the marker as damage.
		named := false
		for _, p := range rep.Problems {
			named = named || strings.Contains(p.File, file)
		}
		if verr != nil || rep.Sound() || !named {
			t.Errorf("%s: the run found the marker damaged (%v), but verify says %v, %v", what, runErr, verr, rep.Problems)
		}
	case errors.Is(runErr, pwlog.ErrFormat):
		if !errors.Is(verr, pwlog.ErrFormat) {
			t.Errorf("%s: the run refused the format (%v), verify: %v", what, runErr, verr)
		}
	case verr != nil:
		t.Errorf("%s: verify could not run: %v", what, verr)
	case runErr == nil, errors.Is(runErr, pwlog.ErrSinkAhead):
		// An execution reads the blocks of checkpoint runs its rows touch:
		// damage in a block it did not read is for verify (or the next
		// read of that block) to report.
		for _, p := range rep.Problems {
			if !strings.Contains(filepath.ToSlash(p.File), "checkpoints/runs/") {
				t.Errorf("%s: the run recovered, but verify reports %v", what, rep.Problems)
				break
			}
		}
	default:
		named := false
		for _, p := range rep.Problems {
			named = named || strings.Contains(p.File, file)
		}
		if rep.Sound() || !named {
			t.Errorf("%s: the run failed (%v), but verify reports %v", what, runErr, rep.Problems)
		}
	}
}
