package operators

import (
	"fmt"
	"strings"

	"github.com/pwlog/pwlog/differential"
)

// Output names one output column of a Reduce and the expression that
// computes it.
type Output struct {
	Name string
	Expr Expr
}

// Reduce groups its input by some columns and computes one output row per
// non-empty group. When a group changes, its old output row is retracted
// and the new one inserted. The output key is a hash of the group's values.
//
// State: one arrangement, group -> the multiset of input rows projected to
// the columns reducers read (min and max need every value to survive
// retractions). Row keys are not kept (all zero): equal projected rows
// share one entry with their summed multiplicity, so a group of a
// thousand equal values costs one entry.
type Reduce struct {
	name    string
	in      differential.Schema
	out     differential.Schema
	group   []int
	outputs []Output
	proj    projection
	aggs    []*aggregate
	fns     []evalFn
	rows    *differential.Arrangement
}

// NewReduce returns a groupby-reduce over the input schema in.
func NewReduce(name string, in differential.Schema, groupBy []string, outputs []Output) (*Reduce, error) {
	op := &Reduce{name: name, in: in, outputs: outputs}
	for _, c := range groupBy {
		i := in.Index(c)
		if i < 0 {
			return nil, fmt.Errorf("reduce %q: no grouping column %q in %v", name, c, in.Names())
		}
		op.group = append(op.group, i)
	}
	if len(outputs) == 0 {
		return nil, fmt.Errorf("reduce %q: no output columns", name)
	}
	b := &binder{in: in, reduce: true, group: op.group}
	fns, out, err := compileAll(b, outputs)
	if err != nil {
		return nil, fmt.Errorf("reduce %q: %w", name, err)
	}
	op.fns, op.out, op.proj, op.aggs = fns, out, b.proj, b.aggs
	op.rows = differential.NewArrangement("by_group", nil)
	op.rows.SetColumns(differential.Columns{Group: names(in, op.group), Row: names(in, op.proj.cols)})
	return op, nil
}

// Name implements Operator.
func (op *Reduce) Name() string { return op.name }

// Kind implements Operator.
func (op *Reduce) Kind() string { return "reduce" }

// Schema implements Operator.
func (op *Reduce) Schema() differential.Schema { return op.out }

// Arrangements implements Operator.
func (op *Reduce) Arrangements() []*differential.Arrangement {
	return []*differential.Arrangement{op.rows}
}

// Describe implements Operator.
func (op *Reduce) Describe() string {
	var g, o []string
	for _, i := range op.group {
		g = append(g, op.in[i].Name)
	}
	for _, out := range op.outputs {
		o = append(o, out.Name+"="+out.Expr.String())
	}
	return fmt.Sprintf("reduce(by=[%s], %s)", strings.Join(g, ","), strings.Join(o, ", "))
}

// Step implements Operator.
func (op *Reduce) Step(t differential.Time, ins [][]differential.Update) ([]differential.Update, error) {
	order, by := groupUpdates(ins[0], op.group)
	var out []differential.Update
	var enc []byte
	for _, gk := range order {
		before, err := op.result(gk)
		if err != nil {
			return nil, err
		}
		for _, u := range by[gk] {
			enc = enc[:0]
			for _, c := range op.proj.cols {
				enc = differential.AppendValue(enc, u.Row[c])
			}
			op.rows.Update(gk, 0, string(enc), u.Diff)
		}
		after, err := op.result(gk)
		if err != nil {
			return nil, err
		}
		if before.Equal(after) {
			continue
		}
		key := differential.HashBytes(op.name, []byte(gk))
		if before != nil {
			out = append(out, differential.Update{Key: key, Row: before, Time: t, Diff: -1})
		}
		if after != nil {
			out = append(out, differential.Update{Key: key, Row: after, Time: t, Diff: 1})
		}
	}
	return out, nil
}

// result computes the output row of a group, nil when the group is empty.
func (op *Reduce) result(gk string) (differential.Row, error) {
	if err := op.rows.Err(); err != nil {
		return nil, fmt.Errorf("reduce %q: %w", op.name, err)
	}
	g, err := op.rows.Get(gk)
	if err != nil {
		return nil, fmt.Errorf("reduce %q: %w", op.name, err)
	}
	if g == nil {
		return nil, nil
	}
	group, err := differential.DecodeRow(make(differential.Row, 0, len(op.group)), []byte(gk))
	if err != nil {
		return nil, fmt.Errorf("reduce %q: group: %w", op.name, err)
	}
	rows := make([]differential.Row, g.Len())
	width := len(op.proj.cols)
	vals := make(differential.Row, 0, width*g.Len())
	for i, enc := range g.Rows {
		start := len(vals)
		if vals, err = differential.DecodeRow(vals, []byte(enc)); err != nil || len(vals)-start != width {
			return nil, fmt.Errorf("reduce %q: a state row does not hold %d values: %v", op.name, width, err)
		}
		rows[i] = vals[start:len(vals):len(vals)]
	}
	e := env{group: group, aggs: make([]differential.Value, len(op.aggs))}
	for i, a := range op.aggs {
		e.aggs[i] = a.fold(rows, g.Diffs)
	}
	row := make(differential.Row, len(op.fns))
	for i, fn := range op.fns {
		row[i] = fn(&e)
	}
	return row, nil
}
