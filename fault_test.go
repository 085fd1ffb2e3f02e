// Fault tests: the k-th mutating filesystem operation of a run fails
// (ENOSPC, EIO) for every k, the process living on. The run must stop
// with an error carrying the errno, lose nothing it committed, and the
// next run on a healthy disk must reach exactly the from-scratch result.
// The kit is crash_kit_test.go's.
//
// It is exhaustive and deterministic: go test runs it whole, and `make
// fuzz` runs it the same (PWLOG_CRASH_SEEDS does not change it):
//
//	go test -run TestFaultAtEveryWrite .
//
// PWLOG_CRASH_STRIDE=s tries every s-th operation only.

package pwlog_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/pwlog/pwlog/internal/crashkit"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/vfs/errorfs"
)

// TestFaultAtEveryWrite fails the k-th mutating filesystem operation of a
// run (a write, sync, create, rename, remove, directory sync) with ENOSPC
// or EIO, for every k, the process living on. The run must stop with an
// error that carries the errno; the storage must open afterwards with
// nothing lost of what the failed run had committed and emitted; and once
// the disk is healthy the pipeline continues to exactly the from-scratch
// result.
func TestFaultAtEveryWrite(t *testing.T) {
	_, in2, done := twoRuns(t, 5, 24)
	c := crashSetup{input: in2, batch: 8, compactBytes: -1}
	n := crashkit.CountOps(t, done, c.run)
	failed, succeeded := 0, 0
	for _, errno := range []syscall.Errno{syscall.ENOSPC, syscall.EIO} {
		for _, k := range crashkit.Points(n) {
			root := crashkit.CopyTree(t, done)
			at := errorfs.NewOnIndex(k, errno, errorfs.Mutating)
			err := c.run(root, errorfs.Wrap(vfs.Default, at))
			what := fmt.Sprintf("%v at k=%d/%d (%s)", errno, k, n, crashkit.DescribeHit(at.Hit()))
			switch {
			case at.Hit() == nil:
			case err == nil:
				// Only steps whose failure is harmless ignore errors:
				// removing a temporary file (the next open removes it)
				// and writing the lock holder's pid (advisory).
				if h := at.Hit(); h.Kind != errorfs.OpRemove && filepath.Base(h.Path) != "LOCK" {
					t.Errorf("%s: the run succeeded", what)
				}
				succeeded++
			case !errors.Is(err, errno):
				t.Errorf("%s: the error does not carry the errno: %v", what, err)
			default:
				failed++
			}
			c.checkRecovers(t, root, what)
		}
	}
	t.Logf("%d faults failed the run, %d hit steps that ignore errors, %d crash points each", failed, succeeded, n)
}
