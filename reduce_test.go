package pwlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
)

var orderSchema = pwlog.Schema{
	{Name: "id", Type: pwlog.TypeInt},
	{Name: "cust", Type: pwlog.TypeStr},
	{Name: "product", Type: pwlog.TypeStr},
	{Name: "amount", Type: pwlog.TypeInt},
	{Name: "price", Type: pwlog.TypeFloat},
}

type order struct {
	id            int64
	cust, product string
	amount        int64
	price         float64
}

// orders returns the orders of ids from..to, deterministic.
func orders(from, to int64) []order {
	var out []order
	for id := from; id <= to; id++ {
		out = append(out, order{
			id:      id,
			cust:    []string{"ann", "bob", "cy"}[id*7%3],
			product: []string{"pen", "ink", "pad", "cap"}[id*5%4],
			amount:  id * 13 % 9,
			price:   float64(id*11%7) / 4,
		})
	}
	return out
}

func writeReduceOrders(t *testing.T, path string, os_ []order) {
	t.Helper()
	var b strings.Builder
	b.WriteString("id,cust,product,amount,price\n")
	for _, o := range os_ {
		fmt.Fprintf(&b, "%d,%s,%s,%d,%s\n", o.id, o.cust, o.product, o.amount, strconv.FormatFloat(o.price, 'g', -1, 64))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// orderPipeline: per customer, avg, count_distinct, argmax, tuple and
// sorted_tuple of the ids, count; the tuples flattened again. Both
// tables go to append-mode CSV sinks under out; fn subscribes to the
// reduce.
func orderPipeline(in, out string, fn func(uint64, []pwlog.Update) error) *pwlog.Pipeline {
	p := pwlog.New()
	src := p.ReadCSV("orders", in, orderSchema, pwlog.FileOptions{Retract: true})
	// Running aggregates.
	src.GroupBy("product").
		Reduce("per_product",
			pwlog.Out("product", pwlog.Col("product")),
			pwlog.Out("n", pwlog.Count()),
			pwlog.Out("amount", pwlog.Sum("amount")),
			pwlog.Out("avg_price", pwlog.Avg("price")),
		).
		WriteCSV("product_out", filepath.Join(out, "per_product.csv"), pwlog.SinkOptions{Append: true})
	per := src.
		GroupBy("cust").
		Reduce("per_cust",
			pwlog.Out("cust", pwlog.Col("cust")),
			pwlog.Out("avg_price", pwlog.Avg("price")),
			pwlog.Out("products", pwlog.CountDistinct("product")),
			pwlog.Out("top", pwlog.ArgMax("amount", "product")),
			pwlog.Out("ids", pwlog.Tuple("id")),
			pwlog.Out("sorted", pwlog.SortedTuple("id")),
			pwlog.Out("n", pwlog.Count()),
		)
	per.WriteCSV("out", filepath.Join(out, "per_cust.csv"), pwlog.SinkOptions{Append: true})
	per.Flatten("flat", "sorted").WriteCSV("flat_out", filepath.Join(out, "flat.csv"), pwlog.SinkOptions{Append: true})
	per.Subscribe("sub", fn)
	return p
}

// expectedPerCust computes the reduce's rows from scratch, as the CSV
// sink writes them, with the ids tuple left out (its order is the
// arrival's); and the flattened rows likewise.
func expectedPerCust(all []order) (rows, flat []string) {
	by := map[string][]order{}
	for _, o := range all {
		by[o.cust] = append(by[o.cust], o)
	}
	for cust, os_ := range by {
		var sum float64
		products := map[string]bool{}
		top := os_[0]
		var ids []string
		for _, o := range os_ {
			sum += o.price
			products[o.product] = true
			if o.amount > top.amount || o.amount == top.amount && o.product < top.product {
				top = o
			}
			ids = append(ids, strconv.FormatInt(o.id, 10))
		}
		slices.SortFunc(ids, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
		sorted := "(" + strings.Join(ids, ", ") + ")"
		if len(ids) == 1 {
			sorted = "(" + ids[0] + ",)"
		}
		avg := differential.Float(sum / float64(len(os_))).String()
		rows = append(rows, fmt.Sprintf(`"%s",%s,%d,"%s",*,"%s",%d`, cust, avg, len(products), top.product, sorted, len(os_)))
		for _, id := range ids {
			flat = append(flat, fmt.Sprintf(`"%s",%s,%d,"%s",*,%s,%d`, cust, avg, len(products), top.product, id, len(os_)))
		}
	}
	slices.Sort(rows)
	slices.Sort(flat)
	return rows, flat
}

// expectedPerProduct computes the running-aggregate reduce's rows.
func expectedPerProduct(all []order) []string {
	type agg struct {
		n, amount int64
		price     float64
	}
	by := map[string]*agg{}
	for _, o := range all {
		a := by[o.product]
		if a == nil {
			a = &agg{}
			by[o.product] = a
		}
		a.n++
		a.amount += o.amount
		a.price += o.price
	}
	var rows []string
	for p, a := range by {
		rows = append(rows, fmt.Sprintf(`"%s",%d,%d,%s`, p, a.n, a.amount, differential.Float(a.price/float64(a.n)).String()))
	}
	slices.Sort(rows)
	return rows
}

// idsColumn is the position of the ids tuple in a per_cust line: the
// fifth quoted-or-bare field.
var tupleField = regexp.MustCompile(`^("[^"]*",[^,]*,[^,]*,"[^"]*",)"(\([^)]*\))"`)

// withoutIDs replaces the ids tuple of each row by *, after checking it
// holds the same ids as the sorted one.
func withoutIDs(t *testing.T, rows []string) []string {
	t.Helper()
	out := make([]string, len(rows))
	for i, r := range rows {
		m := tupleField.FindStringSubmatch(r)
		if m == nil {
			t.Fatalf("no ids tuple in %q", r)
		}
		rest := r[len(m[0]):]
		sorted := rest[strings.Index(rest, `"(`)+1 : strings.Index(rest, `)"`)+1]
		ids := strings.Split(strings.Trim(m[2], "(,)"), ", ")
		slices.SortFunc(ids, func(a, b string) int { x, _ := strconv.Atoi(a); y, _ := strconv.Atoi(b); return x - y })
		if got := strings.Split(strings.Trim(sorted, "(,)"), ", "); !slices.Equal(got, ids) {
			t.Fatalf("row %q: tuple %s and sorted tuple %s hold other ids", r, m[2], sorted)
		}
		out[i] = m[1] + "*" + rest
	}
	return out
}

func withoutIDsFlat(rows []string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		m := tupleField.FindStringSubmatch(r)
		if m == nil {
			out[i] = r
			continue
		}
		out[i] = m[1] + "*" + r[len(m[0]):]
	}
	return out
}

// runOrders runs the pipeline once; a failAt > 0 makes the subscriber
// fail its failAt-th call. It returns the run's log and error.
func runOrders(t *testing.T, in, out, storage string, failAt int) (string, error) {
	t.Helper()
	var log bytes.Buffer
	cfg := pwlog.Config{Backend: pwlog.Filesystem(storage), BatchRows: 7,
		Logger: slog.New(slog.NewTextHandler(&log, nil))}
	tinyState(&cfg, true)
	calls := 0
	errStop := errors.New("the subscriber stops")
	err := orderPipeline(in, out, func(uint64, []pwlog.Update) error {
		calls++
		if calls == failAt {
			return errStop
		}
		return nil
	}).Run(context.Background(), cfg)
	if failAt > 0 && !errors.Is(err, errStop) {
		t.Fatalf("the run with a failing subscriber: %v", err)
	}
	if failAt == 0 && err != nil {
		t.Fatal(err)
	}
	return log.String(), err
}

// A pipeline with avg, count_distinct, argmax, tuple and sorted_tuple
// reducers (a keyed state), a flatten, and a count/sum/avg reduce
// (running aggregates), run with storage: a second run over the same
// files emits nothing; added and rewritten files give deltas whose sum is
// the direct computation; and a run stopped midway, restarted from its
// checkpoint and log, gives what one uninterrupted run gives, tuples in
// arrival order included.
func TestReducersWithStorage(t *testing.T) {
	first := append(orders(1, 15), orders(16, 30)...)
	final := append(slices.DeleteFunc(orders(1, 15), func(o order) bool { return o.id == 3 || o.id == 4 }), orders(16, 45)...)

	type result struct{ rows, flat, products []string }
	read := func(out string) result {
		return result{
			consolidated(t, readSink(t, filepath.Join(out, "per_cust.csv"))),
			consolidated(t, readSink(t, filepath.Join(out, "flat.csv"))),
			consolidated(t, readSink(t, filepath.Join(out, "per_product.csv"))),
		}
	}
	check := func(what string, got result, all []order) {
		t.Helper()
		rows, flat := expectedPerCust(all)
		if g := withoutIDs(t, got.rows); !slices.Equal(g, rows) {
			t.Fatalf("%s: per_cust\n got %q\nwant %q", what, g, rows)
		}
		if g := withoutIDsFlat(got.flat); !slices.Equal(g, flat) {
			t.Fatalf("%s: flat\n got %q\nwant %q", what, g, flat)
		}
		if want := expectedPerProduct(all); !slices.Equal(got.products, want) {
			t.Fatalf("%s: per_product\n got %q\nwant %q", what, got.products, want)
		}
	}

	var results []result
	for _, interrupted := range []bool{false, true} {
		dir := t.TempDir()
		in, out, storage := filepath.Join(dir, "in"), filepath.Join(dir, "out"), filepath.Join(dir, "storage")
		for _, d := range []string{in, out} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		writeReduceOrders(t, filepath.Join(in, "a.csv"), orders(1, 15))
		writeReduceOrders(t, filepath.Join(in, "b.csv"), orders(16, 30))
		if interrupted {
			_, _ = runOrders(t, in, out, storage, 3)
			log, _ := runOrders(t, in, out, storage, 0)
			if !strings.Contains(log, "Opened the checkpoint") {
				t.Fatalf("the restart did not read a checkpoint:\n%s", log)
			}
			if m := regexp.MustCompile(`Reached the end of the snapshot.* state_deltas=(\d+)`).FindStringSubmatch(log); m == nil || m[1] == "0" {
				t.Fatalf("the restart replayed no state deltas from the log:\n%s", log)
			}
		} else {
			runOrders(t, in, out, storage, 0)
		}
		check("after the first files", read(out), first)
		before, err := os.ReadFile(filepath.Join(out, "per_cust.csv"))
		if err != nil {
			t.Fatal(err)
		}
		runOrders(t, in, out, storage, 0)
		if after, _ := os.ReadFile(filepath.Join(out, "per_cust.csv")); !bytes.Equal(before, after) {
			t.Fatalf("a second run over the same files wrote:\n%s", after[len(before):])
		}
		// A rewritten file retracts ids 3 and 4; a new one adds more.
		writeReduceOrders(t, filepath.Join(in, "a.csv"), final[:13])
		writeReduceOrders(t, filepath.Join(in, "c.csv"), orders(31, 45))
		runOrders(t, in, out, storage, 0)
		got := read(out)
		check("after a rewrite and a new file", got, final)
		results = append(results, got)
	}
	if !slices.Equal(results[0].rows, results[1].rows) || !slices.Equal(results[0].flat, results[1].flat) {
		t.Fatalf("an interrupted run gives\n%q\none uninterrupted run\n%q", results[1].rows, results[0].rows)
	}
}
