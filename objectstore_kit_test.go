package pwlog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/objlog"
)

// objectStore is where the object-store tests keep a storage: Mem in
// this process, or a real server on 127.0.0.1 that the tests install and
// start (versitygw for S3, Azurite for Azure Blob).
type objectStore struct {
	name string
	// remote is set for the stores a separate process reaches.
	remote bool
	// open returns a new empty storage: its location (a URL the example
	// programs and the tools take), the environment a process needs to
	// reach it, and its backend.
	open func(t *testing.T) (loc string, env []string, b backend.Backend)
}

var objectStores = []objectStore{
	{name: "mem", open: func(t *testing.T) (string, []string, backend.Backend) {
		b := backend.NewMem()
		return fmt.Sprintf("mem://%p", b), nil, b
	}},
}

// eachObjectStore runs f on a new storage of every object store.
func eachObjectStore(t *testing.T, f func(t *testing.T, s objectStore, loc string, env []string)) {
	eachStore(t, false, f)
}

// eachRemoteStore runs f on a new storage of every object store that
// another process reaches (a real server).
func eachRemoteStore(t *testing.T, f func(t *testing.T, s objectStore, loc string, env []string)) {
	eachStore(t, true, f)
}

func eachStore(t *testing.T, remoteOnly bool, f func(t *testing.T, s objectStore, loc string, env []string)) {
	for _, s := range objectStores {
		if remoteOnly && !s.remote {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			loc, env, b := s.open(t)
			useStorage(t, loc, env, b)
			f(t, s, loc, env)
		})
	}
}

// stores are the object-store storages of the running tests, by
// location: quietConfig runs a pipeline on them.
var stores sync.Map // location -> *storeUse

type storeUse struct {
	b     backend.Backend
	env   []string // what a process needs to reach it
	mu    sync.Mutex
	cache string
}

// useStorage makes loc name b for quietConfig, with a cache directory of
// the test's.
func useStorage(t *testing.T, loc string, env []string, b backend.Backend) {
	stores.Store(loc, &storeUse{b: b, env: env, cache: t.TempDir()})
	t.Cleanup(func() { stores.Delete(loc) })
}

// freshCache gives loc's next runs a new, empty cache directory: they
// run as on another machine, from the object store alone.
func freshCache(t *testing.T, loc string) string {
	v, _ := stores.Load(loc)
	u := v.(*storeUse)
	u.mu.Lock()
	defer u.mu.Unlock()
	u.cache = t.TempDir()
	return u.cache
}

// objectStoreConfig sets cfg's backend when storage is the location of
// an object-store storage of a running test.
func objectStoreConfig(cfg *pwlog.Config, storage string) bool {
	u := storeOf(storage)
	if u == nil {
		return false
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	cfg.Backend, cfg.CacheDir = u.b, u.cache
	return true
}

// crashing passes requests on to a backend until the k-th, then fails
// every one, as if the process had died there: the k-th takes effect
// when after is set (its answer is what was lost), and none after it
// does.
type crashing struct {
	backend.Backend
	k     int64
	after bool
	n     atomic.Int64
}

var errCrashed = errors.New("the process crashed")

// do runs one request under the crash rule.
func (c *crashing) do(fn func() error) error {
	switch n := c.n.Add(1); {
	case n < c.k:
		return fn()
	case n == c.k && c.after:
		fn()
	}
	return errCrashed
}

func (c *crashing) Put(ctx context.Context, name string, data []byte) error {
	return c.do(func() error { return c.Backend.Put(ctx, name, data) })
}

func (c *crashing) Create(ctx context.Context, name string, data []byte) error {
	return c.do(func() error { return c.Backend.Create(ctx, name, data) })
}

func (c *crashing) Get(ctx context.Context, name string) (data []byte, err error) {
	err = c.do(func() error { data, err = c.Backend.Get(ctx, name); return err })
	return data, err
}

func (c *crashing) Open(ctx context.Context, name string) (o backend.Object, err error) {
	err = c.do(func() error { o, err = c.Backend.Open(ctx, name); return err })
	return o, err
}

func (c *crashing) List(ctx context.Context, prefix string) (names []string, err error) {
	err = c.do(func() error { names, err = c.Backend.List(ctx, prefix); return err })
	return names, err
}

func (c *crashing) Delete(ctx context.Context, name string) error {
	return c.do(func() error { return c.Backend.Delete(ctx, name) })
}

func (c *crashing) Size(ctx context.Context, name string) (n int64, err error) {
	err = c.do(func() error { n, err = c.Backend.Size(ctx, name); return err })
	return n, err
}

// buryLease makes the lease of b's writer, if one is left, that of a
// process that has died on this host, as after a kill: the next writer
// takes it over at once.
func buryLease(t *testing.T, b backend.Backend) {
	t.Helper()
	ctx := context.Background()
	data, err := b.Get(ctx, objlog.LeaseName)
	if errors.Is(err, backend.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	var lease map[string]any
	if err := json.Unmarshal(data, &lease); err != nil {
		t.Fatal(err)
	}
	lease["pid"], lease["process"] = deadPID, "dead"
	if data, err = json.Marshal(lease); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, objlog.LeaseName, data); err != nil {
		t.Fatal(err)
	}
}

// deadPID is above Linux's largest pid: no process has it.
const deadPID = 1 << 23

// storeOf returns the object-store storage of a running test that
// storage names, nil when it is a directory.
func storeOf(storage string) *storeUse {
	v, ok := stores.Load(storage)
	if !ok {
		return nil
	}
	return v.(*storeUse)
}
