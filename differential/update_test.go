package differential

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestConsolidate(t *testing.T) {
	r1 := Row{String("a")}
	r2 := Row{String("b")}
	us := []Update{
		{Key: 1, Row: r1, Time: 5, Diff: 1},
		{Key: 2, Row: r2, Time: 5, Diff: 1},
		{Key: 1, Row: r1, Time: 5, Diff: -1},
		{Key: 2, Row: r2, Time: 5, Diff: 2},
		{Key: 2, Row: r2, Time: 6, Diff: 1},
		{Key: 2, Row: r1, Time: 5, Diff: 1},
	}
	got := Consolidate(us)
	want := []Update{
		{Key: 2, Row: r1, Time: 5, Diff: 1},
		{Key: 2, Row: r2, Time: 5, Diff: 3},
		{Key: 2, Row: r2, Time: 6, Diff: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].Key != want[i].Key || !got[i].Row.Equal(want[i].Row) || got[i].Time != want[i].Time || got[i].Diff != want[i].Diff {
			t.Fatalf("at %d: got %v, want %v", i, got[i], want[i])
		}
	}
}

// TestArrangementMatchesModel applies random updates to an arrangement and
// to a plain map, and compares them; a second arrangement rebuilt from the
// recorded deltas must equal the first.
func TestArrangementMatchesModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := NewArrangement("a", nil)
	replica := NewArrangement("a", nil)
	type ent struct {
		g   string
		k   Key
		row string
	}
	model := map[ent]int64{}
	for step := 0; step < 50; step++ {
		for i := 0; i < 40; i++ {
			e := ent{g: string(rune('a' + rng.IntN(4))), k: Key(rng.IntN(6)), row: string(rune('x' + rng.IntN(2)))}
			d := int64(rng.IntN(5) - 2)
			a.Update(e.g, e.k, e.row, d)
			model[e] += d
			if model[e] == 0 {
				delete(model, e)
			}
		}
		replica.Apply(a.TakeDeltas())
		if a.Len() != len(model) {
			t.Fatalf("step %d: %d entries, model has %d", step, a.Len(), len(model))
		}
		snap := a.Snapshot()
		for i := range snap.Keys {
			e := ent{snap.Groups[i], snap.Keys[i], snap.Rows[i]}
			if model[e] != snap.Diffs[i] {
				t.Fatalf("step %d: %v has %d, model %d", step, e, snap.Diffs[i], model[e])
			}
		}
		rs := replica.Snapshot()
		if len(rs.Keys) != len(snap.Keys) {
			t.Fatalf("step %d: replica has %d entries, want %d", step, len(rs.Keys), len(snap.Keys))
		}
		for i := range rs.Keys {
			if rs.Groups[i] != snap.Groups[i] || rs.Keys[i] != snap.Keys[i] || rs.Rows[i] != snap.Rows[i] || rs.Diffs[i] != snap.Diffs[i] {
				t.Fatalf("step %d: replica differs at %d", step, i)
			}
		}
	}
	if a.TakeDeltas().Len() != 0 {
		t.Fatal("TakeDeltas did not reset")
	}
}

// TestApplyLoadsGroups: replaying deltas in any grouping (sorted runs,
// repeated entries, cancellations) into ordered and unordered arrangements
// gives the same state as applying them one by one.
func TestApplyLoadsGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	order := func(row string) int64 { return int64(len(row)*7%5) - 2 }
	for _, ord := range []func(string) int64{nil, order} {
		for round := 0; round < 200; round++ {
			var d Deltas
			for i := rng.IntN(30); i > 0; i-- {
				d.add(string(rune('a'+rng.IntN(3))), Key(rng.IntN(4)), string(make([]byte, rng.IntN(4))), int64(rng.IntN(3)-1))
			}
			if rng.IntN(2) == 0 {
				d = sortedDeltas(d)
			}
			bulk, single := NewArrangement("x", ord), NewArrangement("x", ord)
			bulk.Apply(d)
			for i := range d.Keys {
				single.apply(d.Groups[i], d.Keys[i], d.Rows[i], d.Diffs[i])
			}
			if !equalSnapshots(bulk.Snapshot(), single.Snapshot()) || bulk.Len() != single.Len() {
				t.Fatalf("round %d: bulk apply differs from one by one", round)
			}
			for name, g := range bulk.groups {
				for k := 1; k < g.Len(); k++ {
					if compareEntry(g.Order[k-1], g.Keys[k-1], g.Rows[k-1], g.Order[k], g.Keys[k], g.Rows[k]) >= 0 {
						t.Fatalf("round %d: group %q is not sorted", round, name)
					}
				}
			}
		}
	}
}

func sortedDeltas(d Deltas) Deltas {
	idx := make([]int, d.Len())
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int { return strings.Compare(d.Groups[x], d.Groups[y]) })
	var out Deltas
	for _, i := range idx {
		out.add(d.Groups[i], d.Keys[i], d.Rows[i], d.Diffs[i])
	}
	return out
}

func equalSnapshots(a, b Deltas) bool {
	return slices.Equal(a.Groups, b.Groups) && slices.Equal(a.Keys, b.Keys) && slices.Equal(a.Rows, b.Rows) && slices.Equal(a.Diffs, b.Diffs)
}
