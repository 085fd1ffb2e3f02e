package fuzz

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/vfs"
)

// runConfig is the drawn configuration of a case's executions.
type runConfig struct {
	batch        int   // pwlog.Config.BatchRows
	compactBytes int64 // pwlog.Config.CompactBytes
	interval     bool  // a positive SnapshotInterval: syncs lag writes
	// tiny: checkpoint blocks of a few entries and a memory bound of a
	// byte, so state is read from checkpoint runs all the time.
	tiny bool
	// keep: Config.KeepInputs, so that the pipeline may change between
	// executions (evolve_test.go).
	keep bool
}

// oneTime is the batch size that makes every execution one logical time.
const oneTime = 1 << 16

func drawConfig(t *rapid.T, p *pipeline) runConfig {
	c := runConfig{
		batch: rapid.SampledFrom([]int{1, 3, 8, oneTime}).Draw(t, "batchRows"),
		// 1 byte: a background compaction after nearly every commit.
		compactBytes: rapid.SampledFrom([]int64{-1, 1, 0}).Draw(t, "compactBytes"),
		interval:     rapid.Bool().Draw(t, "interval"),
		tiny:         rapid.Bool().Draw(t, "tiny"),
	}
	if p.arrival {
		c.batch = oneTime
	}
	return c
}

// crashConfig is drawConfig for executions that crash; half the
// storages keep their inputs, and their pipelines change.
func crashConfig(t *rapid.T, p *pipeline) runConfig {
	c := drawConfig(t, p)
	c.keep = rapid.Bool().Draw(t, "keepInputs")
	return c
}

func (c runConfig) config(storage string, fsys vfs.FS) pwlog.Config {
	cfg := pwlog.Config{
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Backend:      pwlog.Filesystem(storage),
		FS:           fsys,
		BatchRows:    c.batch,
		CompactBytes: c.compactBytes,
		KeepInputs:   c.keep,
	}
	if c.interval {
		cfg.SnapshotInterval = 200_000 // 0.2 ms
	}
	if c.tiny {
		cfg.BlockSize = 32
		cfg.MemoryLimit = 1
	}
	return cfg
}

// harness runs a generated pipeline with its storage and changelogs
// under a root, and checks its changelogs against the model.
type harness struct {
	p   *pipeline
	cfg runConfig
	// prev is the model's result after the last checked execution; seen
	// the changelog lines checked so far, and last their last time, per
	// sink.
	prev map[int]multiset
	seen map[int]int
	last map[int]uint64
	// ids are the sinks' names as last checked: a sink a change renewed
	// under another name is a new sink (renew).
	ids map[int]string
	// pending is the change of the pipeline the next execution makes,
	// nil when it makes none (evolve_test.go).
	pending *pendingChange
	runs    int // executions started, crashed ones included
}

// pendingChange is a change of the pipeline that the next execution
// makes. mid, when known, is the model's result of the changed pipeline
// over the input that the storage holds (the last execution's, which
// finished): the execution's first logical time must bring every sink
// there, before it reads anything new.
type pendingChange struct {
	what string
	mid  map[int]multiset
}

// renew forgets what was checked of sinks that a change renewed under
// another name or added: each is a new sink, its changelog a new file.
func (h *harness) renew() {
	for _, s := range h.p.sinks {
		if id := h.p.sinkID(s); h.ids[s] != id {
			delete(h.prev, s)
			delete(h.seen, s)
			delete(h.last, s)
			h.ids[s] = id
		}
	}
}

func newHarness(t *rapid.T, p *pipeline, cfg runConfig) *harness {
	// The schemas pwlog builds are the model's.
	if _, err := p.build(filepath.Join(os.TempDir(), "pwlog-fuzz-schema-check")); err != nil {
		t.Fatalf("%v\npipeline:\n%s", err, p)
	}
	return &harness{p: p, cfg: cfg, prev: map[int]multiset{}, seen: map[int]int{}, last: map[int]uint64{}, ids: map[int]string{}}
}

// run runs the pipeline once with its storage and sinks under root,
// through fsys.
func (h *harness) run(root string, fsys vfs.FS) error {
	pp, err := h.p.build(root)
	if err != nil {
		return err
	}
	return pp.Run(context.Background(), h.cfg.config(filepath.Join(root, "storage"), fsys))
}

// changelog parses sink s's changelog under root.
func (h *harness) changelog(t *rapid.T, root string, s int) ([]change, []byte) {
	b, err := os.ReadFile(h.p.sinkPath(root, s))
	if err != nil {
		t.Fatalf("sink %s: %v", h.p.nodes[s].name, err)
	}
	cs, err := parseChangelog(b, h.p.nodes[s].info.cols)
	if err != nil {
		t.Fatalf("sink %s: %v\npipeline:\n%s", h.p.nodes[s].name, err, h.p)
	}
	return cs, b
}

// checkRun checks the changelogs under root after an execution that
// finished, with no crash since the last check: each sink emitted
// exactly the model's result after its input less the result before,
// at times after every earlier one (one time, when the execution is
// one), and the whole changelog consolidates to the model's result.
//
// After a change of the pipeline (h.pending) the model's result before
// is the old pipeline's, and the change may take a logical time of its
// own, the execution's first; when the change's difference is known
// (pendingChange.mid) and shows in some sink, that first time must
// bring each sink exactly to the changed pipeline's result over the
// input the storage held, and the later times the rest. A sink added or
// renewed by the change starts from nothing.
func (h *harness) checkRun(t *rapid.T, root, what string) {
	h.renew()
	pc := h.pending
	h.pending = nil
	want := h.p.results()
	fresh := map[int][]change{}
	var first uint64 // the execution's first time, over every sink
	for _, s := range h.p.sinks {
		name := h.p.nodes[s].name
		cs, b := h.changelog(t, root, s)
		if len(cs) < h.seen[s] {
			t.Fatalf("%s: sink %s: the changelog has %d lines, %d before", what, name, len(cs), h.seen[s])
		}
		fresh[s] = cs[h.seen[s]:]
		times := map[uint64]bool{}
		for i, c := range fresh[s] {
			if c.time <= h.last[s] && h.seen[s]+i > 0 {
				t.Fatalf("%s: sink %s: time %d after time %d: a time emitted twice or out of order", what, name, c.time, h.last[s])
			}
			if i > 0 && c.time < fresh[s][i-1].time {
				t.Fatalf("%s: sink %s: time %d after time %d", what, name, c.time, fresh[s][i-1].time)
			}
			times[c.time] = true
		}
		if len(fresh[s]) > 0 && (first == 0 || fresh[s][0].time < first) {
			first = fresh[s][0].time
		}
		// A change takes a time of its own.
		if most := 1 + btoi(pc != nil); h.cfg.batch == oneTime && len(times) > most && !h.p.anyRetract() {
			t.Fatalf("%s: sink %s: an execution of one batch emitted %d times", what, name, len(times))
		}
		if got, exp := consolidate(fresh[s]), want[s].minus(h.prev[s]); len(got.minus(exp)) != 0 {
			t.Fatalf("%s: sink %s emitted (+ too many, - missing):\n%s\npipeline:\n%s\nchangelog:\n%s", what, name, got.diff(exp), h.p, tail(b))
		}
		if got := consolidate(cs); len(got.minus(want[s])) != 0 {
			t.Fatalf("%s: sink %s: the changelog consolidates to (+ too many, - missing):\n%s\npipeline:\n%s", what, name, got.diff(want[s]), h.p)
		}
	}
	if pc != nil && pc.mid != nil {
		h.checkChange(t, what, pc, fresh, first, want)
	}
	for _, s := range h.p.sinks {
		h.seen[s] += len(fresh[s])
		if len(fresh[s]) > 0 {
			h.last[s] = fresh[s][len(fresh[s])-1].time
		}
	}
	h.prev = want
}

// checkChange checks the execution that made change: when the change
// shows in some sink, the execution's first time, first, brings every
// sink from the old pipeline's result (h.prev) to the changed one's over
// the stored input (pc.mid), and the later times bring it to want.
func (h *harness) checkChange(t *rapid.T, what string, pc *pendingChange, fresh map[int][]change, first uint64, want map[int]multiset) {
	shows := false
	for _, s := range h.p.sinks {
		shows = shows || len(pc.mid[s].minus(h.prev[s])) > 0
	}
	if !shows {
		return
	}
	changesChecked++
	for _, s := range h.p.sinks {
		var at, after []change
		for _, c := range fresh[s] {
			if c.time == first {
				at = append(at, c)
			} else {
				after = append(after, c)
			}
		}
		name := h.p.nodes[s].name
		if got, exp := consolidate(at), pc.mid[s].minus(h.prev[s]); len(got.minus(exp)) != 0 {
			t.Fatalf("%s: sink %s: the change (%s) emitted at time %d, the execution's first (+ too many, - missing):\n%s\npipeline:\n%s",
				what, name, pc.what, first, got.diff(exp), h.p)
		}
		if got, exp := consolidate(after), want[s].minus(pc.mid[s]); len(got.minus(exp)) != 0 {
			t.Fatalf("%s: sink %s: after the change's time %d, the new input emitted (+ too many, - missing):\n%s\npipeline:\n%s",
				what, name, first, got.diff(exp), h.p)
		}
	}
}

// changesChecked counts the changes whose first time checkChange
// checked, for the tests' logs.
var changesChecked int

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// anyRetract reports whether a source retracts changed files.
func (p *pipeline) anyRetract() bool {
	return slices.ContainsFunc(p.sources, func(s *source) bool { return s.retract })
}

// mutate changes the input files: up to four new files, appended rows,
// rewritten or deleted files (sources with Retract).
func mutate(t *rapid.T, p *pipeline) {
	for range rapid.IntRange(0, 4).Draw(t, "changes") {
		s := p.sources[rapid.IntRange(0, len(p.sources)-1).Draw(t, "source")]
		switch rapid.IntRange(0, 5).Draw(t, "change") {
		case 0, 1:
			s.addFile(t)
		case 2, 3:
			if len(s.files) > 0 {
				s.appendRows(t)
			}
		case 4:
			if s.retract && len(s.files) > 0 {
				s.rewrite(t)
			}
		case 5:
			if s.retract && len(s.files) > 0 {
				s.remove(t)
			}
		}
	}
}

// committed marks the rows not committed yet as committed by execution
// run.
func (p *pipeline) committed(run int) {
	for _, s := range p.sources {
		s.committed(run)
	}
}

func describe(run int, what string) string { return fmt.Sprintf("run %d (%s)", run, what) }

// tail returns the last lines of a changelog, for failure messages.
func tail(b []byte) string {
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) > 40 {
		lines = append([]string{"...\n"}, lines[len(lines)-40:]...)
	}
	return strings.Join(lines, "")
}
