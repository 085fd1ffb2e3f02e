package operators

import (
	"fmt"
	"strconv"

	"github.com/pwlog/pwlog/differential"
)

// Union concatenates two or more tables of the same columns (names and
// types, in order): every input update is an output update with the same
// row, time and diff. The output key is a hash of the operator's name,
// the input's index and the input key, so rows of different inputs never
// share a key. Stateless.
type Union struct {
	name   string
	out    differential.Schema
	inputs int
}

// NewUnion returns the union of inputs of the schemas ins.
func NewUnion(name string, ins []differential.Schema) (*Union, error) {
	if len(ins) < 2 {
		return nil, fmt.Errorf("union %q: %d tables, want two or more", name, len(ins))
	}
	first := ins[0]
	for i, s := range ins[1:] {
		if len(s) != len(first) {
			return nil, fmt.Errorf("union %q: table %d has columns %v, table 0 %v: want the same columns in the same order", name, i+1, s.Names(), first.Names())
		}
		for j, c := range s {
			if c.Name != first[j].Name || c.Type != first[j].Type {
				return nil, fmt.Errorf("union %q: column %d of table %d is %s:%s, of table 0 %s:%s: want the same names and types in the same order",
					name, j, i+1, c.Name, c.Type, first[j].Name, first[j].Type)
			}
		}
	}
	return &Union{name: name, out: first, inputs: len(ins)}, nil
}

// Name implements Operator.
func (op *Union) Name() string { return op.name }

// Kind implements Operator.
func (op *Union) Kind() string { return "union" }

// Schema implements Operator.
func (op *Union) Schema() differential.Schema { return op.out }

// Arrangements implements Operator: none.
func (op *Union) Arrangements() []*differential.Arrangement { return nil }

// Describe implements Operator.
func (op *Union) Describe() string { return "union(inputs=" + strconv.Itoa(op.inputs) + ")" }

// Step implements Operator.
func (op *Union) Step(t differential.Time, ins [][]differential.Update) ([]differential.Update, error) {
	n := 0
	for _, in := range ins {
		n += len(in)
	}
	out := make([]differential.Update, 0, n)
	for i, in := range ins {
		for _, u := range in {
			h := differential.NewHasher(op.name)
			h.Uint64(uint64(i))
			h.Uint64(uint64(u.Key))
			out = append(out, differential.Update{Key: h.Key(), Row: u.Row, Time: t, Diff: u.Diff})
		}
	}
	return out, nil
}
