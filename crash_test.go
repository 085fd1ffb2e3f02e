package pwlog

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

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
	n := countOps(t, done, torn.run)
	tornImg, _, _ := crash(t, done, n/2, 7, torn.run)

	type scenario struct {
		name  string
		base  string
		setup crashSetup
		act   func(c crashSetup) func(root string, fsys vfs.FS) error
	}
	run := func(c crashSetup) func(string, vfs.FS) error { return c.run }
	compact := func(c crashSetup) func(string, vfs.FS) error {
		return func(root string, fsys vfs.FS) error {
			_, err := Compact(context.Background(), filepath.Join(root, "storage"),
				&CompactOptions{Logger: quietConfig("").Logger, FS: fsys})
			return err
		}
	}
	scenarios := []scenario{
		{"first-run", "", crashSetup{input: in2, batch: 8, compactBytes: -1}, run},
		{"second-run", done, crashSetup{input: in2, batch: 8, compactBytes: -1}, run},
		{"background-compaction", done, crashSetup{input: in2, batch: 8, compactBytes: 1}, run},
		{"snapshot-interval", done, crashSetup{input: in2, batch: 8, compactBytes: -1, interval: true}, run},
		{"tail-repair", tornImg, crashSetup{input: in2, batch: 8, compactBytes: -1}, run},
		{"compact", tornImg, crashSetup{input: in2, batch: 8, compactBytes: -1}, compact},
	}
	total, finished := 0, 0
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			act := sc.act(sc.setup)
			n := countOps(t, sc.base, act)
			for _, k := range crashPoints(n) {
				for seed := range crashSeeds() {
					img, hit, _ := crash(t, sc.base, k, seed, act)
					what := fmt.Sprintf("%s k=%d/%d seed=%d (%s)", sc.name, k, n, seed, describeHit(hit))
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
