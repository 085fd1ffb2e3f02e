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
	dir := t.TempDir()
	input, storage, out := filepath.Join(dir, "in"), filepath.Join(dir, "storage"), filepath.Join(dir, "out.csv")
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
