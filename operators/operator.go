// Package operators holds pwlog's dataflow operators. Each turns the input
// deltas of one logical time into output deltas and keeps its state in
// differential arrangements, whose changes the engine logs and replays:
// on restart the arrangements are rebuilt from the log, never by
// recomputing.
package operators

import (
	"github.com/pwlog/pwlog/differential"
)

// Operator is a node of a pipeline with one input.
type Operator interface {
	// Name returns the operator's persistent name.
	Name() string
	// Kind names the operator's type ("session_window", "reduce").
	Kind() string
	// Schema returns the schema of the operator's output.
	Schema() differential.Schema
	// Step applies the input deltas of one logical time t and returns the
	// output deltas of t. The input must be consolidated. State changes
	// are recorded in the arrangements for the engine to log.
	Step(t differential.Time, in []differential.Update) ([]differential.Update, error)
	// Arrangements returns the operator's state, in a fixed order.
	Arrangements() []*differential.Arrangement
	// Describe returns a stable description of the operator's
	// configuration, used to notice a changed pipeline.
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
