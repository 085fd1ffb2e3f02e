// Package revenue writes seeded data sets of examples/revenue's shape
// (orders and customers as CSV files) and computes that pipeline's result
// from scratch, in memory, with no persistence: the reference the tests of
// the example compare its output with, and the data of its benchmarks.
package revenue

import (
	"bufio"
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/pwlog/pwlog/differential"
)

// Countries are the countries customers live in.
var Countries = []string{"AR", "AU", "BR", "CA", "CN", "DE", "ES", "FR", "GB", "IN", "IT", "JP", "KR", "MX", "NL", "PL", "SE", "TR", "US", "ZA"}

// Orders describes a file of orders.
type Orders struct {
	Seed      uint64
	Rows      int
	Customers int   // customer ids are 0 .. Customers-1
	FirstID   int64 // the first order id
	// Start and Span give the order times: Start + [0, Span) seconds.
	Start, Span int64
	// Refunds is the share of orders with amount_cents <= 0 (refunds and
	// free orders, which the pipeline drops), in percent.
	Refunds int
}

// WriteOrders writes path with header order_id,customer_id,amount_cents,ts.
func WriteOrders(path string, o Orders) error {
	rng := rand.New(rand.NewPCG(o.Seed, uint64(o.FirstID)))
	if o.Span <= 0 {
		o.Span = 86400
	}
	if o.Customers <= 0 {
		return fmt.Errorf("revenue: need customers, got %+v", o)
	}
	return writeFile(path, "order_id,customer_id,amount_cents,ts\n", func(w *bufio.Writer) {
		var buf []byte
		for i := 0; i < o.Rows; i++ {
			amount := 100 + rng.Int64N(20000)
			if rng.IntN(100) < o.Refunds {
				amount = -rng.Int64N(5000)
			}
			buf = strconv.AppendInt(buf[:0], o.FirstID+int64(i), 10)
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, int64(rng.IntN(o.Customers)), 10)
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, amount, 10)
			buf = append(buf, ',')
			buf = strconv.AppendInt(buf, o.Start+rng.Int64N(o.Span), 10)
			buf = append(buf, '\n')
			w.Write(buf)
		}
	})
}

// WriteCustomers writes path with header customer_id,country: customers
// 0 .. n-1, each in a country drawn from seed. moved customers (a set of
// ids) get another country than seed gives them.
func WriteCustomers(path string, n int, seed uint64, moved map[int]bool) error {
	rng := rand.New(rand.NewPCG(seed, 7))
	return writeFile(path, "customer_id,country\n", func(w *bufio.Writer) {
		var buf []byte
		for id := 0; id < n; id++ {
			c := rng.IntN(len(Countries))
			if moved[id] {
				c = (c + 1 + id%(len(Countries)-1)) % len(Countries)
			}
			buf = strconv.AppendInt(buf[:0], int64(id), 10)
			buf = append(buf, ',')
			buf = append(buf, Countries[c]...)
			buf = append(buf, '\n')
			w.Write(buf)
		}
	})
}

func writeFile(path, header string, body func(w *bufio.Writer)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	w.WriteString(header)
	body(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Row is one output row of the pipeline, without time and diff.
type Row struct {
	Country     string
	WindowStart int64
	Orders      int64
	Revenue     int64
	Max         int64
}

// String formats the row as the CSV sink writes it.
func (r Row) String() string {
	avg := differential.Float(float64(r.Revenue) / float64(r.Orders))
	return fmt.Sprintf("%q,%d,%d,%d,%s,%d", r.Country, r.WindowStart, r.Orders, r.Revenue, avg, r.Max)
}

// Compute returns the pipeline's result over the *.csv files of orders and
// customers, sorted by country and window: orders with amount_cents > 0,
// joined with their customer's country, per (country, window start) with
// windows of window seconds.
func Compute(orders, customers string, window int64) ([]Row, error) {
	country := map[int64]string{}
	if err := eachRow(customers, 2, func(f []string) error {
		id, err := strconv.ParseInt(f[0], 10, 64)
		country[id] = f[1]
		return err
	}); err != nil {
		return nil, err
	}
	type group struct {
		country string
		start   int64
	}
	by := map[group]*Row{}
	if err := eachRow(orders, 4, func(f []string) error {
		var v [4]int64
		for i := range v {
			var err error
			if v[i], err = strconv.ParseInt(f[i], 10, 64); err != nil {
				return err
			}
		}
		c, ok := country[v[1]]
		if !ok || v[2] <= 0 {
			return nil
		}
		ts := v[3]
		start := ts - ((ts%window)+window)%window
		g := group{c, start}
		r := by[g]
		if r == nil {
			r = &Row{Country: c, WindowStart: start, Max: v[2]}
			by[g] = r
		}
		r.Orders++
		r.Revenue += v[2]
		r.Max = max(r.Max, v[2])
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]Row, 0, len(by))
	for _, r := range by {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Row) int {
		return cmp.Or(cmp.Compare(a.Country, b.Country), cmp.Compare(a.WindowStart, b.WindowStart))
	})
	return out, nil
}

// Strings returns the rows as the sink writes them, sorted.
func Strings(rows []Row) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.String()
	}
	slices.Sort(out)
	return out
}

// eachRow calls fn with the fields of every data line of the *.csv files
// of dir, each line of width fields.
func eachRow(dir string, width int, fn func([]string) error) error {
	paths, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil {
		return err
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		r := csv.NewReader(bufio.NewReader(f))
		r.FieldsPerRecord = width
		r.ReuseRecord = true
		for line := 1; ; line++ {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err == nil && line > 1 {
				err = fn(rec)
			}
			if err != nil {
				f.Close()
				return fmt.Errorf("%s:%d: %w", p, line, err)
			}
		}
		f.Close()
	}
	return nil
}
