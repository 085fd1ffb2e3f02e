package fuzz

import (
	"fmt"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
)

// expr is an expression of a generated pipeline: it builds the pwlog
// expression and evaluates itself in the model, independently of pwlog's
// evaluator, following /tmp/pwlog-api.md's semantics.
type expr interface {
	pw() pwlog.Expr
	eval(e *env) differential.Value
	kind() differential.Kind
	// null reports whether the expression may be null; exact whether
	// its float values sum exactly in any order.
	null() bool
	exact() bool
	// arrival: it reads the order rows arrived in (Earliest, Latest,
	// Tuple).
	arrival() bool
	String() string
}

// env is what an expression is evaluated on: in a row context the input
// row; in a reduce context also the group's rows (reducers read them) and
// the named group values a window adds (its bounds).
type env struct {
	row   differential.Row
	rows  []mrow
	named map[string]differential.Value
}

// colExpr reads a column: in a reduce context, a grouping column.
type colExpr struct {
	c   colInfo
	idx int
}

func (x colExpr) pw() pwlog.Expr          { return pwlog.Col(x.c.name) }
func (x colExpr) kind() differential.Kind { return x.c.kind }
func (x colExpr) null() bool              { return x.c.null }
func (x colExpr) exact() bool             { return x.c.exact }
func (x colExpr) String() string          { return x.c.name }
func (x colExpr) arrival() bool           { return false }
func (x colExpr) eval(e *env) differential.Value {
	if v, ok := e.named[x.c.name]; ok {
		return v
	}
	return e.row[x.idx]
}

// arithExpr is Add, Sub or Mul: int with int gives an int, else a float;
// a null operand gives null.
type arithExpr struct {
	op   string
	a, b expr
}

func (x arithExpr) pw() pwlog.Expr {
	switch x.op {
	case "+":
		return pwlog.Add(x.a.pw(), x.b.pw())
	case "-":
		return pwlog.Sub(x.a.pw(), x.b.pw())
	}
	return pwlog.Mul(x.a.pw(), x.b.pw())
}

func (x arithExpr) kind() differential.Kind {
	if x.a.kind() == differential.KindInt && x.b.kind() == differential.KindInt {
		return differential.KindInt
	}
	return differential.KindFloat
}
func (x arithExpr) null() bool     { return x.a.null() || x.b.null() }
func (x arithExpr) exact() bool    { return x.a.exact() && x.b.exact() }
func (x arithExpr) arrival() bool  { return x.a.arrival() || x.b.arrival() }
func (x arithExpr) String() string { return fmt.Sprintf("(%s %s %s)", x.a, x.op, x.b) }

func (x arithExpr) eval(e *env) differential.Value {
	a, b := x.a.eval(e), x.b.eval(e)
	if a.IsNull() || b.IsNull() {
		return differential.Null()
	}
	if x.kind() == differential.KindInt {
		switch x.op {
		case "+":
			return differential.Int(a.AsInt() + b.AsInt())
		case "-":
			return differential.Int(a.AsInt() - b.AsInt())
		}
		return differential.Int(a.AsInt() * b.AsInt())
	}
	fa, fb := num(a), num(b)
	switch x.op {
	case "+":
		return differential.Float(fa + fb)
	case "-":
		return differential.Float(fa - fb)
	}
	return differential.Float(fa * fb)
}

// num returns an int or float value as a float64.
func num(v differential.Value) float64 {
	if v.Kind == differential.KindInt {
		return float64(v.AsInt())
	}
	return v.AsFloat()
}

func numeric(k differential.Kind) bool {
	return k == differential.KindInt || k == differential.KindFloat
}

// exprGen draws expressions over the columns of a table: leaves are
// columns (or, in a reduce context, reducers and grouping columns).
type exprGen struct {
	leaf func(t *rapid.T, want func(differential.Kind) bool) expr // nil when none fits
}

// numExpr draws a numeric expression of at most depth operators, nil if
// no leaf is numeric.
func (g exprGen) numExpr(t *rapid.T, depth int) expr {
	if depth <= 0 || rapid.IntRange(0, 2).Draw(t, "leaf") == 0 {
		return g.leaf(t, numeric)
	}
	a := g.numExpr(t, depth-1)
	b := g.numExpr(t, depth-1)
	if a == nil || b == nil {
		return g.leaf(t, numeric)
	}
	return arithExpr{op: rapid.SampledFrom([]string{"+", "-", "*"}).Draw(t, "arith"), a: a, b: b}
}
