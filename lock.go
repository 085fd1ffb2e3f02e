package pwlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pwlog/pwlog/vfs"
)

// ErrLocked reports that another process holds a storage directory.
var ErrLocked = errors.New("pwlog: storage is locked")

// storageLock is an exclusive flock on DIR/LOCK, released by Close or by
// the process's death.
type storageLock struct{ f vfs.File }

// lockStorage takes the storage lock of dir or returns an error wrapping
// ErrLocked that names the process holding it.
func lockStorage(fsys vfs.FS, dir string) (*storageLock, error) {
	path := filepath.Join(dir, "LOCK")
	f, err := fsys.Lock(path)
	if err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			holder, _ := vfs.ReadFile(fsys, path)
			return nil, fmt.Errorf("%w: %s is in use by %s", ErrLocked, dir, describeHolder(string(holder)))
		}
		return nil, fmt.Errorf("pwlog: lock %s: %w", path, err)
	}
	info := fmt.Sprintf("pid %d since %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(info), 0)
	}
	return &storageLock{f: f}, nil
}

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

// Close releases the lock.
func (l *storageLock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
