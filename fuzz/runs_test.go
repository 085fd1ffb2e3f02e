package fuzz

import (
	"path/filepath"
	"testing"

	"pgregory.net/rapid"
)

// TestRunsMatchModel draws a pipeline and changes its input files over
// several executions (new files, appended rows, and with Retract
// rewritten and deleted files); every execution must emit exactly the
// difference between the model's results before and after its input,
// at times after every earlier one, and the append-mode changelog must
// consolidate to the model's result.
func TestRunsMatchModel(t *testing.T) {
	cases := 0
	defer func() { logDrawn(t, cases, 50) }()
	rapid.Check(t, func(rt *rapid.T) {
		cases++
		dir := t.TempDir()
		p := genPipeline(rt, filepath.Join(dir, "input"), genOptions{maxOps: 4, arrival: true})
		h := newHarness(rt, p, drawConfig(rt, p))
		root := filepath.Join(dir, "root")
		for run := range rapid.IntRange(1, 5).Draw(rt, "runs") {
			mutate(rt, p)
			if err := h.run(root, nil); err != nil {
				rt.Fatalf("run %d: %v\npipeline:\n%s", run, err, p)
			}
			p.committed(run)
			h.checkRun(rt, root, describe(run, "finished"))
		}
	})
}
