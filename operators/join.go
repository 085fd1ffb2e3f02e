package operators

import (
	"fmt"
	"math"
	"strings"

	"github.com/pwlog/pwlog/differential"
)

// JoinKind says which unmatched rows a join keeps.
type JoinKind uint8

// The join kinds.
const (
	// JoinInner keeps only matched pairs.
	JoinInner JoinKind = iota
	// JoinLeft keeps matched pairs and every left row without a match,
	// padded with nulls.
	JoinLeft
	// JoinRight keeps matched pairs and every right row without a match,
	// padded with nulls.
	JoinRight
	// JoinOuter keeps matched pairs and the unmatched rows of both sides.
	JoinOuter
)

// String names the kind: "inner", "left", "right", "outer".
func (k JoinKind) String() string {
	switch k {
	case JoinInner:
		return "inner"
	case JoinLeft:
		return "left"
	case JoinRight:
		return "right"
	case JoinOuter:
		return "outer"
	}
	return fmt.Sprintf("join_kind(%d)", uint8(k))
}

// keepsLeft reports whether unmatched left rows are kept.
func (k JoinKind) keepsLeft() bool { return k == JoinLeft || k == JoinOuter }

// keepsRight reports whether unmatched right rows are kept.
func (k JoinKind) keepsRight() bool { return k == JoinRight || k == JoinOuter }

// JoinOn pairs a column of a join's left input with one of its right
// input: joined rows have equal, non-null values in them.
type JoinOn struct {
	Left, Right string
}

// Join joins two inputs on the equality of one or more pairs of columns.
//
// Its output row is the left row's columns, in order, then the right
// row's, except that a right column paired with a left column of the
// same name is left out: that one column holds the left value in inner
// and left joins, the right value in right joins, and the non-null one
// in outer joins. A null in a join column never matches: such a row is
// unmatched. The multiplicity of a joined row is the product of its
// two rows'; its key is a hash of the operator's name and the two input
// keys, a fixed marker standing for the missing side of a padded row.
//
// State: two arrangements, "left" and "right": join key -> the input
// rows with that key, whole, with their input keys. Rows with a null in
// a join column are not kept: they never match, and their padded
// output, when the kind keeps them, depends on nothing else.
//
// A time costs the matches of the keys it touches: for each key, the
// changed left rows meet the right rows as they were, and the left rows
// as they are now meet the changed right rows. Padded rows change only
// when a key's other side becomes empty or non-empty.
type Join struct {
	name        string
	kind        JoinKind
	on          []JoinOn
	left, right differential.Schema
	lcols       []int // join columns in the left input, in the order of on
	rcols       []int // join columns in the right input
	out         differential.Schema
	// rightOut lists, for every right column, its output position, or
	// -1 when it is merged into a left column of the same name.
	rightOut []int
	// merged lists the (left position, right position) pairs merged into
	// the left column's output position.
	merged   [][2]int
	lrows    *differential.Arrangement
	rrows    *differential.Arrangement
	scratchL []joinRow
	scratchR []joinRow
}

// joinRow is a decoded row of a side with its key and multiplicity.
type joinRow struct {
	key  differential.Key
	row  differential.Row
	diff int64
}

// NewJoin returns a join of inputs with schemas left and right, on the
// given column pairs.
func NewJoin(name string, left, right differential.Schema, kind JoinKind, on []JoinOn) (*Join, error) {
	op := &Join{name: name, kind: kind, on: append([]JoinOn(nil), on...), left: left, right: right}
	if kind > JoinOuter {
		return nil, fmt.Errorf("join %q: unknown join kind %d", name, uint8(kind))
	}
	if len(on) == 0 {
		return nil, fmt.Errorf("join %q: no join columns: give at least one On(left, right)", name)
	}
	mergedRight := make(map[int]int) // right position -> left position of the same name
	for _, p := range on {
		l := left.Index(p.Left)
		if l < 0 {
			return nil, fmt.Errorf("join %q: no column %q in the left input %v", name, p.Left, left.Names())
		}
		r := right.Index(p.Right)
		if r < 0 {
			return nil, fmt.Errorf("join %q: no column %q in the right input %v", name, p.Right, right.Names())
		}
		if left[l].Type != right[r].Type {
			return nil, fmt.Errorf("join %q: join columns %q (left, %s) and %q (right, %s) have different types",
				name, p.Left, left[l].Type, p.Right, right[r].Type)
		}
		op.lcols = append(op.lcols, l)
		op.rcols = append(op.rcols, r)
		if p.Left == p.Right {
			mergedRight[r] = l
		}
	}
	op.out = append(differential.Schema(nil), left...)
	op.rightOut = make([]int, len(right))
	for r, c := range right {
		if l, ok := mergedRight[r]; ok {
			op.rightOut[r] = -1
			op.merged = append(op.merged, [2]int{l, r})
			continue
		}
		if left.Index(c.Name) >= 0 {
			return nil, fmt.Errorf("join %q: column %q is in both inputs and not joined on with itself; Rename it in one of them", name, c.Name)
		}
		op.rightOut[r] = len(op.out)
		op.out = append(op.out, c)
	}
	op.lrows = differential.NewArrangement("left", nil)
	op.lrows.SetColumns(differential.Columns{Group: names(left, op.lcols), Row: left.Names()})
	op.rrows = differential.NewArrangement("right", nil)
	op.rrows.SetColumns(differential.Columns{Group: names(right, op.rcols), Row: right.Names()})
	return op, nil
}

// Name implements Operator.
func (op *Join) Name() string { return op.name }

// Kind implements Operator.
func (op *Join) Kind() string { return "join" }

// Schema implements Operator.
func (op *Join) Schema() differential.Schema { return op.out }

// Arrangements implements Operator.
func (op *Join) Arrangements() []*differential.Arrangement {
	return []*differential.Arrangement{op.lrows, op.rrows}
}

// Describe implements Operator.
func (op *Join) Describe() string {
	pairs := make([]string, len(op.on))
	for i, p := range op.on {
		pairs[i] = ident(p.Left) + "=" + ident(p.Right)
	}
	return fmt.Sprintf("join(kind=%s, on=[%s])", op.kind, strings.Join(pairs, ","))
}

// joinKey appends the encoding of the join columns cols of row to dst;
// ok is false when one of them is null. Float -0 is encoded as 0 and
// every NaN as one NaN, so that equal numbers meet.
func joinKey(dst []byte, row differential.Row, cols []int) (_ []byte, ok bool) {
	for _, c := range cols {
		v := row[c]
		switch v.Kind {
		case differential.KindNull:
			return dst, false
		case differential.KindFloat:
			f := v.AsFloat()
			switch {
			case f == 0:
				v = differential.Float(0)
			case math.IsNaN(f):
				v = differential.Float(math.NaN())
			}
		}
		dst = differential.AppendValue(dst, v)
	}
	return dst, true
}

// Step implements Operator: in[0] holds the left input's changes, in[1]
// the right's.
func (op *Join) Step(t differential.Time, in [][]differential.Update) ([]differential.Update, error) {
	if len(in) != 2 {
		return nil, fmt.Errorf("join %q: %d inputs, want 2", op.name, len(in))
	}
	var out []differential.Update
	var order []string
	byL := make(map[string][]differential.Update)
	byR := make(map[string][]differential.Update)
	var buf []byte
	for _, u := range in[0] {
		var ok bool
		if buf, ok = joinKey(buf[:0], u.Row, op.lcols); !ok {
			if op.kind.keepsLeft() {
				out = append(out, op.padLeft(t, u.Key, u.Row, u.Diff))
			}
			continue
		}
		k := string(buf)
		if _, seen := byL[k]; !seen {
			order = append(order, k)
		}
		byL[k] = append(byL[k], u)
	}
	for _, u := range in[1] {
		var ok bool
		if buf, ok = joinKey(buf[:0], u.Row, op.rcols); !ok {
			if op.kind.keepsRight() {
				out = append(out, op.padRight(t, u.Key, u.Row, u.Diff))
			}
			continue
		}
		k := string(buf)
		_, inL := byL[k]
		if _, seen := byR[k]; !seen && !inL {
			order = append(order, k)
		}
		byR[k] = append(byR[k], u)
	}
	for _, k := range order {
		var err error
		if out, err = op.stepKey(t, k, byL[k], byR[k], out); err != nil {
			return nil, err
		}
	}
	// Keep the scratch's room, not the rows of the last keys.
	clear(op.scratchL)
	clear(op.scratchR)
	return out, nil
}

// stepKey applies the changes dl and dr of one join key k and appends
// the output changes to out.
func (op *Join) stepKey(t differential.Time, k string, dl, dr []differential.Update, out []differential.Update) ([]differential.Update, error) {
	// The changed left rows meet the right rows as they were. A side is
	// read only when the time needs it: the other side's changes meet it,
	// or its emptiness decides padded rows. A side changed but not read
	// takes its changes blind (Arrangement.UpdateBlind): an inner join
	// adding orders under a customer never reads that customer's other
	// orders from the checkpoint.
	var rOld []joinRow
	var err error
	if len(dl) > 0 || op.kind.keepsLeft() {
		if rOld, err = op.side(op.rrows, k, op.scratchR[:0]); err != nil {
			return nil, err
		}
		op.scratchR = rOld
	}
	for _, l := range dl {
		for _, r := range rOld {
			out = append(out, op.match(t, l.Key, l.Row, r.key, r.row, l.Diff*r.diff))
		}
	}
	rWasEmpty := len(rOld) == 0
	lWasEmpty := false
	if op.kind.keepsRight() {
		if lWasEmpty, err = op.empty(op.lrows, k); err != nil {
			return nil, err
		}
	}

	var enc []byte
	for _, u := range dl {
		enc = differential.AppendRow(enc[:0], u.Row)
		if op.kind.keepsRight() {
			op.lrows.Update(k, u.Key, string(enc), u.Diff)
		} else {
			op.lrows.UpdateBlind(k, u.Key, string(enc), u.Diff)
		}
	}
	for _, u := range dr {
		enc = differential.AppendRow(enc[:0], u.Row)
		if op.kind.keepsLeft() {
			op.rrows.Update(k, u.Key, string(enc), u.Diff)
		} else {
			op.rrows.UpdateBlind(k, u.Key, string(enc), u.Diff)
		}
	}
	for _, a := range []*differential.Arrangement{op.lrows, op.rrows} {
		if err := a.Err(); err != nil {
			return nil, fmt.Errorf("join %q: %w", op.name, err)
		}
	}

	rIsEmpty, lIsEmpty := false, false
	if op.kind.keepsLeft() {
		if rIsEmpty, err = op.empty(op.rrows, k); err != nil {
			return nil, err
		}
	}
	if op.kind.keepsRight() {
		if lIsEmpty, err = op.empty(op.lrows, k); err != nil {
			return nil, err
		}
	}
	// The left rows as they are now meet the changed right rows.
	var lNew []joinRow
	if len(dr) > 0 || (op.kind.keepsLeft() && rWasEmpty != rIsEmpty) {
		if lNew, err = op.side(op.lrows, k, op.scratchL[:0]); err != nil {
			return nil, err
		}
		op.scratchL = lNew
	}
	for _, r := range dr {
		for _, l := range lNew {
			out = append(out, op.match(t, l.key, l.row, r.Key, r.Row, l.diff*r.Diff))
		}
	}

	// Padded rows: only a side's transition between empty and non-empty
	// changes them; otherwise the changed rows of the other side pass.
	if op.kind.keepsLeft() {
		out = padChanges(out, rWasEmpty, rIsEmpty, dl, lNew, func(key differential.Key, row differential.Row, diff int64) differential.Update {
			return op.padLeft(t, key, row, diff)
		})
	}
	if op.kind.keepsRight() {
		var rNew []joinRow
		if lWasEmpty != lIsEmpty {
			if rNew, err = op.side(op.rrows, k, op.scratchR[:0]); err != nil {
				return nil, err
			}
			op.scratchR = rNew
		}
		out = padChanges(out, lWasEmpty, lIsEmpty, dr, rNew, func(key differential.Key, row differential.Row, diff int64) differential.Update {
			return op.padRight(t, key, row, diff)
		})
	}
	return out, nil
}

// padChanges appends the changes of one side's padded rows under one key:
// the side's changes are changed and its rows now are now, and the
// other side was empty (wasEmpty) and is empty (isEmpty) or not.
func padChanges(out []differential.Update, wasEmpty, isEmpty bool, changed []differential.Update, now []joinRow,
	pad func(differential.Key, differential.Row, int64) differential.Update) []differential.Update {
	switch {
	case wasEmpty && isEmpty:
		for _, u := range changed {
			out = append(out, pad(u.Key, u.Row, u.Diff))
		}
	case wasEmpty && !isEmpty:
		// Retract the old padded rows: now less the changes.
		for _, r := range now {
			out = append(out, pad(r.key, r.row, -r.diff))
		}
		for _, u := range changed {
			out = append(out, pad(u.Key, u.Row, u.Diff))
		}
	case !wasEmpty && isEmpty:
		for _, r := range now {
			out = append(out, pad(r.key, r.row, r.diff))
		}
	}
	return out
}

// empty reports whether side a holds no row under k.
func (op *Join) empty(a *differential.Arrangement, k string) (bool, error) {
	g, err := a.Get(k)
	if err != nil {
		return false, fmt.Errorf("join %q: %w", op.name, err)
	}
	return g == nil, nil
}

// side appends the decoded rows of side a under k to dst.
func (op *Join) side(a *differential.Arrangement, k string, dst []joinRow) ([]joinRow, error) {
	g, err := a.Get(k)
	if err != nil {
		return nil, fmt.Errorf("join %q: %w", op.name, err)
	}
	if g == nil {
		return dst, nil
	}
	width := len(op.left)
	if a == op.rrows {
		width = len(op.right)
	}
	vals := make(differential.Row, 0, width*g.Len())
	for i, enc := range g.Rows {
		start := len(vals)
		if vals, err = differential.DecodeRow(vals, []byte(enc)); err != nil || len(vals)-start != width {
			return nil, fmt.Errorf("join %q: a state row of arrangement %q does not hold %d values: %v", op.name, a.Name(), width, err)
		}
		dst = append(dst, joinRow{key: g.Keys[i], row: vals[start:len(vals):len(vals)], diff: g.Diffs[i]})
	}
	return dst, nil
}

// Markers of the sides in an output key.
const (
	sidePresent = 1
	sideMissing = 0
)

// outKey returns the output key of a left and a right row; a nil side is
// missing.
func (op *Join) outKey(l, r *differential.Key) differential.Key {
	h := differential.NewHasher(op.name)
	for _, k := range []*differential.Key{l, r} {
		if k == nil {
			h.Uint64(sideMissing)
			continue
		}
		h.Uint64(sidePresent)
		h.Uint64(uint64(*k))
	}
	return h.Key()
}

// match returns the output update of a left and a right row.
func (op *Join) match(t differential.Time, lk differential.Key, l differential.Row, rk differential.Key, r differential.Row, diff int64) differential.Update {
	row := make(differential.Row, len(op.out))
	copy(row, l)
	for i, pos := range op.rightOut {
		if pos >= 0 {
			row[pos] = r[i]
		}
	}
	if op.kind == JoinRight {
		for _, m := range op.merged {
			row[m[0]] = r[m[1]]
		}
	}
	return differential.Update{Key: op.outKey(&lk, &rk), Row: row, Time: t, Diff: diff}
}

// padLeft returns the output update of a left row without a match.
func (op *Join) padLeft(t differential.Time, lk differential.Key, l differential.Row, diff int64) differential.Update {
	row := make(differential.Row, len(op.out))
	copy(row, l)
	return differential.Update{Key: op.outKey(&lk, nil), Row: row, Time: t, Diff: diff}
}

// padRight returns the output update of a right row without a match; a
// merged column takes the right row's value.
func (op *Join) padRight(t differential.Time, rk differential.Key, r differential.Row, diff int64) differential.Update {
	row := make(differential.Row, len(op.out))
	for i, pos := range op.rightOut {
		if pos >= 0 {
			row[pos] = r[i]
		}
	}
	for _, m := range op.merged {
		row[m[0]] = r[m[1]]
	}
	return differential.Update{Key: op.outKey(nil, &rk), Row: row, Time: t, Diff: diff}
}
