package differential_test

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/differential"
)

// layered drives an arrangement served from checkpoint runs plus its
// in-memory layer the way the engine does: updates, seals, folds written
// as runs (finishing later, as a background compaction does), merges of
// runs, evictions and restarts from the runs and the log tail.
type layered struct {
	a       *differential.Arrangement
	runs    [][]byte // the checkpoint: run files, oldest first
	tail    []differential.Deltas
	pending *fold // a fold being written
	cache   *checkpoint.Cache
	block   int
}

// fold is a compaction in progress: the deltas of the epochs up to sealed.
type fold struct {
	deltas []differential.Deltas
	sealed uint64
}

func order(row string) int64 {
	if row == "" {
		return 0
	}
	return int64(row[0] % 3)
}

func (l *layered) stack(t *rapid.T) (checkpoint.Stack, int64) {
	var st checkpoint.Stack
	var n int64
	for i, b := range l.runs {
		r, err := checkpoint.OpenRun(fmt.Sprintf("runs/%d.run", i), bytes.NewReader(b), int64(len(b)), l.cache)
		if err != nil {
			t.Fatalf("open run %d: %v", i, err)
		}
		st = append(st, r)
		n += r.Meta().Entries
	}
	return st, n
}

func (l *layered) writeRun(t *rapid.T, ds []differential.Deltas) {
	var all differential.Deltas
	for _, d := range ds {
		all.Append(d)
	}
	d := checkpoint.SortDeltas(all)
	if d.Len() == 0 {
		return
	}
	b, err := checkpoint.EncodeRunOptions(checkpoint.RunMeta{Operator: "op", Arrangement: "a"}, d, checkpoint.WriterOptions{BlockSize: l.block, Groups: d.Len()})
	if err != nil {
		t.Fatal(err)
	}
	l.runs = append(l.runs, b)
}

func groupsEqual(t *rapid.T, name string, want, got *differential.Group) {
	if want.Len() != got.Len() || !slices.Equal(want.Order, got.Order) || !slices.Equal(want.Keys, got.Keys) ||
		!slices.Equal(want.Rows, got.Rows) || !slices.Equal(want.Diffs, got.Diffs) {
		t.Fatalf("group %q: layered %+v, fully loaded %+v", name, *got, *want)
	}
}

func get(t *rapid.T, a *differential.Arrangement, g string) *differential.Group {
	gr, err := a.Get(g)
	if err != nil {
		t.Fatalf("get %q: %v", g, err)
	}
	if gr == nil {
		return &differential.Group{}
	}
	return gr
}

// TestLayeredMatchesLoaded checks that an arrangement served from runs plus
// its in-memory layer answers every group query exactly as one holding
// the whole state in memory, across random updates, folds, merges,
// evictions and restarts.
func TestLayeredMatchesLoaded(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		groups := rapid.SampledFrom([]string{"", "a", "ab", "b", "bb", "c", "zz"})
		rows := rapid.SampledFrom([]string{"x", "y", "z", "yy", "\x00", "\x01q"})
		ref := differential.NewArrangement("a", order)
		l := &layered{a: differential.NewArrangement("a", order), block: rapid.IntRange(1, 200).Draw(t, "block"),
			cache: checkpoint.NewCache(int64(rapid.IntRange(0, 4096).Draw(t, "cache")))}
		l.a.Track()
		finish := func() {
			if l.pending == nil {
				return
			}
			l.writeRun(t, l.pending.deltas)
			st, n := l.stack(t)
			l.a.Rebase(st, n, l.pending.sealed)
			l.pending = nil
		}
		t.Repeat(map[string]func(*rapid.T){
			"update": func(t *rapid.T) {
				g := groups.Draw(t, "group")
				k := differential.Key(rapid.IntRange(0, 2).Draw(t, "key"))
				r := rows.Draw(t, "row")
				d := int64(rapid.IntRange(-2, 2).Draw(t, "diff"))
				// Operators read a group before they change it.
				groupsEqual(t, g, get(t, ref, g), get(t, l.a, g))
				ref.Update(g, k, r, d)
				l.a.Update(g, k, r, d)
				ref.TakeDeltas()
				l.tail = append(l.tail, l.a.TakeDeltas())
			},
			"update many": func(t *rapid.T) {
				// A batch large enough to be merged into the group in one
				// pass (UpdateMany), and replayed so after a restart.
				g := groups.Draw(t, "group")
				n := rapid.IntRange(32, 80).Draw(t, "changes")
				keys, rs, ds := make([]differential.Key, n), make([]string, n), make([]int64, n)
				for i := range n {
					keys[i] = differential.Key(rapid.IntRange(0, 6).Draw(t, "key"))
					rs[i] = rows.Draw(t, "row")
					ds[i] = int64(rapid.IntRange(-2, 2).Draw(t, "diff"))
				}
				groupsEqual(t, g, get(t, ref, g), get(t, l.a, g))
				for i := range n {
					ref.Update(g, keys[i], rs[i], ds[i])
				}
				l.a.UpdateMany(g, keys, rs, ds)
				ref.TakeDeltas()
				l.tail = append(l.tail, l.a.TakeDeltas())
			},
			"update blind": func(t *rapid.T) {
				// A change made without reading the group first, to a
				// group out of memory (the check after every step reads
				// every group in).
				l.a.Evict(0)
				g := groups.Draw(t, "group")
				k := differential.Key(rapid.IntRange(0, 2).Draw(t, "key"))
				r := rows.Draw(t, "row")
				d := int64(rapid.IntRange(-2, 2).Draw(t, "diff"))
				ref.Update(g, k, r, d)
				l.a.UpdateBlind(g, k, r, d)
				ref.TakeDeltas()
				l.tail = append(l.tail, l.a.TakeDeltas())
			},
			"get": func(t *rapid.T) {
				g := groups.Draw(t, "group")
				groupsEqual(t, g, get(t, ref, g), get(t, l.a, g))
			},
			"seal": func(t *rapid.T) {
				if l.pending != nil {
					t.Skip("a fold is being written")
				}
				l.pending = &fold{deltas: l.tail, sealed: l.a.Seal()}
				l.tail = nil
			},
			"finish": func(t *rapid.T) { finish() },
			"merge": func(t *rapid.T) {
				if len(l.runs) < 2 || l.pending != nil {
					t.Skip("nothing to merge")
				}
				n := len(l.runs)
				var buf bytes.Buffer
				w := checkpoint.NewRunWriter(&buf, checkpoint.RunMeta{Operator: "op", Arrangement: "a"}, checkpoint.WriterOptions{BlockSize: l.block, Groups: 16})
				var its []checkpoint.Iterator
				for _, b := range l.runs[n-2:] {
					r, err := checkpoint.OpenRun("m", bytes.NewReader(b), int64(len(b)), nil)
					if err != nil {
						t.Fatal(err)
					}
					its = append(its, r.Iter())
				}
				if err := checkpoint.MergeInto(w, its...); err != nil {
					t.Fatal(err)
				}
				m, err := w.Finish()
				if err != nil {
					t.Fatal(err)
				}
				l.runs = l.runs[:n-2]
				if m.Entries > 0 {
					l.runs = append(l.runs, buf.Bytes())
				}
				st, e := l.stack(t)
				// A merge changes no state: no epoch is sealed by it.
				l.a.Rebase(st, e, 0)
			},
			"evict": func(t *rapid.T) {
				l.a.Evict(int64(rapid.IntRange(0, 2000).Draw(t, "target")))
			},
			"restart": func(t *rapid.T) {
				// A crash loses the fold being written: its deltas are
				// still in the log.
				if l.pending != nil {
					l.tail = append(l.pending.deltas, l.tail...)
					l.pending = nil
				}
				l.a = differential.NewArrangement("a", order)
				l.a.Track()
				if len(l.runs) > 0 {
					st, n := l.stack(t)
					l.a.Rebase(st, n, 0)
				}
				for _, d := range l.tail {
					if err := l.a.Apply(d); err != nil {
						t.Fatal(err)
					}
				}
			},
			"": func(t *rapid.T) {
				if l.a.MemBytes() < 0 {
					t.Fatalf("memory estimate %d", l.a.MemBytes())
				}
				full, err := l.a.Full()
				if err != nil {
					t.Fatal(err)
				}
				if want := ref.Snapshot(); !reflect.DeepEqual(full, want) && (full.Len() > 0 || want.Len() > 0) {
					t.Fatalf("whole state: layered %+v, fully loaded %+v", full, want)
				}
				for _, g := range []string{"", "a", "ab", "b", "bb", "c", "zz"} {
					groupsEqual(t, g, get(t, ref, g), get(t, l.a, g))
				}
			},
		})
	})
}
