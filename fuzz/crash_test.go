package fuzz

import (
	"context"

	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/internal/crashkit"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/tool"
	"github.com/pwlog/pwlog/vfs"
)

// crashMachine is the state of TestCrashStateMachine: a generated
// pipeline and its input files, and a root holding its storage and
// append-mode changelogs, which a crash replaces with its crash image
// and a kill leaves as the stopped execution wrote it.
type crashMachine struct {
	t    *testing.T
	h    *harness
	p    *pipeline
	root string
	// upToDate is set while the last execution finished and no input
	// came since: the changelogs must then equal the model's results.
	upToDate bool
	// clean is set while no execution crashed since the last check of a
	// finished one: the next finished one must emit exactly its
	// difference (harness.checkRun).
	clean bool
	// offsets are the source offsets committed after the last action.
	offsets record.Offsets
	crashes int
	changes int // changes of the pipeline
}

func (m *crashMachine) change(rt *rapid.T) {
	mutate(rt, m.p)
	m.upToDate = false
}

// evolve changes the pipeline (evolve_test.go) from the next execution
// on, which may crash too: the restarts run the changed pipeline. Only
// with kept inputs.
func (m *crashMachine) evolve(rt *rapid.T) {
	q, what := evolve(rt, m.p, changeKinds)
	if q == nil {
		return
	}
	if _, err := q.build(filepath.Join(os.TempDir(), "pwlog-fuzz-schema-check")); err != nil {
		rt.Fatalf("%s: %v\npipeline:\n%s", what, err, q)
	}
	m.h.change(q, what, m.upToDate)
	m.p = q
	m.upToDate = false
	m.changes++
}

// finished follows an execution that finished.
func (m *crashMachine) finished(rt *rapid.T, run int) {
	m.p.committed(run)
	what := describe(run, "finished")
	if !m.clean {
		what = describe(run, "the recovery after a crash")
	}
	if m.clean {
		m.h.checkRun(rt, m.root, what)
	} else {
		// The changelog as a whole is the model's; the next execution's
		// emitted diffs are checked from here on.
		m.h.renew()
		m.h.pending = nil
		m.h.prev = m.h.p.results()
		for _, s := range m.p.sinks {
			cs, b := m.h.changelog(rt, m.root, s)
			if got := consolidate(cs); len(got.minus(m.h.prev[s])) != 0 {
				if os.Getenv("FUZZ_DEBUG") != "" {
					for _, src := range m.p.sources {
						ents, _ := os.ReadDir(src.dir)
						for _, e := range ents {
							b, _ := os.ReadFile(filepath.Join(src.dir, e.Name()))
							rt.Logf("%s/%s:\n%s", src.name, e.Name(), b)
						}
					}
					rt.Logf("offsets %+v", m.committedOffsets(rt))
				}
				rt.Fatalf("%s: sink %s: the changelog consolidates to (+ too many, - missing):\n%s\npipeline:\n%s\nchangelog:\n%s",
					what, m.p.nodes[s].name, got.diff(m.h.prev[s]), m.p, tail(b))
			}
			m.h.seen[s] = len(cs)
			if len(cs) > 0 {
				m.h.last[s] = cs[len(cs)-1].time
			}
		}
	}
	m.clean, m.upToDate = true, true
}

func (m *crashMachine) run(rt *rapid.T) {
	run := m.h.runs
	m.h.runs++
	if err := m.h.run(m.root, vfs.Default); err != nil {
		rt.Fatalf("run %d: %v\npipeline:\n%s", run, err, m.p)
	}
	m.finished(rt, run)
}

// crashRun runs the pipeline and crashes it at a drawn mutating
// filesystem operation; the crash image, which keeps what was synced and
// a random part of the rest, becomes the root.
func (m *crashMachine) crashRun(rt *rapid.T) {
	m.stopRun(rt, true)
}

// killRun runs the pipeline and stops it at a drawn mutating filesystem
// operation, as a kill: everything written before stays.
func (m *crashMachine) killRun(rt *rapid.T) {
	m.stopRun(rt, false)
}

func (m *crashMachine) stopRun(rt *rapid.T, crash bool) {
	k := rapid.Int64Range(0, 150).Draw(rt, "k")
	run := m.h.runs
	m.h.runs++
	var stopped bool
	var err error
	if crash {
		seed := rapid.Uint64().Draw(rt, "imageSeed")
		img, hit, rerr := crashkit.CrashIn(m.t, m.root, k, seed, m.h.run)
		if stopped, err = hit != nil, rerr; stopped {
			m.root = img
		}
	} else {
		hit, rerr := crashkit.Kill(m.root, k, m.h.run)
		stopped, err = hit != nil, rerr
	}
	if !stopped {
		if err != nil {
			rt.Fatalf("run %d: %v\npipeline:\n%s", run, err, m.p)
		}
		m.finished(rt, run)
		return
	}
	m.crashes++
	m.clean, m.upToDate = false, false
	if m.h.pending != nil {
		// The stopped execution may have committed the change: the
		// recovery checks the whole changelogs only.
		m.h.pending.mid = nil
	}
	m.arrivals(rt, run)
	if os.Getenv("FUZZ_DEBUG") != "" {
		for _, s := range m.p.sinks {
			b, _ := os.ReadFile(m.p.sinkPath(m.root, s))
			rt.Logf("after the stop (%v): %s:\n%s", err, m.p.nodes[s].name, b)
		}
		info, _ := tool.Inspect(context.Background(), m.storage(), nil)
		rt.Logf("committed %+v", info.Committed)
	}
}

// arrivals marks the rows the stopped execution run committed, as the
// storage's committed offsets say.
func (m *crashMachine) arrivals(rt *rapid.T, run int) {
	offs := m.committedOffsets(rt)
	for _, s := range m.p.sources {
		for _, f := range s.files {
			rel, _ := filepath.Rel(s.dir, f.path)
			st, ok := offs[s.name][filepath.ToSlash(rel)]
			if !ok {
				continue
			}
			b, err := os.ReadFile(f.path)
			if err != nil {
				rt.Fatal(err)
			}
			h := fnv.New64a()
			if st.Offset > int64(len(b)) {
				continue
			}
			h.Write(b[:st.Offset])
			if h.Sum64() != st.Sum {
				continue // the offsets are of the file before its rewrite
			}
			for i := 0; i < int(st.Rows) && i < len(f.lines); i++ {
				if f.lines[i].arr < 0 {
					f.lines[i].arr = run
				}
			}
		}
	}
}

func (m *crashMachine) storage() string { return filepath.Join(m.root, "storage") }

func (m *crashMachine) hasStorage() bool {
	_, err := os.Stat(filepath.Join(m.storage(), base.Marker))
	return err == nil
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func (m *crashMachine) compact(rt *rapid.T) {
	if !m.hasStorage() {
		rt.Skip("no storage yet") // tool.Compact refuses a directory without the marker
	}
	if _, err := tool.Compact(context.Background(), m.storage(), &tool.CompactOptions{Logger: quiet}); err != nil {
		rt.Fatalf("compact: %v", err)
	}
}

func (m *crashMachine) crashCompact(rt *rapid.T) {
	if !m.hasStorage() {
		rt.Skip("no storage yet")
	}
	k := rapid.Int64Range(0, 60).Draw(rt, "k")
	seed := rapid.Uint64().Draw(rt, "imageSeed")
	img, hit, err := crashkit.CrashIn(m.t, m.root, k, seed, func(root string, fsys vfs.FS) error {
		_, err := tool.Compact(context.Background(), filepath.Join(root, "storage"), &tool.CompactOptions{Logger: quiet, FS: fsys})
		return err
	})
	if hit == nil {
		if err != nil {
			rt.Fatalf("compact: %v", err)
		}
		return
	}
	m.root = img
	m.crashes++
}

// committedOffsets returns the source offsets the storage under the root
// commits, as Inspect reads them; nil before there is a storage.
func (m *crashMachine) committedOffsets(rt *rapid.T) record.Offsets {
	if !m.hasStorage() {
		return nil
	}
	info, err := tool.Inspect(context.Background(), m.storage(), nil)
	if err != nil {
		rt.Fatalf("inspect: %v", err)
	}
	return info.Committed.Offsets
}

// check holds after every action: each changelog's complete times are
// in order and consolidate to no negative count; after a finished
// execution with no input since, it equals the model's result; the
// committed offsets of files never go back (sources without Retract).
func (m *crashMachine) check(rt *rapid.T) {
	results := map[int]multiset{}
	if m.upToDate {
		results = m.p.results()
	}
	for _, s := range m.p.sinks {
		name := m.p.nodes[s].name
		b, err := os.ReadFile(m.p.sinkPath(m.root, s))
		if err != nil {
			if os.IsNotExist(err) && !m.upToDate {
				continue
			}
			rt.Fatalf("sink %s: %v", name, err)
		}
		cs, err := parseChangelog(crashkit.CompleteTimes(b), m.p.nodes[s].info.cols)
		if err != nil {
			rt.Fatalf("sink %s: %v", name, err)
		}
		for i := 1; i < len(cs); i++ {
			if cs[i].time < cs[i-1].time {
				rt.Fatalf("sink %s: time %d after time %d", name, cs[i].time, cs[i-1].time)
			}
		}
		for row, n := range consolidate(cs) {
			if n < 0 {
				rt.Fatalf("sink %s: row %s has multiplicity %d\npipeline:\n%s", name, row, n, m.p)
			}
		}
		if m.upToDate {
			all, err := parseChangelog(b, m.p.nodes[s].info.cols)
			if err != nil {
				rt.Fatalf("sink %s: %v", name, err)
			}
			if got := consolidate(all); len(got.minus(results[s])) != 0 {
				rt.Fatalf("sink %s: the changelog consolidates to (+ too many, - missing):\n%s\npipeline:\n%s", name, got.diff(results[s]), m.p)
			}
		}
	}
	offs := m.committedOffsets(rt)
	for _, src := range m.p.sources {
		if src.retract {
			continue
		}
		for path, prev := range m.offsets[src.name] {
			cur, ok := offs[src.name][path]
			if !ok {
				rt.Fatalf("source %s: the committed offsets lost %s (had %d bytes)", src.name, path, prev.Offset)
			}
			if cur.Offset < prev.Offset || cur.Rows < prev.Rows {
				rt.Fatalf("source %s: the committed offset of %s went back from %d bytes, %d rows to %d bytes, %d rows",
					src.name, path, prev.Offset, prev.Rows, cur.Offset, cur.Rows)
			}
		}
	}
	m.offsets = offs
}

// TestCrashStateMachine draws a pipeline and runs random sequences of:
// change the input files, run to completion, run and crash at a random
// filesystem operation (a crash image keeping what was synced and a
// random part of the rest), run and kill at one (everything written
// kept), compact, compact and crash; and, when the storage keeps its
// inputs (half the sequences), change the pipeline (evolve_test.go),
// from the next execution on, which may crash and restart with the
// changed pipeline. After every step: each changelog's complete times
// are in order with no negative count; a finished execution emits
// exactly its difference of the model's results (the old pipeline's
// before, and after a change that came with the last execution up to
// date, the change at its first time; after a crash: the changelog as
// a whole equals the model's result); the committed offsets never go
// back. RAPID_CHECKS sets the number of sequences.
func TestCrashStateMachine(t *testing.T) {
	crashes, changes, sequences := 0, 0, 0
	rapid.Check(t, func(rt *rapid.T) {
		sequences++
		tmp := t.TempDir()
		p := genPipeline(rt, filepath.Join(tmp, "input"), genOptions{maxOps: 3, arrival: true})
		m := &crashMachine{t: t, p: p, root: filepath.Join(tmp, "root"), clean: true,
			h: newHarness(rt, p, crashConfig(rt, p))}
		if err := os.MkdirAll(m.root, 0o755); err != nil {
			t.Fatal(err)
		}
		actions := map[string]func(*rapid.T){
			"":             m.check,
			"change":       m.change,
			"run":          m.run,
			"crashRun":     m.crashRun,
			"killRun":      m.killRun,
			"compact":      m.compact,
			"crashCompact": m.crashCompact,
		}
		if m.h.cfg.keep {
			actions["evolve"] = m.evolve
		}
		rt.Repeat(actions)
		crashes += m.crashes
		changes += m.changes
	})
	logDrawn(t, sequences, 1<<30)
	t.Logf("%d crashes and kills, %d changes of the pipeline over %d sequences", crashes, changes, sequences)
	if crashes == 0 {
		t.Error("no sequence crashed: the machine tests nothing of recovery")
	}
}
