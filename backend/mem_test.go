package backend

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestMemSetFail(t *testing.T) {
	ctx := context.Background()
	m := NewMem()
	mustPut(t, m, "bad", []byte("original"))

	injected := errors.New("injected")
	var mu sync.Mutex
	var calls []string
	m.SetFail(func(op, name string) error {
		_ = m.Objects() // the hook may use the Mem: no lock is held
		mu.Lock()
		calls = append(calls, op+" "+name)
		mu.Unlock()
		if strings.HasPrefix(name, "bad") {
			return injected
		}
		return nil
	})

	mustPut(t, m, "good", []byte("g"))
	errs := map[string]error{
		"put":    m.Put(ctx, "bad", []byte("replaced")),
		"create": m.Create(ctx, "bad-new", []byte("new")),
		"delete": m.Delete(ctx, "bad"),
	}
	_, errs["get"] = m.Get(ctx, "bad")
	_, errs["size"] = m.Size(ctx, "bad")
	_, errs["list"] = m.List(ctx, "bad")
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

	want := []string{"put good", "put bad", "create bad-new", "delete bad", "get bad", "size bad", "list bad"}
	if !slices.Equal(calls, want) {
		t.Errorf("hook calls %q, want %q", calls, want)
	}

	m.SetFail(nil)
	mustPut(t, m, "bad", []byte("replaced"))
	mustGetEqual(t, m, "bad", []byte("replaced"))
}

func TestMemObjectsIsACopy(t *testing.T) {
	m := NewMem()
	mustPut(t, m, "a", []byte("aaa"))
	objects := m.Objects()
	if len(objects) != 1 || string(objects["a"]) != "aaa" {
		t.Fatalf("Objects() = %q", objects)
	}
	objects["a"][0] = 'X'
	objects["b"] = []byte("b")
	delete(objects, "a")
	mustGetEqual(t, m, "a", []byte("aaa"))
	mustListEqual(t, m, "", []string{"a"})
}
