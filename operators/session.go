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
// State: one arrangement, instance -> the multiset of input rows without
// the instance columns (the group key holds them). Input keys are not
// kept: equal rows of an instance share an entry with their summed
// multiplicity, and an output row's key is a hash of its instance and
// input values, the same whatever session it is in. (A row key is 8
// incompressible bytes, more than the rest of a tutorial row's state.)
type SessionWindow struct {
	name     string
	in       differential.Schema
	out      differential.Schema
	timeCol  int
	instance []int
	maxGap   int64
	rest     []int // the input columns stored in the state: all but the instance's
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
		if i == op.timeCol {
			return nil, fmt.Errorf("session window %q: the time column %q cannot be an instance column", name, c)
		}
		op.instance = append(op.instance, i)
	}
	timePos := 0
	for i := range in {
		if !slices.Contains(op.instance, i) {
			if i == op.timeCol {
				timePos = len(op.rest)
			}
			op.rest = append(op.rest, i)
		}
	}
	op.out = append(slices.Clone(in),
		differential.Column{Name: WindowStart, Type: differential.KindInt},
		differential.Column{Name: WindowEnd, Type: differential.KindInt})
	col := timePos
	op.rows = differential.NewArrangement("by_instance", func(row string) int64 {
		v, err := columnValue([]byte(row), col)
		if err != nil {
			return 0
		}
		return v.AsInt()
	})
	op.rows.SetColumns(differential.Columns{Group: names(in, op.instance), Row: names(in, op.rest)})
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
	return fmt.Sprintf("session_window(time=%s, instance=[%s], max_gap=%d)", ident(op.in[op.timeCol].Name), idents(inst), op.maxGap)
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
func (op *SessionWindow) Step(t differential.Time, ins [][]differential.Update) ([]differential.Update, error) {
	order, by := groupUpdates(ins[0], op.instance)
	var out []differential.Update
	var enc []byte
	for _, inst := range order {
		g, err := op.rows.Get(inst)
		if err != nil {
			return nil, fmt.Errorf("session window %q: %w", op.name, err)
		}
		before := op.sessions(op.before[:0], g)
		for _, u := range by[inst] {
			enc = enc[:0]
			for _, c := range op.rest {
				enc = differential.AppendValue(enc, u.Row[c])
			}
			op.rows.Update(inst, 0, string(enc), u.Diff)
		}
		instVals, err := differential.DecodeRow(nil, []byte(inst))
		if err != nil {
			return nil, fmt.Errorf("session window %q: instance: %w", op.name, err)
		}
		if err := op.rows.Err(); err != nil {
			return nil, fmt.Errorf("session window %q: %w", op.name, err)
		}
		g, err = op.rows.Get(inst)
		if err != nil {
			return nil, fmt.Errorf("session window %q: %w", op.name, err)
		}
		after := op.sessions(op.after[:0], g)
		op.before, op.after = before, after
		// Both lists are sorted by (t, key, row): walk them together and
		// emit only the rows whose bounds or multiplicity changed.
		emit := func(m member, diff int64) error {
			var err error
			out, err = op.emit(out, t, inst, instVals, m, diff)
			return err
		}
		i, j := 0, 0
		for i < len(before) || j < len(after) {
			switch c := compareMembers(before, i, after, j); {
			case c < 0:
				err = emit(before[i], -before[i].diff)
				i++
			case c > 0:
				err = emit(after[j], after[j].diff)
				j++
			default:
				b, a := before[i], after[j]
				if b.start != a.start || b.end != a.end {
					if err = emit(b, -b.diff); err == nil {
						err = emit(a, a.diff)
					}
				} else if b.diff != a.diff {
					err = emit(a, a.diff-b.diff)
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

// emit appends an output update for member m of the instance instKey
// (decoded: inst): the input row, rebuilt from the instance and the stored
// columns, then the session's bounds.
func (op *SessionWindow) emit(out []differential.Update, t differential.Time, instKey string, inst differential.Row, m member, diff int64) ([]differential.Update, error) {
	stored, err := differential.DecodeRow(make(differential.Row, 0, len(op.rest)), []byte(m.row))
	if err != nil || len(stored) != len(op.rest) {
		return out, fmt.Errorf("session window %q: a state row does not hold %d values: %v", op.name, len(op.rest), err)
	}
	row := make(differential.Row, len(op.out))
	for i, c := range op.instance {
		row[c] = inst[i]
	}
	for i, c := range op.rest {
		row[c] = stored[i]
	}
	row[len(op.in)] = differential.Int(m.start)
	row[len(op.in)+1] = differential.Int(m.end)
	h := differential.NewHasher(op.name)
	h.String(instKey)
	h.String(m.row)
	return append(out, differential.Update{Key: h.Key(), Row: row, Time: t, Diff: diff}), nil
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
