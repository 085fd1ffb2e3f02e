package pwlog_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/objlog"
	"github.com/pwlog/pwlog/wal"
)

// benchStore is a storage the object-store benchmarks compare.
type benchStore struct {
	name string
	// open returns a new empty storage's backend.
	open func(b *testing.B) backend.Backend
}

// benchStores are the storages the object-store benchmarks compare: a
// local directory, and on Linux the local servers the tests start
// (versitygw for S3, Azurite for Azure Blob) on 127.0.0.1.
var benchStores = []benchStore{
	{"filesystem", func(b *testing.B) backend.Backend { return pwlog.Filesystem(filepath.Join(b.TempDir(), "storage")) }},
}

// runStats catches the times and rows a run's last log line reports.
type runStats struct {
	mu    sync.Mutex
	times int64
}

func (r *runStats) Enabled(context.Context, slog.Level) bool { return true }
func (r *runStats) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *runStats) WithGroup(string) slog.Handler            { return r }
func (r *runStats) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message != "Run finished" {
		return nil
	}
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "times" {
			r.mu.Lock()
			r.times = a.Value.Int64()
			r.mu.Unlock()
		}
		return true
	})
	return nil
}

// BenchmarkObjectStoreRun is the tutorial pipeline over the
// tutorial-shaped data set (PWLOG_BENCH_ROWS rows, default 200k), persistent,
// on each storage: rows/s of the whole run; for the object stores the
// requests and bytes sent per committed time; then a restart with nothing
// new, from an empty cache directory (as on another machine), and one
// more with the cache it filled, in ms.
// Run it with -benchtime 1x.
func BenchmarkObjectStoreRun(b *testing.B) {
	input, rows := benchInput(b)
	for _, s := range benchStores {
		b.Run(s.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				st := s.open(b)
				counted := backend.Count(st)
				stats := &runStats{}
				cfg := pwlog.Config{Backend: st, CacheDir: b.TempDir(), Logger: slog.New(stats)}
				if _, local := st.(*backend.Filesystem); !local {
					cfg.Backend = counted
				}
				p := pwlog.New()
				tutorial.Sessions(p, input, 300).WriteCSV("output", os.DevNull)
				b.StartTimer()
				start := time.Now()
				if err := p.Run(context.Background(), cfg); err != nil {
					b.Fatal(err)
				}
				elapsed := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(rows)/elapsed.Seconds(), "rows/s")
				if c := counted.Counts(); c.Requests() > 0 && stats.times > 0 {
					b.ReportMetric(float64(c.Requests())/float64(stats.times), "requests/time")
					b.ReportMetric(float64(c.BytesOut)/float64(stats.times), "bytes-sent/time")
					b.ReportMetric(float64(stats.times), "times")
				}
				// The restart: nothing new, an empty cache.
				cfg.CacheDir = b.TempDir()
				p = pwlog.New()
				tutorial.Sessions(p, input, 300).WriteCSV("output", os.DevNull)
				before := counted.Counts()
				start = time.Now()
				if err := p.Run(context.Background(), cfg); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "restart-empty-cache-ms")
				if c := counted.Counts().Sub(before); c.Requests() > 0 {
					b.ReportMetric(float64(c.Requests()), "restart-requests")
					b.ReportMetric(float64(c.BytesIn)/(1<<20), "restart-MiB-read")
				}
				// Again, with the cache the restart filled.
				p = pwlog.New()
				tutorial.Sessions(p, input, 300).WriteCSV("output", os.DevNull)
				start = time.Now()
				if err := p.Run(context.Background(), cfg); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "restart-warm-cache-ms")
				b.StartTimer()
			}
		})
	}
}

// BenchmarkCommitLatency is the latency of one durable commit window of a
// few KiB: an fsynced append to the local log (wal), or one log object
// written by conditional create in each object store (objlog with
// SyncInterval 0). ns/op is the latency.
func BenchmarkCommitLatency(b *testing.B) {
	body := make([]byte, 4<<10)
	for i := range body {
		body[i] = byte(i * 7)
	}
	recs := []wal.Record{{Kind: 2, Data: body}, {Kind: wal.KindCommit, Data: []byte{0x80}}}
	for _, s := range benchStores {
		b.Run(s.name, func(b *testing.B) {
			st := s.open(b)
			var log interface {
				Append([]wal.Record) (uint64, error)
				Close() error
			}
			var err error
			if fs, ok := st.(*backend.Filesystem); ok {
				log, err = wal.Open(filepath.Join(fs.Root(), "wal"), nil)
			} else {
				log, err = objlog.Open(context.Background(), backend.Sub(st, "wal"), &objlog.Options{Epoch: 1})
			}
			if err != nil {
				b.Fatal(err)
			}
			defer log.Close()
			b.SetBytes(int64(len(body)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := log.Append(recs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
