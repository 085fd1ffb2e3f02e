package operators

import (
	"fmt"
	"slices"

	"github.com/pwlog/pwlog/differential"
)

// Dedup configures a Deduplicate operator.
type Dedup struct {
	// Value is the column whose values the Acceptor compares.
	Value string
	// Instance lists the columns whose values make an instance; one row
	// is kept per instance. None: one row for the whole table.
	Instance []string
	// Acceptor tells whether a newly inserted row, whose Value is
	// newValue, replaces the kept row, whose Value is oldValue. Either
	// may be null. It must be a pure function: it is not part of the
	// pipeline's fingerprint, and a restart does not call it again for
	// rows already offered.
	Acceptor func(newValue, oldValue differential.Value) bool
}

// Deduplicate keeps one row per instance: the first inserted, then
// replaced by a later inserted row whenever the Acceptor, given the new
// row's Value and the kept row's, returns true. Its output is the kept
// row of each instance (all the input's columns), keyed by a hash of the
// operator's name and the instance; a replacement retracts the old row
// and inserts the new one under that key.
//
// The input is taken as append-only, as Pathway's deduplicate takes it:
// retractions are ignored, and a retracted row stays kept. Rows inserted
// at one time for one instance are offered in ascending order of their
// Value, then of the whole row (differential.CompareRows), each against
// the row kept so far; a row inserted with a multiplicity above one is
// offered once, and the kept row has multiplicity one.
//
// State: one arrangement, "kept": instance -> the kept row.
type Deduplicate struct {
	name     string
	in       differential.Schema
	value    int
	instance []int
	accept   func(newValue, oldValue differential.Value) bool
	kept     *differential.Arrangement
}

// NewDeduplicate returns a Deduplicate over the input schema in.
func NewDeduplicate(name string, in differential.Schema, d Dedup) (*Deduplicate, error) {
	op := &Deduplicate{name: name, in: in, accept: d.Acceptor}
	if d.Acceptor == nil {
		return nil, fmt.Errorf("deduplicate %q: no Acceptor", name)
	}
	op.value = in.Index(d.Value)
	if op.value < 0 {
		return nil, fmt.Errorf("deduplicate %q: no value column %q in %v", name, d.Value, in.Names())
	}
	for _, c := range d.Instance {
		i := in.Index(c)
		if i < 0 {
			return nil, fmt.Errorf("deduplicate %q: no instance column %q in %v", name, c, in.Names())
		}
		op.instance = append(op.instance, i)
	}
	op.kept = differential.NewArrangement("kept", nil)
	op.kept.SetColumns(differential.Columns{Group: names(in, op.instance), Row: in.Names()})
	return op, nil
}

// Name implements Operator.
func (op *Deduplicate) Name() string { return op.name }

// Kind implements Operator.
func (op *Deduplicate) Kind() string { return "deduplicate" }

// Schema implements Operator.
func (op *Deduplicate) Schema() differential.Schema { return op.in }

// Arrangements implements Operator.
func (op *Deduplicate) Arrangements() []*differential.Arrangement {
	return []*differential.Arrangement{op.kept}
}

// Describe implements Operator. The Acceptor, a Go function, is not
// described.
func (op *Deduplicate) Describe() string {
	return fmt.Sprintf("deduplicate(value=%s, instance=[%s])", ident(op.in[op.value].Name), idents(names(op.in, op.instance)))
}

// Step implements Operator.
func (op *Deduplicate) Step(t differential.Time, in [][]differential.Update) (out []differential.Update, err error) {
	var inserts []differential.Update
	for _, u := range in[0] {
		if u.Diff > 0 {
			inserts = append(inserts, u)
		}
	}
	order, by := groupUpdates(inserts, op.instance)
	for _, inst := range order {
		g, err := op.kept.Get(inst)
		if err != nil {
			return nil, fmt.Errorf("deduplicate %q: %w", op.name, err)
		}
		var old differential.Row
		var oldEnc string
		if g != nil {
			if g.Len() != 1 || g.Diffs[0] != 1 {
				return nil, fmt.Errorf("deduplicate %q: the state holds %d rows for an instance, want one", op.name, g.Len())
			}
			oldEnc = g.Rows[0]
			if old, err = differential.DecodeRow(make(differential.Row, 0, len(op.in)), []byte(oldEnc)); err != nil || len(old) != len(op.in) {
				return nil, fmt.Errorf("deduplicate %q: a state row does not hold %d values: %v", op.name, len(op.in), err)
			}
		}
		cands := by[inst]
		slices.SortStableFunc(cands, func(a, b differential.Update) int {
			if c := differential.Compare(a.Row[op.value], b.Row[op.value]); c != 0 {
				return c
			}
			return differential.CompareRows(a.Row, b.Row)
		})
		cur := old
		for _, u := range cands {
			ok := cur == nil
			if !ok {
				if ok, err = op.offer(u.Row[op.value], cur[op.value]); err != nil {
					return nil, err
				}
			}
			if ok {
				cur = u.Row
			}
		}
		if cur.Equal(old) {
			continue
		}
		key := differential.HashBytes(op.name, []byte(inst))
		if old != nil {
			op.kept.Update(inst, 0, oldEnc, -1)
			out = append(out, differential.Update{Key: key, Row: old, Time: t, Diff: -1})
		}
		op.kept.Update(inst, 0, string(differential.EncodeRow(cur)), 1)
		out = append(out, differential.Update{Key: key, Row: slices.Clone(cur), Time: t, Diff: 1})
		if err := op.kept.Err(); err != nil {
			return nil, fmt.Errorf("deduplicate %q: %w", op.name, err)
		}
	}
	return out, nil
}

// offer calls the Acceptor, turning a panic into an error.
func (op *Deduplicate) offer(newValue, oldValue differential.Value) (ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("deduplicate %q: the Acceptor panicked on (%v, %v): %v", op.name, newValue, oldValue, r)
		}
	}()
	return op.accept(newValue, oldValue), nil
}
