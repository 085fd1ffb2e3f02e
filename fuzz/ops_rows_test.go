package fuzz

import (
	"fmt"
	"slices"
	"strings"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/operators"
)

// The row families: Select, WithColumns, Filter, Rename and Union, with
// random typed row expressions (literals, arithmetic, division and
// modulo, comparisons, logic, If, Coalesce, null tests, strings, casts,
// and user-defined functions: deterministic, cached, or neither). The
// model evaluates row expressions with operators.Eval (the expression
// semantics are the operators package's tests'; here what counts is
// that each row's value is the same whatever the runs, batches, crashes
// and restarts); it does the operators' work itself.

// rowExpr is a row expression: the pwlog expression, evaluated by
// operators.Eval against the input schema.
type rowExpr struct {
	e        pwlog.Expr
	in       differential.Schema
	k        differential.Kind
	nul, exa bool
}

func (x rowExpr) pw() pwlog.Expr          { return x.e }
func (x rowExpr) kind() differential.Kind { return x.k }
func (x rowExpr) null() bool              { return x.nul }
func (x rowExpr) exact() bool             { return x.exa }
func (x rowExpr) arrival() bool           { return false }
func (x rowExpr) String() string          { return x.e.String() }
func (x rowExpr) eval(e *env) differential.Value {
	v, err := operators.Eval(x.e, x.in, e.row)
	if err != nil {
		panic(fmt.Sprintf("eval %s on %v: %v", x.e, e.row, err))
	}
	return v
}

func schemaOf(t *tinfo) differential.Schema {
	var s differential.Schema
	for _, c := range t.cols {
		s = append(s, differential.Column{Name: c.name, Type: c.kind, Elem: c.elem})
	}
	return s
}

// udfs are the user-defined functions drawn: pure functions of one
// argument, so that a from-scratch evaluation gives what pwlog kept.
var udfs = []struct {
	in, ret differential.Kind
	fn      func(differential.Value) differential.Value
}{
	{differential.KindInt, differential.KindInt, func(v differential.Value) differential.Value {
		if v.IsNull() {
			return differential.Int(-7)
		}
		return differential.Int(v.AsInt()*3 + 1)
	}},
	{differential.KindString, differential.KindString, func(v differential.Value) differential.Value {
		if v.IsNull() {
			return differential.Null()
		}
		return differential.String(strings.Repeat(v.AsString(), 2) + "!")
	}},
	{differential.KindFloat, differential.KindBool, func(v differential.Value) differential.Value {
		if v.IsNull() {
			return differential.Null()
		}
		return differential.Bool(v.AsFloat() > 1)
	}},
}

// rowGen draws row expressions over a table.
type rowGen struct {
	g    *gen
	in   *tinfo
	sch  differential.Schema
	name string // the operator's: UDF names derive from it
	udfs int
}

type typed struct {
	e             pwlog.Expr
	k             differential.Kind
	null, inexact bool
}

var scalarKinds = []differential.Kind{differential.KindInt, differential.KindFloat, differential.KindString, differential.KindBool}

// draw returns an expression of kind k of at most depth operators.
func (r *rowGen) draw(k differential.Kind, depth int) typed {
	t := r.g.t
	if depth <= 0 || rapid.IntRange(0, 3).Draw(t, "rowLeaf") == 0 {
		return r.leaf(k)
	}
	switch k {
	case differential.KindInt:
		switch rapid.IntRange(0, 5).Draw(t, "intOp") {
		case 0:
			a, b := r.draw(k, depth-1), r.draw(k, depth-1)
			op := rapid.SampledFrom([]string{"+", "-", "*"}).Draw(t, "arith")
			f := map[string]func(a, b pwlog.Expr) pwlog.Expr{"+": pwlog.Add, "-": pwlog.Sub, "*": pwlog.Mul}[op]
			return typed{e: f(a.e, b.e), k: k, null: a.null || b.null}
		case 1:
			a, b := r.draw(k, depth-1), r.draw(k, depth-1)
			f := rapid.SampledFrom([]string{"//", "%"}).Draw(t, "divOp")
			e := pwlog.FloorDiv(a.e, b.e)
			if f == "%" {
				e = pwlog.Mod(a.e, b.e)
			}
			return typed{e: e, k: k, null: true}
		case 2:
			from := rapid.SampledFrom([]differential.Kind{differential.KindFloat, differential.KindBool, differential.KindString}).Draw(t, "castFrom")
			a := r.draw(from, depth-1)
			return typed{e: pwlog.Cast(k, a.e), k: k, null: true}
		case 3:
			return r.udf(k, depth)
		}
	case differential.KindFloat:
		switch rapid.IntRange(0, 3).Draw(t, "floatOp") {
		case 0:
			a, b := r.draw(differential.KindFloat, depth-1), r.draw(rapid.SampledFrom([]differential.Kind{differential.KindInt, differential.KindFloat}).Draw(t, "numKind"), depth-1)
			return typed{e: pwlog.Add(a.e, b.e), k: k, null: a.null || b.null, inexact: a.inexact || b.inexact}
		case 1:
			a, b := r.draw(differential.KindInt, depth-1), r.draw(differential.KindFloat, depth-1)
			return typed{e: pwlog.Div(a.e, b.e), k: k, null: true, inexact: true}
		case 2:
			a := r.draw(differential.KindInt, depth-1)
			return typed{e: pwlog.Cast(k, a.e), k: k, null: a.null}
		}
	case differential.KindBool:
		switch rapid.IntRange(0, 5).Draw(t, "boolOp") {
		case 0:
			ck := rapid.SampledFrom(scalarKinds).Draw(t, "cmpKind")
			a, b := r.draw(ck, depth-1), r.draw(ck, depth-1)
			f := rapid.SampledFrom([]func(a, b pwlog.Expr) pwlog.Expr{pwlog.Eq, pwlog.Ne, pwlog.Lt, pwlog.Le, pwlog.Gt, pwlog.Ge}).Draw(t, "cmp")
			return typed{e: f(a.e, b.e), k: k, null: a.null || b.null}
		case 1:
			a, b := r.draw(k, depth-1), r.draw(k, depth-1)
			if rapid.Bool().Draw(t, "and") {
				return typed{e: pwlog.And(a.e, b.e), k: k, null: a.null || b.null}
			}
			return typed{e: pwlog.Or(a.e, b.e), k: k, null: a.null || b.null}
		case 2:
			a := r.draw(k, depth-1)
			return typed{e: pwlog.Not(a.e), k: k, null: a.null}
		case 3:
			a := r.draw(rapid.SampledFrom(scalarKinds).Draw(t, "testKind"), depth-1)
			if rapid.Bool().Draw(t, "isNull") {
				return typed{e: pwlog.IsNull(a.e), k: k}
			}
			return typed{e: pwlog.IsNotNull(a.e), k: k}
		case 4:
			a, b := r.draw(differential.KindString, depth-1), r.draw(differential.KindString, depth-1)
			return typed{e: pwlog.Contains(a.e, b.e), k: k, null: a.null || b.null}
		}
	case differential.KindString:
		switch rapid.IntRange(0, 4).Draw(t, "strOp") {
		case 0:
			a, b := r.draw(k, depth-1), r.draw(k, depth-1)
			return typed{e: pwlog.Concat(a.e, b.e), k: k, null: a.null || b.null}
		case 1:
			a := r.draw(k, depth-1)
			if rapid.Bool().Draw(t, "lower") {
				return typed{e: pwlog.Lower(a.e), k: k, null: a.null}
			}
			return typed{e: pwlog.Upper(a.e), k: k, null: a.null}
		case 2:
			a := r.draw(rapid.SampledFrom([]differential.Kind{differential.KindInt, differential.KindBool}).Draw(t, "castFrom"), depth-1)
			return typed{e: pwlog.Cast(k, a.e), k: k, null: a.null}
		case 3:
			return r.udf(k, depth)
		}
	}
	// If and Coalesce, of any kind; a null literal (whose kind is null)
	// as their second branch only, so the kind is the first's.
	a, b := r.draw(k, depth-1), r.draw(k, depth-1)
	if rapid.IntRange(0, 3).Draw(t, "nullLit") == 0 {
		b = typed{e: pwlog.Lit(nil), k: k, null: true}
	}
	if rapid.Bool().Draw(t, "if") {
		c := r.draw(differential.KindBool, depth-1)
		return typed{e: pwlog.If(c.e, a.e, b.e), k: k, null: a.null || b.null, inexact: a.inexact || b.inexact}
	}
	return typed{e: pwlog.Coalesce(a.e, b.e), k: k, null: a.null && b.null, inexact: a.inexact || b.inexact}
}

// leaf returns a column of kind k, or a literal.
func (r *rowGen) leaf(k differential.Kind) typed {
	cols := r.in.pick(func(c colInfo) bool { return c.kind == k })
	if len(cols) > 0 && rapid.IntRange(0, 2).Draw(r.g.t, "colOrLit") > 0 {
		c := r.in.cols[rapid.SampledFrom(cols).Draw(r.g.t, "col")]
		return typed{e: pwlog.Col(c.name), k: k, null: c.null, inexact: !c.exact}
	}
	return typed{e: pwlog.Lit(genValue(r.g.t, colInfo{kind: k})), k: k}
}

// udf calls a user-defined function returning kind k, if one does.
func (r *rowGen) udf(k differential.Kind, depth int) typed {
	var fit []int
	for i, u := range udfs {
		if u.ret == k {
			fit = append(fit, i)
		}
	}
	if len(fit) == 0 {
		return r.leaf(k)
	}
	i := rapid.SampledFrom(fit).Draw(r.g.t, "udf")
	opts := rapid.SampledFrom([]pwlog.UDFOptions{{}, {Deterministic: true}, {Cache: true}, {Deterministic: true, Cache: true}}).Draw(r.g.t, "udfOptions")
	fn := udfs[i].fn
	u := pwlog.UDF(fmt.Sprintf("%s_f%d", r.name, r.udfs), udfs[i].ret, func(args []differential.Value) (differential.Value, error) {
		return fn(args[0]), nil
	}, opts)
	r.udfs++
	a := r.draw(udfs[i].in, depth-1)
	return typed{e: u.Call(a.e), k: k, null: true}
}

func (r *rowGen) expr(k differential.Kind, depth int) rowExpr {
	x := r.draw(k, depth)
	return rowExpr{e: x.e, in: r.sch, k: k, nul: x.null, exa: !x.inexact}
}

// rowsOp is Select, WithColumns, Filter, Rename or a Union of a table
// with a Filter of itself.
type rowsOp struct {
	kind    string
	outs    []output // select, with_columns: the outputs
	cond    rowExpr  // filter, union
	renames map[string]string
	out     *tinfo
}

func genRows(g *gen, name string, ins []*tinfo) (op, *tinfo) {
	in := ins[0]
	rg := &rowGen{g: g, in: in, sch: schemaOf(in), name: name}
	o := &rowsOp{kind: rapid.SampledFrom([]string{"select", "with_columns", "filter", "rename", "union"}).Draw(g.t, "rowOp")}
	info := &tinfo{arrival: in.arrival, appendOnly: in.appendOnly}
	switch o.kind {
	case "select", "with_columns":
		if o.kind == "with_columns" {
			info.cols = slices.Clone(in.cols)
		}
		for j := range rapid.IntRange(1, 3).Draw(g.t, "outputs") {
			var out output
			if o.kind == "select" && rapid.Bool().Draw(g.t, "keep") {
				i := rapid.IntRange(0, len(in.cols)-1).Draw(g.t, "keepCol")
				if slices.ContainsFunc(o.outs, func(x output) bool { return x.name == in.cols[i].name }) {
					continue
				}
				out = output{name: in.cols[i].name, e: colExpr{c: in.cols[i], idx: i}}
			} else {
				out.name = fmt.Sprintf("%s_%d", name, j)
				if o.kind == "with_columns" && rapid.IntRange(0, 2).Draw(g.t, "replace") == 0 {
					out.name = in.cols[rapid.IntRange(0, len(in.cols)-1).Draw(g.t, "replaced")].name
				}
				if slices.ContainsFunc(o.outs, func(x output) bool { return x.name == out.name }) {
					continue
				}
				out.e = rg.expr(rapid.SampledFrom(scalarKinds).Draw(g.t, "outKind"), 3)
			}
			o.outs = append(o.outs, out)
			if i := slices.IndexFunc(info.cols, func(c colInfo) bool { return c.name == out.name }); i >= 0 {
				info.cols[i] = out.col()
			} else {
				info.cols = append(info.cols, out.col())
			}
		}
	case "filter", "union":
		o.cond = rg.expr(differential.KindBool, 3)
		info.cols = in.cols
	case "rename":
		i := rapid.IntRange(0, len(in.cols)-1).Draw(g.t, "renamed")
		o.renames = map[string]string{in.cols[i].name: fmt.Sprintf("%s_%d", name, 0)}
		info.cols = slices.Clone(in.cols)
		info.cols[i].name = o.renames[in.cols[i].name]
	}
	o.out = info
	return o, info
}

func (o *rowsOp) build(p *pwlog.Pipeline, name string, ins []*pwlog.Table) *pwlog.Table {
	switch o.kind {
	case "select":
		return ins[0].Select(name, pwOuts(o.outs)...)
	case "with_columns":
		return ins[0].WithColumns(name, pwOuts(o.outs)...)
	case "filter":
		return ins[0].Filter(name, o.cond.e)
	case "rename":
		return ins[0].Rename(name, o.renames)
	}
	return p.Union(name, ins[0], ins[0].Filter(name+"_f", o.cond.e))
}

func (o *rowsOp) model(ins [][]mrow) []mrow {
	var out []mrow
	keep := func(r mrow) bool {
		v := o.cond.eval(&env{row: r.vals})
		return !v.IsNull() && v.AsBool()
	}
	for _, r := range ins[0] {
		switch o.kind {
		case "select", "with_columns":
			vals := make(differential.Row, len(o.out.cols))
			if o.kind == "with_columns" {
				copy(vals, r.vals)
			}
			for _, x := range o.outs {
				i := slices.IndexFunc(o.out.cols, func(c colInfo) bool { return c.name == x.name })
				vals[i] = x.e.eval(&env{row: r.vals})
			}
			out = append(out, mrow{vals: vals, arr: r.arr})
		case "filter":
			if keep(r) {
				out = append(out, r)
			}
		case "rename":
			out = append(out, r)
		case "union":
			out = append(out, r)
			if keep(r) {
				out = append(out, r)
			}
		}
	}
	return out
}

func (o *rowsOp) String() string {
	switch o.kind {
	case "select", "with_columns":
		return fmt.Sprintf("%s(%s)", o.kind, outsString(o.outs))
	case "rename":
		return fmt.Sprintf("rename(%v)", o.renames)
	case "filter":
		return fmt.Sprintf("filter(%s)", o.cond)
	}
	return fmt.Sprintf("union(itself, filter(%s))", o.cond)
}
