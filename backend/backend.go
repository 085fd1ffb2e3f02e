// Package backend is where pwlog's checkpoint files (runs, manifests) live:
// a store of whole, immutable objects addressed by name.
//
// The Backend interface is kept to what object stores (S3, Azure Blob) can
// do: whole-object put, conditional create (S3 If-None-Match: *, Azure
// If-None-Match), get (whole, or by byte ranges of an opened object), list
// by prefix, delete and size; no appends, no renames, no directories.
// Filesystem keeps objects as files under a root directory; Mem keeps them
// in memory for tests.
//
// # Names
//
// An object name is a slash-separated relative path:
//
//	runs/000001.run
//	MANIFEST-0000000000000001
//
// Every backend rejects with ErrBadName: the empty name, a leading "/", empty
// segments ("a//b", a trailing "/"), "." and ".." segments, a backslash or a
// NUL byte, and segments starting with ".tmp-" (the prefix the Filesystem
// gives its temporary files, which List never shows). The same rules hold in
// Mem, so that tests against Mem accept exactly the names Filesystem does.
//
// # Filesystem layout
//
// An object is the file root/name (slashes become directories). A write
// first goes to a temporary file beside its final name:
//
//	root/
//	  MANIFEST-0000000000000001
//	  runs/
//	    000001.run
//	    .tmp-9f3c51a2e07b44d1-000002.run   <- Put or Create in progress, or
//	                                          left by a crash; never listed,
//	                                          removed by NewFilesystem
package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pwlog/pwlog/internal/base"
)

// Backend stores whole immutable objects by name. Names follow the rules in
// the package doc; a method given a bad name returns an error wrapping
// ErrBadName. Every method returns an error wrapping ctx.Err() without doing
// anything if ctx is already done when it is called. Implementations are safe
// for concurrent use.
type Backend interface {
	// Put stores data under name, replacing any object of that name. It is
	// atomic: a reader sees the old object or the new one, whole. The object
	// is durable when Put returns nil. Put does not retain data.
	Put(ctx context.Context, name string, data []byte) error

	// Create stores data under name only if no object has that name, else
	// it returns an error wrapping ErrExist and leaves the existing object
	// as it was. Of concurrent Creates of one name exactly one succeeds.
	// Atomic and durable like Put; Create does not retain data.
	Create(ctx context.Context, name string, data []byte) error

	// Get returns the object's bytes in a new slice the caller owns, or an
	// error wrapping ErrNotExist when there is no object of that name.
	Get(ctx context.Context, name string) ([]byte, error)

	// Open returns a reader of the object's bytes at any offset, for
	// reading parts of a large object without reading all of it. The
	// Object reads the object as it was when opened: a later Delete of the
	// name does not disturb an open Object (the Filesystem keeps the file
	// open; Mem keeps the bytes). An error wrapping ErrNotExist when there
	// is no object. Callers Close it. An Object is safe for concurrent
	// ReadAt calls.
	Open(ctx context.Context, name string) (Object, error)

	// List returns the names of the objects whose name starts with prefix
	// (any string; "" lists everything), sorted bytewise ascending. It never
	// lists temporary files.
	List(ctx context.Context, prefix string) ([]string, error)

	// Delete removes the object. A missing object is not an error. The
	// removal is durable when Delete returns nil.
	Delete(ctx context.Context, name string) error

	// Size returns the object's size in bytes, or an error wrapping
	// ErrNotExist when there is no object of that name.
	Size(ctx context.Context, name string) (int64, error)
}

// Object is an open object of a Backend.
type Object interface {
	// ReadAt reads as io.ReaderAt says: at the end of the object it
	// returns io.EOF with the bytes it read, and past the end 0, io.EOF.
	// Its other errors are wrapped with the operation ("read") and the
	// object name. After Close it fails with an error wrapping
	// fs.ErrClosed.
	io.ReaderAt

	// Size returns the object's size in bytes, as it was when opened.
	Size() int64

	// Close releases the object. A second Close returns an error wrapping
	// fs.ErrClosed; errors are wrapped with the operation ("close") and the
	// object name.
	Close() error
}

var (
	// ErrNotExist is returned (wrapped) by Get, Open and Size for a name
	// that no object has.
	ErrNotExist = errors.New("backend: object does not exist")

	// ErrExist is returned (wrapped) by Create when an object of the name
	// exists already.
	ErrExist = errors.New("backend: object exists")

	// ErrBadName is returned (wrapped) for a name that breaks the rules in
	// the package doc.
	ErrBadName = errors.New("backend: bad object name")

	// ErrTransient is wrapped by errors a retry may cure: a server error
	// (5xx), throttling, a timeout, a dropped connection. A remote backend
	// wraps it; Retry retries the operations that fail with it. Whether
	// the operation took effect is unknown.
	ErrTransient = errors.New("backend: transient error")
)

// tempPrefix starts the base name of every temporary file the Filesystem
// writes (base.TempPrefix, ".tmp-"); names with a segment starting with it
// are bad names.
const tempPrefix = base.TempPrefix

// Operation names, used in error messages (see Begin) and passed to
// Mem's failure hook; backends outside this package name their
// operations with them too.
const (
	OpPut    = "put"
	OpCreate = "create"
	OpGet    = "get"
	OpList   = "list"
	OpDelete = "delete"
	OpSize   = "size"
	OpOpen   = "open"
	OpRead   = "read"  // Object.ReadAt
	OpClose  = "close" // Object.Close
)

// validName reports whether name follows the naming rules.
func validName(name string) bool {
	if name == "" || strings.ContainsAny(name, "\\\x00") {
		return false
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." || strings.HasPrefix(seg, tempPrefix) {
			return false
		}
	}
	return true
}

// wrap adds the operation and object name to err:
// "backend: put runs/1.run: ...".
func wrap(op, name string, err error) error {
	return fmt.Errorf("backend: %s %s: %w", op, name, err)
}

// begin runs the checks every operation starts with: ctx not done, and (for
// operations on one object) a good name. The returned error is wrapped.
func begin(ctx context.Context, op, name string, checkName bool) error {
	if err := ctx.Err(); err != nil {
		return wrap(op, name, err)
	}
	if checkName && !validName(name) {
		return fmt.Errorf("backend: %s %q: %w", op, name, ErrBadName)
	}
	return nil
}

// ValidName reports whether name follows the naming rules of the package
// doc; backends outside this package check names with it.
func ValidName(name string) bool { return validName(name) }

// Begin runs the checks every Backend operation starts with: ctx not
// done, and, for an operation on one object (checkName), a good name.
// Backends outside this package call it first, so that they refuse what
// Filesystem and Mem refuse, with the same errors.
func Begin(ctx context.Context, op, name string, checkName bool) error {
	return begin(ctx, op, name, checkName)
}

// BytesObject returns an Object that reads data, for backends that read
// a whole object into memory when it is opened; name is the object's
// name in errors. data must not change afterwards.
func BytesObject(name string, data []byte) Object {
	return &memObject{name: name, data: data}
}
