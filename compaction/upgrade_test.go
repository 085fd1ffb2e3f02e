package compaction

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/differential"
)

// format1 returns a backend holding the checkpoint of the storage of
// format 1 in the repository's testdata: a manifest and four runs of
// format 1, two per arrangement.
func format1(t *testing.T) *backend.Mem {
	t.Helper()
	root := filepath.Join("..", "testdata", "format1", "storage", "checkpoints")
	b := backend.NewMem()
	for _, name := range []string{"MANIFEST-00000000000000000002", "runs/00000000000000000001.run", "runs/00000000000000000002.run",
		"runs/00000000000000000003.run", "runs/00000000000000000004.run"} {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Create(t.Context(), name, data); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// runFormats returns how many runs of the manifest in force open in place
// (the current format) and how many are of format 1.
func runFormats(t *testing.T, b backend.Backend) (current, old int) {
	t.Helper()
	m, err := Latest(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Runs {
		_, closer, err := OpenRun(t.Context(), b, r, nil)
		switch {
		case errors.Is(err, checkpoint.ErrOldFormat):
			old++
		case err != nil:
			t.Fatal(err)
		default:
			closer.Close()
			current++
		}
	}
	return current, old
}

// TestUpgrade rewrites a checkpoint whose runs are of format 1, beside an
// arrangement whose run is of the current format: the arrangements of
// format 1 get one run each, the other keeps its run, the state and the
// manifest's LSN, clock, fingerprint and Meta are the same, and the old
// runs are deleted. A second Upgrade finds nothing to do.
func TestUpgrade(t *testing.T) {
	ctx := context.Background()
	b := format1(t)
	c, err := Open(ctx, b, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A fold to an arrangement of its own writes a run of the current
	// format (a fold to the others would merge with runs it cannot read
	// in place).
	prev := c.Manifest()
	newArr := ArrKey{Operator: "other", Arrangement: "c"}
	d := differential.Deltas{Groups: []string{"g"}, Keys: []differential.Key{1}, Rows: []string{"r"}, Diffs: []int64{2}}
	if _, err := c.Apply(ctx, Fold{LSN: prev.LSN + 1, Clock: prev.Clock + 1, Fingerprint: prev.Fingerprint, Meta: prev.Meta,
		Deltas: map[ArrKey]*differential.Deltas{newArr: &d}}); err != nil {
		t.Fatal(err)
	}
	before, stateBefore := loadState(t, b)
	if cur, old := runFormats(t, b); cur != 1 || old != 4 {
		t.Fatalf("before: %d runs of the current format, %d of format 1; want 1 and 4", cur, old)
	}
	n, st, err := c.Upgrade(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 || st.RunsWritten != 2 || st.RunsMerged != 4 || st.Seq != before.Seq+1 || st.LiveRuns != 3 || st.ObjectsDeleted != 5 {
		t.Fatalf("Upgrade = %d, %+v", n, st)
	}
	after, stateAfter := loadState(t, b)
	if after.Seq != before.Seq+1 || after.LSN != before.LSN || after.Clock != before.Clock ||
		!slices.Equal(after.Fingerprint, before.Fingerprint) || string(after.Meta) != string(before.Meta) {
		t.Fatalf("manifest after the upgrade %+v, before %+v", after, before)
	}
	if !maps.EqualFunc(stateAfter, stateBefore, maps.Equal) {
		t.Fatalf("state after the upgrade %v, before %v", stateAfter, stateBefore)
	}
	if cur, old := runFormats(t, b); cur != 3 || old != 0 {
		t.Fatalf("after: %d runs of the current format, %d of format 1; want 3 and 0", cur, old)
	}
	if !slices.ContainsFunc(after.Runs, func(r checkpoint.RunMeta) bool { return r.Name == before.Runs[len(before.Runs)-1].Name }) {
		t.Fatalf("the run of the current format was rewritten: %+v", after.Runs)
	}
	if names, _ := b.List(ctx, ""); len(names) != len(after.Runs)+1 {
		t.Fatalf("left after the upgrade: %v", names)
	}
	if n, st, err := c.Upgrade(ctx); n != 0 || st != (Stats{}) || err != nil {
		t.Fatalf("second Upgrade = %d, %+v, %v", n, st, err)
	}
	if m, _ := Latest(ctx, b); m.Seq != after.Seq {
		t.Fatalf("a second Upgrade published manifest %d", m.Seq)
	}
	// The next fold merges with the rewritten runs.
	c2, err := Open(ctx, b, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range after.Runs {
		if r.Operator == "sessions" {
			d := differential.Deltas{Groups: []string{"zz"}, Keys: []differential.Key{1}, Rows: []string{"r"}, Diffs: []int64{1}}
			k := ArrKey{r.Operator, r.Arrangement}
			if _, err := c2.Apply(ctx, Fold{LSN: after.LSN + 1, Clock: after.Clock + 1, Fingerprint: after.Fingerprint, Meta: after.Meta,
				Deltas: map[ArrKey]*differential.Deltas{k: &d}}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestUpgradeCrashAtEveryOperation fails the k-th write of an upgrade,
// for every k, as a crash would stop it there: the checkpoint in force
// holds the same state, and a second upgrade completes it.
func TestUpgradeCrashAtEveryOperation(t *testing.T) {
	ctx := context.Background()
	_, want := loadState(t, format1(t))
	for k := 0; ; k++ {
		b := format1(t)
		c, err := Open(ctx, b, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ops := 0
		crash := errors.New("crash")
		b.SetFail(func(op, name string) error {
			if op != "create" && op != "put" && op != "delete" {
				return nil // a read
			}
			if ops++; ops == k+1 {
				return crash
			}
			return nil
		})
		_, _, err = c.Upgrade(ctx)
		b.SetFail(nil)
		if err == nil {
			if k == 0 {
				t.Fatal("an upgrade did no write")
			}
			t.Logf("crashed at each of %d writes of an upgrade", k)
			return
		}
		if !errors.Is(err, crash) {
			t.Fatalf("k=%d: %v", k, err)
		}
		if _, state := loadState(t, b); !maps.EqualFunc(state, want, maps.Equal) {
			t.Fatalf("k=%d: the state after the crash differs", k)
		}
		c2, err := Open(ctx, b, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c2.Upgrade(ctx); err != nil {
			t.Fatalf("k=%d: upgrade after the crash: %v", k, err)
		}
		if _, err := c2.Collect(ctx); err != nil {
			t.Fatal(err)
		}
		m, state := loadState(t, b)
		if !maps.EqualFunc(state, want, maps.Equal) {
			t.Fatalf("k=%d: the state after the second upgrade differs", k)
		}
		if cur, old := runFormats(t, b); cur != 2 || old != 0 {
			t.Fatalf("k=%d: %d runs of the current format, %d of format 1", k, cur, old)
		}
		if names, _ := b.List(ctx, ""); len(names) != len(m.Runs)+1 {
			t.Fatalf("k=%d: orphans left: %v", k, names)
		}
	}
}
