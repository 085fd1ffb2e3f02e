package fuzz

import (
	"fmt"
	"slices"
	"strings"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
)

// The reduce family: GroupBy(...).Reduce with reducers and arithmetic
// over them and the grouping columns. The reducer outputs are shared
// with the windows' reduces.

// aggExpr is a reducer over the rows of a group (reduce context).
type aggExpr struct {
	op   string
	c    colInfo // the column it reads; none for count
	idx  int     // the column's position in the input rows
	ret  colInfo // argmin and argmax: the column whose value they give
	ridx int
}

// reducers are the reducers drawn; ok says whether one takes column c
// (count takes none; arrival says whether the rows' arrivals are known).
var reducers = []struct {
	op string
	ok func(c colInfo, arrival bool) bool
}{
	{"count", nil},
	{"sum", func(c colInfo, _ bool) bool { return numeric(c.kind) && c.exact }},
	{"avg", func(c colInfo, _ bool) bool { return numeric(c.kind) && c.exact }},
	{"min", scalar},
	{"max", scalar},
	{"count_distinct", scalar},
	{"any", scalar},
	{"argmin", scalar},
	{"argmax", scalar},
	{"earliest", func(c colInfo, arrival bool) bool { return arrival && scalar(c, arrival) }},
	{"latest", func(c colInfo, arrival bool) bool { return arrival && scalar(c, arrival) }},
	{"tuple", func(c colInfo, arrival bool) bool { return arrival && scalar(c, arrival) }},
	{"sorted_tuple", scalar},
}

// scalar: not a tuple (tuples of tuples are left out).
func scalar(c colInfo, _ bool) bool { return c.kind != differential.KindTuple }

// arrivalReducers read the order rows arrived in.
var arrivalReducers = []string{"earliest", "latest", "tuple"}

func (x aggExpr) pw() pwlog.Expr {
	switch x.op {
	case "count":
		return pwlog.Count()
	case "sum":
		return pwlog.Sum(x.c.name)
	case "avg":
		return pwlog.Avg(x.c.name)
	case "min":
		return pwlog.Min(x.c.name)
	case "max":
		return pwlog.Max(x.c.name)
	case "count_distinct":
		return pwlog.CountDistinct(x.c.name)
	case "any":
		return pwlog.Any(x.c.name)
	case "argmin":
		return pwlog.ArgMin(x.c.name, x.ret.name)
	case "argmax":
		return pwlog.ArgMax(x.c.name, x.ret.name)
	case "earliest":
		return pwlog.Earliest(x.c.name)
	case "latest":
		return pwlog.Latest(x.c.name)
	case "tuple":
		return pwlog.Tuple(x.c.name)
	}
	return pwlog.SortedTuple(x.c.name)
}

func (x aggExpr) kind() differential.Kind {
	switch x.op {
	case "count", "count_distinct":
		return differential.KindInt
	case "avg":
		return differential.KindFloat
	case "argmin", "argmax":
		return x.ret.kind
	case "tuple", "sorted_tuple":
		return differential.KindTuple
	}
	return x.c.kind
}

// null: the reducers that skip nulls give null for a group of nulls.
func (x aggExpr) null() bool {
	switch x.op {
	case "count", "sum", "count_distinct", "tuple", "sorted_tuple":
		return false
	case "argmin", "argmax":
		return x.c.null || x.ret.null
	}
	return x.c.null
}

func (x aggExpr) exact() bool {
	switch x.op {
	case "count", "count_distinct":
		return true
	case "avg":
		return false
	case "argmin", "argmax":
		return x.ret.exact
	}
	return x.c.exact
}

func (x aggExpr) arrival() bool { return slices.Contains(arrivalReducers, x.op) }

func (x aggExpr) String() string {
	switch x.op {
	case "count":
		return "count()"
	case "argmin", "argmax":
		return x.op + "(" + x.c.name + ", " + x.ret.name + ")"
	}
	return x.op + "(" + x.c.name + ")"
}

// eval folds the group's rows as /tmp/pwlog-api.md says: count counts
// them all, tuple and sorted_tuple take every value, the others skip
// nulls (sum of none is 0, the rest null).
func (x aggExpr) eval(e *env) differential.Value {
	if x.op == "count" {
		return differential.Int(int64(len(e.rows)))
	}
	var rows []mrow // those with a non-null value
	for _, r := range e.rows {
		if !r.vals[x.idx].IsNull() {
			rows = append(rows, r)
		}
	}
	v := func(r mrow) differential.Value { return r.vals[x.idx] }
	switch x.op {
	case "sum", "avg":
		var is int64
		var fs float64
		for _, r := range rows {
			if x.c.kind == differential.KindInt {
				is += v(r).AsInt()
			} else {
				fs += v(r).AsFloat()
			}
		}
		switch {
		case x.op == "sum" && x.c.kind == differential.KindInt:
			return differential.Int(is)
		case x.op == "sum":
			return differential.Float(fs)
		case len(rows) == 0:
			return differential.Null()
		case x.c.kind == differential.KindInt:
			return differential.Float(float64(is) / float64(len(rows)))
		}
		return differential.Float(fs / float64(len(rows)))
	case "count_distinct":
		seen := map[differential.Value]bool{}
		for _, r := range rows {
			seen[v(r)] = true
		}
		return differential.Int(int64(len(seen)))
	case "tuple", "sorted_tuple":
		all := slices.Clone(e.rows)
		slices.SortStableFunc(all, func(a, b mrow) int {
			if x.op == "tuple" && a.arr != b.arr {
				return a.arr - b.arr
			}
			return differential.CompareRows(differential.Row{v(a)}, differential.Row{v(b)})
		})
		vs := make([]differential.Value, len(all))
		for i, r := range all {
			vs[i] = v(r)
		}
		return differential.Tuple(vs...)
	}
	if len(rows) == 0 {
		return differential.Null()
	}
	// The reducers that pick a row: better(a, b) says a beats b.
	var better func(a, b mrow) bool
	switch x.op {
	case "min", "any":
		better = func(a, b mrow) bool { return differential.Compare(v(a), v(b)) < 0 }
	case "max":
		better = func(a, b mrow) bool { return differential.Compare(v(a), v(b)) > 0 }
	case "argmin", "argmax":
		better = func(a, b mrow) bool {
			c := differential.Compare(v(a), v(b))
			if x.op == "argmax" {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
			return differential.CompareRows(differential.Row{a.vals[x.ridx]}, differential.Row{b.vals[x.ridx]}) < 0
		}
	case "earliest", "latest":
		better = func(a, b mrow) bool {
			if a.arr != b.arr {
				return (a.arr < b.arr) == (x.op == "earliest")
			}
			return differential.Compare(v(a), v(b)) < 0
		}
	}
	best := rows[0]
	for _, r := range rows[1:] {
		if better(r, best) {
			best = r
		}
	}
	if x.op == "argmin" || x.op == "argmax" {
		return best.vals[x.ridx]
	}
	return v(best)
}

// aggLeaves returns the reducers over the columns of in whose kind
// suits want.
func aggLeaves(g *gen, in *tinfo, want func(differential.Kind) bool) []expr {
	var out []expr
	for _, r := range reducers {
		if r.ok == nil {
			if a := (aggExpr{op: r.op}); want(a.kind()) {
				out = append(out, a)
			}
			continue
		}
		for i, c := range in.cols {
			if !r.ok(c, in.arrival && g.o.arrival) {
				continue
			}
			a := aggExpr{op: r.op, c: c, idx: i}
			if r.op == "argmin" || r.op == "argmax" {
				a.ridx = rapid.IntRange(0, len(in.cols)-1).Draw(g.t, "argRet")
				a.ret = in.cols[a.ridx]
			}
			if want(a.kind()) {
				out = append(out, a)
			}
		}
	}
	return out
}

// output is a named output column.
type output struct {
	name string
	e    expr
}

func (o output) col() colInfo {
	c := colInfo{name: o.name, kind: o.e.kind(), null: o.e.null(), exact: o.e.exact()}
	// The Tuple reducers give their column's element kind; a column
	// passed on keeps its own; another tuple's (argmin's) is unknown.
	switch x := o.e.(type) {
	case aggExpr:
		if x.op == "tuple" || x.op == "sorted_tuple" {
			c.elem, c.elemNull = x.c.kind, x.c.null
		}
	case colExpr:
		c.elem, c.elemNull = x.c.elem, x.c.elemNull
	}
	return c
}

func pwOuts(outs []output) []pwlog.Output {
	out := make([]pwlog.Output, len(outs))
	for i, o := range outs {
		out[i] = pwlog.Out(o.name, o.e.pw())
	}
	return out
}

func outsString(outs []output) string {
	var s []string
	for _, o := range outs {
		s = append(s, o.name+"="+o.e.String())
	}
	return strings.Join(s, ", ")
}

// reduceOutputs draws the outputs of a reduce over in grouped by group
// (columns of in, or a window's bounds): every grouping column, then one
// to three expressions of reducers and grouping columns.
func reduceOutputs(g *gen, name string, in *tinfo, group []colExpr) (outs []output, info *tinfo) {
	for _, c := range group {
		outs = append(outs, output{name: fmt.Sprintf("%s_%d", name, len(outs)), e: c})
	}
	eg := exprGen{leaf: func(t *rapid.T, want func(differential.Kind) bool) expr {
		var leaves []expr
		for _, c := range group {
			if want(c.c.kind) {
				leaves = append(leaves, c)
			}
		}
		leaves = append(leaves, aggLeaves(g, in, want)...)
		if len(leaves) == 0 {
			return nil
		}
		return leaves[rapid.IntRange(0, len(leaves)-1).Draw(t, "reduceLeaf")]
	}}
	for range rapid.IntRange(1, 3).Draw(g.t, "reducers") {
		e := eg.numExpr(g.t, 2)
		if e == nil || rapid.Bool().Draw(g.t, "plainReducer") {
			e = eg.leaf(g.t, func(differential.Kind) bool { return true })
		}
		outs = append(outs, output{name: fmt.Sprintf("%s_%d", name, len(outs)), e: e})
	}
	// A tuple now and then, for Flatten to take apart.
	if rapid.IntRange(0, 3).Draw(g.t, "tupleOutput") == 0 {
		if ts := aggLeaves(g, in, func(k differential.Kind) bool { return k == differential.KindTuple }); len(ts) > 0 {
			outs = append(outs, output{name: fmt.Sprintf("%s_%d", name, len(outs)), e: rapid.SampledFrom(ts).Draw(g.t, "tuple")})
		}
	}
	info = &tinfo{}
	for _, o := range outs {
		info.cols = append(info.cols, o.col())
	}
	return outs, info
}

// reduceGroup computes the output row of a non-empty group.
func reduceGroup(outs []output, rows []mrow, named map[string]differential.Value) mrow {
	e := &env{row: rows[0].vals, rows: rows, named: named}
	vals := make(differential.Row, len(outs))
	for i, o := range outs {
		vals[i] = o.e.eval(e)
	}
	return mrow{vals: vals, arr: -1}
}

// reduceOp is GroupBy(by...).Reduce(outs...).
type reduceOp struct {
	by   []colExpr
	outs []output
}

// readsArrival reports whether an output reads the order rows arrived
// in.
func readsArrival(outs []output) bool {
	return slices.ContainsFunc(outs, func(o output) bool { return o.e.arrival() })
}

func genReduce(g *gen, name string, ins []*tinfo) (op, *tinfo) {
	in := ins[0]
	idx := rapid.Permutation(indexes(len(in.cols))).Draw(g.t, "groupCols")
	idx = idx[:rapid.IntRange(0, min(2, len(idx))).Draw(g.t, "groupBy")]
	var by []colExpr
	for _, i := range idx {
		by = append(by, colExpr{c: in.cols[i], idx: i})
	}
	outs, info := reduceOutputs(g, name, in, by)
	return &reduceOp{by: by, outs: outs}, info
}

func (o *reduceOp) arrivalOrder() bool { return readsArrival(o.outs) }

func (o *reduceOp) build(p *pwlog.Pipeline, name string, ins []*pwlog.Table) *pwlog.Table {
	var by []string
	for _, c := range o.by {
		by = append(by, c.c.name)
	}
	return ins[0].GroupBy(by...).Reduce(name, pwOuts(o.outs)...)
}

func (o *reduceOp) model(ins [][]mrow) []mrow {
	var cols []int
	for _, c := range o.by {
		cols = append(cols, c.idx)
	}
	var out []mrow
	for _, rows := range groupBy(ins[0], cols) {
		out = append(out, reduceGroup(o.outs, rows, nil))
	}
	return out
}

func (o *reduceOp) String() string {
	var by []string
	for _, c := range o.by {
		by = append(by, c.c.name)
	}
	return fmt.Sprintf("reduce(by=[%s], %s)", strings.Join(by, ","), outsString(o.outs))
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
