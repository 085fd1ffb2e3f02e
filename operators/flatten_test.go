package operators

import (
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/differential"
)

func TestFlatten(t *testing.T) {
	in := differential.Schema{
		{Name: "id", Type: differential.KindInt},
		{Name: "vals", Type: differential.KindTuple, Elem: differential.KindString},
		{Name: "x", Type: differential.KindFloat},
	}
	op, err := NewFlatten("fl", in, "vals")
	if err != nil {
		t.Fatal(err)
	}
	wantSchema := differential.Schema{in[0], {Name: "vals", Type: differential.KindString}, in[2]}
	if !slices.Equal(op.Schema(), wantSchema) {
		t.Fatalf("schema %v, want %v", op.Schema(), wantSchema)
	}
	if op.Describe() != "flatten(col=vals, elem=str)" || op.Kind() != "flatten" || len(op.Arrangements()) != 0 {
		t.Fatalf("Describe %q, Kind %q", op.Describe(), op.Kind())
	}
	s := differential.String
	rows := []differential.Update{
		{Key: 7, Row: differential.Row{differential.Int(1), differential.Tuple(s("a"), differential.Null(), s("a")), differential.Float(0.5)}, Diff: 2},
		{Key: 8, Row: differential.Row{differential.Int(2), differential.Tuple(), differential.Float(1)}, Diff: 1},
		{Key: 9, Row: differential.Row{differential.Int(3), differential.Null(), differential.Float(1)}, Diff: 1},
	}
	out, err := op.Step(5, [][]differential.Update{rows})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 {
		t.Fatalf("%d rows, want 3: %v", len(out), out)
	}
	keys := map[differential.Key]bool{}
	for i, want := range []differential.Value{s("a"), differential.Null(), s("a")} {
		u := out[i]
		if u.Row[1] != want || u.Row[0] != differential.Int(1) || u.Row[2] != differential.Float(0.5) || u.Diff != 2 || u.Time != 5 {
			t.Fatalf("row %d: %v", i, u)
		}
		keys[u.Key] = true
	}
	if len(keys) != 3 {
		t.Fatal("equal elements share a key")
	}
	// A retraction gives the same keys and rows, negated.
	back, err := op.Step(6, [][]differential.Update{{{Key: 7, Row: rows[0].Row, Diff: -2}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range back {
		if back[i].Key != out[i].Key || !back[i].Row.Equal(out[i].Row) || back[i].Diff != -2 {
			t.Fatalf("retraction %d: %v, inserted %v", i, back[i], out[i])
		}
	}
	// An element of another kind is an error naming the operator.
	_, err = op.Step(7, [][]differential.Update{{{Key: 1, Row: differential.Row{differential.Int(1), differential.Tuple(differential.Int(3)), differential.Null()}, Diff: 1}}})
	if err == nil || !strings.Contains(err.Error(), `flatten "fl": column "vals" holds a int element`) {
		t.Fatalf("wrong element kind: %v", err)
	}
}

func TestFlattenBuildErrors(t *testing.T) {
	in := differential.Schema{
		{Name: "i", Type: differential.KindInt},
		{Name: "t", Type: differential.KindTuple},
	}
	for col, want := range map[string]string{
		"nope": `flatten "f": no column "nope"`,
		"i":    `flatten "f": column "i" is int, want a tuple`,
		"t":    `flatten "f": column "t" is a tuple of unknown element type`,
	} {
		if _, err := NewFlatten("f", in, col); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("column %s: %v, want %q", col, err, want)
		}
	}
}
