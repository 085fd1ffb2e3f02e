package pwlog_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/tool"
)

// TestResnapshot: the append-mode changelog of the tutorial's pipeline,
// which keeps its inputs, is deleted after two runs, and tool.Resnapshot
// flags its sink. The third run writes a new file: first the whole table
// as of the last committed time, at that time, one line per row with its
// multiplicity, then the third run's deltas at later times. The file sums
// to the from-scratch result, the flag is cleared, and a fourth run with
// nothing new leaves the file as it is.
func TestResnapshot(t *testing.T) {
	want := expectedTutorial(t)
	dir := t.TempDir()
	input, storage, output := filepath.Join(dir, "input"), filepath.Join(dir, "storage"), filepath.Join(dir, "changelog.csv")
	if err := os.Mkdir(input, 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(n int) {
		t.Helper()
		p := pwlog.New()
		tutorial.Sessions(p, input, 300).WriteCSV("output", output, pwlog.SinkOptions{Append: true})
		cfg := quietConfig(storage)
		cfg.KeepInputs = true
		if err := p.Run(context.Background(), cfg); err != nil {
			t.Fatalf("run %d: %v", n, err)
		}
	}
	for n := 1; n <= 2; n++ {
		copyFiles(t, filepath.Join("testdata/tutorial", "run"+itoa(int64(n))), input)
		run(n)
	}
	before, err := tool.Inspect(t.Context(), storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	last := before.Clock
	if got := signed(readSink(t, output)); !slices.Equal(got, sortedConcat(want[1], want[2])) {
		t.Fatalf("after run 2 the changelog holds %v", got)
	}

	if err := os.Remove(output); err != nil {
		t.Fatal(err)
	}
	res, err := tool.Resnapshot(t.Context(), storage, "output", &tool.ResnapshotOptions{Logger: quietConfig("").Logger})
	if err != nil {
		t.Fatal(err)
	}
	if res.Time != last || !res.Ack.Resnapshot || res.LSN == 0 {
		t.Fatalf("resnapshot: %+v, last committed time %d", res, last)
	}

	copyFiles(t, "testdata/tutorial/run3", input)
	run(3)
	lines := readSink(t, output)
	if len(lines) == 0 {
		t.Fatal("run 3 wrote an empty file")
	}
	// The table first: the lines of the file's first time, which must be
	// the last committed time.
	n := 0
	for n < len(lines) && lines[n].time == lines[0].time {
		n++
	}
	table, deltas := lines[:n], lines[n:]
	if lines[0].time != last {
		t.Errorf("the new file starts at time %d, not at the last committed time %d", lines[0].time, last)
	}
	var rows []string
	for _, l := range table {
		if l.diff <= 0 || slices.Contains(rows, l.row) {
			t.Errorf("the table holds %q with diff %d, or twice: a table line's diff is its row's multiplicity", l.row, l.diff)
		}
		rows = append(rows, l.row)
	}
	if got := signed(table); !slices.Equal(got, sortedConcat(want[1], want[2])) {
		t.Errorf("the new file's table, at time %d: %v\nwant the result of runs 1 and 2: %v", table[0].time, got, sortedConcat(want[1], want[2]))
	}
	for _, l := range deltas {
		if l.time <= table[0].time {
			t.Errorf("a line at time %d after the table at time %d: %+v", l.time, table[0].time, l)
		}
	}
	if got := signed(deltas); !slices.Equal(got, want[3]) {
		t.Errorf("the new file's deltas after the table: %v\nwant run 3's: %v", got, want[3])
	}

	// It sums to the from-scratch result.
	scratch := filepath.Join(dir, "scratch.csv")
	if err := runSessions(t, input, scratch, "", false); err != nil {
		t.Fatal(err)
	}
	all := consolidatedSigned(signedLines(sortedConcat(want[1], want[2], want[3])))
	if got := consolidatedSigned(lines); !slices.Equal(got, consolidatedSigned(readSink(t, scratch))) || !slices.Equal(got, all) {
		t.Errorf("the new file sums to %v\nfrom scratch: %v\nexpected: %v", got, consolidatedSigned(readSink(t, scratch)), all)
	}

	after, err := tool.Inspect(t.Context(), storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Sinks) != 1 || after.Sinks[0].Resnapshot || after.Sinks[0].AckOffset != int64(len(file)) || after.Sinks[0].AckTime <= last {
		t.Errorf("after run 3: sinks %+v, file of %d bytes; want the flag cleared by the ack", after.Sinks, len(file))
	}
	// The next run goes on from the new file: nothing new, nothing
	// written.
	run(4)
	if again, err := os.ReadFile(output); err != nil || string(again) != string(file) {
		t.Errorf("run 4 with nothing new changed the file: %v\n%s\nwas\n%s", err, again, file)
	}
}

// sortedConcat returns the strings of lists, sorted.
func sortedConcat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return out
}
