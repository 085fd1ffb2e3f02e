package backend

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Mem keeps objects in memory, for tests. It follows the Backend contract
// (names, errors, atomicity, copies in and out), except that nothing
// survives the process. It is safe for concurrent use.
type Mem struct {
	mu struct {
		sync.Mutex
		// objects holds each object's bytes. A slice stored here is never
		// written again: Put and Create store a copy of their data, replacing
		// the entry, and Get and Objects return copies; so an open memObject
		// shares the slice with no lock.
		objects map[string][]byte
		fail    func(op, name string) error
	}
}

var _ Backend = (*Mem)(nil)

// NewMem returns an empty Mem.
func NewMem() *Mem {
	m := &Mem{}
	m.mu.objects = make(map[string][]byte)
	return m
}

// SetFail installs fail, which every later operation calls once it has
// checked ctx and the name, before it does anything: op is "put",
// "create", "get", "open", "list", "delete" or "size", and name is the
// object name (the prefix for "list"). Each ReadAt of an open Object calls
// it too, with op "read" and the object's name, once it has checked that
// the Object is not closed (Close does not call it). A non-nil error fails
// the operation with no effect (a failed read reads nothing); it is
// returned wrapped with the operation and name. fail is called without
// Mem's lock held, so it may use the Mem, and it may be called
// concurrently. SetFail(nil) removes the hook.
func (m *Mem) SetFail(fail func(op, name string) error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.fail = fail
}

// Objects returns a copy of all objects, keyed by name; the caller owns the
// map and the slices.
func (m *Mem) Objects() map[string][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]byte, len(m.mu.objects))
	for name, data := range m.mu.objects {
		out[name] = clone(data)
	}
	return out
}

// start runs the checks every operation begins with, then the failure hook.
func (m *Mem) start(ctx context.Context, op, name string, checkName bool) error {
	if err := begin(ctx, op, name, checkName); err != nil {
		return err
	}
	return m.hook(op, name)
}

// hook calls the failure hook, if any, and returns its error wrapped.
func (m *Mem) hook(op, name string) error {
	m.mu.Lock()
	fail := m.mu.fail
	m.mu.Unlock()
	if fail != nil {
		if err := fail(op, name); err != nil {
			return wrap(op, name, err)
		}
	}
	return nil
}

// Put stores a copy of data under name; see Backend.Put.
func (m *Mem) Put(ctx context.Context, name string, data []byte) error {
	if err := m.start(ctx, OpPut, name, true); err != nil {
		return err
	}
	data = clone(data)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mu.objects[name] = data
	return nil
}

// Create stores a copy of data under name unless the name is taken; see
// Backend.Create.
func (m *Mem) Create(ctx context.Context, name string, data []byte) error {
	if err := m.start(ctx, OpCreate, name, true); err != nil {
		return err
	}
	data = clone(data)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.mu.objects[name]; ok {
		return wrap(OpCreate, name, ErrExist)
	}
	m.mu.objects[name] = data
	return nil
}

// Get returns a copy of the object's bytes; see Backend.Get.
func (m *Mem) Get(ctx context.Context, name string) ([]byte, error) {
	if err := m.start(ctx, OpGet, name, true); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.mu.objects[name]
	if !ok {
		return nil, wrap(OpGet, name, ErrNotExist)
	}
	return clone(data), nil
}

// Open returns an Object over the object's bytes as they are now; see
// Backend.Open. A later Put or Delete of the name does not change what it
// reads.
func (m *Mem) Open(ctx context.Context, name string) (Object, error) {
	if err := m.start(ctx, OpOpen, name, true); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.mu.objects[name]
	if !ok {
		return nil, wrap(OpOpen, name, ErrNotExist)
	}
	return &memObject{m: m, name: name, data: data}, nil
}

// memObject is an Object of Mem (or of BytesObject, without a Mem). data
// is the stored slice, which nothing writes (see Mem.mu.objects).
type memObject struct {
	m      *Mem // nil for BytesObject
	name   string
	data   []byte
	closed atomic.Bool
}

// errNegativeOffset fails a ReadAt at an offset below 0, as os.File does.
var errNegativeOffset = errors.New("negative offset")

func (o *memObject) ReadAt(p []byte, off int64) (int, error) {
	if o.closed.Load() {
		return 0, wrap(OpRead, o.name, fs.ErrClosed)
	}
	if o.m != nil {
		if err := o.m.hook(OpRead, o.name); err != nil {
			return 0, err
		}
	}
	switch {
	case off < 0:
		return 0, wrap(OpRead, o.name, errNegativeOffset)
	case len(p) == 0:
		return 0, nil
	case off >= int64(len(o.data)):
		return 0, io.EOF
	}
	n := copy(p, o.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (o *memObject) Size() int64 { return int64(len(o.data)) }

func (o *memObject) Close() error {
	if o.closed.Swap(true) {
		return wrap(OpClose, o.name, fs.ErrClosed)
	}
	return nil
}

// List returns the sorted names starting with prefix; see Backend.List.
func (m *Mem) List(ctx context.Context, prefix string) ([]string, error) {
	if err := m.start(ctx, OpList, prefix, false); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	names := []string{}
	for name := range maps.Keys(m.mu.objects) {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}

// Delete removes the object; see Backend.Delete.
func (m *Mem) Delete(ctx context.Context, name string) error {
	if err := m.start(ctx, OpDelete, name, true); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.mu.objects, name)
	return nil
}

// Size returns the object's size in bytes; see Backend.Size.
func (m *Mem) Size(ctx context.Context, name string) (int64, error) {
	if err := m.start(ctx, OpSize, name, true); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	data, ok := m.mu.objects[name]
	if !ok {
		return 0, wrap(OpSize, name, ErrNotExist)
	}
	return int64(len(data)), nil
}

// clone copies data into a new non-nil slice, so that an empty object reads
// back as an empty slice on every backend.
func clone(data []byte) []byte {
	return append(make([]byte, 0, len(data)), data...)
}
