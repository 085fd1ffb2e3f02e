package pwlog_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/tool"
)

var tutorialRunDirs = []string{"testdata/tutorial/run1", "testdata/tutorial/run2", "testdata/tutorial/run3"}

// tutorialStorage is a tutorial pipeline writing an append-mode sink,
// run with a configuration.
type tutorialStorage struct {
	t                   *testing.T
	input, storage, out string
}

func newTutorialStorage(t *testing.T) *tutorialStorage {
	dir := t.TempDir()
	ts := &tutorialStorage{t: t, input: filepath.Join(dir, "in"), storage: filepath.Join(dir, "storage"), out: filepath.Join(dir, "out.csv")}
	if err := os.Mkdir(ts.input, 0o755); err != nil {
		t.Fatal(err)
	}
	return ts
}

// runs runs the pipeline once after copying each of dirs into the input.
func (ts *tutorialStorage) runs(set func(*pwlog.Config), dirs ...string) {
	ts.t.Helper()
	for _, d := range dirs {
		copyFiles(ts.t, d, ts.input)
		if err := ts.run(set); err != nil {
			ts.t.Fatal(err)
		}
	}
}

func (ts *tutorialStorage) run(set func(*pwlog.Config)) error {
	p := pwlog.New()
	tutorial.Sessions(p, ts.input, 300).WriteCSV("output", ts.out, pwlog.SinkOptions{Append: true})
	cfg := quietConfig(ts.storage)
	if set != nil {
		set(&cfg)
	}
	return p.Run(context.Background(), cfg)
}

// Each persistence mode keeps the changelog exact across runs; the modes
// that recompute keep no operator state.
func TestModesAcrossRuns(t *testing.T) {
	for _, tc := range []struct {
		name    string
		set     func(*pwlog.Config)
		opState bool
	}{
		{"state", nil, true},
		{"state+keep-inputs", func(c *pwlog.Config) { c.KeepInputs = true }, true},
		{"inputs", func(c *pwlog.Config) { c.Mode = pwlog.PersistInputs }, false},
		{"selective-named", func(c *pwlog.Config) { c.Mode, c.Persist = pwlog.PersistSelective, []string{"accesses"} }, false},
		{"selective-none", func(c *pwlog.Config) { c.Mode = pwlog.PersistSelective }, false},
		{"udf-cache", func(c *pwlog.Config) { c.Mode = pwlog.PersistUDFCache }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTutorialStorage(t)
			var prev []string
			emitted := 0
			var clock uint64
			for i, d := range tutorialRunDirs {
				copyFiles(t, d, ts.input)
				for again := range 2 { // the second run of each finds nothing new
					if err := ts.run(tc.set); err != nil {
						t.Fatal(err)
					}
					info, err := tool.Inspect(t.Context(), ts.storage, nil)
					if err != nil {
						t.Fatal(err)
					}
					// It commits nothing either, not even in the modes that
					// recompute at every restart.
					if again == 1 && info.Clock != clock {
						t.Fatalf("run %d again: the clock went from %d to %d", i+1, clock, info.Clock)
					}
					clock = info.Clock
					lines := readSink(t, ts.out)
					table := scratchSessions(t, 300, tutorialRunDirs[:i+1]...)
					if got := consolidatedSigned(lines); !slices.Equal(got, table) {
						t.Fatalf("after run %d:\n got %v\nwant %v", i+1, got, table)
					}
					// The run emitted the difference and nothing else: no row
					// retracted and inserted again.
					if got, want := len(lines)-emitted, len(minus(table, prev)); got != want {
						t.Fatalf("run %d emitted %d lines, want the %d of the difference: %v", i+1, got, want, lines[emitted:])
					}
					prev, emitted = table, len(lines)
				}
			}
			info, err := tool.Inspect(t.Context(), ts.storage, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, has := info.Catalog.Arrangements["sessions/by_instance"]
			if has != tc.opState {
				t.Fatalf("the storage keeps the session window's state: %v, want %v (catalog %v)", has, tc.opState, info.Catalog.Arrangements)
			}
		})
	}
}

// A replay that stops re-derives the table as of the last committed time
// into a fresh file and reads nothing new; the storage is unchanged.
func TestStopAfterReplay(t *testing.T) {
	ts := newTutorialStorage(t)
	keep := func(c *pwlog.Config) { c.KeepInputs = true }
	ts.runs(keep, tutorialRunDirs[:2]...)
	before := readSink(t, ts.out)
	wal := walBytes(t, ts.storage)
	copyFiles(t, tutorialRunDirs[2], ts.input)
	if err := ts.run(func(c *pwlog.Config) { c.KeepInputs, c.StopAfterReplay = true, true }); err != nil {
		t.Fatal(err)
	}
	got := readSink(t, ts.out)
	if want := consolidatedSigned(before); !slices.Equal(consolidatedSigned(got), want) {
		t.Fatalf("replay:\n got %v\nwant %v", consolidatedSigned(got), want)
	}
	last := before[len(before)-1].time
	for _, l := range got {
		if l.time != last || l.diff <= 0 {
			t.Fatalf("replay line %+v: want the table at time %d, with positive multiplicities", l, last)
		}
	}
	if w := walBytes(t, ts.storage); w != wal {
		t.Fatalf("the replay wrote to the log: %d bytes, was %d", w, wal)
	}
	// Without sink tables there is nothing to re-derive from.
	other := newTutorialStorage(t)
	copyFiles(t, tutorialRunDirs[0], other.input)
	if err := other.run(nil); err != nil {
		t.Fatal(err)
	}
	if err := other.run(func(c *pwlog.Config) { c.StopAfterReplay = true }); err == nil || !strings.Contains(err.Error(), "KeepInputs") {
		t.Fatalf("got %v, want an error naming KeepInputs", err)
	}
}
