package fuzz

import (
	"fmt"
	"slices"
	"strings"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
)

// The window families: WindowBy(...).Reduce, grouped by the instance
// columns and the window's bounds.

var (
	windowStart = colInfo{name: "_pw_window_start", kind: differential.KindInt, exact: true}
	windowEnd   = colInfo{name: "_pw_window_end", kind: differential.KindInt, exact: true}
)

// window is a group of rows of one instance in one window.
type window struct {
	start, end int64
	rows       []mrow
}

// windowOp is a window (assign) and the reduce of its windows.
type windowOp struct {
	what string // for String
	w    pwlog.Window
	time int // the time column
	inst []colExpr
	outs []output
	// The window's parameters: a session's gap, a fixed window's
	// duration, hop (the duration for a tumbling one) and origin.
	session               bool
	gap, dur, hop, origin int64
	assign                func(rows []mrow) []window // the rows of one instance into windows
}

// genWindowReduce draws the instance columns (not the time column) and
// the reduce outputs of a window over in.
func genWindowReduce(g *gen, name string, in *tinfo, time int) ([]colExpr, []output, *tinfo) {
	var cand []int
	for i := range in.cols {
		if i != time {
			cand = append(cand, i)
		}
	}
	var inst []colExpr
	if len(cand) > 0 && rapid.Bool().Draw(g.t, "instance") {
		i := rapid.SampledFrom(cand).Draw(g.t, "instanceCol")
		inst = append(inst, colExpr{c: in.cols[i], idx: i})
	}
	group := append(slices.Clone(inst), colExpr{c: windowStart}, colExpr{c: windowEnd})
	outs, info := reduceOutputs(g, name, in, group)
	return inst, outs, info
}

func (o *windowOp) arrivalOrder() bool { return readsArrival(o.outs) }

func (o *windowOp) instNames() []string {
	var out []string
	for _, c := range o.inst {
		out = append(out, c.c.name)
	}
	return out
}

func (o *windowOp) build(p *pwlog.Pipeline, name string, ins []*pwlog.Table) *pwlog.Table {
	return ins[0].WindowBy(name+"_w", o.w).Reduce(name, pwOuts(o.outs)...)
}

func (o *windowOp) model(ins [][]mrow) []mrow {
	var cols []int
	for _, c := range o.inst {
		cols = append(cols, c.idx)
	}
	var out []mrow
	for _, rows := range groupBy(ins[0], cols) {
		for _, w := range o.assign(rows) {
			out = append(out, reduceGroup(o.outs, w.rows, map[string]differential.Value{
				windowStart.name: differential.Int(w.start),
				windowEnd.name:   differential.Int(w.end),
			}))
		}
	}
	return out
}

func (o *windowOp) String() string {
	return fmt.Sprintf("%s(instance=[%s]).reduce(%s)", o.what, strings.Join(o.instNames(), ","), outsString(o.outs))
}

// genSession draws a session window: rows of an instance whose times are
// closer than MaxGap are one session, from its first time to its last.
func genSession(g *gen, name string, ins []*tinfo) (op, *tinfo) {
	in := ins[0]
	times := in.pick(func(c colInfo) bool { return c.kind == differential.KindInt && !c.null })
	if len(times) == 0 {
		return nil, nil
	}
	time := rapid.SampledFrom(times).Draw(g.t, "time")
	gap := rapid.Int64Range(1, 6).Draw(g.t, "maxGap")
	// A session window inserts its rows again whenever their session's
	// bounds change: their arrival in the reduce is then that time, not
	// the source's, so arrival-order reducers are left out.
	noArrival := *in
	noArrival.arrival = false
	inst, outs, info := genWindowReduce(g, name, &noArrival, time)
	o := &windowOp{time: time, inst: inst, outs: outs, session: true}
	o.setSession(in, gap)
	return o, info
}

// setSession makes o a session window over in with gap gap.
func (o *windowOp) setSession(in *tinfo, gap int64) {
	time := o.time
	o.gap = gap
	o.w = pwlog.Session{Time: in.cols[time].name, Instance: o.instNames(), MaxGap: gap}
	o.what = fmt.Sprintf("session(time=%s, max_gap=%d)", in.cols[time].name, gap)
	o.assign = func(rows []mrow) []window {
		rows = slices.Clone(rows)
		slices.SortStableFunc(rows, func(a, b mrow) int {
			return differential.Compare(a.vals[time], b.vals[time])
		})
		var out []window
		for i, r := range rows {
			t := r.vals[time].AsInt()
			if i == 0 || t-out[len(out)-1].end >= gap {
				out = append(out, window{start: t, end: t})
			}
			w := &out[len(out)-1]
			w.end = t
			w.rows = append(w.rows, r)
		}
		return out
	}
}

// genFixed draws the time column (an int, nulls dropping the row) and
// the instance and outputs of a tumbling or sliding window.
func genFixed(g *gen, name string, in *tinfo, duration, hop int64, what string) (op, *tinfo) {
	times := in.pick(func(c colInfo) bool { return c.kind == differential.KindInt })
	if len(times) == 0 {
		return nil, nil
	}
	time := rapid.SampledFrom(times).Draw(g.t, "time")
	origin := rapid.Int64Range(-3, 3).Draw(g.t, "origin")
	inst, outs, info := genWindowReduce(g, name, in, time)
	o := &windowOp{time: time, inst: inst, outs: outs}
	o.setFixed(in, duration, hop, origin)
	return o, info
}

// setFixed makes o a tumbling (hop == duration) or sliding window over
// in.
func (o *windowOp) setFixed(in *tinfo, duration, hop, origin int64) {
	time := o.time
	o.dur, o.hop, o.origin = duration, hop, origin
	tc := in.cols[time].name
	if hop == duration {
		o.w = pwlog.Tumbling{Time: tc, Duration: duration, Origin: origin, Instance: o.instNames()}
		o.what = fmt.Sprintf("tumbling(time=%s, duration=%d, origin=%d)", tc, duration, origin)
	} else {
		o.w = pwlog.Sliding{Time: tc, Duration: duration, Hop: hop, Origin: origin, Instance: o.instNames()}
		o.what = fmt.Sprintf("sliding(time=%s, duration=%d, hop=%d, origin=%d)", tc, duration, hop, origin)
	}
	o.assign = func(rows []mrow) []window {
		var out []window
		at := map[int64]int{}
		for _, r := range rows {
			v := r.vals[time]
			if v.IsNull() {
				continue
			}
			t := v.AsInt()
			// Every start s = origin + k*hop with s <= t < s+duration.
			k := (t - origin) / hop
			if (t-origin)%hop < 0 {
				k--
			}
			for s := origin + k*hop; s > t-duration; s -= hop {
				i, ok := at[s]
				if !ok {
					i = len(out)
					at[s] = i
					out = append(out, window{start: s, end: s + duration})
				}
				out[i].rows = append(out[i].rows, r)
			}
		}
		return out
	}
}

// genTumbling draws a tumbling window: start = origin +
// floor((t-origin)/duration)*duration.
func genTumbling(g *gen, name string, ins []*tinfo) (op, *tinfo) {
	d := rapid.Int64Range(1, 6).Draw(g.t, "duration")
	return genFixed(g, name, ins[0], d, d, "tumbling")
}

// genSliding draws a sliding window: every window [s, s+duration) with
// s = origin + k*hop holding t (none when hop > duration and t falls
// between two).
func genSliding(g *gen, name string, ins []*tinfo) (op, *tinfo) {
	d := rapid.Int64Range(1, 6).Draw(g.t, "duration")
	hop := rapid.Int64Range(1, 7).Draw(g.t, "hop")
	if hop == d {
		hop++
	}
	return genFixed(g, name, ins[0], d, hop, "sliding")
}
