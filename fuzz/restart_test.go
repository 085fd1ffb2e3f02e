package fuzz

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/internal/crashkit"
	"github.com/pwlog/pwlog/operators"
)

// TestRestartRebuildsState runs a drawn pipeline over inputs that change
// across several executions, then once more with nothing new, which
// must emit nothing; the state its storage's checkpoint holds must equal
// the state of one execution over the final inputs from an empty
// storage, arrangement by arrangement, entry by entry. (Operators that
// keep arrival order are left out: their state holds the times rows
// arrived at, which differ; so are UDF caches, which keep the results
// of arguments gone since.)
func TestRestartRebuildsState(t *testing.T) {
	compared, cases := 0, 0
	defer func() {
		logDrawn(t, cases, 1<<30)
		t.Logf("%d arrangements compared", compared)
		if compared == 0 && !t.Failed() {
			t.Error("no arrangement compared")
		}
	}()
	rapid.Check(t, func(rt *rapid.T) {
		cases++
		dir := t.TempDir()
		p := genPipeline(rt, filepath.Join(dir, "input"), genOptions{maxOps: 4})
		h := newHarness(rt, p, drawConfig(rt, p))
		root := filepath.Join(dir, "root")
		runs := rapid.IntRange(1, 4).Draw(rt, "runs")
		for run := range runs {
			mutate(rt, p)
			if err := h.run(root, nil); err != nil {
				rt.Fatalf("run %d: %v\npipeline:\n%s", run, err, p)
			}
		}
		sizes := map[string]int64{}
		for _, s := range p.sinks {
			fi, err := os.Stat(p.sinkPath(root, s))
			if err != nil {
				rt.Fatal(err)
			}
			sizes[p.sinkPath(root, s)] = fi.Size()
		}
		if err := h.run(root, nil); err != nil {
			rt.Fatalf("the run with nothing new: %v\npipeline:\n%s", err, p)
		}
		for path, size := range sizes {
			if fi, err := os.Stat(path); err != nil || fi.Size() != size {
				rt.Fatalf("a run with nothing new wrote to %s (%v)\npipeline:\n%s", filepath.Base(path), err, p)
			}
		}
		once := filepath.Join(dir, "once")
		if err := h.run(once, nil); err != nil {
			rt.Fatalf("one run over the final input: %v\npipeline:\n%s", err, p)
		}
		got := crashkit.CheckpointState(t, filepath.Join(root, "storage"))
		want := crashkit.CheckpointState(t, filepath.Join(once, "storage"))
		keys := func(m map[compaction.ArrKey]bool) []string {
			var out []string
			for k := range m {
				out = append(out, k.Operator+"/"+k.Arrangement)
			}
			slices.Sort(out)
			return out
		}
		// A UDF's cache keeps the results of arguments gone since (it is
		// never retracted): it may hold more after several runs.
		all := map[compaction.ArrKey]bool{}
		for k, d := range got {
			if d.Len() > 0 && !strings.HasPrefix(k.Arrangement, operators.UDFCachePrefix) {
				all[k] = true
			}
		}
		for k, d := range want {
			if d.Len() > 0 && !strings.HasPrefix(k.Arrangement, operators.UDFCachePrefix) {
				all[k] = true
			}
		}
		compared += len(all)
		var differ []string
		for k := range all {
			if !crashkit.EqualDeltas(got[k], want[k]) {
				differ = append(differ, fmt.Sprintf("%s/%s (%d entries, %d in one run)", k.Operator, k.Arrangement, got[k].Len(), want[k].Len()))
			}
		}
		if len(differ) > 0 {
			rt.Fatalf("after %d runs the state differs from one run's: %s\narrangements: %s\npipeline:\n%s",
				runs, strings.Join(differ, "; "), strings.Join(keys(all), " "), p)
		}
	})
}
