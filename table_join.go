package pwlog

import (
	"fmt"

	"github.com/pwlog/pwlog/operators"
)

// JoinKind says which unmatched rows a join keeps: JoinInner, JoinLeft,
// JoinRight, JoinOuter.
type JoinKind = operators.JoinKind

// The join kinds.
const (
	// JoinInner keeps only matched pairs of rows.
	JoinInner = operators.JoinInner
	// JoinLeft keeps matched pairs and every left row without a match,
	// its right columns null.
	JoinLeft = operators.JoinLeft
	// JoinRight keeps matched pairs and every right row without a match,
	// its left columns null.
	JoinRight = operators.JoinRight
	// JoinOuter keeps matched pairs and the rows of both sides without a
	// match.
	JoinOuter = operators.JoinOuter
)

// JoinOn pairs a column of a join's left table with one of its right
// table (On makes one).
type JoinOn = operators.JoinOn

// On pairs column left of a join's left table with column right of its
// right table: joined rows have equal, non-null values in them.
func On(left, right string) JoinOn { return JoinOn{Left: left, Right: right} }

// Join joins t (the left table) with right on the equality of the
// columns paired by on (at least one pair, of equal types); name is the
// operator's persistent name.
//
// The output has t's columns in order, then right's, except that a
// right column paired with a left column of the same name is left out:
// that one column holds the left value in inner and left joins, the
// right value in right joins, and the non-null one in outer joins. Any
// other column name in both tables is an error: Rename it in one of
// them first. A null in a join column never matches: the row is
// unmatched, kept with nulls for the other side by the kinds that keep
// its side's unmatched rows. A joined row's multiplicity is the product
// of its two rows'.
//
// The operator keeps both tables' rows, by join key, in its state; a
// logical time costs the matches of the join keys it changes, not the
// size of the state.
func (t *Table) Join(name string, right *Table, kind JoinKind, on ...JoinOn) *Table {
	if !t.p.claim(name, "join") {
		return &Table{p: t.p, node: &node{name: "(invalid)"}}
	}
	if bad := t.p.checkInputs(fmt.Sprintf("join %q", name), []*Table{t, right}); bad != nil {
		return bad
	}
	op, err := operators.NewJoin(name, t.node.schema, right.node.schema, kind, on)
	return t.p.addOp(op, err, t, right)
}

// Tumbling is a tumbling window: every row belongs to the one window
// [start, start+Duration) holding its Time, where start = Origin +
// k*Duration for an integer k (negative times included).
type Tumbling struct {
	Time     string   // an int column
	Duration int64    // > 0
	Origin   int64    // where windows are aligned
	Instance []string // columns that, with the window, group the rows in Reduce
}

func (w Tumbling) operator(name string, in Schema) (operators.Operator, []string, error) {
	op, err := operators.NewTumblingWindow(name, in, w.Time, w.Instance, w.Duration, w.Origin)
	return op, w.Instance, err
}

func (Tumbling) what() string { return "tumbling window" }

// Sliding is a sliding window: windows [s, s+Duration) start every Hop,
// at s = Origin + k*Hop for every integer k, and a row belongs to every
// window holding its Time: about Duration/Hop of them, none when Hop >
// Duration and the row falls between two windows.
type Sliding struct {
	Time     string // an int column
	Duration int64  // > 0
	Hop      int64  // > 0
	Origin   int64
	Instance []string // columns that, with the window, group the rows in Reduce
}

func (w Sliding) operator(name string, in Schema) (operators.Operator, []string, error) {
	op, err := operators.NewSlidingWindow(name, in, w.Time, w.Instance, w.Duration, w.Hop, w.Origin)
	return op, w.Instance, err
}

func (Sliding) what() string { return "sliding window" }

// Dedup configures Table.Deduplicate: per instance (the values of the
// Instance columns; the whole table when none), one row is kept, the
// first inserted, then replaced by a later inserted row whenever
// Acceptor(its Value column, the kept row's) returns true.
type Dedup = operators.Dedup

// Deduplicate keeps one row per instance, as d says; name is the
// operator's persistent name. The output holds the kept rows, all of the
// input's columns, keyed by the instance.
//
// The input is taken as append-only, as Pathway's deduplicate takes it:
// its retractions are ignored (a retracted row stays kept). Rows
// inserted at one logical time for one instance are offered to the
// Acceptor in ascending order of their Value, then of the whole row,
// each against the row kept so far. The state is the kept row of each
// instance. The Acceptor is not part of the pipeline's fingerprint:
// changing it between runs goes unnoticed and applies to new rows only.
func (t *Table) Deduplicate(name string, d Dedup) *Table {
	return t.unary(name, "deduplicate", func(in Schema) (operators.Operator, error) {
		return operators.NewDeduplicate(name, in, d)
	})
}
