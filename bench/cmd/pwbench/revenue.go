package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/pwlog/pwlog/internal/revenue"
)

var (
	revenueOnly  = flag.Bool("revenue", false, "measure only examples/revenue (-revenue-bin) on -orders orders and -customers customers")
	revenueBin   = flag.String("revenue-bin", "bin/revenue", "the built examples/revenue")
	orderRows    = flag.Int("orders", 1_000_000, "orders of the revenue data set (10 files)")
	customerRows = flag.Int("customers", 100_000, "customers of the revenue data set (one file)")
)

// runRevenue writes the report of the revenue figures alone.
func (r *report) runRevenue() {
	fmt.Fprintf(&r.out, "Median of %d runs, [min–max]. Machine: %s, %d CPUs, %s, %s/%s; work directory on %s.\n\n",
		*repeats, cpuModel(), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, fsType(r.dir))
	r.t.header()
	r.revenue()
	r.out.WriteString(r.t.b.String())
}

// revenueWindow is the example's -window in the figures: an hour.
const revenueWindow = "3600"

// revenue measures the revenue example, a filter, an inner join with a
// retracting source, a tumbling window and a reduce, as a user runs it:
// the built binary, in its own process, its peak RSS from its rusage
// (this process holds little when it forks it). A full run with and
// without storage; reruns after 0.1% new orders and after a customers
// file rewritten with 1% of the customers in another country, each on a
// copy of a full run's storage; storage bytes against input bytes.
func (r *report) revenue() {
	orders, customers := r.path("rev-orders"), r.path("rev-customers")
	check(os.MkdirAll(orders, 0o755))
	check(os.MkdirAll(customers, 0o755))
	r.logf("revenue: writing %d orders, %d customers", *orderRows, *customerRows)
	const files = 10
	order := func(file, rows int, seed uint64) revenue.Orders {
		return revenue.Orders{Seed: seed, Rows: rows, Customers: *customerRows, FirstID: int64(file) * 10_000_000,
			Start: 1_700_000_000 + int64(file)*86400, Span: 86400, Refunds: 3}
	}
	for f := 0; f < files; f++ {
		n := *orderRows / files
		if f < *orderRows%files {
			n++
		}
		check(revenue.WriteOrders(r.path("rev-orders", fmt.Sprintf("orders_%02d.csv", f)), order(f, n, uint64(f))))
	}
	custFile := r.path("rev-customers", "customers.csv")
	check(revenue.WriteCustomers(custFile, *customerRows, 1, nil))
	inputBytes := dirBytes(orders) + dirBytes(customers)

	// run runs the example once and returns its wall time and peak RSS.
	run := func(storage, output string) (time.Duration, int64) {
		args := []string{"-orders", orders, "-customers", customers, "-output", output, "-window", revenueWindow}
		if storage != "" {
			// Persistent runs keep one changelog, as a user who wants
			// exactly once does; it lets the engine fold state into the
			// checkpoint during the run and so bound its memory.
			args = append(args, "-storage", storage, "-append")
		}
		cmd := exec.Command(*revenueBin, args...)
		var errb strings.Builder
		cmd.Stderr = &errb
		start := time.Now()
		if err := cmd.Run(); err != nil {
			check(fmt.Errorf("%s %v: %w: %s", *revenueBin, args, err, errb.String()))
		}
		return time.Since(start), peakRSS(cmd.ProcessState)
	}
	var offRSS, fullRSS, newRSS, movedRSS []int64
	r.logf("revenue: full runs")
	off := repeat(*repeats, func(i int) time.Duration {
		d, rss := run("", r.path(fmt.Sprintf("rev-off%d.csv", i)))
		offRSS = append(offRSS, rss)
		return d
	})
	full := repeat(*repeats, func(i int) time.Duration {
		d, rss := run(r.path(fmt.Sprint("rev-full", i)), r.path(fmt.Sprintf("rev-full%d.csv", i)))
		fullRSS = append(fullRSS, rss)
		return d
	})
	storage := dirBytes(r.path("rev-full0"))

	r.logf("revenue: reruns")
	add := max(1, *orderRows/1000)
	newFile := r.path("rev-orders", "orders_new.csv")
	withNew := repeat(*repeats, func(i int) time.Duration {
		st := r.path(fmt.Sprint("rev-new", i))
		copyDir(r.path(fmt.Sprint("rev-full", i)), st)
		copyFile(r.path(fmt.Sprintf("rev-full%d.csv", i)), r.path(fmt.Sprintf("rev-new%d.csv", i)))
		check(revenue.WriteOrders(newFile, order(files, add, 100+uint64(i))))
		defer os.Remove(newFile)
		d, rss := run(st, r.path(fmt.Sprintf("rev-new%d.csv", i)))
		newRSS = append(newRSS, rss)
		return d
	})
	moved := map[int]bool{}
	for id := 0; id < *customerRows; id += 100 {
		moved[id] = true
	}
	withMoved := repeat(*repeats, func(i int) time.Duration {
		st := r.path(fmt.Sprint("rev-moved", i))
		copyDir(r.path(fmt.Sprint("rev-full", i)), st)
		copyFile(r.path(fmt.Sprintf("rev-full%d.csv", i)), r.path(fmt.Sprintf("rev-moved%d.csv", i)))
		check(revenue.WriteCustomers(custFile, *customerRows, 1, moved))
		defer func() { check(revenue.WriteCustomers(custFile, *customerRows, 1, nil)) }()
		d, rss := run(st, r.path(fmt.Sprintf("rev-moved%d.csv", i)))
		movedRSS = append(movedRSS, rss)
		return d
	})

	n := float64(*orderRows)
	r.t.section(fmt.Sprintf("examples/revenue: %d orders (10 files), %d customers, %s of CSV; the built binary, -window %s",
		*orderRows, *customerRows, mib(inputBytes), revenueWindow))
	r.t.row("full run, persistence off", rate(per(n, off), "orders")+"; "+secs(off), "", "")
	r.t.row("full run, fsync every commit, -append", rate(per(n, full), "orders")+"; "+secs(full), "≤ 1.2x off", ratioOf(full, off))
	r.t.row(fmt.Sprintf("rerun after 0.1%% new orders (%d)", add), secs(withNew), "≤ 2% of the full run", pct(withNew, full)+" of the full run")
	r.t.row(fmt.Sprintf("rerun after rewriting the customers file, %d customers (1%%) moved", len(moved)), secs(withMoved), "report", pct(withMoved, full)+" of the full run")
	r.t.row("storage after the full run (compacted)", mib(storage), "≤ 0.5x input CSV", fmt.Sprintf("%.2fx input CSV (%s)", float64(storage)/float64(inputBytes), mib(inputBytes)))
	r.t.row("peak RSS: full run, persistence off", mibs(offRSS), "", "")
	r.t.row("peak RSS: full run, fsync every commit, -append", mibs(fullRSS), "≤ 1.2x off", ratioInt(fullRSS, offRSS)+" off's")
	r.t.row("peak RSS: rerun after 0.1% new orders", mibs(newRSS), "≤ 64 MiB", fmt.Sprintf("%.2fx 64 MiB", medianInt(newRSS)/(64<<20)))
	r.t.row("peak RSS: rerun after 1% of the customers moved", mibs(movedRSS), "", "")
}
