package differential

import (
	"fmt"
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

	dirty      uint64   // 0: as the base holds it; else the epoch of its last change
	added      int      // entries added since it was clean, less those removed
	rowBytes   int      // bytes of its rows
	partial    bool     // the columns are not held: the group is the base's with delta applied
	used       uint64   // the arrangement's tick when it was last asked for or changed
	delta      []change // its changes since the base, when the arrangement tracks them (Track)
	deltaBytes int      // bytes of delta's rows
	bytes      int64    // what it costs, as counted in memBytes
}

// change is one change to a group, in the epoch it was made.
type change struct {
	epoch uint64
	key   Key
	row   string
	diff  int64
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

// Base is the part of an arrangement's state that is not in memory: the
// checkpoint's sorted runs, read in place. Lookup calls fn for every
// entry of group it holds; entries may repeat across its runs (their
// diffs add up) and come in any order. fn's strings may be shared with
// a cache: the arrangement copies what it keeps.
type Base interface {
	Lookup(group string, fn func(key Key, row string, diff int64)) error
	// Scan calls fn for every entry, in any order, repeats as Lookup.
	Scan(fn func(group string, key Key, row string, diff int64)) error
}

// Arrangement is an operator's indexed state: group key -> a multiset of
// (row key, encoded row). It records the changes applied through Update so
// that they can be logged (TakeDeltas), and replays logged changes without
// recording them (Apply).
//
// An arrangement is a stack of two layers: a Base (the checkpoint's runs,
// set by Rebase; none for a state that was never checkpointed) and, above
// it, the groups in memory. A group not in memory is exactly what the
// Base holds of it; Get brings it into memory whole (the base's entries
// with their changes since the checkpoint applied), and Update changes
// it there. A group changed since the last checkpoint is dirty and stays
// in memory until a checkpoint holds the change (Seal, then Rebase); a
// clean one can be dropped at any time (Evict) and is read again from
// the base when asked for. Without a base, every group stays in memory.
//
// Rows are kept encoded (see EncodeRow) in per-group columns, the rows of
// a group read from the base in one string: a million small rows cost
// tens of megabytes, not hundreds.
//
// A failed base read makes Get return the error; Update and Apply keep
// the first such error for Err, and the caller must not commit a time
// whose step saw one.
type Arrangement struct {
	name    string
	order   func(row string) int64
	groups  map[string]*Group
	entries int
	pending Deltas
	cols    Columns

	base     Base
	track    bool   // groups keep their changes since the base (Track)
	epoch    uint64 // the current checkpoint epoch, from 1 (Seal)
	memBytes int64  // estimate of what the groups in memory hold
	tick     uint64 // counts evictions: a group used since the last is hot
	err      error
	scratch  []entry
}

// entry is one entry of a group being read from the base.
type entry struct {
	order int64
	key   Key
	row   string
	diff  int64
}

// Bytes an entry costs in a group beside its row's bytes: its order, key,
// row header and diff; and what a group costs beside its entries.
const (
	entryBytes  = 8 + 8 + 16 + 8
	changeBytes = 8 + 8 + 16 + 8
	groupBytes  = 200
)

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
	return &Arrangement{name: name, order: order, groups: make(map[string]*Group), epoch: 1}
}

// SetColumns names the columns of the arrangement's group keys and rows.
func (a *Arrangement) SetColumns(c Columns) { a.cols = c }

// Columns returns what SetColumns set.
func (a *Arrangement) Columns() Columns { return a.cols }

// Name returns the arrangement's name.
func (a *Arrangement) Name() string { return a.name }

// Len returns the number of distinct (group, key, row) entries: exact
// without a base; with one, an estimate: counted as its runs hold them (an
// entry in two runs counts twice until a merge consolidates them), and
// changes made by UpdateBlind by their sign.
func (a *Arrangement) Len() int { return a.entries }

// Track makes every group keep its changes since the base, with their
// epochs, so that a changed group can leave memory before a checkpoint
// holds it (Evict): its changes stay, and Get applies them to what the
// base holds. The engine tracks the arrangements of a persistent
// execution; without Track, a changed group stays in memory whole.
func (a *Arrangement) Track() { a.track = true }

// HasBase reports whether the arrangement has a base: without one, its
// whole state is in memory.
func (a *Arrangement) HasBase() bool { return a.base != nil }

// MemBytes returns an estimate of the bytes its groups in memory hold.
func (a *Arrangement) MemBytes() int64 { return a.memBytes }

// Err returns the first base read error that Update or Apply met.
func (a *Arrangement) Err() error { return a.err }

// Get returns the group under key, or nil when it is empty. A group not
// in memory is read from the base first.
func (a *Arrangement) Get(group string) (*Group, error) {
	g := a.groups[group]
	if g == nil && a.base == nil {
		return nil, nil
	}
	if g == nil || g.partial {
		var err error
		if g, err = a.group(group); err != nil {
			return nil, err
		}
	}
	g.used = a.tick
	if len(g.Keys) == 0 {
		return nil, nil
	}
	return g, nil
}

// group returns the group in memory whole, reading it from the base when
// it is not there or only its changes are; without a base a missing
// group is a new empty one.
func (a *Arrangement) group(name string) (*Group, error) {
	g := a.groups[name]
	if g != nil && !g.partial {
		return g, nil
	}
	sc := a.scratch[:0]
	rowBytes := 0
	if a.base != nil {
		err := a.base.Lookup(name, func(key Key, row string, diff int64) {
			sc = append(sc, entry{key: key, row: row, diff: diff})
			rowBytes += len(row)
		})
		if err != nil {
			clear(sc)
			a.scratch = sc[:0]
			return nil, fmt.Errorf("arrangement %s: group %q: %w", a.name, name, err)
		}
	}
	if g == nil {
		g = &Group{}
		a.groups[name] = g
	}
	for _, c := range g.delta {
		sc = append(sc, entry{key: c.key, row: c.row, diff: c.diff})
		rowBytes += len(c.row)
	}
	g.Order, g.Keys, g.Rows, g.Diffs, g.rowBytes = nil, nil, nil, nil, 0
	if len(sc) > 0 {
		a.fill(g, sc, rowBytes)
	}
	clear(sc)
	a.scratch = sc[:0]
	g.partial = false
	a.resize(name, g)
	return g, nil
}

// resize recounts what g costs.
func (a *Arrangement) resize(name string, g *Group) {
	n := int64(groupBytes+len(name)) + int64(len(g.delta))*changeBytes + int64(g.deltaBytes)
	if !g.partial {
		n += int64(len(g.Keys))*entryBytes + int64(g.rowBytes)
	}
	a.memBytes += n - g.bytes
	g.bytes = n
}

// fill builds g from the base's entries sc: sorted by (order, key, row),
// equal entries summed, zero sums left out, the rows copied into one
// string.
func (a *Arrangement) fill(g *Group, sc []entry, rowBytes int) {
	buf := make([]byte, 0, rowBytes)
	for _, e := range sc {
		buf = append(buf, e.row...)
	}
	all := string(buf)
	off := 0
	for i := range sc {
		l := len(sc[i].row)
		sc[i].row = all[off : off+l]
		off += l
		if a.order != nil {
			sc[i].order = a.order(sc[i].row)
		}
	}
	slices.SortFunc(sc, func(x, y entry) int { return compareEntry(x.order, x.key, x.row, y.order, y.key, y.row) })
	n := len(sc)
	g.Order, g.Keys, g.Rows, g.Diffs = make([]int64, 0, n), make([]Key, 0, n), make([]string, 0, n), make([]int64, 0, n)
	for i := 0; i < n; {
		e := sc[i]
		sum := e.diff
		j := i + 1
		for ; j < n && sc[j].order == e.order && sc[j].key == e.key && sc[j].row == e.row; j++ {
			sum += sc[j].diff
		}
		if sum != 0 {
			g.Order = append(g.Order, e.order)
			g.Keys = append(g.Keys, e.key)
			g.Rows = append(g.Rows, e.row)
			g.Diffs = append(g.Diffs, sum)
			g.rowBytes += len(e.row)
		}
		i = j
	}
}

// Seal ends the current checkpoint epoch and returns it (from 1): the
// changes made so far are what the next checkpoint (a fold taken now)
// holds.
func (a *Arrangement) Seal() uint64 {
	e := a.epoch
	a.epoch++
	return e
}

// Rebase makes base the arrangement's base: a checkpoint that holds every
// change of the epochs up to and including sealed (0: of none; a merge of
// runs or a restart), and entries entries as its runs count them. Groups
// changed in those epochs become clean; later changes stay dirty.
func (a *Arrangement) Rebase(base Base, entries int64, sealed uint64) {
	a.base = base
	for name, g := range a.groups {
		if len(g.delta) > 0 && g.delta[0].epoch <= sealed {
			kept := g.delta[:0]
			for _, c := range g.delta {
				if c.epoch > sealed {
					kept = append(kept, c)
				} else {
					g.deltaBytes -= len(c.row)
				}
			}
			clear(g.delta[len(kept):])
			g.delta = kept
		}
		if g.dirty != 0 && g.dirty <= sealed {
			g.dirty, g.added = 0, 0
		}
		if g.partial && len(g.delta) == 0 {
			// The base holds every change it kept.
			delete(a.groups, name)
			a.memBytes -= g.bytes
			continue
		}
		a.resize(name, g)
	}
	if base != nil {
		a.entries = int(entries) + a.dirtyEntryChange()
	}
}

// dirtyEntryChange is what the dirty groups add to the base's count.
func (a *Arrangement) dirtyEntryChange() int {
	n := 0
	for _, g := range a.groups {
		if g.dirty != 0 {
			n += g.added
		}
	}
	return n
}

// Evict frees memory until the groups in memory hold at most target
// bytes, and returns the bytes freed: it drops clean groups (the base
// holds them), then, when the arrangement tracks changes (Track), the
// columns of changed groups, keeping only their changes; groups not
// asked for since the last Evict go first. Without a base and without
// Track it frees nothing.
func (a *Arrangement) Evict(target int64) int64 {
	before := a.memBytes
	for _, cold := range []bool{true, false} {
		if a.base != nil {
			for name, g := range a.groups {
				if a.memBytes <= target {
					break
				}
				if g.dirty == 0 && (!cold || g.used < a.tick) {
					delete(a.groups, name)
					a.memBytes -= g.bytes
				}
			}
		}
		if a.track {
			for name, g := range a.groups {
				if a.memBytes <= target {
					break
				}
				if !g.partial && len(g.delta) > 0 && (!cold || g.used < a.tick) {
					g.Order, g.Keys, g.Rows, g.Diffs, g.rowBytes = nil, nil, nil, nil, 0
					g.partial = true
					a.resize(name, g)
				}
			}
		}
	}
	a.tick++
	return before - a.memBytes
}

// Update adds diff copies of (key, row) under group and records the change
// for TakeDeltas.
func (a *Arrangement) Update(group string, key Key, row string, diff int64) {
	if diff == 0 {
		return
	}
	if err := a.apply(group, key, row, diff); err != nil {
		a.fail(err)
		return
	}
	a.pending.add(group, key, row, diff)
}

// UpdateBlind is Update for an operator that does not need the group now:
// when the group is not in memory (or only its changes are) and the
// arrangement tracks its changes over a base, the change is kept as the
// group's change without reading the group from the base; the next Get
// reads it with the change applied. A join adding a row under a key
// whose rows it does not look at is one such operator. Len counts such a
// change as an entry added (a positive diff) or removed.
func (a *Arrangement) UpdateBlind(group string, key Key, row string, diff int64) {
	if diff == 0 {
		return
	}
	g := a.groups[group]
	if a.base == nil || !a.track || (g != nil && !g.partial) {
		a.Update(group, key, row, diff)
		return
	}
	if g == nil {
		g = &Group{partial: true}
		a.groups[group] = g
	}
	g.dirty, g.used = a.epoch, a.tick
	g.delta = append(g.delta, change{epoch: a.epoch, key: key, row: row, diff: diff})
	g.deltaBytes += len(row)
	// Unread, the change counts as an entry added or removed by its sign.
	if diff > 0 {
		a.entries++
		g.added++
	} else {
		a.entries--
		g.added--
	}
	a.resize(group, g)
	a.pending.add(group, key, row, diff)
}

func (a *Arrangement) fail(err error) {
	if a.err == nil {
		a.err = err
	}
}

// HasDeltas tells whether changes wait for TakeDeltas.
func (a *Arrangement) HasDeltas() bool { return a.pending.Len() > 0 }

// TakeDeltas returns the changes recorded since the last call and resets
// the record. The caller owns the returned Deltas.
func (a *Arrangement) TakeDeltas() Deltas {
	d := a.pending
	a.pending = Deltas{}
	return d
}

// Apply replays logged changes into the arrangement without recording them.
// A stretch of changes to one group the arrangement does not hold yet
// becomes that group in one step when there is no base, its columns
// carved from one allocation per call. It returns the first base read
// error, which Err keeps too.
func (a *Arrangement) Apply(d Deltas) error {
	if a.err != nil {
		return a.err
	}
	var sl slab
	bulk := a.base == nil && !a.track
	if bulk && a.entries == 0 && len(d.Keys) > 1024 {
		// A first replay: size the map for its groups at once.
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
		if bulk && a.groups[d.Groups[i]] == nil && a.load(d, i, j, &sl) {
			i = j
			continue
		}
		if j-i >= manyChanges {
			if err := a.applyMany(d.Groups[i], d.Keys[i:j], d.Rows[i:j], d.Diffs[i:j]); err != nil {
				a.fail(err)
				return err
			}
			i = j
			continue
		}
		for ; i < j; i++ {
			if err := a.apply(d.Groups[i], d.Keys[i], d.Rows[i], d.Diffs[i]); err != nil {
				a.fail(err)
				return err
			}
		}
	}
	return nil
}

// manyChanges is the number of changes to one group from which they are
// merged into it in one pass (applyMany) rather than inserted one by one,
// each insertion moving the entries after it.
const manyChanges = 32

// UpdateMany is Update(group, keys[i], rows[i], diffs[i]) for every i, in
// one merge of the changes, sorted, with the group's entries: its cost is
// the group's size plus the changes', where single Updates in the middle
// of a large group cost the group's size each.
func (a *Arrangement) UpdateMany(group string, keys []Key, rows []string, diffs []int64) {
	if len(keys) < manyChanges {
		for i := range keys {
			a.Update(group, keys[i], rows[i], diffs[i])
		}
		return
	}
	if err := a.applyMany(group, keys, rows, diffs); err != nil {
		a.fail(err)
		return
	}
	for i := range keys {
		if diffs[i] != 0 {
			a.pending.add(group, keys[i], rows[i], diffs[i])
		}
	}
}

// applyMany is apply of every change to one group, as one merge.
func (a *Arrangement) applyMany(group string, keys []Key, rows []string, diffs []int64) error {
	g, err := a.group(group)
	if err != nil {
		return err
	}
	sc := make([]entry, 0, len(keys))
	for i := range keys {
		if diffs[i] == 0 {
			continue
		}
		var o int64
		if a.order != nil {
			o = a.order(rows[i])
		}
		sc = append(sc, entry{order: o, key: keys[i], row: rows[i], diff: diffs[i]})
		if a.track {
			g.delta = append(g.delta, change{epoch: a.epoch, key: keys[i], row: rows[i], diff: diffs[i]})
			g.deltaBytes += len(rows[i])
		}
	}
	slices.SortStableFunc(sc, func(x, y entry) int { return compareEntry(x.order, x.key, x.row, y.order, y.key, y.row) })
	g.dirty, g.used = a.epoch, a.tick
	n := len(g.Keys) + len(sc)
	order, ks, rs, ds := make([]int64, 0, n), make([]Key, 0, n), make([]string, 0, n), make([]int64, 0, n)
	put := func(o int64, k Key, r string, d int64) {
		if last := len(ks) - 1; last >= 0 && order[last] == o && ks[last] == k && rs[last] == r {
			ds[last] += d
			if ds[last] == 0 {
				order, ks, rs, ds = order[:last], ks[:last], rs[:last], ds[:last]
			}
			return
		}
		order, ks, rs, ds = append(order, o), append(ks, k), append(rs, r), append(ds, d)
	}
	i, j := 0, 0
	for i < len(g.Keys) || j < len(sc) {
		if j == len(sc) || i < len(g.Keys) && compareEntry(g.Order[i], g.Keys[i], g.Rows[i], sc[j].order, sc[j].key, sc[j].row) <= 0 {
			put(g.Order[i], g.Keys[i], g.Rows[i], g.Diffs[i])
			i++
		} else {
			put(sc[j].order, sc[j].key, sc[j].row, sc[j].diff)
			j++
		}
	}
	rowBytes := 0
	for _, r := range rs {
		rowBytes += len(r)
	}
	a.entries += len(ks) - len(g.Keys)
	g.added += len(ks) - len(g.Keys)
	g.Order, g.Keys, g.Rows, g.Diffs, g.rowBytes = order, ks, rs, ds, rowBytes
	if !a.forgetEmpty(group, g) {
		a.resize(group, g)
	}
	return nil
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
		a.loaded(d.Groups[i], g)
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
	a.loaded(d.Groups[i], g)
	return true
}

// loaded puts a group load built in memory, dirty.
func (a *Arrangement) loaded(name string, g *Group) {
	for _, r := range g.Rows {
		g.rowBytes += len(r)
	}
	g.added = len(g.Keys)
	g.dirty = a.epoch
	a.groups[name] = g
	a.entries += len(g.Keys)
	a.resize(name, g)
}

func (a *Arrangement) apply(group string, key Key, row string, diff int64) error {
	g, err := a.group(group)
	if err != nil {
		return err
	}
	var o int64
	if a.order != nil {
		o = a.order(row)
	}
	g.dirty, g.used = a.epoch, a.tick
	if a.track {
		g.delta = append(g.delta, change{epoch: a.epoch, key: key, row: row, diff: diff})
		g.deltaBytes += len(row)
	}
	i, found := g.search(o, key, row)
	switch {
	case !found:
		g.Order = slices.Insert(g.Order, i, o)
		g.Keys = slices.Insert(g.Keys, i, key)
		g.Rows = slices.Insert(g.Rows, i, row)
		g.Diffs = slices.Insert(g.Diffs, i, diff)
		a.entries++
		g.added++
		g.rowBytes += len(row)
	case g.Diffs[i]+diff != 0:
		g.Diffs[i] += diff
	default:
		g.Order = slices.Delete(g.Order, i, i+1)
		g.Keys = slices.Delete(g.Keys, i, i+1)
		g.Rows = slices.Delete(g.Rows, i, i+1)
		g.Diffs = slices.Delete(g.Diffs, i, i+1)
		a.entries--
		g.added--
		g.rowBytes -= len(row)
		if a.forgetEmpty(group, g) {
			return nil
		}
	}
	a.resize(group, g)
	return nil
}

// forgetEmpty drops group g when it is empty and nothing checkpoints the
// arrangement (an empty group need not be remembered), and reports
// whether it did.
func (a *Arrangement) forgetEmpty(name string, g *Group) bool {
	if len(g.Keys) > 0 || a.base != nil || a.track {
		return false
	}
	delete(a.groups, name)
	a.memBytes -= g.bytes
	return true
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

// Full returns the whole state, the base's groups and the groups in
// memory, as Snapshot does for an arrangement without a base. It reads
// the whole base: for tests and tools, not for the engine's work.
func (a *Arrangement) Full() (Deltas, error) {
	if a.base == nil {
		return a.Snapshot(), nil
	}
	for name, g := range a.groups {
		if g.partial {
			if _, err := a.group(name); err != nil {
				return Deltas{}, err
			}
		}
	}
	var d Deltas
	err := a.base.Scan(func(group string, key Key, row string, diff int64) {
		if _, mem := a.groups[group]; !mem {
			d.add(group, key, row, diff)
		}
	})
	if err != nil {
		return Deltas{}, fmt.Errorf("arrangement %s: %w", a.name, err)
	}
	d.Append(a.Snapshot())
	idx := make([]int, d.Len())
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(x, y int) int {
		if c := strings.Compare(d.Groups[x], d.Groups[y]); c != 0 {
			return c
		}
		return compareEntry(0, d.Keys[x], d.Rows[x], 0, d.Keys[y], d.Rows[y])
	})
	var out Deltas
	for i := 0; i < len(idx); {
		x := idx[i]
		sum := d.Diffs[x]
		j := i + 1
		for ; j < len(idx) && d.Groups[idx[j]] == d.Groups[x] && d.Keys[idx[j]] == d.Keys[x] && d.Rows[idx[j]] == d.Rows[x]; j++ {
			sum += d.Diffs[idx[j]]
		}
		if sum != 0 {
			out.add(d.Groups[x], d.Keys[x], d.Rows[x], sum)
		}
		i = j
	}
	return out, nil
}

// Snapshot returns the state in memory as consolidated Deltas sorted by
// group, key and row: without a base, the whole state, and two
// arrangements hold the same state exactly when their snapshots are
// equal. It is the form of a checkpoint run. The strings are shared with
// the arrangement.
func (a *Arrangement) Snapshot() Deltas {
	names := make([]string, 0, len(a.groups))
	for name, g := range a.groups {
		if g.partial && a.base == nil {
			g, _ = a.group(name) // without a base, no read can fail
		}
		if !g.partial && len(g.Keys) > 0 {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	// entries is a count, not a bound: changes made blind are not in it.
	hint := max(a.entries, 0)
	d := Deltas{
		Groups: make([]string, 0, hint),
		Keys:   make([]Key, 0, hint),
		Rows:   make([]string, 0, hint),
		Diffs:  make([]int64, 0, hint),
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
