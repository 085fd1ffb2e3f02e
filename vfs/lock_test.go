package vfs

import (
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
)

// TestLockHeld checks, for the operating system's FS and for MemFS, that
// a second Lock of a held file fails with a *fs.PathError wrapping
// ErrLockHeld (and, for callers that test the errno, EWOULDBLOCK), that
// the contents of a locked file stay readable, and that Close releases
// the lock.
func TestLockHeld(t *testing.T) {
	for _, tc := range []struct {
		name string
		fsys FS
		path string
	}{
		{"os", Default, filepath.Join(t.TempDir(), "LOCK")},
		{"mem", NewMem(), "/LOCK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := tc.fsys.Lock(tc.path)
			must(t, err)
			if _, err := l.WriteAt([]byte("holder"), 0); err != nil {
				t.Fatal(err)
			}
			_, err = tc.fsys.Lock(tc.path)
			var pe *fs.PathError
			if !errors.Is(err, ErrLockHeld) || !errors.As(err, &pe) || pe.Path != tc.path {
				t.Fatalf("second Lock = %v; want a *fs.PathError of %s wrapping ErrLockHeld", err, tc.path)
			}
			if !errors.Is(err, syscall.EWOULDBLOCK) {
				t.Fatalf("second Lock = %v; want it to be EWOULDBLOCK too", err)
			}
			if b, err := ReadFile(tc.fsys, tc.path); err != nil || string(b) != "holder" {
				t.Fatalf("reading the locked file = %q, %v; want %q", b, err, "holder")
			}
			must(t, l.Close())
			l, err = tc.fsys.Lock(tc.path)
			if err != nil {
				t.Fatalf("Lock after Close: %v", err)
			}
			must(t, l.Close())
		})
	}
}

// TestLockHeldError checks the error of a held lock apart from any FS: it
// is ErrLockHeld and EWOULDBLOCK, and unwraps to its cause.
func TestLockHeldError(t *testing.T) {
	cause := errors.New("cause")
	err := lockHeld("lock", "/x", cause)
	if !errors.Is(err, ErrLockHeld) || !errors.Is(err, syscall.EWOULDBLOCK) || !errors.Is(err, cause) {
		t.Fatalf("%v: want ErrLockHeld, EWOULDBLOCK and its cause", err)
	}
	if errors.Is(err, syscall.EIO) || errors.Is(err, fs.ErrExist) {
		t.Fatalf("%v: is an error it is not", err)
	}
	if got, want := err.Error(), "lock /x: lock held by another holder (cause)"; got != want {
		t.Fatalf("Error() = %q; want %q", got, want)
	}
}
