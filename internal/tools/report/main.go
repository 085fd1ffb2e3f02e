// Command report measures the persistence targets of the tutorial-shaped
// pipeline in one process and prints a markdown table: full run with and
// without storage, rerun after a small file, restart and storage after
// many reruns against one run over the same rows, storage against input
// bytes, and the checkpoint load rate. Ratios are measured in one run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/fsx"
	"github.com/pwlog/pwlog/internal/gen"
)

var (
	rows    = flag.Int("rows", 1_000_000, "rows of the base data set")
	users   = flag.Int("users", 10_000, "distinct users")
	files   = flag.Int("files", 100, "files of the base data set")
	reruns  = flag.Int("reruns", 200, "reruns that each add -step of the rows")
	step    = flag.Float64("step", 0.005, "fraction of -rows each rerun adds")
	repeat  = flag.Int("repeat", 5, "repetitions of each timed run (median reported)")
	workdir = flag.String("dir", "", "work directory (default: a temporary one, removed)")
)

func main() {
	flag.Parse()
	dir := *workdir
	if dir == "" {
		d, err := os.MkdirTemp("", "pwlog-report")
		check(err)
		defer os.RemoveAll(d)
		dir = d
	}
	input := filepath.Join(dir, "input")
	check(os.MkdirAll(input, 0o755))
	_, err := gen.Write(input, gen.Spec{Seed: 1, Rows: *rows, Users: *users, Files: *files})
	check(err)
	inputBytes := fsx.DirBytes(input)

	// Full runs.
	memory := measure(*repeat, func(i int) time.Duration { return timeRun(input, "", 0) })
	persisted := measure(*repeat, func(i int) time.Duration {
		return timeRun(input, filepath.Join(dir, fmt.Sprint("full", i)), 0)
	})
	storageBytes := fsx.DirBytes(filepath.Join(dir, "full0"))

	// Restart: a run with nothing new only loads the checkpoint.
	restart := measure(*repeat, func(i int) time.Duration { return timeRun(input, filepath.Join(dir, "full0"), 0) })

	// Rerun after one 1000-row file, each on a copy of a full storage.
	extra := filepath.Join(dir, "extra")
	check(os.MkdirAll(extra, 0o755))
	rerun := measure(*repeat, func(i int) time.Duration {
		st := filepath.Join(dir, fmt.Sprint("full", i%*repeat))
		in := filepath.Join(dir, fmt.Sprint("in-rerun", i))
		copyDir(input, in)
		_, err := gen.Write(in, gen.Spec{Seed: 100 + uint64(i), Rows: 1000, Users: *users, Files: 1, FirstFile: *files + i})
		check(err)
		return timeRun(in, st, 0)
	})

	// Many reruns against one run over the same rows.
	grow := filepath.Join(dir, "grow")
	history := filepath.Join(dir, "history")
	copyDir(input, grow)
	timeRun(grow, history, 0)
	add := max(1, int(float64(*rows)**step))
	for i := 0; i < *reruns; i++ {
		_, err := gen.Write(grow, gen.Spec{Seed: 1000 + uint64(i), Rows: add, Users: *users, Files: 1, FirstFile: 10_000 + i})
		check(err)
		timeRun(grow, history, 0)
	}
	historyBytes := fsx.DirBytes(history)
	historyRestart := measure(*repeat, func(int) time.Duration { return timeRun(grow, history, 0) })
	once := filepath.Join(dir, "once")
	timeRun(grow, once, 0)
	onceBytes := fsx.DirBytes(once)
	onceRestart := measure(*repeat, func(int) time.Duration { return timeRun(grow, once, 0) })

	fmt.Printf("Data: %d rows, %d users, %d files (%s of CSV); %d reruns adding %d rows each; median of %d, [min–max].\n\n",
		*rows, *users, *files, mib(inputBytes), *reruns, add, *repeat)
	fmt.Printf("Machine: %s/%s, %d CPUs, %s.\n\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Println("| figure | value | target | ratio |")
	fmt.Println("|---|---|---|---|")
	row("full run, no storage", memory.String(), "", "")
	row("full run, storage (fsync every commit)", persisted.String(), "≤ 1.5x no storage", ratio(persisted.med, memory.med))
	row("rerun after a 1000-row file", rerun.String(), "≤ 5% of the full run", pct(rerun.med, persisted.med))
	row("restart, nothing new (state of the full run)", restart.String(), "well under 1 s", "")
	row(fmt.Sprintf("restart after %d reruns", *reruns), historyRestart.String(), "≤ 1.2x one run's", ratio(historyRestart.med, onceRestart.med))
	row("restart of one run over the same rows", onceRestart.String(), "", "")
	row(fmt.Sprintf("storage after %d reruns", *reruns), mib(historyBytes), "≤ 1.2x one run's", fmt.Sprintf("%.2fx", float64(historyBytes)/float64(onceBytes)))
	row("storage of one run over the same rows", mib(onceBytes), "", "")
	row("storage after the full run", mib(storageBytes), "≤ input CSV bytes", fmt.Sprintf("%.2fx input", float64(storageBytes)/float64(inputBytes)))
}

type stats struct{ med, min, max time.Duration }

func (s stats) String() string {
	return fmt.Sprintf("%s [%s–%s]", round(s.med), round(s.min), round(s.max))
}

func round(d time.Duration) string { return d.Round(time.Millisecond).String() }

func measure(n int, f func(i int) time.Duration) stats {
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = f(i)
	}
	slices.Sort(ds)
	return stats{med: ds[n/2], min: ds[0], max: ds[n-1]}
}

func ratio(a, b time.Duration) string { return fmt.Sprintf("%.2fx", float64(a)/float64(b)) }
func pct(a, b time.Duration) string   { return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b)) }
func mib(n int64) string              { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
func row(cells ...string)             { fmt.Println("| " + strings.Join(cells, " | ") + " |") }

// timeRun runs the tutorial pipeline once and returns its wall time.
func timeRun(input, storage string, interval time.Duration) time.Duration {
	p := pwlog.New()
	p.ReadCSV("accesses", input, pwlog.Schema{{Name: "user_id", Type: pwlog.TypeStr}, {Name: "access_time", Type: pwlog.TypeInt}}).
		WindowBy("sessions", pwlog.Session{Time: "access_time", Instance: []string{"user_id"}, MaxGap: 300}).
		Reduce("session_stats",
			pwlog.Out("user_id", pwlog.Col("user_id")),
			pwlog.Out("session_length", pwlog.Sub(pwlog.Max("access_time"), pwlog.Min("access_time"))),
			pwlog.Out("session_start", pwlog.Min("access_time")),
			pwlog.Out("session_finish", pwlog.Max("access_time")),
			pwlog.Out("count", pwlog.Count())).
		WriteCSV("output", os.DevNull)
	cfg := pwlog.Config{SnapshotInterval: interval, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if storage != "" {
		cfg.Backend = pwlog.Filesystem(storage)
	}
	runtime.GC()
	start := time.Now()
	check(p.Run(context.Background(), cfg))
	return time.Since(start)
}

func copyDir(from, to string) {
	check(os.MkdirAll(to, 0o755))
	entries, err := os.ReadDir(from)
	check(err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		check(err)
		check(os.WriteFile(filepath.Join(to, e.Name()), b, 0o644))
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}
