//go:build windows

package vfs

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/windows"
)

// lockOffsetHigh is the high 32 bits of the offset of the byte lockFile
// locks, 1<<62: far past the end of any lock file. Byte-range locks on
// Windows are mandatory, so a lock on the file's contents would keep
// other processes from reading them (the description of the holder that
// a lock file may hold); a lock past the end keeps out other locks only.
const lockOffsetHigh = 1 << 30

// lockFile creates name if needed, opens it read-write and locks one byte
// of it exclusively (LockFileEx) without waiting. A lock held through
// another handle fails with an error wrapping ErrLockHeld (and
// windows.ERROR_LOCK_VIOLATION).
func lockFile(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	ol := &windows.Overlapped{OffsetHigh: lockOffsetHigh}
	err = windows.LockFileEx(windows.Handle(f.Fd()),
		windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if err != nil {
		f.Close()
		if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
			return nil, lockHeld("lock", name, err)
		}
		return nil, &fs.PathError{Op: "lock", Path: name, Err: err}
	}
	return f, nil
}
