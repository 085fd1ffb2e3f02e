//go:build !darwin && !dragonfly && !freebsd && !illumos && !linux && !netbsd && !openbsd && !windows

package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
)

// lockFile fails with an error wrapping errors.ErrUnsupported: this
// operating system has no flock, and the locks it may have (fcntl's, held
// per process) would not keep out a second Lock from the same process.
func lockFile(name string) (*os.File, error) {
	err := fmt.Errorf("file locks are not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)
	return nil, &fs.PathError{Op: "lock", Path: name, Err: err}
}
