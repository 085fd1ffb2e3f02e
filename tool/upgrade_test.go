package tool

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pwlog/pwlog/internal/storage"
)

// format1 returns a copy of the storage of format 1 in the repository's
// testdata (see testdata/format1/README.md): two checkpoint runs of
// format 1 per arrangement, and two committed times in the log after
// them.
func format1(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "storage")
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "testdata", "format1", "storage"))); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The read-only tools read a storage of format 1 and report its format;
// Verify finds it sound.
func TestReadFormat1(t *testing.T) {
	dir := format1(t)
	before := snapshot(t, dir)
	info, err := Inspect(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Format != 1 || info.Checkpoint == nil || info.Checkpoint.Runs != 4 || info.WAL.Times != 2 || len(info.Problems) != 0 {
		t.Fatalf("inspect: format %d, checkpoint %+v, log %+v, problems %v", info.Format, info.Checkpoint, info.WAL, info.Problems)
	}
	rep, err := Verify(t.Context(), dir, nil)
	if err != nil || !rep.Sound() || rep.Runs != 4 || !reflect.DeepEqual(rep.Committed, info.Committed) {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
	entries, sum, err := dumpAll(t, dir, &DumpOptions{Checkpoint: true})
	runs := map[string]bool{}
	for _, e := range entries {
		if e.LSN == 0 && len(e.Rows) > 0 {
			runs[e.File] = true
		}
	}
	if err != nil || len(runs) != 4 || sum.Records != 6 {
		t.Fatalf("dump: runs %v, %+v, %v", runs, sum, err)
	}
	if snapshot(t, dir) != before {
		t.Fatal("reading a storage of format 1 changed it")
	}
}

// Compact upgrades a storage of format 1: its runs are rewritten, the log
// is folded, the marker says the current format, and what the storage
// holds is kept. A second Compact has nothing to upgrade.
func TestCompactUpgrades(t *testing.T) {
	dir := format1(t)
	before, err := Inspect(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Compact(t.Context(), dir, &CompactOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Upgraded || st.FormatBefore != 1 || st.RunsUpgraded != 4 || !reflect.DeepEqual(st.Committed, before.Committed) {
		t.Fatalf("stats %+v", st)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "PWLOG")); err != nil || string(b) != "pwlog storage format 2\n" {
		t.Fatalf("marker %q, %v", b, err)
	}
	after, err := Inspect(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The same, but for the times left in the log after the checkpoint.
	committed := after.Committed
	committed.Times = before.Committed.Times
	if after.Format != storage.FormatVersion || !reflect.DeepEqual(committed, before.Committed) || after.Clock != before.Clock {
		t.Fatalf("after: format %d, committed %+v, want %+v", after.Format, after.Committed, before.Committed)
	}
	checkLive(t, st, after.Checkpoint)
	if rep, err := Verify(t.Context(), dir, nil); err != nil || !rep.Sound() {
		t.Fatalf("verify after the upgrade: %+v, %v", rep, err)
	}
	st2, err := Compact(t.Context(), dir, &CompactOptions{Logger: quiet})
	if err != nil || st2.Upgraded || st2.FormatBefore != storage.FormatVersion || st2.RunsUpgraded != 0 {
		t.Fatalf("second compact: %+v, %v", st2, err)
	}
}
