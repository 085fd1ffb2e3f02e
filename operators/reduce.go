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

// reduceMode is how a Reduce keeps its state, chosen from its reducers
// when it is built.
type reduceMode int

const (
	// multiset: group -> the projected input rows with multiplicities.
	modeMultiset reduceMode = iota
	// running: group -> one entry of running aggregates.
	modeRunning
	// keyed: group -> the projected input rows with their keys and
	// arrival times.
	modeKeyed
)

// Names of a Reduce's arrangements, one per layout, so that a state is
// never read in another layout than it was written in.
const (
	arrByGroup    = "by_group"
	arrAggregates = "aggregates"
	arrByKey      = "by_key"
)

// Reduce groups its input by some columns and computes one output row per
// non-empty group. When a group changes, its old output row is retracted
// and the new one inserted. The output key is a hash of the group's values.
//
// Its state takes one of three forms, chosen from the reducers when it is
// built:
//
//   - Running aggregates, when every reducer is Count, Sum or Avg:
//     arrangement "aggregates", group -> one entry holding the row count
//     and, per column summed or averaged, the sum and the count of its
//     non-null values. A change retracts the entry and inserts the new
//     one; no input row is kept. Float sums accumulate in input order,
//     so a sum after retractions may differ from a sum of the remaining
//     values by rounding (and a retracted infinity leaves NaN until the
//     group's non-null values are all gone, which resets the sum).
//   - Keyed, when Earliest, Latest or Tuple is used: arrangement
//     "by_key", group -> the input rows projected to the columns reducers
//     read, each under its input key with its arrival time (the logical
//     time of the update that inserted it) first in the row and as the
//     arrangement's order. A retraction removes the entry of its key and
//     values; of several copies, the latest arrived first.
//   - Multiset otherwise (Min, Max, Any, ArgMin, ArgMax, CountDistinct,
//     SortedTuple): arrangement "by_group", group -> the multiset of input
//     rows projected to the columns reducers read. Row keys are not kept
//     (all zero): equal projected rows share one entry with their summed
//     multiplicity, so a group of a thousand equal values costs one
//     entry.
//
// A running-aggregate Reduce also has the arrangement "by_group" of
// earlier versions, which kept every Reduce as a multiset: a storage
// written by one restores, and each group moves to "aggregates" the next
// time it changes.
type Reduce struct {
	name    string
	in      differential.Schema
	out     differential.Schema
	group   []int
	outputs []Output
	proj    projection
	aggs    []*aggregate
	fns     []evalFn
	mode    reduceMode
	// rows is "by_group" (multiset; in running mode, the state of an
	// earlier version), or "by_key" (keyed).
	rows *differential.Arrangement
	// running is "aggregates" (running mode).
	running *differential.Arrangement
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
	// A tuple reducer's column has its elements' type.
	for i, o := range outputs {
		if x, ok := o.Expr.(*aggExpr); ok && (x.op == opTuple || x.op == opSortedTuple) {
			op.out[i].Elem = in[in.Index(x.name)].Type
		}
	}
	op.mode = chooseMode(op.aggs)
	groupCols := names(in, op.group)
	projCols := names(in, op.proj.cols)
	switch op.mode {
	case modeKeyed:
		op.rows = differential.NewArrangement(arrByKey, arrivalOf)
		op.rows.SetColumns(differential.Columns{Group: groupCols, Row: append([]string{"_pw_arrival"}, projCols...)})
	case modeRunning:
		cols := []string{"count"}
		for _, c := range projCols {
			cols = append(cols, "sum("+c+")", "count("+c+")")
		}
		op.running = differential.NewArrangement(arrAggregates, nil)
		op.running.SetColumns(differential.Columns{Group: groupCols, Row: cols})
		fallthrough
	default:
		if op.rows == nil {
			op.rows = differential.NewArrangement(arrByGroup, nil)
			op.rows.SetColumns(differential.Columns{Group: groupCols, Row: projCols})
		}
	}
	return op, nil
}

// chooseMode picks the storage of a Reduce with these reducers.
func chooseMode(aggs []*aggregate) reduceMode {
	running := len(aggs) > 0
	for _, a := range aggs {
		if a.keyed() {
			return modeKeyed
		}
		running = running && a.running()
	}
	if running {
		return modeRunning
	}
	return modeMultiset
}

// arrivalOf is the order of a keyed Reduce's entries: the arrival time,
// their first value.
func arrivalOf(row string) int64 {
	v, _, err := differential.DecodeValue([]byte(row))
	if err != nil {
		return 0
	}
	return v.AsInt()
}

// Name implements Operator.
func (op *Reduce) Name() string { return op.name }

// Kind implements Operator.
func (op *Reduce) Kind() string { return "reduce" }

// Schema implements Operator.
func (op *Reduce) Schema() differential.Schema { return op.out }

// Arrangements implements Operator.
func (op *Reduce) Arrangements() []*differential.Arrangement {
	if op.mode == modeRunning {
		return []*differential.Arrangement{op.running, op.rows}
	}
	return []*differential.Arrangement{op.rows}
}

// Describe implements Operator.
func (op *Reduce) Describe() string {
	var g, o []string
	for _, i := range op.group {
		g = append(g, op.in[i].Name)
	}
	for _, out := range op.outputs {
		o = append(o, ident(out.Name)+"="+out.Expr.String())
	}
	return fmt.Sprintf("reduce(by=[%s], %s)", idents(g), strings.Join(o, ", "))
}

// Step implements Operator.
func (op *Reduce) Step(t differential.Time, ins [][]differential.Update) ([]differential.Update, error) {
	order, by := groupUpdates(ins[0], op.group)
	var out []differential.Update
	for _, gk := range order {
		var before, after differential.Row
		var err error
		switch op.mode {
		case modeRunning:
			before, after, err = op.stepRunning(gk, by[gk])
		case modeKeyed:
			before, after, err = op.stepKeyed(t, gk, by[gk])
		default:
			before, after, err = op.stepMultiset(gk, by[gk])
		}
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

// appendProj appends the encoding of the columns reducers read of row.
func (op *Reduce) appendProj(dst []byte, row differential.Row) []byte {
	for _, c := range op.proj.cols {
		dst = differential.AppendValue(dst, row[c])
	}
	return dst
}

// stepMultiset applies a group's updates to a multiset state.
func (op *Reduce) stepMultiset(gk string, us []differential.Update) (before, after differential.Row, err error) {
	if before, err = op.result(gk); err != nil {
		return nil, nil, err
	}
	var enc []byte
	for _, u := range us {
		enc = op.appendProj(enc[:0], u.Row)
		op.rows.Update(gk, 0, string(enc), u.Diff)
	}
	after, err = op.result(gk)
	return before, after, err
}

// stepKeyed applies a group's updates to a keyed state: retractions
// first, each removing the entries of its key and values, the latest
// arrived first; then insertions, arriving at t.
func (op *Reduce) stepKeyed(t differential.Time, gk string, us []differential.Update) (before, after differential.Row, err error) {
	if before, err = op.result(gk); err != nil {
		return nil, nil, err
	}
	g, err := op.rows.Get(gk)
	if err != nil {
		return nil, nil, op.fail(err)
	}
	// What the group holds, copied: g is not valid after an Update.
	type held struct {
		key  differential.Key
		row  string // the entry: arrival, then values
		vals string // the values
		diff int64
	}
	var entries []held
	if g != nil {
		entries = make([]held, g.Len())
		for i := range entries {
			row := g.Rows[i]
			_, n, err := differential.DecodeValue([]byte(row))
			if err != nil {
				return nil, nil, fmt.Errorf("reduce %q: a state row has no arrival time: %w", op.name, err)
			}
			entries[i] = held{key: g.Keys[i], row: row, vals: row[n:], diff: g.Diffs[i]}
		}
	}
	arrival := differential.AppendValue(nil, differential.Int(int64(t)))
	var enc []byte
	for _, u := range us {
		if u.Diff >= 0 {
			continue
		}
		vals := string(op.appendProj(nil, u.Row))
		need := -u.Diff
		for i := len(entries) - 1; i >= 0 && need > 0; i-- {
			e := &entries[i]
			if e.key != u.Key || e.vals != vals || e.diff <= 0 {
				continue
			}
			take := min(need, e.diff)
			e.diff -= take
			need -= take
			op.rows.Update(gk, e.key, e.row, -take)
		}
		if need > 0 {
			// A retraction of nothing held: kept as a negative entry at
			// t, which no reducer but Count sees.
			enc = append(append(enc[:0], arrival...), vals...)
			op.rows.Update(gk, u.Key, string(enc), -need)
		}
	}
	for _, u := range us {
		if u.Diff > 0 {
			enc = op.appendProj(append(enc[:0], arrival...), u.Row)
			op.rows.Update(gk, u.Key, string(enc), u.Diff)
		}
	}
	after, err = op.result(gk)
	return before, after, err
}

// fail wraps an arrangement's error with the operator's name.
func (op *Reduce) fail(err error) error { return fmt.Errorf("reduce %q: %w", op.name, err) }

// result computes the output row of a group of a multiset or keyed state,
// nil when the group is empty.
func (op *Reduce) result(gk string) (differential.Row, error) {
	if err := op.rows.Err(); err != nil {
		return nil, op.fail(err)
	}
	g, err := op.rows.Get(gk)
	if err != nil {
		return nil, op.fail(err)
	}
	if g == nil {
		return nil, nil
	}
	rows, err := op.decodeGroup(g, op.mode == modeKeyed)
	if err != nil {
		return nil, err
	}
	vals := make([]differential.Value, len(op.aggs))
	for i, a := range op.aggs {
		if vals[i], err = a.fold(rows); err != nil {
			return nil, fmt.Errorf("reduce %q: %w", op.name, err)
		}
	}
	return op.row(gk, vals)
}

// decodeGroup decodes a group's rows, after their arrival times when
// keyed.
func (op *Reduce) decodeGroup(g *differential.Group, keyed bool) (*groupRows, error) {
	width := len(op.proj.cols)
	if keyed {
		width++
	}
	out := &groupRows{rows: make([]differential.Row, g.Len()), diffs: g.Diffs}
	if keyed {
		out.arrival = make([]int64, g.Len())
	}
	vals := make(differential.Row, 0, width*g.Len())
	var err error
	for i, enc := range g.Rows {
		start := len(vals)
		if vals, err = differential.DecodeRow(vals, []byte(enc)); err != nil || len(vals)-start != width {
			return nil, fmt.Errorf("reduce %q: a state row does not hold %d values: %v", op.name, width, err)
		}
		if keyed {
			out.arrival[i] = vals[start].AsInt()
			start++
		}
		out.rows[i] = vals[start:len(vals):len(vals)]
	}
	return out, nil
}

// row evaluates the outputs of group gk from its reducers' values.
func (op *Reduce) row(gk string, aggs []differential.Value) (differential.Row, error) {
	group, err := differential.DecodeRow(make(differential.Row, 0, len(op.group)), []byte(gk))
	if err != nil {
		return nil, fmt.Errorf("reduce %q: group: %w", op.name, err)
	}
	e := env{group: group, aggs: aggs}
	row := make(differential.Row, len(op.fns))
	for i, fn := range op.fns {
		row[i] = fn(&e)
	}
	return row, nil
}

// runningState is a group's running aggregates: its row count and, per
// projected column, the sum (an int's or a float's) and the count of its
// non-null values.
type runningState struct {
	count int64
	isum  []int64
	fsum  []float64
	n     []int64
}

func (op *Reduce) newRunning() *runningState {
	w := len(op.proj.cols)
	return &runningState{isum: make([]int64, w), fsum: make([]float64, w), n: make([]int64, w)}
}

// add adds diff copies of an input row (its projected values).
func (op *Reduce) addRunning(s *runningState, vals differential.Row, diff int64) {
	s.count += diff
	for j, v := range vals {
		if v.IsNull() {
			continue
		}
		s.n[j] += diff
		if op.in[op.proj.cols[j]].Type == differential.KindInt {
			s.isum[j] += v.AsInt() * diff
		} else {
			s.fsum[j] += v.AsFloat() * float64(diff)
		}
	}
}

// empty reports whether the state holds no row: then it is not stored.
func (s *runningState) empty() bool {
	if s.count != 0 {
		return false
	}
	for _, n := range s.n {
		if n != 0 {
			return false
		}
	}
	return true
}

// encode returns the state's entry: count, then sum and count per
// column.
func (op *Reduce) encodeRunning(s *runningState) string {
	b := differential.AppendValue(nil, differential.Int(s.count))
	for j, c := range op.proj.cols {
		if op.in[c].Type == differential.KindInt {
			b = differential.AppendValue(b, differential.Int(s.isum[j]))
		} else {
			b = differential.AppendValue(b, differential.Float(s.fsum[j]))
		}
		b = differential.AppendValue(b, differential.Int(s.n[j]))
	}
	return string(b)
}

// decodeRunning reads an entry of "aggregates".
func (op *Reduce) decodeRunning(enc string) (*runningState, error) {
	vals, err := differential.DecodeRow(nil, []byte(enc))
	w := len(op.proj.cols)
	if err != nil || len(vals) != 1+2*w {
		return nil, fmt.Errorf("reduce %q: a state entry does not hold %d values: %v", op.name, 1+2*w, err)
	}
	s := op.newRunning()
	s.count = vals[0].AsInt()
	for j, c := range op.proj.cols {
		if op.in[c].Type == differential.KindInt {
			s.isum[j] = vals[1+2*j].AsInt()
		} else {
			s.fsum[j] = vals[1+2*j].AsFloat()
		}
		s.n[j] = vals[2+2*j].AsInt()
	}
	return s, nil
}

// resultRunning computes a group's output row from its running
// aggregates, nil when it has no row.
func (op *Reduce) resultRunning(gk string, s *runningState) (differential.Row, error) {
	if s.count == 0 {
		return nil, nil
	}
	vals := make([]differential.Value, len(op.aggs))
	for i, a := range op.aggs {
		if a.op == opCount {
			vals[i] = differential.Int(s.count)
			continue
		}
		vals[i] = sumResult(a, s.n[a.col], s.isum[a.col], s.fsum[a.col])
	}
	return op.row(gk, vals)
}

// stepRunning applies a group's updates to its running aggregates. A
// group an earlier version kept in "by_group" moves to "aggregates".
func (op *Reduce) stepRunning(gk string, us []differential.Update) (before, after differential.Row, err error) {
	for _, a := range []*differential.Arrangement{op.running, op.rows} {
		if err := a.Err(); err != nil {
			return nil, nil, op.fail(err)
		}
	}
	g, err := op.running.Get(gk)
	if err != nil {
		return nil, nil, op.fail(err)
	}
	s := op.newRunning()
	old := ""
	if g != nil {
		if g.Len() != 1 || g.Diffs[0] != 1 {
			return nil, nil, fmt.Errorf("reduce %q: group %x holds %d aggregate entries, want one", op.name, gk, g.Len())
		}
		old = g.Rows[0]
		if s, err = op.decodeRunning(old); err != nil {
			return nil, nil, err
		}
	}
	// Only a storage of an earlier version has rows in "by_group": a new
	// one never looks it up.
	var legacy *differential.Group
	if op.rows.Len() > 0 {
		if legacy, err = op.rows.Get(gk); err != nil {
			return nil, nil, op.fail(err)
		}
	}
	if legacy != nil {
		rows, err := op.decodeGroup(legacy, false)
		if err != nil {
			return nil, nil, err
		}
		for i, r := range rows.rows {
			op.addRunning(s, r, rows.diffs[i])
		}
		keys, encs, diffs := append([]differential.Key(nil), legacy.Keys...), append([]string(nil), legacy.Rows...), append([]int64(nil), legacy.Diffs...)
		for i := range keys {
			op.rows.Update(gk, keys[i], encs[i], -diffs[i])
		}
	}
	if before, err = op.resultRunning(gk, s); err != nil {
		return nil, nil, err
	}
	vals := make(differential.Row, len(op.proj.cols))
	for _, u := range us {
		for j, c := range op.proj.cols {
			vals[j] = u.Row[c]
		}
		op.addRunning(s, vals, u.Diff)
	}
	for j, n := range s.n {
		if n == 0 {
			// No value left: drop what rounding left of a float sum.
			s.fsum[j] = 0
		}
	}
	enc := ""
	if !s.empty() {
		enc = op.encodeRunning(s)
	}
	if enc != old {
		if old != "" {
			op.running.Update(gk, 0, old, -1)
		}
		if enc != "" {
			op.running.Update(gk, 0, enc, 1)
		}
	}
	if after, err = op.resultRunning(gk, s); err != nil {
		return nil, nil, err
	}
	return before, after, nil
}
