// Damage tests: every file of a storage (log segments, checkpoint runs, the
// manifest, the format marker) damaged in turn, with bit flips and
// truncations, as a disk or a person might after the fact. The next run
// must refuse with a named error saying which file, leaving the changelog
// as it was, or (a torn log tail) recover to exactly the from-scratch
// result; Verify must agree with the run. Never wrong rows, never a panic.
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
	"strings"
	"syscall"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/checkpoint"
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
// which file, leaving the changelog as it was, or (where the damage is a
// torn tail the log may legitimately end in) succeeds with exactly the
// from-scratch result. Never wrong rows, never a panic.
func TestDamageIsReportedNeverWrong(t *testing.T) {
	_, in2, done := twoRuns(t, 11, 40)
	base := copyTree(t, done)
	// The second run commits everything, then fails at its final
	// compaction's first checkpoint write: the log after the checkpoint
	// keeps its commits.
	c := crashSetup{input: in2, batch: 8, compactBytes: -1}
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
			root := copyTree(t, base)
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
			if !bytes.Equal(before, after) {
				t.Errorf("%s: the failed run changed the changelog", what)
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
