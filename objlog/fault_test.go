package objlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/wal"
)

// errCrashed fails every request of a faultBackend after its crash point.
var errCrashed = errors.New("fault: the process crashed before this request")

// faultBackend wraps a Backend, counts its requests (ReadAt of an open
// Object is not one) and injects faults.
type faultBackend struct {
	backend.Backend
	mu    sync.Mutex
	count int // requests so far
	// limit: requests after the limit-th fail with errCrashed without
	// effect; -1 for none.
	limit int
	// before, when set, runs before a request; its error fails the
	// request without effect.
	before func(op, name string) error
	// after, when set, runs after the request took effect and replaces
	// its error.
	after func(op, name string, err error) error
	// delay, when set, returns how long a request waits before it runs.
	delay func(op, name string) time.Duration
	// twice makes every Create of a log object run twice, returning the
	// second result (a request the network duplicated).
	twice bool
}

func newFault(b backend.Backend) *faultBackend { return &faultBackend{Backend: b, limit: -1} }

func (f *faultBackend) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

func (f *faultBackend) do(ctx context.Context, op, name string, fn func() error) error {
	f.mu.Lock()
	f.count++
	n, limit, before, after, delay := f.count, f.limit, f.before, f.after, f.delay
	f.mu.Unlock()
	if limit >= 0 && n > limit {
		return fmt.Errorf("fault: %s %s: request %d: %w", op, name, n, errCrashed)
	}
	if before != nil {
		if err := before(op, name); err != nil {
			return err
		}
	}
	if delay != nil {
		if d := delay(op, name); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
	}
	err := fn()
	if after != nil {
		err = after(op, name, err)
	}
	return err
}

func (f *faultBackend) Put(ctx context.Context, name string, data []byte) error {
	return f.do(ctx, "put", name, func() error { return f.Backend.Put(ctx, name, data) })
}

func (f *faultBackend) Create(ctx context.Context, name string, data []byte) error {
	return f.do(ctx, "create", name, func() error {
		err := f.Backend.Create(ctx, name, data)
		f.mu.Lock()
		twice := f.twice
		f.mu.Unlock()
		if twice && err == nil {
			err = f.Backend.Create(ctx, name, data)
		}
		return err
	})
}

func (f *faultBackend) Get(ctx context.Context, name string) (data []byte, err error) {
	err = f.do(ctx, "get", name, func() error { data, err = f.Backend.Get(ctx, name); return err })
	return data, err
}

func (f *faultBackend) Open(ctx context.Context, name string) (obj backend.Object, err error) {
	err = f.do(ctx, "open", name, func() error { obj, err = f.Backend.Open(ctx, name); return err })
	return obj, err
}

func (f *faultBackend) List(ctx context.Context, prefix string) (names []string, err error) {
	err = f.do(ctx, "list", prefix, func() error { names, err = f.Backend.List(ctx, prefix); return err })
	return names, err
}

func (f *faultBackend) Delete(ctx context.Context, name string) error {
	return f.do(ctx, "delete", name, func() error { return f.Backend.Delete(ctx, name) })
}

func (f *faultBackend) Size(ctx context.Context, name string) (n int64, err error) {
	err = f.do(ctx, "size", name, func() error { n, err = f.Backend.Size(ctx, name); return err })
	return n, err
}

// retryBackend retries requests that fail with backend.ErrTransient, as
// the retry wrapper a storage puts below the log does.
type retryBackend struct {
	backend.Backend
	tries int
}

func retry[T any](r *retryBackend, fn func() (T, error)) (T, error) {
	for i := 1; ; i++ {
		v, err := fn()
		if err == nil || !errors.Is(err, backend.ErrTransient) || i >= r.tries {
			return v, err
		}
	}
}

func (r *retryBackend) Create(ctx context.Context, name string, data []byte) error {
	_, err := retry(r, func() (struct{}, error) { return struct{}{}, r.Backend.Create(ctx, name, data) })
	return err
}

func (r *retryBackend) Put(ctx context.Context, name string, data []byte) error {
	_, err := retry(r, func() (struct{}, error) { return struct{}{}, r.Backend.Put(ctx, name, data) })
	return err
}

func (r *retryBackend) Get(ctx context.Context, name string) ([]byte, error) {
	return retry(r, func() ([]byte, error) { return r.Backend.Get(ctx, name) })
}

func (r *retryBackend) List(ctx context.Context, prefix string) ([]string, error) {
	return retry(r, func() ([]string, error) { return r.Backend.List(ctx, prefix) })
}

// quiet is a logger that drops everything.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// noLeaks fails t if goroutines started during the test outlive it.
func noLeaks(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(2 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("%d goroutines at the start, %d at the end:\n%s", before, runtime.NumGoroutine(), buf)
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// batch returns n records, the last a commit, with bodies naming tag.
func batch(tag string, n int) []wal.Record {
	recs := make([]wal.Record, n)
	for i := range recs {
		recs[i] = wal.Record{Kind: 2, Data: fmt.Appendf(nil, "%s/%d", tag, i)}
	}
	recs[n-1].Kind = wal.KindCommit
	return recs
}

// bigBatch returns a batch with a compressible body of size bytes.
func bigBatch(tag string, size int) []wal.Record {
	return []wal.Record{{Kind: wal.KindCommit, Data: []byte(tag + strings.Repeat("x", size))}}
}

// replayAll returns copies of the records Replay(from) delivers.
func replayAll(t tb, l *Log, from uint64) []wal.Record {
	t.Helper()
	var out []wal.Record
	if err := l.Replay(from, func(r wal.Record) error {
		out = append(out, wal.Record{LSN: r.LSN, Kind: r.Kind, Data: append([]byte(nil), r.Data...)})
		return nil
	}); err != nil {
		t.Fatalf("Replay(%d): %v", from, err)
	}
	return out
}

// logObjects returns the log objects of m by id.
func logObjects(m *backend.Mem) map[uint64][]byte {
	out := map[uint64][]byte{}
	for name, data := range m.Objects() {
		if id, ok := ParseObjectName(name); ok {
			out[id] = data
		}
	}
	return out
}

func opts(interval time.Duration, epoch uint64) *Options {
	return &Options{SyncInterval: interval, Epoch: epoch, Logger: quiet}
}

func mustOpen(t tb, b backend.Backend, o *Options) *Log {
	t.Helper()
	l, err := Open(context.Background(), b, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// tb is what the helpers need of a *testing.T or a *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
}
