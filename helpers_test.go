package pwlog

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// sessionsPipeline builds the tutorial's pipeline, its source tuned by
// opts.
func sessionsPipeline(input, output string, appendMode bool, opts ...CSVOptions) *Pipeline {
	p := New()
	events := p.ReadCSV("accesses", input, Schema{
		{Name: "user_id", Type: TypeStr},
		{Name: "access_time", Type: TypeInt},
	}, opts...)
	events.WindowBy("sessions", Session{Time: "access_time", Instance: []string{"user_id"}, MaxGap: 300}).
		Reduce("session_stats",
			Out("user_id", Col("user_id")),
			Out("session_length", Sub(Max("access_time"), Min("access_time"))),
			Out("session_start", Min("access_time")),
			Out("session_finish", Max("access_time")),
			Out("count", Count()),
		).
		WriteCSV("output", output, SinkOptions{Append: appendMode})
	return p
}

func quietConfig(storage string) Config {
	cfg := Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if storage != "" {
		cfg.Backend = Filesystem(storage)
	}
	return cfg
}

// runSessions runs the tutorial pipeline once.
func runSessions(t testing.TB, input, output, storage string, appendMode bool) error {
	t.Helper()
	return sessionsPipeline(input, output, appendMode).Run(context.Background(), quietConfig(storage))
}

// sinkLine is one data line of a CSV sink: the row's columns as written,
// then time and diff.
type sinkLine struct {
	row  string
	time uint64
	diff int64
}

// readSink parses a sink file, checking its header.
func readSink(t testing.TB, path string) []sinkLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	var out []sinkLine
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			first = false
			if !strings.HasSuffix(line, ",time,diff") {
				t.Fatalf("%s: header %q does not end in time,diff", path, line)
			}
			continue
		}
		l, ok := parseSinkLine(line)
		if !ok {
			t.Fatalf("%s: bad line %q", path, line)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// parseSinkLine parses a data line of a sink (no newline): the row's
// columns, then time and diff.
func parseSinkLine(line string) (sinkLine, bool) {
	i := strings.LastIndexByte(line, ',')
	j := strings.LastIndexByte(line[:max(i, 0)], ',')
	if i < 0 || j < 0 {
		return sinkLine{}, false
	}
	tm, err1 := strconv.ParseUint(line[j+1:i], 10, 64)
	diff, err2 := strconv.ParseInt(line[i+1:], 10, 64)
	if err1 != nil || err2 != nil {
		return sinkLine{}, false
	}
	return sinkLine{row: line[:j], time: tm, diff: diff}, true
}

// signed returns the lines as sorted "+row"/"-row" strings, one per unit
// of diff.
func signed(lines []sinkLine) []string {
	var out []string
	for _, l := range lines {
		for n := l.diff; n > 0; n-- {
			out = append(out, "+"+l.row)
		}
		for n := l.diff; n < 0; n++ {
			out = append(out, "-"+l.row)
		}
	}
	slices.Sort(out)
	return out
}

// consolidated folds lines into the set of rows with a positive count;
// it fails the test on a row whose count is not 0 or 1.
func consolidated(t testing.TB, lines []sinkLine) []string {
	t.Helper()
	count := map[string]int64{}
	for _, l := range lines {
		count[l.row] += l.diff
	}
	var out []string
	for row, n := range count {
		switch n {
		case 0:
		case 1:
			out = append(out, row)
		default:
			t.Fatalf("row %s has multiplicity %d", row, n)
		}
	}
	slices.Sort(out)
	return out
}

func copyFiles(t testing.TB, from, to string) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(from, "*.csv"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no files in %s: %v", from, err)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
