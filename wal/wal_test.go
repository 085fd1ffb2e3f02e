package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/vfs"
)

// logBuf collects log output for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *logBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *logBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func captureLogger() (*slog.Logger, *logBuf) {
	w := &logBuf{}
	return slog.New(slog.NewTextHandler(w, nil)), w
}

func mustOpen(t testing.TB, dir string, o *Options) *Log {
	t.Helper()
	l, err := Open(dir, o)
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return l
}

func mustClose(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

func mustAppend(t testing.TB, l *Log, recs []Record) uint64 {
	t.Helper()
	lsn, err := l.Append(recs)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return lsn
}

// replayAll returns copies of the records with LSN >= from.
func replayAll(t testing.TB, l *Log, from uint64) []Record {
	t.Helper()
	recs, err := replayCollect(l, from)
	if err != nil {
		t.Fatalf("replay from %d: %v", from, err)
	}
	return recs
}

// replayCollect returns copies of the records replayed before an error.
func replayCollect(l *Log, from uint64) ([]Record, error) {
	var recs []Record
	err := l.Replay(from, func(r Record) error {
		r.Data = bytes.Clone(r.Data)
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

func checkRecords(t testing.TB, got, want []Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].LSN != want[i].LSN || got[i].Kind != want[i].Kind || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("record %d: got (lsn %d kind %d %q), want (lsn %d kind %d %q)", i,
				got[i].LSN, got[i].Kind, trunc(got[i].Data), want[i].LSN, want[i].Kind, trunc(want[i].Data))
		}
	}
}

func trunc(b []byte) []byte {
	if len(b) > 24 {
		return b[:24]
	}
	return b
}

// segNames lists the segment file names of dir.
func segNames(t testing.TB, dir string) []string {
	t.Helper()
	segs, err := listSegments(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range segs {
		names = append(names, filepath.Base(s.path))
	}
	return names
}

// rawFrame is one entry as found on disk.
type rawFrame struct {
	seg   string
	off   int // offset of the entry (uvarint) in seg
	end   int
	frame []byte
}

// rawFrames parses every entry of every segment of dir, without checks
// beyond the entry lengths.
func rawFrames(t testing.TB, dir string) []rawFrame {
	t.Helper()
	segs, err := listSegments(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []rawFrame
	for _, s := range segs {
		data, err := os.ReadFile(s.path)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(data); {
			n, m := entryLen(data[off:])
			if m <= 0 {
				t.Fatalf("%s offset %d: bad entry length", s.path, off)
			}
			out = append(out, rawFrame{seg: filepath.Base(s.path), off: off, end: off + m + n, frame: data[off+m : off+m+n]})
			off += m + n
		}
	}
	return out
}

// batchGen makes record batches ending with a commit.
type batchGen struct {
	rng *rand.Rand
	seq int
}

func (g *batchGen) batch(maxRecs, maxBody int) []Record {
	n := 1 + g.rng.Intn(maxRecs)
	recs := make([]Record, n)
	for i := range recs {
		g.seq++
		size := g.rng.Intn(maxBody + 1)
		data := make([]byte, size)
		g.rng.Read(data)
		copy(data, fmt.Sprintf("#%d:", g.seq))
		recs[i] = Record{Kind: Kind(2 + g.rng.Intn(3)), Data: data}
	}
	recs[n-1].Kind = KindCommit
	return recs
}

// cloneRecs copies recs, for a model that outlives the caller's buffers.
func cloneRecs(recs []Record) []Record {
	out := make([]Record, len(recs))
	for i, r := range recs {
		out[i] = Record{LSN: r.LSN, Kind: r.Kind, Data: bytes.Clone(r.Data)}
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, &Options{NoSync: true, Logger: quietLogger()})
	if l.FirstLSN() != 1 || l.LastLSN() != 0 || l.DurableLSN() != 0 {
		t.Fatalf("new log: first %d last %d durable %d", l.FirstLSN(), l.LastLSN(), l.DurableLSN())
	}
	g := &batchGen{rng: rand.New(rand.NewSource(4))}
	var want []Record
	large := bytes.Repeat([]byte("a compressible row of a large record body\n"), 300)
	for i := 0; i < 30; i++ {
		recs := g.batch(4, 200)
		if i == 10 {
			recs = append([]Record{{Kind: 3, Data: large}}, recs...)
		}
		last := mustAppend(t, l, recs)
		for j, r := range recs {
			if r.LSN != uint64(len(want)+j+1) {
				t.Fatalf("batch %d record %d: LSN %d, want %d", i, j, r.LSN, len(want)+j+1)
			}
		}
		want = append(want, cloneRecs(recs)...)
		if last != uint64(len(want)) || l.LastLSN() != last {
			t.Fatalf("batch %d: Append returned %d, LastLSN %d, want %d", i, last, l.LastLSN(), len(want))
		}
	}
	checkRecords(t, replayAll(t, l, 0), want)
	mustClose(t, l)

	l = mustOpen(t, dir, &Options{NoSync: true, Logger: quietLogger()})
	defer mustClose(t, l)
	if l.FirstLSN() != 1 || l.LastLSN() != uint64(len(want)) || l.DurableLSN() != l.LastLSN() {
		t.Fatalf("reopened: first %d last %d durable %d, want 1, %d, %d", l.FirstLSN(), l.LastLSN(), l.DurableLSN(), len(want), len(want))
	}
	checkRecords(t, replayAll(t, l, 0), want)
	checkRecords(t, replayAll(t, l, 1), want)
	checkRecords(t, replayAll(t, l, 17), want[16:])
	checkRecords(t, replayAll(t, l, uint64(len(want))), want[len(want)-1:])
	checkRecords(t, replayAll(t, l, uint64(len(want)+1)), nil)

	// Snappy is used for the large compressible body and for nothing small.
	frames := rawFrames(t, dir)
	if len(frames) != len(want) {
		t.Fatalf("%d frames on disk, want %d", len(frames), len(want))
	}
	compressed := 0
	for i, f := range frames {
		isLarge := bytes.Equal(want[i].Data, large)
		if got := f.frame[2]&flagSnappy != 0; got != isLarge {
			t.Fatalf("LSN %d (%d bytes): snappy flag %v", i+1, len(want[i].Data), got)
		}
		if isLarge {
			compressed++
			if len(f.frame) > len(large)/4 {
				t.Fatalf("compressed frame of %d bytes for a %d-byte body", len(f.frame), len(large))
			}
		}
	}
	if compressed != 1 {
		t.Fatalf("%d compressed frames, want 1", compressed)
	}
}

func TestAppendEdgeCases(t *testing.T) {
	l := mustOpen(t, t.TempDir(), &Options{NoSync: true, Logger: quietLogger()})
	defer mustClose(t, l)
	if lsn, err := l.Append(nil); err != nil || lsn != 0 {
		t.Fatalf("empty append on empty log: %d, %v", lsn, err)
	}
	mustAppend(t, l, []Record{{Kind: KindCommit, Data: []byte("a")}})
	if lsn, err := l.Append([]Record{}); err != nil || lsn != 1 {
		t.Fatalf("empty append: %d, %v", lsn, err)
	}
	big := make([]byte, MaxRecordSize+1)
	if _, err := l.Append([]Record{{Kind: 2, Data: []byte("x")}, {Kind: KindCommit, Data: big}}); err == nil {
		t.Fatal("appended a body larger than MaxRecordSize")
	}
	if l.LastLSN() != 1 {
		t.Fatalf("refused append changed LastLSN to %d", l.LastLSN())
	}
	// The refusal is not fatal.
	if lsn := mustAppend(t, l, []Record{{Kind: KindCommit, Data: nil}}); lsn != 2 {
		t.Fatalf("append after refusal: LSN %d", lsn)
	}
	got := replayAll(t, l, 0)
	checkRecords(t, got, []Record{{LSN: 1, Kind: KindCommit, Data: []byte("a")}, {LSN: 2, Kind: KindCommit, Data: []byte{}}})
}

// TestGroupCommit appends from many goroutines: every record lands exactly
// once, LSNs are consecutive, each Append's records are contiguous, and
// Appends are coalesced into fewer batches and fsyncs.
func TestGroupCommit(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, &Options{Logger: quietLogger()})
	var fileSyncs atomic.Int64
	// A slow fsync lets requests queue behind it, as on a real disk.
	l.syncFile = func() error {
		fileSyncs.Add(1)
		time.Sleep(200 * time.Microsecond)
		return nil
	}
	l.syncDir = func() error { return nil }

	const workers, appends = 16, 40
	type call struct {
		first uint64
		recs  []Record
	}
	calls := make([][]call, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(int64(w)))
			for s := 0; s < appends; s++ {
				n := 1 + rng.Intn(3)
				recs := make([]Record, n)
				for i := range recs {
					recs[i] = Record{Kind: 2, Data: []byte(fmt.Sprintf("w%d-s%d-r%d", w, s, i))}
				}
				recs[n-1].Kind = KindCommit
				last, err := l.Append(recs)
				if err != nil {
					t.Error(err)
					return
				}
				first := last - uint64(n) + 1
				for i, r := range recs {
					if r.LSN != first+uint64(i) {
						t.Errorf("worker %d append %d: record %d has LSN %d, want %d", w, s, i, r.LSN, first+uint64(i))
					}
				}
				if d := l.DurableLSN(); d < last {
					t.Errorf("Append returned LSN %d before it was durable (durable %d)", last, d)
				}
				calls[w] = append(calls[w], call{first: first, recs: recs})
			}
		}(w)
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	got := replayAll(t, l, 0)
	seen := map[string]bool{}
	for i, r := range got {
		if r.LSN != uint64(i+1) {
			t.Fatalf("record %d has LSN %d", i, r.LSN)
		}
		if seen[string(r.Data)] {
			t.Fatalf("record %q twice", r.Data)
		}
		seen[string(r.Data)] = true
	}
	total := 0
	for w := range calls {
		for _, c := range calls[w] {
			for i, r := range c.recs {
				if g := got[c.first+uint64(i)-1]; !bytes.Equal(g.Data, r.Data) || g.Kind != r.Kind {
					t.Fatalf("LSN %d holds %q, want %q", c.first+uint64(i), g.Data, r.Data)
				}
			}
			total += len(c.recs)
		}
	}
	if total != len(got) {
		t.Fatalf("%d records in the log, %d appended", len(got), total)
	}
	groups, syncs := l.groups.Load(), uint64(fileSyncs.Load())
	t.Logf("%d appends in %d batches, %d fsyncs", workers*appends, groups, syncs)
	if groups > workers*appends/2 || syncs > groups {
		t.Fatalf("%d appends made %d batches and %d fsyncs: not coalesced", workers*appends, groups, syncs)
	}
	mustClose(t, l)
	l = mustOpen(t, dir, &Options{NoSync: true, Logger: quietLogger()})
	defer mustClose(t, l)
	checkRecords(t, replayAll(t, l, 0), got)
}

func TestSyncInterval(t *testing.T) {
	const interval = 100 * time.Millisecond
	l := mustOpen(t, t.TempDir(), &Options{SyncInterval: interval, Logger: quietLogger()})
	var syncs atomic.Int64
	l.syncFile = func() error { syncs.Add(1); return l.fsyncTail() }

	start := time.Now()
	lsn := mustAppend(t, l, []Record{{Kind: KindCommit, Data: []byte("one")}})
	if d := l.DurableLSN(); d >= lsn {
		t.Fatalf("DurableLSN %d right after Append of %d: no lag with SyncInterval %v", d, lsn, interval)
	}
	if err := l.WaitDurable(lsn); err != nil {
		t.Fatal(err)
	}
	if d := l.DurableLSN(); d < lsn {
		t.Fatalf("WaitDurable returned with DurableLSN %d < %d", d, lsn)
	}
	if e := time.Since(start); e < interval*9/10 {
		t.Fatalf("durable after %v, before the interval %v", e, interval)
	}
	if n := syncs.Load(); n != 1 {
		t.Fatalf("%d fsyncs for one append", n)
	}

	// A burst is covered by few fsyncs: at most one per interval.
	start = time.Now()
	for i := 0; i < 50; i++ {
		lsn = mustAppend(t, l, []Record{{Kind: KindCommit, Data: []byte("burst")}})
		time.Sleep(2 * time.Millisecond)
	}
	if err := l.WaitDurable(lsn); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if n, most := syncs.Load()-1, int64(elapsed/interval)+1; n > most {
		t.Fatalf("%d fsyncs in %v: more than one per %v", n, elapsed, interval)
	}

	// Sync does not wait for the interval.
	lsn = mustAppend(t, l, []Record{{Kind: KindCommit, Data: []byte("two")}})
	if l.DurableLSN() >= lsn {
		t.Fatal("no lag before Sync")
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if l.DurableLSN() != l.LastLSN() || l.LastLSN() != lsn {
		t.Fatalf("after Sync: durable %d last %d want %d", l.DurableLSN(), l.LastLSN(), lsn)
	}
	mustClose(t, l)
}

// TestNoSync: NoSync issues no fsync of ours, while the durability
// accounting proceeds so that callers behave as with fsyncs.
func TestNoSync(t *testing.T) {
	for _, interval := range []time.Duration{0, 5 * time.Millisecond} {
		t.Run(fmt.Sprint(interval), func(t *testing.T) {
			l := mustOpen(t, t.TempDir(), &Options{NoSync: true, SyncInterval: interval, SegmentSize: 64, Logger: quietLogger()})
			var syncs atomic.Int64
			l.syncFile = func() error { syncs.Add(1); return nil }
			l.syncDir = func() error { syncs.Add(1); return nil }
			var lsn uint64
			for i := 0; i < 20; i++ {
				lsn = mustAppend(t, l, []Record{{Kind: KindCommit, Data: bytes.Repeat([]byte{'x'}, 40)}})
				if interval == 0 && l.DurableLSN() != lsn {
					t.Fatalf("DurableLSN %d after Append %d with SyncInterval 0", l.DurableLSN(), lsn)
				}
			}
			if err := l.WaitDurable(lsn); err != nil {
				t.Fatal(err)
			}
			if err := l.Sync(); err != nil || l.DurableLSN() != lsn {
				t.Fatalf("Sync: %v, durable %d want %d", err, l.DurableLSN(), lsn)
			}
			if err := l.TruncateFront(lsn); err != nil {
				t.Fatal(err)
			}
			mustClose(t, l)
			if n := syncs.Load(); n != 0 {
				t.Fatalf("%d fsyncs with NoSync", n)
			}
		})
	}
}

// TestSyncFailureIsFatal: a failed fsync fails the Append that waited for
// it and every later call; it is not retried.
func TestSyncFailureIsFatal(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, &Options{Logger: quietLogger()})
	mustAppend(t, l, []Record{{Kind: KindCommit, Data: []byte("ok")}})
	eio := errors.New("injected EIO")
	var calls atomic.Int64
	l.syncFile = func() error { calls.Add(1); return eio }
	if _, err := l.Append([]Record{{Kind: KindCommit, Data: []byte("lost?")}}); !errors.Is(err, eio) {
		t.Fatalf("append with failing fsync: %v", err)
	}
	if l.DurableLSN() != 1 {
		t.Fatalf("DurableLSN %d after a failed fsync", l.DurableLSN())
	}
	if _, err := l.Append([]Record{{Kind: KindCommit, Data: []byte("after")}}); !errors.Is(err, eio) {
		t.Fatalf("append after failure: %v", err)
	}
	if err := l.Sync(); !errors.Is(err, eio) {
		t.Fatalf("sync after failure: %v", err)
	}
	if err := l.WaitDurable(2); !errors.Is(err, eio) {
		t.Fatalf("WaitDurable after failure: %v", err)
	}
	if err := l.TruncateFront(2); !errors.Is(err, eio) {
		t.Fatalf("TruncateFront after failure: %v", err)
	}
	if err := l.Close(); !errors.Is(err, eio) {
		t.Fatalf("close after failure: %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("the failed fsync was called %d times", n)
	}
	// The written record may or may not be durable; the log opens either way.
	l = mustOpen(t, dir, &Options{Logger: quietLogger()})
	defer mustClose(t, l)
	if last := l.LastLSN(); last != 1 && last != 2 {
		t.Fatalf("LastLSN %d after reopen", last)
	}
}

// TestCrashImageLosesUnsynced builds the image a machine crash leaves when
// unsynced writes are lost: the tail segment at its last fsynced size.
// Open succeeds with exactly the durable records.
func TestCrashImageLosesUnsynced(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, &Options{SyncInterval: time.Hour, Logger: quietLogger()})
	g := &batchGen{rng: rand.New(rand.NewSource(5))}
	var durable []Record
	for i := 0; i < 10; i++ {
		recs := g.batch(3, 100)
		mustAppend(t, l, recs)
		durable = append(durable, cloneRecs(recs)...)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	names := segNames(t, dir)
	tail := filepath.Join(dir, names[len(names)-1])
	fi, err := os.Stat(tail)
	if err != nil {
		t.Fatal(err)
	}
	syncedSize := fi.Size()
	for i := 0; i < 5; i++ {
		mustAppend(t, l, g.batch(3, 100))
	}
	if l.DurableLSN() != uint64(len(durable)) || l.LastLSN() <= l.DurableLSN() {
		t.Fatalf("durable %d last %d, want durable %d < last", l.DurableLSN(), l.LastLSN(), len(durable))
	}
	crash := copyDir(t, dir)
	if err := os.Truncate(filepath.Join(crash, names[len(names)-1]), syncedSize); err != nil {
		t.Fatal(err)
	}
	mustClose(t, l)
	c := mustOpen(t, crash, &Options{NoSync: true, Logger: quietLogger()})
	defer mustClose(t, c)
	if c.LastLSN() != uint64(len(durable)) {
		t.Fatalf("crash image LastLSN %d, want %d", c.LastLSN(), len(durable))
	}
	checkRecords(t, replayAll(t, c, 0), durable)
}

func copyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	des, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(src, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, de.Name()), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestSegmentRollover checks, after every Append, the segment files against
// a model of tidwall's rule, the Log's mirror of the tail, and that the
// directory is fsynced exactly when a segment was created. Entry sizes
// divide the segment sizes so that the boundaries (a tail of exactly
// SegmentSize) occur, and reopening with another SegmentSize leaves tails
// at and above the new size for the rule before a batch.
func TestSegmentRollover(t *testing.T) {
	dir := t.TempDir()
	segSize := 300
	var dirSyncs atomic.Int64
	var synced atomic.Uint64 // the segment the last file fsync was for
	open := func() *Log {
		l := mustOpen(t, dir, &Options{SegmentSize: segSize, Logger: quietLogger()})
		l.syncDir = func() error { dirSyncs.Add(1); return vfs.Default.SyncDir(dir) }
		l.syncFile = func() error { synced.Store(l.syncStart); return l.fsyncTail() }
		return l
	}
	l := open()
	rng := rand.New(rand.NewSource(6))
	starts := []uint64{1} // model: segment names
	size, last := 0, uint64(0)
	var want []Record
	// Bodies whose entries are 21, 50, 100, 150, 300 and 722 bytes.
	bodies := []int{0, 29, 79, 128, 278, 700}
	var created, exactAfter, exactBefore, overBefore int
	for i := 0; i < 180; i++ {
		if i%6 == 5 {
			// Reopen with a SegmentSize at, below or around the tail size.
			mustClose(t, l)
			switch r := rng.Intn(3); {
			case r == 0 && size >= 100:
				segSize = size
			case r == 1 && size > 1:
				segSize = size / 2
			default:
				segSize = []int{100, 150, 300}[rng.Intn(3)]
			}
			l = open()
		}
		n := 1 + rng.Intn(3)
		recs := make([]Record, n)
		for j := range recs {
			recs[j] = Record{Kind: 2, Data: randomBytes(rng, bodies[rng.Intn(len(bodies))])}
		}
		if i%6 == 5 && rng.Intn(2) == 0 {
			// One small entry right after reopening at the tail size.
			recs = []Record{{Data: randomBytes(rng, 29)}}
		}
		recs[len(recs)-1].Kind = KindCommit
		before := len(starts)
		switch {
		case size > segSize:
			starts, size = append(starts, last+1), 0
			overBefore++
		case size == segSize && entrySize(len(EncodeFrame(nil, 0, 0, recs[0].Data))) < segSize:
			// Only a small first entry tells "> before" from ">= before".
			exactBefore++
		}
		for _, r := range recs {
			size += entrySize(len(EncodeFrame(nil, 0, r.Kind, r.Data)))
			last++
			if size >= segSize {
				if size == segSize {
					exactAfter++
				}
				starts, size = append(starts, last+1), 0
			}
		}
		syncsBefore := dirSyncs.Load()
		mustAppend(t, l, recs)
		want = append(want, cloneRecs(recs)...)

		var names []string
		for _, s := range starts {
			names = append(names, base.SegmentName(s))
		}
		if got := segNames(t, dir); strings.Join(got, ",") != strings.Join(names, ",") {
			t.Fatalf("append %d: segments %v, model %v", i, got, names)
		}
		fi, err := os.Stat(filepath.Join(dir, names[len(names)-1]))
		if err != nil {
			t.Fatal(err)
		}
		if int(fi.Size()) != size {
			t.Fatalf("append %d: tail holds %d bytes, model %d", i, fi.Size(), size)
		}
		l.wmu.Lock()
		mirror := l.tail
		l.wmu.Unlock()
		if mirror != (tailState{start: starts[len(starts)-1], bytes: size}) {
			t.Fatalf("append %d: mirror %+v, disk %s/%d", i, mirror, names[len(names)-1], size)
		}
		if d, c := dirSyncs.Load()-syncsBefore, len(starts)-before; (d > 0) != (c > 0) || d > 1 {
			t.Fatalf("append %d created %d segments and fsynced the directory %d times", i, c, d)
		}
		if s := synced.Load(); s != starts[len(starts)-1] {
			t.Fatalf("append %d fsynced segment %d, the tail is %d", i, s, starts[len(starts)-1])
		}
		created += len(starts) - before
	}
	t.Logf("%d segments; boundaries: %d exact after an entry, %d exact before a batch, %d over before a batch",
		created, exactAfter, exactBefore, overBefore)
	if created < 50 || exactAfter == 0 || exactBefore == 0 || overBefore == 0 {
		t.Fatal("the test does not exercise every case of the rule")
	}
	checkRecords(t, replayAll(t, l, 0), want)
	mustClose(t, l)
	l = mustOpen(t, dir, &Options{SegmentSize: segSize, NoSync: true, Logger: quietLogger()})
	defer mustClose(t, l)
	checkRecords(t, replayAll(t, l, 0), want)
	for _, from := range []uint64{2, 100, uint64(len(want)) - 3} {
		checkRecords(t, replayAll(t, l, from), want[from-1:])
	}
	if n := len(segNames(t, dir)); n != len(starts) {
		t.Fatalf("reopen changed the segments: %d, want %d", n, len(starts))
	}
}

func TestTruncateFront(t *testing.T) {
	dir := t.TempDir()
	o := &Options{SegmentSize: 256, Logger: quietLogger()}
	l := mustOpen(t, dir, o)
	var dirSyncs atomic.Int64
	l.syncDir = func() error { dirSyncs.Add(1); return vfs.Default.SyncDir(dir) }
	g := &batchGen{rng: rand.New(rand.NewSource(7))}
	var want []Record
	appendN := func(n int) {
		for i := 0; i < n; i++ {
			recs := g.batch(3, 80)
			mustAppend(t, l, recs)
			want = append(want, cloneRecs(recs)...)
		}
	}
	appendN(40)
	segs := segNames(t, dir)
	if len(segs) < 5 {
		t.Fatalf("only %d segments", len(segs))
	}
	s2, _ := base.ParseSegmentName(segs[2])
	k := s2 + 1 // inside the third segment
	before := dirSyncs.Load()
	if err := l.TruncateFront(k); err != nil {
		t.Fatal(err)
	}
	if dirSyncs.Load() == before {
		t.Fatal("TruncateFront did not fsync the directory")
	}
	if l.FirstLSN() != k {
		t.Fatalf("FirstLSN %d, want %d", l.FirstLSN(), k)
	}
	if got := segNames(t, dir); got[0] != base.SegmentName(k) || len(got) != len(segs)-2 {
		t.Fatalf("segments after TruncateFront(%d): %v (before %v)", k, got, segs)
	}
	checkRecords(t, replayAll(t, l, 0), want[k-1:])
	checkRecords(t, replayAll(t, l, k+3), want[k+2:])
	if err := l.TruncateFront(k - 1); err != nil || l.FirstLSN() != k {
		t.Fatalf("TruncateFront below FirstLSN: %v, first %d", err, l.FirstLSN())
	}
	if err := l.TruncateFront(l.LastLSN() + 2); err == nil {
		t.Fatal("TruncateFront past LastLSN+1 succeeded")
	}
	appendN(5)
	mustClose(t, l)

	l = mustOpen(t, dir, o)
	if l.FirstLSN() != k || l.LastLSN() != uint64(len(want)) {
		t.Fatalf("reopened: first %d last %d, want %d %d", l.FirstLSN(), l.LastLSN(), k, len(want))
	}
	checkRecords(t, replayAll(t, l, 0), want[k-1:])

	// Into the tail segment: the mirror follows tidwall's reloaded tail.
	segs = segNames(t, dir)
	tailStart, _ := base.ParseSegmentName(segs[len(segs)-1])
	if tailStart == l.LastLSN() {
		appendN(1)
	}
	k = l.LastLSN()
	if err := l.TruncateFront(k); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, replayAll(t, l, 0), want[k-1:])
	appendN(8)
	checkRecords(t, replayAll(t, l, 0), want[k-1:])
	l.wmu.Lock()
	mirror := l.tail
	l.wmu.Unlock()
	segs = segNames(t, dir)
	fi, err := os.Stat(filepath.Join(dir, segs[len(segs)-1]))
	if err != nil {
		t.Fatal(err)
	}
	if mirror.start != mustParse(t, segs[len(segs)-1]) || mirror.bytes != int(fi.Size()) {
		t.Fatalf("mirror %+v, disk %s/%d", mirror, segs[len(segs)-1], fi.Size())
	}

	// Everything: an empty log keeps its numbering.
	last := l.LastLSN()
	if err := l.TruncateFront(last + 1); err != nil {
		t.Fatal(err)
	}
	if l.FirstLSN() != last+1 || l.LastLSN() != last {
		t.Fatalf("emptied: first %d last %d", l.FirstLSN(), l.LastLSN())
	}
	checkRecords(t, replayAll(t, l, 0), nil)
	mustClose(t, l)
	l = mustOpen(t, dir, o)
	if l.FirstLSN() != last+1 || l.LastLSN() != last {
		t.Fatalf("emptied and reopened: first %d last %d, want %d %d", l.FirstLSN(), l.LastLSN(), last+1, last)
	}
	if lsn := mustAppend(t, l, []Record{{Kind: KindCommit, Data: []byte("next")}}); lsn != last+1 {
		t.Fatalf("append after emptying: LSN %d, want %d", lsn, last+1)
	}
	mustClose(t, l)
	l = mustOpen(t, dir, o)
	defer mustClose(t, l)
	checkRecords(t, replayAll(t, l, 0), []Record{{LSN: last + 1, Kind: KindCommit, Data: []byte("next")}})
}

func mustParse(t testing.TB, name string) uint64 {
	t.Helper()
	v, ok := base.ParseSegmentName(name)
	if !ok {
		t.Fatalf("bad segment name %q", name)
	}
	return v
}

func TestClosed(t *testing.T) {
	l := mustOpen(t, t.TempDir(), &Options{NoSync: true, Logger: quietLogger()})
	lsn := mustAppend(t, l, []Record{{Kind: KindCommit}})
	mustClose(t, l)
	if _, err := l.Append([]Record{{Kind: KindCommit}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append: %v", err)
	}
	if _, err := l.Append(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("empty append: %v", err)
	}
	if err := l.Sync(); !errors.Is(err, ErrClosed) {
		t.Fatalf("sync: %v", err)
	}
	if err := l.Replay(0, func(Record) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("replay: %v", err)
	}
	if err := l.TruncateFront(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("truncate: %v", err)
	}
	if err := l.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
	if err := l.WaitDurable(lsn); err != nil {
		t.Fatalf("WaitDurable of a durable LSN after close: %v", err)
	}
	if err := l.WaitDurable(lsn + 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitDurable of a future LSN after close: %v", err)
	}
}

// TestCloseWakesWaiters: WaitDurable of an LSN never written returns when
// the log closes.
func TestCloseWakesWaiters(t *testing.T) {
	l := mustOpen(t, t.TempDir(), &Options{NoSync: true, Logger: quietLogger()})
	done := make(chan error)
	go func() { done <- l.WaitDurable(10) }()
	time.Sleep(10 * time.Millisecond)
	mustClose(t, l)
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("WaitDurable: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitDurable did not return after Close")
	}
}

func TestOpenCreatesDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b", "wal")
	l := mustOpen(t, dir, &Options{Logger: quietLogger()})
	if l.Dir() != dir {
		t.Fatalf("Dir() %q, want %q", l.Dir(), dir)
	}
	mustAppend(t, l, []Record{{Kind: KindCommit, Data: []byte("x")}})
	mustClose(t, l)
	if got := segNames(t, dir); len(got) != 1 || got[0] != base.SegmentName(1) {
		t.Fatalf("segments %v", got)
	}
}

func TestReplayCallbackError(t *testing.T) {
	l := mustOpen(t, t.TempDir(), &Options{NoSync: true, Logger: quietLogger()})
	defer mustClose(t, l)
	for i := 0; i < 5; i++ {
		mustAppend(t, l, []Record{{Kind: KindCommit, Data: []byte{byte(i)}}})
	}
	stop := errors.New("stop")
	var seen []uint64
	err := l.Replay(0, func(r Record) error {
		seen = append(seen, r.LSN)
		if r.LSN == 3 {
			return stop
		}
		return nil
	})
	if err != stop || fmt.Sprint(seen) != "[1 2 3]" {
		t.Fatalf("replay: %v after %v", err, seen)
	}
}

// TestAppendDoesNotKeepData: the caller may reuse its buffers once Append
// returns, compressed or not.
func TestAppendDoesNotKeepData(t *testing.T) {
	l := mustOpen(t, t.TempDir(), &Options{NoSync: true, Logger: quietLogger()})
	defer mustClose(t, l)
	a := bytes.Repeat([]byte("a"), 1000) // compressed
	b := []byte("bbbb")                  // stored as is
	mustAppend(t, l, []Record{{Kind: 2, Data: a}, {Kind: KindCommit, Data: b}})
	a[0], b[0] = 'x', 'x'
	got := replayAll(t, l, 0)
	if got[0].Data[0] != 'a' || got[1].Data[0] != 'b' {
		t.Fatal("the log kept the caller's buffers")
	}
}
