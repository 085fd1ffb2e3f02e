package pwlog_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/tool"
)

// scratchSessions returns the sessions table of the tutorial pipeline
// with max gap gap over the files of dirs, computed from nothing.
func scratchSessions(t *testing.T, gap int64, dirs ...string) []string {
	t.Helper()
	in := filepath.Join(t.TempDir(), "in")
	if err := os.Mkdir(in, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		copyFiles(t, d, in)
	}
	out := filepath.Join(t.TempDir(), "out.csv")
	p := pwlog.New()
	tutorial.Sessions(p, in, gap).WriteCSV("output", out)
	if err := p.Run(context.Background(), quietConfig("")); err != nil {
		t.Fatal(err)
	}
	return consolidatedSigned(readSink(t, out))
}

// minus returns the signed difference of two tables of "row=n" strings.
func minus(a, b []string) []string {
	var lines []sinkLine
	for _, s := range a {
		lines = append(lines, tableLine(s, 1))
	}
	for _, s := range b {
		lines = append(lines, tableLine(s, -1))
	}
	return consolidatedSigned(lines)
}

func tableLine(s string, sign int64) sinkLine {
	i := strings.LastIndexByte(s, '=')
	n, _ := parseInt(s[i+1:])
	return sinkLine{row: s[:i], diff: sign * n}
}

func parseInt(s string) (int64, error) {
	var n int64
	neg := strings.HasPrefix(s, "-")
	for _, c := range strings.TrimPrefix(s, "-") {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
}

// The example: sessions with gap 300 over two runs, then gap 600
// and a new input file: the change is the exact difference, at one
// logical time, and later runs go on with 600.
func TestEvolveSessionGap(t *testing.T) {
	defer pwlog.SetRecordChunk(100)()
	evolveSessionGap(t, filepath.Join(t.TempDir(), "storage"))
}

// The same in every object store, where the run that changes the gap
// starts from an empty cache, as on another machine.
func TestEvolveSessionGapObjectStore(t *testing.T) {
	eachObjectStore(t, func(t *testing.T, _ objectStore, loc string, _ []string) {
		evolveSessionGap(t, loc)
	})
}

func evolveSessionGap(t *testing.T, storage string) {
	dir := t.TempDir()
	input, out := filepath.Join(dir, "in"), filepath.Join(dir, "out.csv")
	if err := os.Mkdir(input, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(gap int64, keep bool) error {
		p := pwlog.New()
		tutorial.Sessions(p, input, gap).WriteCSV("output", out, pwlog.SinkOptions{Append: true})
		cfg := quietConfig(storage)
		cfg.KeepInputs = keep
		return p.Run(context.Background(), cfg)
	}
	copyFiles(t, "testdata/tutorial/run1", input)
	if err := run(300, true); err != nil {
		t.Fatal(err)
	}
	copyFiles(t, "testdata/tutorial/run2", input)
	if err := run(300, true); err != nil {
		t.Fatal(err)
	}
	before := readSink(t, out)
	if got, want := consolidatedSigned(before), scratchSessions(t, 300, "testdata/tutorial/run1", "testdata/tutorial/run2"); !slices.Equal(got, want) {
		t.Fatalf("before the change:\n got %v\nwant %v", got, want)
	}
	copyFiles(t, "testdata/tutorial/run3", input)
	if objectStoreConfig(&pwlog.Config{}, storage) {
		freshCache(t, storage)
	}
	if err := run(600, true); err != nil {
		t.Fatal(err)
	}
	after := readSink(t, out)
	added := after[len(before):]
	if len(added) == 0 {
		t.Fatal("the change run emitted nothing")
	}
	change := added[0].time
	var atChange []sinkLine
	for _, l := range added {
		if l.time == change {
			atChange = append(atChange, l)
		}
	}
	want := minus(scratchSessions(t, 600, "testdata/tutorial/run1", "testdata/tutorial/run2"), scratchSessions(t, 300, "testdata/tutorial/run1", "testdata/tutorial/run2"))
	if got := consolidatedSigned(atChange); !slices.Equal(got, want) {
		t.Fatalf("the change's time %d:\n got %v\nwant %v", change, got, want)
	}
	if len(want) == 0 {
		t.Fatal("gap 600 changes nothing in the tutorial's data: the test proves nothing")
	}
	all := []string{"testdata/tutorial/run1", "testdata/tutorial/run2", "testdata/tutorial/run3"}
	if got, want := consolidatedSigned(after), scratchSessions(t, 600, all...); !slices.Equal(got, want) {
		t.Fatalf("after the change:\n got %v\nwant %v", got, want)
	}
	// Later runs go on with 600.
	if err := os.WriteFile(filepath.Join(input, "4.csv"), []byte("user_id,access_time\nalice,1700005000\nbob,1700000350\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(600, true); err != nil {
		t.Fatal(err)
	}
	extra := t.TempDir()
	if err := os.WriteFile(filepath.Join(extra, "4.csv"), []byte("user_id,access_time\nalice,1700005000\nbob,1700000350\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := consolidatedSigned(readSink(t, out)), scratchSessions(t, 600, append(all, extra)...); !slices.Equal(got, want) {
		t.Fatalf("the run after the change:\n got %v\nwant %v", got, want)
	}
}

// Without kept inputs the change is refused, naming the option, and the
// storage goes on with the old pipeline.
func TestEvolveRefusedWithoutKeptInputs(t *testing.T) {
	dir := t.TempDir()
	input, storage, out := filepath.Join(dir, "in"), filepath.Join(dir, "storage"), filepath.Join(dir, "out.csv")
	if err := os.Mkdir(input, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(gap int64) error {
		p := pwlog.New()
		tutorial.Sessions(p, input, gap).WriteCSV("output", out, pwlog.SinkOptions{Append: true})
		return p.Run(context.Background(), quietConfig(storage))
	}
	copyFiles(t, "testdata/tutorial/run1", input)
	if err := run(300); err != nil {
		t.Fatal(err)
	}
	copyFiles(t, "testdata/tutorial/run2", input)
	err := run(600)
	if !errors.Is(err, pwlog.ErrPipelineChanged) || !strings.Contains(err.Error(), "KeepInputs") || !strings.Contains(err.Error(), "-keep-inputs") {
		t.Fatalf("got %v, want ErrPipelineChanged naming KeepInputs and -keep-inputs", err)
	}
	if err := run(300); err != nil {
		t.Fatal(err)
	}
	if got, want := consolidatedSigned(readSink(t, out)), scratchSessions(t, 300, "testdata/tutorial/run1", "testdata/tutorial/run2"); !slices.Equal(got, want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

// A sink added to a storage that keeps inputs receives its whole table
// at its first time; a removed operator's state leaves the checkpoint.
func TestEvolveNewSinkAndRemovedOperator(t *testing.T) {
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "in"), filepath.Join(dir, "storage")
	out, second := filepath.Join(dir, "out.csv"), filepath.Join(dir, "second.csv")
	if err := os.Mkdir(input, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := quietConfig(storage)
	cfg.KeepInputs = true
	copyFiles(t, "testdata/tutorial/run1", input)
	p := pwlog.New()
	stats := tutorial.Sessions(p, input, 300)
	stats.WriteCSV("output", out, pwlog.SinkOptions{Append: true})
	// An operator the next run removes, with its sink.
	stats.GroupBy("user_id").Reduce("per_user", pwlog.Out("user_id", pwlog.Col("user_id")), pwlog.Out("n", pwlog.Count())).
		WriteCSV("per_user_out", filepath.Join(dir, "per_user.csv"), pwlog.SinkOptions{Append: true})
	if err := p.Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	copyFiles(t, "testdata/tutorial/run2", input)
	p = pwlog.New()
	stats = tutorial.Sessions(p, input, 300)
	stats.WriteCSV("output", out, pwlog.SinkOptions{Append: true})
	stats.WriteCSV("second", second, pwlog.SinkOptions{Append: true})
	if err := p.Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	want := scratchSessions(t, 300, "testdata/tutorial/run1", "testdata/tutorial/run2")
	for _, f := range []string{out, second} {
		if got := consolidatedSigned(readSink(t, f)); !slices.Equal(got, want) {
			t.Fatalf("%s:\n got %v\nwant %v", f, got, want)
		}
	}
	// The new sink's first time holds run 1's table, before run 2's rows.
	lines := readSink(t, second)
	first := lines[0].time
	var atFirst []sinkLine
	for _, l := range lines {
		if l.time == first {
			atFirst = append(atFirst, l)
		}
	}
	if got, want := consolidatedSigned(atFirst), scratchSessions(t, 300, "testdata/tutorial/run1"); !slices.Equal(got, want) {
		t.Fatalf("the new sink's first time:\n got %v\nwant %v", got, want)
	}
	info, err := tool.Inspect(t.Context(), storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k := range info.Catalog.Arrangements {
		if strings.HasPrefix(k, "per_user/") {
			t.Fatalf("the removed operator's arrangement %s is still catalogued", k)
		}
	}
	if info.Checkpoint == nil {
		t.Fatal("no checkpoint")
	}
	for _, a := range info.Checkpoint.Arrangements {
		if a.Operator == "per_user" {
			t.Fatalf("the checkpoint still holds runs of the removed operator: %+v", a)
		}
	}
}

// Config.Resnapshot writes a sink's whole table into a new file when its
// old one is gone, then goes on with its deltas.
func TestResnapshotOption(t *testing.T) {
	ts := newTutorialStorage(t)
	keep := func(c *pwlog.Config) { c.KeepInputs = true }
	ts.runs(keep, tutorialRunDirs[:2]...)
	if err := os.Remove(ts.out); err != nil {
		t.Fatal(err)
	}
	if err := ts.run(keep); err == nil || !strings.Contains(err.Error(), "output") {
		t.Fatalf("a lost changelog: got %v, want an error naming the sink", err)
	}
	copyFiles(t, tutorialRunDirs[2], ts.input)
	if err := ts.run(func(c *pwlog.Config) { c.KeepInputs, c.Resnapshot = true, []string{"output"} }); err != nil {
		t.Fatal(err)
	}
	lines := readSink(t, ts.out)
	var snap []sinkLine
	for _, l := range lines {
		if l.time == lines[0].time {
			snap = append(snap, l)
		}
	}
	if got, want := consolidatedSigned(snap), scratchSessions(t, 300, tutorialRunDirs[:2]...); !slices.Equal(got, want) {
		t.Fatalf("the snapshot:\n got %v\nwant %v", got, want)
	}
	if got, want := consolidatedSigned(lines), scratchSessions(t, 300, tutorialRunDirs...); !slices.Equal(got, want) {
		t.Fatalf("after the snapshot:\n got %v\nwant %v", got, want)
	}
	// The next execution resumes the new file.
	if err := ts.run(keep); err != nil {
		t.Fatal(err)
	}
	if got := readSink(t, ts.out); len(got) != len(lines) {
		t.Fatalf("a run with nothing new wrote %d lines", len(got)-len(lines))
	}
}
