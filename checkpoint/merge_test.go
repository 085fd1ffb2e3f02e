package checkpoint

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog/differential"
)

func TestSortDeltasModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := genDeltas(80).Draw(t, "deltas")
		want := model(d)
		got := SortDeltas(cloneDeltas(d))
		if msg := diffDeltas(got, want); msg != "" {
			t.Fatalf("SortDeltas: %s", msg)
		}
		// Sorting is idempotent.
		if msg := diffDeltas(SortDeltas(got), want); msg != "" {
			t.Fatalf("SortDeltas of sorted deltas: %s", msg)
		}
	})
}

func TestMergeModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k := rapid.IntRange(0, 7).Draw(t, "runs")
		runs := make([]differential.Deltas, k)
		for i := range runs {
			runs[i] = SortDeltas(genDeltas(40).Draw(t, "run"))
		}
		// Half of the time, add a run that cancels an earlier one, so
		// that whole stretches sum to zero.
		if k > 0 && rapid.Bool().Draw(t, "cancel") {
			victim := cloneDeltas(runs[rapid.IntRange(0, k-1).Draw(t, "victim")])
			for i := range victim.Diffs {
				victim.Diffs[i] = -victim.Diffs[i]
			}
			runs = append(runs, victim)
		}
		before := make([]differential.Deltas, len(runs))
		for i, r := range runs {
			before[i] = cloneDeltas(r)
		}
		got := Merge(runs...)
		if msg := diffDeltas(got, model(runs...)); msg != "" {
			t.Fatalf("Merge of %d runs: %s", len(runs), msg)
		}
		if i, reason := checkConsolidated(got); i >= 0 {
			t.Fatalf("Merge result, entry %d: %s", i, reason)
		}
		for i := range runs {
			if msg := diffDeltas(runs[i], before[i]); msg != "" {
				t.Fatalf("Merge modified run %d: %s", i, msg)
			}
		}
	})
}

func TestMergeCancelsToEmpty(t *testing.T) {
	d := SortDeltas(differential.Deltas{
		Groups: []string{"a", "b", "b"},
		Keys:   []differential.Key{1, 2, 3},
		Rows:   []string{"x", "y", "z"},
		Diffs:  []int64{1, 2, -4},
	})
	neg := cloneDeltas(d)
	for i := range neg.Diffs {
		neg.Diffs[i] = -neg.Diffs[i]
	}
	for _, runs := range [][]differential.Deltas{{d, neg}, {d, {}, neg}, {d, neg, {}, {}}} {
		if got := Merge(runs...); got.Len() != 0 {
			t.Fatalf("Merge of %d runs that cancel: %d entries", len(runs), got.Len())
		}
	}
}

func TestMergeOneRunIsACopy(t *testing.T) {
	_, d := smallRun()
	got := Merge(d)
	if msg := diffDeltas(got, d); msg != "" {
		t.Fatal(msg)
	}
	got.Diffs[0] = 42
	if d.Diffs[0] == 42 {
		t.Fatal("the result of Merge shares its diffs with the input")
	}
}

func TestSortDeltasPanicsOnRaggedColumns(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("SortDeltas of ragged columns did not panic")
		}
	}()
	SortDeltas(differential.Deltas{Groups: []string{"g"}, Keys: []differential.Key{1, 2}, Rows: []string{"a", "b"}, Diffs: []int64{1, 1}})
}
