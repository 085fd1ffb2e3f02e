// Package operators holds pwlog's dataflow operators. Each turns the input
// deltas of one logical time into output deltas and keeps its state in
// differential arrangements, whose changes the engine logs and replays:
// on restart the arrangements are rebuilt from the log, never by
// recomputing.
package operators

import (
	"github.com/pwlog/pwlog/differential"
)

// Operator is a node of a pipeline: it reads one or more input tables and
// produces one output table. The engine hands it, for each logical time,
// the consolidated input deltas of that time, one slice per input in the
// order the inputs were given (empty when an input did not change), and
// takes the output deltas it returns.
//
// An operator keeps its state in arrangements (differential.Arrangement)
// and nothing else: the engine logs every change an arrangement records
// in a time's durable batch, folds the changes into checkpoint runs,
// compacts them, and after a restart gives the operator its arrangements
// back as they were after the last committed time, reading groups from the
// checkpoint as the operator asks for them. An operator never reads or
// writes storage itself. State held outside its arrangements is lost at a
// restart.
//
// The built-in operators of this package implement it, and a user's
// operator is added to a pipeline the same way (pwlog's Pipeline.Apply).
type Operator interface {
	// Name returns the operator's persistent name: its arrangements are
	// stored under it.
	Name() string
	// Kind names the operator's type ("session_window", "reduce", ...).
	Kind() string
	// Schema returns the schema of the operator's output.
	Schema() differential.Schema
	// Step applies the input deltas of one logical time t, one
	// consolidated slice per input, and returns the output deltas of t.
	// State changes are recorded in the arrangements, through
	// Arrangement.Update, for the engine to log. An error stops the
	// execution before anything of t is committed.
	Step(t differential.Time, in [][]differential.Update) ([]differential.Update, error)
	// Arrangements returns the operator's state, in a fixed order; their
	// names must differ. An operator without state returns none.
	Arrangements() []*differential.Arrangement
	// Describe returns a stable description of the operator's
	// configuration, part of the pipeline's fingerprint: a restart whose
	// operator describes itself otherwise is refused.
	Describe() string
}

// groupUpdates partitions updates by the encoding of the values at cols,
// keeping the order in which groups are first seen.
func groupUpdates(in []differential.Update, cols []int) (order []string, by map[string][]differential.Update) {
	by = make(map[string][]differential.Update)
	var buf []byte
	for _, u := range in {
		buf = buf[:0]
		for _, c := range cols {
			buf = differential.AppendValue(buf, u.Row[c])
		}
		k := string(buf)
		if _, ok := by[k]; !ok {
			order = append(order, k)
		}
		by[k] = append(by[k], u)
	}
	return order, by
}

// names returns the names of the columns cols of schema s.
func names(s differential.Schema, cols []int) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = s[c].Name
	}
	return out
}
