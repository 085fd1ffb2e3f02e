package operators

import (
	"fmt"

	"github.com/pwlog/pwlog/differential"
)

// Reducers.
const (
	opMin   = "min"
	opMax   = "max"
	opSum   = "sum"
	opCount = "count"
)

// Min reduces a column to its smallest value in the group.
func Min(col string) Expr { return &aggExpr{op: opMin, name: col} }

// Max reduces a column to its largest value in the group.
func Max(col string) Expr { return &aggExpr{op: opMax, name: col} }

// Sum reduces an int or float column to its sum over the group.
func Sum(col string) Expr { return &aggExpr{op: opSum, name: col} }

// Count counts the rows of the group.
func Count() Expr { return &aggExpr{op: opCount} }

// aggExpr is a reducer in an expression.
type aggExpr struct {
	op   string
	name string // the input column; "" for count
}

// aggregate is a compiled reducer of one Reduce.
type aggregate struct {
	op  string
	col int // position of its column in the projected rows; -1 for count
	typ differential.Kind
}

func (x *aggExpr) compile(b *binder) (evalFn, differential.Kind, error) {
	if !b.reduce {
		return nil, 0, fmt.Errorf("reducer %s is only allowed in a Reduce's outputs", x)
	}
	a := &aggregate{op: x.op, col: -1, typ: differential.KindInt}
	if x.op != opCount {
		col := b.in.Index(x.name)
		if col < 0 {
			return nil, 0, fmt.Errorf("%s: no column %q in %v", x.op, x.name, b.in.Names())
		}
		a.col = b.proj.index(col)
		a.typ = b.in[col].Type
		if x.op == opSum && !numeric(a.typ) {
			return nil, 0, fmt.Errorf("sum: column %q is %s, want int or float", x.name, a.typ)
		}
	}
	i := len(b.aggs)
	b.aggs = append(b.aggs, a)
	return func(e *env) differential.Value { return e.aggs[i] }, a.typ, nil
}

func (x *aggExpr) String() string { return x.op + "(" + x.name + ")" }

// fold computes the reducer over a group's projected rows and their
// multiplicities.
func (a *aggregate) fold(rows []differential.Row, diffs []int64) differential.Value {
	switch a.op {
	case opCount:
		var n int64
		for _, d := range diffs {
			n += d
		}
		return differential.Int(n)
	case opSum:
		if a.typ == differential.KindInt {
			var s int64
			for i, r := range rows {
				s += r[a.col].AsInt() * diffs[i]
			}
			return differential.Int(s)
		}
		var s float64
		for i, r := range rows {
			s += r[a.col].AsFloat() * float64(diffs[i])
		}
		return differential.Float(s)
	}
	best := rows[0][a.col]
	for _, r := range rows[1:] {
		c := differential.Compare(r[a.col], best)
		if (a.op == opMin && c < 0) || (a.op == opMax && c > 0) {
			best = r[a.col]
		}
	}
	return best
}
