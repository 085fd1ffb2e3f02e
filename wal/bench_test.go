package wal

import (
	"fmt"
	"math/rand"
	"sync"
	"testing"
)

// BenchmarkAppend appends single-record batches (NoSync) and in parallel
// with group commit over a fake fsync, per body size.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{64, 1024, 16 << 10} {
		body := make([]byte, size)
		rand.New(rand.NewSource(1)).Read(body[:size/2]) // half compressible
		b.Run(fmt.Sprintf("serial/%dB", size), func(b *testing.B) {
			l := mustOpen(b, b.TempDir(), &Options{NoSync: true, Logger: quietLogger()})
			defer mustClose(b, l)
			recs := []Record{{Kind: KindCommit, Data: body}}
			b.SetBytes(int64(size))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := l.Append(recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
		b.Run(fmt.Sprintf("parallel/%dB", size), func(b *testing.B) {
			l := mustOpen(b, b.TempDir(), &Options{Logger: quietLogger()})
			defer mustClose(b, l)
			l.syncFile = func() error { return nil }
			l.syncDir = func() error { return nil }
			b.SetBytes(int64(size))
			b.ResetTimer()
			var mu sync.Mutex
			b.RunParallel(func(pb *testing.PB) {
				recs := []Record{{Kind: KindCommit, Data: body}}
				for pb.Next() {
					if _, err := l.Append(recs); err != nil {
						mu.Lock()
						b.Error(err)
						mu.Unlock()
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(b.N)/float64(l.groups.Load()), "records/batch")
		})
	}
}

// BenchmarkReplay replays a log of 1 KiB records.
func BenchmarkReplay(b *testing.B) {
	const n = 10000
	l := mustOpen(b, b.TempDir(), &Options{NoSync: true, Logger: quietLogger()})
	defer mustClose(b, l)
	body := make([]byte, 1024)
	rand.New(rand.NewSource(1)).Read(body[:512])
	for i := 0; i < n; i += 10 {
		recs := make([]Record, 10)
		for j := range recs {
			recs[j] = Record{Kind: 2, Data: body}
		}
		recs[9].Kind = KindCommit
		mustAppend(b, l, recs)
	}
	b.SetBytes(n * int64(len(body)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		count := 0
		if err := l.Replay(0, func(Record) error { count++; return nil }); err != nil || count != n {
			b.Fatalf("replay: %d records, %v", count, err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
}
