package operators

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/differential"
)

var dedupSchema = differential.Schema{
	{Name: "sensor", Type: differential.KindString},
	{Name: "reading", Type: differential.KindInt},
	{Name: "note", Type: differential.KindString},
}

func dedupRow(sensor string, reading int64, note string) differential.Row {
	return differential.Row{differential.String(sensor), differential.Int(reading), differential.String(note)}
}

func fmtDedup(out []differential.Update) []string {
	var s []string
	for _, u := range out {
		s = append(s, fmt.Sprintf("%+d %s,%d,%s", u.Diff, u.Row[0].AsString(), u.Row[1].AsInt(), u.Row[2].AsString()))
	}
	return s
}

// TestDeduplicate: the first row is kept, then replaced only by accepted
// rows, offered in ascending order of value (then row) within a time;
// retractions change nothing; a restarted operator goes on from its
// logged state.
func TestDeduplicate(t *testing.T) {
	var offered []string
	// Accept a reading that grows by at least 2 over the kept one.
	accept := func(n, o differential.Value) bool {
		offered = append(offered, fmt.Sprintf("%d>%d", n.AsInt(), o.AsInt()))
		return n.AsInt() >= o.AsInt()+2
	}
	newOp := func() *Deduplicate {
		op, err := NewDeduplicate("d", dedupSchema, Dedup{Value: "reading", Instance: []string{"sensor"}, Acceptor: accept})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	op := newOp()
	steps := []struct {
		in      []differential.Update
		want    []string
		offered []string
	}{
		{
			// Offered 1, 2, 3, 4, 4 (by note), 7: the kept row goes 1 → 3 → 7.
			in: []differential.Update{
				{Key: 1, Row: dedupRow("a", 4, "y"), Diff: 1},
				{Key: 2, Row: dedupRow("a", 2, "x"), Diff: 1},
				{Key: 3, Row: dedupRow("a", 7, "x"), Diff: 1},
				{Key: 4, Row: dedupRow("a", 1, "x"), Diff: 3},
				{Key: 5, Row: dedupRow("a", 4, "x"), Diff: 1},
				{Key: 6, Row: dedupRow("a", 3, "x"), Diff: 1},
				{Key: 7, Row: dedupRow("b", 5, "x"), Diff: 1},
			},
			want:    []string{"+1 a,7,x", "+1 b,5,x"},
			offered: []string{"2>1", "3>1", "4>3", "4>3", "7>3"},
		},
		{
			// Retractions are ignored, even of the kept row.
			in: []differential.Update{
				{Key: 3, Row: dedupRow("a", 7, "x"), Diff: -1},
				{Key: 8, Row: dedupRow("b", 6, "x"), Diff: 1},
			},
			offered: []string{"6>5"},
		},
		{
			in: []differential.Update{
				{Key: 9, Row: dedupRow("a", 9, "z"), Diff: 1},
				{Key: 10, Row: dedupRow("b", 7, "z"), Diff: 1},
			},
			want:    []string{"-1 a,7,x", "+1 a,9,z", "-1 b,5,x", "+1 b,7,z"},
			offered: []string{"9>7", "7>5"},
		},
	}
	var logged differential.Deltas
	for i, s := range steps {
		offered = nil
		out, err := op.Step(differential.Time(i+1), [][]differential.Update{s.in})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmtDedup(out); !slices.Equal(got, s.want) {
			t.Fatalf("step %d: got %v, want %v", i+1, got, s.want)
		}
		if !slices.Equal(offered, s.offered) {
			t.Fatalf("step %d: offered %v, want %v", i+1, offered, s.offered)
		}
		for _, u := range out {
			if u.Key != differential.HashBytes("d", differential.EncodeRow(u.Row[:1])) {
				t.Fatalf("step %d: key of %v is not hash(name, instance)", i+1, u.Row)
			}
		}
		logged.Append(op.kept.TakeDeltas())
		// Restart from the logged state before the last step.
		op = newOp()
		if err := op.kept.Apply(logged); err != nil {
			t.Fatal(err)
		}
	}
	if n := op.kept.Len(); n != 2 {
		t.Fatalf("the state holds %d rows, want one per instance", n)
	}
}

func TestDeduplicateNoInstanceAndPanic(t *testing.T) {
	op, err := NewDeduplicate("d", dedupSchema, Dedup{Value: "note", Acceptor: func(n, o differential.Value) bool {
		if n.AsString() == "boom" {
			panic("bad value")
		}
		return true
	}})
	if err != nil {
		t.Fatal(err)
	}
	out, err := op.Step(1, [][]differential.Update{{
		{Key: 1, Row: dedupRow("a", 1, "p"), Diff: 1},
		{Key: 2, Row: dedupRow("b", 2, "q"), Diff: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmtDedup(out); !slices.Equal(got, []string{"+1 b,2,q"}) {
		t.Fatalf("one instance: got %v", got)
	}
	_, err = op.Step(2, [][]differential.Update{{{Key: 3, Row: dedupRow("c", 3, "boom"), Diff: 1}}})
	if err == nil || !strings.Contains(err.Error(), `deduplicate "d": the Acceptor panicked`) {
		t.Fatalf("a panicking acceptor: %v", err)
	}
}

func TestDeduplicateBuildErrors(t *testing.T) {
	acc := func(n, o differential.Value) bool { return true }
	for _, c := range []struct {
		d    Dedup
		want string
	}{
		{Dedup{Value: "reading"}, "no Acceptor"},
		{Dedup{Value: "x", Acceptor: acc}, `no value column "x"`},
		{Dedup{Value: "reading", Instance: []string{"y"}, Acceptor: acc}, `no instance column "y"`},
	} {
		_, err := NewDeduplicate("d", dedupSchema, c.d)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `deduplicate "d"`) {
			t.Errorf("%+v: error %v, want %q", c.d, err, c.want)
		}
	}
}
