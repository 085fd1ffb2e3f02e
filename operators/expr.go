package operators

import (
	"fmt"

	"github.com/pwlog/pwlog/differential"
)

// Expr computes one output column of a Reduce from a group's rows: a
// grouping column, a reducer (min, max, count, sum) over an input column,
// or arithmetic on those.
type Expr interface {
	// bind resolves column names against the input schema and the
	// grouping columns, registers the input columns reducers read in p,
	// and returns the result type.
	bind(in differential.Schema, groupCols []int, p *projection) (differential.Kind, error)
	// eval computes the value over a group.
	eval(g *groupView) differential.Value
	// String describes the expression (part of the pipeline fingerprint).
	String() string
}

// groupView is one group, handed to expressions: its grouping values,
// and its rows projected to the columns reducers read, with their
// multiplicities.
type groupView struct {
	group differential.Row
	rows  []differential.Row
	diffs []int64
}

// projection lists the input columns that reducers read, in the order
// they are stored in a Reduce's state.
type projection struct{ cols []int }

// index returns the position of input column col in the projection,
// adding it when new.
func (p *projection) index(col int) int {
	for i, c := range p.cols {
		if c == col {
			return i
		}
	}
	p.cols = append(p.cols, col)
	return len(p.cols) - 1
}

// Col refers to a grouping column (or, in a window's reduce, to the
// instance or window bounds).
func Col(name string) Expr { return &colExpr{name: name} }

type colExpr struct {
	name string
	pos  int // position among the grouping columns
}

func (e *colExpr) bind(in differential.Schema, groupCols []int, _ *projection) (differential.Kind, error) {
	col := in.Index(e.name)
	if col < 0 {
		return 0, fmt.Errorf("no column %q in %v", e.name, in.Names())
	}
	for i, g := range groupCols {
		if g == col {
			e.pos = i
			return in[col].Type, nil
		}
	}
	return 0, fmt.Errorf("column %q is not a grouping column: use a reducer", e.name)
}

func (e *colExpr) eval(g *groupView) differential.Value { return g.group[e.pos] }
func (e *colExpr) String() string                       { return e.name }

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

type aggExpr struct {
	op   string
	name string
	col  int // position in the projected rows
	typ  differential.Kind
}

func (e *aggExpr) bind(in differential.Schema, _ []int, p *projection) (differential.Kind, error) {
	if e.op == opCount {
		e.typ = differential.KindInt
		return e.typ, nil
	}
	col := in.Index(e.name)
	if col < 0 {
		return 0, fmt.Errorf("%s: no column %q in %v", e.op, e.name, in.Names())
	}
	e.col = p.index(col)
	e.typ = in[col].Type
	if e.op == opSum && e.typ != differential.KindInt && e.typ != differential.KindFloat {
		return 0, fmt.Errorf("sum: column %q is %s, want int or float", e.name, e.typ)
	}
	return e.typ, nil
}

func (e *aggExpr) eval(g *groupView) differential.Value {
	switch e.op {
	case opCount:
		var n int64
		for _, d := range g.diffs {
			n += d
		}
		return differential.Int(n)
	case opSum:
		if e.typ == differential.KindInt {
			var s int64
			for i, r := range g.rows {
				s += r[e.col].AsInt() * g.diffs[i]
			}
			return differential.Int(s)
		}
		var s float64
		for i, r := range g.rows {
			s += r[e.col].AsFloat() * float64(g.diffs[i])
		}
		return differential.Float(s)
	}
	best := g.rows[0][e.col]
	for _, r := range g.rows[1:] {
		c := differential.Compare(r[e.col], best)
		if (e.op == opMin && c < 0) || (e.op == opMax && c > 0) {
			best = r[e.col]
		}
	}
	return best
}

func (e *aggExpr) String() string { return e.op + "(" + e.name + ")" }

// Add returns a + b.
func Add(a, b Expr) Expr { return &binExpr{op: "+", a: a, b: b} }

// Sub returns a - b.
func Sub(a, b Expr) Expr { return &binExpr{op: "-", a: a, b: b} }

// Mul returns a * b.
func Mul(a, b Expr) Expr { return &binExpr{op: "*", a: a, b: b} }

type binExpr struct {
	op   string
	a, b Expr
	typ  differential.Kind
}

func (e *binExpr) bind(in differential.Schema, groupCols []int, p *projection) (differential.Kind, error) {
	ta, err := e.a.bind(in, groupCols, p)
	if err != nil {
		return 0, err
	}
	tb, err := e.b.bind(in, groupCols, p)
	if err != nil {
		return 0, err
	}
	numeric := func(k differential.Kind) bool { return k == differential.KindInt || k == differential.KindFloat }
	if !numeric(ta) || !numeric(tb) {
		return 0, fmt.Errorf("%s: operands are %s and %s, want int or float", e, ta, tb)
	}
	e.typ = differential.KindInt
	if ta == differential.KindFloat || tb == differential.KindFloat {
		e.typ = differential.KindFloat
	}
	return e.typ, nil
}

func (e *binExpr) eval(g *groupView) differential.Value {
	a, b := e.a.eval(g), e.b.eval(g)
	if a.IsNull() || b.IsNull() {
		return differential.Null()
	}
	if e.typ == differential.KindInt {
		x, y := a.AsInt(), b.AsInt()
		switch e.op {
		case "+":
			return differential.Int(x + y)
		case "-":
			return differential.Int(x - y)
		default:
			return differential.Int(x * y)
		}
	}
	x, y := asFloat(a), asFloat(b)
	switch e.op {
	case "+":
		return differential.Float(x + y)
	case "-":
		return differential.Float(x - y)
	default:
		return differential.Float(x * y)
	}
}

func asFloat(v differential.Value) float64 {
	if v.Kind == differential.KindInt {
		return float64(v.AsInt())
	}
	return v.AsFloat()
}

func (e *binExpr) String() string { return "(" + e.a.String() + " " + e.op + " " + e.b.String() + ")" }
