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

var propSchema = differential.Schema{
	{Name: "g", Type: differential.KindString},
	{Name: "i", Type: differential.KindInt},
	{Name: "f", Type: differential.KindFloat},
	{Name: "s", Type: differential.KindString},
}

// propReduce is one Reduce of the property test: its outputs, the storage
// mode they must give, and their direct computation.
type propReduce struct {
	name string
	mode reduceMode
	outs []Output
}

// The reducers of each mode, with the null rules exercised by nullable
// columns.
var propReduces = []propReduce{
	{"running", modeRunning, []Output{
		{"g", Col("g")},
		{"n", Count()},
		{"si", Sum("i")},
		{"sf", Sum("f")},
		{"ai", Avg("i")},
		{"af", Avg("f")},
		{"twice", Add(Count(), Count())},
	}},
	{"multiset", modeMultiset, []Output{
		{"g", Col("g")},
		{"mini", Min("i")},
		{"maxs", Max("s")},
		{"anyf", Any("f")},
		{"argmin", ArgMin("i", "s")},
		{"argmax", ArgMax("f", "i")},
		{"cd", CountDistinct("s")},
		{"st", SortedTuple("i")},
		{"n", Count()},
		{"sf", Sum("f")},
		{"ai", Avg("i")},
	}},
	{"keyed", modeKeyed, []Output{
		{"g", Col("g")},
		{"ei", Earliest("i")},
		{"ls", Latest("s")},
		{"tf", Tuple("f")},
		{"ts", Tuple("s")},
		{"n", Count()},
		{"minf", Min("f")},
		{"argmax", ArgMax("i", "s")},
	}},
}

// copyOf is one copy of an input row in the model, with its arrival.
type copyOf struct {
	key     differential.Key
	row     differential.Row
	arrival int64
}

// modelReduce computes a reducer named by an output from scratch over a
// group's copies.
func modelValue(name string, cs []copyOf) differential.Value {
	col := func(c copyOf, name string) differential.Value { return c.row[propSchema.Index(name)] }
	nonNull := func(name string) []copyOf {
		var out []copyOf
		for _, c := range cs {
			if !col(c, name).IsNull() {
				out = append(out, c)
			}
		}
		return out
	}
	cmp := differential.Compare
	// pick returns a copy minimizing less, or nil.
	pick := func(from []copyOf, less func(a, b copyOf) bool) *copyOf {
		var best *copyOf
		for i := range from {
			if best == nil || less(from[i], *best) {
				best = &from[i]
			}
		}
		return best
	}
	valOr := func(c *copyOf, name string) differential.Value {
		if c == nil {
			return differential.Null()
		}
		return col(*c, name)
	}
	sum := func(name string) (int64, float64, int64) {
		var is int64
		var fs float64
		var n int64
		for _, c := range nonNull(name) {
			n++
			if v := col(c, name); v.Kind == differential.KindInt {
				is += v.AsInt()
			} else {
				fs += v.AsFloat()
			}
		}
		return is, fs, n
	}
	tuple := func(name string, sorted bool) differential.Value {
		sortedCs := slices.Clone(cs)
		slices.SortStableFunc(sortedCs, func(a, b copyOf) int {
			if !sorted && a.arrival != b.arrival {
				return int(a.arrival - b.arrival)
			}
			return cmp(col(a, name), col(b, name))
		})
		var vs []differential.Value
		for _, c := range sortedCs {
			vs = append(vs, col(c, name))
		}
		return differential.Tuple(vs...)
	}
	switch name {
	case "g":
		return cs[0].row[0]
	case "n":
		return differential.Int(int64(len(cs)))
	case "twice":
		return differential.Int(2 * int64(len(cs)))
	case "si":
		is, _, _ := sum("i")
		return differential.Int(is)
	case "sf":
		_, fs, _ := sum("f")
		return differential.Float(fs)
	case "ai":
		is, _, n := sum("i")
		if n == 0 {
			return differential.Null()
		}
		return differential.Float(float64(is) / float64(n))
	case "af":
		_, fs, n := sum("f")
		if n == 0 {
			return differential.Null()
		}
		return differential.Float(fs / float64(n))
	case "mini":
		return valOr(pick(nonNull("i"), func(a, b copyOf) bool { return cmp(col(a, "i"), col(b, "i")) < 0 }), "i")
	case "minf", "anyf":
		return valOr(pick(nonNull("f"), func(a, b copyOf) bool { return cmp(col(a, "f"), col(b, "f")) < 0 }), "f")
	case "maxs":
		return valOr(pick(nonNull("s"), func(a, b copyOf) bool { return cmp(col(a, "s"), col(b, "s")) > 0 }), "s")
	case "argmin": // argmin(i, s)
		return valOr(pick(nonNull("i"), func(a, b copyOf) bool {
			if c := cmp(col(a, "i"), col(b, "i")); c != 0 {
				return c < 0
			}
			return cmp(col(a, "s"), col(b, "s")) < 0
		}), "s")
	case "argmax": // argmax(f, i) in multiset, argmax(i, s) in keyed
		return differential.Null() // computed by the caller, which knows the mode
	case "cd":
		seen := map[string]bool{}
		for _, c := range nonNull("s") {
			seen[col(c, "s").AsString()] = true
		}
		return differential.Int(int64(len(seen)))
	case "st":
		return tuple("i", true)
	case "tf":
		return tuple("f", false)
	case "ts":
		return tuple("s", false)
	case "ei", "ls":
		c := map[string]string{"ei": "i", "ls": "s"}[name]
		return valOr(pick(nonNull(c), func(a, b copyOf) bool {
			if a.arrival != b.arrival {
				return (a.arrival < b.arrival) == (name == "ei")
			}
			return cmp(col(a, c), col(b, c)) < 0
		}), c)
	}
	panic("no model of " + name)
}

// modelArgMax is argmax(by, ret) from scratch.
func modelArgMax(cs []copyOf, by, ret string) differential.Value {
	bi, ri := propSchema.Index(by), propSchema.Index(ret)
	var best *copyOf
	for i := range cs {
		c := &cs[i]
		if c.row[bi].IsNull() {
			continue
		}
		if best == nil {
			best = c
			continue
		}
		x := differential.Compare(c.row[bi], best.row[bi])
		if x > 0 || x == 0 && differential.Compare(c.row[ri], best.row[ri]) < 0 {
			best = c
		}
	}
	if best == nil {
		return differential.Null()
	}
	return best.row[ri]
}

func rowText(r differential.Row) string {
	parts := make([]string, len(r))
	for i, v := range r {
		parts[i] = v.Kind.String() + ":" + v.String()
	}
	return strings.Join(parts, "|")
}

// modelRows computes every group's output row from scratch.
func modelRows(pr propReduce, copies []copyOf) map[string]int64 {
	groups := map[string][]copyOf{}
	for _, c := range copies {
		groups[c.row[0].AsString()] = append(groups[c.row[0].AsString()], c)
	}
	out := map[string]int64{}
	for _, cs := range groups {
		row := make(differential.Row, len(pr.outs))
		for i, o := range pr.outs {
			switch {
			case o.Name == "argmax" && pr.mode == modeMultiset:
				row[i] = modelArgMax(cs, "f", "i")
			case o.Name == "argmax":
				row[i] = modelArgMax(cs, "i", "s")
			default:
				row[i] = modelValue(o.Name, cs)
			}
		}
		out[rowText(row)]++
	}
	return out
}

// restore builds a new Reduce from the state of op, as a restart does.
func restore(t *rapid.T, pr propReduce, op *Reduce) *Reduce {
	fresh, err := NewReduce(op.name, propSchema, []string{"g"}, pr.outs)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range op.Arrangements() {
		if err := fresh.Arrangements()[i].Apply(a.Snapshot()); err != nil {
			t.Fatal(err)
		}
	}
	return fresh
}

func genValue(t *rapid.T, kind differential.Kind, label string) differential.Value {
	if rapid.IntRange(0, 4).Draw(t, label+"_null") == 0 {
		return differential.Null()
	}
	switch kind {
	case differential.KindInt:
		return differential.Int(int64(rapid.IntRange(-4, 4).Draw(t, label)))
	case differential.KindFloat:
		// Halves: every sum is exact, in any order.
		return differential.Float(float64(rapid.IntRange(-6, 6).Draw(t, label)) / 2)
	}
	return differential.String(rapid.SampledFrom([]string{"x", "y", "z"}).Draw(t, label))
}

// The output a Reduce accumulated over random inserts, retractions,
// updates of a key and duplicate copies, in each storage mode, is what a
// direct computation over the current rows gives, after every time and
// across restarts from the state.
func TestReduceMatchesModel(t *testing.T) {
	for _, pr := range propReduces {
		t.Run(pr.name, func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				op, err := NewReduce("r", propSchema, []string{"g"}, pr.outs)
				if err != nil {
					t.Fatal(err)
				}
				if op.mode != pr.mode {
					t.Fatalf("mode %d, want %d", op.mode, pr.mode)
				}
				var copies []copyOf
				acc := map[string]int64{}
				nextKey := differential.Key(1)
				steps := rapid.IntRange(1, 12).Draw(t, "steps")
				for step := range steps {
					tm := differential.Time(10 * (step + 1))
					var batch []differential.Update
					live := slices.Clone(copies)
					for range rapid.IntRange(0, 6).Draw(t, "ops") {
						switch kind := rapid.IntRange(0, 3).Draw(t, "op"); {
						case kind == 0 || len(live) == 0:
							row := differential.Row{
								differential.String(rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "g")),
								genValue(t, differential.KindInt, "i"),
								genValue(t, differential.KindFloat, "f"),
								genValue(t, differential.KindString, "s"),
							}
							batch = append(batch, differential.Update{Key: nextKey, Row: row, Time: tm, Diff: 1})
							nextKey++
						case kind == 1: // another copy of a live row
							c := live[rapid.IntRange(0, len(live)-1).Draw(t, "dup")]
							batch = append(batch, differential.Update{Key: c.key, Row: c.row, Time: tm, Diff: 1})
						default: // retract a live row, or update its values
							i := rapid.IntRange(0, len(live)-1).Draw(t, "victim")
							c := live[i]
							live = slices.Delete(live, i, i+1)
							batch = append(batch, differential.Update{Key: c.key, Row: c.row, Time: tm, Diff: -1})
							if kind == 3 {
								row := slices.Clone(c.row)
								j := 1 + rapid.IntRange(0, 2).Draw(t, "col")
								row[j] = genValue(t, propSchema[j].Type, "new")
								batch = append(batch, differential.Update{Key: c.key, Row: row, Time: tm, Diff: 1})
							}
						}
					}
					batch = differential.Consolidate(batch)
					// The model: retractions first, the latest copy of a
					// key and row first; then insertions arriving now.
					for _, u := range batch {
						for n := -u.Diff; n > 0; n-- {
							for j := len(copies) - 1; j >= 0; j-- {
								if copies[j].key == u.Key && copies[j].row.Equal(u.Row) {
									copies = slices.Delete(copies, j, j+1)
									break
								}
							}
						}
					}
					for _, u := range batch {
						for n := u.Diff; n > 0; n-- {
							copies = append(copies, copyOf{u.Key, u.Row, int64(tm)})
						}
					}
					// Copies in arrival order, for the latest-first rule.
					slices.SortStableFunc(copies, func(a, b copyOf) int { return int(a.arrival - b.arrival) })
					out, err := op.Step(tm, [][]differential.Update{batch})
					if err != nil {
						t.Fatal(err)
					}
					for _, u := range out {
						if u.Time != tm {
							t.Fatalf("output at %d, want %d", u.Time, tm)
						}
						acc[rowText(u.Row)] += u.Diff
						if acc[rowText(u.Row)] == 0 {
							delete(acc, rowText(u.Row))
						}
					}
					want := modelRows(pr, copies)
					if !maps.Equal(acc, want) {
						t.Fatalf("after time %d:\n got %v\nwant %v", tm, sorted(acc), sorted(want))
					}
					checkSchema(t, op, out)
					if pr.mode == modeRunning {
						groups := map[string]bool{}
						for _, c := range copies {
							groups[c.row[0].AsString()] = true
						}
						if n := op.running.Len(); n != len(groups) {
							t.Fatalf("running aggregates hold %d entries for %d groups", n, len(groups))
						}
						if n := op.rows.Len(); n != 0 {
							t.Fatalf("running mode keeps %d rows", n)
						}
					}
					if rapid.IntRange(0, 3).Draw(t, "restart") == 0 {
						op = restore(t, pr, op)
					}
				}
			})
		})
	}
}

func checkSchema(t *rapid.T, op *Reduce, out []differential.Update) {
	for _, u := range out {
		if err := op.Schema().Check(u.Row); err != nil {
			t.Fatalf("output %v does not fit %v: %v", u.Row, op.Schema(), err)
		}
	}
}

func sorted(m map[string]int64) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s x%d", k, v))
	}
	slices.Sort(out)
	return out
}

// A running-aggregate Reduce restores the "by_group" state an earlier
// version kept for it (every input row), and moves a group to one
// aggregate entry when it next changes, its output going on from what
// was emitted.
func TestReduceRunningReadsEarlierState(t *testing.T) {
	outs := []Output{{"g", Col("g")}, {"n", Count()}, {"si", Sum("i")}, {"af", Avg("f")}}
	old, err := NewReduce("r", propSchema, []string{"g"}, outs)
	if err != nil {
		t.Fatal(err)
	}
	old.mode = modeMultiset // as every Reduce was kept before
	row := func(g string, i int64, f float64) differential.Row {
		return differential.Row{differential.String(g), differential.Int(i), differential.Float(f), differential.Null()}
	}
	in := []differential.Update{
		{Key: 1, Row: row("a", 1, 0.5), Diff: 1},
		{Key: 2, Row: row("a", 2, 1.5), Diff: 2},
		{Key: 3, Row: row("b", 5, 2), Diff: 1},
	}
	acc := map[string]int64{}
	add := func(us []differential.Update) {
		for _, u := range us {
			acc[rowText(u.Row)] += u.Diff
			if acc[rowText(u.Row)] == 0 {
				delete(acc, rowText(u.Row))
			}
		}
	}
	out, err := old.Step(1, [][]differential.Update{in})
	if err != nil {
		t.Fatal(err)
	}
	add(out)
	if old.rows.Len() != 3 {
		t.Fatalf("the earlier layout holds %d rows, want 3", old.rows.Len())
	}

	op, err := NewReduce("r", propSchema, []string{"g"}, outs)
	if err != nil {
		t.Fatal(err)
	}
	if op.mode != modeRunning || op.Arrangements()[1].Name() != "by_group" {
		t.Fatalf("mode %d, arrangements %v", op.mode, op.Arrangements())
	}
	if err := op.rows.Apply(old.rows.Snapshot()); err != nil {
		t.Fatal(err)
	}
	out, err = op.Step(2, [][]differential.Update{{{Key: 1, Row: row("a", 1, 0.5), Diff: -1}, {Key: 4, Row: row("a", 10, 3), Diff: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Diff != -1 || rowText(out[0].Row) != "str:a|int:3|int:5|float:1.1666666666666667" {
		t.Fatalf("the retraction of the restored row is %v", out)
	}
	add(out)
	want := map[string]int64{
		"str:a|int:3|int:14|float:2.0": 1, // 2+2+10 over 1.5+1.5+3
		"str:b|int:1|int:5|float:2.0":  1,
	}
	if !maps.Equal(acc, want) {
		t.Fatalf("got %v, want %v", sorted(acc), sorted(want))
	}
	// Group a moved to one aggregate entry; b, unchanged, stays where it
	// was until it changes.
	if n, m := op.running.Len(), op.rows.Len(); n != 1 || m != 1 {
		t.Fatalf("%d aggregate entries and %d earlier rows, want 1 and 1", n, m)
	}
	out, err = op.Step(3, [][]differential.Update{{{Key: 3, Row: row("b", 5, 2), Diff: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Diff != -1 || op.rows.Len() != 0 || op.running.Len() != 1 {
		t.Fatalf("emptying b: out %v, %d earlier rows, %d aggregates", out, op.rows.Len(), op.running.Len())
	}
}

// Build errors name the reduce, the output column and the problem.
func TestReduceBuildErrors(t *testing.T) {
	cases := []struct {
		out  Expr
		want string
	}{
		{Avg("s"), `reduce "r": column "x": avg(s): column "s" is str, want int or float`},
		{Sum("nope"), `reduce "r": column "x": sum(nope): no column "nope"`},
		{ArgMin("i", "nope"), `reduce "r": column "x": argmin(i, nope): no column "nope"`},
		{Tuple("zz"), `reduce "r": column "x": tuple(zz): no column "zz"`},
	}
	for _, c := range cases {
		_, err := NewReduce("r", propSchema, []string{"g"}, []Output{{"x", c.out}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.out, err, c.want)
		}
	}
	// A reducer outside a Reduce.
	if _, _, err := Earliest("i").compile(&binder{in: propSchema}); err == nil || !strings.Contains(err.Error(), "earliest(i) is only allowed in a Reduce") {
		t.Errorf("earliest in a row context: %v", err)
	}
}

// Outputs' types, the tuple columns' element types, and the modes.
func TestReduceSchemaAndModes(t *testing.T) {
	op, err := NewReduce("r", propSchema, []string{"g"}, []Output{
		{"a", Avg("i")}, {"cd", CountDistinct("f")}, {"am", ArgMax("i", "s")}, {"t", Tuple("f")}, {"st", SortedTuple("s")},
		{"e", Earliest("s")}, {"any", Any("i")},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := differential.Schema{
		{Name: "a", Type: differential.KindFloat},
		{Name: "cd", Type: differential.KindInt},
		{Name: "am", Type: differential.KindString},
		{Name: "t", Type: differential.KindTuple, Elem: differential.KindFloat},
		{Name: "st", Type: differential.KindTuple, Elem: differential.KindString},
		{Name: "e", Type: differential.KindString},
		{Name: "any", Type: differential.KindInt},
	}
	if !slices.Equal(op.Schema(), want) {
		t.Fatalf("schema %v, want %v", op.Schema(), want)
	}
	if op.mode != modeKeyed || len(op.Arrangements()) != 1 || op.Arrangements()[0].Name() != "by_key" {
		t.Fatalf("a Reduce with tuple and earliest: mode %d, arrangements %v", op.mode, op.Arrangements())
	}
	for _, c := range []struct {
		outs []Output
		mode reduceMode
		arrs []string
	}{
		{[]Output{{"n", Count()}}, modeRunning, []string{"aggregates", "by_group"}},
		{[]Output{{"n", Count()}, {"s", Sum("f")}, {"a", Avg("i")}}, modeRunning, []string{"aggregates", "by_group"}},
		{[]Output{{"n", Count()}, {"m", Min("i")}}, modeMultiset, []string{"by_group"}},
		{[]Output{{"g", Col("g")}}, modeMultiset, []string{"by_group"}},
		{[]Output{{"st", SortedTuple("i")}}, modeMultiset, []string{"by_group"}},
		{[]Output{{"l", Latest("i")}, {"n", Count()}}, modeKeyed, []string{"by_key"}},
	} {
		op, err := NewReduce("r", propSchema, []string{"g"}, c.outs)
		if err != nil {
			t.Fatal(err)
		}
		var arrs []string
		for _, a := range op.Arrangements() {
			arrs = append(arrs, a.Name())
		}
		if op.mode != c.mode || !slices.Equal(arrs, c.arrs) {
			t.Errorf("%s: mode %d with %v, want %d with %v", op.Describe(), op.mode, arrs, c.mode, c.arrs)
		}
	}
}

// Describe is the text earlier versions wrote, part of stored
// fingerprints.
func TestReduceDescribeStable(t *testing.T) {
	_, red := tutorialOps(t, 60)
	want := "reduce(by=[user_id,_pw_window_start,_pw_window_end], user_id=user_id, session_length=(max(access_time) - min(access_time)), session_start=min(access_time), session_finish=max(access_time), count=count())"
	if got := red.Describe(); got != want {
		t.Fatalf("Describe:\n%s\nwant\n%s", got, want)
	}
	op, err := NewReduce("r", propSchema, nil, []Output{{"a", ArgMin("i", "s")}, {"b", Avg("f")}, {"c", SortedTuple("s")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := op.Describe(); got != "reduce(by=[], a=argmin(i, s), b=avg(f), c=sorted_tuple(s))" {
		t.Fatalf("Describe: %s", got)
	}
}
