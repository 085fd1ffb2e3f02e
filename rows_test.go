package pwlog_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/tool"
)

var ordersSchema = pwlog.Schema{
	{Name: "order_id", Type: pwlog.TypeInt},
	{Name: "customer", Type: pwlog.TypeStr},
	{Name: "amount", Type: pwlog.TypeInt},
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rowsPipeline reads orders, keeps the positive amounts, computes a
// label and the amount in tens, and keeps three columns.
func rowsPipeline(input, output string) *pwlog.Pipeline {
	p := pwlog.New()
	p.ReadCSV("orders", input, ordersSchema).
		Filter("positive", pwlog.Gt(pwlog.Col("amount"), pwlog.Lit(0))).
		WithColumns("computed",
			pwlog.Out("label", pwlog.Concat(pwlog.Upper(pwlog.Col("customer")), pwlog.Lit("-"), pwlog.Cast(pwlog.TypeStr, pwlog.Col("order_id")))),
			pwlog.Out("tens", pwlog.FloorDiv(pwlog.Col("amount"), pwlog.Lit(10))),
			pwlog.Out("big", pwlog.If(pwlog.Ge(pwlog.Col("amount"), pwlog.Lit(100)), pwlog.Lit("big"), pwlog.Lit("small")))).
		Select("shown", pwlog.Out("label", pwlog.Col("label")), pwlog.Out("tens", pwlog.Col("tens")), pwlog.Out("size", pwlog.Col("big"))).
		WriteCSV("out", output)
	return p
}

// TestRowOperatorsRerun: a pipeline of row operators run twice over a
// storage emits on the second run only the rows of the file added.
func TestRowOperatorsRerun(t *testing.T) {
	dir := t.TempDir()
	input, storage, output := filepath.Join(dir, "in"), filepath.Join(dir, "st"), filepath.Join(dir, "out.csv")
	writeFile(t, filepath.Join(input, "a.csv"), "order_id,customer,amount\n1,ann,150\n2,bob,-5\n3,cy,42\n")
	if err := rowsPipeline(input, output).Run(t.Context(), quietConfig(storage)); err != nil {
		t.Fatal(err)
	}
	first := readSink(t, output)
	if got, want := signed(first), []string{`+"ANN-1",15,"big"`, `+"CY-3",4,"small"`}; !slices.Equal(got, want) {
		t.Fatalf("first run emitted %v, want %v", got, want)
	}
	writeFile(t, filepath.Join(input, "b.csv"), "order_id,customer,amount\n4,dee,0\n5,eve,-17\n6,fay,1000\n")
	if err := rowsPipeline(input, output).Run(t.Context(), quietConfig(storage)); err != nil {
		t.Fatal(err)
	}
	second := readSink(t, output)
	if got, want := signed(second), []string{`+"FAY-6",100,"big"`}; !slices.Equal(got, want) {
		t.Fatalf("second run emitted %v, want %v", got, want)
	}
	if second[0].time <= first[0].time {
		t.Fatalf("second run's time %d is not after the first's %d", second[0].time, first[0].time)
	}
	// Nothing new: nothing emitted.
	if err := rowsPipeline(input, output).Run(t.Context(), quietConfig(storage)); err != nil {
		t.Fatal(err)
	}
	if got := readSink(t, output); len(got) != 0 {
		t.Fatalf("a run without new input emitted %v", got)
	}
}

// TestUnionOfTwoSources: the union holds the rows of both sources, and a
// rerun adds only the new ones, with a retracting source's rewritten file
// retracted.
func TestUnionOfTwoSources(t *testing.T) {
	dir := t.TempDir()
	inA, inB, storage, output := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "st"), filepath.Join(dir, "out.csv")
	build := func() *pwlog.Pipeline {
		p := pwlog.New()
		a := p.ReadCSV("a", inA, ordersSchema)
		b := p.ReadCSV("b", inB, ordersSchema, pwlog.FileOptions{Retract: true})
		p.Union("both", a, b).WriteCSV("out", output)
		return p
	}
	// The same row in both sources is two rows of the union.
	writeFile(t, filepath.Join(inA, "1.csv"), "order_id,customer,amount\n1,ann,10\n2,bob,20\n")
	writeFile(t, filepath.Join(inB, "1.csv"), "order_id,customer,amount\n1,ann,10\n3,cy,30\n")
	if err := build().Run(t.Context(), quietConfig(storage)); err != nil {
		t.Fatal(err)
	}
	if got, want := signed(readSink(t, output)), []string{`+1,"ann",10`, `+1,"ann",10`, `+2,"bob",20`, `+3,"cy",30`}; !slices.Equal(got, want) {
		t.Fatalf("first run emitted %v, want %v", got, want)
	}
	writeFile(t, filepath.Join(inA, "2.csv"), "order_id,customer,amount\n4,dee,40\n")
	writeFile(t, filepath.Join(inB, "1.csv"), "order_id,customer,amount\n1,ann,10\n")
	if err := build().Run(t.Context(), quietConfig(storage)); err != nil {
		t.Fatal(err)
	}
	if got, want := consolidatedSigned(readSink(t, output)), []string{`3,"cy",30=-1`, `4,"dee",40=1`}; !slices.Equal(got, want) {
		t.Fatalf("second run emitted %v, want %v", got, want)
	}

	// Tables of other columns are refused, naming them.
	p := pwlog.New()
	a := p.ReadCSV("a", inA, ordersSchema)
	b := p.ReadCSV("b", inB, pwlog.Schema{{Name: "order_id", Type: pwlog.TypeInt}, {Name: "customer", Type: pwlog.TypeStr}, {Name: "amount", Type: pwlog.TypeFloat}})
	p.Union("both", a, b).WriteCSV("out", output)
	err := p.Run(t.Context(), quietConfig(""))
	if err == nil || !strings.Contains(err.Error(), `union "both": column 2 of table 1 is amount:float, of table 0 amount:int`) {
		t.Fatalf("union of other types: %v", err)
	}
}

// callCounter counts a UDF's calls by argument.
type callCounter struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *callCounter) add(s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[s]++
}

func (c *callCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.calls
	c.calls = nil
	return m
}

// TestCachedUDFAcrossRuns: a cached UDF is called once per distinct
// argument over every run of the storage: not again on a rerun, after a
// restart, nor when a rewritten file retracts rows; pwlog inspect shows
// the cache.
func TestCachedUDFAcrossRuns(t *testing.T) {
	dir := t.TempDir()
	input, storage, output := filepath.Join(dir, "in"), filepath.Join(dir, "st"), filepath.Join(dir, "out.csv")
	var cc callCounter
	build := func() *pwlog.Pipeline {
		greet := pwlog.UDF("greet", pwlog.TypeStr, func(args []pwlog.Value) (pwlog.Value, error) {
			cc.add(args[0].AsString())
			return differential.String("hi " + args[0].AsString()), nil
		}, pwlog.UDFOptions{Cache: true, Deterministic: true})
		p := pwlog.New()
		p.ReadCSV("orders", input, ordersSchema, pwlog.FileOptions{Retract: true}).
			Select("greeted", pwlog.Out("order_id", pwlog.Col("order_id")), pwlog.Out("greeting", greet.Call(pwlog.Col("customer")))).
			WriteCSV("out", output)
		return p
	}
	writeFile(t, filepath.Join(input, "a.csv"), "order_id,customer,amount\n1,ann,1\n2,bob,2\n3,ann,3\n")
	if err := build().Run(t.Context(), quietConfig(storage)); err != nil {
		t.Fatal(err)
	}
	if got := cc.take(); len(got) != 2 || got["ann"] != 1 || got["bob"] != 1 {
		t.Fatalf("first run's calls %v, want ann and bob once", got)
	}
	if got, want := signed(readSink(t, output)), []string{`+1,"hi ann"`, `+2,"hi bob"`, `+3,"hi ann"`}; !slices.Equal(got, want) {
		t.Fatalf("first run emitted %v, want %v", got, want)
	}
	// A new file with a seen and a new customer; a.csv rewritten without
	// its last row, which is retracted: a seen customer.
	writeFile(t, filepath.Join(input, "b.csv"), "order_id,customer,amount\n4,bob,4\n5,cy,5\n")
	writeFile(t, filepath.Join(input, "a.csv"), "order_id,customer,amount\n1,ann,1\n2,bob,2\n")
	if err := build().Run(t.Context(), quietConfig(storage)); err != nil {
		t.Fatal(err)
	}
	if got := cc.take(); len(got) != 1 || got["cy"] != 1 {
		t.Fatalf("second run's calls %v, want cy once", got)
	}
	if got, want := consolidatedSigned(readSink(t, output)), []string{`3,"hi ann"=-1`, `4,"hi bob"=1`, `5,"hi cy"=1`}; !slices.Equal(got, want) {
		t.Fatalf("second run emitted %v, want %v", got, want)
	}
	info, err := tool.Inspect(t.Context(), storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.UDFCaches) != 1 {
		t.Fatalf("inspect: UDF caches %+v, want one", info.UDFCaches)
	}
	c := info.UDFCaches[0]
	if c.Operator != "greeted" || c.Function != "greet" || c.Entries != 3 || c.Bytes <= 0 {
		t.Fatalf("inspect: UDF cache %+v, want greeted/greet with 3 entries", c)
	}
	// Compacted into the checkpoint, the cache still answers.
	if _, err := tool.Compact(t.Context(), storage, nil); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(input, "c.csv"), "order_id,customer,amount\n6,cy,6\n7,ann,7\n")
	if err := build().Run(t.Context(), quietConfig(storage)); err != nil {
		t.Fatal(err)
	}
	if got := cc.take(); len(got) != 0 {
		t.Fatalf("after compaction, calls %v, want none", got)
	}
	if got, want := signed(readSink(t, output)), []string{`+6,"hi cy"`, `+7,"hi ann"`}; !slices.Equal(got, want) {
		t.Fatalf("third run emitted %v, want %v", got, want)
	}
	info, err = tool.Inspect(t.Context(), storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.UDFCaches) != 1 || info.UDFCaches[0].Entries != 3 {
		t.Fatalf("inspect after compaction: %+v", info.UDFCaches)
	}
}

// TestNonDeterministicUDFRetraction: a non-deterministic UDF's rows are
// retracted exactly as they were emitted, without calling it again, when
// a rewritten file retracts them; a row not retracted keeps its result.
func TestNonDeterministicUDFRetraction(t *testing.T) {
	dir := t.TempDir()
	input, storage, output := filepath.Join(dir, "in"), filepath.Join(dir, "st"), filepath.Join(dir, "out.csv")
	var cc callCounter
	var mu sync.Mutex
	n := int64(100)
	build := func() *pwlog.Pipeline {
		ticket := pwlog.UDF("ticket", pwlog.TypeInt, func(args []pwlog.Value) (pwlog.Value, error) {
			cc.add(args[0].AsString())
			mu.Lock()
			defer mu.Unlock()
			n++
			return differential.Int(n), nil
		})
		p := pwlog.New()
		p.ReadCSV("orders", input, ordersSchema, pwlog.FileOptions{Retract: true}).
			WithColumns("ticketed", pwlog.Out("ticket", ticket.Call(pwlog.Col("customer")))).
			WriteCSV("out", output)
		return p
	}
	writeFile(t, filepath.Join(input, "a.csv"), "order_id,customer,amount\n1,ann,1\n2,bob,2\n")
	if err := build().Run(t.Context(), quietConfig(storage)); err != nil {
		t.Fatal(err)
	}
	first := signed(readSink(t, output))
	if len(first) != 2 || len(cc.take()) != 2 {
		t.Fatalf("first run emitted %v", first)
	}
	writeFile(t, filepath.Join(input, "a.csv"), "order_id,customer,amount\n1,ann,1\n3,cy,3\n")
	if err := build().Run(t.Context(), quietConfig(storage)); err != nil {
		t.Fatal(err)
	}
	// The source retracts bob's row and inserts cy's (ann's is unchanged).
	if got := cc.take(); len(got) != 1 || got["cy"] != 1 {
		t.Fatalf("second run's calls %v, want cy once", got)
	}
	var bob string
	for _, s := range first {
		if strings.Contains(s, `"bob"`) {
			bob = s
		}
	}
	second := signed(readSink(t, output))
	if len(second) != 2 || second[0][0] != '+' || !strings.HasPrefix(second[0], `+3,"cy",3,`) || second[1] != "-"+bob[1:] {
		t.Fatalf("second run emitted %v, want cy's row inserted and bob's retracted exactly as emitted: %s", second, bob)
	}
	if slices.Contains(first, second[0]) {
		t.Fatalf("cy got a ticket of the first run: %v, %v", second, first)
	}
}

// TestUDFErrorFailsTheRun: a UDF's error and panic stop the run with an
// error naming the operator, the function and the arguments; nothing is
// committed.
func TestUDFErrorFailsTheRun(t *testing.T) {
	dir := t.TempDir()
	input, storage, output := filepath.Join(dir, "in"), filepath.Join(dir, "st"), filepath.Join(dir, "out.csv")
	writeFile(t, filepath.Join(input, "a.csv"), "order_id,customer,amount\n1,ann,1\n")
	for _, fn := range []func([]pwlog.Value) (pwlog.Value, error){
		func([]pwlog.Value) (pwlog.Value, error) { return pwlog.Value{}, errors.New("no service") },
		func([]pwlog.Value) (pwlog.Value, error) { panic("bad state") },
	} {
		p := pwlog.New()
		bad := pwlog.UDF("lookup", pwlog.TypeStr, fn, pwlog.UDFOptions{Cache: true})
		p.ReadCSV("orders", input, ordersSchema).
			Filter("f", pwlog.IsNotNull(bad.Call(pwlog.Col("customer"), pwlog.Col("amount")))).
			WriteCSV("out", output)
		err := p.Run(t.Context(), quietConfig(storage))
		if err == nil || !strings.Contains(err.Error(), `filter "f": udf lookup("ann", 1)`) {
			t.Fatalf("run: %v, want an error naming the filter, the UDF and its arguments", err)
		}
	}
	info, err := tool.Inspect(t.Context(), storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Clock != 0 || len(info.UDFCaches) != 0 {
		t.Fatalf("a failed run committed: clock %d, caches %+v", info.Clock, info.UDFCaches)
	}
}

// TestRowBuilderErrors: build errors name the operator, the column and
// the problem, and Run returns them before reading anything.
func TestRowBuilderErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		build func(p *pwlog.Pipeline, t *pwlog.Table)
		want  string
	}{
		{func(p *pwlog.Pipeline, t *pwlog.Table) {
			t.Select("s", pwlog.Out("x", pwlog.Add(pwlog.Col("customer"), pwlog.Lit(1))))
		}, `select "s": column "x": (customer + 1): operands are str and int, want int or float`},
		{func(p *pwlog.Pipeline, t *pwlog.Table) { t.Filter("f", pwlog.Col("amount")) },
			`filter "f": the condition amount is int, want bool`},
		{func(p *pwlog.Pipeline, t *pwlog.Table) { t.Rename("r", map[string]string{"nope": "x"}) },
			`rename "r": no column "nope"`},
		{func(p *pwlog.Pipeline, t *pwlog.Table) {
			t.WithColumns("w", pwlog.Out("y", pwlog.Col("zz")))
		}, `with_columns "w": column "y": no column "zz"`},
		{func(p *pwlog.Pipeline, t *pwlog.Table) { p.Union("u", t) }, `union "u": 1 tables, want two or more`},
		{func(p *pwlog.Pipeline, t *pwlog.Table) { t.Select("orders", pwlog.Out("x", pwlog.Col("amount"))) },
			`name "orders" is used twice`},
		{func(p *pwlog.Pipeline, t *pwlog.Table) {
			t.Filter("f", pwlog.Lt(pwlog.Col("nope"), pwlog.Lit(1))).Select("s", pwlog.Out("x", pwlog.Lit(1)))
		}, `filter "f": no column "nope"`},
	}
	for _, c := range cases {
		p := pwlog.New()
		c.build(p, p.ReadCSV("orders", dir, ordersSchema))
		err := p.Run(t.Context(), quietConfig(""))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one containing %q", err, c.want)
		}
	}
}

// TestRenameThenSink: Rename keeps the rows and renames the columns the
// sink writes.
func TestRenameThenSink(t *testing.T) {
	dir := t.TempDir()
	input, output := filepath.Join(dir, "in"), filepath.Join(dir, "out.csv")
	writeFile(t, filepath.Join(input, "a.csv"), "order_id,customer,amount\n1,ann,5\n")
	p := pwlog.New()
	p.ReadCSV("orders", input, ordersSchema).Rename("renamed", map[string]string{"amount": "cents"}).WriteCSV("out", output)
	if err := p.Run(t.Context(), quietConfig("")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.SplitN(string(b), "\n", 2)[0], "order_id,customer,cents,time,diff"; got != want {
		t.Fatalf("header %q, want %q", got, want)
	}
	if got := signed(readSink(t, output)); !slices.Equal(got, []string{`+1,"ann",5`}) {
		t.Fatalf("rows %v", got)
	}
}

// Row operators and a cached user-defined function: the second run calls
// the function only for the country it has not seen.
func ExampleTable_WithColumns() {
	dir, _ := os.MkdirTemp("", "pwlog-rows")
	defer os.RemoveAll(dir)
	input, output := filepath.Join(dir, "orders"), filepath.Join(dir, "out.csv")
	os.Mkdir(input, 0o755)
	calls := 0
	// An expensive lookup, cached in the storage.
	region := pwlog.UDF("region", pwlog.TypeStr, func(args []pwlog.Value) (pwlog.Value, error) {
		calls++
		if args[0].AsString() == "us" {
			return differential.String("americas"), nil
		}
		return differential.String("europe"), nil
	}, pwlog.UDFOptions{Deterministic: true, Cache: true})

	run := func() {
		p := pwlog.New()
		p.ReadCSV("orders", input, pwlog.Schema{
			{Name: "order_id", Type: pwlog.TypeInt},
			{Name: "country", Type: pwlog.TypeStr},
			{Name: "cents", Type: pwlog.TypeInt},
		}).
			Filter("paid", pwlog.Gt(pwlog.Col("cents"), pwlog.Lit(0))).
			WithColumns("enriched",
				pwlog.Out("region", region.Call(pwlog.Col("country"))),
				pwlog.Out("dollars", pwlog.FloorDiv(pwlog.Col("cents"), pwlog.Lit(100)))).
			Select("shown", pwlog.Out("order_id", pwlog.Col("order_id")), pwlog.Out("region", pwlog.Col("region")), pwlog.Out("dollars", pwlog.Col("dollars"))).
			WriteCSV("out", output)
		err := p.Run(context.Background(), pwlog.Config{
			Backend: pwlog.Filesystem(filepath.Join(dir, "storage")),
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		printWithoutTime(output)
		fmt.Println("calls so far:", calls)
	}
	os.WriteFile(filepath.Join(input, "1.csv"), []byte("order_id,country,cents\n1,fr,1250\n2,us,0\n3,de,990\n"), 0o644)
	run()
	os.WriteFile(filepath.Join(input, "2.csv"), []byte("order_id,country,cents\n4,fr,300\n5,us,4200\n"), 0o644)
	run()
	// Output:
	// order_id,region,dollars,diff
	// 1,"europe",12,1
	// 3,"europe",9,1
	// calls so far: 2
	// order_id,region,dollars,diff
	// 4,"europe",3,1
	// 5,"americas",42,1
	// calls so far: 3
}
