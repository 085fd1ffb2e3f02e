package tool

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/vfs"
)

func TestInspectInterrupted(t *testing.T) {
	dir := interrupted(t)
	before := snapshot(t, dir)
	info, err := Inspect(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if snapshot(t, dir) != before {
		t.Fatal("Inspect changed the storage")
	}
	c := info.Checkpoint
	if c == nil || c.Seq != 1 || c.Runs != 2 || len(c.Arrangements) != 2 || info.DamagedManifest != "" {
		t.Fatalf("checkpoint %+v, damaged %q; want manifest 1 with 2 runs", c, info.DamagedManifest)
	}
	// Run 2's time is in the log after the checkpoint, committed.
	w := info.WAL
	if w.Times != 1 || w.FirstLSN != c.LSN+1 || w.LastCommitLSN != w.LastLSN || w.Uncommitted != nil || len(w.Segments) != 1 {
		t.Errorf("log %+v after checkpoint at LSN %d", w, c.LSN)
	}
	if info.Clock != w.LastTime || info.Clock <= c.Clock {
		t.Errorf("clock %d, log's last time %d, checkpoint's %d", info.Clock, w.LastTime, c.Clock)
	}
	if len(info.Sources) != 1 || info.Sources[0].Name != "accesses" || info.Sources[0].Rows != 12 || len(info.Sources[0].Files) != 3 {
		t.Errorf("sources %+v, want accesses: 12 rows of 3 files", info.Sources)
	}
	if len(info.Sinks) != 1 || info.Sinks[0].AckTime != info.Clock || info.Sinks[0].Pending != 0 {
		t.Errorf("sinks %+v, want output acknowledged up to %d", info.Sinks, info.Clock)
	}
	if len(info.Problems) > 0 || info.Lock.Held || info.Format != storage.FormatVersion {
		t.Errorf("problems %v, lock %+v, format %d", info.Problems, info.Lock, info.Format)
	}
	if got := info.Catalog.Tables["output"]; !slices.Equal(got, []string{"user_id", "session_length", "session_start", "session_finish", "count"}) {
		t.Errorf("catalog of output: %v", got)
	}
}

// After a run that finishes, the log is empty: the checkpoint holds all.
func TestInspectFinished(t *testing.T) {
	dir := finished(t)
	info, err := Inspect(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Checkpoint == nil || info.WAL.Times != 0 || info.WAL.LastLSN >= info.WAL.FirstLSN || info.WAL.LastCommitLSN != info.Checkpoint.LSN {
		t.Fatalf("checkpoint %+v, log %+v", info.Checkpoint, info.WAL)
	}
	if info.Clock != info.Checkpoint.Clock || len(info.Sources) != 1 || info.Sources[0].Rows != 15 || len(info.Sources[0].Files) != 4 {
		t.Errorf("clock %d, sources %+v", info.Clock, info.Sources)
	}
	if len(info.Checkpoint.Garbage) > 0 || len(info.Problems) > 0 {
		t.Errorf("garbage %v, problems %v", info.Checkpoint.Garbage, info.Problems)
	}
}

// Inspect reads a locked storage, and says who holds it.
func TestInspectLocked(t *testing.T) {
	dir := interrupted(t)
	lock, err := vfs.Default.Lock(filepath.Join(dir, "LOCK"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	info, err := Inspect(t.Context(), dir, nil)
	if err != nil || !info.Lock.Held {
		t.Fatalf("lock %+v, %v", info.Lock, err)
	}
}

// A damaged manifest is a problem of the report, named: not "no
// checkpoint".
func TestInspectDamagedManifest(t *testing.T) {
	dir := interrupted(t)
	m := only(t, dir, "checkpoints/MANIFEST-*")
	flip(t, m, 40)
	info, err := Inspect(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Checkpoint != nil || info.DamagedManifest != filepath.Base(m) || len(info.Problems) != 1 ||
		!strings.Contains(info.Problems[0], m+" at offset 20: CRC mismatch") {
		t.Fatalf("checkpoint %+v, damaged %q, problems %q", info.Checkpoint, info.DamagedManifest, info.Problems)
	}
}

// Directories that are no storage fail every read-only tool with an
// error saying why, which IsDamage tells from damage.
func TestNotAStorage(t *testing.T) {
	empty := t.TempDir()
	missing := filepath.Join(empty, "nosuch")
	for _, c := range []struct {
		dir  string
		is   error
		want string
	}{
		{empty, ErrFormat, "is not a pwlog storage: it has no PWLOG marker"},
		{missing, fs.ErrNotExist, "no such file or directory"},
	} {
		_, ierr := Inspect(t.Context(), c.dir, nil)
		_, derr := Dump(t.Context(), c.dir, nil, func(*DumpEntry) error { return nil })
		_, verr := Verify(t.Context(), c.dir, nil)
		_, cerr := Compact(t.Context(), c.dir, &CompactOptions{Logger: quiet})
		for i, err := range []error{ierr, derr, verr, cerr} {
			if !errors.Is(err, c.is) || IsDamage(err) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: tool %d: %v, want %v (not damage) saying %q", c.dir, i, err, c.is, c.want)
			}
		}
	}
}
