//go:build linux

package pwlog_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/tool"
)

// The streaming figures of BENCHMARKS.md ("Streaming"): how soon an
// appended line reaches the sink, what an idle streaming pipeline costs,
// and a streaming run's throughput against a static run's. The restarts
// of the long run are BenchmarkStreamLongRun (longrun_test.go).

// sumsPipeline adds to p a streaming source "in" (k, v) over input, a
// reduce per k (count and sum of v) and an append-mode sink at output.
func sumsPipeline(p *pwlog.Pipeline, input, output string, opts pwlog.FileOptions) {
	opts.Streaming = true
	p.ReadCSV("in", input, pwlog.Schema{{Name: "k", Type: pwlog.TypeStr}, {Name: "v", Type: pwlog.TypeInt}}, opts).
		GroupBy("k").
		Reduce("sums", pwlog.Out("k", pwlog.Col("k")), pwlog.Out("n", pwlog.Count()), pwlog.Out("total", pwlog.Sum("v"))).
		WriteCSV("out", output, pwlog.SinkOptions{Append: true})
}

// streamDirs makes an input directory holding a.csv with one row, and
// returns it, a sink path in a directory of its own and a storage path.
func streamDirs(tb testing.TB) (input, output, storage string) {
	tb.Helper()
	dir := tb.TempDir()
	input, output, storage = filepath.Join(dir, "input"), filepath.Join(dir, "out", "sums.csv"), filepath.Join(dir, "storage")
	for _, d := range []string{input, filepath.Dir(output)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(input, "a.csv"), []byte("k,v\nk0,1\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	return input, output, storage
}

// runInBackground runs p until the returned stop is called; stop returns
// Run's error.
func runInBackground(p *pwlog.Pipeline, cfg pwlog.Config) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, cfg) }()
	return func() error {
		cancel()
		return <-done
	}
}

// sinkWatch tells when a sink file grows.
type sinkWatch struct {
	w    *fsnotify.Watcher
	path string
}

func watchSink(tb testing.TB, path string) *sinkWatch {
	tb.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.Add(filepath.Dir(path)); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.Close() })
	return &sinkWatch{w: w, path: path}
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// drain forgets the events so far.
func (s *sinkWatch) drain() {
	for {
		select {
		case <-s.w.Events:
		default:
			return
		}
	}
}

// waitGrow waits until the sink holds more than size bytes, on the
// watcher's events (a stat every 50 ms besides, should one be lost).
func (s *sinkWatch) waitGrow(tb testing.TB, size int64, within time.Duration) {
	tb.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for fileSize(s.path) <= size {
		select {
		case <-s.w.Events:
		case err := <-s.w.Errors:
			tb.Fatal(err)
		case <-tick.C:
		case <-deadline.C:
			tb.Fatalf("the sink %s did not grow past %d bytes within %v", s.path, size, within)
		}
	}
}

// appendLine appends line to the file at path.
func appendLine(tb testing.TB, path, line string) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := f.WriteString(line); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// fsyncProbe measures the disk as the log uses it: each call of probe
// appends 4 KiB to a file in dir and fsyncs it (os.File.Sync), and
// returns how long that took.
func fsyncProbe(tb testing.TB, dir string) (probe func() time.Duration) {
	tb.Helper()
	f, err := os.CreateTemp(dir, "fsync-probe-*")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		f.Close()
		os.Remove(f.Name())
	})
	block := make([]byte, 4096)
	return func() time.Duration {
		start := time.Now()
		if _, err := f.Write(block); err != nil {
			tb.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			tb.Fatal(err)
		}
		return time.Since(start)
	}
}

// quantile returns the q-quantile (0..1) of ds, nearest rank.
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkStreamLatency: a line appended to a watched file reaches the
// sink within AutocommitDuration plus the fsync of its commit. Each op
// appends one line (a new value for one of 100 keys) to the streaming
// source's file and waits until the sink file grows (fsnotify): the
// reduce's retraction and new row for the key, written once the commit
// is durable (an fsync per commit, SnapshotInterval 0). Between ops it
// waits a random 0-50 ms, untimed, so that appends do not keep step with
// commits. ns/op is the mean latency; p50-ms, p99-ms and max-ms its
// distribution; fsync-p50-ms, fsync-p99-ms and fsync-max-ms those of a
// 4 KiB append + fsync on the same disk (200 of them), measured before. -benchtime 1000x: over 1,000 appends.
func BenchmarkStreamLatency(b *testing.B) {
	for _, ac := range []time.Duration{100 * time.Millisecond, 10 * time.Millisecond} {
		b.Run(fmt.Sprintf("autocommit=%v", ac), func(b *testing.B) {
			input, output, storage := streamDirs(b)
			if err := os.MkdirAll(storage, 0o755); err != nil {
				b.Fatal(err)
			}
			probe := fsyncProbe(b, storage)
			p := pwlog.New()
			sumsPipeline(p, input, output, pwlog.FileOptions{})
			cfg := quietConfig(storage)
			cfg.AutocommitDuration = ac
			stop := runInBackground(p, cfg)
			sink := watchSink(b, output)
			sink.waitGrow(b, 0, 20*time.Second)
			sink.waitGrow(b, int64(len("k,n,total,time,diff\n")), 20*time.Second)
			file := filepath.Join(input, "a.csv")
			rng := rand.New(rand.NewPCG(1, uint64(ac)))
			lat := make([]time.Duration, 0, b.N)
			fsyncs := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				fsyncs = append(fsyncs, probe())
				time.Sleep(time.Duration(rng.Int64N(int64(50 * time.Millisecond))))
				size := fileSize(output)
				sink.drain()
				b.StartTimer()
				start := time.Now()
				appendLine(b, file, fmt.Sprintf("k%d,%d\n", i%100, i))
				sink.waitGrow(b, size, 20*time.Second)
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			if err := stop(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(ms(quantile(lat, 0.5)), "p50-ms")
			b.ReportMetric(ms(quantile(lat, 0.99)), "p99-ms")
			b.ReportMetric(ms(quantile(lat, 1)), "max-ms")
			b.ReportMetric(ms(quantile(fsyncs, 0.5)), "fsync-p50-ms")
			b.ReportMetric(ms(quantile(fsyncs, 0.99)), "fsync-p99-ms")
			b.ReportMetric(ms(quantile(fsyncs, 1)), "fsync-max-ms")
		})
	}
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// lastLSN returns the last LSN of the storage's log (tool.Inspect reads
// a storage a pipeline holds).
func lastLSN(tb testing.TB, storage string) uint64 {
	tb.Helper()
	info, err := tool.Inspect(context.Background(), storage, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return info.WAL.LastLSN
}

// BenchmarkStreamIdleCPU: a streaming pipeline with nothing arriving
// costs no CPU. The pipeline of BenchmarkStreamLatency reads its first
// file, then each op is 100 ms of nothing arriving; cpu-% is the process's
// CPU time (getrusage: user and system, every goroutine: the pipeline's
// loop, the watcher, the runtime, this benchmark's sleeping loop) over
// the wall time, as a percentage of one core, and commits the log records
// appended meanwhile (tool.Inspect's last LSN), which must be 0. watched:
// the default, fsnotify with a safety poll every 1 s; poll=100ms: the
// source polls (FileOptions.Poll) every 100 ms; no-pipeline: the same
// loop of sleeps with no pipeline, what the process costs anyway.
// -benchtime 100x: 10 s.
func BenchmarkStreamIdleCPU(b *testing.B) {
	b.Run("no-pipeline", func(b *testing.B) {
		cpu, start := cpuTime(b), time.Now()
		for range b.N {
			time.Sleep(100 * time.Millisecond)
		}
		b.ReportMetric(100*float64(cpuTime(b)-cpu)/float64(time.Since(start)), "cpu-%")
	})
	for _, c := range []struct {
		name string
		opts pwlog.FileOptions
	}{
		{"watched", pwlog.FileOptions{}},
		{"poll=100ms", pwlog.FileOptions{Poll: true, PollInterval: 100 * time.Millisecond}},
	} {
		b.Run(c.name, func(b *testing.B) {
			input, output, storage := streamDirs(b)
			p := pwlog.New()
			sumsPipeline(p, input, output, c.opts)
			stop := runInBackground(p, quietConfig(storage))
			sink := watchSink(b, output)
			sink.waitGrow(b, int64(len("k,n,total,time,diff\n")), 20*time.Second)
			time.Sleep(200 * time.Millisecond) // the first commit's aftermath
			lsn := lastLSN(b, storage)
			cpu, start := cpuTime(b), time.Now()
			b.ResetTimer()
			for range b.N {
				time.Sleep(100 * time.Millisecond)
			}
			b.StopTimer()
			used, wall := cpuTime(b)-cpu, time.Since(start)
			commits := lastLSN(b, storage) - lsn
			if err := stop(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(100*float64(used)/float64(wall), "cpu-%")
			b.ReportMetric(float64(commits), "commits")
			if commits != 0 {
				b.Errorf("an idle streaming pipeline appended %d log records", commits)
			}
		})
	}
}

// BenchmarkStreamThroughput: a streaming run over a data set against a
// static run over the same files. Each op runs the tutorial pipeline
// (persistent, fsync per commit, an append-mode sink) statically to its
// end, and in streaming mode over the same files, cancelled as soon as
// its sink is as large as the static run's (the same batches: the same
// rows; the benchmark checks they consolidate alike, after the timing);
// odd ops run the streaming one first, so that neither always has the
// machine second. static-rows/s is over the static Run's whole time,
// final compaction included; static-sink-rows/s over the time until its
// sink held every row, as the streaming figure is; stream-rows/s until
// the streaming sink held every row; stream/static the ratio of the last
// two. Medians over the ops; -v logs each op. PWLOG_BENCH_ROWS sets the
// rows (default 200k; the figure uses 1M).
func BenchmarkStreamThroughput(b *testing.B) {
	input, rows := benchInput(b)
	var static, staticSink, stream []time.Duration
	var want int64 // the static sink's size
	runStatic := func(dir string) string {
		out := filepath.Join(dir, "static.csv")
		p := pwlog.New()
		tutorial.Sessions(p, input, 300).WriteCSV("output", out, pwlog.SinkOptions{Append: true})
		done := make(chan struct{})
		var full time.Duration
		start := time.Now()
		go func() {
			// When the sink stops growing for good is only known after
			// Run: note each growth's time.
			var size int64
			for {
				select {
				case <-done:
					return
				case <-time.After(5 * time.Millisecond):
				}
				if s := fileSize(out); s > size {
					size, full = s, time.Since(start)
				}
			}
		}()
		if err := p.Run(context.Background(), quietConfig(filepath.Join(dir, "static-storage"))); err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		close(done)
		static = append(static, took)
		if want = fileSize(out); full == 0 {
			full = took
		}
		staticSink = append(staticSink, full)
		return out
	}
	runStream := func(dir string) string {
		out := filepath.Join(dir, "stream.csv")
		p := pwlog.New()
		tutorial.Sessions(p, input, 300, pwlog.FileOptions{Streaming: true}).
			WriteCSV("output", out, pwlog.SinkOptions{Append: true})
		start := time.Now()
		stop := runInBackground(p, quietConfig(filepath.Join(dir, "stream-storage")))
		last, grew := int64(0), time.Now()
		for fileSize(out) < want {
			if s := fileSize(out); s > last {
				last, grew = s, time.Now()
			}
			if time.Since(grew) > 30*time.Second {
				stop()
				b.Fatalf("the streaming sink stays at %d bytes, the static one has %d", last, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
		stream = append(stream, time.Since(start))
		if err := stop(); err != nil {
			b.Fatal(err)
		}
		return out
	}
	for i := range b.N {
		dir := b.TempDir()
		var out, sout string
		if i%2 == 0 {
			out = runStatic(dir)
			sout = runStream(dir)
		} else {
			sout = runStream(dir)
			out = runStatic(dir)
		}
		b.StopTimer()
		b.Logf("op %d: static %v (sink full at %v), streaming %v", i, static[i].Round(time.Millisecond),
			staticSink[i].Round(time.Millisecond), stream[i].Round(time.Millisecond))
		if got, want := consolidated(b, readSink(b, sout)), consolidated(b, readSink(b, out)); !slices.Equal(got, want) {
			b.Fatalf("op %d: the streaming sink consolidates to %d rows, the static one to %d", i, len(got), len(want))
		}
		b.StartTimer()
	}
	med := func(ds []time.Duration) float64 { return quantile(ds, 0.5).Seconds() }
	b.ReportMetric(float64(rows)/med(static), "static-rows/s")
	b.ReportMetric(float64(rows)/med(staticSink), "static-sink-rows/s")
	b.ReportMetric(float64(rows)/med(stream), "stream-rows/s")
	b.ReportMetric(med(staticSink)/med(stream), "stream/static")
}
