// Crash tests: a run, or a compaction of a stopped storage, stops at a
// mutating filesystem operation as if the machine had died there, and the
// disk keeps what was synced and a random part of the rest (a crash image,
// vfs.Recorder). The next run must recover from every such image: nothing
// the crashed run had committed or written to the changelog is lost, no
// time is emitted twice, the changelog equals the from-scratch result, and
// Verify finds no damage in what a crash leaves. The kit is in
// crash_kit_test.go.
//
// Quick (what go test runs): every crash point with 2 images each. Long,
// as `make fuzz` runs it:
//
//	PWLOG_CRASH_SEEDS=16 go test -timeout 120m -run TestCrashAtEveryOperation .
//
// PWLOG_CRASH_STRIDE=s tries every s-th crash point only. A failure names
// its crash point and seed (k=.. seed=..). The crash state machine over
// random pipelines (random sequences of input changes, runs, crashes,
// kills and compactions) is package fuzz's TestCrashStateMachine.

package pwlog_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/pwlog/pwlog/internal/crashkit"
	"github.com/pwlog/pwlog/tool"
	"github.com/pwlog/pwlog/vfs"
)

// TestCrashAtEveryOperation crashes a run at its k-th mutating filesystem
// operation, for every k, builds crash images that keep what was synced
// and a random part of what was not, and checks that the next run
// recovers: nothing the crashed run had put in the changelog is lost, no
// time is emitted twice, and the changelog equals the from-scratch result.
// The scenarios cover the first run on an empty directory, the commit
// path, background and final compaction with manifest publication, the
// tail repair of a crashed storage, and Compact on a stopped storage.
func TestCrashAtEveryOperation(t *testing.T) {
	_, in2, done := twoRuns(t, 1, 24)
	// A crashed run over in2 with a snapshot interval: a storage with an
	// unsynced, torn tail to repair, and committed log to compact.
	torn := crashSetup{input: in2, batch: 8, compactBytes: -1, interval: true}
	n := crashkit.CountOps(t, done, torn.run)
	tornImg, _, _ := crashkit.Crash(t, done, n/2, 7, torn.run)

	type scenario struct {
		name  string
		base  string
		setup crashSetup
		act   func(c crashSetup) func(root string, fsys vfs.FS) error
	}
	run := func(c crashSetup) func(string, vfs.FS) error { return c.run }
	compact := func(c crashSetup) func(string, vfs.FS) error {
		return func(root string, fsys vfs.FS) error {
			_, err := tool.Compact(context.Background(), filepath.Join(root, "storage"),
				&tool.CompactOptions{Logger: quietConfig("").Logger, FS: fsys})
			return err
		}
	}
	scenarios := []scenario{
		{"first-run", "", crashSetup{input: in2, batch: 8, compactBytes: -1}, run},
		{"second-run", done, crashSetup{input: in2, batch: 8, compactBytes: -1}, run},
		{"background-compaction", done, crashSetup{input: in2, batch: 8, compactBytes: 1}, run},
		{"snapshot-interval", done, crashSetup{input: in2, batch: 8, compactBytes: -1, interval: true}, run},
		{"tiny-state", done, crashSetup{input: in2, batch: 8, compactBytes: -1, tiny: true}, run},
		{"tail-repair", tornImg, crashSetup{input: in2, batch: 8, compactBytes: -1}, run},
		{"compact", tornImg, crashSetup{input: in2, batch: 8, compactBytes: -1}, compact},
	}
	total, finished := 0, 0
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			act := sc.act(sc.setup)
			n := crashkit.CountOps(t, sc.base, act)
			for _, k := range crashkit.Points(n) {
				for seed := range crashkit.Seeds() {
					img, hit, _ := crashkit.Crash(t, sc.base, k, seed, act)
					what := fmt.Sprintf("%s k=%d/%d seed=%d (%s)", sc.name, k, n, seed, crashkit.DescribeHit(hit))
					if hit == nil {
						// Timing (group commit, background compaction)
						// varies the count: the run finished first.
						finished++
					}
					sc.setup.checkRecovers(t, img, what)
					total++
				}
			}
			t.Logf("%s: %d crash points", sc.name, n)
		})
	}
	t.Logf("%d crash images recovered (%d runs finished before their crash point)", total, finished)
}
