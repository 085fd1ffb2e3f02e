package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/vfs"
)

// ErrLocked reports that another process holds a storage directory.
var ErrLocked = errors.New("pwlog: storage is locked")

// Lock is an exclusive lock on a storage directory (its LOCK file),
// released by Close or by the process's death.
type Lock struct{ f vfs.File }

// TakeLock takes the storage lock of dir, or returns an error wrapping
// ErrLocked that names the process holding it. The lock file records
// this process's pid and the time.
func TakeLock(fsys vfs.FS, dir string) (*Lock, error) {
	path := filepath.Join(dir, base.Lock)
	f, err := fsys.Lock(path)
	if err != nil {
		if lockHeld(err) {
			holder, _ := vfs.ReadFile(fsys, path)
			return nil, fmt.Errorf("%w: %s is in use by %s", ErrLocked, dir, describeHolder(string(holder)))
		}
		return nil, fmt.Errorf("pwlog: lock %s: %w", path, err)
	}
	info := fmt.Sprintf("pid %d since %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(info), 0)
	}
	return &Lock{f: f}, nil
}

// lockHeld reports whether a Lock error says another process holds it.
func lockHeld(err error) bool { return errors.Is(err, vfs.ErrLockHeld) }

func describeHolder(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "another process"
	}
	if f := strings.Fields(s); len(f) >= 2 && f[0] == "pid" {
		if _, err := strconv.Atoi(f[1]); err == nil {
			return "process " + f[1] + strings.TrimPrefix(s, "pid "+f[1])
		}
	}
	return s
}

// Close releases the lock. Closing a nil or closed Lock does nothing.
func (l *Lock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// LockInfo says whether a process holds a storage.
type LockInfo struct {
	Held bool `json:"held"`
	// Holder is what the holder wrote in the lock file: its pid and since
	// when.
	Holder string `json:"holder,omitempty"`
	// Unknown says why the lock could not be probed (a read-only
	// directory); Held is then false.
	Unknown string `json:"unknown,omitempty"`
}

// ProbeLock tells whether a process holds dir's lock. It takes the lock
// for an instant when nobody holds it, so a pipeline starting at that
// very instant is refused with ErrLocked; it does not create the lock
// file.
func ProbeLock(fsys vfs.FS, dir string) LockInfo {
	p := filepath.Join(dir, base.Lock)
	if _, err := fsys.Stat(p); errors.Is(err, os.ErrNotExist) {
		return LockInfo{}
	}
	f, err := fsys.Lock(p)
	switch {
	case err == nil:
		f.Close()
		return LockInfo{}
	case lockHeld(err):
		holder, _ := vfs.ReadFile(fsys, p)
		return LockInfo{Held: true, Holder: describeHolder(string(holder))}
	}
	return LockInfo{Unknown: err.Error()}
}
