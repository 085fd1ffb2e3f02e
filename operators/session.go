package operators

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pwlog/pwlog/differential"
)

// Names of the columns a session window adds to its input's.
const (
	WindowStart = "_pw_window_start"
	WindowEnd   = "_pw_window_end"
)

// SessionWindow assigns every input row to a session of its instance:
// rows of one instance whose times (an int column) are closer than MaxGap
// form one session. Its output is the input row plus the session's first
// and last time (WindowStart, WindowEnd), keyed by the input row's key.
//
// A new row that extends or merges sessions retracts the rows of the old
// sessions and inserts them with their new bounds.
//
// State: one arrangement, instance -> input rows.
type SessionWindow struct {
	name     string
	in       differential.Schema
	out      differential.Schema
	timeCol  int
	instance []int
	maxGap   int64
	rows     *differential.Arrangement

	before, after []member // scratch of Step
}

// NewSessionWindow returns a session window over the input schema in,
// with time column timeCol (an int), instance columns and the max gap.
func NewSessionWindow(name string, in differential.Schema, timeCol string, instance []string, maxGap int64) (*SessionWindow, error) {
	op := &SessionWindow{name: name, in: in, maxGap: maxGap}
	if maxGap <= 0 {
		return nil, fmt.Errorf("session window %q: max gap must be positive, got %d", name, maxGap)
	}
	op.timeCol = in.Index(timeCol)
	if op.timeCol < 0 {
		return nil, fmt.Errorf("session window %q: no column %q in %v", name, timeCol, in.Names())
	}
	if in[op.timeCol].Type != differential.KindInt {
		return nil, fmt.Errorf("session window %q: time column %q is %s, want int", name, timeCol, in[op.timeCol].Type)
	}
	for _, c := range instance {
		i := in.Index(c)
		if i < 0 {
			return nil, fmt.Errorf("session window %q: no instance column %q in %v", name, c, in.Names())
		}
		op.instance = append(op.instance, i)
	}
	op.out = append(slices.Clone(in),
		differential.Column{Name: WindowStart, Type: differential.KindInt},
		differential.Column{Name: WindowEnd, Type: differential.KindInt})
	col := op.timeCol
	op.rows = differential.NewArrangement("by_instance", func(row string) int64 {
		v, err := columnValue([]byte(row), col)
		if err != nil {
			return 0
		}
		return v.AsInt()
	})
	return op, nil
}

// Name implements Operator.
func (op *SessionWindow) Name() string { return op.name }

// Kind implements Operator.
func (op *SessionWindow) Kind() string { return "session_window" }

// Schema implements Operator.
func (op *SessionWindow) Schema() differential.Schema { return op.out }

// Arrangements implements Operator.
func (op *SessionWindow) Arrangements() []*differential.Arrangement {
	return []*differential.Arrangement{op.rows}
}

// Describe implements Operator.
func (op *SessionWindow) Describe() string {
	var inst []string
	for _, i := range op.instance {
		inst = append(inst, op.in[i].Name)
	}
	return fmt.Sprintf("session_window(time=%s, instance=[%s], max_gap=%d)", op.in[op.timeCol].Name, strings.Join(inst, ","), op.maxGap)
}

// member is one row of an instance with its session bounds.
type member struct {
	key        differential.Key
	row        string
	diff       int64
	t          int64
	start, end int64
}

// Step implements Operator.
func (op *SessionWindow) Step(t differential.Time, in []differential.Update) ([]differential.Update, error) {
	order, by := groupUpdates(in, op.instance)
	var out []differential.Update
	var enc []byte
	for _, inst := range order {
		before := op.sessions(op.before[:0], op.rows.Get(inst))
		for _, u := range by[inst] {
			enc = differential.AppendRow(enc[:0], u.Row)
			op.rows.Update(inst, u.Key, string(enc), u.Diff)
		}
		after := op.sessions(op.after[:0], op.rows.Get(inst))
		op.before, op.after = before, after
		// Both lists are sorted by (t, key, row): walk them together and
		// emit only the rows whose bounds or multiplicity changed.
		var err error
		i, j := 0, 0
		for i < len(before) || j < len(after) {
			switch c := compareMembers(before, i, after, j); {
			case c < 0:
				out, err = op.emit(out, t, before[i], -before[i].diff)
				i++
			case c > 0:
				out, err = op.emit(out, t, after[j], after[j].diff)
				j++
			default:
				b, a := before[i], after[j]
				if b.start != a.start || b.end != a.end {
					if out, err = op.emit(out, t, b, -b.diff); err == nil {
						out, err = op.emit(out, t, a, a.diff)
					}
				} else if b.diff != a.diff {
					out, err = op.emit(out, t, a, a.diff-b.diff)
				}
				i++
				j++
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func compareMembers(x []member, i int, y []member, j int) int {
	switch {
	case i >= len(x):
		return 1
	case j >= len(y):
		return -1
	}
	return compareMember(x[i], y[j])
}

func compareMember(a, b member) int {
	switch {
	case a.t != b.t:
		if a.t < b.t {
			return -1
		}
		return 1
	case a.key != b.key:
		if a.key < b.key {
			return -1
		}
		return 1
	}
	return strings.Compare(a.row, b.row)
}

func (op *SessionWindow) emit(out []differential.Update, t differential.Time, m member, diff int64) ([]differential.Update, error) {
	row, err := differential.DecodeRow(make(differential.Row, 0, len(op.out)), []byte(m.row))
	if err != nil {
		return out, fmt.Errorf("session window %q: %w", op.name, err)
	}
	row = append(row, differential.Int(m.start), differential.Int(m.end))
	return append(out, differential.Update{Key: m.key, Row: row, Time: t, Diff: diff}), nil
}

// sessions appends the members of a group, which the arrangement keeps
// sorted by time, with their session bounds to dst.
func (op *SessionWindow) sessions(dst []member, g *differential.Group) []member {
	if g == nil {
		return dst
	}
	for i := range g.Keys {
		dst = append(dst, member{key: g.Keys[i], row: g.Rows[i], diff: g.Diffs[i], t: g.Order[i]})
	}
	for lo := 0; lo < len(dst); {
		hi := lo + 1
		for hi < len(dst) && dst[hi].t-dst[hi-1].t < op.maxGap {
			hi++
		}
		for k := lo; k < hi; k++ {
			dst[k].start, dst[k].end = dst[lo].t, dst[hi-1].t
		}
		lo = hi
	}
	return dst
}

// columnValue decodes the value at column col of an encoded row.
func columnValue(b []byte, col int) (differential.Value, error) {
	for i := 0; ; i++ {
		v, n, err := differential.DecodeValue(b)
		if err != nil {
			return v, err
		}
		if i == col {
			return v, nil
		}
		b = b[n:]
	}
}
