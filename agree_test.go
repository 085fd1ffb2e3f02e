package pwlog_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/internal/crashkit"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/tool"
	"github.com/pwlog/pwlog/vfs"
)

// The four readers of a storage's committed log (a restart, Compact,
// Inspect and Verify) share one fold (internal/storage.State). These
// tests feed each of them the same storages, sound, damaged and crash
// images, and check that they agree on what is committed: the LSN, the
// clock, the sources' offsets, the sinks' acks and the entries per
// arrangement (record.Summary).

// readers is what each reader of one storage said.
type readers struct {
	restart, compact, inspect, verify record.Summary
	restartErr, compactErr            error
	sound                             bool // Verify found no damage
}

// readAll runs the four readers on the storage under root (root/storage,
// its sink root/out.csv, read by the pipeline of setup). Restart and
// Compact write, so they work on a copy of root. ok is false when root
// holds no pwlog storage (a crash before its marker was written).
func readAll(t testing.TB, root string, setup crashSetup) (r readers, ok bool) {
	t.Helper()
	ctx := context.Background()
	dir := filepath.Join(root, "storage")
	if _, err := storage.Check(vfs.Default, dir); errors.Is(err, fs.ErrNotExist) ||
		errors.Is(err, pwlog.ErrFormat) && !errors.Is(err, storage.ErrMarkerDamaged) {
		return r, false
	}
	info, err := tool.Inspect(ctx, dir, nil)
	switch {
	case errors.Is(err, storage.ErrMarkerDamaged):
		// Inspect describes only a storage it knows the format of; the
		// others must refuse it too (checkAgree).
	case err != nil:
		t.Fatalf("inspect: %v", err)
	default:
		r.inspect = info.Committed
	}
	rep, err := tool.Verify(ctx, dir, nil)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	r.verify, r.sound = rep.Committed, rep.Sound()

	// A restart writes only the log's repair, which Compact would make
	// alike: both work on one copy.
	cp := crashkit.CopyTree(t, root)
	p := pwlog.New()
	tutorial.Sessions(p, setup.input, 300).WriteCSV("output", filepath.Join(cp, "out.csv"), pwlog.SinkOptions{Append: true})
	r.restart, r.restartErr = pwlog.Restore(p, quietConfig(filepath.Join(cp, "storage")))
	st, err := tool.Compact(ctx, filepath.Join(cp, "storage"), &tool.CompactOptions{Logger: quietConfig("").Logger})
	r.compact, r.compactErr = st.Committed, err
	return r, true
}

// checkAgree checks what the readers of one storage said: a restart and
// Compact open the log alike, so both succeed or both fail, except that
// they read different parts of checkpoint runs (a restart the index, the
// filter and the blocks of the groups the log touches; Compact's merges
// every block of the runs they merge): damage in a run may be one's
// failure alone, and Verify must report it. When they succeed all four
// summaries are equal; when they fail, Verify reports the damage.
func (r readers) checkAgree(t testing.TB, what string) {
	t.Helper()
	if (r.restartErr == nil) != (r.compactErr == nil) && errors.Is(errors.Join(r.restartErr, r.compactErr), checkpoint.ErrCorrupt) {
		if r.sound {
			t.Fatalf("%s: restart says %v, compact says %v, and verify finds the storage sound", what, r.restartErr, r.compactErr)
		}
		return
	}
	if (r.restartErr == nil) != (r.compactErr == nil) {
		t.Fatalf("%s: restart says %v, compact says %v", what, r.restartErr, r.compactErr)
	}
	if r.restartErr != nil {
		if r.sound {
			t.Fatalf("%s: a restart refuses the storage (%v) but verify finds it sound", what, r.restartErr)
		}
		return
	}
	if !r.sound {
		// Damage verify reports but a restart tolerates is damage a
		// restart does not read (an older manifest, an orphan run): the
		// committed state must still agree.
		t.Logf("%s: verify reports damage a restart does not read", what)
	}
	for _, o := range []struct {
		name string
		sum  record.Summary
	}{{"compact", r.compact}, {"inspect", r.inspect}, {"verify", r.verify}} {
		if !reflect.DeepEqual(o.sum, r.restart) {
			t.Fatalf("%s: %s disagrees with the restart:\n%s: %+v\nrestart: %+v", what, o.name, o.name, o.sum, r.restart)
		}
	}
}

// A storage with a checkpoint and a committed log after it, with and
// without the final compaction.
func TestReadersAgree(t *testing.T) {
	_, in2, done := twoRuns(t, 3, 30)
	c := crashSetup{input: in2, batch: 8, compactBytes: -1}
	r, ok := readAll(t, done, c)
	if !ok {
		t.Fatal("no storage after a finished run")
	}
	r.checkAgree(t, "finished")
	if r.restart.Clock == 0 || len(r.restart.Offsets) == 0 || len(r.restart.Acks) == 0 || len(r.restart.Entries) == 0 {
		t.Fatalf("the restart restored nothing: %+v", r.restart)
	}
	// A crash in the middle of the second run: committed times in the log,
	// unacknowledged sink rows, a torn tail.
	n := crashkit.CountOps(t, done, c.run)
	for _, k := range []int64{n / 4, n / 2, 3 * n / 4} {
		img, _, _ := crashkit.Crash(t, done, k, 1, c.run)
		r, ok := readAll(t, img, c)
		if !ok {
			t.Fatalf("k=%d: no storage", k)
		}
		r.checkAgree(t, "crash image")
		if r.restart.LSN <= 0 {
			t.Fatalf("k=%d: nothing committed", k)
		}
	}
}
