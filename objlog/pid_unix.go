//go:build unix

package objlog

import (
	"errors"
	"syscall"
)

// processAlive reports whether a process with pid runs on this host:
// kill(pid, 0) succeeds, or fails with EPERM (it runs as another user).
// known is true: the answer is reliable, but for pid reuse.
func processAlive(pid int) (alive, known bool) {
	if pid <= 0 {
		return false, true
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM), true
}
