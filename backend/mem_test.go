package backend_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/backend/backendtest"
)

func TestMemSetFail(t *testing.T) {
	ctx := context.Background()
	m := backend.NewMem()
	backendtest.MustPut(t, m, "bad", []byte("original"))

	injected := errors.New("injected")
	var mu sync.Mutex
	var calls []string
	m.SetFail(func(op, name string) error {
		_ = m.Objects() // the hook may use the backend.Mem: no lock is held
		mu.Lock()
		calls = append(calls, op+" "+name)
		mu.Unlock()
		if strings.HasPrefix(name, "bad") {
			return injected
		}
		return nil
	})

	backendtest.MustPut(t, m, "good", []byte("g"))
	errs := map[string]error{
		"put":    m.Put(ctx, "bad", []byte("replaced")),
		"create": m.Create(ctx, "bad-new", []byte("new")),
		"delete": m.Delete(ctx, "bad"),
	}
	_, errs["get"] = m.Get(ctx, "bad")
	_, errs["size"] = m.Size(ctx, "bad")
	_, errs["list"] = m.List(ctx, "bad")
	_, errs["open"] = m.Open(ctx, "bad")
	for op, err := range errs {
		if !errors.Is(err, injected) {
			t.Errorf("%s: err %v, want the injected error", op, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "backend: "+op+" bad") {
			t.Errorf("error %q does not name the operation and object", err)
		}
	}
	// The failed operations had no effect.
	objects := m.Objects()
	if len(objects) != 2 || string(objects["bad"]) != "original" || string(objects["good"]) != "g" {
		t.Errorf("objects after failed operations: %q", objects)
	}
	// Bad names and a cancelled ctx fail before the hook.
	_ = m.Put(ctx, "/bad", nil)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_ = m.Put(cancelled, "good", nil)

	want := []string{"put good", "put bad", "create bad-new", "delete bad", "get bad", "size bad", "list bad", "open bad"}
	if !slices.Equal(calls, want) {
		t.Errorf("hook calls %q, want %q", calls, want)
	}

	m.SetFail(nil)
	backendtest.MustPut(t, m, "bad", []byte("replaced"))
	backendtest.MustGetEqual(t, m, "bad", []byte("replaced"))
}

func TestMemSetFailRead(t *testing.T) {
	m := backend.NewMem()
	backendtest.MustPut(t, m, "runs/1.run", []byte("0123456789"))

	injected := errors.New("injected")
	var failRead atomic.Bool
	var mu sync.Mutex
	var calls []string
	m.SetFail(func(op, name string) error {
		mu.Lock()
		calls = append(calls, op+" "+name)
		mu.Unlock()
		if op == "read" && failRead.Load() {
			return injected
		}
		return nil
	})
	o, err := m.Open(context.Background(), "runs/1.run")
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 4)
	if n, err := o.ReadAt(p, 2); n != 4 || err != nil || string(p) != "2345" {
		t.Fatalf("ReadAt = %d, %v, %q", n, err, p)
	}
	failRead.Store(true)
	clear(p)
	n, err := o.ReadAt(p, 6)
	if n != 0 || !errors.Is(err, injected) || !strings.HasPrefix(err.Error(), "backend: read runs/1.run") {
		t.Fatalf("ReadAt with the hook failing = %d, %v; want 0 and the injected error, named", n, err)
	}
	if !bytes.Equal(p, make([]byte, 4)) {
		t.Fatalf("the failed ReadAt wrote %q", p)
	}
	// Every ReadAt calls the hook, also one past the end; Close does not,
	// and neither does a ReadAt after Close.
	if _, err := o.ReadAt(p, 100); !errors.Is(err, injected) {
		t.Fatalf("ReadAt past the end with the hook failing: err %v", err)
	}
	failRead.Store(false)
	if n, err := o.ReadAt(p, 6); n != 4 || (err != nil && err != io.EOF) || string(p) != "6789" {
		t.Fatalf("ReadAt after the hook stopped failing = %d, %v, %q", n, err, p)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.ReadAt(p, 0); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("ReadAt after Close: err %v, want fs.ErrClosed", err)
	}
	want := []string{"open runs/1.run", "read runs/1.run", "read runs/1.run", "read runs/1.run", "read runs/1.run"}
	if !slices.Equal(calls, want) {
		t.Errorf("hook calls %q, want %q", calls, want)
	}
}

func TestMemObjectsIsACopy(t *testing.T) {
	m := backend.NewMem()
	backendtest.MustPut(t, m, "a", []byte("aaa"))
	objects := m.Objects()
	if len(objects) != 1 || string(objects["a"]) != "aaa" {
		t.Fatalf("Objects() = %q", objects)
	}
	objects["a"][0] = 'X'
	objects["b"] = []byte("b")
	delete(objects, "a")
	backendtest.MustGetEqual(t, m, "a", []byte("aaa"))
	backendtest.MustListEqual(t, m, "", []string{"a"})
}
