package pwlog_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/tutorial"
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
	tutorialRuns(t, filepath.Join(t.TempDir(), "storage"), nil)
}

// tutorialRuns runs the tutorial's four runs on storage, calling before,
// when set, before each.
func tutorialRuns(t *testing.T, storage string, before func(run int)) {
	want := expectedTutorial(t)
	dir := t.TempDir()
	input := filepath.Join(dir, "input")
	output := filepath.Join(dir, "sessions.csv")
	if err := os.Mkdir(input, 0o755); err != nil {
		t.Fatal(err)
	}
	var lastTime uint64
	for run := 1; run <= 4; run++ {
		if src := fmt.Sprintf("testdata/tutorial/run%d", run); run < 4 {
			copyFiles(t, src, input)
		}
		if before != nil {
			before(run)
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

// TestTutorialJSONLines runs the tutorial with a JSON Lines changelog and
// a Subscribe beside its CSV changelog: after each run all three hold the
// same updates, at the same times, and the JSON Lines file's rows are the
// expected ones.
func TestTutorialJSONLines(t *testing.T) {
	want := expectedTutorial(t)
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	csvOut, jsonOut := filepath.Join(dir, "changelog.csv"), filepath.Join(dir, "changelog.jsonl")
	if err := os.Mkdir(input, 0o755); err != nil {
		t.Fatal(err)
	}
	format := func(user string, length, count any, t, diff any) string {
		return fmt.Sprintf("%q,%v,%v,%v,%v", user, length, count, t, diff)
	}
	var subscribed, all []string
	for run := 1; run <= 4; run++ {
		if run < 4 {
			copyFiles(t, fmt.Sprintf("testdata/tutorial/run%d", run), input)
		}
		p := pwlog.New()
		s := tutorial.Sessions(p, input, 300)
		s.WriteCSV("csv", csvOut, pwlog.SinkOptions{Append: true})
		s.WriteJSONLines("json", jsonOut, pwlog.SinkOptions{Append: true})
		s.Subscribe("go", func(tm uint64, rows []pwlog.Update) error {
			for _, u := range rows {
				subscribed = append(subscribed, format(u.Row[0].AsString(), u.Row[1].AsInt(), u.Row[4].AsInt(), tm, u.Diff))
			}
			return nil
		})
		if err := p.Run(context.Background(), quietConfig(storage)); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		var fromCSV, fromJSON []string
		for _, l := range readSink(t, csvOut) {
			f := strings.Split(l.row, ",")
			user, _ := strconv.Unquote(f[0])
			fromCSV = append(fromCSV, format(user, f[1], f[4], l.time, l.diff))
		}
		b, err := os.ReadFile(jsonOut)
		if err != nil {
			t.Fatal(err)
		}
		var signedJSON []string
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			var r struct {
				User   string `json:"user_id"`
				Length int64  `json:"session_length"`
				Start  int64  `json:"session_start"`
				Finish int64  `json:"session_finish"`
				Count  int64  `json:"count"`
				Time   uint64 `json:"time"`
				Diff   int64  `json:"diff"`
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("run %d: %q: %v", run, line, err)
			}
			fromJSON = append(fromJSON, format(r.User, r.Length, r.Count, r.Time, r.Diff))
			sign := "+"
			if r.Diff < 0 {
				sign = "-"
			}
			signedJSON = append(signedJSON, fmt.Sprintf("%s%q,%d,%d,%d,%d", sign, r.User, r.Length, r.Start, r.Finish, r.Count))
		}
		all = append(all, want[run]...)
		slices.Sort(all)
		slices.Sort(signedJSON)
		if !slices.Equal(signedJSON, all) {
			t.Fatalf("after run %d the JSON Lines changelog holds %v, want %v", run, signedJSON, all)
		}
		slices.Sort(fromCSV)
		slices.Sort(fromJSON)
		got := slices.Sorted(slices.Values(subscribed))
		if !slices.Equal(fromJSON, fromCSV) || !slices.Equal(got, fromCSV) {
			t.Fatalf("after run %d:\n csv %v\njson %v\n  go %v", run, fromCSV, fromJSON, got)
		}
	}
}
