package operators

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pwlog/pwlog/differential"
)

// Map is the row operator behind Select, WithColumns, Filter and Rename:
// each input update gives at most one output update with the same key,
// time and diff. Its Kind is "select", "with_columns" or "filter".
//
// It is stateless, unless its expressions call user-defined functions
// that need state: a cached function keeps its results in an
// arrangement "udf_cache:<name>" (encoded arguments -> encoded result,
// never retracted); a non-deterministic, uncached one makes the operator
// keep the rows it emitted in an arrangement "udf_results" ((input key,
// input row) -> output row, with the emitted multiplicity), so that an
// input retraction retracts exactly what its insertion emitted, without
// calling the function again.
type Map struct {
	name, kind string
	in, out    differential.Schema
	outputs    []Output
	cond       Expr
	// fns compute the outputs; place[i] is where fns[i]'s value goes in
	// an output row (with_columns), width the output's width.
	fns   []evalFn
	place []int
	// condFn is a filter's condition.
	condFn  evalFn
	udfs    []*udfCall
	caches  []*differential.Arrangement
	results *differential.Arrangement
	rt      udfRuntime
}

// NewSelect returns an operator whose output rows are the outputs
// computed on each input row, keyed by the input row's key.
func NewSelect(name string, in differential.Schema, outputs []Output) (*Map, error) {
	op := &Map{name: name, kind: "select", in: in, outputs: outputs}
	if len(outputs) == 0 {
		return nil, fmt.Errorf("select %q: no output columns", name)
	}
	b := &binder{in: in}
	fns, out, err := compileAll(b, outputs)
	if err != nil {
		return nil, fmt.Errorf("select %q: %w", name, err)
	}
	op.fns, op.out = fns, out
	for i := range fns {
		op.place = append(op.place, i)
	}
	return op.finish(b)
}

// NewWithColumns returns an operator whose output rows are the input
// rows with the outputs computed on them: an output named as an input
// column replaces it in place, the others are appended in order.
func NewWithColumns(name string, in differential.Schema, outputs []Output) (*Map, error) {
	op := &Map{name: name, kind: "with_columns", in: in, outputs: outputs}
	if len(outputs) == 0 {
		return nil, fmt.Errorf("with_columns %q: no output columns", name)
	}
	b := &binder{in: in}
	fns, computed, err := compileAll(b, outputs)
	if err != nil {
		return nil, fmt.Errorf("with_columns %q: %w", name, err)
	}
	op.fns, op.out = fns, slices.Clone(in)
	for _, c := range computed {
		i := op.out.Index(c.Name)
		if i < 0 {
			i = len(op.out)
			op.out = append(op.out, c)
		} else {
			op.out[i] = c
		}
		op.place = append(op.place, i)
	}
	return op.finish(b)
}

// NewFilter returns an operator that keeps the input rows for which
// cond, a bool, is true (a null drops the row).
func NewFilter(name string, in differential.Schema, cond Expr) (*Map, error) {
	op := &Map{name: name, kind: "filter", in: in, out: slices.Clone(in), cond: cond}
	if cond == nil {
		return nil, fmt.Errorf("filter %q: no condition", name)
	}
	b := &binder{in: in}
	fn, k, err := cond.compile(b)
	if err != nil {
		return nil, fmt.Errorf("filter %q: %w", name, err)
	}
	if !is(k, differential.KindBool) {
		return nil, fmt.Errorf("filter %q: the condition %s is %s, want bool", name, cond, k)
	}
	op.condFn = fn
	return op.finish(b)
}

// NewRename returns a Select of the input's columns, in order, those
// named in renames (old name -> new name) renamed. An unknown old name or
// two output columns of one name are errors.
func NewRename(name string, in differential.Schema, renames map[string]string) (*Map, error) {
	for _, old := range slices.Sorted(maps.Keys(renames)) {
		if in.Index(old) < 0 {
			return nil, fmt.Errorf("rename %q: no column %q in %v", name, old, in.Names())
		}
		if renames[old] == "" {
			return nil, fmt.Errorf("rename %q: column %q renamed to an empty name", name, old)
		}
	}
	outs := make([]Output, len(in))
	seen := map[string]string{}
	for i, c := range in {
		to := c.Name
		if n, ok := renames[c.Name]; ok {
			to = n
		}
		if prev, ok := seen[to]; ok {
			return nil, fmt.Errorf("rename %q: columns %q and %q would both be named %q", name, prev, c.Name, to)
		}
		seen[to] = c.Name
		outs[i] = Output{Name: to, Expr: Col(c.Name)}
	}
	op, err := NewSelect(name, in, outs)
	if err != nil {
		return nil, fmt.Errorf("rename %q: %w", name, err)
	}
	return op, nil
}

// finish gives the operator the state its user-defined functions need.
func (op *Map) finish(b *binder) (*Map, error) {
	op.udfs = b.udfs
	op.rt.op = fmt.Sprintf("%s %q", op.kind, op.name)
	keep := false
	for _, c := range op.udfs {
		switch {
		case c.udf.opts.Cache:
			op.caches = append(op.caches, c.newCache())
		case !c.udf.opts.Deterministic:
			keep = true
		}
	}
	slices.SortFunc(op.caches, func(a, b *differential.Arrangement) int { return strings.Compare(a.Name(), b.Name()) })
	if keep {
		op.results = differential.NewArrangement(ResultsArrangement, nil)
		var row []string
		if op.kind != "filter" {
			row = op.out.Names()
		}
		op.results.SetColumns(differential.Columns{Group: append([]string{"_pw_key"}, op.in.Names()...), Row: row})
	}
	return op, nil
}

// Name implements Operator.
func (op *Map) Name() string { return op.name }

// Kind implements Operator: "select", "with_columns" or "filter".
func (op *Map) Kind() string { return op.kind }

// Schema implements Operator.
func (op *Map) Schema() differential.Schema { return op.out }

// Arrangements implements Operator: the caches of the cached functions,
// by name, then "udf_results" when a function is neither deterministic
// nor cached.
func (op *Map) Arrangements() []*differential.Arrangement {
	out := slices.Clone(op.caches)
	if op.results != nil {
		out = append(out, op.results)
	}
	return out
}

// Describe implements Operator.
func (op *Map) Describe() string {
	var d string
	if op.kind == "filter" {
		d = "filter(" + op.cond.String() + ")"
	} else {
		o := make([]string, len(op.outputs))
		for i, out := range op.outputs {
			o[i] = ident(out.Name) + "=" + out.Expr.String()
		}
		d = op.kind + "(" + strings.Join(o, ", ") + ")"
	}
	if len(op.udfs) > 0 {
		u := make([]string, len(op.udfs))
		for i, c := range op.udfs {
			u[i] = c.udf.describe()
		}
		d += " udfs(" + strings.Join(u, "; ") + ")"
	}
	return d
}

// eval computes the output row of an input row; keep is false when a
// filter drops it.
func (op *Map) eval(e *env) (row differential.Row, keep bool) {
	if op.condFn != nil {
		c := op.condFn(e)
		return e.row, !c.IsNull() && c.AsBool()
	}
	row = make(differential.Row, len(op.out))
	if op.kind == "with_columns" {
		copy(row, e.row)
	}
	for i, f := range op.fns {
		row[op.place[i]] = f(e)
	}
	return row, true
}

// Step implements Operator.
func (op *Map) Step(t differential.Time, ins [][]differential.Update) ([]differential.Update, error) {
	op.rt.err = nil
	e := env{udf: &op.rt}
	var out []differential.Update
	var group []byte
	for _, u := range ins[0] {
		if op.results != nil {
			group = differential.AppendValue(group[:0], differential.Int(int64(u.Key)))
			group = differential.AppendRow(group, u.Row)
			if u.Diff < 0 {
				var err error
				if out, err = op.retract(out, string(group), u, t); err != nil {
					return nil, err
				}
				continue
			}
		}
		e.row = u.Row
		row, keep := op.eval(&e)
		if op.rt.err != nil {
			return nil, op.rt.err
		}
		if err := op.cacheErr(); err != nil {
			return nil, err
		}
		if !keep {
			continue
		}
		out = append(out, differential.Update{Key: u.Key, Row: row, Time: t, Diff: u.Diff})
		if op.results != nil {
			var enc string
			if op.kind != "filter" {
				enc = string(differential.EncodeRow(row))
			}
			// Not read now: a row's results are read only when it is
			// retracted.
			op.results.UpdateBlind(string(group), u.Key, enc, u.Diff)
		}
	}
	if op.results != nil {
		if err := op.results.Err(); err != nil {
			return nil, fmt.Errorf("%s %q: %s: %w", op.kind, op.name, ResultsArrangement, err)
		}
	}
	return out, nil
}

// cacheErr returns the first error a cache arrangement met.
func (op *Map) cacheErr() error {
	for _, c := range op.caches {
		if err := c.Err(); err != nil {
			return fmt.Errorf("%s %q: %s: %w", op.kind, op.name, c.Name(), err)
		}
	}
	return nil
}

// retract retracts -u.Diff copies of what the insertions of u's key and
// row emitted, as "udf_results" keeps them, and forgets them.
func (op *Map) retract(out []differential.Update, group string, u differential.Update, t differential.Time) ([]differential.Update, error) {
	g, err := op.results.Get(group)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %s: %w", op.kind, op.name, ResultsArrangement, err)
	}
	if g == nil {
		return out, nil // nothing was emitted: a filter dropped the row
	}
	type taken struct {
		key  differential.Key
		row  string
		diff int64
	}
	var done []taken
	n := -u.Diff
	for i := 0; i < g.Len() && n > 0; i++ {
		if g.Diffs[i] <= 0 {
			continue
		}
		d := min(g.Diffs[i], n)
		n -= d
		done = append(done, taken{g.Keys[i], g.Rows[i], d})
	}
	for _, d := range done {
		row := u.Row
		if op.kind != "filter" {
			if row, err = differential.DecodeRow(make(differential.Row, 0, len(op.out)), []byte(d.row)); err != nil || len(row) != len(op.out) {
				return nil, fmt.Errorf("%s %q: %s: a kept row does not hold %d values: %v", op.kind, op.name, ResultsArrangement, len(op.out), err)
			}
		}
		out = append(out, differential.Update{Key: u.Key, Row: row, Time: t, Diff: -d.diff})
		op.results.Update(group, d.key, d.row, -d.diff)
	}
	return out, nil
}
