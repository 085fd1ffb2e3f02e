package pwlog_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/tool"
)

// streamRun is a streaming execution of the tutorial pipeline, append
// mode, running in a goroutine until stop.
type streamRun struct {
	cancel context.CancelFunc
	done   chan error
}

func startStreaming(t *testing.T, input, output, storage string) *streamRun {
	t.Helper()
	p := pwlog.New()
	tutorial.Sessions(p, input, 300, pwlog.FileOptions{Streaming: true, PollInterval: 10 * time.Millisecond}).
		WriteCSV("output", output, pwlog.SinkOptions{Append: true})
	cfg := quietConfig(storage)
	cfg.AutocommitDuration = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	r := &streamRun{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx, cfg) }()
	return r
}

// stop cancels the run and checks that Run returns nil.
func (r *streamRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("streaming Run after cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("streaming Run did not return after cancel")
	}
}

// appendTo appends body to the file name of dir, creating it.
func appendTo(t *testing.T, dir, name, body string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(body); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitConsolidates waits until the sink consolidates to the from-scratch
// result of the complete lines of input: the sink's rows arrive while
// the run goes on.
func waitConsolidates(t *testing.T, what, output, input string) {
	t.Helper()
	ok := func() bool {
		if _, err := os.Stat(output); err != nil {
			return false
		}
		ft := &fakeT{TB: t}
		func() {
			defer func() { recover() }()
			checkChangelog(ft, what, output, input)
		}()
		return !ft.failed
	}
	waitFor(t, what, ok)
}

// fakeT records a failure instead of stopping the test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Fatal(args ...any)                 { f.failed = true; panic(f) }
func (f *fakeT) Fatalf(format string, args ...any) { f.failed = true; panic(f) }
func (f *fakeT) Helper()                           {}

// TestStreamingRun: a streaming run reads a file, lines appended to it
// (some in two pieces, the first without its line end) and a new file,
// and returns nil when cancelled; its changelog consolidates to the
// from-scratch result, and a second streaming run over the same storage
// goes on exactly.
func TestStreamingRun(t *testing.T) {
	input := t.TempDir()
	out := filepath.Join(t.TempDir(), "sessions.csv")
	storage := t.TempDir()

	appendTo(t, input, "a.csv", "user_id,access_time\nbob,100\nalice,200\n")
	r := startStreaming(t, input, out, storage)
	waitConsolidates(t, "first file", out, input)

	// want holds the complete lines of input: what the sink must show.
	want := t.TempDir()
	copyFiles(t, input, want)
	appendTo(t, input, "a.csv", "erin,1\nbob,2")
	appendTo(t, want, "a.csv", "erin,1\n")
	waitConsolidates(t, "a line and a half", out, want)
	// The half line stays unread over many polls and autocommits.
	time.Sleep(200 * time.Millisecond)
	checkChangelog(t, "a half line", out, want)
	appendTo(t, input, "a.csv", "50\ncarol,1000\nalice,1")
	appendTo(t, want, "a.csv", "bob,250\ncarol,1000\n")
	waitConsolidates(t, "a completed line and another half", out, want)
	appendTo(t, input, "a.csv", "00\n")
	appendTo(t, input, "b.csv", "user_id,access_time\ndave,5\nbob,600\n")
	waitConsolidates(t, "appended lines and a new file", out, input)
	r.stop(t)
	checkChangelog(t, "after the first streaming run", out, input)

	r = startStreaming(t, input, out, storage)
	appendTo(t, input, "b.csv", "dave,90")
	appendTo(t, input, "b.csv", "0\nerin,7\n")
	appendTo(t, input, "c.csv", "user_id,access_time\nalice,150\n")
	waitConsolidates(t, "second run", out, input)
	r.stop(t)
	checkChangelog(t, "after the second streaming run", out, input)
}

// TestStreamingQuiet: a streaming pipeline whose input does not change
// commits nothing, over many autocommit windows.
func TestStreamingQuiet(t *testing.T) {
	input := t.TempDir()
	out := filepath.Join(t.TempDir(), "sessions.csv")
	storage := t.TempDir()
	appendTo(t, input, "a.csv", "user_id,access_time\nbob,100\nalice,200\n")
	r := startStreaming(t, input, out, storage)
	waitConsolidates(t, "first file", out, input)
	clock := func() uint64 {
		info, err := tool.Inspect(context.Background(), storage, nil)
		if err != nil {
			t.Fatal(err)
		}
		return info.Clock
	}
	before := clock()
	if before == 0 {
		t.Fatal("no committed time")
	}
	time.Sleep(300 * time.Millisecond) // 15 autocommit windows, 30 polls
	if after := clock(); after != before {
		t.Fatalf("a quiet source committed: clock %d, then %d", before, after)
	}
	r.stop(t)
	checkChangelog(t, "quiet run", out, input)
}

// TestSessionsStreamingSIGTERM: the built example in streaming mode reads
// what is appended while it runs and, on SIGTERM, exits 0 having written
// every complete line's deltas; it logs what it committed.
func TestSessionsStreamingSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildSessions(t)
	input := t.TempDir()
	out := filepath.Join(t.TempDir(), "sessions.csv")
	storage := t.TempDir()
	appendTo(t, input, "a.csv", "user_id,access_time\nbob,100\n")
	for run := range 2 {
		var stderr strings.Builder
		cmd := exec.Command(bin, "-input", input, "-output", out, "-storage", storage, "-append",
			"-mode", "streaming", "-autocommit-duration", "20ms")
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitConsolidates(t, "start", out, input)
		appendTo(t, input, "a.csv", "alice,"+strconv.Itoa(200+run)+"\n")
		appendTo(t, input, "b"+strconv.Itoa(run)+".csv", "user_id,access_time\nbob,"+strconv.Itoa(300+run*1000)+"\n")
		waitConsolidates(t, "appended", out, input)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("run %d: %v after SIGTERM; stderr:\n%s", run, err, stderr.String())
		}
		if !strings.Contains(stderr.String(), "Run stopped") {
			t.Fatalf("run %d: no log of what was committed:\n%s", run, stderr.String())
		}
		checkChangelog(t, "after SIGTERM", out, input)
	}
}

// TestStreamingRetract: with Retract, a file rewritten or deleted while a
// streaming run goes on is retracted in a later time, as at a restart.
func TestStreamingRetract(t *testing.T) {
	input := t.TempDir()
	out := filepath.Join(t.TempDir(), "sessions.csv")
	storage := t.TempDir()
	appendTo(t, input, "a.csv", "user_id,access_time\nbob,100\nalice,200\n")
	appendTo(t, input, "b.csv", "user_id,access_time\ncarol,5\n")
	p := pwlog.New()
	tutorial.Sessions(p, input, 300, pwlog.FileOptions{Streaming: true, Retract: true, PollInterval: 10 * time.Millisecond}).
		WriteCSV("output", out, pwlog.SinkOptions{Append: true})
	cfg := quietConfig(storage)
	cfg.AutocommitDuration = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	r := &streamRun{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx, cfg) }()
	waitConsolidates(t, "start", out, input)
	if err := os.WriteFile(filepath.Join(input, "a.csv"), []byte("user_id,access_time\nbob,7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitConsolidates(t, "a rewritten file", out, input)
	if err := os.Remove(filepath.Join(input, "b.csv")); err != nil {
		t.Fatal(err)
	}
	waitConsolidates(t, "a deleted file", out, input)
	r.stop(t)
	checkChangelog(t, "after the run", out, input)
}

// runCopy runs a streaming pipeline copying the CSV files of input to
// output (append mode) until the test ends.
func runCopy(t *testing.T, input, output string, opts pwlog.FileOptions) {
	t.Helper()
	p := pwlog.New()
	p.ReadCSV("in", input, pwlog.Schema{{Name: "k", Type: pwlog.TypeStr}}, opts).
		WriteCSV("out", output, pwlog.SinkOptions{Append: true})
	cfg := quietConfig(t.TempDir())
	cfg.AutocommitDuration = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	r := &streamRun{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx, cfg) }()
	t.Cleanup(func() { r.stop(t) })
}

// sinkHas waits, at most within, for the sink file to hold word.
func sinkHas(t *testing.T, output, word string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		b, _ := os.ReadFile(output)
		if strings.Contains(string(b), word) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not in the sink %s after %v; it holds:\n%s", word, output, within, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestStreamWatchWakes: with the directories watched, a line appended to
// a file, a new file and a file in a new subdirectory reach the sink well
// before a PollInterval of 5 s would look again.
func TestStreamWatchWakes(t *testing.T) {
	input := t.TempDir()
	out := filepath.Join(t.TempDir(), "out.csv")
	appendTo(t, input, "a.csv", "k\nfirst\n")
	runCopy(t, input, out, pwlog.FileOptions{Streaming: true, PollInterval: 5 * time.Second})
	sinkHas(t, out, "first", 20*time.Second)

	appendTo(t, input, "a.csv", "second\n")
	sinkHas(t, out, "second", 2*time.Second)
	appendTo(t, input, "b.csv", "k\nthird\n")
	sinkHas(t, out, "third", 2*time.Second)
	if err := os.MkdirAll(filepath.Join(input, "sub", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	appendTo(t, filepath.Join(input, "sub", "deeper"), "c.csv", "k\nfourth\n")
	sinkHas(t, out, "fourth", 2*time.Second)
	appendTo(t, filepath.Join(input, "sub", "deeper"), "c.csv", "fifth\n")
	sinkHas(t, out, "fifth", 2*time.Second)
}

// TestStreamPollOption: with Poll the source polls every PollInterval
// and appended lines arrive as promptly.
func TestStreamPollOption(t *testing.T) {
	input := t.TempDir()
	out := filepath.Join(t.TempDir(), "out.csv")
	appendTo(t, input, "a.csv", "k\nfirst\n")
	runCopy(t, input, out, pwlog.FileOptions{Streaming: true, Poll: true, PollInterval: 50 * time.Millisecond})
	sinkHas(t, out, "first", 20*time.Second)
	appendTo(t, input, "a.csv", "second\n")
	sinkHas(t, out, "second", 2*time.Second)
	if err := os.MkdirAll(filepath.Join(input, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	appendTo(t, filepath.Join(input, "sub"), "c.csv", "k\nthird\n")
	sinkHas(t, out, "third", 2*time.Second)
}

// TestStreamWatchPartialLine: a watched source reads a last line without
// its line end once the file has been quiet for PartialLineTimeout,
// though no event comes then.
func TestStreamWatchPartialLine(t *testing.T) {
	input := t.TempDir()
	out := filepath.Join(t.TempDir(), "out.csv")
	appendTo(t, input, "a.csv", "k\nfirst\n")
	runCopy(t, input, out, pwlog.FileOptions{Streaming: true, PollInterval: 5 * time.Second, PartialLineTimeout: 200 * time.Millisecond})
	sinkHas(t, out, "first", 20*time.Second)
	appendTo(t, input, "a.csv", "unended")
	sinkHas(t, out, "unended", 2*time.Second)
}
