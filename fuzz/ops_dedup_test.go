package fuzz

import (
	"fmt"
	"slices"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
)

// The dedup family: Deduplicate over an append-only table whose rows'
// arrivals the model knows.

// acceptors are the Acceptors drawn, by name.
var acceptors = map[string]func(n, o differential.Value) bool{
	"greater": func(n, o differential.Value) bool { return differential.Compare(n, o) > 0 },
	"less":    func(n, o differential.Value) bool { return differential.Compare(n, o) < 0 },
	"differs": func(n, o differential.Value) bool { return differential.Compare(n, o) != 0 },
	"always":  func(n, o differential.Value) bool { return true },
	"never":   func(n, o differential.Value) bool { return false },
}

type dedupOp struct {
	value    int
	inst     []int
	names    []string // of the instance columns
	vname    string
	acceptor string
}

func (*dedupOp) arrivalOrder() bool { return true }

func genDedup(g *gen, name string, ins []*tinfo) (op, *tinfo) {
	in := ins[0]
	if !g.o.arrival || !in.arrival || !in.appendOnly {
		return nil, nil
	}
	o := &dedupOp{value: rapid.IntRange(0, len(in.cols)-1).Draw(g.t, "dedupValue")}
	o.vname = in.cols[o.value].name
	for _, i := range rapid.Permutation(indexes(len(in.cols))).Draw(g.t, "dedupInstance")[:rapid.IntRange(0, min(1, len(in.cols))).Draw(g.t, "dedupInstances")] {
		o.inst = append(o.inst, i)
		o.names = append(o.names, in.cols[i].name)
	}
	keys := []string{"always", "differs", "greater", "less", "never"}
	o.acceptor = rapid.SampledFrom(keys).Draw(g.t, "acceptor")
	return o, &tinfo{cols: in.cols}
}

func (o *dedupOp) build(p *pwlog.Pipeline, name string, ins []*pwlog.Table) *pwlog.Table {
	return ins[0].Deduplicate(name, pwlog.Dedup{Value: o.vname, Instance: o.names, Acceptor: acceptors[o.acceptor]})
}

// model offers each instance's rows in order of arrival, those of one
// execution (one logical time) in ascending order of their value, then
// of the whole row; the first is kept, then each replaces the kept one
// when the acceptor says so.
func (o *dedupOp) model(ins [][]mrow) []mrow {
	accept := acceptors[o.acceptor]
	var out []mrow
	for _, rows := range groupBy(ins[0], o.inst) {
		rows = slices.Clone(rows)
		slices.SortStableFunc(rows, func(a, b mrow) int {
			if a.arr != b.arr {
				return a.arr - b.arr
			}
			if c := differential.Compare(a.vals[o.value], b.vals[o.value]); c != 0 {
				return c
			}
			return differential.CompareRows(a.vals, b.vals)
		})
		kept := rows[0]
		for _, r := range rows[1:] {
			if accept(r.vals[o.value], kept.vals[o.value]) {
				kept = r
			}
		}
		out = append(out, mrow{vals: kept.vals, arr: -1})
	}
	return out
}

func (o *dedupOp) String() string {
	return fmt.Sprintf("deduplicate(value=%s, instance=%v, acceptor=%s)", o.vname, o.names, o.acceptor)
}
