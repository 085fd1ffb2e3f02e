package objlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/wal"
)

func TestObjectNames(t *testing.T) {
	if got := ObjectName(42); got != "00000000000000000042.log" {
		t.Fatalf("ObjectName(42) = %q", got)
	}
	for name, want := range map[string]uint64{
		"00000000000000000042.log": 42,
		"18446744073709551615.log": 1<<64 - 1,
	} {
		if id, ok := ParseObjectName(name); !ok || id != want {
			t.Errorf("ParseObjectName(%q) = %d, %v", name, id, ok)
		}
	}
	for _, name := range []string{"", "00000000000000000000.log", "0000000000000000042.log", "0000000000000000004x.log",
		"00000000000000000042.run", "99999999999999999999.log", "x/00000000000000000042.log"} {
		if _, ok := ParseObjectName(name); ok {
			t.Errorf("ParseObjectName(%q) accepted", name)
		}
	}
}

// TestObjectLayout checks the bytes of an object against the package doc.
func TestObjectLayout(t *testing.T) {
	m := backend.NewMem()
	l := mustOpen(t, m, opts(0, 7))
	recs := []wal.Record{{Kind: 3, Data: []byte("hello")}, {Kind: wal.KindCommit, Data: nil}}
	if _, err := l.Append(recs); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	objs := logObjects(m)
	if len(objs) != 2 {
		t.Fatalf("%d objects, want a fence and one of records", len(objs))
	}
	fence := objs[1]
	want := []byte("PWOL\x01\x00\x00\x00")
	want = binary.LittleEndian.AppendUint64(want, 7)
	want = binary.LittleEndian.AppendUint64(want, 1)
	want = binary.LittleEndian.AppendUint32(want, 0)
	want = binary.LittleEndian.AppendUint32(want, crc32.Checksum(want, crcTable))
	want = binary.LittleEndian.AppendUint32(want, crc32.Checksum(want, crcTable))
	if !bytes.Equal(fence, want) {
		t.Fatalf("fence object\n got %x\nwant %x", fence, want)
	}
	obj := objs[2]
	want = []byte("PWOL\x01\x00\x00\x00")
	want = binary.LittleEndian.AppendUint64(want, 7)
	want = binary.LittleEndian.AppendUint64(want, 1)
	want = binary.LittleEndian.AppendUint32(want, 2)
	want = binary.LittleEndian.AppendUint32(want, crc32.Checksum(want, crcTable))
	want = wal.EncodeFrame(want, 1, 3, []byte("hello"))
	want = wal.EncodeFrame(want, 2, wal.KindCommit, nil)
	want = binary.LittleEndian.AppendUint32(want, crc32.Checksum(want, crcTable))
	if !bytes.Equal(obj, want) {
		t.Fatalf("record object\n got %x\nwant %x", obj, want)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, interval := range []time.Duration{0, time.Millisecond, time.Hour} {
		t.Run(fmt.Sprint("interval=", interval), func(t *testing.T) {
			noLeaks(t)
			m := backend.NewMem()
			l := mustOpen(t, m, opts(interval, 1))
			if l.FirstLSN() != 1 || l.LastLSN() != 0 || l.DurableLSN() != 0 {
				t.Fatalf("new log: first %d last %d durable %d", l.FirstLSN(), l.LastLSN(), l.DurableLSN())
			}
			var want []wal.Record
			for i := range 20 {
				recs := batch(fmt.Sprint("b", i), 1+i%3)
				if i == 7 {
					recs = bigBatch("big", 5000) // snappy-compressed
				}
				last, err := l.Append(recs)
				if err != nil {
					t.Fatal(err)
				}
				if last != recs[len(recs)-1].LSN || recs[0].LSN != uint64(len(want))+1 {
					t.Fatalf("Append %d: LSNs %d..%d, returned %d", i, recs[0].LSN, recs[len(recs)-1].LSN, last)
				}
				if interval == 0 && l.DurableLSN() != last {
					t.Fatalf("SyncInterval 0: DurableLSN %d after Append returned %d", l.DurableLSN(), last)
				}
				want = append(want, recs...)
			}
			if n, err := l.Append(nil); err != nil || n != l.LastLSN() {
				t.Fatalf("Append(nil) = %d, %v", n, err)
			}
			if interval == time.Hour && l.DurableLSN() != 0 {
				t.Fatalf("DurableLSN %d before any write", l.DurableLSN())
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := l.WaitDurable(l.LastLSN()); err != nil || l.DurableLSN() != l.LastLSN() {
				t.Fatalf("WaitDurable: %v, durable %d last %d", err, l.DurableLSN(), l.LastLSN())
			}
			checkRecords(t, replayAll(t, l, 0), want)
			checkRecords(t, replayAll(t, l, 5), want[4:])
			if got := replayAll(t, l, l.LastLSN()+1); len(got) != 0 {
				t.Fatalf("Replay past the end delivered %d records", len(got))
			}
			if interval == 0 && l.writes.Load() != 20 {
				t.Fatalf("SyncInterval 0: %d objects for 20 Appends", l.writes.Load())
			}
			if interval == time.Hour && l.writes.Load() != 1 {
				t.Fatalf("one window: %d objects", l.writes.Load())
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); !errors.Is(err, ErrClosed) {
				t.Fatalf("second Close: %v", err)
			}
			if _, err := l.Append(batch("late", 1)); !errors.Is(err, ErrClosed) {
				t.Fatalf("Append after Close: %v", err)
			}
			if err := l.Sync(); !errors.Is(err, ErrClosed) {
				t.Fatalf("Sync after Close: %v", err)
			}
			if err := l.WaitDurable(l.LastLSN() + 1); !errors.Is(err, ErrClosed) {
				t.Fatalf("WaitDurable after Close: %v", err)
			}

			// Reopen continues the LSNs and the ids.
			l = mustOpen(t, m, opts(interval, 2))
			if l.FirstLSN() != 1 || l.LastLSN() != uint64(len(want)) || l.DurableLSN() != l.LastLSN() {
				t.Fatalf("reopened: first %d last %d durable %d, want 1 %d", l.FirstLSN(), l.LastLSN(), l.DurableLSN(), len(want))
			}
			recs := batch("after", 2)
			if _, err := l.Append(recs); err != nil {
				t.Fatal(err)
			}
			if recs[0].LSN != uint64(len(want))+1 {
				t.Fatalf("after reopen the first LSN is %d, want %d", recs[0].LSN, len(want)+1)
			}
			want = append(want, recs...)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, m, opts(interval, 2))
			checkRecords(t, replayAll(t, l, 0), want)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			info, err := Scan(context.Background(), m, nil)
			if err != nil || len(info.Problems) != 0 {
				t.Fatalf("Scan: %v %v", err, info.Problems)
			}
			if info.Records != int64(len(want)) || info.LastLSN != uint64(len(want)) || info.FirstLSN != 1 || info.Epoch != 2 {
				t.Fatalf("Scan: %+v", info)
			}
		})
	}
}

// checkRecords compares records by LSN, kind and body.
func checkRecords(t tb, got, want []wal.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].LSN != want[i].LSN || got[i].Kind != want[i].Kind || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Fatalf("record %d: got %d/%d/%q, want %d/%d/%q", i, got[i].LSN, got[i].Kind, got[i].Data, want[i].LSN, want[i].Kind, want[i].Data)
		}
	}
}

// TestGroupWindow checks SyncInterval > 0: Appends return at once, the
// flusher writes one object per window, WaitDurable wakes.
func TestGroupWindow(t *testing.T) {
	noLeaks(t)
	m := backend.NewMem()
	f := newFault(m)
	l := mustOpen(t, f, opts(30*time.Millisecond, 1))
	defer l.Close()
	start := time.Now()
	var last uint64
	for i := range 10 {
		var err error
		if last, err = l.Append(batch(fmt.Sprint(i), 2)); err != nil {
			t.Fatal(err)
		}
	}
	if l.DurableLSN() != 0 || l.LastLSN() != 20 {
		t.Fatalf("durable %d last %d right after the Appends", l.DurableLSN(), l.LastLSN())
	}
	if err := l.WaitDurable(last); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 25*time.Millisecond {
		t.Fatalf("durable after %v, before the interval", el)
	}
	if n := l.writes.Load(); n != 1 {
		t.Fatalf("%d objects for one window, want 1", n)
	}
	// Idle: no more writes.
	reqs := f.requests()
	time.Sleep(80 * time.Millisecond)
	if f.requests() != reqs {
		t.Fatalf("requests while idle: %d then %d", reqs, f.requests())
	}
}

// TestSlowStore: with a slow Create, Appends do not wait for it; the next
// window fills while one is written, and objects stay in order.
func TestSlowStore(t *testing.T) {
	noLeaks(t)
	m := backend.NewMem()
	f := newFault(m)
	l := mustOpen(t, f, opts(2*time.Millisecond, 1))
	f.delay = func(op, name string) time.Duration {
		if op == "create" {
			return 60 * time.Millisecond
		}
		return 0
	}
	var want []wal.Record
	var worst time.Duration
	end := time.Now().Add(300 * time.Millisecond)
	for i := 0; time.Now().Before(end); i++ {
		recs := batch(fmt.Sprint(i), 1)
		t0 := time.Now()
		if _, err := l.Append(recs); err != nil {
			t.Fatal(err)
		}
		worst = max(worst, time.Since(t0))
		want = append(want, recs...)
		time.Sleep(time.Millisecond)
	}
	if worst > 30*time.Millisecond {
		t.Errorf("an Append took %v while a 60ms write was in flight", worst)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if n := l.writes.Load(); n < 2 || n > 8 {
		t.Errorf("%d objects in 300ms of 60ms writes", n)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, m, opts(0, 2))
	checkRecords(t, replayAll(t, l, 0), want)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentAppends: with SyncInterval 0 concurrent Appends share
// objects (group commit), each Append's records stay contiguous, and
// everything is durable when Append returns.
func TestConcurrentAppends(t *testing.T) {
	for _, interval := range []time.Duration{0, time.Millisecond} {
		t.Run(fmt.Sprint("interval=", interval), func(t *testing.T) {
			noLeaks(t)
			m := backend.NewMem()
			f := newFault(m)
			f.delay = func(op, name string) time.Duration {
				if op == "create" {
					return 2 * time.Millisecond
				}
				return 0
			}
			l := mustOpen(t, f, opts(interval, 1))
			const writers, each = 8, 25
			var mu sync.Mutex
			byLSN := map[uint64]wal.Record{}
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range each {
						recs := batch(fmt.Sprintf("w%d-%d", w, i), 1+i%3)
						last, err := l.Append(recs)
						if err != nil {
							t.Error(err)
							return
						}
						if interval == 0 && l.DurableLSN() < last {
							t.Errorf("Append returned %d, durable %d", last, l.DurableLSN())
						}
						for j, r := range recs {
							if r.LSN != recs[0].LSN+uint64(j) {
								t.Errorf("Append's records not contiguous: %d after %d", r.LSN, recs[0].LSN)
							}
						}
						mu.Lock()
						for _, r := range recs {
							byLSN[r.LSN] = r
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if interval == 0 && l.writes.Load() >= writers*each {
				t.Logf("no group commit: %d objects for %d Appends", l.writes.Load(), writers*each)
			}
			l = mustOpen(t, m, opts(0, 2))
			defer l.Close()
			got := replayAll(t, l, 0)
			if len(got) != len(byLSN) {
				t.Fatalf("%d records, want %d", len(got), len(byLSN))
			}
			for _, r := range got {
				w := byLSN[r.LSN]
				if !bytes.Equal(r.Data, w.Data) || r.Kind != w.Kind {
					t.Fatalf("LSN %d: %q, want %q", r.LSN, r.Data, w.Data)
				}
			}
		})
	}
}

// TestBigWindow: an Append that makes the window exceed its bound writes
// it at once rather than wait for the interval.
func TestBigWindow(t *testing.T) {
	noLeaks(t)
	defer func(n int) { maxWindow = n }(maxWindow)
	maxWindow = 64 << 10
	m := backend.NewMem()
	l := mustOpen(t, m, opts(time.Hour, 1))
	defer l.Close()
	rng := rand.NewChaCha8([32]byte{1})
	rec := []wal.Record{{Kind: wal.KindCommit, Data: make([]byte, 16<<10)}}
	for range 10 {
		rng.Read(rec[0].Data) // incompressible
		if _, err := l.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	if l.DurableLSN() != 8 || l.writes.Load() != 2 {
		t.Fatalf("160 KiB buffered in windows of 64 KiB: durable %d after %d writes", l.DurableLSN(), l.writes.Load())
	}
}

func TestAppendRefusesHugeRecord(t *testing.T) {
	m := backend.NewMem()
	l := mustOpen(t, m, opts(0, 1))
	defer l.Close()
	if _, err := l.Append([]wal.Record{{Data: make([]byte, wal.MaxRecordSize+1)}}); err == nil {
		t.Fatal("a body larger than MaxRecordSize was accepted")
	}
	if _, err := l.Append(batch("ok", 1)); err != nil {
		t.Fatalf("the log failed after refusing a record: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	m := backend.NewMem()
	if _, err := Open(context.Background(), m, &Options{SyncInterval: -1}); err == nil {
		t.Fatal("negative SyncInterval accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Open(ctx, m, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Open with a done ctx: %v", err)
	}
	m.SetFail(func(op, name string) error {
		if op == "create" {
			return errors.New("access denied")
		}
		return nil
	})
	if _, err := Open(context.Background(), m, nil); err == nil {
		t.Fatal("Open succeeded without its fence")
	}
	m.SetFail(nil)
	// Other names under the log's prefix are ignored.
	if err := m.Put(context.Background(), "README", []byte("x")); err != nil {
		t.Fatal(err)
	}
	l := mustOpen(t, m, opts(0, 1))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestFailedWrite: a failed object write is fatal; nothing after the last
// durable LSN is reported durable, and reopening finds exactly the
// durable records.
func TestFailedWrite(t *testing.T) {
	for _, interval := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprint("interval=", interval), func(t *testing.T) {
			noLeaks(t)
			m := backend.NewMem()
			f := newFault(m)
			l := mustOpen(t, f, opts(interval, 1))
			want := batch("a", 3)
			if _, err := l.Append(want); err != nil {
				t.Fatal(err)
			}
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			boom := errors.New("boom: access denied")
			f.before = func(op, name string) error {
				if op == "create" {
					return boom
				}
				return nil
			}
			_, err := l.Append(batch("b", 2))
			if interval > 0 {
				if err != nil {
					t.Fatalf("buffered Append: %v", err)
				}
				err = l.Sync()
			}
			if !errors.Is(err, boom) {
				t.Fatalf("the failed write returned %v", err)
			}
			f.before = nil
			if _, err2 := l.Append(batch("c", 1)); !errors.Is(err2, boom) {
				t.Fatalf("Append after the failure: %v", err2)
			}
			if err2 := l.Sync(); !errors.Is(err2, boom) {
				t.Fatalf("Sync after the failure: %v", err2)
			}
			if err2 := l.WaitDurable(l.LastLSN()); !errors.Is(err2, boom) {
				t.Fatalf("WaitDurable after the failure: %v", err2)
			}
			if err2 := l.TruncateFront(2); !errors.Is(err2, boom) {
				t.Fatalf("TruncateFront after the failure: %v", err2)
			}
			if l.DurableLSN() != 3 {
				t.Fatalf("DurableLSN %d after a failed write, want 3", l.DurableLSN())
			}
			if err2 := l.Close(); !errors.Is(err2, boom) {
				t.Fatalf("Close: %v", err2)
			}
			l = mustOpen(t, m, opts(0, 2))
			defer l.Close()
			checkRecords(t, replayAll(t, l, 0), want)
		})
	}
}

// TestDuplicatedRequests: a Create the network performed twice, or that
// succeeded but reported a transient error and was retried, counts as
// written.
func TestDuplicatedRequests(t *testing.T) {
	t.Run("twice", func(t *testing.T) {
		m := backend.NewMem()
		f := newFault(m)
		f.twice = true
		l := mustOpen(t, f, opts(0, 1))
		want := batch("a", 2)
		if _, err := l.Append(want); err != nil {
			t.Fatalf("duplicated Create: %v", err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = mustOpen(t, m, opts(0, 2))
		defer l.Close()
		checkRecords(t, replayAll(t, l, 0), want)
	})
	transientAfter := func(f *faultBackend) {
		f.after = func(op, name string, err error) error {
			if op == "create" && err == nil {
				return fmt.Errorf("connection reset: %w", backend.ErrTransient)
			}
			return err
		}
	}
	t.Run("transient-retried", func(t *testing.T) {
		m := backend.NewMem()
		f := newFault(m)
		transientAfter(f)
		l := mustOpen(t, &retryBackend{Backend: f, tries: 3}, opts(time.Hour, 1))
		want := batch("a", 2)
		if _, err := l.Append(want); err != nil {
			t.Fatal(err)
		}
		if err := l.Sync(); err != nil {
			t.Fatalf("a retried Create that had succeeded: %v", err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = mustOpen(t, m, opts(0, 2))
		defer l.Close()
		checkRecords(t, replayAll(t, l, 0), want)
	})
	t.Run("transient-not-retried", func(t *testing.T) {
		m := backend.NewMem()
		f := newFault(m)
		l := mustOpen(t, f, opts(0, 1))
		transientAfter(f)
		want := batch("a", 2)
		if _, err := l.Append(want); !errors.Is(err, backend.ErrTransient) {
			t.Fatalf("Append: %v", err)
		}
		l.Close()
		want[0].LSN, want[1].LSN = 1, 2 // not set by the failed Append
		// Not reported durable, yet written: a later reader may see it.
		l = mustOpen(t, m, opts(0, 2))
		defer l.Close()
		checkRecords(t, replayAll(t, l, 0), want)
	})
}

// TestTruncateFront deletes whole objects oldest first and keeps the
// newest.
func TestTruncateFront(t *testing.T) {
	noLeaks(t)
	m := backend.NewMem()
	l := mustOpen(t, m, opts(0, 1))
	var want []wal.Record
	for i := range 5 { // objects 2..6 hold LSNs 1-3, 4-6, 7-9, 10-12, 13-15
		recs := batch(fmt.Sprint(i), 3)
		if _, err := l.Append(recs); err != nil {
			t.Fatal(err)
		}
		want = append(want, recs...)
	}
	if err := l.TruncateFront(1); err != nil || l.FirstLSN() != 1 {
		t.Fatalf("TruncateFront(1): %v, first %d", err, l.FirstLSN())
	}
	if err := l.TruncateFront(17); err == nil {
		t.Fatal("TruncateFront past LastLSN+1 accepted")
	}
	if err := l.TruncateFront(5); err != nil {
		t.Fatal(err)
	}
	if l.FirstLSN() != 4 {
		t.Fatalf("FirstLSN %d after TruncateFront(5), want 4 (the first record kept)", l.FirstLSN())
	}
	objs := logObjects(m)
	if _, ok := objs[1]; ok {
		t.Fatal("the fence before the deleted object is kept")
	}
	if _, ok := objs[2]; ok || len(objs) != 4 {
		t.Fatalf("objects %v after TruncateFront(5)", keys(objs))
	}
	checkRecords(t, replayAll(t, l, 0), want[3:])
	checkRecords(t, replayAll(t, l, 8), want[7:])
	if err := l.TruncateFront(13); err != nil || l.FirstLSN() != 13 {
		t.Fatalf("TruncateFront(13): %v, first %d", err, l.FirstLSN())
	}
	if err := l.TruncateFront(16); err != nil {
		t.Fatal(err)
	}
	if l.FirstLSN() != 13 || len(logObjects(m)) != 1 {
		t.Fatalf("TruncateFront(LastLSN+1): first %d, objects %v: the newest object is kept", l.FirstLSN(), keys(logObjects(m)))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, m, opts(0, 2))
	if l.FirstLSN() != 13 || l.LastLSN() != 15 {
		t.Fatalf("reopened: first %d last %d", l.FirstLSN(), l.LastLSN())
	}
	// The fence at 7 holds LSN 16; truncating past everything keeps it.
	if err := l.TruncateFront(16); err != nil {
		t.Fatal(err)
	}
	if l.FirstLSN() != 16 {
		t.Fatalf("FirstLSN %d when only the fence is left, want 16", l.FirstLSN())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, m, opts(0, 3))
	defer l.Close()
	if l.FirstLSN() != 16 || l.LastLSN() != 15 {
		t.Fatalf("reopened empty log: first %d last %d", l.FirstLSN(), l.LastLSN())
	}
	recs := batch("next", 1)
	if _, err := l.Append(recs); err != nil || recs[0].LSN != 16 {
		t.Fatalf("Append after truncating everything: %v, LSN %d", err, recs[0].LSN)
	}
}

// TestTruncateFrontFails: a failed Delete leaves a contiguous suffix; it
// is not fatal, and a later truncation finishes.
func TestTruncateFrontFails(t *testing.T) {
	m := backend.NewMem()
	f := newFault(m)
	l := mustOpen(t, f, opts(0, 1))
	defer l.Close()
	var want []wal.Record
	for i := range 4 {
		recs := batch(fmt.Sprint(i), 2)
		if _, err := l.Append(recs); err != nil {
			t.Fatal(err)
		}
		want = append(want, recs...)
	}
	deletes := 0
	f.before = func(op, name string) error {
		if op == "delete" {
			deletes++
			if deletes == 3 {
				return errors.New("throttled")
			}
		}
		return nil
	}
	if err := l.TruncateFront(7); err == nil {
		t.Fatal("the failed Delete was not reported")
	}
	if l.FirstLSN() != 3 {
		t.Fatalf("FirstLSN %d after two of three deletions", l.FirstLSN())
	}
	checkRecords(t, replayAll(t, l, 0), want[2:])
	if err := l.TruncateFront(7); err != nil || l.FirstLSN() != 7 {
		t.Fatalf("second TruncateFront: %v first %d", err, l.FirstLSN())
	}
	if _, err := l.Append(batch("more", 1)); err != nil {
		t.Fatalf("Append after a failed truncation: %v", err)
	}
}

func keys(m map[uint64][]byte) []uint64 {
	var out []uint64
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestTruncateFrontDropsFences: the empty objects each Open leaves in
// front of the next record are deleted by TruncateFront at the first LSN,
// but the newest, so a storage restarted often with nothing new does not
// pile them up.
func TestTruncateFrontDropsFences(t *testing.T) {
	m := backend.NewMem()
	for epoch := uint64(1); epoch <= 5; epoch++ {
		l := mustOpen(t, m, opts(0, epoch))
		if epoch == 1 {
			if _, err := l.Append(batch("a", 3)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(logObjects(m)); n != 6 {
		t.Fatalf("%d objects, want 6 (a fence each open, one of records)", n)
	}
	l := mustOpen(t, m, opts(0, 6))
	defer l.Close()
	if err := l.TruncateFront(l.LastLSN() + 1); err != nil {
		t.Fatal(err)
	}
	if n := len(logObjects(m)); n != 1 {
		t.Fatalf("%d objects after TruncateFront past the last record, want 1 (the newest fence)", n)
	}
	if err := l.TruncateFront(l.FirstLSN()); err != nil {
		t.Fatal(err)
	}
	if n := len(logObjects(m)); n != 1 {
		t.Fatalf("%d objects, want 1", n)
	}
	if _, err := l.Append(batch("b", 2)); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l = mustOpen(t, m, opts(0, 7))
	defer l.Close()
	if l.FirstLSN() != 4 || l.LastLSN() != 5 {
		t.Fatalf("first %d last %d after reopening, want 4 and 5", l.FirstLSN(), l.LastLSN())
	}
}
