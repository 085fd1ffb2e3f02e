package sources

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pwlog/pwlog/differential"
)

// TestSameSizeRewrite: a file rewritten to the same size with a new
// modification time is noticed by its head (the first 4 KiB); one that
// was not touched is not even opened.
func TestSameSizeRewrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.csv")
	os.WriteFile(path, []byte("user_id,access_time\nu0,1701100473\n"), 0o644)
	src := &CSVDir{Name: "s", Dir: dir, Schema: differential.Schema{{Name: "user_id", Type: differential.KindString}, {Name: "access_time", Type: differential.KindInt}}}
	r, err := src.open(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, states, err := r.Next(0)
	if err != nil || len(states) != 1 {
		t.Fatalf("read: %v, %v", states, err)
	}
	r.Close()
	prev := map[string]FileState{"a.csv": states[0]}
	if r, err := src.open(prev); err != nil {
		t.Fatalf("untouched file: %v", err)
	} else {
		r.Close()
	}
	os.WriteFile(path, []byte("user_id,access_time\nu1,1701100062\n"), 0o644)
	later := time.Unix(0, states[0].ModTime).Add(time.Second)
	os.Chtimes(path, later, later)
	var ce *ChangedFileError
	if _, err := src.Open(prev); !errors.As(err, &ce) {
		t.Fatalf("same-size rewrite: %v, want a ChangedFileError", err)
	}
}
