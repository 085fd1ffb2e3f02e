package differential

import (
	"cmp"
	"slices"
)

// Time is a logical time: milliseconds, strictly increasing across runs of
// a persistent pipeline.
type Time = uint64

// Update is one change to a table: Diff copies of Row, identified by Key, at
// Time. Diff is +1 for an insert and -1 for a retraction; consolidated
// updates can carry any non-zero multiplicity.
type Update struct {
	Key  Key
	Row  Row
	Time Time
	Diff int64
}

// Consolidate sums the diffs of updates with equal time, key and row and
// drops those that sum to zero. It sorts and compacts us in place and
// returns the shortened slice; the order of the result is by time, key,
// then row.
func Consolidate(us []Update) []Update {
	if len(us) < 2 {
		if len(us) == 1 && us[0].Diff == 0 {
			return us[:0]
		}
		return us
	}
	slices.SortFunc(us, compareUpdates)
	out := us[:0]
	for _, u := range us {
		if n := len(out); n > 0 && out[n-1].Time == u.Time && out[n-1].Key == u.Key && out[n-1].Row.Equal(u.Row) {
			out[n-1].Diff += u.Diff
			continue
		}
		out = append(out, u)
	}
	kept := out[:0]
	for _, u := range out {
		if u.Diff != 0 {
			kept = append(kept, u)
		}
	}
	clear(us[len(kept):])
	return kept
}

func compareUpdates(a, b Update) int {
	if c := cmp.Compare(a.Time, b.Time); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Key, b.Key); c != 0 {
		return c
	}
	return CompareRows(a.Row, b.Row)
}

// CompareRows orders rows value by value, shorter first on a common prefix.
func CompareRows(a, b Row) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := Compare(a[i], b[i]); c != 0 {
			return c
		}
		if a[i].Kind != b[i].Kind {
			return cmp.Compare(a[i].Kind, b[i].Kind)
		}
	}
	return cmp.Compare(len(a), len(b))
}
