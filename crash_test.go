// Crash tests: a run, or a compaction of a stopped storage, stops at a
// mutating filesystem operation as if the machine had died there, and the
// disk keeps what was synced and a random part of the rest (a crash image,
// vfs.Recorder). The next run must recover from every such image: nothing
// the crashed run had committed or written to the changelog is lost, no
// time is emitted twice, the changelog equals the from-scratch result, and
// Verify finds no damage in what a crash leaves. The kit is in
// crash_kit_test.go.
//
// Quick (what go test runs): every crash point with 2 images each, and
// RAPID_CHECKS (default 100) sequences of the state machine. Long, as
// `make fuzz` runs them:
//
//	PWLOG_CRASH_SEEDS=16 go test -timeout 120m -run TestCrashAtEveryOperation .
//	RAPID_CHECKS=500 go test -timeout 120m -run TestCrashStateMachine -rapid.seed=N .
//
// PWLOG_CRASH_STRIDE=s tries every s-th crash point only. A failure names
// its crash point and seed (k=.. seed=..), or rapid's fail file
// (-rapid.failfile=...) to replay it.

package pwlog_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/internal/crashkit"
	"github.com/pwlog/pwlog/internal/model"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/sources"
	"github.com/pwlog/pwlog/tool"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/vfs/errorfs"
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

// crashMachine is the state of TestCrashStateMachine: a CSV directory the
// actions add files and rows to, and a root holding the storage and the
// append-mode changelog, which a crash replaces with its crash image.
type crashMachine struct {
	t     *testing.T
	setup crashSetup
	root  string
	files []string // input files, in creation order
	seq   int      // input files made so far
	// upToDate is set while the last run finished and no input came
	// since: the changelog must then equal the from-scratch result.
	upToDate bool
	// offsets are the source offsets committed after the last action.
	offsets map[string]sources.FileState
	crashes int
}

func (m *crashMachine) addFile(rt *rapid.T) {
	rows := rapid.IntRange(0, 30).Draw(rt, "rows")
	writeInput(m.t, m.setup.input, rapid.Uint64().Draw(rt, "seed"), 1, m.seq, rows)
	m.files = append(m.files, filepath.Join(m.setup.input, fmt.Sprintf("part_%05d.csv", m.seq)))
	m.seq++
	m.upToDate = false
}

func (m *crashMachine) appendRows(rt *rapid.T) {
	if len(m.files) == 0 {
		rt.Skip("no file to append to")
	}
	path := rapid.SampledFrom(m.files).Draw(rt, "file")
	n := rapid.IntRange(1, 10).Draw(rt, "rows")
	var b strings.Builder
	for range n {
		fmt.Fprintf(&b, "u%d,%d\n", rapid.IntRange(0, 3).Draw(rt, "user"),
			1701100000+rapid.Int64Range(0, 3000).Draw(rt, "time"))
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		m.t.Fatal(err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		m.t.Fatal(err)
	}
	f.Close()
	m.upToDate = false
}

func (m *crashMachine) run(rt *rapid.T) {
	if err := m.setup.run(m.root, vfs.Default); err != nil {
		rt.Fatalf("run: %v", err)
	}
	m.upToDate = true
}

func (m *crashMachine) compact(rt *rapid.T) {
	if _, err := os.Stat(filepath.Join(m.root, "storage", base.Marker)); err != nil {
		rt.Skip("no storage yet") // tool.Compact refuses a directory without the marker
	}
	if _, err := tool.Compact(context.Background(), filepath.Join(m.root, "storage"),
		&tool.CompactOptions{Logger: quietConfig("").Logger}); err != nil {
		rt.Fatalf("compact: %v", err)
	}
}

// crashAt runs act on the root, crashing it at a drawn mutating
// operation, and makes the crash image the root.
func (m *crashMachine) crashAt(rt *rapid.T, act func(root string, fsys vfs.FS) error) (crashed bool, err error) {
	k := rapid.Int64Range(0, 120).Draw(rt, "k")
	seed := rapid.Uint64().Draw(rt, "imageSeed")
	rec, rerr := vfs.NewRecorder(m.root)
	if rerr != nil {
		m.t.Fatal(rerr)
	}
	at := errorfs.NewOnIndex(k, syscall.EIO, errorfs.Mutating)
	err = act(m.root, errorfs.Wrap(rec, errorfs.NewSticky(at)))
	if at.Hit() == nil {
		return false, err
	}
	img := filepath.Join(m.t.TempDir(), "img")
	if err := rec.CrashImage(rand.New(rand.NewPCG(seed, uint64(k))), img); err != nil {
		m.t.Fatal(err)
	}
	m.root = img
	m.crashes++
	return true, nil
}

func (m *crashMachine) crashRun(rt *rapid.T) {
	crashed, err := m.crashAt(rt, m.setup.run)
	if crashed {
		m.upToDate = false
		return
	}
	if err != nil {
		rt.Fatalf("run: %v", err)
	}
	m.upToDate = true
}

func (m *crashMachine) crashCompact(rt *rapid.T) {
	if _, err := os.Stat(filepath.Join(m.root, "storage", base.Marker)); err != nil {
		rt.Skip("no storage yet") // tool.Compact refuses a directory without the marker
	}
	crashed, err := m.crashAt(rt, func(root string, fsys vfs.FS) error {
		_, err := tool.Compact(context.Background(), filepath.Join(root, "storage"),
			&tool.CompactOptions{Logger: quietConfig("").Logger, FS: fsys})
		return err
	})
	if !crashed && err != nil {
		rt.Fatalf("compact: %v", err)
	}
}

// check holds after every action: the changelog's complete times are in
// order and consolidate to rows of multiplicity 0 or 1; after a finished
// run with no input since, it equals the from-scratch result; the
// committed source offsets never go backwards.
func (m *crashMachine) check(rt *rapid.T) {
	out := filepath.Join(m.root, "out.csv")
	b, err := os.ReadFile(out)
	if err != nil {
		if os.IsNotExist(err) && !m.upToDate {
			return
		}
		rt.Fatalf("changelog: %v", err)
	}
	lines, err := parseChangelog(crashkit.CompleteTimes(b))
	if err != nil {
		rt.Fatalf("%v", err)
	}
	count := map[string]int64{}
	for i, l := range lines {
		if i > 0 && l.time < lines[i-1].time {
			rt.Fatalf("time %d after time %d", l.time, lines[i-1].time)
		}
		count[l.row] += l.diff
	}
	for row, n := range count {
		if n != 0 && n != 1 {
			rt.Fatalf("row %s has multiplicity %d", row, n)
		}
	}
	if m.upToDate {
		all, err := parseChangelog(b)
		if err != nil {
			rt.Fatalf("%v", err)
		}
		acc, err := model.Accesses(m.setup.input)
		if err != nil {
			m.t.Fatal(err)
		}
		want := consolidatedSigned(signedLines(model.Diff(nil, model.Strings(model.Sessions(acc, 300)))))
		if got := consolidatedSigned(all); !slices.Equal(got, want) {
			rt.Fatalf("the changelog consolidates to\n%v\nwant\n%v", got, want)
		}
	}
	offs := committedOffsets(m.t, m.setup, m.root)
	for path, prev := range m.offsets {
		cur, ok := offs[path]
		if !ok {
			rt.Fatalf("the committed offsets lost %s (had %d bytes)", path, prev.Offset)
		}
		if cur.Offset < prev.Offset || cur.Rows < prev.Rows {
			rt.Fatalf("the committed offset of %s went back from %d bytes, %d rows to %d bytes, %d rows",
				path, prev.Offset, prev.Rows, cur.Offset, cur.Rows)
		}
	}
	m.offsets = offs
}

// parseChangelog parses the data lines of a changelog's bytes.
func parseChangelog(b []byte) ([]sinkLine, error) {
	var out []sinkLine
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if i == 0 || line == "" {
			continue
		}
		l, ok := parseSinkLine(line)
		if !ok {
			return nil, fmt.Errorf("changelog line %d: %q", i+1, line)
		}
		out = append(out, l)
	}
	return out, nil
}

// committedOffsets returns the offsets of the accesses source committed
// in the storage under root, recovered from a copy.
func committedOffsets(t *testing.T, c crashSetup, root string) map[string]sources.FileState {
	t.Helper()
	storage := filepath.Join(root, "storage")
	if _, err := os.Stat(storage); err != nil {
		return nil
	}
	cp := crashkit.CopyTree(t, storage)
	p := pwlog.New()
	tutorial.Sessions(p, c.input, 300).WriteCSV("output", filepath.Join(root, "out.csv"), pwlog.SinkOptions{Append: true})
	offs, err := pwlog.RecoveredOffsets(p, quietConfig(cp))
	if err != nil {
		t.Fatalf("recover a copy of %s: %v", storage, err)
	}
	return offs["accesses"]
}

// TestCrashStateMachine runs random sequences of: add a CSV file, append
// rows to one, run to completion, run and crash at a random filesystem
// operation, compact, compact and crash; every crash image keeps what was
// synced and a random part of the rest. After every step: the changelog
// is in time order with no row counted twice, a finished run's changelog
// equals the from-scratch result over the input, and the committed source
// offsets never go back. RAPID_CHECKS sets the number of sequences.
func TestCrashStateMachine(t *testing.T) {
	crashes, sequences := 0, 0
	rapid.Check(t, func(rt *rapid.T) {
		sequences++
		tmp := t.TempDir()
		m := &crashMachine{t: t, root: filepath.Join(tmp, "root"), setup: crashSetup{
			input: filepath.Join(tmp, "input"),
			batch: rapid.SampledFrom([]int{3, 8, 1 << 16}).Draw(rt, "batchRows"),
			// 1 byte: a background compaction after nearly every commit.
			compactBytes: rapid.SampledFrom([]int64{-1, 1, 0}).Draw(rt, "compactBytes"),
			interval:     rapid.Bool().Draw(rt, "interval"),
			tiny:         rapid.Bool().Draw(rt, "tiny"),
		}}
		os.MkdirAll(m.setup.input, 0o755)
		os.MkdirAll(m.root, 0o755)
		rt.Repeat(map[string]func(*rapid.T){
			"":             m.check,
			"addFile":      m.addFile,
			"appendRows":   m.appendRows,
			"run":          m.run,
			"crashRun":     m.crashRun,
			"compact":      m.compact,
			"crashCompact": m.crashCompact,
		})
		crashes += m.crashes
	})
	t.Logf("%d crash images over %d sequences", crashes, sequences)
	if crashes == 0 {
		t.Error("no sequence crashed: the machine tests nothing of recovery")
	}
}
