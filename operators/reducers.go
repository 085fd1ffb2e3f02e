package operators

import (
	"fmt"
	"slices"

	"github.com/pwlog/pwlog/differential"
)

// Reducers.
const (
	opMin           = "min"
	opMax           = "max"
	opSum           = "sum"
	opCount         = "count"
	opAvg           = "avg"
	opCountDistinct = "count_distinct"
	opAny           = "any"
	opArgMin        = "argmin"
	opArgMax        = "argmax"
	opEarliest      = "earliest"
	opLatest        = "latest"
	opTuple         = "tuple"
	opSortedTuple   = "sorted_tuple"
)

// maxTupleLen bounds the values a Tuple or SortedTuple reducer gathers
// from one group (multiplicities included).
const maxTupleLen = 1 << 24

// Min reduces a column to its smallest non-null value in the group (null
// when there is none).
func Min(col string) Expr { return &aggExpr{op: opMin, name: col} }

// Max reduces a column to its largest non-null value in the group (null
// when there is none).
func Max(col string) Expr { return &aggExpr{op: opMax, name: col} }

// Sum reduces an int or float column to the sum of its non-null values
// over the group (0 when there is none).
func Sum(col string) Expr { return &aggExpr{op: opSum, name: col} }

// Count counts the rows of the group, nulls included.
func Count() Expr { return &aggExpr{op: opCount} }

// Avg reduces an int or float column to the mean of its non-null values,
// a float: their sum over their count (null when there is none).
func Avg(col string) Expr { return &aggExpr{op: opAvg, name: col} }

// CountDistinct counts the distinct non-null values of a column in the
// group, an int.
func CountDistinct(col string) Expr { return &aggExpr{op: opCountDistinct, name: col} }

// Any reduces a column to some non-null value of the group: this
// implementation gives the smallest (differential.Compare), so the result
// does not depend on the order rows came in. Null when there is none.
func Any(col string) Expr { return &aggExpr{op: opAny, name: col} }

// ArgMin gives the value of column ret in the row of the group with the
// smallest non-null value of col; among rows tied on col, the smallest
// ret. Null when col has no non-null value.
func ArgMin(col, ret string) Expr { return &aggExpr{op: opArgMin, name: col, ret: ret} }

// ArgMax gives the value of column ret in the row of the group with the
// largest non-null value of col; among rows tied on col, the smallest
// ret. Null when col has no non-null value.
func ArgMax(col, ret string) Expr { return &aggExpr{op: opArgMax, name: col, ret: ret} }

// Earliest gives col's non-null value in the group's row that arrived
// first: the row whose insertion came at the smallest logical time among
// the group's current rows, the smallest value among rows that came at
// one time. Null when there is none.
func Earliest(col string) Expr { return &aggExpr{op: opEarliest, name: col} }

// Latest gives col's non-null value in the group's row that arrived last
// (as Earliest: the largest logical time, the smallest value among rows
// that came at one time). Null when there is none.
func Latest(col string) Expr { return &aggExpr{op: opLatest, name: col} }

// Tuple gathers the group's values of col, nulls included, into a tuple
// (differential.KindTuple), each as many times as its multiplicity,
// ordered by arrival time (as Earliest), then by value. The output
// column's Elem is col's type, so Table.Flatten can take it apart.
func Tuple(col string) Expr { return &aggExpr{op: opTuple, name: col} }

// SortedTuple is Tuple with the values sorted (differential.Compare;
// nulls first).
func SortedTuple(col string) Expr { return &aggExpr{op: opSortedTuple, name: col} }

// aggExpr is a reducer in an expression.
type aggExpr struct {
	op   string
	name string // the input column; "" for count
	ret  string // argmin and argmax: the column whose value they give
}

// aggregate is a compiled reducer of one Reduce.
type aggregate struct {
	op  string
	col int // position of its column in the projected rows; -1 for count
	ret int // argmin, argmax: position of the ret column; else -1
	typ differential.Kind
	// in is the type of the reduced column (int or float for sum and
	// avg).
	in differential.Kind
	// desc names it in errors: avg(x).
	desc string
}

// keyed reports whether the reducer needs rows' arrival times.
func (a *aggregate) keyed() bool {
	return a.op == opEarliest || a.op == opLatest || a.op == opTuple
}

// running reports whether the reducer can be kept as a running aggregate.
func (a *aggregate) running() bool {
	return a.op == opCount || a.op == opSum || a.op == opAvg
}

func (x *aggExpr) compile(b *binder) (evalFn, differential.Kind, error) {
	if !b.reduce {
		return nil, 0, fmt.Errorf("reducer %s is only allowed in a Reduce's outputs", x)
	}
	a := &aggregate{op: x.op, col: -1, ret: -1, typ: differential.KindInt, desc: x.String()}
	if x.op != opCount {
		col := b.in.Index(x.name)
		if col < 0 {
			return nil, 0, fmt.Errorf("%s: no column %q in %v", x, x.name, b.in.Names())
		}
		a.in = b.in[col].Type
		a.col = b.proj.index(col)
		a.typ = a.in
		switch x.op {
		case opSum, opAvg:
			if !numeric(a.in) {
				return nil, 0, fmt.Errorf("%s: column %q is %s, want int or float", x, x.name, a.in)
			}
			if x.op == opAvg {
				a.typ = differential.KindFloat
			}
		case opCountDistinct:
			a.typ = differential.KindInt
		case opTuple, opSortedTuple:
			a.typ = differential.KindTuple
		case opArgMin, opArgMax:
			ret := b.in.Index(x.ret)
			if ret < 0 {
				return nil, 0, fmt.Errorf("%s: no column %q in %v", x, x.ret, b.in.Names())
			}
			a.ret = b.proj.index(ret)
			a.typ = b.in[ret].Type
		}
	}
	i := len(b.aggs)
	b.aggs = append(b.aggs, a)
	return func(e *env) differential.Value { return e.aggs[i] }, a.typ, nil
}

func (x *aggExpr) String() string {
	if x.ret != "" || x.op == opArgMin || x.op == opArgMax {
		return x.op + "(" + ident(x.name) + ", " + ident(x.ret) + ")"
	}
	if x.name == "" {
		return x.op + "()"
	}
	return x.op + "(" + ident(x.name) + ")"
}

// groupRows is a group's state decoded for the reducers: its projected
// rows, their multiplicities and, in a keyed Reduce, their arrival times.
type groupRows struct {
	rows    []differential.Row
	diffs   []int64
	arrival []int64 // nil unless keyed
}

// fold computes the reducer over a group's rows.
func (a *aggregate) fold(g *groupRows) (differential.Value, error) {
	switch a.op {
	case opCount:
		var n int64
		for _, d := range g.diffs {
			n += d
		}
		return differential.Int(n), nil
	case opSum, opAvg:
		var n, is int64
		var fs float64
		for i, r := range g.rows {
			v := r[a.col]
			if v.IsNull() {
				continue
			}
			n += g.diffs[i]
			if a.in == differential.KindInt {
				is += v.AsInt() * g.diffs[i]
			} else {
				fs += v.AsFloat() * float64(g.diffs[i])
			}
		}
		return sumResult(a, n, is, fs), nil
	case opCountDistinct:
		seen := map[differential.Value]int64{}
		for i, r := range g.rows {
			if v := r[a.col]; !v.IsNull() {
				seen[v] += g.diffs[i]
			}
		}
		var n int64
		for _, d := range seen {
			if d > 0 {
				n++
			}
		}
		return differential.Int(n), nil
	case opTuple, opSortedTuple:
		return a.tuple(g)
	}
	// The reducers that pick one row: min, max, any, argmin, argmax,
	// earliest, latest.
	best := -1
	for i, r := range g.rows {
		if g.diffs[i] <= 0 || r[a.col].IsNull() {
			continue
		}
		if best < 0 || a.better(g, i, best) {
			best = i
		}
	}
	if best < 0 {
		return differential.Null(), nil
	}
	if a.ret >= 0 {
		return g.rows[best][a.ret], nil
	}
	return g.rows[best][a.col], nil
}

// better reports whether row i of g beats row j for a reducer picking
// one row; both hold a non-null value.
func (a *aggregate) better(g *groupRows, i, j int) bool {
	vi, vj := g.rows[i][a.col], g.rows[j][a.col]
	switch a.op {
	case opMax:
		return differential.Compare(vi, vj) > 0
	case opArgMin, opArgMax:
		c := differential.Compare(vi, vj)
		if a.op == opArgMax {
			c = -c
		}
		if c != 0 {
			return c < 0
		}
		return compareValues(g.rows[i][a.ret], g.rows[j][a.ret]) < 0
	case opEarliest, opLatest:
		if ti, tj := g.arrival[i], g.arrival[j]; ti != tj {
			return (ti < tj) == (a.op == opEarliest)
		}
	}
	// min, any, and ties of earliest and latest: the smallest value.
	return differential.Compare(vi, vj) < 0
}

// compareValues is Compare with the kind breaking ties (an int and an
// equal float), as CompareRows does.
func compareValues(a, b differential.Value) int {
	return differential.CompareRows(differential.Row{a}, differential.Row{b})
}

// tuple gathers the values of a Tuple or SortedTuple reducer.
func (a *aggregate) tuple(g *groupRows) (differential.Value, error) {
	type item struct {
		t int64
		v differential.Value
	}
	var n int64
	for _, d := range g.diffs {
		if d > maxTupleLen-n {
			n = maxTupleLen + 1 // past the bound; also what an overflow would be
			break
		}
		if d > 0 {
			n += d
		}
	}
	if n > maxTupleLen {
		return differential.Value{}, fmt.Errorf("%s: a group of %d values, more than a tuple may hold (%d)", a.desc, n, maxTupleLen)
	}
	items := make([]item, 0, n)
	for i, r := range g.rows {
		var t int64
		if a.op == opTuple {
			t = g.arrival[i]
		}
		for range max(g.diffs[i], 0) {
			items = append(items, item{t, r[a.col]})
		}
	}
	slices.SortStableFunc(items, func(x, y item) int {
		if x.t != y.t {
			if x.t < y.t {
				return -1
			}
			return 1
		}
		return compareValues(x.v, y.v)
	})
	vs := make([]differential.Value, len(items))
	for i, it := range items {
		vs[i] = it.v
	}
	return differential.Tuple(vs...), nil
}

// sumResult is a sum or avg reducer's result from the count of non-null
// values n and their sum (is for an int column, fs for a float one).
func sumResult(a *aggregate, n, is int64, fs float64) differential.Value {
	if a.op == opSum {
		if a.in == differential.KindInt {
			return differential.Int(is)
		}
		return differential.Float(fs)
	}
	if n <= 0 {
		return differential.Null()
	}
	if a.in == differential.KindInt {
		return differential.Float(float64(is) / float64(n))
	}
	return differential.Float(fs / float64(n))
}
