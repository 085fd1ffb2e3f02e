package operators

import (
	"fmt"
	"slices"

	"github.com/pwlog/pwlog/differential"
)

// Flatten turns each input row into one output row per element of a
// tuple column: the row with the tuple replaced by the element, with the
// input row's multiplicity. A null tuple, or an empty one, gives no row.
// The output key is a hash of the operator's name, the input key and the
// element's position, so a retraction of the input row retracts exactly
// the rows its insertion gave. It keeps no state.
type Flatten struct {
	name string
	in   differential.Schema
	out  differential.Schema
	col  int
}

// NewFlatten returns a Flatten of column col of the input schema in: a
// tuple column whose element type is known (Column.Elem), as a Reduce's
// Tuple and SortedTuple outputs are.
func NewFlatten(name string, in differential.Schema, col string) (*Flatten, error) {
	i := in.Index(col)
	if i < 0 {
		return nil, fmt.Errorf("flatten %q: no column %q in %v", name, col, in.Names())
	}
	c := in[i]
	if c.Type != differential.KindTuple {
		return nil, fmt.Errorf("flatten %q: column %q is %s, want a tuple", name, col, c.Type)
	}
	if c.Elem == differential.KindNull {
		return nil, fmt.Errorf("flatten %q: column %q is a tuple of unknown element type (a Reduce's tuple or sorted_tuple output has one)", name, col)
	}
	out := slices.Clone(in)
	out[i] = differential.Column{Name: c.Name, Type: c.Elem}
	return &Flatten{name: name, in: in, out: out, col: i}, nil
}

// Name implements Operator.
func (op *Flatten) Name() string { return op.name }

// Kind implements Operator.
func (op *Flatten) Kind() string { return "flatten" }

// Schema implements Operator.
func (op *Flatten) Schema() differential.Schema { return op.out }

// Arrangements implements Operator: a Flatten keeps no state.
func (op *Flatten) Arrangements() []*differential.Arrangement { return nil }

// Describe implements Operator.
func (op *Flatten) Describe() string {
	return fmt.Sprintf("flatten(col=%s, elem=%s)", ident(op.in[op.col].Name), op.out[op.col].Type)
}

// Step implements Operator.
func (op *Flatten) Step(t differential.Time, ins [][]differential.Update) ([]differential.Update, error) {
	var out []differential.Update
	elem := op.out[op.col].Type
	for _, u := range ins[0] {
		v := u.Row[op.col]
		if v.IsNull() {
			continue
		}
		elems, err := v.Elems()
		if err != nil {
			return nil, fmt.Errorf("flatten %q: column %q: %w", op.name, op.in[op.col].Name, err)
		}
		for k, e := range elems {
			if e.Kind != elem && !e.IsNull() {
				return nil, fmt.Errorf("flatten %q: column %q holds a %s element in a tuple of %s", op.name, op.in[op.col].Name, e.Kind, elem)
			}
			row := slices.Clone(u.Row)
			row[op.col] = e
			h := differential.NewHasher(op.name)
			h.Uint64(uint64(u.Key))
			h.Uint64(uint64(k))
			out = append(out, differential.Update{Key: h.Key(), Row: row, Time: t, Diff: u.Diff})
		}
	}
	return out, nil
}
