package fuzz

import (
	"fmt"
	"slices"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
)

// The flatten family: one row per element of a tuple column (a Reduce's
// Tuple or SortedTuple output).

type flattenOp struct {
	col  int
	name string
}

func genFlatten(g *gen, name string, ins []*tinfo) (op, *tinfo) {
	in := ins[0]
	tuples := in.pick(func(c colInfo) bool { return c.kind == differential.KindTuple && c.elem != differential.KindNull })
	if len(tuples) == 0 {
		return nil, nil
	}
	o := &flattenOp{col: rapid.SampledFrom(tuples).Draw(g.t, "flattenCol")}
	o.name = in.cols[o.col].name
	info := &tinfo{cols: slices.Clone(in.cols)}
	c := in.cols[o.col]
	info.cols[o.col] = colInfo{name: c.name, kind: c.elem, null: c.elemNull, exact: c.exact}
	return o, info
}

func (o *flattenOp) build(p *pwlog.Pipeline, name string, ins []*pwlog.Table) *pwlog.Table {
	return ins[0].Flatten(name, o.name)
}

// model gives a row per element, the tuple replaced by the element; a
// null or empty tuple gives none.
func (o *flattenOp) model(ins [][]mrow) []mrow {
	var out []mrow
	for _, r := range ins[0] {
		if r.vals[o.col].IsNull() {
			continue
		}
		elems, err := r.vals[o.col].Elems()
		if err != nil {
			panic(err)
		}
		for _, e := range elems {
			row := slices.Clone(r.vals)
			row[o.col] = e
			out = append(out, mrow{vals: row, arr: -1})
		}
	}
	return out
}

func (o *flattenOp) String() string { return fmt.Sprintf("flatten(%s)", o.name) }
