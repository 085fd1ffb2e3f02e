// Package vfs is the filesystem seam of pwlog: every file pwlog writes
// itself (log repair and fsyncs, checkpoint runs, manifests, the format
// marker, the storage lock, sinks) goes through an FS, so tests can swap
// the operating system for an in-memory filesystem that produces crash
// images (MemFS), for one that records what a crash would keep of real
// files (Recorder), or for one that injects errors (package errorfs).
//
// The log's segments themselves are written by github.com/tidwall/wal
// through package os; only their directory listing, repair and fsyncs go
// through the FS. So an FS given to a whole pipeline must reach the same
// files as the operating system: Default, a Recorder, or errorfs over one
// of them. MemFS serves the packages that write only through the FS.
//
// What each call makes durable:
//
//	File.Sync      the file's data and size, not its name
//	FS.SyncDir     the names in a directory: entries created, renamed,
//	               linked or removed in it so far
//
// Nothing else is durable: a file created and synced but whose directory
// was not synced may be gone after a crash, and a rename not followed by
// a SyncDir may be undone.
package vfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/pwlog/pwlog/internal/base"
)

// File is an open file.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Seeker
	io.Closer
	// Sync makes the file's data and size durable (fsync). It does not
	// make the file's name durable; see FS.SyncDir.
	Sync() error
	// Stat describes the open file.
	Stat() (fs.FileInfo, error)
	// Truncate changes the size of the file; it is durable after Sync.
	Truncate(size int64) error
	// Name returns the name the file was opened with.
	Name() string
}

// FS is the filesystem pwlog writes its own files through. Paths are
// operating-system paths; errors are *fs.PathError or *os.LinkError
// wrapping the usual fs errors (fs.ErrNotExist, fs.ErrExist) and errnos.
type FS interface {
	// OpenFile opens name with os.OpenFile's flags (O_RDONLY, O_WRONLY,
	// O_RDWR, O_CREATE, O_EXCL, O_TRUNC, O_APPEND).
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	// Rename renames oldname to newname, replacing a file at newname.
	// Durable after SyncDir of the directory (both, if they differ).
	Rename(oldname, newname string) error
	// Link makes newname a hard link to oldname; it fails with an error
	// wrapping fs.ErrExist if newname exists. Durable after SyncDir.
	Link(oldname, newname string) error
	// Remove removes a file or an empty directory. Durable after SyncDir.
	Remove(name string) error
	// Mkdir creates a directory; it fails with fs.ErrExist if name exists.
	// Durable after SyncDir of the parent.
	Mkdir(name string, perm fs.FileMode) error
	// ReadDir lists a directory, sorted by name.
	ReadDir(name string) ([]fs.DirEntry, error)
	// Stat describes the file at name, following symbolic links.
	Stat(name string) (fs.FileInfo, error)
	// Lstat describes the file at name without following a final link.
	Lstat(name string) (fs.FileInfo, error)
	// SyncDir makes the entries of directory name durable.
	SyncDir(name string) error
	// Lock creates name if needed, opens it read-write and takes an
	// exclusive lock on it without waiting; a lock held by another holder
	// (another process, or another File from Lock in this one) fails with
	// an error wrapping ErrLockHeld. Closing the returned File releases
	// the lock, as does the death of the process. The lock keeps out
	// other Locks only: the file's contents stay readable and writable
	// through other opens.
	Lock(name string) (File, error)
}

// ErrLockHeld is the error, wrapped, of an FS.Lock that finds the lock
// held by another holder. Default (wherever the operating system has
// locks), MemFS, Recorder and the FS of package errorfs fail so, and an
// FS of another package should too. Such an error also satisfies
// errors.Is(err, syscall.EWOULDBLOCK), the errno with which flock
// reports a held lock, so that callers testing for that errno keep
// working on every operating system. Underneath, it wraps the operating
// system's own error: EWOULDBLOCK on Unix, ERROR_LOCK_VIOLATION on
// Windows.
var ErrLockHeld = errors.New("lock held by another holder")

// lockHeldError is the error of a Lock that found the lock held: it is
// ErrLockHeld and syscall.EWOULDBLOCK for errors.Is, and unwraps to the
// operating system's error, if any.
type lockHeldError struct{ cause error }

func (e lockHeldError) Error() string {
	if e.cause == nil {
		return ErrLockHeld.Error()
	}
	return ErrLockHeld.Error() + " (" + e.cause.Error() + ")"
}

func (e lockHeldError) Is(target error) bool {
	return target == ErrLockHeld || target == error(syscall.EWOULDBLOCK)
}

func (e lockHeldError) Unwrap() error { return e.cause }

// lockHeld returns the error of a Lock of name, operation op, that found
// the lock held; cause is the operating system's error, or nil.
func lockHeld(op, name string, cause error) error {
	return &fs.PathError{Op: op, Path: name, Err: lockHeldError{cause}}
}

// Default is the operating system's filesystem. Its Lock is flock on
// Linux, macOS, illumos and the BSDs and LockFileEx on Windows; on other
// systems it fails with an error wrapping errors.ErrUnsupported.
var Default FS = osFS{}

type osFS struct{}

var _ FS = osFS{}

type osFile struct{ *os.File }

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Rename(oldname, newname string) error      { return os.Rename(oldname, newname) }
func (osFS) Link(oldname, newname string) error        { return os.Link(oldname, newname) }
func (osFS) Remove(name string) error                  { return os.Remove(name) }
func (osFS) Mkdir(name string, perm fs.FileMode) error { return os.Mkdir(name, perm) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error) {
	return os.ReadDir(name)
}
func (osFS) Stat(name string) (fs.FileInfo, error)  { return os.Stat(name) }
func (osFS) Lstat(name string) (fs.FileInfo, error) { return os.Lstat(name) }

func (fsys osFS) SyncDir(name string) error { return SyncFile(fsys, name) }

func (osFS) Lock(name string) (File, error) {
	f, err := lockFile(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Open opens name for reading.
func Open(fsys FS, name string) (File, error) { return fsys.OpenFile(name, os.O_RDONLY, 0) }

// Create creates or truncates name for reading and writing.
func Create(fsys FS, name string) (File, error) {
	return fsys.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
}

// SyncFile opens the file or directory name read-only and fsyncs it: for
// a file, its data; for a directory, its entries.
func SyncFile(fsys FS, name string) error {
	f, err := Open(fsys, name)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadFile returns the contents of name.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := Open(fsys, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// WriteFileAtomic replaces name with data durably: a temporary file
// beside it is written and synced, renamed over name, and the directory
// synced. A crash leaves the old contents or the new ones, whole (and
// perhaps the temporary file, name+base.TempSuffix: ".tmp").
func WriteFileAtomic(fsys FS, name string, data []byte, perm fs.FileMode) error {
	tmp := name + base.TempSuffix
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, name)
	}
	if err == nil {
		err = fsys.SyncDir(filepath.Dir(name))
	}
	return err
}

// MkdirAll creates dir and its missing parents, syncing the parent of
// each directory it creates so that the new entries are durable. An
// existing directory is fine; an existing non-directory is an error.
func MkdirAll(fsys FS, dir string, perm fs.FileMode) error {
	dir = filepath.Clean(dir)
	st, err := fsys.Stat(dir)
	if err == nil {
		if !st.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := MkdirAll(fsys, parent, perm); err != nil {
			return err
		}
	}
	if err := fsys.Mkdir(dir, perm); err != nil {
		if errors.Is(err, fs.ErrExist) {
			if st, serr := fsys.Stat(dir); serr == nil && st.IsDir() {
				return nil // made meanwhile by someone else
			}
		}
		return err
	}
	return fsys.SyncDir(parent)
}
