package operators

import (
	"math"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/differential"
)

// Python: -3.0 % 3.0 == 0.0 (a zero remainder takes the divisor's sign),
// 3.0 % -3.0 == -0.0.
func TestFloatModZeroSign(t *testing.T) {
	cases := []struct {
		a, b Expr
		want float64
	}{
		{Lit(-3.0), Lit(3.0), 0},
		{Lit(-6), Lit(3.0), 0},
		{Lit(3.0), Lit(-3.0), math.Copysign(0, -1)},
	}
	for _, c := range cases {
		e := Mod(c.a, c.b)
		v, err := Eval(e, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v != differential.Float(c.want) {
			t.Errorf("%s = %s, Python gives %s", e, formatValue(v), formatValue(differential.Float(c.want)))
		}
	}
	// Consequence: ts % 3.0 for ts = -3.0 and ts = 3.0 (0.0 both in
	// Python) lands in two groups of a Reduce.
	ts := differential.Schema{{Name: "ts", Type: differential.KindFloat}}
	m1, _ := Eval(Mod(Col("ts"), Lit(3.0)), ts, differential.Row{differential.Float(-3)})
	m2, _ := Eval(Mod(Col("ts"), Lit(3.0)), ts, differential.Row{differential.Float(3)})
	r, err := NewReduce("r", ts, []string{"ts"}, []Output{{"m", Col("ts")}, {"n", Count()}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := r.Step(1, [][]differential.Update{{{Key: 1, Row: differential.Row{m1}, Diff: 1}, {Key: 2, Row: differential.Row{m2}, Diff: 1}}})
	if len(out) != 1 {
		t.Errorf("grouping by ts %% 3.0 of ts = -3.0 and 3.0 gives %d groups: %v", len(out), out)
	}
}

// A group whose multiplicities add up past MaxInt64 is refused, not a
// panic.
func TestTupleMultiplicityOverflow(t *testing.T) {
	in := differential.Schema{{Name: "g", Type: differential.KindInt}, {Name: "v", Type: differential.KindInt}}
	op, err := NewReduce("r", in, []string{"g"}, []Output{{"t", SortedTuple("v")}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Step panicked: %v", r)
		}
	}()
	_, err = op.Step(1, [][]differential.Update{{
		{Key: 1, Row: differential.Row{differential.Int(0), differential.Int(1)}, Diff: math.MaxInt64},
		{Key: 2, Row: differential.Row{differential.Int(0), differential.Int(2)}, Diff: 2},
	}})
	if err == nil {
		t.Fatal("a tuple of 2^63+1 values accepted")
	}
}

// Python compares an int with a float exactly: 2**53+1 == 2.0**53 is False.
func TestIntFloatCompareExact(t *testing.T) {
	big := Lit(int64(1<<53 + 1))
	f := Lit(float64(1 << 53))
	for _, c := range []struct {
		e    Expr
		want bool
	}{{Eq(big, f), false}, {Gt(big, f), true}, {Ne(big, f), true}} {
		v, err := Eval(c.e, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v != differential.Bool(c.want) {
			t.Errorf("%s = %v, want %v", c.e, v.AsBool(), c.want)
		}
	}
}

// TestFloorDivOverflow: MinInt64 // -1 is 2^63, no int64: null, as a
// division by zero, not a wrapped MinInt64.
func TestFloorDivOverflow(t *testing.T) {
	v, err := Eval(FloorDiv(Lit(int64(math.MinInt64)), Lit(-1)), nil, nil)
	if err != nil || !v.IsNull() {
		t.Fatalf("MinInt64 // -1 = %v, %v; want null", v, err)
	}
	if v, _ := Eval(Mod(Lit(int64(math.MinInt64)), Lit(-1)), nil, nil); v != differential.Int(0) {
		t.Fatalf("MinInt64 %% -1 = %v, want 0", v)
	}
}

// TestSlidingWindowFanOutBounded: a sliding window that would put each
// row in more than maxWindowsPerRow windows is refused when built.
func TestSlidingWindowFanOutBounded(t *testing.T) {
	in := differential.Schema{{Name: "t", Type: differential.KindInt}}
	if _, err := NewSlidingWindow("w", in, "t", nil, 1<<40, 1, 0); err == nil || !strings.Contains(err.Error(), "windows, more than") {
		t.Fatalf("err = %v, want the fan-out refused", err)
	}
	if _, err := NewSlidingWindow("w", in, "t", nil, maxWindowsPerRow, 1, 0); err != nil {
		t.Fatalf("a fan-out of %d: %v", maxWindowsPerRow, err)
	}
}
