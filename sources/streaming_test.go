package sources

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestStreamingCompleteLinesOnly: a streaming reader leaves a last line
// without its line end unread, however the line is cut, and reads it
// once it is complete; the rows and keys are those of a static read of
// the final file.
func TestStreamingCompleteLinesOnly(t *testing.T) {
	dir := t.TempDir()
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema, Streaming: true, PartialLineTimeout: time.Hour}
	states := map[string]FileState{}
	var got []string
	step := func(body string) {
		t.Helper()
		appendFile(t, dir, "a.csv", body)
		r := open(t, src, cloneStates(states))
		got = append(got, rowStrings(drain(t, r, 0, states))...)
		if len(r.Unfinished()) != 0 {
			t.Fatalf("unfinished %v in streaming mode", r.Unfinished())
		}
	}
	writeFile(t, dir, "a.csv", "")
	step("user_id,acc")
	if len(got) != 0 {
		t.Fatalf("rows from a partial header: %v", got)
	}
	step("ess_time\nbob,10")
	if len(got) != 0 {
		t.Fatalf("rows from a partial line: %v", got)
	}
	if st := states["a.csv"]; st.Partial != 0 || st.Offset != int64(len("user_id,access_time\n")) {
		t.Fatalf("state after a partial line: %+v", st)
	}
	step("05\nal")
	step("ice,3\ncarol,7")
	step("\n")
	full := drain(t, open(t, &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}, nil), 0, map[string]FileState{})
	if want := rowStrings(full); !slices.Equal(got, want) {
		t.Fatalf("streamed rows\n%v\nwant\n%v", got, want)
	}
}

// TestStreamingQuietPartialLine: once the file has been quiet for
// PartialLineTimeout, its last line without a line end is read, and
// retracted when the line is then continued.
func TestStreamingQuietPartialLine(t *testing.T) {
	dir := t.TempDir()
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema, Streaming: true, PartialLineTimeout: time.Minute}
	path := writeFile(t, dir, "a.csv", "user_id,access_time\nbob,10")
	states := map[string]FileState{}
	if us := drain(t, open(t, src, nil), 0, states); len(us) != 0 {
		t.Fatalf("rows from a fresh partial line: %v", rowStrings(us))
	}
	old := time.Now().Add(-2 * time.Minute)
	if err := os.Chtimes(filepath.Clean(path), old, old); err != nil {
		t.Fatal(err)
	}
	us := drain(t, open(t, src, cloneStates(states)), 0, states)
	if len(us) != 1 || us[0].Row[1].AsInt() != 10 || states["a.csv"].Partial == 0 {
		t.Fatalf("quiet partial line: %v, state %+v", rowStrings(us), states["a.csv"])
	}
	appendFile(t, dir, "a.csv", "05\n")
	us = drain(t, open(t, src, cloneStates(states)), 0, states)
	if len(us) != 2 || us[0].Diff != -1 || us[1].Row[1].AsInt() != 1005 {
		t.Fatalf("completed line: %v", rowStrings(us))
	}
}
