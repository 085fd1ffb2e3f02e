package fuzz

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
)

// The join family: inner, left, right and outer joins on one or two
// pairs of columns of equal kinds.

type joinOp struct {
	kind  pwlog.JoinKind
	on    [][2]int // left column, right column
	right []int    // the right columns in the output (a right column paired with a same-named left one is left out)
	// shared maps a left column to the right column paired with it under
	// the same name: the output's one column for both.
	shared map[int]int
	nl     int
	arr    bool // the output's arrival is known: the larger of its rows'
}

func genJoin(g *gen, name string, ins []*tinfo) (op, *tinfo) {
	l, r := ins[0], ins[1]
	var pairs [][2]int
	for i, lc := range l.cols {
		for j, rc := range r.cols {
			if lc.kind == rc.kind {
				pairs = append(pairs, [2]int{i, j})
			}
		}
	}
	if len(pairs) == 0 {
		return nil, nil
	}
	o := &joinOp{shared: map[int]int{}, nl: len(l.cols),
		kind: rapid.SampledFrom([]pwlog.JoinKind{pwlog.JoinInner, pwlog.JoinLeft, pwlog.JoinRight, pwlog.JoinOuter}).Draw(g.t, "joinKind")}
	for range rapid.IntRange(1, 2).Draw(g.t, "joinOn") {
		p := rapid.SampledFrom(pairs).Draw(g.t, "on")
		if !slices.Contains(o.on, p) {
			o.on = append(o.on, p)
		}
	}
	for _, p := range o.on {
		if l.cols[p[0]].name == r.cols[p[1]].name {
			if _, ok := o.shared[p[0]]; ok {
				return nil, nil
			}
			o.shared[p[0]] = p[1]
		}
	}
	info := &tinfo{}
	keepL, keepR := o.kind == pwlog.JoinLeft || o.kind == pwlog.JoinOuter, o.kind == pwlog.JoinRight || o.kind == pwlog.JoinOuter
	for i, c := range l.cols {
		c.null = c.null || keepR
		if j, ok := o.shared[i]; ok {
			c.null = l.cols[i].null || r.cols[j].null
		}
		info.cols = append(info.cols, c)
	}
	for j, c := range r.cols {
		if slices.ContainsFunc(o.on, func(p [2]int) bool { return p[1] == j && o.shared[p[0]] == j && l.cols[p[0]].name == c.name }) {
			continue
		}
		if slices.ContainsFunc(l.cols, func(lc colInfo) bool { return lc.name == c.name }) {
			return nil, nil // a name in both: pwlog wants a Rename
		}
		c.null = c.null || keepL
		info.cols = append(info.cols, c)
		o.right = append(o.right, j)
	}
	if o.kind == pwlog.JoinInner && l.arrival && r.arrival {
		o.arr = true
		info.arrival = true
		info.appendOnly = l.appendOnly && r.appendOnly
	}
	return o, info
}

func (o *joinOp) build(p *pwlog.Pipeline, name string, ins []*pwlog.Table) *pwlog.Table {
	var on []pwlog.JoinOn
	ls, rs := ins[0].Schema(), ins[1].Schema()
	for _, pr := range o.on {
		on = append(on, pwlog.On(ls[pr[0]].Name, rs[pr[1]].Name))
	}
	return ins[0].Join(name, ins[1], o.kind, on...)
}

// matches reports whether rows l and r have equal, non-null values in
// every pair of join columns.
func (o *joinOp) matches(l, r differential.Row) bool {
	for _, p := range o.on {
		if l[p[0]].IsNull() || r[p[1]].IsNull() || !joinEqual(l[p[0]], r[p[1]]) {
			return false
		}
	}
	return true
}

// joinEqual is the equality a join matches by: numbers by value for
// floats (-0 meets 0), every NaN meeting every NaN; anything else as it
// is.
func joinEqual(a, b differential.Value) bool {
	if a.Kind == differential.KindFloat && b.Kind == differential.KindFloat {
		x, y := a.AsFloat(), b.AsFloat()
		return x == y || math.IsNaN(x) && math.IsNaN(y)
	}
	return a == b
}

// row makes an output row of a left row and a right row, either nil for
// a missing side.
func (o *joinOp) row(l, r differential.Row) differential.Row {
	out := make(differential.Row, 0, o.nl+len(o.right))
	for i := range o.nl {
		switch j, shared := o.shared[i]; {
		case l != nil && (!shared || r == nil || o.kind != pwlog.JoinRight && !l[i].IsNull()):
			out = append(out, l[i])
		case shared && r != nil:
			out = append(out, r[j])
		default:
			out = append(out, differential.Null())
		}
	}
	for _, j := range o.right {
		if r != nil {
			out = append(out, r[j])
		} else {
			out = append(out, differential.Null())
		}
	}
	return out
}

func (o *joinOp) model(ins [][]mrow) []mrow {
	var out []mrow
	matchedR := make([]bool, len(ins[1]))
	for _, l := range ins[0] {
		matched := false
		for j, r := range ins[1] {
			if o.matches(l.vals, r.vals) {
				matched, matchedR[j] = true, true
				arr := -1
				if o.arr {
					arr = max(l.arr, r.arr)
				}
				out = append(out, mrow{vals: o.row(l.vals, r.vals), arr: arr})
			}
		}
		if !matched && (o.kind == pwlog.JoinLeft || o.kind == pwlog.JoinOuter) {
			out = append(out, mrow{vals: o.row(l.vals, nil), arr: -1})
		}
	}
	if o.kind == pwlog.JoinRight || o.kind == pwlog.JoinOuter {
		for j, r := range ins[1] {
			if !matchedR[j] {
				out = append(out, mrow{vals: o.row(nil, r.vals), arr: -1})
			}
		}
	}
	return out
}

func (o *joinOp) String() string {
	var on []string
	for _, p := range o.on {
		on = append(on, fmt.Sprintf("%d=%d", p[0], p[1]))
	}
	return fmt.Sprintf("join(%s, on=[%s])", o.kind, strings.Join(on, ","))
}
