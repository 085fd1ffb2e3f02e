package operators

import (
	"fmt"
	"strings"

	"github.com/pwlog/pwlog/differential"
)

// Expr is a typed expression: a column, a literal, arithmetic,
// comparisons and the other functions of this package, a user-defined
// function, or, inside a Reduce, a reducer over a group's rows.
//
// An expression is checked and compiled against its input schema when an
// operator is built: a column that does not exist, operands of the wrong
// type or a reducer outside a Reduce are errors then, not when rows flow.
// The same Expr may be used in several operators.
type Expr interface {
	// compile resolves the expression against the binder's schema and
	// returns its evaluator and result type.
	compile(b *binder) (evalFn, differential.Kind, error)
	// String describes the expression; it is part of the pipeline's
	// fingerprint.
	String() string
}

// evalFn evaluates a compiled expression in an environment.
type evalFn func(e *env) differential.Value

// binder is what an expression is compiled against.
type binder struct {
	// in is the input schema.
	in differential.Schema
	// reduce is set in a Reduce's outputs: Col names a grouping column
	// (group holds their input positions) and reducers are allowed.
	reduce bool
	group  []int
	// aggs collects the reducers of a Reduce's outputs, in the order
	// compiled; each reads its input column at its position in proj.
	aggs []*aggregate
	proj projection
	// udfs collects the user-defined functions called, for the operator
	// to give them state (a cache, or results kept per row).
	udfs []*udfCall
}

// env is what an evaluator reads: an input row (row operators) or a
// group (a Reduce's outputs).
type env struct {
	row differential.Row
	// group is the group's grouping values; aggs holds each reducer's
	// result, in the order of binder.aggs.
	group differential.Row
	aggs  []differential.Value
	// udf serves user-defined function calls: their caches and the
	// first error a function returned.
	udf *udfRuntime
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

// Col refers to an input column; in a Reduce's outputs, to a grouping
// column (or, after a window, to an instance column or a window bound).
func Col(name string) Expr { return colExpr(name) }

type colExpr string

func (c colExpr) compile(b *binder) (evalFn, differential.Kind, error) {
	col := b.in.Index(string(c))
	if col < 0 {
		return nil, 0, fmt.Errorf("no column %q in %v", string(c), b.in.Names())
	}
	typ := b.in[col].Type
	if !b.reduce {
		return func(e *env) differential.Value { return e.row[col] }, typ, nil
	}
	for i, g := range b.group {
		if g == col {
			return func(e *env) differential.Value { return e.group[i] }, typ, nil
		}
	}
	return nil, 0, fmt.Errorf("column %q is not a grouping column: use a reducer", string(c))
}

func (c colExpr) String() string { return ident(string(c)) }

// ident writes a column name in a description (String, Describe, part of
// the fingerprint): as it is when it is a plain identifier, else between
// backquotes (a backquote doubled), so that no name reads as a literal
// ("1", "null"), as two names ("a,b") or as more of the description.
func ident(name string) string {
	plain := name != "" && !keywords[name]
	for i, r := range name {
		if !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9') {
			plain = false
			break
		}
	}
	if plain {
		return name
	}
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// keywords are the words a literal prints as.
var keywords = map[string]bool{"null": true, "true": true, "false": true, "nan": true, "inf": true}

// idents is ident of every name, joined by commas.
func idents(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = ident(n)
	}
	return strings.Join(out, ",")
}

// compileAll compiles exprs, naming the failing one by its output name.
func compileAll(b *binder, outs []Output) ([]evalFn, differential.Schema, error) {
	fns := make([]evalFn, len(outs))
	schema := make(differential.Schema, len(outs))
	seen := map[string]bool{}
	for i, o := range outs {
		if o.Name == "" || seen[o.Name] {
			return nil, nil, fmt.Errorf("output column name %q is empty or repeated", o.Name)
		}
		seen[o.Name] = true
		if o.Expr == nil {
			return nil, nil, fmt.Errorf("column %q: no expression", o.Name)
		}
		fn, typ, err := o.Expr.compile(b)
		if err != nil {
			return nil, nil, fmt.Errorf("column %q: %w", o.Name, err)
		}
		fns[i] = fn
		schema[i] = differential.Column{Name: o.Name, Type: typ}
		if c, ok := o.Expr.(colExpr); ok {
			// A column taken as it is keeps its tuple element type.
			schema[i].Elem = b.in[b.in.Index(string(c))].Elem
		}
	}
	return fns, schema, nil
}

// Eval compiles e against the schema in, in a row context, and evaluates
// it on row: for tests and models of pipelines. A user-defined function
// is called directly, without cache; its error (or a result of the wrong
// kind) is returned.
func Eval(e Expr, in differential.Schema, row differential.Row) (differential.Value, error) {
	if e == nil {
		return differential.Null(), fmt.Errorf("eval: no expression")
	}
	fn, _, err := e.compile(&binder{in: in})
	if err != nil {
		return differential.Null(), err
	}
	if len(row) != len(in) {
		return differential.Null(), fmt.Errorf("eval %s: the row has %d values, the schema %d columns", e, len(row), len(in))
	}
	rt := &udfRuntime{op: "eval " + e.String()}
	v := fn(&env{row: row, udf: rt})
	if rt.err != nil {
		return differential.Null(), rt.err
	}
	return v, nil
}
