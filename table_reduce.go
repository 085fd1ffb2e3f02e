package pwlog

import (
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/operators"
)

// More reducers for Reduce outputs, re-exported from package operators
// (Count, Sum, Min and Max are in pwlog.go). All but Count, Tuple and
// SortedTuple skip nulls.
//
// A Reduce whose reducers are all Count, Sum and Avg keeps one entry of
// running aggregates per group, not its input rows; one using Earliest,
// Latest or Tuple keeps its rows with their keys and arrival times; any
// other keeps the multiset of the values its reducers read.
var (
	// Avg(col): the mean of an int or float column's non-null values, a
	// float; null when there is none.
	Avg = operators.Avg
	// CountDistinct(col): the number of distinct non-null values.
	CountDistinct = operators.CountDistinct
	// Any(col): some non-null value (the smallest: deterministic).
	Any = operators.Any
	// ArgMin(col, ret): ret's value in the row with the smallest col.
	ArgMin = operators.ArgMin
	// ArgMax(col, ret): ret's value in the row with the largest col.
	ArgMax = operators.ArgMax
	// Earliest(col): col's value in the row that arrived first.
	Earliest = operators.Earliest
	// Latest(col): col's value in the row that arrived last.
	Latest = operators.Latest
	// Tuple(col): the group's values, nulls included, in arrival order.
	Tuple = operators.Tuple
	// SortedTuple(col): the group's values, nulls included, sorted.
	SortedTuple = operators.SortedTuple
)

// TypeTuple is the type of a tuple column, such as a Reduce's Tuple
// output; its Column.Elem is the type of the elements.
const TypeTuple = differential.KindTuple

// Flatten gives one row per element of the tuple column col: the row with
// col replaced by the element, whose type is the column's Elem (a
// Reduce's Tuple and SortedTuple outputs have one). A null or empty tuple
// gives no row. The operator's persistent name is name; it keeps no
// state.
func (t *Table) Flatten(name, col string) *Table {
	return t.unary(name, "flatten", func(in Schema) (operators.Operator, error) {
		return operators.NewFlatten(name, in, col)
	})
}
