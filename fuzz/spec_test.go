package fuzz

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
)

// colInfo describes a column of a table of a generated pipeline, as the
// generator knows it.
type colInfo struct {
	name string
	kind differential.Kind
	// null: the column may hold nulls. exact: its values sum exactly in
	// any order (ints; floats that are small multiples of a power of
	// two), so that sums and averages of it do not depend on the order
	// pwlog adds them in.
	null, exact bool
	// elem is a tuple column's element kind; elemNull: elements may be
	// null.
	elem     differential.Kind
	elemNull bool
}

// tinfo is what the generator knows of a table.
type tinfo struct {
	cols []colInfo
	// arrival: each row's arrival (the execution that inserted it) is
	// known to the model (a source's rows, through operators that map
	// rows one to one, inner joins of such), so that arrival-order
	// operators may read it.
	arrival bool
	// appendOnly: the table's rows are never retracted (a source without
	// Retract, through operators that keep that): Deduplicate, which
	// ignores retractions, is a function of its rows only then.
	appendOnly bool
}

// pick returns the indexes of the columns that satisfy ok.
func (t *tinfo) pick(ok func(colInfo) bool) []int {
	var out []int
	for i, c := range t.cols {
		if ok(c) {
			out = append(out, i)
		}
	}
	return out
}

// mrow is a row of the model, with its arrival: the execution that
// committed it, -1 while none has (or when the model does not know).
type mrow struct {
	vals differential.Row
	arr  int
}

// op is a generated operator: build adds it to a pipeline reading ins
// (claiming name, and names derived from it), model computes its output
// rows, as a multiset, from its inputs' rows.
type op interface {
	build(p *pwlog.Pipeline, name string, ins []*pwlog.Table) *pwlog.Table
	model(ins [][]mrow) []mrow
	String() string
}

// arrivalOp is implemented by the operators whose result depends on the
// order rows arrived in: the executions must then be one logical time
// each, and the model gives each row the execution that committed it.
type arrivalOp interface{ arrivalOrder() bool }

// family is an operator family: gen draws an operator of it over the
// input tables ins and returns it with what its output holds, or nil
// when none fits the inputs.
type family struct {
	name   string
	inputs int
	gen    func(g *gen, name string, ins []*tinfo) (op, *tinfo)
	// accepts, when set, says which tables may be its inputs: the
	// generator draws among those only.
	accepts func(*tinfo) bool
}

// families are the operator families the generator draws from. Adding
// one is a gen function and an op type (its build and model).
var families = []family{
	{"reduce", 1, genReduce, nil},
	{"session", 1, genSession, nil},
	{"tumbling", 1, genTumbling, nil},
	{"sliding", 1, genSliding, nil},
	{"join", 2, genJoin, nil},
	{"dedup", 1, genDedup, func(t *tinfo) bool { return t.arrival && t.appendOnly }},
	{"flatten", 1, genFlatten, func(t *tinfo) bool {
		return slices.ContainsFunc(t.cols, func(c colInfo) bool { return c.kind == differential.KindTuple && c.elem != differential.KindNull })
	}},
	{"rows", 1, genRows, nil},
}

// drawn counts the operators drawn per family, for the tests' logs.
var drawn = map[string]int{}

// logDrawn logs and resets drawn, and fails t when a family that takes
// any input was never drawn over a run of at least atLeast cases: the
// generator would test nothing of it.
func logDrawn(t *testing.T, cases, atLeast int) {
	var parts []string
	for _, f := range families {
		parts = append(parts, fmt.Sprintf("%s=%d", f.name, drawn[f.name]))
		if drawn[f.name] == 0 && f.accepts == nil && cases >= atLeast && !t.Failed() {
			t.Errorf("no %s operator drawn in %d cases", f.name, cases)
		}
	}
	t.Logf("%d cases; operators drawn: %s", cases, strings.Join(parts, " "))
	clear(drawn)
}

// gen is the generator's state while it draws one pipeline.
type gen struct {
	t *rapid.T
	o genOptions
}

// genOptions bound what the generator draws.
type genOptions struct {
	maxOps int
	// arrival allows operators whose result depends on the order rows
	// arrived in (Earliest, Latest, Tuple, Deduplicate): the runs must
	// then commit one logical time per execution.
	arrival bool
}

// pnode is a node of a generated pipeline: a source or an operator.
type pnode struct {
	name string
	src  *source
	op   op
	ins  []int
	info *tinfo
	// removed: the node was taken out of the pipeline by a change
	// (evolve_test.go); it stays in nodes so that indexes hold.
	removed bool
}

// pipeline is a generated pipeline: its sources (with their input files),
// its nodes in order, and the nodes its sinks write.
type pipeline struct {
	sources []*source
	nodes   []*pnode
	sinks   []int
	// sinkIDs names the sinks a change added or renewed (evolve_test.go):
	// the sink of node n is sink_ID writing out_ID.csv, ID the node's
	// name when sinkIDs has none.
	sinkIDs map[int]string
	changes int // changes made (evolve_test.go), for new names
	// arrival: some operator reads arrival order.
	arrival bool
}

// genPipeline draws sources under dir and a pipeline over them.
func genPipeline(t *rapid.T, dir string, o genOptions) *pipeline {
	p := &pipeline{}
	for i := range rapid.IntRange(1, 3).Draw(t, "sources") {
		s := genSource(t, fmt.Sprintf("s%d", i), filepath.Join(dir, fmt.Sprintf("s%d", i)))
		p.sources = append(p.sources, s)
		p.nodes = append(p.nodes, &pnode{name: s.name, src: s, info: s.info()})
	}
	g := &gen{t: t, o: o}
	for range rapid.IntRange(1, o.maxOps).Draw(t, "ops") {
		p.addOp(g, nil)
	}
	// A sink on every operator nothing reads (a source if none), and on
	// some others.
	used := map[int]bool{}
	for _, n := range p.nodes {
		for _, i := range n.ins {
			used[i] = true
		}
	}
	for i, n := range p.nodes {
		if n.op != nil && (!used[i] || rapid.IntRange(0, 3).Draw(t, "sinkInner") == 0) {
			p.sinks = append(p.sinks, i)
		}
	}
	if len(p.sinks) == 0 {
		p.sinks = []int{len(p.nodes) - 1}
	}
	return p
}

// addOp draws an operator of a drawn family over the nodes that fit it
// (and ok, when set) and appends it, named after its index; it returns
// the node's index, -1 when none was drawn.
func (p *pipeline) addOp(g *gen, ok func(int) bool) int {
	t := g.t
	names := make([]string, len(families))
	for i, f := range families {
		names[i] = f.name
	}
	f := families[slices.Index(names, rapid.SampledFrom(names).Draw(t, "family"))]
	var fit []int
	for i, n := range p.nodes {
		if !n.removed && (f.accepts == nil || f.accepts(n.info)) && (ok == nil || ok(i)) {
			fit = append(fit, i)
		}
	}
	if len(fit) == 0 {
		return -1
	}
	ins := make([]int, f.inputs)
	infos := make([]*tinfo, f.inputs)
	for i := range ins {
		// Half the time the last node that fits: chains of operators.
		ins[i] = fit[len(fit)-1]
		if rapid.Bool().Draw(t, "anyInput") {
			ins[i] = rapid.SampledFrom(fit).Draw(t, "input")
		}
		infos[i] = p.nodes[ins[i]].info
	}
	name := fmt.Sprintf("n%d", len(p.nodes))
	o, info := f.gen(g, name, infos)
	if o == nil {
		return -1
	}
	if a, ok := o.(arrivalOp); ok && a.arrivalOrder() {
		p.arrival = true
	}
	drawn[f.name]++
	p.nodes = append(p.nodes, &pnode{name: name, op: o, ins: ins, info: info})
	return len(p.nodes) - 1
}

func (p *pipeline) String() string {
	var b strings.Builder
	for _, n := range p.nodes {
		if n.removed {
			continue
		}
		if n.src != nil {
			fmt.Fprintf(&b, "%s = %s\n", n.name, n.src)
			continue
		}
		var ins []string
		for _, i := range n.ins {
			ins = append(ins, p.nodes[i].name)
		}
		fmt.Fprintf(&b, "%s = %s(%s) -> %s\n", n.name, n.op, strings.Join(ins, ", "), colNames(n.info.cols))
	}
	for _, s := range p.sinks {
		if id := p.sinkID(s); id != p.nodes[s].name {
			fmt.Fprintf(&b, "sink %s (as %s)\n", p.nodes[s].name, id)
		} else {
			fmt.Fprintf(&b, "sink %s\n", id)
		}
	}
	return b.String()
}

func colNames(cs []colInfo) string {
	var out []string
	for _, c := range cs {
		s := c.name + ":" + c.kind.String()
		if c.kind == differential.KindTuple {
			s += "<" + c.elem.String() + ">"
		}
		if c.null {
			s += "?"
		}
		out = append(out, s)
	}
	return "[" + strings.Join(out, " ") + "]"
}

// sinkID is the name of the sink of node n, without its prefix.
func (p *pipeline) sinkID(n int) string {
	if id, ok := p.sinkIDs[n]; ok {
		return id
	}
	return p.nodes[n].name
}

// sinkPath is where the sink of node n writes, under root.
func (p *pipeline) sinkPath(root string, n int) string {
	return filepath.Join(root, "out_"+p.sinkID(n)+".csv")
}

// build builds the pipeline with its sinks (append mode) under root. It
// returns an error when a table's schema is not what the generator
// expects.
func (p *pipeline) build(root string) (*pwlog.Pipeline, error) {
	pp := pwlog.New()
	tables := make([]*pwlog.Table, len(p.nodes))
	for i, n := range p.nodes {
		if n.removed {
			continue
		}
		if n.src != nil {
			tables[i] = n.src.build(pp)
			continue
		}
		ins := make([]*pwlog.Table, len(n.ins))
		for j, k := range n.ins {
			ins[j] = tables[k]
		}
		tables[i] = n.op.build(pp, n.name, ins)
		got := tables[i].Schema()
		ok := len(got) == len(n.info.cols)
		for j := 0; ok && j < len(got); j++ {
			ok = got[j].Name == n.info.cols[j].name && got[j].Type == n.info.cols[j].kind && got[j].Elem == n.info.cols[j].elem
		}
		if !ok {
			return nil, fmt.Errorf("%s = %s: pwlog's schema is %v, the model's %s", n.name, n.op, got, colNames(n.info.cols))
		}
	}
	for _, s := range p.sinks {
		tables[s].WriteCSV("sink_"+p.sinkID(s), p.sinkPath(root, s), pwlog.SinkOptions{Append: true})
	}
	return pp, nil
}

// model computes every node's rows from the sources' current files.
func (p *pipeline) model() [][]mrow {
	out := make([][]mrow, len(p.nodes))
	for i, n := range p.nodes {
		if n.removed {
			continue
		}
		if n.src != nil {
			out[i] = n.src.rows()
			continue
		}
		ins := make([][]mrow, len(n.ins))
		for j, k := range n.ins {
			ins[j] = out[k]
		}
		out[i] = n.op.model(ins)
	}
	return out
}

// results returns, per sink (by node index), the model's table as a
// multiset of rows in their canonical text.
func (p *pipeline) results() map[int]multiset {
	rows := p.model()
	out := map[int]multiset{}
	for _, s := range p.sinks {
		m := multiset{}
		for _, r := range rows[s] {
			m[rowText(r.vals)]++
		}
		out[s] = m
	}
	return out
}

// multiset counts rows by their canonical text.
type multiset map[string]int64

// minus returns m - o, without zero counts.
func (m multiset) minus(o multiset) multiset {
	out := multiset{}
	for k, n := range m {
		out[k] += n
	}
	for k, n := range o {
		out[k] -= n
	}
	for k, n := range out {
		if n == 0 {
			delete(out, k)
		}
	}
	return out
}

// diff describes how got differs from want.
func (m multiset) diff(want multiset) string {
	var lines []string
	for k, n := range m.minus(want) {
		lines = append(lines, fmt.Sprintf("  %s: %+d", k, n))
	}
	slices.Sort(lines)
	if len(lines) > 30 {
		lines = append(lines[:30], fmt.Sprintf("  ... %d more", len(lines)-30))
	}
	return strings.Join(lines, "\n")
}

// valueText is a value's canonical text: null, a quoted string, an int,
// a float (shortest form, -0 as 0), a bool.
func valueText(v differential.Value) string {
	switch v.Kind {
	case differential.KindNull:
		return "null"
	case differential.KindString:
		return strconv.Quote(v.AsString())
	case differential.KindInt:
		return strconv.FormatInt(v.AsInt(), 10)
	case differential.KindFloat:
		f := v.AsFloat()
		if f == 0 {
			f = 0
		}
		if math.IsNaN(f) {
			return "nan"
		}
		return strconv.FormatFloat(f, 'g', -1, 64) + "f"
	case differential.KindBool:
		return strconv.FormatBool(v.AsBool())
	case differential.KindTuple:
		return tupleText(string(differential.AppendTuple(nil, v)))
	}
	return fmt.Sprintf("%v:%q", v.Kind, v.S)
}

// tupleText is a tuple's canonical text, from its text in a CSV sink.
func tupleText(s string) string { return "tuple" + strconv.Quote(s) }

func rowText(r differential.Row) string {
	parts := make([]string, len(r))
	for i, v := range r {
		parts[i] = valueText(v)
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// groupBy partitions rows by the values of the columns cols, in the
// order groups are first seen.
func groupBy(rows []mrow, cols []int) [][]mrow {
	var order []string
	by := map[string][]mrow{}
	for _, r := range rows {
		var k []byte
		for _, c := range cols {
			k = differential.AppendValue(k, r.vals[c])
		}
		if _, ok := by[string(k)]; !ok {
			order = append(order, string(k))
		}
		by[string(k)] = append(by[string(k)], r)
	}
	out := make([][]mrow, len(order))
	for i, k := range order {
		out[i] = by[k]
	}
	return out
}
