package objlog

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/wal"
	"pgregory.net/rapid"
)

// step is one Append of a crash scenario and what follows it.
type step struct {
	recs     int  // records in the Append
	sync     bool // Sync after it
	truncate bool // TruncateFront to the Append's first LSN after it
}

// scenario is a writer's life: Open, the steps, Close. With an interval
// of an hour the flusher never writes: every write is a Sync's, so the
// requests are the same at every run.
type scenario struct {
	interval time.Duration
	steps    []step
}

// outcome is what the writer was told.
type outcome struct {
	accepted [][]wal.Record // batches Append accepted, with their LSNs
	durable  uint64         // the highest LSN reported durable
	trunc    uint64         // the highest LSN TruncateFront was called with; records from it on must stay
}

// run plays sc against b until the first error, as a process that then
// crashes.
func (sc scenario) run(b backend.Backend) outcome {
	var out outcome
	l, err := Open(context.Background(), b, opts(sc.interval, 1))
	if err != nil {
		return out
	}
	defer l.Close()
	for i, s := range sc.steps {
		recs := batch(fmt.Sprint("s", i), s.recs)
		last, err := l.Append(recs)
		if err != nil {
			return out
		}
		out.accepted = append(out.accepted, recs)
		if sc.interval == 0 {
			out.durable = last
		}
		if s.sync {
			if err := l.Sync(); err != nil {
				return out
			}
			out.durable = last
		}
		if s.truncate {
			out.trunc = max(out.trunc, min(recs[0].LSN, out.durable+1))
			if err := l.TruncateFront(min(recs[0].LSN, out.durable+1)); err != nil {
				return out
			}
		}
	}
	if err := l.Close(); err == nil && len(out.accepted) > 0 {
		a := out.accepted[len(out.accepted)-1]
		out.durable = a[len(a)-1].LSN
	}
	return out
}

// check reopens the log after a crash and compares it with what the
// writer was told: the records are a whole-batch prefix of the accepted
// ones (from the truncation point on), holding every durable one.
func (out outcome) check(t tb, m *backend.Mem) {
	t.Helper()
	l, err := Open(context.Background(), m, opts(0, 2))
	if err != nil {
		t.Fatalf("reopen after the crash: %v", err)
	}
	defer l.Close()
	got := replayAll(t, l, 0)
	byLSN := map[uint64]wal.Record{}
	ends := map[uint64]bool{0: true}
	for _, a := range out.accepted {
		for _, r := range a {
			byLSN[r.LSN] = r
		}
		ends[a[len(a)-1].LSN] = true
	}
	if !ends[l.LastLSN()] {
		t.Fatalf("LastLSN %d is inside a batch", l.LastLSN())
	}
	if l.LastLSN() < out.durable {
		t.Fatalf("LastLSN %d, but %d was reported durable", l.LastLSN(), out.durable)
	}
	if l.LastLSN() > uint64(len(byLSN)) {
		t.Fatalf("LastLSN %d, but only %d records were accepted", l.LastLSN(), len(byLSN))
	}
	if len(got) > 0 && got[0].LSN != l.FirstLSN() || len(got) == 0 && l.FirstLSN() != l.LastLSN()+1 {
		t.Fatalf("FirstLSN %d, records from %v", l.FirstLSN(), got)
	}
	if out.trunc == 0 && l.FirstLSN() != 1 {
		t.Fatalf("FirstLSN %d without a truncation", l.FirstLSN())
	}
	if out.trunc > 0 && l.FirstLSN() > out.trunc && l.FirstLSN() <= l.LastLSN() {
		t.Fatalf("FirstLSN %d: records from %d were truncated", l.FirstLSN(), out.trunc)
	}
	for i, r := range got {
		w, ok := byLSN[r.LSN]
		if !ok || r.LSN != l.FirstLSN()+uint64(i) || r.Kind != w.Kind || string(r.Data) != string(w.Data) {
			t.Fatalf("record %d: LSN %d %q, accepted %q", i, r.LSN, r.Data, w.Data)
		}
	}
	info, err := Scan(context.Background(), m, nil)
	if err != nil || len(info.Problems) > 0 {
		t.Fatalf("Scan after the crash: %v %v", err, info.Problems)
	}
}

// crashAt plays sc with every request after the k-th failing, then
// checks the log; it returns the requests of the run.
func crashAt(t tb, sc scenario, k int) int {
	t.Helper()
	m := backend.NewMem()
	f := newFault(m)
	f.limit = k
	out := sc.run(f)
	out.check(t, m)
	return f.requests()
}

// TestCrashEveryRequest crashes a fixed scenario before each of its
// requests in turn.
func TestCrashEveryRequest(t *testing.T) {
	steps := []step{{recs: 2}, {recs: 1, sync: true}, {recs: 3}, {recs: 1, sync: true, truncate: true},
		{recs: 2}, {recs: 2, sync: true}, {recs: 1, truncate: true}, {recs: 2, sync: true}}
	for _, interval := range []time.Duration{0, time.Hour} {
		t.Run(fmt.Sprint("interval=", interval), func(t *testing.T) {
			noLeaks(t)
			sc := scenario{interval: interval, steps: steps}
			total := crashAt(t, sc, -1)
			if total < 10 {
				t.Fatalf("the scenario made only %d requests", total)
			}
			for k := 0; k <= total; k++ {
				crashAt(t, sc, k)
			}
		})
	}
}

// TestCrashProperty crashes random scenarios at random requests, with
// the log reopened (a second writer's fence) in the middle.
func TestCrashProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		interval := rapid.SampledFrom([]time.Duration{0, time.Hour}).Draw(rt, "interval")
		n := rapid.IntRange(1, 8).Draw(rt, "steps")
		var sc scenario
		sc.interval = interval
		for i := range n {
			sc.steps = append(sc.steps, step{
				recs:     rapid.IntRange(1, 4).Draw(rt, fmt.Sprint("recs", i)),
				sync:     rapid.Bool().Draw(rt, fmt.Sprint("sync", i)),
				truncate: rapid.IntRange(0, 4).Draw(rt, fmt.Sprint("truncate", i)) == 0,
			})
		}
		total := crashAt(rt, sc, -1)
		k := rapid.IntRange(0, total).Draw(rt, "crash after request")
		crashAt(rt, sc, k)
	})
}

// TestCrashDuringOpen: a crash while a second writer opens leaves a log
// the next one opens, with every durable record.
func TestCrashDuringOpen(t *testing.T) {
	m := backend.NewMem()
	l := mustOpen(t, m, opts(0, 1))
	want := batch("a", 3)
	if _, err := l.Append(want); err != nil {
		t.Fatal(err)
	}
	l.Close()
	for k := 0; k < 6; k++ {
		f := newFault(m)
		f.limit = k
		if l, err := Open(context.Background(), f, opts(0, uint64(2+k))); err == nil {
			l.Close()
		} else if !errors.Is(err, errCrashed) {
			t.Fatalf("crash after %d requests of Open: %v", k, err)
		}
		l := mustOpen(t, m, opts(0, uint64(2+k)))
		checkRecords(t, replayAll(t, l, 0), want)
		l.Close()
	}
}
