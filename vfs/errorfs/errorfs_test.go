package errorfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/pwlog/pwlog/vfs"
)

// TestOnIndexSticky: OnIndex fails exactly the k-th selected operation;
// Sticky fails every operation after it.
func TestOnIndexSticky(t *testing.T) {
	dir := t.TempDir()
	at := NewOnIndex(2, syscall.ENOSPC, Kinds(OpWrite))
	st := NewSticky(at)
	fsys := Wrap(vfs.Default, st)
	f, err := fsys.OpenFile(filepath.Join(dir, "f"), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := f.Write([]byte("x")); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if _, err := f.Write([]byte("x")); !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrInjected) {
		t.Fatalf("third write: %v, want injected ENOSPC", err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("sync after the failure: %v, want the sticky ENOSPC", err)
	}
	if h := at.Hit(); h == nil || h.Kind != OpWrite {
		t.Fatalf("hit %v", h)
	}
	f.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, "f")); string(b) != "xx" {
		t.Fatalf("file holds %q, want the two writes before the failure", b)
	}
}

// TestToggleAndCounter: a Toggle fails while on; a Counter counts.
func TestToggleAndCounter(t *testing.T) {
	dir := t.TempDir()
	tg := NewToggle(syscall.EIO, Mutating)
	fsys := Wrap(vfs.Default, tg)
	p := filepath.Join(dir, "d")
	tg.Set(true)
	if err := fsys.Mkdir(p, 0o755); !errors.Is(err, syscall.EIO) {
		t.Fatalf("mkdir while on: %v", err)
	}
	if _, err := fsys.Stat(dir); err != nil {
		t.Fatalf("stat is not mutating: %v", err)
	}
	tg.Set(false)
	if err := fsys.Mkdir(p, 0o755); err != nil {
		t.Fatalf("mkdir while off: %v", err)
	}
	c := NewCounter(Mutating)
	cfs := Wrap(vfs.Default, c)
	if err := vfs.WriteFileAtomic(cfs, filepath.Join(dir, "a"), []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	// create, write, sync, rename, syncdir
	if c.Count() != 5 {
		t.Fatalf("counted %d mutating operations, want 5", c.Count())
	}
}

// TestLockHeld: a lock held underneath passes through as vfs.ErrLockHeld;
// an injected EWOULDBLOCK at a Lock is a held lock too, an injected EIO
// is not.
func TestLockHeld(t *testing.T) {
	name := filepath.Join(t.TempDir(), "LOCK")
	tg := NewToggle(syscall.EWOULDBLOCK, Kinds(OpLock))
	fsys := Wrap(vfs.Default, tg)
	l, err := fsys.Lock(name)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := fsys.Lock(name); !errors.Is(err, vfs.ErrLockHeld) || errors.Is(err, ErrInjected) {
		t.Fatalf("second Lock: %v, want the real vfs.ErrLockHeld", err)
	}
	tg.Set(true)
	other := filepath.Join(filepath.Dir(name), "OTHER")
	if _, err := fsys.Lock(other); !errors.Is(err, vfs.ErrLockHeld) || !errors.Is(err, ErrInjected) {
		t.Fatalf("Lock with EWOULDBLOCK injected: %v, want an injected vfs.ErrLockHeld", err)
	}
	eio := NewToggle(syscall.EIO, Kinds(OpLock))
	eio.Set(true)
	if _, err := Wrap(vfs.Default, eio).Lock(other); !errors.Is(err, syscall.EIO) || errors.Is(err, vfs.ErrLockHeld) {
		t.Fatalf("Lock with EIO injected: %v, want EIO and no held lock", err)
	}
}
