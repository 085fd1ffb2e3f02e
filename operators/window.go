package operators

import (
	"fmt"
	"math"
	"slices"

	"github.com/pwlog/pwlog/differential"
)

// FixedWindow assigns every input row to the windows [s, s+duration)
// holding its time (an int column), with s = origin + k*hop for an
// integer k: a tumbling window when hop equals duration (one window a
// row), a sliding window otherwise (about duration/hop windows a row;
// none for a row between two windows when hop > duration). Its output is
// the input row plus the window's bounds (WindowStart, WindowEnd), once
// per window, keyed by a hash of the operator's name, the input key and
// the window's start. A row whose time is null belongs to no window.
//
// It keeps no state: a retraction retracts the rows its insertion made.
type FixedWindow struct {
	name     string
	kind     string
	in       differential.Schema
	out      differential.Schema
	timeCol  int
	instance []string
	duration int64
	hop      int64
	origin   int64
}

// NewTumblingWindow returns a tumbling window over the input schema in:
// each row goes to the window [start, start+duration) with start =
// origin + floor((t-origin)/duration)*duration. The instance columns are
// checked to exist (a Reduce after the window groups by them).
func NewTumblingWindow(name string, in differential.Schema, timeCol string, instance []string, duration, origin int64) (*FixedWindow, error) {
	return newFixedWindow(name, "tumbling_window", "tumbling window", in, timeCol, instance, duration, duration, origin)
}

// NewSlidingWindow returns a sliding window over the input schema in:
// each row goes to every window [s, s+duration) with s = origin + k*hop
// and s <= t < s+duration.
func NewSlidingWindow(name string, in differential.Schema, timeCol string, instance []string, duration, hop, origin int64) (*FixedWindow, error) {
	return newFixedWindow(name, "sliding_window", "sliding window", in, timeCol, instance, duration, hop, origin)
}

// maxWindowsPerRow bounds the windows a sliding window puts one row in:
// each is an output row, and its reduce's state.
const maxWindowsPerRow = 10_000

func newFixedWindow(name, kind, what string, in differential.Schema, timeCol string, instance []string, duration, hop, origin int64) (*FixedWindow, error) {
	op := &FixedWindow{name: name, kind: kind, in: in, instance: slices.Clone(instance), duration: duration, hop: hop, origin: origin}
	if duration <= 0 {
		return nil, fmt.Errorf("%s %q: duration must be positive, got %d", what, name, duration)
	}
	if hop <= 0 {
		return nil, fmt.Errorf("%s %q: hop must be positive, got %d", what, name, hop)
	}
	if duration/hop > maxWindowsPerRow {
		return nil, fmt.Errorf("%s %q: duration %d over hop %d puts each row in about %d windows, more than %d",
			what, name, duration, hop, duration/hop, maxWindowsPerRow)
	}
	op.timeCol = in.Index(timeCol)
	if op.timeCol < 0 {
		return nil, fmt.Errorf("%s %q: no time column %q in %v", what, name, timeCol, in.Names())
	}
	if in[op.timeCol].Type != differential.KindInt {
		return nil, fmt.Errorf("%s %q: time column %q is %s, want int", what, name, timeCol, in[op.timeCol].Type)
	}
	for _, c := range instance {
		i := in.Index(c)
		if i < 0 {
			return nil, fmt.Errorf("%s %q: no instance column %q in %v", what, name, c, in.Names())
		}
		if i == op.timeCol {
			return nil, fmt.Errorf("%s %q: the time column %q cannot be an instance column", what, name, c)
		}
	}
	for _, c := range []string{WindowStart, WindowEnd} {
		if in.Index(c) >= 0 {
			return nil, fmt.Errorf("%s %q: the input already has a column %q, which the window adds; Rename it", what, name, c)
		}
	}
	op.out = append(slices.Clone(in),
		differential.Column{Name: WindowStart, Type: differential.KindInt},
		differential.Column{Name: WindowEnd, Type: differential.KindInt})
	return op, nil
}

// Name implements Operator.
func (op *FixedWindow) Name() string { return op.name }

// Kind implements Operator: "tumbling_window" or "sliding_window".
func (op *FixedWindow) Kind() string { return op.kind }

// Schema implements Operator.
func (op *FixedWindow) Schema() differential.Schema { return op.out }

// Arrangements implements Operator: a window keeps no state.
func (op *FixedWindow) Arrangements() []*differential.Arrangement { return nil }

// Describe implements Operator.
func (op *FixedWindow) Describe() string {
	inst, tc := idents(op.instance), ident(op.in[op.timeCol].Name)
	if op.kind == "tumbling_window" {
		return fmt.Sprintf("tumbling_window(time=%s, instance=[%s], duration=%d, origin=%d)", tc, inst, op.duration, op.origin)
	}
	return fmt.Sprintf("sliding_window(time=%s, instance=[%s], duration=%d, hop=%d, origin=%d)", tc, inst, op.duration, op.hop, op.origin)
}

// floorMod returns a mod m in [0, m), for m > 0.
func floorMod(a, m int64) int64 {
	r := a % m
	if r < 0 {
		r += m
	}
	return r
}

// Windows returns the starts of the windows holding time t, ascending,
// appended to dst; an error when a window's bounds do not fit an int64.
func (op *FixedWindow) Windows(dst []int64, t int64) ([]int64, error) {
	// The last start at or before t, computed without overflow:
	// (t - origin) mod hop from the operands' residues.
	back := floorMod(floorMod(t, op.hop)-floorMod(op.origin, op.hop), op.hop)
	if t < math.MinInt64+back {
		return dst, fmt.Errorf("%s %q: the window of time %d starts before the smallest int", op.kind, op.name, t)
	}
	last := t - back
	first := len(dst)
	for s := last; ; s -= op.hop {
		if s > math.MaxInt64-op.duration {
			return dst, fmt.Errorf("%s %q: the window of time %d starting at %d ends after the largest int", op.kind, op.name, t, s)
		}
		if s+op.duration <= t {
			break
		}
		dst = append(dst, s)
		if s < math.MinInt64+op.hop {
			break
		}
	}
	slices.Reverse(dst[first:])
	return dst, nil
}

// Step implements Operator.
func (op *FixedWindow) Step(t differential.Time, in [][]differential.Update) ([]differential.Update, error) {
	var out []differential.Update
	var starts []int64
	for _, u := range in[0] {
		v := u.Row[op.timeCol]
		if v.IsNull() {
			continue
		}
		var err error
		if starts, err = op.Windows(starts[:0], v.AsInt()); err != nil {
			return nil, err
		}
		for _, s := range starts {
			row := make(differential.Row, len(op.out))
			copy(row, u.Row)
			row[len(op.in)] = differential.Int(s)
			row[len(op.in)+1] = differential.Int(s + op.duration)
			h := differential.NewHasher(op.name)
			h.Uint64(uint64(u.Key))
			h.Uint64(uint64(s))
			out = append(out, differential.Update{Key: h.Key(), Row: row, Time: t, Diff: u.Diff})
		}
	}
	return out, nil
}
