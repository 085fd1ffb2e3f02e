package pwlog_test

import (
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// expectedTutorial reads testdata/tutorial/expected.csv: per run, the
// signed rows it must emit.
func expectedTutorial(t *testing.T) map[int][]string {
	t.Helper()
	f, err := os.Open("testdata/tutorial/expected.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := map[int][]string{}
	for _, r := range recs[1:] {
		run, _ := strconv.Atoi(r[0])
		sign := "+"
		if r[6] == "-1" {
			sign = "-"
		}
		want[run] = append(want[run], fmt.Sprintf("%s%q,%s,%s,%s,%s", sign, r[1], r[2], r[3], r[4], r[5]))
	}
	for _, rows := range want {
		slices.Sort(rows)
	}
	return want
}

// TestTutorial runs the tutorial's four runs: each emits exactly its rows
// of expected.csv, at times later than every earlier run's.
func TestTutorial(t *testing.T) {
	want := expectedTutorial(t)
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	output := filepath.Join(dir, "sessions.csv")
	if err := os.Mkdir(input, 0o755); err != nil {
		t.Fatal(err)
	}
	var lastTime uint64
	for run := 1; run <= 4; run++ {
		if src := fmt.Sprintf("testdata/tutorial/run%d", run); run < 4 {
			copyFiles(t, src, input)
		}
		if err := runSessions(t, input, output, storage, false); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		lines := readSink(t, output)
		if got := signed(lines); !slices.Equal(got, want[run]) {
			t.Fatalf("run %d emitted %v, want %v", run, got, want[run])
		}
		for _, l := range lines {
			if l.time <= lastTime {
				t.Fatalf("run %d: time %d is not after the previous run's %d", run, l.time, lastTime)
			}
		}
		for _, l := range lines {
			lastTime = max(lastTime, l.time)
		}
	}
}

// TestTutorialAppend runs the tutorial in append mode: one changelog whose
// lines are the four runs' rows in order.
func TestTutorialAppend(t *testing.T) {
	want := expectedTutorial(t)
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	output := filepath.Join(dir, "changelog.csv")
	if err := os.Mkdir(input, 0o755); err != nil {
		t.Fatal(err)
	}
	var all []string
	for run := 1; run <= 4; run++ {
		if run < 4 {
			copyFiles(t, fmt.Sprintf("testdata/tutorial/run%d", run), input)
		}
		if err := runSessions(t, input, output, storage, true); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		all = append(all, want[run]...)
		slices.Sort(all)
		if got := signed(readSink(t, output)); !slices.Equal(got, all) {
			t.Fatalf("after run %d the changelog holds %v, want %v", run, got, all)
		}
	}
}

// TestNotPersistent reruns without storage: every run recomputes from
// scratch and emits the whole current result.
func TestNotPersistent(t *testing.T) {
	dir := t.TempDir()
	input, output := filepath.Join(dir, "input"), filepath.Join(dir, "out.csv")
	os.Mkdir(input, 0o755)
	copyFiles(t, "testdata/tutorial/run1", input)
	copyFiles(t, "testdata/tutorial/run2", input)
	for i := 0; i < 2; i++ {
		if err := runSessions(t, input, output, "", false); err != nil {
			t.Fatal(err)
		}
		if got := len(readSink(t, output)); got != 4 {
			t.Fatalf("run %d emitted %d rows, want all 4 sessions", i, got)
		}
	}
	if err := runSessions(t, input, output, "", true); err == nil {
		t.Fatal("append mode without storage was accepted")
	}
}

// TestLostChangelog: an append-mode changelog that lost acknowledged rows
// cannot be rebuilt from the log, and the run says so instead of writing
// a changelog with a hole.
func TestLostChangelog(t *testing.T) {
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	output := filepath.Join(dir, "changelog.csv")
	os.Mkdir(input, 0o755)
	copyFiles(t, "testdata/tutorial/run1", input)
	if err := runSessions(t, input, output, storage, true); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(output, 20); err != nil {
		t.Fatal(err)
	}
	copyFiles(t, "testdata/tutorial/run2", input)
	err := runSessions(t, input, output, storage, true)
	if err == nil || !strings.Contains(err.Error(), "should hold at least") {
		t.Fatalf("got %v, want an error about the lost changelog", err)
	}
}
