package differential

import (
	"slices"
	"strings"
)

// Group is the part of an arrangement under one group key: parallel
// columns of order values, row keys, encoded rows and multiplicities,
// sorted by (order, key, row). Callers must not modify it; it is valid
// until the next Update of the arrangement.
type Group struct {
	Order []int64
	Keys  []Key
	Rows  []string
	Diffs []int64
}

// Len returns the number of distinct (key, row) entries of the group.
func (g *Group) Len() int { return len(g.Keys) }

// Deltas is a columnar batch of changes to an arrangement: entry i adds
// Diffs[i] copies of (Keys[i], Rows[i]) under group Groups[i]. It is the
// unit that is logged to the WAL and replayed on restart.
type Deltas struct {
	Groups []string `msgpack:"g"`
	Keys   []Key    `msgpack:"k"`
	Rows   []string `msgpack:"r"`
	Diffs  []int64  `msgpack:"d"`
}

// Len returns the number of changes in d.
func (d Deltas) Len() int { return len(d.Keys) }

// Append appends the changes of o to d.
func (d *Deltas) Append(o Deltas) {
	d.Groups = append(d.Groups, o.Groups...)
	d.Keys = append(d.Keys, o.Keys...)
	d.Rows = append(d.Rows, o.Rows...)
	d.Diffs = append(d.Diffs, o.Diffs...)
}

func (d *Deltas) add(group string, key Key, row string, diff int64) {
	d.Groups = append(d.Groups, group)
	d.Keys = append(d.Keys, key)
	d.Rows = append(d.Rows, row)
	d.Diffs = append(d.Diffs, diff)
}

// Arrangement is an operator's indexed state: group key -> a multiset of
// (row key, encoded row). It records the changes applied through Update so
// that they can be logged (TakeDeltas), and replays logged changes without
// recording them (Apply).
//
// Rows are kept encoded (see EncodeRow) in per-group columns: a million
// small rows cost tens of megabytes, not hundreds.
type Arrangement struct {
	name    string
	order   func(row string) int64
	groups  map[string]*Group
	entries int
	pending Deltas
	cols    Columns
}

// Columns names what an arrangement holds, for tools that decode its
// entries: the columns of its group keys and of its rows. Group is nil
// when a group key is plain text (a file path) rather than an encoded row.
type Columns struct {
	Group []string `msgpack:"g" json:"group"`
	Row   []string `msgpack:"r" json:"row"`
}

// NewArrangement returns an empty arrangement with a name unique within its
// operator. order, when not nil, computes from an encoded row the value
// that sorts a group (a session window sorts by time); it must be a pure
// function of the row, since replay recomputes it. Without it, groups
// are sorted by key.
func NewArrangement(name string, order func(row string) int64) *Arrangement {
	return &Arrangement{name: name, order: order, groups: make(map[string]*Group)}
}

// SetColumns names the columns of the arrangement's group keys and rows.
func (a *Arrangement) SetColumns(c Columns) { a.cols = c }

// Columns returns what SetColumns set.
func (a *Arrangement) Columns() Columns { return a.cols }

// Name returns the arrangement's name.
func (a *Arrangement) Name() string { return a.name }

// Len returns the number of distinct (group, key, row) entries.
func (a *Arrangement) Len() int { return a.entries }

// Groups returns the number of groups.
func (a *Arrangement) Groups() int { return len(a.groups) }

// Get returns the group under key, or nil when it is empty.
func (a *Arrangement) Get(group string) *Group { return a.groups[group] }

// Update adds diff copies of (key, row) under group and records the change
// for TakeDeltas.
func (a *Arrangement) Update(group string, key Key, row string, diff int64) {
	if diff == 0 {
		return
	}
	a.apply(group, key, row, diff)
	a.pending.add(group, key, row, diff)
}

// TakeDeltas returns the changes recorded since the last call and resets
// the record. The caller owns the returned Deltas.
func (a *Arrangement) TakeDeltas() Deltas {
	d := a.pending
	a.pending = Deltas{}
	return d
}

// Apply replays logged changes into the arrangement without recording them.
// A stretch of changes to one group the arrangement does not hold yet (a
// checkpoint run is sorted by group) becomes that group in one step, its
// columns carved from one allocation per call.
func (a *Arrangement) Apply(d Deltas) {
	var sl slab
	if a.entries == 0 && len(d.Keys) > 1024 {
		// Loading a checkpoint: size the map for its groups at once.
		n := 1
		for i := 1; i < len(d.Groups); i++ {
			if d.Groups[i] != d.Groups[i-1] {
				n++
			}
		}
		a.groups = make(map[string]*Group, n)
		sl.groups = make([]Group, 0, n)
	}
	for i := 0; i < len(d.Keys); {
		j := i + 1
		for j < len(d.Keys) && d.Groups[j] == d.Groups[i] {
			j++
		}
		if a.groups[d.Groups[i]] == nil && a.load(d, i, j, &sl) {
			i = j
			continue
		}
		for ; i < j; i++ {
			a.apply(d.Groups[i], d.Keys[i], d.Rows[i], d.Diffs[i])
		}
	}
}

// slab hands out the columns of new groups from shared backing arrays.
// Each group gets a full slice (capacity = length), so that growing one
// group copies it out instead of overwriting its neighbour.
type slab struct {
	order  []int64
	keys   []Key
	rows   []string
	diffs  []int64
	idx    []int
	pairs  []orderPos
	groups []Group
}

// group returns a new Group, from the slab while it lasts.
func (s *slab) group() *Group {
	if len(s.groups) < cap(s.groups) {
		s.groups = s.groups[:len(s.groups)+1]
		return &s.groups[len(s.groups)-1]
	}
	return &Group{}
}

// orderPos is a position in a Deltas with its order value.
type orderPos struct {
	order int64
	pos   int
}

func (s *slab) take(n, hint int) (o []int64, k []Key, r []string, d []int64) {
	if len(s.keys) < n {
		size := max(n, hint)
		s.order, s.keys, s.rows, s.diffs = make([]int64, size), make([]Key, size), make([]string, size), make([]int64, size)
	}
	o, k, r, d = s.order[:n:n], s.keys[:n:n], s.rows[:n:n], s.diffs[:n:n]
	s.order, s.keys, s.rows, s.diffs = s.order[n:], s.keys[n:], s.rows[n:], s.diffs[n:]
	return o, k, r, d
}

// load builds a new group from the changes d[i:j], all to one group, when
// they are distinct entries with non-zero diffs; otherwise it does nothing
// and reports false.
func (a *Arrangement) load(d Deltas, i, j int, sl *slab) bool {
	n := j - i
	idx := sl.idx[:0]
	for k := range n {
		if d.Diffs[i+k] == 0 {
			return false
		}
		idx = append(idx, i+k)
	}
	sl.idx = idx
	ord := func(x int) int64 {
		if a.order == nil {
			return 0
		}
		return a.order(d.Rows[x])
	}
	if n == 1 {
		o, k, r, df := sl.take(1, len(d.Keys)-i)
		o[0], k[0], r[0], df[0] = ord(i), d.Keys[i], d.Rows[i], d.Diffs[i]
		g := sl.group()
		g.Order, g.Keys, g.Rows, g.Diffs = o, k, r, df
		a.groups[d.Groups[i]] = g
		a.entries++
		return true
	}
	// Sort positions by (order, key, row); orders[m] belongs to idx[m]
	// before the sort, so sort pairs.
	pairs := sl.pairs[:0]
	for _, x := range idx {
		pairs = append(pairs, orderPos{ord(x), x})
	}
	sl.pairs = pairs
	slices.SortFunc(pairs, func(p, q orderPos) int {
		return compareEntry(p.order, d.Keys[p.pos], d.Rows[p.pos], q.order, d.Keys[q.pos], d.Rows[q.pos])
	})
	for k := 1; k < n; k++ {
		p, q := pairs[k-1], pairs[k]
		if compareEntry(p.order, d.Keys[p.pos], d.Rows[p.pos], q.order, d.Keys[q.pos], d.Rows[q.pos]) == 0 {
			return false // a repeated entry: leave it to apply
		}
	}
	o, k, r, df := sl.take(n, len(d.Keys)-i)
	for m, p := range pairs {
		o[m], k[m], r[m], df[m] = p.order, d.Keys[p.pos], d.Rows[p.pos], d.Diffs[p.pos]
	}
	g := sl.group()
	g.Order, g.Keys, g.Rows, g.Diffs = o, k, r, df
	a.groups[d.Groups[i]] = g
	a.entries += n
	return true
}

func (a *Arrangement) apply(group string, key Key, row string, diff int64) {
	g := a.groups[group]
	if g == nil {
		g = &Group{}
		a.groups[group] = g
	}
	var o int64
	if a.order != nil {
		o = a.order(row)
	}
	i, found := g.search(o, key, row)
	if found {
		g.Diffs[i] += diff
		if g.Diffs[i] == 0 {
			g.Order = slices.Delete(g.Order, i, i+1)
			g.Keys = slices.Delete(g.Keys, i, i+1)
			g.Rows = slices.Delete(g.Rows, i, i+1)
			g.Diffs = slices.Delete(g.Diffs, i, i+1)
			a.entries--
			if len(g.Keys) == 0 {
				delete(a.groups, group)
			}
		}
		return
	}
	g.Order = slices.Insert(g.Order, i, o)
	g.Keys = slices.Insert(g.Keys, i, key)
	g.Rows = slices.Insert(g.Rows, i, row)
	g.Diffs = slices.Insert(g.Diffs, i, diff)
	a.entries++
}

// search returns the position of (o, key, row) in the group, or where it
// would be inserted.
func (g *Group) search(o int64, key Key, row string) (int, bool) {
	lo, hi := 0, len(g.Keys)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if compareEntry(g.Order[m], g.Keys[m], g.Rows[m], o, key, row) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < len(g.Keys) && g.Order[lo] == o && g.Keys[lo] == key && g.Rows[lo] == row
}

func compareEntry(o1 int64, k1 Key, r1 string, o2 int64, k2 Key, r2 string) int {
	switch {
	case o1 != o2:
		if o1 < o2 {
			return -1
		}
		return 1
	case k1 != k2:
		if k1 < k2 {
			return -1
		}
		return 1
	}
	return strings.Compare(r1, r2)
}

// Snapshot returns the whole state as consolidated Deltas sorted by group,
// key and row: two arrangements hold the same state exactly when their
// snapshots are equal. It is the form of a checkpoint run. The strings
// are shared with the arrangement.
func (a *Arrangement) Snapshot() Deltas {
	names := make([]string, 0, len(a.groups))
	for name := range a.groups {
		names = append(names, name)
	}
	slices.Sort(names)
	d := Deltas{
		Groups: make([]string, 0, a.entries),
		Keys:   make([]Key, 0, a.entries),
		Rows:   make([]string, 0, a.entries),
		Diffs:  make([]int64, 0, a.entries),
	}
	var idx []int
	for _, name := range names {
		g := a.groups[name]
		idx = idx[:0]
		for i := range g.Keys {
			idx = append(idx, i)
		}
		// Groups are kept sorted by (order, key, row); a snapshot is by
		// (key, row).
		slices.SortFunc(idx, func(x, y int) int { return compareEntry(0, g.Keys[x], g.Rows[x], 0, g.Keys[y], g.Rows[y]) })
		for _, i := range idx {
			d.add(name, g.Keys[i], g.Rows[i], g.Diffs[i])
		}
	}
	return d
}
