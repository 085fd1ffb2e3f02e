package operators

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/differential"
	"pgregory.net/rapid"
)

var (
	joinLeftSchema = differential.Schema{
		{Name: "k", Type: differential.KindInt},
		{Name: "a", Type: differential.KindInt},
		{Name: "lv", Type: differential.KindString},
	}
	joinRightSchema = differential.Schema{
		{Name: "b", Type: differential.KindInt},
		{Name: "k", Type: differential.KindInt},
		{Name: "rv", Type: differential.KindString},
	}
)

// liveEntry is one (key, row) of a side with its multiplicity.
type liveEntry struct {
	key  differential.Key
	row  differential.Row
	mult int64
}

// side is the current contents of one join input.
type sideState map[string]*liveEntry

func entryID(k differential.Key, r differential.Row) string {
	return fmt.Sprintf("%d|%x", k, differential.EncodeRow(r))
}

func (s sideState) add(k differential.Key, r differential.Row, d int64) {
	id := entryID(k, r)
	e := s[id]
	if e == nil {
		e = &liveEntry{key: k, row: r}
		s[id] = e
	}
	e.mult += d
	if e.mult == 0 {
		delete(s, id)
	}
}

func (s sideState) sorted() []*liveEntry {
	ids := slices.Sorted(maps.Keys(s))
	out := make([]*liveEntry, len(ids))
	for i, id := range ids {
		out[i] = s[id]
	}
	return out
}

// modelJoin computes the join of the current inputs from scratch with a
// nested loop, straight from the contract: entry ID (key and row) ->
// multiplicity.
func modelJoin(name string, kind JoinKind, on []JoinOn, ls, rs differential.Schema, left, right sideState) map[string]int64 {
	// Output layout.
	type outCol struct {
		side int // 0 left, 1 right
		col  int
		pair int // for a merged column: the right column's position; else -1
	}
	var layout []outCol
	for i := range ls {
		oc := outCol{side: 0, col: i, pair: -1}
		for _, p := range on {
			if p.Left == ls[i].Name && p.Right == ls[i].Name {
				oc.pair = rs.Index(p.Right)
			}
		}
		layout = append(layout, oc)
	}
	for i := range rs {
		merged := false
		for _, p := range on {
			if p.Right == rs[i].Name && p.Left == rs[i].Name {
				merged = true
			}
		}
		if !merged {
			layout = append(layout, outCol{side: 1, col: i, pair: -1})
		}
	}
	key := func(l, r *liveEntry) differential.Key {
		h := differential.NewHasher(name)
		for _, e := range []*liveEntry{l, r} {
			if e == nil {
				h.Uint64(0)
			} else {
				h.Uint64(1)
				h.Uint64(uint64(e.key))
			}
		}
		return h.Key()
	}
	build := func(l, r *liveEntry) differential.Row {
		row := make(differential.Row, len(layout))
		for i, oc := range layout {
			var lv, rv differential.Value
			if oc.side == 0 && l != nil {
				lv = l.row[oc.col]
			}
			if oc.side == 1 && r != nil {
				rv = r.row[oc.col]
			}
			if oc.pair >= 0 && r != nil {
				rv = r.row[oc.pair]
			}
			switch {
			case oc.side == 1:
				row[i] = rv
			case oc.pair < 0:
				row[i] = lv
			case kind == JoinRight:
				row[i] = rv
			case kind == JoinOuter && lv.IsNull():
				row[i] = rv
			default:
				row[i] = lv
			}
		}
		return row
	}
	matches := func(l, r *liveEntry) bool {
		for _, p := range on {
			a, b := l.row[ls.Index(p.Left)], r.row[rs.Index(p.Right)]
			if a.IsNull() || b.IsNull() || a != b {
				return false
			}
		}
		return true
	}
	out := map[string]int64{}
	add := func(l, r *liveEntry, d int64) {
		id := entryID(key(l, r), build(l, r))
		out[id] += d
		if out[id] == 0 {
			delete(out, id)
		}
	}
	lm := map[*liveEntry]bool{}
	rm := map[*liveEntry]bool{}
	for _, l := range left.sorted() {
		for _, r := range right.sorted() {
			if matches(l, r) {
				add(l, r, l.mult*r.mult)
				lm[l], rm[r] = true, true
			}
		}
	}
	if kind == JoinLeft || kind == JoinOuter {
		for _, l := range left {
			if !lm[l] {
				add(l, nil, l.mult)
			}
		}
	}
	if kind == JoinRight || kind == JoinOuter {
		for _, r := range right {
			if !rm[r] {
				add(nil, r, r.mult)
			}
		}
	}
	return out
}

// drawValue draws a small int or, sometimes, null.
func drawInt(t *rapid.T, label string) differential.Value {
	if rapid.IntRange(0, 5).Draw(t, label+"Null") == 0 {
		return differential.Null()
	}
	return differential.Int(int64(rapid.IntRange(0, 3).Draw(t, label)))
}

// drawChanges draws the changes of one side at one time, applying them
// to s: inserts of new rows, more copies of current ones, retractions of
// some or all copies, and rows replaced under the same key.
func drawChanges(t *rapid.T, label string, s sideState, nextKey *int, mkRow func() differential.Row) []differential.Update {
	var in []differential.Update
	n := rapid.IntRange(0, 6).Draw(t, label+"N")
	for range n {
		cur := s.sorted()
		op := rapid.IntRange(0, 4).Draw(t, label+"Op")
		if len(cur) == 0 {
			op = 0
		}
		switch op {
		case 0, 1: // a new row
			*nextKey++
			k := differential.Key(*nextKey)
			r := mkRow()
			d := int64(rapid.IntRange(1, 3).Draw(t, label+"Mult"))
			s.add(k, r, d)
			in = append(in, differential.Update{Key: k, Row: r, Diff: d})
		case 2: // more copies of a current row
			e := rapid.SampledFrom(cur).Draw(t, label+"Dup")
			s.add(e.key, e.row, 1)
			in = append(in, differential.Update{Key: e.key, Row: e.row, Diff: 1})
		case 3: // retract some or all copies
			e := rapid.SampledFrom(cur).Draw(t, label+"Del")
			d := int64(rapid.IntRange(1, int(e.mult)).Draw(t, label+"DelN"))
			k, r := e.key, e.row
			s.add(k, r, -d)
			in = append(in, differential.Update{Key: k, Row: r, Diff: -d})
		case 4: // replace a row under its key
			e := rapid.SampledFrom(cur).Draw(t, label+"Upd")
			k, r, m := e.key, e.row, e.mult
			nr := mkRow()
			s.add(k, r, -m)
			s.add(k, nr, m)
			in = append(in, differential.Update{Key: k, Row: r, Diff: -m}, differential.Update{Key: k, Row: nr, Diff: m})
		}
	}
	return differential.Consolidate(in)
}

func testJoinMatchesModel(t *testing.T, kind JoinKind) {
	rapid.Check(t, func(t *rapid.T) {
		on := []JoinOn{{"k", "k"}}
		if rapid.Bool().Draw(t, "twoColumns") {
			on = append(on, JoinOn{"a", "b"})
		}
		newOp := func() *Join {
			op, err := NewJoin("j", joinLeftSchema, joinRightSchema, kind, on)
			if err != nil {
				t.Fatal(err)
			}
			return op
		}
		op := newOp()
		var logged [2]differential.Deltas
		left, right := sideState{}, sideState{}
		acc := map[string]int64{}
		nextKey := 0
		steps := rapid.IntRange(1, 12).Draw(t, "steps")
		for step := range steps {
			dl := drawChanges(t, "l", left, &nextKey, func() differential.Row {
				return differential.Row{drawInt(t, "lk"), drawInt(t, "la"), differential.String(fmt.Sprint("l", nextKey))}
			})
			dr := drawChanges(t, "r", right, &nextKey, func() differential.Row {
				return differential.Row{drawInt(t, "rb"), drawInt(t, "rk"), differential.String(fmt.Sprint("r", nextKey))}
			})
			out, err := op.Step(differential.Time(step+1), [][]differential.Update{dl, dr})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range out {
				if u.Time != differential.Time(step+1) {
					t.Fatalf("output at time %d in step %d", u.Time, step+1)
				}
				if err := op.Schema().Check(u.Row); err != nil {
					t.Fatalf("output row %v: %v", u.Row, err)
				}
				id := entryID(u.Key, u.Row)
				acc[id] += u.Diff
				if acc[id] == 0 {
					delete(acc, id)
				}
			}
			want := modelJoin("j", kind, on, joinLeftSchema, joinRightSchema, left, right)
			if !maps.Equal(acc, want) {
				t.Fatalf("step %d: accumulated output\n%v\nwant\n%v", step+1, fmtAcc(acc), fmtAcc(want))
			}
			for i, a := range op.Arrangements() {
				logged[i].Append(a.TakeDeltas())
			}
			if rapid.IntRange(0, 3).Draw(t, "restart") == 0 {
				// A restart: a new operator given the logged changes.
				op = newOp()
				for i, a := range op.Arrangements() {
					if err := a.Apply(logged[i]); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	})
}

func fmtAcc(m map[string]int64) string {
	var b strings.Builder
	for _, id := range slices.Sorted(maps.Keys(m)) {
		k, enc, _ := strings.Cut(id, "|")
		var raw []byte
		fmt.Sscanf(enc, "%x", &raw)
		row, _ := differential.DecodeRow(nil, raw)
		fmt.Fprintf(&b, "  key %s %v x%d\n", k, row, m[id])
	}
	return b.String()
}

func TestJoinInnerMatchesModel(t *testing.T) { testJoinMatchesModel(t, JoinInner) }
func TestJoinLeftMatchesModel(t *testing.T)  { testJoinMatchesModel(t, JoinLeft) }
func TestJoinRightMatchesModel(t *testing.T) { testJoinMatchesModel(t, JoinRight) }
func TestJoinOuterMatchesModel(t *testing.T) { testJoinMatchesModel(t, JoinOuter) }

// countingBase is a Base holding a snapshot that counts the groups asked
// for.
type countingBase struct {
	d       differential.Deltas
	lookups map[string]int
}

func (b *countingBase) Lookup(group string, fn func(differential.Key, string, int64)) error {
	b.lookups[group]++
	for i, g := range b.d.Groups {
		if g == group {
			fn(b.d.Keys[i], b.d.Rows[i], b.d.Diffs[i])
		}
	}
	return nil
}

func (b *countingBase) Scan(fn func(string, differential.Key, string, int64)) error {
	for i, g := range b.d.Groups {
		fn(g, b.d.Keys[i], b.d.Rows[i], b.d.Diffs[i])
	}
	return nil
}

// TestJoinTouchesOnlyChangedKeys: with the state in a checkpoint and out
// of memory, a time changing one key reads that key's groups and no
// other, and its output is that key's matches.
func TestJoinTouchesOnlyChangedKeys(t *testing.T) {
	for _, kind := range []JoinKind{JoinInner, JoinLeft, JoinRight, JoinOuter} {
		op, err := NewJoin("j", joinLeftSchema, joinRightSchema, kind, []JoinOn{{"k", "k"}})
		if err != nil {
			t.Fatal(err)
		}
		var dl, dr []differential.Update
		for k := range 200 {
			for j := range 3 {
				dl = append(dl, differential.Update{Key: differential.Key(1000*k + j), Row: differential.Row{differential.Int(int64(k)), differential.Int(0), differential.String("l")}, Diff: 1})
			}
			if k%2 == 0 {
				dr = append(dr, differential.Update{Key: differential.Key(1000*k + 500), Row: differential.Row{differential.Int(0), differential.Int(int64(k)), differential.String("r")}, Diff: 1})
			}
		}
		if _, err := op.Step(1, [][]differential.Update{differential.Consolidate(dl), differential.Consolidate(dr)}); err != nil {
			t.Fatal(err)
		}
		var bases []*countingBase
		for _, a := range op.Arrangements() {
			a.TakeDeltas()
			b := &countingBase{d: a.Snapshot(), lookups: map[string]int{}}
			a.Rebase(b, int64(b.d.Len()), a.Seal())
			a.Evict(0)
			bases = append(bases, b)
		}
		// Key 7 had left rows only; a right row arrives.
		r := differential.Row{differential.Int(0), differential.Int(7), differential.String("r")}
		out, err := op.Step(2, [][]differential.Update{nil, {{Key: 9, Row: r, Diff: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		group := string(differential.EncodeRow(differential.Row{differential.Int(7)}))
		for i, b := range bases {
			if b.lookups[group] == 0 {
				t.Fatalf("%s: arrangement %d did not read the changed key from its base: the state was not out of memory", kind, i)
			}
			for g, n := range b.lookups {
				if g != group {
					t.Fatalf("%s: arrangement %d read group %x, not the changed key's", kind, i, g)
				}
				if n > 2 {
					t.Fatalf("%s: arrangement %d read the changed key's group %d times", kind, i, n)
				}
			}
		}
		var ins, dels int
		for _, u := range differential.Consolidate(out) {
			if u.Row[0].AsInt() != 7 {
				t.Fatalf("%s: output %v of another key", kind, u)
			}
			if u.Diff > 0 {
				ins++
			} else {
				dels++
			}
		}
		// Three matches; a left join retracts the three padded rows.
		wantDels := 0
		if kind.keepsLeft() {
			wantDels = 3
		}
		if ins != 3 || dels != wantDels {
			t.Fatalf("%s: %d inserts and %d retractions, want 3 and %d", kind, ins, dels, wantDels)
		}
	}
}

func TestJoinBuildErrors(t *testing.T) {
	cases := []struct {
		on   []JoinOn
		kind JoinKind
		want string
	}{
		{nil, JoinInner, "no join columns"},
		{[]JoinOn{{"x", "k"}}, JoinInner, `no column "x" in the left input`},
		{[]JoinOn{{"k", "x"}}, JoinInner, `no column "x" in the right input`},
		{[]JoinOn{{"k", "rv"}}, JoinInner, `join columns "k" (left, int) and "rv" (right, str) have different types`},
		{[]JoinOn{{"a", "k"}}, JoinInner, `column "k" is in both inputs`},
		{[]JoinOn{{"k", "k"}}, JoinKind(9), "unknown join kind"},
	}
	for _, c := range cases {
		_, err := NewJoin("j", joinLeftSchema, joinRightSchema, c.kind, c.on)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `join "j"`) {
			t.Errorf("on %v: error %v, want one naming join \"j\" and saying %q", c.on, err, c.want)
		}
	}
	op, err := NewJoin("j", joinLeftSchema, joinRightSchema, JoinOuter, []JoinOn{{"k", "k"}, {"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(op.Schema().Names(), ","); got != "k,a,lv,b,rv" {
		t.Errorf("columns %s, want k,a,lv,b,rv", got)
	}
	if got := op.Describe(); got != "join(kind=outer, on=[k=k,a=b])" {
		t.Errorf("Describe: %s", got)
	}
	if _, err := op.Step(1, [][]differential.Update{nil}); err == nil {
		t.Error("a step with one input accepted")
	}
}
