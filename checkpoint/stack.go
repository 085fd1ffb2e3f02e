package checkpoint

import "github.com/pwlog/pwlog/differential"

// Stack is the runs of one arrangement, oldest first, read in place: the
// base of a differential.Arrangement. A group's entries are those of all
// its runs, diffs of equal entries summed.
type Stack []*Run

var _ differential.Base = Stack(nil)

// Lookup implements differential.Base: it calls fn for the group's
// entries in each run, run by run.
func (s Stack) Lookup(group string, fn func(key differential.Key, row string, diff int64)) error {
	for _, r := range s {
		if _, err := r.Lookup(group, fn); err != nil {
			return err
		}
	}
	return nil
}

// Scan implements differential.Base: it calls fn for every entry of each
// run, run by run.
func (s Stack) Scan(fn func(group string, key differential.Key, row string, diff int64)) error {
	for _, r := range s {
		it := r.Iter()
		for e, ok := it.Next(); ok; e, ok = it.Next() {
			fn(e.Group, e.Key, e.Row, e.Diff)
		}
		if err := it.Err(); err != nil {
			return err
		}
	}
	return nil
}
