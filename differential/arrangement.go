package differential

import (
	"slices"
	"strings"
)

// Group is the part of an arrangement under one group key: parallel
// columns of row keys, encoded rows and multiplicities. Callers must not
// modify it; it is valid until the next Update of the arrangement.
type Group struct {
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
	groups  map[string]*Group
	entries int
	pending Deltas
}

// NewArrangement returns an empty arrangement with a name unique within its
// operator.
func NewArrangement(name string) *Arrangement {
	return &Arrangement{name: name, groups: make(map[string]*Group)}
}

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
func (a *Arrangement) Apply(d Deltas) {
	for i := range d.Keys {
		a.apply(d.Groups[i], d.Keys[i], d.Rows[i], d.Diffs[i])
	}
}

func (a *Arrangement) apply(group string, key Key, row string, diff int64) {
	g := a.groups[group]
	if g == nil {
		g = &Group{}
		a.groups[group] = g
	}
	for i, k := range g.Keys {
		if k == key && g.Rows[i] == row {
			g.Diffs[i] += diff
			if g.Diffs[i] == 0 {
				last := len(g.Keys) - 1
				g.Keys[i], g.Rows[i], g.Diffs[i] = g.Keys[last], g.Rows[last], g.Diffs[last]
				g.Keys, g.Rows, g.Diffs = g.Keys[:last], g.Rows[:last], g.Diffs[:last]
				a.entries--
				if last == 0 {
					delete(a.groups, group)
				}
			}
			return
		}
	}
	g.Keys = append(g.Keys, key)
	g.Rows = append(g.Rows, row)
	g.Diffs = append(g.Diffs, diff)
	a.entries++
}

// Snapshot returns the whole state as consolidated Deltas sorted by group,
// key and row: two arrangements hold the same state exactly when their
// snapshots are equal.
func (a *Arrangement) Snapshot() Deltas {
	type entry struct {
		group string
		key   Key
		row   string
		diff  int64
	}
	all := make([]entry, 0, a.entries)
	for name, g := range a.groups {
		for i := range g.Keys {
			all = append(all, entry{name, g.Keys[i], g.Rows[i], g.Diffs[i]})
		}
	}
	slices.SortFunc(all, func(x, y entry) int {
		if c := strings.Compare(x.group, y.group); c != 0 {
			return c
		}
		if x.key != y.key {
			if x.key < y.key {
				return -1
			}
			return 1
		}
		return strings.Compare(x.row, y.row)
	})
	var d Deltas
	for _, e := range all {
		d.add(e.group, e.key, e.row, e.diff)
	}
	return d
}
