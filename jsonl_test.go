package pwlog_test

import (
	"bytes"
	"cmp"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/tool"
)

// jsonlTotals builds the JSON Lines pipeline of these tests: events (user,
// amount, score, ok) read from input, per user and ok their count, the
// sum of amount and the best score, written to output.
func jsonlTotals(input, output string, appendMode bool, opts ...pwlog.FileOptions) *pwlog.Pipeline {
	p := pwlog.New()
	p.ReadJSONLines("events", input, pwlog.Schema{
		{Name: "user", Type: pwlog.TypeStr},
		{Name: "amount", Type: pwlog.TypeInt},
		{Name: "score", Type: pwlog.TypeFloat},
		{Name: "ok", Type: pwlog.TypeBool},
	}, opts...).
		GroupBy("user", "ok").
		Reduce("totals",
			pwlog.Out("user", pwlog.Col("user")),
			pwlog.Out("ok", pwlog.Col("ok")),
			pwlog.Out("n", pwlog.Count()),
			pwlog.Out("total", pwlog.Sum("amount")),
			pwlog.Out("best", pwlog.Max("score")),
		).
		WriteCSV("output", output, pwlog.SinkOptions{Append: appendMode})
	return p
}

// jsonlFromScratch runs the pipeline, not persistent, over input as it is
// and returns the rows of its result.
func jsonlFromScratch(t testing.TB, input string) []string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "scratch.csv")
	if err := jsonlTotals(input, out, false).Run(context.Background(), quietConfig("")); err != nil {
		t.Fatalf("from scratch: %v", err)
	}
	return consolidated(t, readSink(t, out))
}

// checkJSONLChangelog checks that the append-mode changelog out holds
// each time once, in order, and adds up to the from-scratch result of
// input.
func checkJSONLChangelog(t testing.TB, what, out, input string) {
	t.Helper()
	lines := readSink(t, out)
	if !slices.IsSortedFunc(lines, func(a, b sinkLine) int { return cmp.Compare(a.time, b.time) }) {
		t.Fatalf("%s: the changelog's times are out of order: %v", what, lines)
	}
	if got, want := consolidated(t, lines), jsonlFromScratch(t, input); !slices.Equal(got, want) {
		t.Fatalf("%s: the changelog adds up to\n%v\nfrom scratch:\n%v", what, got, want)
	}
}

// TestJSONLinesPersistent: a persistent pipeline reading JSON Lines over
// several executions, with files added and lines appended (a last line
// without its line end read, then continued; one cut inside its object
// left unread with a warning, then completed; blank lines, unknown
// members, nulls), emits after each execution only new times, and its
// append-mode changelog always adds up to the from-scratch result; an
// execution with nothing new emits nothing.
func TestJSONLinesPersistent(t *testing.T) {
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	out := filepath.Join(dir, "totals.csv")
	ev := func(user string, amount int, score string, ok bool) string {
		b := "false"
		if ok {
			b = "true"
		}
		return `{"user":"` + user + `","amount":` + itoa(int64(amount)) + `,"score":` + score + `,"ok":` + b + "}"
	}
	steps := []struct {
		name  string
		files map[string]string // appended to, created if need be
		waits bool              // a last line does not parse yet
	}{
		{"two files", map[string]string{
			"a.jsonl":     ev("alice", 3, "1.5", true) + "\n" + ev("bob", 2, "0.5", false) + "\n",
			"sub/b.jsonl": ev("alice", 4, "2", true) + "\n",
		}, false},
		{"lines appended, the last without its line end", map[string]string{
			"a.jsonl": ev("bob", 5, "-1e2", false) + "\n\n" + `{"user":"carol","amount":7,"score":3.25,"ok":true,"note":{"x":[1,2]}}`,
		}, false},
		{"its line end, and a line cut in its object", map[string]string{
			"a.jsonl": "\r\n" + `{"user":"bob","amount":1,"sc`,
		}, true},
		{"the cut line completed, a new file", map[string]string{
			"a.jsonl": `ore":9.5,"ok":null}` + "\n",
			"c.jsonl": "\n" + ev("dave", 10, "1", false) + "\n  " + ev("alice", -1, "0", true) + "  \n",
		}, false},
		{"nothing new", nil, false},
		{"a first line without its line end, then completed", map[string]string{
			"d.jsonl": ev("erin", 1, "1", true),
		}, false},
		{"its line end and a line, a new file", map[string]string{
			"d.jsonl": "\n" + ev("erin", 2, "2", true) + "\n",
			"b.jsonl": ev("bob", 8, "8", false) + "\n",
		}, false},
	}
	var last uint64 // the last time in the changelog
	var size int64
	for i, s := range steps {
		for name, body := range s.files {
			path := filepath.Join(input, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			appendTo(t, filepath.Dir(path), filepath.Base(path), body)
		}
		var logs bytes.Buffer
		cfg := quietConfig(storage)
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		cfg.BatchRows = 2
		if err := jsonlTotals(input, out, true).Run(context.Background(), cfg); err != nil {
			t.Fatalf("execution %d (%s): %v", i, s.name, err)
		}
		warned := strings.Contains(logs.String(), "has no line end yet and does not parse yet") &&
			strings.Contains(logs.String(), "a.jsonl:6: invalid JSON: unexpected end of line")
		if warned != s.waits {
			t.Fatalf("execution %d (%s): warned %v; the log:\n%s", i, s.name, warned, logs.String())
		}
		checkJSONLChangelog(t, s.name, out, input)
		lines := readSink(t, out)
		info, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		if s.files == nil && info.Size() != size {
			t.Fatalf("execution %d (%s): the changelog grew from %d to %d bytes", i, s.name, size, info.Size())
		}
		for _, l := range lines[len(lines)-countNew(t, out, size):] {
			if l.time <= last {
				t.Fatalf("execution %d (%s): time %d emitted again, after %d", i, s.name, l.time, last)
			}
		}
		if len(lines) > 0 {
			last = lines[len(lines)-1].time
		}
		size = info.Size()
	}
	rep, err := tool.Verify(context.Background(), storage, nil)
	if err != nil || !rep.Sound() {
		t.Fatalf("verify: %v, %v", err, rep)
	}
}

// countNew returns how many lines of the sink file out lie after its
// first size bytes.
func countNew(t *testing.T, out string, size int64) int {
	t.Helper()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if size == 0 {
		return bytes.Count(b, []byte{'\n'}) - 1 // the header
	}
	return bytes.Count(b[size:], []byte{'\n'})
}

// TestJSONLinesStreaming: a streaming execution over the storage of
// static ones picks up a line appended to a file and a new file, and
// stops when cancelled; its changelog still adds up to the from-scratch
// result.
func TestJSONLinesStreaming(t *testing.T) {
	input := t.TempDir()
	storage := t.TempDir()
	out := filepath.Join(t.TempDir(), "totals.csv")
	appendTo(t, input, "a.jsonl", `{"user":"alice","amount":1,"score":1,"ok":true}`+"\n")
	if err := jsonlTotals(input, out, true).Run(context.Background(), quietConfig(storage)); err != nil {
		t.Fatal(err)
	}
	checkJSONLChangelog(t, "static", out, input)

	p := jsonlTotals(input, out, true, pwlog.FileOptions{Streaming: true, PollInterval: 10 * time.Millisecond})
	cfg := quietConfig(storage)
	cfg.AutocommitDuration = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, cfg) }()
	stop := func() {
		t.Helper()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("streaming Run after cancel: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("streaming Run did not return after cancel")
		}
	}
	defer func() {
		if ctx.Err() == nil {
			stop()
		}
	}()
	// reaches tells when the changelog adds up to want (it may be
	// read while a time is being written).
	reaches := func(want []string) func() bool {
		return func() bool {
			ft := &fakeT{TB: t}
			var got []string
			func() {
				defer func() { recover() }()
				got = consolidated(ft, readSink(ft, out))
			}()
			return !ft.failed && slices.Equal(got, want)
		}
	}
	appendTo(t, input, "a.jsonl", `{"user":"alice","amount":2,"score":5,"ok":true,"extra":"x"}`+"\n")
	waitFor(t, "an appended line", reaches(jsonlFromScratch(t, input)))
	appendTo(t, input, "b.jsonl", `{"user":"bob","amount":3,"score":0.5,"ok":false}`+"\n")
	waitFor(t, "a new file", reaches(jsonlFromScratch(t, input)))
	stop()
	checkJSONLChangelog(t, "after the streaming execution", out, input)
	if got := jsonlFromScratch(t, input); len(got) != 2 {
		t.Fatalf("from scratch: %v", got)
	}
}
