package measure

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/internal/tutorial"
)

// A changelog written by hand: sessions that grow (a retraction and the
// new row), one that a later time retracts for good, one emitted twice.
func TestCompareChangelogKnown(t *testing.T) {
	want := []Session{
		{User: "u1", Length: 10, Start: 100, Finish: 110, Count: 2},
		{User: "u1", Length: 0, Start: 900, Finish: 900, Count: 1},
		{User: "u2", Length: 5, Start: 200, Finish: 205, Count: 3},
	}
	const header = "user_id,session_length,session_start,session_finish,count,time,diff\n"
	const good = header +
		`"u1",0,100,100,1,1,1` + "\n" +
		`"u2",0,200,200,1,1,1` + "\n" +
		`"u1",0,100,100,1,2,-1` + "\n" +
		`"u1",10,100,110,2,2,1` + "\n" +
		`"u2",0,200,200,1,2,-1` + "\n" +
		`"u2",5,200,205,3,2,1` + "\n" +
		`"u3",0,300,300,1,2,1` + "\n" +
		`"u3",0,300,300,1,3,-1` + "\n" +
		`"u1",0,900,900,1,3,1` + "\n"
	for _, tc := range []struct {
		name           string
		text           string
		lines          int
		missing, extra int64
	}{
		{"equal", good, 9, 0, 0},
		// The retraction of u3's row is lost: one row too many.
		{"kept a retracted row", strings.Replace(good, `"u3",0,300,300,1,3,-1`+"\n", "", 1), 8, 0, 1},
		// u2's final row has another count: one missing, one extra.
		{"wrong count", strings.Replace(good, `"u2",5,200,205,3,2,1`, `"u2",5,200,205,4,2,1`, 1), 9, 1, 1},
		// u1's first session emitted twice.
		{"twice", good + `"u1",10,100,110,2,4,1` + "\n", 10, 0, 1},
		// A retraction of a row never emitted: held -1 times, one fewer
		// than none.
		{"retracts a missing row", good + `"u9",1,1,2,2,4,-1` + "\n", 10, 1, 0},
		// Nothing but the header: every session missing.
		{"empty", header, 0, 3, 0},
	} {
		path := filepath.Join(t.TempDir(), "out.csv")
		if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := CompareChangelog(path, want)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if c.Lines != tc.lines || c.Missing != tc.missing || c.Extra != tc.extra || c.Want != len(want) || c.Differ() != tc.missing+tc.extra {
			t.Errorf("%s: %+v, want %d lines, %d missing, %d extra", tc.name, c, tc.lines, tc.missing, tc.extra)
		}
	}
	for name, text := range map[string]string{
		"another header": "user_id,length,session_start,session_finish,count,time,diff\n",
		"not a number":   header + `"u1",x,100,110,2,2,1` + "\n",
		"short line":     header + `"u1",10,100,110,2,1` + "\n",
	} {
		path := filepath.Join(t.TempDir(), "out.csv")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := CompareChangelog(path, want); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The pipeline's own changelog, over two executions and under a tight
// memory bound (groups dropped and read back from the checkpoint, early
// folds), consolidates to the floor's sessions.
func TestCompareChangelogWithPipeline(t *testing.T) {
	input := testData(t)
	storage, out := filepath.Join(t.TempDir(), "storage"), filepath.Join(t.TempDir(), "out.csv")
	run := func() {
		p := pwlog.New()
		tutorial.Sessions(p, input, 300).WriteCSV("output", out, pwlog.SinkOptions{Append: true})
		cfg := pwlog.Config{Backend: pwlog.Filesystem(storage), BatchRows: testBatch, MemoryLimit: 256 << 10, Logger: quiet()}
		if err := p.Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if _, err := gen.Write(input, gen.Spec{Seed: 2, Rows: 2000, Users: 200, Files: 2, FirstFile: 10}); err != nil {
		t.Fatal(err)
	}
	run()
	rows, want, err := FloorSessions(input, 300)
	if err != nil {
		t.Fatal(err)
	}
	if rows != testRows+2000 {
		t.Fatalf("floor read %d rows", rows)
	}
	c, err := CompareChangelog(out, want)
	if err != nil {
		t.Fatal(err)
	}
	if c.Differ() != 0 || c.Lines <= len(want) {
		t.Errorf("%+v: want equal, and more lines than sessions (retractions)", c)
	}
	// The same changelog against sessions cut with another gap differs.
	_, other, err := FloorSessions(input, 200)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := CompareChangelog(out, other); err != nil || c.Differ() == 0 {
		t.Errorf("against other sessions: %+v, %v", c, err)
	}
}
