package checkpoint

import (
	"bytes"
	"fmt"
	"math/rand"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog/differential"
)

// TestRunLookupRoundTrip writes random sorted, consolidated deltas at
// random block sizes, with a filter or without (or one sized for far
// fewer or more groups than the run holds), and reads them back every
// way: DecodeRun returns them; Lookup of each group returns exactly its
// entries in (key, row) order, and found; Lookup of absent groups —
// before the first, between, after the last, "" — returns nothing; Iter
// returns them all.
func TestRunLookupRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var d differential.Deltas
		if rapid.Bool().Draw(t, "wide") {
			d = SortDeltas(genWideDeltas().Draw(t, "deltas"))
		} else {
			d = SortDeltas(genDeltas(200).Draw(t, "deltas"))
		}
		gs := groupsOf(d)
		opts := WriterOptions{
			BlockSize: rapid.OneOf(rapid.IntRange(1, 256), rapid.IntRange(1, 64<<10)).Draw(t, "block size"),
			Groups:    rapid.SampledFrom([]int{0, 1, len(gs), 10*len(gs) + 1}).Draw(t, "filter groups"),
		}
		meta := RunMeta{
			Name:     RunName(rapid.Uint64().Draw(t, "id")),
			Operator: rapid.String().Draw(t, "operator"),
			Level:    rapid.IntRange(0, 40).Draw(t, "level"),
			MinLSN:   rapid.Uint64().Draw(t, "lo"),
			Bytes:    12345, CRC: 99, Entries: -3, // not stored
		}
		b := mustEncodeRunOpts(t, meta, d, opts)
		checkDecodes(t, meta, d, b)

		cache := NewCache(rapid.SampledFrom([]int64{0, 4 << 10, 1 << 20}).Draw(t, "cache"))
		run, err := OpenRun(meta.Name, bytes.NewReader(b), int64(len(b)), cache)
		if err != nil {
			t.Fatal(err)
		}
		defer run.Close()
		want := meta
		want.Entries, want.Bytes, want.CRC = int64(d.Len()), 0, 0
		if run.Meta() != want || run.Name() != meta.Name || run.Groups() != int64(len(gs)) {
			t.Fatalf("run %q: meta %+v, %d groups; want %+v, %d groups", run.Name(), run.Meta(), run.Groups(), want, len(gs))
		}
		if (run.Blocks() > 0) != (d.Len() > 0) || run.Blocks() > d.Len() {
			t.Fatalf("%d entries in %d blocks", d.Len(), run.Blocks())
		}
		if hasFilter := run.filterLen > 0; hasFilter != (opts.Groups > 0 && d.Len() > 0) {
			t.Fatalf("filter of %d bytes for WriterOptions.Groups %d", run.filterLen, opts.Groups)
		}
		for range 2 { // the second time through the cache
			for _, g := range gs {
				got, found, err := lookup(run, g)
				if err != nil || !found {
					t.Fatalf("Lookup(%q): found %v, %v", g, found, err)
				}
				if msg := diffDeltas(got, entriesOf(d, g)); msg != "" {
					t.Fatalf("Lookup(%q): %s", g, msg)
				}
			}
			for _, g := range absentGroups(gs) {
				if got, found, err := lookup(run, g); err != nil || found || got.Len() != 0 {
					t.Fatalf("Lookup(%q) of an absent group: found %v, %d entries, %v", g, found, got.Len(), err)
				}
			}
		}
		got, err := drain(run.Iter())
		if err != nil {
			t.Fatal(err)
		}
		if msg := diffDeltas(got, d); msg != "" {
			t.Fatalf("Iter: %s", msg)
		}
		if st := cache.Stats(); st.Size > st.Capacity {
			t.Fatalf("cache holds %d bytes, its capacity is %d", st.Size, st.Capacity)
		}
	})
}

// cacheRun is a run of 20k entries in 200 groups, in blocks of about a
// kilobyte, with a filter.
func cacheRun(t *testing.T, name string, seed int64) (*Run, differential.Deltas, *Cache) {
	t.Helper()
	d := tutorialDeltas(20_000, 200, seed)
	b := mustEncodeRunOpts(t, RunMeta{Name: name}, d, WriterOptions{BlockSize: 1 << 10, Groups: 200})
	cache := NewCache(1 << 30)
	run, err := OpenRun(name, bytes.NewReader(b), int64(len(b)), cache)
	if err != nil {
		t.Fatal(err)
	}
	return run, d, cache
}

// mustLookup looks up group g and checks that it returns exactly its
// entries in d.
func mustLookup(t *testing.T, run *Run, d differential.Deltas, g string) {
	t.Helper()
	got, found, err := lookup(run, g)
	if err != nil || !found {
		t.Fatalf("Lookup(%q): found %v, %v", g, found, err)
	}
	if msg := diffDeltas(got, entriesOf(d, g)); msg != "" {
		t.Fatalf("Lookup(%q): %s", g, msg)
	}
}

func TestRunCacheHits(t *testing.T) {
	run, d, cache := cacheRun(t, "r", 1)
	g := groupsOf(d)[50]
	mustLookup(t, run, d, g) // loads the filter, reads the group's blocks
	first := cache.Stats()
	if first.Misses == 0 || first.Hits != 0 || first.Size == 0 {
		t.Fatalf("after the first lookup: %+v", first)
	}
	mustLookup(t, run, d, g)
	second := cache.Stats()
	if second.Hits != first.Misses || second.Misses != first.Misses || second.BytesRead != first.BytesRead || second.Size != first.Size {
		t.Fatalf("the second lookup of a group: %+v, after the first %+v; want every block a hit, nothing read", second, first)
	}
}

func TestRunCacheCapacity(t *testing.T) {
	d := tutorialDeltas(20_000, 200, 2)
	b := mustEncodeRunOpts(t, RunMeta{Name: "r"}, d, WriterOptions{BlockSize: 1 << 10, Groups: 200})
	for _, capacity := range []int64{1, 8 << 10, 64 << 10} {
		cache := NewCache(capacity)
		run, err := OpenRun("r", bytes.NewReader(b), int64(len(b)), cache)
		if err != nil {
			t.Fatal(err)
		}
		gs := groupsOf(d)
		for i := range 3 * len(gs) {
			mustLookup(t, run, d, gs[(i*7)%len(gs)])
			mustLookup(t, run, d, gs[(i*7)%len(gs)])
			if st := cache.Stats(); st.Size > capacity || st.Capacity != capacity {
				t.Fatalf("capacity %d: the cache holds %d bytes (%+v)", capacity, st.Size, st)
			}
		}
		st := cache.Stats()
		if capacity > 1 && (st.Size == 0 || st.Hits == 0) {
			t.Fatalf("capacity %d: the cache kept nothing: %+v", capacity, st)
		}
		if st.Misses <= int64(run.Blocks()) {
			t.Fatalf("capacity %d: %d misses for %d blocks: nothing was evicted", capacity, st.Misses, run.Blocks())
		}
	}
}

func TestRunCloseDropsBlocks(t *testing.T) {
	d1 := tutorialDeltas(5_000, 50, 3)
	d2 := tutorialDeltas(5_000, 50, 4)
	cache := NewCache(1 << 30)
	open := func(name string, d differential.Deltas) *Run {
		b := mustEncodeRunOpts(t, RunMeta{Name: name}, d, WriterOptions{BlockSize: 1 << 10, Groups: 50})
		run, err := OpenRun(name, bytes.NewReader(b), int64(len(b)), cache)
		if err != nil {
			t.Fatal(err)
		}
		return run
	}
	r1, r2 := open("r1", d1), open("r2", d2)
	for _, g := range groupsOf(d1) {
		mustLookup(t, r1, d1, g)
	}
	only1 := cache.Stats().Size
	for _, g := range groupsOf(d2) {
		mustLookup(t, r2, d2, g)
	}
	both := cache.Stats()
	if only1 == 0 || both.Size <= only1 {
		t.Fatalf("the cache holds %d bytes for one run, %d for both", only1, both.Size)
	}
	r1.Close()
	if got := cache.Stats(); got.Size != both.Size-only1 {
		t.Fatalf("after closing r1 the cache holds %d bytes, want %d (those of r2)", got.Size, both.Size-only1)
	}
	// r2's blocks are still there; r1 still reads, through the cache again.
	for _, g := range groupsOf(d2) {
		mustLookup(t, r2, d2, g)
	}
	if got := cache.Stats(); got.Misses != both.Misses {
		t.Fatalf("closing r1 dropped blocks of r2: %d misses, were %d", got.Misses, both.Misses)
	}
	mustLookup(t, r1, d1, groupsOf(d1)[0])
	r1.Close()
	r2.Close()
	if got := cache.Stats(); got.Size != 0 {
		t.Fatalf("with every run closed the cache holds %d bytes", got.Size)
	}
}

func TestRunNoCache(t *testing.T) {
	d := tutorialDeltas(5_000, 50, 5)
	b := mustEncodeRunOpts(t, RunMeta{Name: "r"}, d, WriterOptions{BlockSize: 1 << 10, Groups: 50})
	for _, cache := range []*Cache{NewCache(0), NewCache(-5), nil} {
		run, err := OpenRun("r", bytes.NewReader(b), int64(len(b)), cache)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			for _, g := range groupsOf(d) {
				mustLookup(t, run, d, g)
			}
		}
		if cache == nil {
			continue
		}
		if st := cache.Stats(); st.Size != 0 || st.Hits != 0 || st.Misses < int64(2*run.Blocks()) || st.Capacity != 0 {
			t.Fatalf("a cache of capacity 0: %+v", st)
		}
	}
}

// TestRunFilter looks up 10k absent groups, each sorting between two
// groups of the run: with a filter, most read no block; without one, most
// do.
func TestRunFilter(t *testing.T) {
	var d differential.Deltas
	for g := range 1000 {
		for k := range 3 {
			d.Groups = append(d.Groups, fmt.Sprintf("user-%04d", g))
			d.Keys = append(d.Keys, differential.Key(k))
			d.Rows = append(d.Rows, "row")
			d.Diffs = append(d.Diffs, 1)
		}
	}
	const absent = 10_000
	read := func(groups int) (reads int) {
		t.Helper()
		b := mustEncodeRunOpts(t, RunMeta{Name: "r"}, d, WriterOptions{BlockSize: 256, Groups: groups})
		cache := NewCache(0)
		run, err := OpenRun("r", bytes.NewReader(b), int64(len(b)), cache)
		if err != nil {
			t.Fatal(err)
		}
		mustLookup(t, run, d, "user-0000") // loads the filter
		for i := range absent {
			g := fmt.Sprintf("user-%04d-%d", i%1000, i/1000)
			before := cache.Stats()
			if got, found, err := lookup(run, g); err != nil || found || got.Len() != 0 {
				t.Fatalf("Lookup(%q): found %v, %d entries, %v", g, found, got.Len(), err)
			}
			after := cache.Stats()
			switch {
			case after.Misses != before.Misses:
				reads++
			case after.BytesRead != before.BytesRead:
				t.Fatalf("Lookup(%q) read %d bytes and no block", g, after.BytesRead-before.BytesRead)
			}
		}
		return reads
	}
	if fp := read(1000); fp*100 >= 3*absent {
		t.Fatalf("with a filter, %d of %d lookups of absent groups read a block", fp, absent)
	} else {
		t.Logf("false positives: %d of %d", fp, absent)
	}
	if reads := read(0); reads*2 < absent {
		t.Fatalf("without a filter, only %d of %d lookups of absent groups read a block: the test measures nothing", reads, absent)
	}
}

// TestRunConcurrentLookups looks up groups of one run from several
// goroutines through one small cache, while another opens, reads and
// closes a second run on the same cache (run it with -race).
func TestRunConcurrentLookups(t *testing.T) {
	d := tutorialDeltas(30_000, 500, 6)
	b := mustEncodeRunOpts(t, RunMeta{Name: "r"}, d, WriterOptions{BlockSize: 2 << 10, Groups: 500})
	cache := NewCache(128 << 10)
	run, err := OpenRun("r", bytes.NewReader(b), int64(len(b)), cache)
	if err != nil {
		t.Fatal(err)
	}
	gs := groupsOf(d)
	absent := absentGroups(gs)
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			rng := rand.New(rand.NewSource(int64(w)))
			for i := range 300 {
				g := gs[rng.Intn(len(gs))]
				want := entriesOf(d, g)
				if i%5 == 0 {
					g, want = absent[rng.Intn(len(absent))], differential.Deltas{}
				}
				got, found, err := lookup(run, g)
				if err != nil || found != (want.Len() > 0) {
					t.Errorf("Lookup(%q): found %v, %v", g, found, err)
					return
				}
				if msg := diffDeltas(got, want); msg != "" {
					t.Errorf("Lookup(%q): %s", g, msg)
					return
				}
				if st := cache.Stats(); st.Size > st.Capacity {
					t.Errorf("cache of %d bytes holds %d", st.Capacity, st.Size)
					return
				}
			}
			if got, err := drain(run.Iter()); err != nil || diffDeltas(got, d) != "" {
				t.Errorf("Iter: %v %s", err, diffDeltas(got, d))
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			other, err := OpenRun("other", bytes.NewReader(b), int64(len(b)), cache)
			if err != nil {
				t.Error(err)
				return
			}
			for _, g := range gs[:20] {
				if _, err := other.Lookup(g, func(differential.Key, string, int64) {}); err != nil {
					t.Error(err)
				}
			}
			other.Close()
		}
	})
	wg.Wait()
}
