package sources

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A file that shrinks between Open and Next (a writer rewriting it in
// place, or truncating it) is a *ChangedFileError naming it, as at Open,
// not a read error: the engine then opens the source again, and with
// Retract retracts the file's rows and reads it anew.
func TestShrunkAfterOpen(t *testing.T) {
	for _, body := range []string{"", "user_id,acc"} {
		dir := t.TempDir()
		writeFile(t, dir, "a.csv", "user_id,access_time\nbob,1\n")
		src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
		states := map[string]FileState{}
		drain(t, open(t, src, nil), 0, states)
		appendFile(t, dir, "a.csv", "carol,2\n")
		r := open(t, src, cloneStates(states))
		if err := os.WriteFile(filepath.Join(dir, "a.csv"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := r.Next(0)
		var ce *ChangedFileError
		if !errors.As(err, &ce) || ce.Path != "a.csv" {
			t.Fatalf("rewritten to %q after Open: Next = %v (%T), want a *ChangedFileError for a.csv", body, err, err)
		}
	}
}
