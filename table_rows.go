package pwlog

import (
	"fmt"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/operators"
)

// Row expressions, re-exported from package operators: literals,
// division and modulo, comparisons, three-valued logic, conditionals,
// strings, casts and null tests (operators.Lit and the others document
// their types and null rules).
var (
	Lit       = operators.Lit
	Div       = operators.Div
	FloorDiv  = operators.FloorDiv
	Mod       = operators.Mod
	Eq        = operators.Eq
	Ne        = operators.Ne
	Lt        = operators.Lt
	Le        = operators.Le
	Gt        = operators.Gt
	Ge        = operators.Ge
	And       = operators.And
	Or        = operators.Or
	Not       = operators.Not
	If        = operators.If
	Concat    = operators.Concat
	Contains  = operators.Contains
	Lower     = operators.Lower
	Upper     = operators.Upper
	Cast      = operators.Cast
	IsNull    = operators.IsNull
	IsNotNull = operators.IsNotNull
	Coalesce  = operators.Coalesce
)

// UDF returns a user-defined function for expressions:
// UDF(name, ret, fn, opts).Call(args...) (see operators.NewUDF).
var UDF = operators.NewUDF

// UDFOptions says whether a user-defined function is deterministic and
// whether its results are cached in the storage (see
// operators.UDFOptions).
type UDFOptions = operators.UDFOptions

// Select computes a table of the outputs, evaluated on each row; a row
// keeps its key. name is the operator's persistent name.
func (t *Table) Select(name string, outs ...Output) *Table {
	return t.unary(name, "select", func(in Schema) (operators.Operator, error) {
		return operators.NewSelect(name, in, outs)
	})
}

// WithColumns adds computed columns to the table: an output named as a
// column replaces it in place, the others are appended in order. name is
// the operator's persistent name.
func (t *Table) WithColumns(name string, outs ...Output) *Table {
	return t.unary(name, "with_columns", func(in Schema) (operators.Operator, error) {
		return operators.NewWithColumns(name, in, outs)
	})
}

// Filter keeps the rows for which cond, a bool expression, is true; a
// null drops the row. name is the operator's persistent name.
func (t *Table) Filter(name string, cond Expr) *Table {
	return t.unary(name, "filter", func(in Schema) (operators.Operator, error) {
		return operators.NewFilter(name, in, cond)
	})
}

// Rename renames columns (old name -> new name), keeping their order. An
// unknown old name, or two columns ending with one name, is an error.
// name is the operator's persistent name.
func (t *Table) Rename(name string, renames map[string]string) *Table {
	return t.unary(name, "rename", func(in Schema) (operators.Operator, error) {
		return operators.NewRename(name, in, renames)
	})
}

// Union concatenates two or more tables of the same columns (names and
// types, in the same order): the output holds every row of every input.
// Output keys hash the operator's name, the input's position and the
// input key, so rows of different inputs never collide. name is the
// operator's persistent name.
func (p *Pipeline) Union(name string, tables ...*Table) *Table {
	if !p.claim(name, "union") {
		return &Table{p: p, node: &node{name: "(invalid)"}}
	}
	if bad := p.checkInputs(fmt.Sprintf("union %q", name), tables); bad != nil {
		return bad
	}
	schemas := make([]differential.Schema, len(tables))
	for i, in := range tables {
		schemas[i] = in.node.schema
	}
	op, err := operators.NewUnion(name, schemas)
	if err != nil {
		return p.addOp(nil, err, tables...)
	}
	return p.addOp(op, nil, tables...)
}
