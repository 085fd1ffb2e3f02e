package operators

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/differential"
)

var ordersSchema = differential.Schema{
	{Name: "id", Type: differential.KindInt},
	{Name: "amount", Type: differential.KindInt},
	{Name: "country", Type: differential.KindString},
}

func order(key differential.Key, id, amount int64, country string, diff int64) differential.Update {
	return differential.Update{Key: key, Row: differential.Row{vi(id), vi(amount), vs(country)}, Time: 1, Diff: diff}
}

// show writes updates as sorted "key:v1,v2 diff" strings.
func show(us []differential.Update) []string {
	out := make([]string, len(us))
	for i, u := range us {
		vals := make([]string, len(u.Row))
		for j, v := range u.Row {
			vals[j] = formatValue(v)
		}
		out[i] = fmt.Sprintf("%d:%s %+d", u.Key, strings.Join(vals, ","), u.Diff)
	}
	slices.Sort(out)
	return out
}

func step(t *testing.T, op Operator, tm differential.Time, ins ...[]differential.Update) []string {
	t.Helper()
	out, err := op.Step(tm, ins)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range out {
		if u.Time != tm {
			t.Fatalf("output at time %d, want %d", u.Time, tm)
		}
	}
	return show(out)
}

func expect(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestSelectStep(t *testing.T) {
	op, err := NewSelect("sel", ordersSchema, []Output{
		{"country", Upper(Col("country"))},
		{"half", Div(Col("amount"), Lit(2))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if op.Kind() != "select" || len(op.Arrangements()) != 0 {
		t.Fatalf("kind %s, %d arrangements", op.Kind(), len(op.Arrangements()))
	}
	if got := op.Schema().Names(); !slices.Equal(got, []string{"country", "half"}) || op.Schema()[1].Type != kFloat {
		t.Fatalf("schema %v", op.Schema())
	}
	if d := op.Describe(); d != `select(country=upper(country), half=(amount / 2))` {
		t.Fatalf("Describe %q", d)
	}
	expect(t, "insert", step(t, op, 1, []differential.Update{order(10, 1, 5, "fr", 1), order(11, 2, 8, "de", 2)}),
		`10:"FR",2.5 +1`, `11:"DE",4.0 +2`)
	expect(t, "retract", step(t, op, 2, []differential.Update{order(10, 1, 5, "fr", -1)}), `10:"FR",2.5 -1`)
	expect(t, "nothing", step(t, op, 3, nil))
}

func TestWithColumnsStep(t *testing.T) {
	op, err := NewWithColumns("wc", ordersSchema, []Output{
		{"big", Gt(Col("amount"), Lit(6))},
		{"amount", Mul(Col("amount"), Lit(10))},
		{"old", Col("amount")},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := differential.Schema{{Name: "id", Type: kInt}, {Name: "amount", Type: kInt}, {Name: "country", Type: kStr}, {Name: "big", Type: kBool}, {Name: "old", Type: kInt}}
	if !slices.Equal(op.Schema(), want) {
		t.Fatalf("schema %v, want %v", op.Schema(), want)
	}
	expect(t, "insert and retract", step(t, op, 1, []differential.Update{order(10, 1, 5, "fr", 1), order(11, 2, 8, "de", -1)}),
		`10:1,50,"fr",false,5 +1`, `11:2,80,"de",true,8 -1`)
}

func TestFilterStep(t *testing.T) {
	op, err := NewFilter("f", ordersSchema, And(Gt(Col("amount"), Lit(0)), Ne(Col("country"), Lit("xx"))))
	if err != nil {
		t.Fatal(err)
	}
	in := []differential.Update{
		order(1, 1, 5, "fr", 1),
		order(2, 2, -5, "fr", 1),
		order(3, 3, 5, "xx", 1),
		order(4, 4, 7, "de", -1),
		{Key: 5, Row: differential.Row{vi(5), vnull, vs("fr")}, Diff: 1}, // null condition: dropped
	}
	expect(t, "filter", step(t, op, 1, in), `1:1,5,"fr" +1`, `4:4,7,"de" -1`)
	if _, err := NewFilter("f", ordersSchema, Col("amount")); err == nil || !strings.Contains(err.Error(), `filter "f": the condition amount is int, want bool`) {
		t.Fatalf("int condition: %v", err)
	}
	if _, err := NewFilter("f", ordersSchema, nil); err == nil {
		t.Fatal("nil condition: no error")
	}
}

func TestRenameStep(t *testing.T) {
	op, err := NewRename("r", ordersSchema, map[string]string{"amount": "cents", "id": "order_id"})
	if err != nil {
		t.Fatal(err)
	}
	if got := op.Schema().Names(); !slices.Equal(got, []string{"order_id", "cents", "country"}) {
		t.Fatalf("names %v", got)
	}
	expect(t, "rows", step(t, op, 1, []differential.Update{order(7, 1, 5, "fr", -1)}), `7:1,5,"fr" -1`)
	for renames, want := range map[*map[string]string]string{
		{"nope": "x"}:                 `rename "r": no column "nope"`,
		{"amount": "country"}:         `rename "r": columns "amount" and "country" would both be named "country"`,
		{"amount": "x", "id": "x"}:    `would both be named "x"`,
		{"amount": ""}:                `renamed to an empty name`,
		{"amount": "id", "id": "amt"}: ``,
	} {
		_, err := NewRename("r", ordersSchema, *renames)
		if (want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), want) {
			t.Errorf("rename %v: %v, want %q", *renames, err, want)
		}
	}
}

func TestRowOpBuildErrors(t *testing.T) {
	if _, err := NewSelect("s", ordersSchema, nil); err == nil {
		t.Error("select without outputs: no error")
	}
	_, err := NewSelect("s", ordersSchema, []Output{{"x", Add(Col("country"), Lit(1))}})
	if err == nil || err.Error() != `select "s": column "x": (country + 1): operands are str and int, want int or float` {
		t.Errorf("select type error: %v", err)
	}
	_, err = NewWithColumns("w", ordersSchema, []Output{{"x", Lit(1)}, {"x", Lit(2)}})
	if err == nil || !strings.Contains(err.Error(), `output column name "x" is empty or repeated`) {
		t.Errorf("repeated output: %v", err)
	}
}

func TestUnionStep(t *testing.T) {
	op, err := NewUnion("u", []differential.Schema{ordersSchema, ordersSchema, ordersSchema})
	if err != nil {
		t.Fatal(err)
	}
	a := []differential.Update{order(1, 1, 5, "fr", 1)}
	b := []differential.Update{order(1, 1, 5, "fr", 1), order(2, 2, 6, "de", -1)}
	out, err := op.Step(1, [][]differential.Update{a, b, nil})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 {
		t.Fatalf("%d outputs, want 3", len(out))
	}
	keys := map[differential.Key]bool{}
	for _, u := range out {
		keys[u.Key] = true
	}
	if len(keys) != 3 {
		t.Fatalf("equal input keys of two inputs share an output key: %v", out)
	}
	h := differential.NewHasher("u")
	h.Uint64(1)
	h.Uint64(2)
	if out2, _ := op.Step(2, [][]differential.Update{nil, {order(2, 2, 6, "de", 1)}, nil}); len(out2) != 1 || out2[0].Key != h.Key() || out2[0].Diff != 1 {
		t.Fatalf("key of input 1's key 2: %v, want %d", out2, h.Key())
	}
	if _, err := NewUnion("u", []differential.Schema{ordersSchema}); err == nil {
		t.Error("union of one table: no error")
	}
	other := slices.Clone(ordersSchema)
	other[1].Type = kFloat
	if _, err := NewUnion("u", []differential.Schema{ordersSchema, other}); err == nil || !strings.Contains(err.Error(), "column 1 of table 1 is amount:float, of table 0 amount:int") {
		t.Errorf("union of other types: %v", err)
	}
	if _, err := NewUnion("u", []differential.Schema{ordersSchema, ordersSchema[:2]}); err == nil {
		t.Error("union of other widths: no error")
	}
}

// counter is a UDF that counts its calls.
type counter struct {
	calls map[string]int
	fn    func(args []differential.Value) (differential.Value, error)
}

func (c *counter) call(args []differential.Value) (differential.Value, error) {
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[formatValues(args)]++
	return c.fn(args)
}

func (c *counter) total() int {
	n := 0
	for _, k := range c.calls {
		n += k
	}
	return n
}

// restart returns a new operator built by build whose arrangements hold
// what op's do, as the engine gives them back after a restart.
func restart(t *testing.T, op Operator, build func() Operator) Operator {
	t.Helper()
	next := build()
	old, now := op.Arrangements(), next.Arrangements()
	if len(old) != len(now) {
		t.Fatalf("%d arrangements, then %d", len(old), len(now))
	}
	for i, a := range old {
		d, err := a.Full()
		if err != nil {
			t.Fatal(err)
		}
		if err := now[i].Apply(d); err != nil {
			t.Fatal(err)
		}
	}
	return next
}

func TestCachedUDF(t *testing.T) {
	c := &counter{fn: func(a []differential.Value) (differential.Value, error) {
		return differential.String(strings.Repeat(a[0].AsString(), 2)), nil
	}}
	dbl := NewUDF("double", kStr, c.call, UDFOptions{Cache: true})
	build := func() Operator {
		op, err := NewWithColumns("wc", ordersSchema, []Output{{"cc", dbl.Call(Col("country"))}, {"again", dbl.Call(Col("country"))}})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	op := build()
	arrs := op.Arrangements()
	if len(arrs) != 1 || arrs[0].Name() != "udf_cache:double" {
		t.Fatalf("arrangements %v", arrs)
	}
	if d := op.Describe(); !strings.HasSuffix(d, "udfs(double -> str, cached)") {
		t.Fatalf("Describe %q", d)
	}
	expect(t, "first", step(t, op, 1, []differential.Update{order(1, 1, 5, "fr", 1), order(2, 2, 6, "fr", 1), order(3, 3, 6, "de", 1)}),
		`1:1,5,"fr","frfr","frfr" +1`, `2:2,6,"fr","frfr","frfr" +1`, `3:3,6,"de","dede","dede" +1`)
	if c.total() != 2 {
		t.Fatalf("%d calls for two distinct arguments: %v", c.total(), c.calls)
	}
	if n := arrs[0].Len(); n != 2 {
		t.Fatalf("cache holds %d entries, want 2", n)
	}
	// A retraction reads the cache; a restart keeps it.
	op = restart(t, op, build)
	expect(t, "after a restart", step(t, op, 2, []differential.Update{order(1, 1, 5, "fr", -1), order(4, 4, 1, "it", 1)}),
		`1:1,5,"fr","frfr","frfr" -1`, `4:4,1,"it","itit","itit" +1`)
	if c.total() != 3 || c.calls[`"it"`] != 1 {
		t.Fatalf("calls %v, want one each", c.calls)
	}
	if n := op.Arrangements()[0].Len(); n != 3 {
		t.Fatalf("cache holds %d entries, want 3 (never retracted)", n)
	}
}

func TestNonDeterministicUDFRetraction(t *testing.T) {
	n := int64(0)
	c := &counter{fn: func([]differential.Value) (differential.Value, error) {
		n++
		return differential.Int(n), nil
	}}
	seq := NewUDF("seq", kInt, c.call)
	build := func() Operator {
		op, err := NewSelect("sel", ordersSchema, []Output{{"id", Col("id")}, {"n", seq.Call(Col("id"))}})
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	op := build()
	if arrs := op.Arrangements(); len(arrs) != 1 || arrs[0].Name() != "udf_results" {
		t.Fatalf("arrangements %v", arrs)
	}
	expect(t, "insert", step(t, op, 1, []differential.Update{order(1, 1, 5, "fr", 2), order(2, 2, 5, "fr", 1)}),
		`1:1,1 +2`, `2:2,2 +1`)
	op = restart(t, op, build)
	// Retracting calls nothing and retracts what was emitted; the same row
	// inserted again gets a new result.
	expect(t, "retract", step(t, op, 2, []differential.Update{order(1, 1, 5, "fr", -1), order(2, 2, 5, "fr", -1)}),
		`1:1,1 -1`, `2:2,2 -1`)
	if c.total() != 2 {
		t.Fatalf("%d calls, want 2", c.total())
	}
	expect(t, "insert again", step(t, op, 3, []differential.Update{order(2, 2, 5, "fr", 1)}), `2:2,3 +1`)
	expect(t, "retract the rest", step(t, op, 4, []differential.Update{order(1, 1, 5, "fr", -1), order(2, 2, 5, "fr", -1)}),
		`1:1,1 -1`, `2:2,3 -1`)
	// A retraction of a row never inserted emits nothing.
	expect(t, "unknown", step(t, op, 5, []differential.Update{order(9, 9, 5, "fr", -1)}))
	if n := op.Arrangements()[0].Len(); n != 0 {
		t.Fatalf("udf_results holds %d entries after every row left", n)
	}
}

func TestNonDeterministicUDFFilter(t *testing.T) {
	keep := false
	flip := NewUDF("flip", kBool, func([]differential.Value) (differential.Value, error) {
		keep = !keep
		return differential.Bool(keep), nil
	})
	op, err := NewFilter("f", ordersSchema, flip.Call())
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "insert", step(t, op, 1, []differential.Update{order(1, 1, 5, "fr", 1), order(2, 2, 5, "fr", 1)}), `1:1,5,"fr" +1`)
	expect(t, "retract", step(t, op, 2, []differential.Update{order(1, 1, 5, "fr", -1), order(2, 2, 5, "fr", -1)}), `1:1,5,"fr" -1`)
}

func TestDeterministicUDFIsStateless(t *testing.T) {
	c := &counter{fn: func(a []differential.Value) (differential.Value, error) {
		if a[0].IsNull() {
			return differential.Null(), nil
		}
		return differential.Int(a[0].AsInt() + 1), nil
	}}
	inc := NewUDF("inc", kInt, c.call, UDFOptions{Deterministic: true})
	op, err := NewSelect("s", ordersSchema, []Output{{"x", inc.Call(Col("amount"))}})
	if err != nil {
		t.Fatal(err)
	}
	if len(op.Arrangements()) != 0 {
		t.Fatal("a deterministic uncached UDF has state")
	}
	expect(t, "both ways", step(t, op, 1, []differential.Update{order(1, 1, 5, "fr", 1), order(2, 2, 6, "fr", -1)}), `1:6 +1`, `2:7 -1`)
	if c.total() != 2 {
		t.Fatalf("%d calls", c.total())
	}
}

// TestUDFErrors: an error, a panic or a result of the wrong kind fails
// the step, naming the operator, the function and the arguments.
func TestUDFErrors(t *testing.T) {
	cases := []struct {
		fn   func([]differential.Value) (differential.Value, error)
		want string
	}{
		{func([]differential.Value) (differential.Value, error) { return differential.Null(), errors.New("boom") },
			`select "s": udf f(5, "fr"): boom`},
		{func([]differential.Value) (differential.Value, error) { panic("oops") },
			`select "s": udf f(5, "fr") panicked: oops`},
		{func([]differential.Value) (differential.Value, error) { return differential.String("x"), nil },
			`select "s": udf f(5, "fr") returned "x", a str, want a int or null`},
	}
	for _, c := range cases {
		for _, opts := range []UDFOptions{{}, {Deterministic: true}, {Cache: true}} {
			f := NewUDF("f", kInt, c.fn, opts)
			op, err := NewSelect("s", ordersSchema, []Output{{"x", f.Call(Col("amount"), Col("country"))}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = op.Step(1, [][]differential.Update{{order(1, 1, 5, "fr", 1)}})
			if err == nil || err.Error() != c.want {
				t.Errorf("%+v: error %v, want %q", opts, err, c.want)
			}
			if v, err := Eval(f.Call(Lit(5), Lit("fr")), ordersSchema, differential.Row{vi(1), vi(2), vs("x")}); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(c.want, `select "s": `)) {
				t.Errorf("Eval: %v, %v", v, err)
			}
		}
	}
	// A null result is allowed.
	f := NewUDF("f", kInt, func([]differential.Value) (differential.Value, error) { return differential.Null(), nil })
	if v, err := Eval(f.Call(), ordersSchema, differential.Row{vi(1), vi(2), vs("x")}); err != nil || !v.IsNull() {
		t.Errorf("null result: %v %v", v, err)
	}
}

func TestUDFBuildErrors(t *testing.T) {
	id := func(a []differential.Value) (differential.Value, error) { return a[0], nil }
	f1, f2 := NewUDF("f", kInt, id), NewUDF("f", kInt, id)
	_, err := NewSelect("s", ordersSchema, []Output{{"a", f1.Call(Col("id"))}, {"b", f2.Call(Col("id"))}})
	if err == nil || !strings.Contains(err.Error(), `two different UDFs named "f" in one operator`) {
		t.Errorf("two UDFs of one name: %v", err)
	}
	_, err = NewReduce("r", ordersSchema, []string{"country"}, []Output{{"x", f1.Call(Count())}})
	if err == nil || !strings.Contains(err.Error(), "udf f(count()) is only allowed in Select, WithColumns and Filter") {
		t.Errorf("UDF in a reduce: %v", err)
	}
	for _, u := range []*UDF{NewUDF("", kInt, id), NewUDF("a/b", kInt, id), NewUDF("g", kInt, nil), NewUDF("g", differential.KindNull, id), nil} {
		if _, err := NewSelect("s", ordersSchema, []Output{{"x", u.Call(Col("id"))}}); err == nil {
			t.Errorf("UDF %+v: no error", u)
		}
	}
	_, err = NewSelect("s", ordersSchema, []Output{{"x", f1.Call(Col("nope"))}})
	if err == nil || !strings.Contains(err.Error(), `no column "nope"`) {
		t.Errorf("bad argument: %v", err)
	}
}
