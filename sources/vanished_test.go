package sources

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestFileDeletedAfterOpen: a file deleted after Open listed it, before
// Next reaches it, is skipped, with no state, and the other files are
// read; the next Open reports it as deleted when it was known. A
// streaming execution, whose reader lives across many Next calls, meets
// this whenever a file waiting to be read is deleted.
func TestFileDeletedAfterOpen(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.csv", "user_id,access_time\nbob,1\n")
	writeFile(t, dir, "b.csv", "user_id,access_time\ncarol,2\n")
	writeFile(t, dir, "c.csv", "user_id,access_time\ndave,3\n")
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
	states := map[string]FileState{}
	r := open(t, src, nil)
	if err := os.Remove(filepath.Join(dir, "b.csv")); err != nil {
		t.Fatal(err)
	}
	if us := drain(t, r, 1, states); len(us) != 2 {
		t.Fatalf("read %v, want the rows of a.csv and c.csv", rowStrings(us))
	}
	if _, ok := states["b.csv"]; ok || len(states) != 2 {
		t.Fatalf("states %v, want a.csv and c.csv only", states)
	}

	// Known files, grown, one deleted before Next reaches it.
	appendFile(t, dir, "a.csv", "bob,4\n")
	appendFile(t, dir, "c.csv", "dave,5\n")
	r = open(t, src, cloneStates(states))
	if err := os.Remove(filepath.Join(dir, "c.csv")); err != nil {
		t.Fatal(err)
	}
	before := states["c.csv"]
	if us := drain(t, r, 0, states); len(us) != 1 {
		t.Fatalf("read %v, want the row appended to a.csv", rowStrings(us))
	}
	if states["c.csv"] != before {
		t.Fatalf("c.csv's state changed to %+v though nothing was read", states["c.csv"])
	}
	r = open(t, src, cloneStates(states))
	if d := r.Deleted(); len(d) != 1 || d[0] != "c.csv" {
		t.Fatalf("Deleted() = %v, want c.csv", d)
	}
	if _, _, err := r.Next(0); !errors.Is(err, io.EOF) {
		t.Fatalf("Next: %v, want io.EOF", err)
	}
}
