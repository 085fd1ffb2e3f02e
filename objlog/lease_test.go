package objlog

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pwlog/pwlog/backend"
)

// deadPID is above Linux's largest pid_max: no process has it.
const deadPID = 1 << 30

// testDuration is the lease Duration of the tests.
const testDuration = 200 * time.Millisecond

func leaseOpts(host string, pid int) *LeaseOptions {
	return &LeaseOptions{Duration: testDuration, Host: host, PID: pid, Logger: quiet}
}

// slowDuration is the holder's lease Duration of the tests of what
// happens at once: a writer that wrongly watched the lease would wait
// that long, far above what a loaded machine adds to an answer given at
// once (at most slowDuration/2).
const slowDuration = 2 * time.Second

func slowOpts(host string, pid int) *LeaseOptions {
	o := leaseOpts(host, pid)
	o.Duration = slowDuration
	return o
}

func mustAcquire(t *testing.T, b backend.Backend, o *LeaseOptions) *Lease {
	t.Helper()
	l, err := AcquireLease(context.Background(), b, o)
	if err != nil {
		t.Fatalf("AcquireLease: %v", err)
	}
	return l
}

// crash stops l's renewals without releasing it: its process died.
func (l *Lease) crash() {
	l.mu.Lock()
	l.mu.closed = true
	l.mu.Unlock()
	close(l.stop)
	l.renewCancel()
	<-l.done
}

func readLease(t *testing.T, m *backend.Mem) *leaseBody {
	t.Helper()
	data, err := m.Get(context.Background(), LeaseName)
	if errors.Is(err, backend.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var b leaseBody
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	return &b
}

func hostname(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestLeaseFreshAndReleased(t *testing.T) {
	noLeaks(t)
	m := backend.NewMem()
	a := mustAcquire(t, m, &LeaseOptions{Duration: testDuration, Logger: quiet})
	if a.Epoch() != 1 || a.Err() != nil {
		t.Fatalf("fresh lease: epoch %d err %v", a.Epoch(), a.Err())
	}
	b := readLease(t, m)
	if b == nil || b.Epoch != 1 || b.Host != hostname(t) || b.PID != os.Getpid() || b.Duration != testDuration {
		t.Fatalf("lease object %+v", b)
	}
	// Renewals change the object.
	for deadline := time.Now().Add(20 * testDuration); readLease(t, m).Counter == 0; time.Sleep(testDuration / 10) {
		if time.Now().After(deadline) {
			t.Fatal("not renewed")
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if readLease(t, m) != nil {
		t.Fatal("Close left the lease object")
	}
	if _, err := m.Size(context.Background(), EpochName(1)); err != nil {
		t.Fatalf("epoch object: %v", err)
	}
	start := time.Now()
	a = mustAcquire(t, m, &LeaseOptions{Duration: testDuration, Logger: quiet})
	defer a.Close()
	if a.Epoch() != 2 || time.Since(start) > 5*testDuration {
		t.Fatalf("released lease: epoch %d after %v", a.Epoch(), time.Since(start))
	}
	if names, _ := m.List(context.Background(), EpochPrefix); len(names) != 1 || names[0] != EpochName(2) {
		t.Fatalf("epoch objects %v", names)
	}
}

func TestLeaseRefusedAtOnce(t *testing.T) {
	noLeaks(t)
	host := hostname(t)
	for _, c := range []struct {
		name string
		pid  int
		want string
	}{
		{"this process", 0, "this process holds it already"},
		{"live process", os.Getppid(), "a live process holds it"},
		{"live process of another user", 1, "a live process holds it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := backend.NewMem()
			a := mustAcquire(t, m, slowOpts(host, c.pid))
			defer a.Close()
			start := time.Now()
			_, err := AcquireLease(context.Background(), m, leaseOpts(host, 0))
			if !errors.Is(err, ErrLeaseHeld) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "host "+host) ||
				!strings.Contains(err.Error(), "epoch 1") {
				t.Fatalf("AcquireLease: %v", err)
			}
			if el := time.Since(start); el > slowDuration/2 {
				t.Fatalf("refused after %v, not at once", el)
			}
			if a.Err() != nil {
				t.Fatalf("the holder lost its lease: %v", a.Err())
			}
		})
	}
}

func TestLeaseTakenAtOnce(t *testing.T) {
	noLeaks(t)
	host := hostname(t)
	for _, c := range []struct {
		name   string
		holder *LeaseOptions
	}{
		{"dead process", slowOpts(host, deadPID)},
		{"earlier process with our pid", &LeaseOptions{Duration: slowDuration, Host: host, PID: os.Getpid(), Logger: quiet, process: "an earlier process"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := backend.NewMem()
			a := mustAcquire(t, m, c.holder)
			defer a.Close()
			start := time.Now()
			b := mustAcquire(t, m, leaseOpts(host, 0))
			defer b.Close()
			if el := time.Since(start); el > slowDuration/2 {
				t.Fatalf("taken after %v, not at once", el)
			}
			if b.Epoch() != 2 || readLease(t, m).Epoch != 2 {
				t.Fatalf("epoch %d, lease %+v", b.Epoch(), readLease(t, m))
			}
			// The old holder (not dead after all: it is this test)
			// learns at its next renewal, and its Close keeps b's lease.
			waitErr(t, a)
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if readLease(t, m) == nil || b.Err() != nil {
				t.Fatalf("the old holder's Close disturbed the new lease: %v", b.Err())
			}
		})
	}
}

// waitErr waits for l.Err, for up to a few renewals of the longest
// Duration of the tests.
func waitErr(t *testing.T, l *Lease) error {
	t.Helper()
	deadline := time.Now().Add(2 * slowDuration)
	for l.Err() == nil {
		if time.Now().After(deadline) {
			t.Fatal("Err is nil: the takeover went unnoticed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !errors.Is(l.Err(), ErrLeaseLost) {
		t.Fatalf("Err: %v", l.Err())
	}
	return l.Err()
}

func TestLeaseOtherHost(t *testing.T) {
	noLeaks(t)
	t.Run("renewing", func(t *testing.T) {
		// A longer Duration than the other cases: a holder starved of
		// CPU for a whole Duration (a loaded test machine) would look
		// silent.
		m := backend.NewMem()
		o := leaseOpts("elsewhere", 77)
		o.Duration = 5 * testDuration
		a := mustAcquire(t, m, o)
		defer a.Close()
		start := time.Now()
		here := leaseOpts("here", 0)
		here.Duration = o.Duration
		_, err := AcquireLease(context.Background(), m, here)
		if !errors.Is(err, ErrLeaseHeld) || !strings.Contains(err.Error(), "host elsewhere pid 77 epoch 1") {
			t.Fatalf("AcquireLease: %v", err)
		}
		if el := time.Since(start); el > o.Duration {
			t.Fatalf("refused after %v, more than a Duration", el)
		}
	})
	t.Run("silent", func(t *testing.T) {
		m := backend.NewMem()
		a := mustAcquire(t, m, leaseOpts("elsewhere", 77))
		a.crash()
		start := time.Now()
		b := mustAcquire(t, m, leaseOpts("here", 0))
		defer b.Close()
		if el := time.Since(start); el < testDuration || el > 20*testDuration {
			t.Fatalf("taken after %v, want about %v", el, testDuration)
		}
		if b.Epoch() != 2 {
			t.Fatalf("epoch %d", b.Epoch())
		}
	})
	t.Run("longer holder duration", func(t *testing.T) {
		m := backend.NewMem()
		o := leaseOpts("elsewhere", 77)
		o.Duration = 2 * testDuration
		a := mustAcquire(t, m, o)
		a.crash()
		start := time.Now()
		b := mustAcquire(t, m, leaseOpts("here", 0))
		defer b.Close()
		if el := time.Since(start); el < 2*testDuration {
			t.Fatalf("taken after %v, before the holder's Duration", el)
		}
	})
	t.Run("released while watched", func(t *testing.T) {
		m := backend.NewMem()
		a := mustAcquire(t, m, leaseOpts("elsewhere", 77))
		time.AfterFunc(testDuration/4, func() { a.Close() })
		start := time.Now()
		b := mustAcquire(t, m, leaseOpts("here", 0))
		defer b.Close()
		if el := time.Since(start); el > 3*testDuration/4 {
			t.Fatalf("taken after %v", el)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		m := backend.NewMem()
		if err := m.Put(context.Background(), LeaseName, []byte("garbage")); err != nil {
			t.Fatal(err)
		}
		b := mustAcquire(t, m, leaseOpts("here", 0))
		defer b.Close()
		if b.Epoch() != 1 {
			t.Fatalf("epoch %d", b.Epoch())
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		m := backend.NewMem()
		a := mustAcquire(t, m, leaseOpts("elsewhere", 77))
		defer a.Close()
		ctx, cancel := context.WithTimeout(context.Background(), testDuration/3)
		defer cancel()
		if _, err := AcquireLease(ctx, m, leaseOpts("here", 0)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("AcquireLease with a short ctx: %v", err)
		}
	})
}

func TestLeaseRenewDetectsTakeover(t *testing.T) {
	noLeaks(t)
	ctx := context.Background()
	t.Run("lease", func(t *testing.T) {
		m := backend.NewMem()
		a := mustAcquire(t, m, leaseOpts("here", 0))
		body, _ := json.Marshal(&leaseBody{Epoch: 2, Host: "there", PID: 5})
		if err := m.Put(ctx, LeaseName, body); err != nil {
			t.Fatal(err)
		}
		err := waitErr(t, a)
		if !strings.Contains(err.Error(), "host there pid 5 epoch 2") {
			t.Fatalf("Err: %v", err)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if b := readLease(t, m); b == nil || b.Epoch != 2 {
			t.Fatalf("Close of a lost lease changed the new one: %+v", b)
		}
	})
	t.Run("epoch", func(t *testing.T) {
		m := backend.NewMem()
		a := mustAcquire(t, m, leaseOpts("here", 0))
		defer a.Close()
		if err := m.Create(ctx, EpochName(2), []byte("{}")); err != nil {
			t.Fatal(err)
		}
		if err := waitErr(t, a); !strings.Contains(err.Error(), "epoch 2 was taken") {
			t.Fatalf("Err: %v", err)
		}
	})
	t.Run("renewals failing", func(t *testing.T) {
		m := backend.NewMem()
		a := mustAcquire(t, m, leaseOpts("here", 0))
		defer a.Close()
		m.SetFail(func(op, name string) error {
			if op == "put" {
				return backend.ErrTransient
			}
			return nil
		})
		defer m.SetFail(nil)
		start := time.Now()
		if err := waitErr(t, a); !strings.Contains(err.Error(), "renewals failing") {
			t.Fatalf("Err: %v", err)
		}
		if el := time.Since(start); el < testDuration {
			t.Fatalf("lost after %v of failures, before a Duration", el)
		}
	})
}

// TestLeaseRace: writers acquiring at once: at most one is refused by
// the epoch's conditional create, and after a renewal exactly one holds
// the lease.
func TestLeaseRace(t *testing.T) {
	noLeaks(t)
	host := hostname(t)
	for range 5 {
		m := backend.NewMem()
		var wg sync.WaitGroup
		leases := make([]*Lease, 4)
		pids := []int{os.Getpid(), os.Getppid(), 1, os.Getppid()}
		for i := range leases {
			o := leaseOpts(host, pids[i])
			o.process = string(rune('a' + i))
			wg.Go(func() {
				l, err := AcquireLease(context.Background(), m, o)
				if err != nil && !errors.Is(err, ErrLeaseHeld) {
					t.Error(err)
				}
				leases[i] = l
			})
		}
		wg.Wait()
		time.Sleep(testDuration) // three renewals
		holders := 0
		for _, l := range leases {
			if l != nil {
				if l.Err() == nil {
					holders++
				}
				l.Close()
			}
		}
		if holders != 1 {
			t.Fatalf("%d holders", holders)
		}
	}
}

// TestLeaseFencesLog: the writer that takes over a silent holder's lease
// opens the log with its epoch; the old writer's next write is fenced.
func TestLeaseFencesLog(t *testing.T) {
	noLeaks(t)
	root := backend.NewMem()
	logB := prefixed{root, "wal/"}
	a := mustAcquire(t, root, leaseOpts("elsewhere", 77))
	la := mustOpen(t, logB, opts(0, a.Epoch()))
	if _, err := la.Append(batch("a", 2)); err != nil {
		t.Fatal(err)
	}
	a.crash() // a pause, say, longer than the Duration

	b := mustAcquire(t, root, leaseOpts("here", 0))
	defer b.Close()
	lb := mustOpen(t, logB, opts(0, b.Epoch()))
	defer lb.Close()
	if _, err := la.Append(batch("a2", 1)); !errors.Is(err, ErrFenced) {
		t.Fatalf("the old holder's Append: %v", err)
	}
	la.Close()
	if lb.LastLSN() != 2 {
		t.Fatalf("LastLSN %d", lb.LastLSN())
	}
}

// prefixed is a Backend of the names under prefix of another.
type prefixed struct {
	backend.Backend
	prefix string
}

func (p prefixed) Put(ctx context.Context, name string, data []byte) error {
	return p.Backend.Put(ctx, p.prefix+name, data)
}

func (p prefixed) Create(ctx context.Context, name string, data []byte) error {
	return p.Backend.Create(ctx, p.prefix+name, data)
}

func (p prefixed) Get(ctx context.Context, name string) ([]byte, error) {
	return p.Backend.Get(ctx, p.prefix+name)
}

func (p prefixed) Open(ctx context.Context, name string) (backend.Object, error) {
	return p.Backend.Open(ctx, p.prefix+name)
}

func (p prefixed) Delete(ctx context.Context, name string) error {
	return p.Backend.Delete(ctx, p.prefix+name)
}

func (p prefixed) Size(ctx context.Context, name string) (int64, error) {
	return p.Backend.Size(ctx, p.prefix+name)
}

func (p prefixed) List(ctx context.Context, prefix string) ([]string, error) {
	names, err := p.Backend.List(ctx, p.prefix+prefix)
	for i := range names {
		names[i] = strings.TrimPrefix(names[i], p.prefix)
	}
	return names, err
}
