package tool

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pwlog/pwlog/vfs"
)

func TestCompact(t *testing.T) {
	dir := interrupted(t)
	before, err := Inspect(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var progress [][2]int64
	st, err := Compact(t.Context(), dir, &CompactOptions{Logger: quiet, Progress: func(done, total int64) {
		progress = append(progress, [2]int64{done, total})
	}})
	if err != nil {
		t.Fatal(err)
	}
	after, err := Inspect(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := after.Checkpoint
	if !st.Compacted || st.Seq != before.Checkpoint.Seq+1 || c.Seq != st.Seq || st.FoldedLSN != before.WAL.LastCommitLSN || c.LSN != st.FoldedLSN {
		t.Fatalf("stats %+v; checkpoint after %+v, log before %+v", st, c, before.WAL)
	}
	if st.BytesBefore != before.Bytes || st.BytesAfter != after.Bytes || st.EntriesFolded == 0 || st.RunsWritten == 0 {
		t.Errorf("stats %+v; bytes %d -> %d", st, before.Bytes, after.Bytes)
	}
	checkLive(t, st, c)
	// The three fold the same committed log alike.
	if !reflect.DeepEqual(st.Committed, before.Committed) || !reflect.DeepEqual(rep.Committed, before.Committed) ||
		before.Committed.LSN != st.FoldedLSN || before.Committed.Clock != before.Clock || len(before.Committed.Entries) != 2 {
		t.Errorf("committed: compact %+v, inspect %+v, verify %+v", st.Committed, before.Committed, rep.Committed)
	}
	if after.WAL.LastLSN >= after.WAL.FirstLSN || after.Clock != before.Clock || after.Sources[0].Rows != before.Sources[0].Rows {
		t.Errorf("after: log %+v, clock %d, sources %+v", after.WAL, after.Clock, after.Sources)
	}
	if n := len(progress); n == 0 || progress[n-1][0] != progress[n-1][1] {
		t.Errorf("progress %v", progress)
	}
	if rep, err := Verify(t.Context(), dir, nil); err != nil || !rep.Sound() {
		t.Errorf("verify after compact: %+v, %v", rep, err)
	}

	// Again: nothing to fold. The stats describe the checkpoint in
	// force, not zeros.
	st2, err := Compact(t.Context(), dir, &CompactOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if st2.Compacted || st2.Seq != c.Seq || st2.FoldedLSN != c.LSN || st2.BytesBefore != after.Bytes || st2.BytesAfter != after.Bytes ||
		st2.EntriesFolded != 0 || st2.RunsWritten != 0 || st2.ObjectsDeleted != 0 {
		t.Errorf("second compact: %+v", st2)
	}
	checkLive(t, st2, c)
}

// checkLive checks the live runs of the stats against the checkpoint.
func checkLive(t *testing.T, st CompactStats, c *CheckpointInfo) {
	t.Helper()
	var bytes int64
	for _, a := range c.Arrangements {
		bytes += a.Bytes
	}
	if st.LiveRuns != c.Runs || st.LiveBytes != bytes || st.LiveRuns == 0 {
		t.Errorf("live runs %d, %d bytes; the checkpoint has %d runs, %d bytes", st.LiveRuns, st.LiveBytes, c.Runs, bytes)
	}
}

// A storage whose run finished has nothing to fold: Compact only
// collects garbage.
func TestCompactFinished(t *testing.T) {
	dir := finished(t)
	info, err := Inspect(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Compact(t.Context(), dir, &CompactOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if st.Compacted || st.Seq != info.Checkpoint.Seq || st.FoldedLSN != info.Checkpoint.LSN {
		t.Errorf("stats %+v, checkpoint %+v", st, info.Checkpoint)
	}
	checkLive(t, st, info.Checkpoint)
}

// Compact takes the lock: it refuses while a process holds it, and
// changes nothing.
func TestCompactLocked(t *testing.T) {
	dir := interrupted(t)
	lock, err := vfs.Default.Lock(filepath.Join(dir, "LOCK"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	before := snapshot(t, dir)
	_, err = Compact(t.Context(), dir, &CompactOptions{Logger: quiet})
	if !errors.Is(err, ErrLocked) || IsDamage(err) {
		t.Fatalf("got %v, want ErrLocked", err)
	}
	if snapshot(t, dir) != before {
		t.Fatal("a refused Compact changed the storage")
	}
}

// Damage stops Compact before it changes anything.
func TestCompactDamaged(t *testing.T) {
	for _, c := range []struct{ name, file string }{
		{"log", "wal/*"},
		{"manifest", "checkpoints/MANIFEST-*"},
	} {
		dir := interrupted(t)
		flip(t, only(t, dir, c.file), 200)
		before := snapshotBut(t, dir, "LOCK")
		if _, err := Compact(t.Context(), dir, &CompactOptions{Logger: quiet}); err == nil || !IsDamage(err) {
			t.Errorf("%s: %v, want damage", c.name, err)
		}
		// Compact took the lock, writing its pid; nothing else changed.
		if snapshotBut(t, dir, "LOCK") != before {
			t.Errorf("%s: Compact of a damaged storage changed it", c.name)
		}
	}
}
