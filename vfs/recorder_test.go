package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// readImage returns every path under dir with its contents ("/" for a
// directory).
func readImage(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			out[rel] = "/"
			return nil
		}
		data, err := os.ReadFile(p)
		out[rel] = string(data)
		return err
	})
	must(t, err)
	return out
}

// TestRecorderCrashImage drives a Recorder the way a pipeline does
// (files written through it, others by package os behind its back) and
// checks the guarantees of the crash model on real crash images.
func TestRecorderCrashImage(t *testing.T) {
	root := t.TempDir()
	p := func(name string) string { return filepath.Join(root, name) }
	must(t, os.WriteFile(p("pre"), []byte("pre-existing"), 0o644))
	must(t, os.Mkdir(p("sub"), 0o755))
	r, err := NewRecorder(root)
	must(t, err)

	// Names made durable by the SyncDir below.
	mustPut(t, r, p("a"), "A", true)
	mustPut(t, r, p("h1"), "linked", true)
	must(t, r.Link(p("h1"), p("h2")))
	mustPut(t, r, p("gone"), "removed", true)
	wal := strings.Repeat("w", 1000)
	must(t, os.WriteFile(p("wal"), []byte(wal), 0o644))
	must(t, os.WriteFile(p("wal2"), []byte(wal), 0o644))
	// Synced through the Recorder by a write-only handle.
	f, err := r.OpenFile(p("wal2"), os.O_WRONLY, 0)
	must(t, err)
	must(t, f.Sync())
	must(t, f.Close())
	durable, err := Create(r, p("durable"))
	must(t, err)
	_, err = durable.Write([]byte("D"))
	must(t, err)
	must(t, durable.Sync())
	must(t, r.SyncDir(root))

	// The record follows a rename; a removal is not made durable.
	must(t, r.Rename(p("a"), p("b")))
	must(t, r.SyncDir(root))
	must(t, r.Remove(p("gone")))

	// Unsynced data; names in sub, which is never synced again.
	tail := strings.Repeat("t", 500)
	_, err = durable.Write([]byte(tail))
	must(t, err)
	must(t, durable.Close())
	mustPut(t, r, p("sub/late"), "late", true)
	must(t, os.WriteFile(p("sub/behind"), []byte(wal), 0o644))

	// Outside the root: passes through, not in images.
	outside := filepath.Join(t.TempDir(), "outside")
	mustPut(t, r, outside, "out", true)
	if got, _ := read(t, Default, outside); got != "out" {
		t.Fatalf("outside the root: %q", got)
	}

	count := map[string]int{}
	images := t.TempDir()
	for seed := range uint64(200) {
		dst := filepath.Join(images, fmt.Sprint(seed))
		must(t, r.CrashImage(seeded(seed), dst))
		img := readImage(t, dst)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d: %s\nimage: %q", seed, fmt.Sprintf(format, args...), img)
		}
		for name, want := range map[string]string{
			"pre": "pre-existing", "sub": "/", "b": "A", "h1": "linked", "h2": "linked", "wal2": wal,
		} {
			if got, ok := img[name]; !ok || got != want {
				fail("%s = %q, %v; want %q", name, got, ok, want)
			}
		}
		if _, ok := img["a"]; ok {
			fail("a, renamed to b and synced, is back")
		}
		if !sameFile(t, filepath.Join(dst, "h1"), filepath.Join(dst, "h2")) {
			fail("h1 and h2 are not one file")
		}
		if got, ok := img["gone"]; ok {
			count["gone back"]++
			if got != "removed" {
				fail("gone came back as %q", got)
			}
		}
		if got, ok := img["wal"]; !ok || len(got) > len(wal) {
			fail("wal (durable name, data written by os) is %d bytes, %v", len(got), ok)
		} else if got != wal {
			count["wal lost data"]++
		}
		switch got, ok := img["durable"]; {
		case !ok || !strings.HasPrefix(got, "D") || len(got) > 1+len(tail):
			fail("durable = %q, %v; want D and part of the unsynced tail", got, ok)
		case got == "D":
			count["durable tail none"]++
		case len(got) == 1+len(tail):
			count["durable tail all"]++
		}
		if got, ok := img["sub/late"]; ok {
			count["late present"]++
			if got != "late" {
				fail("sub/late = %q", got)
			}
		}
		if got, ok := img["sub/behind"]; ok {
			count["behind present"]++
			if len(got) > len(wal) {
				fail("sub/behind has %d bytes", len(got))
			}
		}
		if _, ok := img["outside"]; ok {
			fail("a file outside the root is in the image")
		}
	}
	t.Log(count)
	for _, what := range []string{"gone back", "wal lost data", "durable tail none", "durable tail all", "late present", "behind present"} {
		if n := count[what]; n == 0 || n == 200 {
			t.Errorf("%s in %d of 200 images; want some but not all", what, n)
		}
	}

	// Everything in the image is real: the root is left as it was.
	if got, _ := read(t, Default, p("durable")); got != "D"+tail {
		t.Errorf("CrashImage changed the root: durable = %q", got)
	}
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err := os.Stat(a)
	must(t, err)
	fb, err := os.Stat(b)
	must(t, err)
	return os.SameFile(fa, fb)
}

// TestRecorderRenameDirectory checks that a directory renamed through the
// Recorder keeps the record of what was synced in it.
func TestRecorderRenameDirectory(t *testing.T) {
	root := t.TempDir()
	r, err := NewRecorder(root)
	must(t, err)
	d, e := filepath.Join(root, "d"), filepath.Join(root, "e")
	must(t, MkdirAll(r, d, 0o755))
	mustPut(t, r, filepath.Join(d, "f"), "F", true)
	must(t, r.SyncDir(d))
	must(t, r.Rename(d, e))
	must(t, r.SyncDir(root))
	for seed := range uint64(50) {
		dst := filepath.Join(t.TempDir(), "img")
		must(t, r.CrashImage(seeded(seed), dst))
		if got, want := readImage(t, dst), map[string]string{"e": "/", "e/f": "F"}; !maps.Equal(got, want) {
			t.Fatalf("seed %d: %q; want %q", seed, got, want)
		}
	}
}

// TestRecorderReplacedBehindItsBack replaces a synced file the way
// tidwall/wal truncates a segment (a temporary file renamed over it, all
// through package os): the new file is a different inode whose sync the
// Recorder did not see, so its data may be lost.
func TestRecorderReplacedBehindItsBack(t *testing.T) {
	root := t.TempDir()
	r, err := NewRecorder(root)
	must(t, err)
	seg := filepath.Join(root, "seg")
	mustPut(t, r, seg, "old segment", true)
	must(t, r.SyncDir(root))
	must(t, os.WriteFile(seg+".tmp", []byte("new segment"), 0o644))
	must(t, os.Rename(seg+".tmp", seg))
	must(t, r.SyncDir(root))
	seen := map[string]int{}
	for seed := range uint64(100) {
		dst := filepath.Join(t.TempDir(), "img")
		must(t, r.CrashImage(seeded(seed), dst))
		got, ok := read(t, Default, filepath.Join(dst, "seg"))
		if !ok || len(got) > len("new segment") || got == "old segment" {
			t.Fatalf("seed %d: seg = %q, %v; want part of the new segment", seed, got, ok)
		}
		seen[got]++
	}
	if seen["new segment"] == 0 || seen["new segment"] == 100 {
		t.Errorf("outcomes %v; want the new segment whole in some images, not all", seen)
	}
}

func TestRecorderLock(t *testing.T) {
	root := t.TempDir()
	r, err := NewRecorder(root)
	must(t, err)
	name := filepath.Join(root, "LOCK")
	l, err := r.Lock(name)
	must(t, err)
	if _, err := r.Lock(name); !errors.Is(err, ErrLockHeld) || !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("second Lock = %v; want ErrLockHeld and EWOULDBLOCK", err)
	}
	if _, err := Default.Lock(name); !errors.Is(err, ErrLockHeld) || !errors.Is(err, syscall.EWOULDBLOCK) {
		t.Fatalf("Lock through the OS = %v; want ErrLockHeld and EWOULDBLOCK", err)
	}
	must(t, l.Close())
	l, err = r.Lock(name)
	must(t, err)
	must(t, l.Close())
}

// TestRecorderErrorsPassThrough checks that failing calls fail as on the
// OS and leave the record alone.
func TestRecorderErrorsPassThrough(t *testing.T) {
	root := t.TempDir()
	r, err := NewRecorder(root)
	must(t, err)
	p := func(name string) string { return filepath.Join(root, name) }
	mustPut(t, r, p("f"), "F", true)
	must(t, r.Mkdir(p("d"), 0o755))
	mustPut(t, r, p("d/x"), "X", true)
	must(t, r.SyncDir(p("d")))
	must(t, r.SyncDir(root))
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"open missing", func() error { _, err := r.OpenFile(p("nope"), os.O_RDONLY, 0); return err }(), fs.ErrNotExist},
		{"rename missing", r.Rename(p("nope"), p("f")), fs.ErrNotExist},
		{"rename onto dir", r.Rename(p("f"), p("d")), fs.ErrExist},
		{"link existing", r.Link(p("f"), p("d/x")), fs.ErrExist},
		{"remove non-empty", r.Remove(p("d")), syscall.ENOTEMPTY},
		{"mkdir existing", r.Mkdir(p("d"), 0o755), fs.ErrExist},
		{"syncdir missing", r.SyncDir(p("nope")), fs.ErrNotExist},
	} {
		if !errors.Is(c.err, c.want) {
			t.Errorf("%s: %v; want %v", c.name, c.err, c.want)
		}
	}
	want := map[string]string{"f": "F", "d": "/", "d/x": "X"}
	for seed := range uint64(20) {
		dst := filepath.Join(t.TempDir(), "img")
		must(t, r.CrashImage(seeded(seed), dst))
		if got := readImage(t, dst); !maps.Equal(got, want) {
			t.Fatalf("seed %d: %q; want %q", seed, got, want)
		}
	}
}

// TestRecorderWithoutSync shows what skipping File.Sync costs on real
// files: data written through the Recorder to a file whose name is
// durable is lost in some crash images.
func TestRecorderWithoutSync(t *testing.T) {
	root := t.TempDir()
	r, err := NewRecorder(root)
	must(t, err)
	name := filepath.Join(root, "f")
	const payload = "written, never synced"
	mustPut(t, r, name, "", false)
	must(t, r.SyncDir(root))
	mustPut(t, r, name, payload, false)
	lost := 0
	for seed := range uint64(100) {
		dst := filepath.Join(t.TempDir(), "img")
		must(t, r.CrashImage(seeded(seed), dst))
		got, ok := read(t, Default, filepath.Join(dst, "f"))
		if !ok {
			t.Fatalf("seed %d: a durable name is gone", seed)
		}
		if got != payload {
			lost++
		}
	}
	if lost == 0 {
		t.Error("no crash image lost the unsynced data")
	}
}
