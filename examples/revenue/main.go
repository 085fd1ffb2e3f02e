// Command revenue is a pipeline of orders and customers: it keeps the
// orders with a positive amount, joins each with its customer's country,
// assigns it to the tumbling window of -window seconds its time falls in,
// and writes, per country and window, the number of orders, their revenue,
// average and largest amount (in cents).
//
// Orders are CSV files with header order_id,customer_id,amount_cents,ts
// (all int, ts in unix seconds); customers are CSV files with header
// customer_id,country, read with Retract on: rewrite a customers file to
// move a customer to another country, and the next run moves their
// orders' contributions from one country's rows to the other's.
//
// With -storage it is persistent: run it, add order files or rewrite a
// customers file, run it again, and it emits only the new deltas. With
// -append its output is one changelog across runs, exactly once even when
// a run is killed. With -mode streaming it keeps watching both directories
// until SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pwlog/pwlog"
)

func main() {
	orders := flag.String("orders", "", "directory of CSV files with header order_id,customer_id,amount_cents,ts")
	customers := flag.String("customers", "", "directory of CSV files with header customer_id,country")
	output := flag.String("output", "revenue.csv", "CSV file the revenue rows' deltas are written to")
	storage := flag.String("storage", "", "persistent storage: a directory, s3://BUCKET/PREFIX (AWS_* environment) or azure://CONTAINER/PREFIX (AZURE_STORAGE_CONNECTION_STRING); without it the run is not persistent")
	appendMode := flag.Bool("append", false, "keep one changelog in -output across runs, exactly once (needs -storage)")
	window := flag.Int64("window", 3600, "length in seconds of the tumbling windows orders are counted in")
	interval := flag.Duration("snapshot-interval", 0, "durability window of group commit (0: fsync every commit)")
	mode := flag.String("mode", "static", "static: read the inputs and stop; streaming: keep watching them until SIGINT or SIGTERM")
	autocommit := flag.Duration("autocommit-duration", 100*time.Millisecond, "streaming: the shortest time between two commits of arriving rows")
	memoryLimit := flag.Int64("memory-limit", 0, "bytes of state kept in memory; the rest is read from the checkpoint (0: 64 MiB, or a quarter of GOMEMLIMIT)")
	flag.Parse()
	if *mode != "static" && *mode != "streaming" {
		usage("-mode is static or streaming, not %q", *mode)
	}
	if *orders == "" || *customers == "" {
		usage("-orders and -customers are required")
	}
	if *window <= 0 {
		usage("-window must be positive, not %d", *window)
	}
	cfg := pwlog.Config{
		SnapshotInterval:   *interval,
		AutocommitDuration: *autocommit,
		MemoryLimit:        *memoryLimit,
		Logger:             slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	if *storage != "" {
		b, err := pwlog.Storage(*storage)
		if err != nil {
			fmt.Fprintln(os.Stderr, "revenue:", err)
			os.Exit(2)
		}
		cfg.Backend = b
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := pwlog.New()
	pipeline(p, *orders, *customers, *window, *mode == "streaming").
		WriteCSV("output", *output, pwlog.SinkOptions{Append: *appendMode})
	err := p.Run(ctx, cfg)
	if errors.Is(err, context.Canceled) {
		err = errors.New("interrupted; every committed time is kept")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "revenue:", err)
		os.Exit(1)
	}
}

func usage(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "revenue: "+format+"\n", args...)
	flag.Usage()
	os.Exit(2)
}

// pipeline adds the revenue pipeline to p and returns its output table:
// country,window_start,orders,revenue_cents,avg_cents,max_cents.
func pipeline(p *pwlog.Pipeline, ordersDir, customersDir string, window int64, streaming bool) *pwlog.Table {
	orders := p.ReadCSV("orders", ordersDir, pwlog.Schema{
		{Name: "order_id", Type: pwlog.TypeInt},
		{Name: "customer_id", Type: pwlog.TypeInt},
		{Name: "amount_cents", Type: pwlog.TypeInt},
		{Name: "ts", Type: pwlog.TypeInt},
	}, pwlog.FileOptions{Streaming: streaming})
	customers := p.ReadCSV("customers", customersDir, pwlog.Schema{
		{Name: "customer_id", Type: pwlog.TypeInt},
		{Name: "country", Type: pwlog.TypeStr},
	}, pwlog.FileOptions{Retract: true, Streaming: streaming})

	return orders.
		Filter("paid", pwlog.Gt(pwlog.Col("amount_cents"), pwlog.Lit(0))).
		Join("with_country", customers, pwlog.JoinInner, pwlog.On("customer_id", "customer_id")).
		WindowBy("hourly", pwlog.Tumbling{Time: "ts", Duration: window, Instance: []string{"country"}}).
		Reduce("revenue",
			pwlog.Out("country", pwlog.Col("country")),
			pwlog.Out("window_start", pwlog.Col("_pw_window_start")),
			pwlog.Out("orders", pwlog.Count()),
			pwlog.Out("revenue_cents", pwlog.Sum("amount_cents")),
			pwlog.Out("avg_cents", pwlog.Avg("amount_cents")),
			pwlog.Out("max_cents", pwlog.Max("amount_cents")),
		)
}
