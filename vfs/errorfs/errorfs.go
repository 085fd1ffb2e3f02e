// Package errorfs wraps a vfs.FS to inject errors: EIO or ENOSPC at the
// k-th operation of some kinds, on some paths, or at random, and, for crash
// tests, every operation after the first failure (Sticky), as if the
// machine had stopped there.
//
// Every call through the FS or its files is one Op; Close is not an Op and
// always reaches the underlying file.
package errorfs

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/pwlog/pwlog/vfs"
)

// Kind is the kind of an operation.
type Kind uint8

// The operation kinds.
const (
	OpOpen     Kind = iota // OpenFile without O_CREATE
	OpCreate               // OpenFile with O_CREATE
	OpRead                 // File.Read, File.ReadAt, File.Seek
	OpWrite                // File.Write, File.WriteAt
	OpTruncate             // File.Truncate
	OpSync                 // File.Sync
	OpStat                 // FS.Stat, FS.Lstat, File.Stat
	OpReadDir              // FS.ReadDir
	OpRename               // FS.Rename
	OpLink                 // FS.Link
	OpRemove               // FS.Remove
	OpMkdir                // FS.Mkdir
	OpSyncDir              // FS.SyncDir
	OpLock                 // FS.Lock
	numKinds
)

var kindNames = [numKinds]string{"open", "create", "read", "write", "truncate", "sync",
	"stat", "readdir", "rename", "link", "remove", "mkdir", "syncdir", "lock"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Mutates reports whether operations of this kind change the filesystem
// or make changes durable: everything but open, read, stat and readdir.
func (k Kind) Mutates() bool {
	switch k {
	case OpOpen, OpRead, OpStat, OpReadDir:
		return false
	}
	return true
}

// Op is one operation.
type Op struct {
	Kind Kind
	Path string // the file's path; for Rename and Link, the new name
}

func (o Op) String() string { return o.Kind.String() + " " + o.Path }

// ErrInjected marks every error this package makes: errors.Is(err,
// ErrInjected) tells an injected failure from a real one. The injected
// error also wraps its errno (syscall.EIO, syscall.ENOSPC); an injected
// syscall.EWOULDBLOCK at an OpLock is also vfs.ErrLockHeld, a held lock.
var ErrInjected = errors.New("errorfs: injected error")

// Error is an injected error.
type Error struct {
	Errno syscall.Errno
	Op    Op
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %v (injected)", e.Op, e.Errno)
}

// Is makes errors.Is(err, ErrInjected) true, and errors.Is(err,
// vfs.ErrLockHeld) true for syscall.EWOULDBLOCK at an OpLock.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInjected:
		return true
	case vfs.ErrLockHeld:
		return e.Op.Kind == OpLock && e.Errno == syscall.EWOULDBLOCK
	}
	return false
}

// Unwrap returns the errno.
func (e *Error) Unwrap() error { return e.Errno }

// Injector decides, for each operation, whether it fails. It returns the
// errno to fail with, or 0. Injectors are called concurrently.
type Injector interface {
	MaybeError(Op) syscall.Errno
}

// Predicate selects operations.
type Predicate func(Op) bool

// Mutating selects the operations that change the filesystem (Kind.Mutates).
func Mutating(op Op) bool { return op.Kind.Mutates() }

// Kinds selects operations of the given kinds.
func Kinds(kinds ...Kind) Predicate {
	return func(op Op) bool {
		for _, k := range kinds {
			if op.Kind == k {
				return true
			}
		}
		return false
	}
}

// PathContains selects operations whose path contains s.
func PathContains(s string) Predicate {
	return func(op Op) bool { return strings.Contains(op.Path, s) }
}

// And selects operations every predicate selects.
func And(preds ...Predicate) Predicate {
	return func(op Op) bool {
		for _, p := range preds {
			if !p(op) {
				return false
			}
		}
		return true
	}
}

// Counter counts the operations a predicate selects, failing none. Its
// count after a run is the number of crash points OnIndex can choose.
type Counter struct {
	pred Predicate
	n    atomic.Int64
}

// NewCounter returns a Counter of the operations pred selects.
func NewCounter(pred Predicate) *Counter { return &Counter{pred: pred} }

// MaybeError implements Injector.
func (c *Counter) MaybeError(op Op) syscall.Errno {
	if c.pred(op) {
		c.n.Add(1)
	}
	return 0
}

// Count returns the number of operations selected so far.
func (c *Counter) Count() int64 { return c.n.Load() }

// OnIndex fails the k-th operation (from 0) that pred selects with errno.
type OnIndex struct {
	Counter
	k     int64
	errno syscall.Errno
	hit   atomic.Pointer[Op]
}

// NewOnIndex returns an injector failing the k-th operation pred selects.
func NewOnIndex(k int64, errno syscall.Errno, pred Predicate) *OnIndex {
	return &OnIndex{Counter: Counter{pred: pred}, k: k, errno: errno}
}

// MaybeError implements Injector.
func (o *OnIndex) MaybeError(op Op) syscall.Errno {
	if !o.pred(op) {
		return 0
	}
	if o.n.Add(1)-1 == o.k {
		o.hit.Store(&op)
		return o.errno
	}
	return 0
}

// Hit returns the operation that failed, nil if none has.
func (o *OnIndex) Hit() *Op { return o.hit.Load() }

// Random fails each operation pred selects with probability p.
type Random struct {
	mu    sync.Mutex
	rng   *rand.Rand
	p     float64
	errno syscall.Errno
	pred  Predicate
}

// NewRandom returns an injector failing operations at random, seeded.
func NewRandom(seed uint64, p float64, errno syscall.Errno, pred Predicate) *Random {
	return &Random{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), p: p, errno: errno, pred: pred}
}

// MaybeError implements Injector.
func (r *Random) MaybeError(op Op) syscall.Errno {
	if !r.pred(op) {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rng.Float64() < r.p {
		return r.errno
	}
	return 0
}

// Sticky wraps an injector so that once it fails an operation, every
// later operation fails too, with the same errno: the machine stopped
// there. Reads fail as well, so nothing learns of later state.
type Sticky struct {
	inner Injector
	errno atomic.Int32
}

// NewSticky returns inner made sticky.
func NewSticky(inner Injector) *Sticky { return &Sticky{inner: inner} }

// MaybeError implements Injector.
func (s *Sticky) MaybeError(op Op) syscall.Errno {
	if e := s.errno.Load(); e != 0 {
		return syscall.Errno(e)
	}
	e := s.inner.MaybeError(op)
	if e != 0 {
		s.errno.CompareAndSwap(0, int32(e))
		return syscall.Errno(s.errno.Load())
	}
	return 0
}

// Tripped reports whether an operation has failed.
func (s *Sticky) Tripped() bool { return s.errno.Load() != 0 }

// Toggle is an injector that can be switched on and off: while on, it
// fails the operations pred selects ("the disk is full"); off, none.
type Toggle struct {
	on    atomic.Bool
	errno syscall.Errno
	pred  Predicate
}

// NewToggle returns a Toggle, off.
func NewToggle(errno syscall.Errno, pred Predicate) *Toggle {
	return &Toggle{errno: errno, pred: pred}
}

// Set switches the toggle.
func (t *Toggle) Set(on bool) { t.on.Store(on) }

// MaybeError implements Injector.
func (t *Toggle) MaybeError(op Op) syscall.Errno {
	if t.on.Load() && t.pred(op) {
		return t.errno
	}
	return 0
}

// FS is a vfs.FS that asks an Injector before each operation.
type FS struct {
	base vfs.FS
	inj  Injector
}

var _ vfs.FS = (*FS)(nil)

// Wrap returns base with inj's errors injected.
func Wrap(base vfs.FS, inj Injector) *FS { return &FS{base: base, inj: inj} }

func (f *FS) check(k Kind, path string) error {
	op := Op{Kind: k, Path: path}
	if e := f.inj.MaybeError(op); e != 0 {
		return &Error{Errno: e, Op: op}
	}
	return nil
}

func pathErr(op, path string, err error) error {
	return &fs.PathError{Op: op, Path: path, Err: err}
}

// OpenFile implements vfs.FS.
func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	k := OpOpen
	if flag&os.O_CREATE != 0 {
		k = OpCreate
	}
	if err := f.check(k, name); err != nil {
		return nil, pathErr("open", name, err)
	}
	file, err := f.base.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &errFile{File: file, fs: f, path: name}, nil
}

// Rename implements vfs.FS.
func (f *FS) Rename(oldname, newname string) error {
	if err := f.check(OpRename, newname); err != nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	return f.base.Rename(oldname, newname)
}

// Link implements vfs.FS.
func (f *FS) Link(oldname, newname string) error {
	if err := f.check(OpLink, newname); err != nil {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	return f.base.Link(oldname, newname)
}

// Remove implements vfs.FS.
func (f *FS) Remove(name string) error {
	if err := f.check(OpRemove, name); err != nil {
		return pathErr("remove", name, err)
	}
	return f.base.Remove(name)
}

// Mkdir implements vfs.FS.
func (f *FS) Mkdir(name string, perm fs.FileMode) error {
	if err := f.check(OpMkdir, name); err != nil {
		return pathErr("mkdir", name, err)
	}
	return f.base.Mkdir(name, perm)
}

// ReadDir implements vfs.FS.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := f.check(OpReadDir, name); err != nil {
		return nil, pathErr("readdirent", name, err)
	}
	return f.base.ReadDir(name)
}

// Stat implements vfs.FS.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	if err := f.check(OpStat, name); err != nil {
		return nil, pathErr("stat", name, err)
	}
	return f.base.Stat(name)
}

// Lstat implements vfs.FS.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	if err := f.check(OpStat, name); err != nil {
		return nil, pathErr("lstat", name, err)
	}
	return f.base.Lstat(name)
}

// SyncDir implements vfs.FS.
func (f *FS) SyncDir(name string) error {
	if err := f.check(OpSyncDir, name); err != nil {
		return pathErr("sync", name, err)
	}
	return f.base.SyncDir(name)
}

// Lock implements vfs.FS. A lock held underneath fails as the
// underlying FS fails, with an error wrapping vfs.ErrLockHeld.
func (f *FS) Lock(name string) (vfs.File, error) {
	if err := f.check(OpLock, name); err != nil {
		return nil, pathErr("flock", name, err)
	}
	file, err := f.base.Lock(name)
	if err != nil {
		return nil, err
	}
	return &errFile{File: file, fs: f, path: name}, nil
}

type errFile struct {
	vfs.File
	fs   *FS
	path string
}

func (e *errFile) Read(p []byte) (int, error) {
	if err := e.fs.check(OpRead, e.path); err != nil {
		return 0, pathErr("read", e.path, err)
	}
	return e.File.Read(p)
}

func (e *errFile) ReadAt(p []byte, off int64) (int, error) {
	if err := e.fs.check(OpRead, e.path); err != nil {
		return 0, pathErr("read", e.path, err)
	}
	return e.File.ReadAt(p, off)
}

func (e *errFile) Seek(off int64, whence int) (int64, error) {
	if err := e.fs.check(OpRead, e.path); err != nil {
		return 0, pathErr("seek", e.path, err)
	}
	return e.File.Seek(off, whence)
}

func (e *errFile) Write(p []byte) (int, error) {
	if err := e.fs.check(OpWrite, e.path); err != nil {
		return 0, pathErr("write", e.path, err)
	}
	return e.File.Write(p)
}

func (e *errFile) WriteAt(p []byte, off int64) (int, error) {
	if err := e.fs.check(OpWrite, e.path); err != nil {
		return 0, pathErr("write", e.path, err)
	}
	return e.File.WriteAt(p, off)
}

func (e *errFile) Truncate(size int64) error {
	if err := e.fs.check(OpTruncate, e.path); err != nil {
		return pathErr("truncate", e.path, err)
	}
	return e.File.Truncate(size)
}

func (e *errFile) Sync() error {
	if err := e.fs.check(OpSync, e.path); err != nil {
		return pathErr("sync", e.path, err)
	}
	return e.File.Sync()
}

func (e *errFile) Stat() (fs.FileInfo, error) {
	if err := e.fs.check(OpStat, e.path); err != nil {
		return nil, pathErr("stat", e.path, err)
	}
	return e.File.Stat()
}
