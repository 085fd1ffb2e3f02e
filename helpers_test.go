package pwlog_test

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

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/crashkit"
	"github.com/pwlog/pwlog/internal/tutorial"
)

func quietConfig(storage string) pwlog.Config {
	cfg := pwlog.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if storage != "" && !objectStoreConfig(&cfg, storage) {
		cfg.Backend = pwlog.Filesystem(storage)
	}
	return cfg
}

// tinyState, when on, sets checkpoint blocks of about two entries and a
// memory bound of a byte: groups are read from the checkpoint's runs
// whenever asked for, and every commit folds into the checkpoint.
func tinyState(cfg *pwlog.Config, on bool) {
	if on {
		cfg.BlockSize = 32
		cfg.MemoryLimit = 1
	}
}

// runSessions runs the tutorial pipeline (internal/tutorial.Sessions,
// max gap 300, its sink "output" at output) once.
func runSessions(t testing.TB, input, output, storage string, appendMode bool) error {
	t.Helper()
	p := pwlog.New()
	tutorial.Sessions(p, input, 300).WriteCSV("output", output, pwlog.SinkOptions{Append: appendMode})
	return p.Run(context.Background(), quietConfig(storage))
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
	row, tm, diff, ok := crashkit.ParseLine(line)
	return sinkLine{row: row, time: tm, diff: diff}, ok
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

// signedLines turns "+row"/"-row" strings back into sink lines.
func signedLines(ss []string) []sinkLine {
	out := make([]sinkLine, len(ss))
	for i, s := range ss {
		out[i] = sinkLine{row: s[1:], diff: 1}
		if s[0] == '-' {
			out[i].diff = -1
		}
	}
	return out
}

// consolidatedSigned sums diffs per row and returns the non-zero ones as
// sorted "row=diff" strings.
func consolidatedSigned(lines []sinkLine) []string {
	count := map[string]int64{}
	for _, l := range lines {
		count[l.row] += l.diff
	}
	var out []string
	for row, n := range count {
		if n != 0 {
			out = append(out, row+"="+itoa(n))
		}
	}
	slices.Sort(out)
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

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

// walBytes returns the bytes of the WAL's segments.
func walBytes(t *testing.T, storage string) int64 {
	paths, _ := filepath.Glob(filepath.Join(storage, "wal", "0*"))
	var n int64
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}
