package checkpoint

// MergeInto writes the entries of the sorted iterators into w, merged:
// equal (group, key, row) entries have their diffs summed, and sums of
// zero are left out. The order of the iterators does not matter.
func MergeInto(w *RunWriter, its ...Iterator) error {
	type head struct {
		e  Entry
		it Iterator
	}
	h := make([]head, 0, len(its))
	for _, it := range its {
		if e, ok := it.Next(); ok {
			h = append(h, head{e, it})
		} else if err := it.Err(); err != nil {
			return err
		}
	}
	less := func(x, y *Entry) bool {
		if x.Group != y.Group {
			return x.Group < y.Group
		}
		return compareKeyRow(x.Key, x.Row, y.Key, y.Row) < 0
	}
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			m := l
			if r := l + 1; r < len(h) && less(&h[r].e, &h[l].e) {
				m = r
			}
			if !less(&h[m].e, &h[i].e) {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		down(i)
	}
	advance := func() error {
		if e, ok := h[0].it.Next(); ok {
			h[0].e = e
		} else {
			if err := h[0].it.Err(); err != nil {
				return err
			}
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		down(0)
		return nil
	}
	for len(h) > 0 {
		top := h[0].e
		sum := top.Diff
		if err := advance(); err != nil {
			return err
		}
		for len(h) > 0 && h[0].e.Group == top.Group && h[0].e.Key == top.Key && h[0].e.Row == top.Row {
			sum += h[0].e.Diff
			if err := advance(); err != nil {
				return err
			}
		}
		if sum != 0 {
			if err := w.Add(top.Group, top.Key, top.Row, sum); err != nil {
				return err
			}
		}
	}
	return nil
}
