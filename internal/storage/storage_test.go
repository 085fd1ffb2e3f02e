package storage

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/vfs"
)

// The marker: written once in a new directory, read back; a damaged or
// missing one beside a log is a *MarkerError, a newer format is not
// damage, and a directory with neither is not a storage.
func TestMarker(t *testing.T) {
	dir := t.TempDir()
	if _, err := Check(vfs.Default, dir); !errors.Is(err, ErrFormat) || errors.Is(err, ErrMarkerDamaged) {
		t.Fatalf("an empty directory: %v, want not a storage", err)
	}
	if _, err := Check(vfs.Default, filepath.Join(dir, "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a missing directory: %v", err)
	}
	if err := EnsureMarker(vfs.Default, dir); err != nil {
		t.Fatal(err)
	}
	if v, err := Check(vfs.Default, dir); err != nil || v != FormatVersion {
		t.Fatalf("Check = %d, %v", v, err)
	}
	marker := filepath.Join(dir, base.Marker)
	os.Mkdir(filepath.Join(dir, base.LogDir), 0o755)
	for _, c := range []struct {
		name    string
		content []byte // nil: removed
		damaged bool
	}{
		{"flipped", []byte("pwlog storagE format 2\n"), true},
		{"no-newline", []byte("pwlog storage format 2"), true},
		{"empty", []byte{}, true},
		{"missing", nil, true},
		{"newer", []byte("pwlog storage format 9\n"), false},
		{"zero", []byte("pwlog storage format 0\n"), false},
	} {
		if c.content == nil {
			os.Remove(marker)
		} else if err := os.WriteFile(marker, c.content, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Check(vfs.Default, dir)
		var me *MarkerError
		if !errors.Is(err, ErrFormat) || errors.As(err, &me) != c.damaged || errors.Is(err, ErrMarkerDamaged) != c.damaged {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.damaged && (me.Dir != dir || me.Missing != (c.content == nil)) {
			t.Fatalf("%s: %+v", c.name, me)
		}
		// A storage with a log is never given a new marker.
		if err := EnsureMarker(vfs.Default, dir); !errors.Is(err, ErrFormat) {
			t.Fatalf("%s: EnsureMarker = %v", c.name, err)
		}
	}
}

// A storage of format 1: the tools read it (Check), the engine refuses it
// (EnsureMarker) with an error that says how to upgrade it, and
// WriteMarker upgrades its marker.
func TestOldFormatMarker(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, base.Marker)
	if err := os.WriteFile(marker, []byte("pwlog storage format 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if v, err := Check(vfs.Default, dir); err != nil || v != 1 {
		t.Fatalf("Check = %d, %v", v, err)
	}
	err := EnsureMarker(vfs.Default, dir)
	var oe *OldFormatError
	if !errors.As(err, &oe) || !errors.Is(err, ErrFormat) || errors.Is(err, ErrMarkerDamaged) || oe.Format != 1 || oe.Dir != dir {
		t.Fatalf("EnsureMarker = %v", err)
	}
	if want := `pwlog: ` + dir + ` has format 1, this build reads format 2: run "pwlog compact ` + dir + `" to upgrade it`; !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("EnsureMarker = %q, want it to start with %q", err, want)
	}
	if err := WriteMarker(vfs.Default, dir); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "pwlog storage format 2\n" {
		t.Fatalf("marker %q, %v", b, err)
	}
	if err := EnsureMarker(vfs.Default, dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker + base.TempSuffix); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the temporary marker is left: %v", err)
	}
}

// The lock: a second holder is refused, naming the first.
func TestLock(t *testing.T) {
	dir := t.TempDir()
	l, err := TakeLock(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := TakeLock(vfs.Default, dir); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "in use by process") {
		t.Fatalf("second TakeLock = %v", err)
	}
	if li := ProbeLock(vfs.Default, dir); !li.Held || li.Holder == "" {
		t.Fatalf("probe of a held lock: %+v", li)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if li := ProbeLock(vfs.Default, dir); li.Held {
		t.Fatalf("probe of a free lock: %+v", li)
	}
}
