package objlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/wal"
)

// TestTwoWriters: the second Open fences the first, whose next Append
// fails with ErrFenced; its objects stay intact, and only the second
// writer's later appends are in the log.
func TestTwoWriters(t *testing.T) {
	for _, interval := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprint("interval=", interval), func(t *testing.T) {
			noLeaks(t)
			ctx := context.Background()
			m := backend.NewMem()
			a := mustOpen(t, m, opts(interval, 1))
			want := batch("a1", 3)
			if _, err := a.Append(want); err != nil {
				t.Fatal(err)
			}
			if err := a.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := a.CheckFenced(ctx); err != nil {
				t.Fatalf("CheckFenced before a second writer: %v", err)
			}
			before := logObjects(m)

			b := mustOpen(t, m, opts(interval, 2))
			if b.LastLSN() != 3 || b.FirstLSN() != 1 {
				t.Fatalf("second writer: first %d last %d", b.FirstLSN(), b.LastLSN())
			}
			if err := a.CheckFenced(ctx); !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "epoch 2") {
				t.Fatalf("CheckFenced after a second writer: %v", err)
			}
			// CheckFenced is fatal: the Log refuses writes at once.
			_, err := a.Append(batch("a2", 2))
			if !errors.Is(err, ErrFenced) {
				t.Fatalf("the fenced writer's Append: %v", err)
			}
			for id, data := range before {
				if got := logObjects(m)[id]; !bytes.Equal(got, data) {
					t.Fatalf("object %d of the first writer changed", id)
				}
			}
			recs := batch("b1", 2)
			if _, err := b.Append(recs); err != nil {
				t.Fatal(err)
			}
			want = append(want, recs...)
			if err := b.Sync(); err != nil {
				t.Fatal(err)
			}
			if err := a.Close(); !errors.Is(err, ErrFenced) {
				t.Fatalf("Close of the fenced writer: %v", err)
			}
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			l := mustOpen(t, m, opts(0, 3))
			defer l.Close()
			checkRecords(t, replayAll(t, l, 0), want)
		})
	}
}

// TestFencedAtWrite: a writer that did not check learns at its next
// object write, by the refused Create, and fails with ErrFenced naming
// the newer epoch.
func TestFencedAtWrite(t *testing.T) {
	m := backend.NewMem()
	a := mustOpen(t, m, opts(time.Hour, 1))
	defer a.Close()
	if _, err := a.Append(batch("a", 2)); err != nil {
		t.Fatal(err)
	}
	b := mustOpen(t, m, opts(0, 5))
	defer b.Close()
	if _, err := a.Append(batch("a2", 1)); err != nil {
		t.Fatalf("a buffered Append: %v", err)
	}
	err := a.Sync()
	if !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "epoch 5") {
		t.Fatalf("Sync of the superseded writer: %v", err)
	}
	if err := a.WaitDurable(a.LastLSN()); !errors.Is(err, ErrFenced) {
		t.Fatalf("WaitDurable: %v", err)
	}
	if a.DurableLSN() != 0 || b.LastLSN() != 0 {
		t.Fatalf("durable %d, second writer's last %d", a.DurableLSN(), b.LastLSN())
	}
	// A stale epoch cannot even open.
	if _, err := Open(context.Background(), m, opts(0, 4)); !errors.Is(err, ErrFenced) {
		t.Fatalf("Open with an older epoch: %v", err)
	}
	// TruncateFront of a fenced log deletes nothing.
	c := mustOpen(t, m, opts(0, 6))
	defer c.Close()
	n := len(logObjects(m))
	if err := b.TruncateFront(1); !errors.Is(err, ErrFenced) {
		t.Fatalf("TruncateFront of a fenced writer: %v, want ErrFenced", err)
	}
	if _, err := b.Append(batch("b", 1)); !errors.Is(err, ErrFenced) {
		t.Fatalf("b's Append after c opened: %v", err)
	}
	if len(logObjects(m)) != n {
		t.Fatal("the fenced writer wrote or deleted objects")
	}
}

// TestTruncateFrontFenced: TruncateFront notices a newer writer before
// deleting.
func TestTruncateFrontFenced(t *testing.T) {
	m := backend.NewMem()
	a := mustOpen(t, m, opts(0, 1))
	defer a.Close()
	for i := range 3 {
		if _, err := a.Append(batch(fmt.Sprint(i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	b := mustOpen(t, m, opts(0, 2))
	defer b.Close()
	n := len(logObjects(m))
	if err := a.TruncateFront(3); !errors.Is(err, ErrFenced) {
		t.Fatalf("TruncateFront of a superseded writer: %v", err)
	}
	if len(logObjects(m)) != n {
		t.Fatal("the superseded writer deleted objects")
	}
}

// TestSameEpochConflict: two Logs of one epoch: the loser gets a clear
// error, not a silent overwrite.
func TestSameEpochConflict(t *testing.T) {
	m := backend.NewMem()
	a := mustOpen(t, m, opts(0, 3))
	defer a.Close()
	b := mustOpen(t, m, opts(0, 3))
	defer b.Close()
	_, err := a.Append(batch("a", 1))
	if err == nil || errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "same or an older epoch") {
		t.Fatalf("Append against a same-epoch writer: %v", err)
	}
}

// TestOpenLosesRace: another writer takes the id Open's fence wanted; Open
// lists again and fences at the next id, counting the winner's records.
func TestOpenLosesRace(t *testing.T) {
	ctx := context.Background()
	m := backend.NewMem()
	a := mustOpen(t, m, opts(0, 1))
	defer a.Close()
	want := batch("a1", 2)
	if _, err := a.Append(want); err != nil {
		t.Fatal(err)
	}
	f := newFault(m)
	var raced atomic.Bool
	racer := batch("a2", 3)
	f.before = func(op, name string) error {
		if op == "create" && !raced.Swap(true) {
			// The old writer's object lands first.
			if _, err := a.Append(racer); err != nil {
				t.Errorf("the racing Append: %v", err)
			}
		}
		return nil
	}
	b, err := Open(ctx, f, opts(0, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	want = append(want, racer...)
	if b.LastLSN() != 5 {
		t.Fatalf("LastLSN %d after the lost race, want 5", b.LastLSN())
	}
	if _, err := a.Append(batch("a3", 1)); !errors.Is(err, ErrFenced) {
		t.Fatalf("old writer after the new Open: %v", err)
	}
	recs := batch("b", 1)
	if _, err := b.Append(recs); err != nil {
		t.Fatal(err)
	}
	want = append(want, recs...)
	checkRecords(t, replayAll(t, b, 0), want)

	// A race lost to a newer writer fails Open with ErrFenced.
	raced.Store(false)
	f.before = func(op, name string) error {
		if op == "create" && !raced.Swap(true) {
			if err := m.Create(ctx, name, encodeEmpty(9, 7)); err != nil {
				t.Error(err)
			}
		}
		return nil
	}
	if _, err := Open(ctx, f, opts(0, 3)); !errors.Is(err, ErrFenced) {
		t.Fatalf("Open that lost to a newer epoch: %v", err)
	}

	// Losing every time gives up.
	m2 := backend.NewMem()
	f2 := newFault(m2)
	f2.before = func(op, name string) error {
		if op == "create" {
			if err := m2.Create(ctx, name, encodeEmpty(0, 1)); err != nil {
				t.Error(err)
			}
		}
		return nil
	}
	if _, err := Open(ctx, f2, opts(0, 1)); err == nil || !strings.Contains(err.Error(), "took the next object id 256 times") {
		t.Fatalf("Open that always loses: %v", err)
	}
}

// TestWritersRace: two writers append concurrently while the second
// opens; afterwards exactly the first writer's appends acknowledged
// before the fence and the second writer's appends are in the log, in
// order, and the first writer's later appends failed.
func TestWritersRace(t *testing.T) {
	for round := range 20 {
		m := backend.NewMem()
		f := newFault(m)
		// The old writer's requests take 1-3ms; the new writer's none. (A
		// writer faster than Open's two requests per id keeps Open out
		// until it stops, see maxOpenAttempts.)
		f.delay = func(op, name string) time.Duration {
			if op == "create" {
				return time.Duration(1+round%3) * time.Millisecond
			}
			return 0
		}
		a := mustOpen(t, f, opts(0, 1))
		var aOK []wal.Record
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var aErr error
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				recs := batch(fmt.Sprintf("a%d", i), 1+i%2)
				if _, err := a.Append(recs); err != nil {
					aErr = err
					return
				}
				aOK = append(aOK, recs...)
			}
		})
		time.Sleep(time.Duration(round%4) * time.Millisecond)
		b := mustOpen(t, m, opts(0, 2))
		var bOK []wal.Record
		for i := range 5 {
			recs := batch(fmt.Sprintf("b%d", i), 2)
			if _, err := b.Append(recs); err != nil {
				t.Fatal(err)
			}
			bOK = append(bOK, recs...)
		}
		close(stop)
		wg.Wait()
		a.Close()
		b.Close()
		if aErr != nil && !errors.Is(aErr, ErrFenced) {
			t.Fatalf("round %d: the first writer failed with %v", round, aErr)
		}
		l := mustOpen(t, m, opts(0, 3))
		got := replayAll(t, l, 0)
		l.Close()
		n := len(got) - len(bOK)
		if n < 0 || n != len(aOK) {
			t.Fatalf("round %d: %d records, the first writer had %d acknowledged, the second %d", round, len(got), len(aOK), len(bOK))
		}
		checkRecords(t, got[:n], aOK)
		for i := range bOK {
			if !bytes.Equal(got[n+i].Data, bOK[i].Data) {
				t.Fatalf("round %d: record %d is %q, want the second writer's %q", round, n+i, got[n+i].Data, bOK[i].Data)
			}
		}
	}
}

// TestOpenDuringTruncation: the old writer's TruncateFront deletes the
// first object between the new writer's List and its read; Open lists
// again.
func TestOpenDuringTruncation(t *testing.T) {
	m := backend.NewMem()
	a := mustOpen(t, m, opts(0, 1))
	defer a.Close()
	var want []wal.Record
	for i := range 3 {
		recs := batch(fmt.Sprint(i), 2)
		if _, err := a.Append(recs); err != nil {
			t.Fatal(err)
		}
		want = append(want, recs...)
	}
	f := newFault(m)
	var once sync.Once
	f.before = func(op, name string) error {
		if op == "open" {
			once.Do(func() {
				if err := a.TruncateFront(3); err != nil {
					t.Error(err)
				}
			})
		}
		return nil
	}
	b, err := Open(context.Background(), f, opts(0, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.FirstLSN() != 3 || b.LastLSN() != 6 {
		t.Fatalf("first %d last %d", b.FirstLSN(), b.LastLSN())
	}
	checkRecords(t, replayAll(t, b, 0), want[2:])
}
