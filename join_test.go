package pwlog_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/model"
)

// revenueOrder is one order of the revenue pipeline's input.
type revenueOrder struct {
	id, customer, amount, ts int64
}

// revenuePipeline joins orders with customers (read retracting, so a
// rewritten customers file moves customers), assigns orders to tumbling
// windows of width window and reduces per (country, window).
func revenuePipeline(orders, customers, output string, window int64) *pwlog.Pipeline {
	p := pwlog.New()
	o := p.ReadCSV("orders", orders, pwlog.Schema{
		{Name: "order_id", Type: pwlog.TypeInt},
		{Name: "customer_id", Type: pwlog.TypeInt},
		{Name: "amount_cents", Type: pwlog.TypeInt},
		{Name: "ts", Type: pwlog.TypeInt},
	})
	c := p.ReadCSV("customers", customers, pwlog.Schema{
		{Name: "customer_id", Type: pwlog.TypeInt},
		{Name: "country", Type: pwlog.TypeStr},
	}, pwlog.FileOptions{Retract: true})
	o.Join("with_country", c, pwlog.JoinInner, pwlog.On("customer_id", "customer_id")).
		WindowBy("by_window", pwlog.Tumbling{Time: "ts", Duration: window, Instance: []string{"country"}}).
		Reduce("revenue",
			pwlog.Out("country", pwlog.Col("country")),
			pwlog.Out("window_start", pwlog.Col("_pw_window_start")),
			pwlog.Out("orders", pwlog.Count()),
			pwlog.Out("revenue_cents", pwlog.Sum("amount_cents")),
			pwlog.Out("max_cents", pwlog.Max("amount_cents"))).
		WriteCSV("output", output)
	return p
}

// modelRevenue computes the revenue rows from scratch, as the sink writes
// them (without time and diff).
func modelRevenue(orders []revenueOrder, customers map[int64]string, window int64) []string {
	type group struct {
		country string
		start   int64
	}
	type agg struct{ n, sum, max int64 }
	by := map[group]*agg{}
	for _, o := range orders {
		country, ok := customers[o.customer]
		if !ok {
			continue
		}
		start := o.ts - ((o.ts%window)+window)%window
		g := group{country, start}
		a := by[g]
		if a == nil {
			a = &agg{max: o.amount}
			by[g] = a
		}
		a.n++
		a.sum += o.amount
		a.max = max(a.max, o.amount)
	}
	var out []string
	for g, a := range by {
		out = append(out, fmt.Sprintf("%q,%d,%d,%d,%d", g.country, g.start, a.n, a.sum, a.max))
	}
	slices.Sort(out)
	return out
}

func writeOrders(t *testing.T, path string, orders []revenueOrder) {
	t.Helper()
	var b strings.Builder
	b.WriteString("order_id,customer_id,amount_cents,ts\n")
	for _, o := range orders {
		fmt.Fprintf(&b, "%d,%d,%d,%d\n", o.id, o.customer, o.amount, o.ts)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeCustomers(t *testing.T, path string, customers map[int64]string, ids []int64) {
	t.Helper()
	var b strings.Builder
	b.WriteString("customer_id,country\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "%d,%s\n", id, customers[id])
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestJoinWindowReduceRuns runs orders ⋈ customers, a tumbling window and
// a reduce over four runs with storage: orders added, a customer added,
// the customers file rewritten (a customer moved to another country, one
// removed), then nothing. Each run emits exactly the difference of the
// from-scratch results before and after it; the runs' outputs add up to
// what one run without storage over the final inputs gives. With tiny
// state, every commit is checkpointed and the join's groups are read
// back from the checkpoint.
func TestJoinWindowReduceRuns(t *testing.T) {
	for _, tiny := range []bool{false, true} {
		t.Run(fmt.Sprintf("tiny=%v", tiny), func(t *testing.T) {
			const window = 100
			dir := t.TempDir()
			ordersDir, customersDir := filepath.Join(dir, "orders"), filepath.Join(dir, "customers")
			storage, output := filepath.Join(dir, "storage"), filepath.Join(dir, "out.csv")
			os.Mkdir(ordersDir, 0o755)
			os.Mkdir(customersDir, 0o755)
			rng := rand.New(rand.NewPCG(14, 1))
			var orders []revenueOrder
			addOrders := func(n int) []revenueOrder {
				var batch []revenueOrder
				for range n {
					o := revenueOrder{id: int64(len(orders) + 1), customer: int64(1 + rng.IntN(8)), amount: int64(1 + rng.IntN(1000)), ts: int64(rng.IntN(600) - 150)}
					orders = append(orders, o)
					batch = append(batch, o)
				}
				return batch
			}
			customers := map[int64]string{1: "fr", 2: "fr", 3: "de", 4: "it", 5: "de", 6: "fr"}
			var all []sinkLine
			run := func(step string, before []string) []string {
				t.Helper()
				cfg := quietConfig(storage)
				tinyState(&cfg, tiny)
				if err := revenuePipeline(ordersDir, customersDir, output, window).Run(t.Context(), cfg); err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				after := modelRevenue(orders, customers, window)
				got := readSink(t, output)
				all = append(all, got...)
				if want := model.Diff(before, after); !slices.Equal(signed(got), want) {
					t.Fatalf("%s: emitted\n%v\nwant\n%v", step, signed(got), want)
				}
				return after
			}

			writeOrders(t, filepath.Join(ordersDir, "a.csv"), addOrders(60))
			writeCustomers(t, filepath.Join(customersDir, "a.csv"), customers, []int64{1, 2, 3, 4, 5, 6})
			state := run("first run", nil)

			// New orders, and customer 7, who had orders already.
			writeOrders(t, filepath.Join(ordersDir, "b.csv"), addOrders(30))
			customers[7] = "es"
			writeCustomers(t, filepath.Join(customersDir, "b.csv"), customers, []int64{7})
			state = run("orders and a customer added", state)

			// Customer 2 moves from fr to de; customer 5 goes.
			customers[2] = "de"
			delete(customers, 5)
			writeCustomers(t, filepath.Join(customersDir, "a.csv"), customers, []int64{1, 2, 3, 4, 6})
			moved := modelRevenue(orders, customers, window)
			if d := model.Diff(state, moved); len(d) == 0 || !slices.ContainsFunc(d, func(s string) bool { return strings.HasPrefix(s, `+"de",`) }) {
				t.Fatalf("the rewrite moves nothing: %v", d)
			}
			state = run("customers rewritten", state)

			// Nothing new: nothing emitted.
			state = run("nothing new", state)

			// One run without storage over the final inputs.
			if err := revenuePipeline(ordersDir, customersDir, output, window).Run(t.Context(), quietConfig("")); err != nil {
				t.Fatal(err)
			}
			once := consolidated(t, readSink(t, output))
			if got := consolidated(t, all); !slices.Equal(got, once) || !slices.Equal(once, state) {
				t.Fatalf("the runs add up to\n%v\none run gives\n%v\nthe model\n%v", got, once, state)
			}
		})
	}
}

// TestJoinBuildErrors: a join, window or dedup misconfigured fails Run
// with an error naming the operator and the column.
func TestJoinBuildErrors(t *testing.T) {
	dir := t.TempDir()
	build := func(f func(p *pwlog.Pipeline, l, r *pwlog.Table)) error {
		p := pwlog.New()
		l := p.ReadCSV("l", dir, pwlog.Schema{{Name: "id", Type: pwlog.TypeInt}, {Name: "name", Type: pwlog.TypeStr}, {Name: "ts", Type: pwlog.TypeInt}})
		r := p.ReadCSV("r", dir, pwlog.Schema{{Name: "rid", Type: pwlog.TypeInt}, {Name: "name", Type: pwlog.TypeStr}})
		f(p, l, r)
		return p.Run(t.Context(), quietConfig(""))
	}
	for _, c := range []struct {
		f    func(p *pwlog.Pipeline, l, r *pwlog.Table)
		want string
	}{
		{func(p *pwlog.Pipeline, l, r *pwlog.Table) {
			l.Join("j", r, pwlog.JoinLeft, pwlog.On("id", "rid")).WriteCSV("out", "/dev/null")
		}, `join "j": column "name" is in both inputs`},
		{func(p *pwlog.Pipeline, l, r *pwlog.Table) {
			l.Join("j", r, pwlog.JoinLeft, pwlog.On("id", "name")).WriteCSV("out", "/dev/null")
		}, `join "j": join columns "id" (left, int) and "name" (right, str) have different types`},
		{func(p *pwlog.Pipeline, l, r *pwlog.Table) {
			l.Join("j", r, pwlog.JoinOuter).WriteCSV("out", "/dev/null")
		}, `join "j": no join columns`},
		{func(p *pwlog.Pipeline, l, r *pwlog.Table) {
			l.Join("j", nil, pwlog.JoinInner, pwlog.On("id", "rid"))
		}, `join "j": input 1 is not a table of this pipeline`},
		{func(p *pwlog.Pipeline, l, r *pwlog.Table) {
			l.Join("l", r, pwlog.JoinInner, pwlog.On("id", "rid"))
		}, `name "l" is used twice`},
		{func(p *pwlog.Pipeline, l, r *pwlog.Table) {
			l.WindowBy("w", pwlog.Sliding{Time: "ts", Duration: 10}).Reduce("red", pwlog.Out("n", pwlog.Count()))
		}, `sliding window "w": hop must be positive`},
		{func(p *pwlog.Pipeline, l, r *pwlog.Table) {
			l.WindowBy("w", pwlog.Tumbling{Time: "name", Duration: 10}).Reduce("red", pwlog.Out("n", pwlog.Count()))
		}, `tumbling window "w": time column "name" is str, want int`},
		{func(p *pwlog.Pipeline, l, r *pwlog.Table) {
			l.Deduplicate("d", pwlog.Dedup{Value: "nope", Acceptor: func(n, o pwlog.Value) bool { return true }})
		}, `deduplicate "d": no value column "nope"`},
	} {
		if err := build(c.f); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want one saying %q", err, c.want)
		}
	}
}

// TestSlidingWindowDedupPipeline runs a sliding window's counts and a
// deduplicated table through the engine, with a restart between two
// runs.
func TestSlidingWindowDedupPipeline(t *testing.T) {
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "in"), filepath.Join(dir, "storage")
	counts, kept := filepath.Join(dir, "counts.csv"), filepath.Join(dir, "kept.csv")
	os.Mkdir(input, 0o755)
	pipeline := func() *pwlog.Pipeline {
		p := pwlog.New()
		ev := p.ReadCSV("events", input, pwlog.Schema{{Name: "user", Type: pwlog.TypeStr}, {Name: "ts", Type: pwlog.TypeInt}})
		ev.WindowBy("slide", pwlog.Sliding{Time: "ts", Duration: 10, Hop: 5, Instance: []string{"user"}}).
			Reduce("per_window", pwlog.Out("user", pwlog.Col("user")), pwlog.Out("start", pwlog.Col("_pw_window_start")), pwlog.Out("n", pwlog.Count())).
			WriteCSV("counts", counts)
		ev.Deduplicate("latest", pwlog.Dedup{Value: "ts", Instance: []string{"user"}, Acceptor: func(n, o pwlog.Value) bool {
			return n.AsInt() > o.AsInt()
		}}).WriteCSV("kept", kept)
		return p
	}
	run := func() {
		t.Helper()
		if err := pipeline().Run(t.Context(), quietConfig(storage)); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(input, "a.csv"), []byte("user,ts\na,3\na,7\nb,-2\n"), 0o644)
	run()
	if got, want := signed(readSink(t, counts)), []string{`+"a",-5,1`, `+"a",0,2`, `+"a",5,1`, `+"b",-10,1`, `+"b",-5,1`}; !slices.Equal(got, want) {
		t.Fatalf("first run's counts %v, want %v", got, want)
	}
	if got, want := signed(readSink(t, kept)), []string{`+"a",7`, `+"b",-2`}; !slices.Equal(got, want) {
		t.Fatalf("first run's kept rows %v, want %v", got, want)
	}
	os.WriteFile(filepath.Join(input, "b.csv"), []byte("user,ts\na,5\nb,1\n"), 0o644)
	run()
	want := []string{`+"a",0,3`, `+"a",5,2`, `+"b",-5,2`, `+"b",0,1`, `-"a",0,2`, `-"a",5,1`, `-"b",-5,1`}
	if got := signed(readSink(t, counts)); !slices.Equal(got, want) {
		t.Fatalf("second run's counts %v, want %v", got, want)
	}
	if got, want := signed(readSink(t, kept)), []string{`+"b",1`, `-"b",-2`}; !slices.Equal(got, want) {
		t.Fatalf("second run's kept rows %v, want %v", got, want)
	}
}
