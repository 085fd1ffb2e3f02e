package backend_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/backend/backendtest"
)

var fastRetry = &backend.RetryOptions{Base: time.Millisecond, Max: 4 * time.Millisecond}

func TestRetryConformance(t *testing.T) {
	backendtest.Run(t, func(*testing.T) backend.Backend { return backend.Retry(backend.NewMem(), fastRetry) })
}

func TestSubConformance(t *testing.T) {
	backendtest.Run(t, func(*testing.T) backend.Backend { return backend.Sub(backend.NewMem(), "a/b") })
}

func TestCacheConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		c, err := backend.Cached(backend.NewMem(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

// flaky fails the first n calls of each (op, name) with a transient error.
type flaky struct {
	mu    sync.Mutex
	n     int
	calls map[string]int
}

func (f *flaky) fail(op, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := op + " " + name
	f.calls[k]++
	if f.calls[k] <= f.n {
		return fmt.Errorf("503 SlowDown: %w", backend.ErrTransient)
	}
	return nil
}

func TestRetryCuresTransientErrors(t *testing.T) {
	ctx := context.Background()
	m := backend.NewMem()
	f := &flaky{n: 3, calls: map[string]int{}}
	m.SetFail(f.fail)
	b := backend.Retry(m, fastRetry)
	if err := b.Create(ctx, "a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	backendtest.MustGetEqual(t, b, "a", []byte("x"))
	if got := f.calls["create a"]; got != 4 {
		t.Fatalf("create tried %d times, want 4 (3 failures, then success)", got)
	}

	// More failures than attempts: the last error, wrapped, stays transient.
	f = &flaky{n: 100, calls: map[string]int{}}
	m.SetFail(f.fail)
	err := backend.Retry(m, &backend.RetryOptions{Attempts: 3, Base: time.Millisecond}).Put(ctx, "b", []byte("y"))
	if !errors.Is(err, backend.ErrTransient) || f.calls["put b"] != 3 {
		t.Fatalf("err %v after %d calls, want a transient error after 3", err, f.calls["put b"])
	}
}

func TestRetryDoesNotRetryPermanentErrors(t *testing.T) {
	m := backend.NewMem()
	calls := 0
	denied := errors.New("AccessDenied")
	m.SetFail(func(op, name string) error { calls++; return denied })
	_, err := backend.Retry(m, fastRetry).Get(context.Background(), "a")
	if !errors.Is(err, denied) || calls != 1 {
		t.Fatalf("err %v after %d calls, want AccessDenied after 1", err, calls)
	}
}

func TestRetryStopsWithTheContext(t *testing.T) {
	m := backend.NewMem()
	m.SetFail(func(op, name string) error { return backend.ErrTransient })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := backend.Retry(m, &backend.RetryOptions{Attempts: 1000, Base: 5 * time.Millisecond}).Put(ctx, "a", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the context's", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("stopped after %v", d)
	}
}

// lostReply performs a Create and then reports a transient error, the
// first time: the answer was lost on the way back.
type lostReply struct {
	backend.Backend
	once sync.Once
}

func (l *lostReply) Create(ctx context.Context, name string, data []byte) error {
	err := l.Backend.Create(ctx, name, data)
	lost := false
	l.once.Do(func() { lost = true })
	if err == nil && lost {
		return fmt.Errorf("connection reset: %w", backend.ErrTransient)
	}
	return err
}

func TestRetryCreateWithLostReply(t *testing.T) {
	ctx := context.Background()
	m := backend.NewMem()
	b := backend.Retry(&lostReply{Backend: m}, fastRetry)
	if err := b.Create(ctx, "epoch", []byte("mine")); err != nil {
		t.Fatalf("a create whose reply was lost: %v", err)
	}
	// Another writer's object of the name is still refused.
	if err := m.Put(ctx, "other", []byte("theirs")); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, "other", []byte("mine")); !errors.Is(err, backend.ErrExist) {
		t.Fatalf("create over another writer's object: err %v, want ErrExist", err)
	}
}

func TestSubNames(t *testing.T) {
	ctx := context.Background()
	m := backend.NewMem()
	s := backend.Sub(m, "checkpoints")
	backendtest.MustPut(t, s, "runs/1.run", []byte("r"))
	backendtest.MustPut(t, m, "wal/1.log", []byte("l"))
	backendtest.MustListEqual(t, m, "", []string{"checkpoints/runs/1.run", "wal/1.log"})
	backendtest.MustListEqual(t, s, "", []string{"runs/1.run"})
	if _, err := s.Get(ctx, "../wal/1.log"); !errors.Is(err, backend.ErrBadName) {
		t.Fatalf("a name out of the part: err %v, want ErrBadName", err)
	}
}

// counting counts the Gets that reach a backend.
type counting struct {
	backend.Backend
	mu   sync.Mutex
	gets int
}

func (c *counting) Get(ctx context.Context, name string) ([]byte, error) {
	c.mu.Lock()
	c.gets++
	c.mu.Unlock()
	return c.Backend.Get(ctx, name)
}

func TestCacheReadsOnce(t *testing.T) {
	ctx := context.Background()
	remote := &counting{Backend: backend.NewMem()}
	dir := t.TempDir()
	c, err := backend.Cached(remote, dir)
	if err != nil {
		t.Fatal(err)
	}
	data := backendtest.Pattern(10000)
	backendtest.MustPut(t, c, "runs/1.run", data)
	for range 3 {
		o := backendtest.MustOpen(t, c, "runs/1.run")
		backendtest.MustReadAll(t, o, data)
		o.Close()
	}
	if remote.gets != 1 {
		t.Fatalf("three opens downloaded %d times, want 1", remote.gets)
	}
	if _, err := os.Stat(filepath.Join(dir, "runs", "1.run")); err != nil {
		t.Fatalf("no local copy: %v", err)
	}

	// Deleting the cache loses nothing: the next open downloads again.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	c, err = backend.Cached(remote, dir)
	if err != nil {
		t.Fatal(err)
	}
	o := backendtest.MustOpen(t, c, "runs/1.run")
	backendtest.MustReadAll(t, o, data)
	o.Close()
	if remote.gets != 2 {
		t.Fatalf("gets %d after the cache was deleted, want 2", remote.gets)
	}

	// Prune drops the copies of objects deleted behind the cache's back.
	if err := remote.Delete(ctx, "runs/1.run"); err != nil {
		t.Fatal(err)
	}
	if err := c.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "runs", "1.run")); !os.IsNotExist(err) {
		t.Fatalf("the copy of a deleted object survived Prune: %v", err)
	}

	// A name deleted behind the cache's back and created again through
	// it reads as the new object, not as the old copy.
	backendtest.MustPut(t, remote, "runs/1.run", []byte("old"))
	o = backendtest.MustOpen(t, c, "runs/1.run")
	o.Close()
	if err := remote.Delete(ctx, "runs/1.run"); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, "runs/1.run", []byte("new")); err != nil {
		t.Fatal(err)
	}
	o = backendtest.MustOpen(t, c, "runs/1.run")
	backendtest.MustReadAll(t, o, []byte("new"))
	o.Close()
}

func TestCountConformance(t *testing.T) {
	backendtest.Run(t, func(*testing.T) backend.Backend { return backend.Count(backend.NewMem()) })
}

func TestCountCounts(t *testing.T) {
	ctx := context.Background()
	c := backend.Count(backend.NewMem())
	backendtest.MustPut(t, c, "a", []byte("12345"))
	if err := c.Create(ctx, "b", []byte("123")); err != nil {
		t.Fatal(err)
	}
	before := c.Counts()
	if _, err := c.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.List(ctx, ""); err != nil {
		t.Fatal(err)
	}
	got, since := c.Counts(), c.Counts().Sub(before)
	if got.Puts != 1 || got.Creates != 1 || got.BytesOut != 8 || got.Requests() != 4 {
		t.Fatalf("counts %+v", got)
	}
	if since.Gets != 1 || since.Lists != 1 || since.BytesIn != 5 || since.Requests() != 2 {
		t.Fatalf("counts since %+v", since)
	}
}

// hangOnce blocks its first Get until the request's context ends, as a
// server that stopped answering.
type hangOnce struct {
	backend.Backend
	once sync.Once
}

func (h *hangOnce) Get(ctx context.Context, name string) ([]byte, error) {
	hang := false
	h.once.Do(func() { hang = true })
	if hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return h.Backend.Get(ctx, name)
}

func TestRetryAbandonsAHungRequest(t *testing.T) {
	m := backend.NewMem()
	backendtest.MustPut(t, m, "a", []byte("x"))
	b := backend.Retry(&hangOnce{Backend: m}, &backend.RetryOptions{Base: time.Millisecond, AttemptTimeout: 20 * time.Millisecond})
	got, err := b.Get(context.Background(), "a")
	if err != nil || string(got) != "x" {
		t.Fatalf("Get after a hung attempt: %q, %v", got, err)
	}
	// The caller's own deadline is not a transient failure: no retry.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := backend.Retry(&hangOnce{Backend: m}, fastRetry).Get(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a cancelled context: %v", err)
	}
}

// streamOnly is a Copier whose Get fails: what reads it went the
// streamed way. Its first copy breaks off half-way, transiently.
type streamOnly struct {
	backend.Backend
	mu    sync.Mutex
	broke bool
}

func (s *streamOnly) Get(ctx context.Context, name string) ([]byte, error) {
	return nil, errors.New("Get called: the copy was not streamed")
}

func (s *streamOnly) CopyTo(ctx context.Context, name string, w io.Writer) (int64, error) {
	data, err := s.Backend.Get(ctx, name)
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	broke := s.broke
	s.broke = true
	s.mu.Unlock()
	if !broke {
		n, _ := w.Write(data[:len(data)/2])
		return int64(n), fmt.Errorf("connection reset: %w", backend.ErrTransient)
	}
	n, err := w.Write(data)
	return int64(n), err
}

// TestCacheStreams: the cache downloads an object into its local file as
// a stream (never through Get), and a copy broken off half-way is
// retried from the start of the file.
func TestCacheStreams(t *testing.T) {
	m := backend.NewMem()
	data := backendtest.Pattern(1 << 20)
	c, err := backend.Cached(backend.Sub(backend.Retry(&streamOnly{Backend: m}, fastRetry), "x"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	backendtest.MustPut(t, m, "x/runs/1.run", data)
	o := backendtest.MustOpen(t, c, "runs/1.run")
	defer o.Close()
	backendtest.MustReadAll(t, o, data)
}
