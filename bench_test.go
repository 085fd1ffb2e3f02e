package pwlog_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/internal/tutorial"
)

// benchRows is the data set size of the pipeline benchmarks:
// PWLOG_BENCH_ROWS, default 200k (the figures in the closing notes use 1M
// through scripts/figures.sh).
func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("PWLOG_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 200_000
}

func benchInput(b *testing.B) (string, int) {
	b.Helper()
	rows := benchRows()
	dir := filepath.Join(b.TempDir(), "input")
	os.Mkdir(dir, 0o755)
	if _, err := gen.Write(dir, gen.Spec{Seed: 1, Rows: rows, Users: rows / 100, Files: 100}); err != nil {
		b.Fatal(err)
	}
	return dir, rows
}

// BenchmarkSessions is a full run of the tutorial pipeline over a
// tutorial-shaped data set, without storage and with it.
func BenchmarkSessions(b *testing.B) {
	input, rows := benchInput(b)
	for _, c := range []struct {
		name     string
		persist  bool
		interval time.Duration
	}{
		{"memory", false, 0},
		{"fsync-every-commit", true, 0},
		{"snapshot-100ms", true, 100 * time.Millisecond},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				storage := ""
				if c.persist {
					storage = filepath.Join(b.TempDir(), "storage")
				}
				cfg := quietConfig(storage)
				cfg.SnapshotInterval = c.interval
				p := pwlog.New()
				tutorial.Sessions(p, input, 300).WriteCSV("output", os.DevNull)
				if err := p.Run(context.Background(), cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkRerun is a rerun after adding a 1000-row file to a persisted
// full run: restart (replay) plus the new rows.
func BenchmarkRerun(b *testing.B) {
	input, rows := benchInput(b)
	base := filepath.Join(b.TempDir(), "storage")
	p := pwlog.New()
	tutorial.Sessions(p, input, 300).WriteCSV("output", os.DevNull)
	if err := p.Run(context.Background(), quietConfig(base)); err != nil {
		b.Fatal(err)
	}
	if _, err := gen.Write(input, gen.Spec{Seed: 2, Rows: 1000, Users: rows / 100, Files: 1, FirstFile: 100}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		storage := filepath.Join(b.TempDir(), "storage")
		if out, err := exec.Command("cp", "-r", base, storage).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		b.StartTimer()
		p := pwlog.New()
		tutorial.Sessions(p, input, 300).WriteCSV("output", os.DevNull)
		if err := p.Run(context.Background(), quietConfig(storage)); err != nil {
			b.Fatal(err)
		}
	}
}
