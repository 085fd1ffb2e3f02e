package checkpoint

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/pwlog/pwlog/differential"
)

// compareAt orders entry i of a and entry j of b by (group, key, row).
func compareAt(a *differential.Deltas, i int, b *differential.Deltas, j int) int {
	if c := strings.Compare(a.Groups[i], b.Groups[j]); c != 0 {
		return c
	}
	if ka, kb := a.Keys[i], b.Keys[j]; ka != kb {
		if ka < kb {
			return -1
		}
		return 1
	}
	return strings.Compare(a.Rows[i], b.Rows[j])
}

// checkConsolidated returns the index of the first entry of d that breaks
// the order of a run (sorted by (group, key, row), no entry twice, no zero
// diff) and why, or -1. Ragged columns are reported at index 0.
func checkConsolidated(d differential.Deltas) (int, string) {
	n := len(d.Keys)
	if len(d.Groups) != n || len(d.Rows) != n || len(d.Diffs) != n {
		return 0, fmt.Sprintf("columns of %d groups, %d keys, %d rows, %d diffs",
			len(d.Groups), n, len(d.Rows), len(d.Diffs))
	}
	for i := range n {
		if d.Diffs[i] == 0 {
			return i, "zero diff"
		}
		if i > 0 {
			switch c := compareAt(&d, i-1, &d, i); {
			case c == 0:
				return i, "same (group, key, row) as the entry before"
			case c > 0:
				return i, "not sorted after the entry before"
			}
		}
	}
	return -1, ""
}

// Merge merges sorted, consolidated runs (oldest first; the order does not
// change the result) into one sorted, consolidated run: equal (group, key,
// row) entries have their diffs summed and entries whose sum is zero are
// dropped. The inputs are not modified; the result's slices are new, its
// strings shared with the inputs. Inputs that are not sorted and
// consolidated give an unspecified result. The cost is linear in the total number of entries times log(len(runs)).
func Merge(runs ...differential.Deltas) differential.Deltas {
	total := 0
	live := make([]*differential.Deltas, 0, len(runs))
	for i := range runs {
		if runs[i].Len() > 0 {
			live = append(live, &runs[i])
			total += runs[i].Len()
		}
	}
	out := differential.Deltas{
		Groups: make([]string, 0, total),
		Keys:   make([]differential.Key, 0, total),
		Rows:   make([]string, 0, total),
		Diffs:  make([]int64, 0, total),
	}
	switch len(live) {
	case 0:
	case 1:
		out.Groups = append(out.Groups, live[0].Groups...)
		out.Keys = append(out.Keys, live[0].Keys...)
		out.Rows = append(out.Rows, live[0].Rows...)
		out.Diffs = append(out.Diffs, live[0].Diffs...)
	case 2:
		merge2(&out, live[0], live[1])
	default:
		mergeK(&out, live)
	}
	return out
}

// push appends entry i of src with diff to out.
func push(out, src *differential.Deltas, i int, diff int64) {
	out.Groups = append(out.Groups, src.Groups[i])
	out.Keys = append(out.Keys, src.Keys[i])
	out.Rows = append(out.Rows, src.Rows[i])
	out.Diffs = append(out.Diffs, diff)
}

// pushAll appends entries [i:] of src to out.
func pushAll(out, src *differential.Deltas, i int) {
	out.Groups = append(out.Groups, src.Groups[i:]...)
	out.Keys = append(out.Keys, src.Keys[i:]...)
	out.Rows = append(out.Rows, src.Rows[i:]...)
	out.Diffs = append(out.Diffs, src.Diffs[i:]...)
}

// merge2 merges two runs into out.
func merge2(out, a, b *differential.Deltas) {
	i, j := 0, 0
	for i < a.Len() && j < b.Len() {
		switch c := compareAt(a, i, b, j); {
		case c < 0:
			push(out, a, i, a.Diffs[i])
			i++
		case c > 0:
			push(out, b, j, b.Diffs[j])
			j++
		default:
			if s := a.Diffs[i] + b.Diffs[j]; s != 0 {
				push(out, a, i, s)
			}
			i++
			j++
		}
	}
	pushAll(out, a, i)
	pushAll(out, b, j)
}

// cursor is a position in one run of a k-way merge.
type cursor struct {
	d   *differential.Deltas
	pos int
}

// mergeK merges three or more non-empty runs into out through a binary
// min-heap of cursors.
func mergeK(out *differential.Deltas, runs []*differential.Deltas) {
	h := make([]cursor, len(runs))
	for i, r := range runs {
		h[i] = cursor{d: r}
	}
	less := func(x, y cursor) bool { return compareAt(x.d, x.pos, y.d, y.pos) < 0 }
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			m := l
			if r := l + 1; r < len(h) && less(h[r], h[l]) {
				m = r
			}
			if !less(h[m], h[i]) {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		down(i)
	}
	// advance moves the top cursor on and restores the heap.
	advance := func() {
		h[0].pos++
		if h[0].pos == h[0].d.Len() {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		down(0)
	}
	for len(h) > 0 {
		top := h[0]
		sum := top.d.Diffs[top.pos]
		advance()
		for len(h) > 0 && compareAt(h[0].d, h[0].pos, top.d, top.pos) == 0 {
			sum += h[0].d.Diffs[h[0].pos]
			advance()
		}
		if sum != 0 {
			push(out, top.d, top.pos, sum)
		}
	}
}

// sortKey is what SortDeltas sorts for entry idx: the first eight bytes of
// its group, big-endian and zero-padded, the group's length (capped) and
// the key, so that most comparisons compare integers only.
type sortKey struct {
	prefix uint64
	key    differential.Key
	idx    uint32
	glen   uint32 // len(group), capped at 9: longer than the prefix
}

func newSortKey(d *differential.Deltas, i int) sortKey {
	g := d.Groups[i]
	var p uint64
	for j := 0; j < 8; j++ {
		p <<= 8
		if j < len(g) {
			p |= uint64(g[j])
		}
	}
	return sortKey{prefix: p, key: d.Keys[i], idx: uint32(i), glen: uint32(min(len(g), 9))}
}

// compareSortKeys orders x and y, entries of d, by (group, key, row).
func compareSortKeys(d *differential.Deltas, x, y sortKey) int {
	switch {
	case x.prefix < y.prefix:
		return -1
	case x.prefix > y.prefix:
		return 1
	case x.glen <= 8 && y.glen <= 8:
		// Equal zero-padded prefixes of groups that fit in them: one
		// group is the other followed by zero bytes, the shorter first.
		if x.glen != y.glen {
			if x.glen < y.glen {
				return -1
			}
			return 1
		}
	default:
		if c := strings.Compare(d.Groups[x.idx], d.Groups[y.idx]); c != 0 {
			return c
		}
	}
	if x.key != y.key {
		if x.key < y.key {
			return -1
		}
		return 1
	}
	return strings.Compare(d.Rows[x.idx], d.Rows[y.idx])
}

// SortDeltas sorts and consolidates arbitrary deltas (a fold of log
// records, say) in place and returns them: sorted by (group, key, row),
// equal entries summed, zero sums dropped. The result shares its slices
// with d, shortened; d's columns must be of equal length (else it panics).
func SortDeltas(d differential.Deltas) differential.Deltas {
	n := len(d.Keys)
	if len(d.Groups) != n || len(d.Rows) != n || len(d.Diffs) != n {
		panic(fmt.Sprintf("checkpoint: SortDeltas: columns of %d groups, %d keys, %d rows, %d diffs",
			len(d.Groups), n, len(d.Rows), len(d.Diffs)))
	}
	sorted := true
	for i := 1; i < n; i++ {
		if compareAt(&d, i-1, &d, i) > 0 {
			sorted = false
			break
		}
	}
	if !sorted {
		if uint64(n) > math.MaxUint32 {
			panic("checkpoint: SortDeltas: more than 1<<32 entries")
		}
		ks := make([]sortKey, n)
		for i := range ks {
			ks[i] = newSortKey(&d, i)
		}
		slices.SortFunc(ks, func(x, y sortKey) int { return compareSortKeys(&d, x, y) })
		// Apply the permutation through one scratch column at a time.
		groups := make([]string, n)
		for i, k := range ks {
			groups[i] = d.Groups[k.idx]
		}
		copy(d.Groups, groups)
		rows := groups // the scratch column serves again
		for i, k := range ks {
			rows[i] = d.Rows[k.idx]
		}
		copy(d.Rows, rows)
		clear(rows)
		diffs := make([]int64, n)
		for i, k := range ks {
			d.Keys[i] = k.key
			diffs[i] = d.Diffs[k.idx]
		}
		copy(d.Diffs, diffs)
	}
	// Consolidate: sum runs of equal entries into the first, drop zeros.
	w := 0
	for i := 0; i < n; {
		sum := d.Diffs[i]
		j := i + 1
		for j < n && d.Keys[j] == d.Keys[i] && d.Rows[j] == d.Rows[i] && d.Groups[j] == d.Groups[i] {
			sum += d.Diffs[j]
			j++
		}
		if sum != 0 {
			d.Groups[w], d.Keys[w], d.Rows[w], d.Diffs[w] = d.Groups[i], d.Keys[i], d.Rows[i], sum
			w++
		}
		i = j
	}
	clear(d.Groups[w:n])
	clear(d.Rows[w:n])
	d.Groups, d.Keys, d.Rows, d.Diffs = d.Groups[:w], d.Keys[:w], d.Rows[:w], d.Diffs[:w]
	return d
}
