package checkpoint

import (
	"bytes"
	"fmt"
	"math/rand"
	"sync"
	"testing"

	"github.com/pwlog/pwlog/differential"
)

// benchData caches tutorial-shaped deltas across benchmarks.
var benchData struct {
	sync.Mutex
	m map[[3]int64]differential.Deltas
}

// benchDeltas returns n sorted tutorial-shaped entries (about 100 per
// user), built once per (n, seed).
func benchDeltas(n int, seed int64) differential.Deltas {
	benchData.Lock()
	defer benchData.Unlock()
	if benchData.m == nil {
		benchData.m = map[[3]int64]differential.Deltas{}
	}
	k := [3]int64{int64(n), seed}
	if d, ok := benchData.m[k]; ok {
		return d
	}
	d := tutorialDeltas(n, max(n/100, 1), seed)
	benchData.m[k] = d
	return d
}

func entriesPerSecond(b *testing.B, n int) {
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

var sizes = []struct {
	name string
	n    int
}{{"10k", 10_000}, {"1M", 1_000_000}}

// BenchmarkDecodeRun measures the restart path: decoding a run of
// tutorial-shaped entries (group 6 bytes, random key, row 14 bytes).
func BenchmarkDecodeRun(b *testing.B) {
	for _, s := range sizes {
		b.Run(s.name, func(b *testing.B) {
			data, err := EncodeRun(RunMeta{Name: "r"}, benchDeltas(s.n, 1))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, _, err := DecodeRun("r", data); err != nil {
					b.Fatal(err)
				}
			}
			entriesPerSecond(b, s.n)
			b.ReportMetric(float64(len(data))/float64(s.n), "bytes/entry")
		})
	}
}

func BenchmarkEncodeRun(b *testing.B) {
	for _, s := range sizes {
		b.Run(s.name, func(b *testing.B) {
			d := benchDeltas(s.n, 1)
			b.ReportAllocs()
			var size int
			for b.Loop() {
				data, err := EncodeRun(RunMeta{Name: "r"}, d)
				if err != nil {
					b.Fatal(err)
				}
				size = len(data)
			}
			b.SetBytes(int64(size))
			entriesPerSecond(b, s.n)
		})
	}
}

// BenchmarkMerge merges runs of tutorial-shaped entries: k runs of equal
// size, and the common compaction step of a small new run into a big one
// (a tenth of whose entries it retracts).
func BenchmarkMerge(b *testing.B) {
	for _, k := range []int{2, 8} {
		b.Run(fmt.Sprintf("%dx%dk", k, 1000/k), func(b *testing.B) {
			runs := make([]differential.Deltas, k)
			for i := range runs {
				runs[i] = benchDeltas(1_000_000/k, int64(10+i))
			}
			b.ReportAllocs()
			for b.Loop() {
				Merge(runs...)
			}
			entriesPerSecond(b, 1_000_000)
		})
	}
	b.Run("1M+10k", func(b *testing.B) {
		big := benchDeltas(1_000_000, 1)
		small := benchDeltas(10_000, 2)
		rng := rand.New(rand.NewSource(1))
		small = cloneDeltas(small)
		for i := 0; i < 1000; i++ {
			j := rng.Intn(big.Len())
			small.Groups = append(small.Groups, big.Groups[j])
			small.Keys = append(small.Keys, big.Keys[j])
			small.Rows = append(small.Rows, big.Rows[j])
			small.Diffs = append(small.Diffs, -1)
		}
		small = SortDeltas(small)
		b.ReportAllocs()
		for b.Loop() {
			Merge(big, small)
		}
		entriesPerSecond(b, big.Len()+small.Len())
	})
}

// BenchmarkSortDeltas sorts a fold of a log: 1M entries in random order.
func BenchmarkSortDeltas(b *testing.B) {
	src := benchDeltas(1_000_000, 1)
	rng := rand.New(rand.NewSource(2))
	perm := rng.Perm(src.Len())
	shuffled := cloneDeltas(src)
	for i, j := range perm {
		shuffled.Groups[i], shuffled.Keys[i], shuffled.Rows[i], shuffled.Diffs[i] = src.Groups[j], src.Keys[j], src.Rows[j], src.Diffs[j]
	}
	work := cloneDeltas(shuffled)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		copy(work.Groups, shuffled.Groups)
		copy(work.Keys, shuffled.Keys)
		copy(work.Rows, shuffled.Rows)
		copy(work.Diffs, shuffled.Diffs)
		b.StartTimer()
		SortDeltas(work)
	}
	entriesPerSecond(b, src.Len())
}

// benchGroupPerEntry returns n sorted tutorial-shaped entries, each of a
// group of its own, built once per n.
func benchGroupPerEntry(n int) differential.Deltas {
	benchData.Lock()
	defer benchData.Unlock()
	if benchData.m == nil {
		benchData.m = map[[3]int64]differential.Deltas{}
	}
	k := [3]int64{int64(n), 0, 1}
	if d, ok := benchData.m[k]; ok {
		return d
	}
	rng := rand.New(rand.NewSource(1))
	var d differential.Deltas
	for i := range n {
		u := fmt.Sprintf("%07d", i)
		t := int64(1_700_000_000_000 + rng.Intn(1_000_000_000))
		d.Groups = append(d.Groups, string(differential.EncodeRow(differential.Row{differential.String(u)})))
		d.Keys = append(d.Keys, differential.Key(rng.Uint64()))
		d.Rows = append(d.Rows, string(differential.EncodeRow(differential.Row{differential.String(u), differential.Int(t)})))
		d.Diffs = append(d.Diffs, 1)
	}
	d = SortDeltas(d)
	benchData.m[k] = d
	return d
}

// BenchmarkRunLookup looks up one random group of a run of 1M
// tutorial-shaped entries held in memory (so it measures decoding and the
// cache, not I/O): of about 10k groups of 100 entries, and of 1M groups
// of one entry; with a warm cache that holds the whole run, and with none
// (every lookup reads and decodes its blocks).
func BenchmarkRunLookup(b *testing.B) {
	for _, shape := range []struct {
		name string
		d    func() differential.Deltas
	}{
		{"10k-groups", func() differential.Deltas { return benchDeltas(1_000_000, 1) }},
		{"1M-groups", func() differential.Deltas { return benchGroupPerEntry(1_000_000) }},
	} {
		for _, c := range []struct {
			name     string
			capacity int64
		}{{"warm", 1 << 30}, {"nocache", 0}} {
			b.Run(shape.name+"/"+c.name, func(b *testing.B) {
				d := shape.d()
				data, err := EncodeRun(RunMeta{Name: "r"}, d)
				if err != nil {
					b.Fatal(err)
				}
				groups := groupsOf(d)
				cache := NewCache(c.capacity)
				run, err := OpenRun("r", bytes.NewReader(data), int64(len(data)), cache)
				if err != nil {
					b.Fatal(err)
				}
				defer run.Close()
				// Load the filter; warm the cache with every block.
				if _, err := run.Lookup(groups[0], func(differential.Key, string, int64) {}); err != nil {
					b.Fatal(err)
				}
				if c.capacity > 0 {
					for _, h := range run.blocks {
						if _, err := run.Lookup(h.first, func(differential.Key, string, int64) {}); err != nil {
							b.Fatal(err)
						}
					}
				}
				rng := rand.New(rand.NewSource(1))
				entries := 0
				before := cache.Stats()
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					found, err := run.Lookup(groups[rng.Intn(len(groups))], func(differential.Key, string, int64) { entries++ })
					if err != nil || !found {
						b.Fatalf("found %v, %v", found, err)
					}
				}
				after := cache.Stats()
				b.ReportMetric(float64(entries)/float64(b.N), "entries/op")
				b.ReportMetric(float64(after.BytesRead-before.BytesRead)/float64(b.N), "read-bytes/op")
				b.ReportMetric(float64(after.Misses-before.Misses)/float64(b.N), "blocks-read/op")
			})
		}
	}
}

// countingWriter counts the bytes written to it.
type countingWriter int64

func (w *countingWriter) Write(p []byte) (int, error) {
	*w += countingWriter(len(p))
	return len(p), nil
}

// BenchmarkRunWrite writes runs of tutorial-shaped entries through a
// RunWriter, default block size and a filter, to a writer that keeps
// nothing.
func BenchmarkRunWrite(b *testing.B) {
	for _, s := range sizes {
		b.Run(s.name, func(b *testing.B) {
			d := benchDeltas(s.n, 1)
			groups := len(groupsOf(d))
			var size countingWriter
			b.ReportAllocs()
			for b.Loop() {
				size = 0
				w := NewRunWriter(&size, RunMeta{Name: "r"}, WriterOptions{Groups: groups})
				for i := range d.Len() {
					if err := w.Add(d.Groups[i], d.Keys[i], d.Rows[i], d.Diffs[i]); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := w.Finish(); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(size))
			entriesPerSecond(b, s.n)
			b.ReportMetric(float64(size)/float64(s.n), "bytes/entry")
		})
	}
}
