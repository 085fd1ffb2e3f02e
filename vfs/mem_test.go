package vfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// script runs file operations on an FS under dir and keeps a transcript
// of their results, so that two filesystems can be compared step by step.
type script struct {
	fsys  FS
	dir   string
	files map[string]File
	out   []string
}

func (s *script) path(name string) string { return filepath.Join(s.dir, name) }

func (s *script) log(format string, args ...any) {
	s.out = append(s.out, fmt.Sprintf(format, args...))
}

// errKinds are the errors compared between filesystems, by errors.Is.
var errKinds = []struct {
	name string
	err  error
}{
	{"EOF", io.EOF},
	{"ErrNotExist", fs.ErrNotExist},
	{"ErrExist", fs.ErrExist},
	{"ErrClosed", fs.ErrClosed},
	{"ENOTDIR", syscall.ENOTDIR},
	{"EISDIR", syscall.EISDIR},
	{"ENOTEMPTY", syscall.ENOTEMPTY},
	{"EBADF", syscall.EBADF},
	{"EINVAL", syscall.EINVAL},
	{"EWOULDBLOCK", syscall.EWOULDBLOCK},
	{"ErrLockHeld", ErrLockHeld},
	{"EPERM", syscall.EPERM},
	{"EBUSY", syscall.EBUSY},
}

// kind names the kinds err is (by errors.Is), "ok" for nil, "error" for
// an error of none of the kinds.
func kind(err error) string {
	if err == nil {
		return "ok"
	}
	var kinds []string
	for _, k := range errKinds {
		if errors.Is(err, k.err) {
			kinds = append(kinds, k.name)
		}
	}
	if len(kinds) == 0 {
		return "error"
	}
	return strings.Join(kinds, "+")
}

func (s *script) open(h, name string, flag int) {
	f, err := s.fsys.OpenFile(s.path(name), flag, 0o644)
	if err == nil {
		s.files[h] = f
	}
	s.log("open %s %#o: %s", name, flag, kind(err))
}

func (s *script) lock(h, name string) {
	f, err := s.fsys.Lock(s.path(name))
	if err == nil {
		s.files[h] = f
	}
	s.log("lock %s: %s", name, kind(err))
}

// file returns handle h; a step on a handle whose open failed is logged
// as skipped (the transcripts differ already).
func (s *script) file(h string) File {
	f := s.files[h]
	if f == nil {
		s.log("no handle %s", h)
	}
	return f
}

func (s *script) write(h, data string) {
	if f := s.file(h); f != nil {
		n, err := f.Write([]byte(data))
		s.log("write %s %q: %d %s", h, data, n, kind(err))
	}
}

func (s *script) writeAt(h, data string, off int64) {
	if f := s.file(h); f != nil {
		n, err := f.WriteAt([]byte(data), off)
		s.log("writeat %s %q %d: %d %s", h, data, off, n, kind(err))
	}
}

func (s *script) read(h string, n int) {
	if f := s.file(h); f != nil {
		buf := make([]byte, n)
		n, err := f.Read(buf)
		s.log("read %s: %q %s", h, buf[:n], kind(err))
	}
}

func (s *script) readAt(h string, n int, off int64) {
	if f := s.file(h); f != nil {
		buf := make([]byte, n)
		n, err := f.ReadAt(buf, off)
		s.log("readat %s %d: %q %s", h, off, buf[:n], kind(err))
	}
}

func (s *script) seek(h string, off int64, whence int) {
	if f := s.file(h); f != nil {
		pos, err := f.Seek(off, whence)
		s.log("seek %s %d %d: %d %s", h, off, whence, pos, kind(err))
	}
}

func (s *script) truncate(h string, size int64) {
	if f := s.file(h); f != nil {
		s.log("truncate %s %d: %s", h, size, kind(f.Truncate(size)))
	}
}

func (s *script) sync(h string) {
	if f := s.file(h); f != nil {
		s.log("sync %s: %s", h, kind(f.Sync()))
	}
}

func (s *script) fstat(h string) {
	if f := s.file(h); f != nil {
		fi, err := f.Stat()
		s.log("fstat %s: %s %s", h, describe(fi), kind(err))
	}
}

func (s *script) close(h string) {
	if f := s.file(h); f != nil {
		s.log("close %s: %s", h, kind(f.Close()))
	}
}

// put writes a whole file through the FS.
func (s *script) put(name, data string) {
	f, err := s.fsys.OpenFile(s.path(name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err == nil {
		_, err = f.Write([]byte(data))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	s.log("put %s: %s", name, kind(err))
}

func (s *script) readFile(name string) {
	data, err := ReadFile(s.fsys, s.path(name))
	s.log("readfile %s: %q %s", name, data, kind(err))
}

func (s *script) rename(a, b string) {
	s.log("rename %s %s: %s", a, b, kind(s.fsys.Rename(s.path(a), s.path(b))))
}

func (s *script) link(a, b string) {
	s.log("link %s %s: %s", a, b, kind(s.fsys.Link(s.path(a), s.path(b))))
}

func (s *script) remove(name string) {
	s.log("remove %s: %s", name, kind(s.fsys.Remove(s.path(name))))
}

func (s *script) mkdir(name string) {
	s.log("mkdir %s: %s", name, kind(s.fsys.Mkdir(s.path(name), 0o755)))
}

func (s *script) syncDir(name string) {
	s.log("syncdir %s: %s", name, kind(s.fsys.SyncDir(s.path(name))))
}

func (s *script) stat(name string) {
	fi, err := s.fsys.Stat(s.path(name))
	s.log("stat %s: %s %s", name, describe(fi), kind(err))
	fi, err = s.fsys.Lstat(s.path(name))
	s.log("lstat %s: %s %s", name, describe(fi), kind(err))
}

func (s *script) readDir(name string) {
	ents, err := s.fsys.ReadDir(s.path(name))
	var list []string
	for _, e := range ents {
		fi, ierr := e.Info()
		if ierr != nil {
			list = append(list, e.Name()+":"+kind(ierr))
			continue
		}
		if e.IsDir() != fi.IsDir() || e.Name() != fi.Name() {
			list = append(list, e.Name()+": entry and info disagree")
		}
		list = append(list, describe(fi))
	}
	s.log("readdir %s: %v %s", name, list, kind(err))
}

// describe gives fi's name, kind and, for a file, size (directory sizes
// differ between filesystems).
func describe(fi fs.FileInfo) string {
	switch {
	case fi == nil:
		return "-"
	case fi.IsDir():
		return fi.Name() + "/"
	default:
		return fmt.Sprintf("%s(%d)", fi.Name(), fi.Size())
	}
}

// memScripts are operation sequences whose transcripts must be the same
// on MemFS and on the operating system.
var memScripts = []struct {
	name string
	run  func(s *script)
}{
	{"write read seek", func(s *script) {
		s.open("f", "a", os.O_RDWR|os.O_CREATE)
		s.write("f", "hello")
		s.seek("f", 0, io.SeekStart)
		s.read("f", 3)
		s.read("f", 10)
		s.read("f", 10)
		s.read("f", 0)
		s.readAt("f", 2, 1)
		s.readAt("f", 10, 1)
		s.readAt("f", 1, 5)
		s.seek("f", -1, io.SeekEnd)
		s.read("f", 10)
		s.seek("f", -2, io.SeekCurrent)
		s.read("f", 10)
		s.fstat("f")
		s.sync("f")
		s.close("f")
		s.readFile("a")
	}},
	{"create flags", func(s *script) {
		s.open("f", "a", os.O_RDONLY)
		s.open("f", "a", os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		s.close("f")
		s.open("g", "a", os.O_WRONLY|os.O_CREATE|os.O_EXCL)
		s.open("g", "a", os.O_WRONLY|os.O_CREATE)
		s.close("g")
		s.open("h", "nodir/x", os.O_WRONLY|os.O_CREATE)
		s.open("h", "a/x", os.O_WRONLY|os.O_CREATE)
		s.open("h", "a/x", os.O_RDONLY)
		s.readDir("")
	}},
	{"truncate and append", func(s *script) {
		s.put("a", "0123456789")
		s.open("f", "a", os.O_WRONLY|os.O_APPEND)
		s.seek("f", 0, io.SeekStart)
		s.write("f", "ab")
		s.writeAt("f", "zz", 0)
		s.close("f")
		s.readFile("a")
		s.open("g", "a", os.O_RDWR|os.O_TRUNC)
		s.read("g", 10)
		s.write("g", "new")
		s.close("g")
		s.readFile("a")
		s.stat("a")
	}},
	{"access modes", func(s *script) {
		s.put("a", "data")
		s.open("r", "a", os.O_RDONLY)
		s.write("r", "x")
		s.writeAt("r", "x", 0)
		s.truncate("r", 0)
		s.read("r", 10)
		s.sync("r")
		s.close("r")
		s.open("w", "a", os.O_WRONLY)
		s.read("w", 10)
		s.readAt("w", 10, 0)
		s.write("w", "D")
		s.close("w")
		s.readFile("a")
	}},
	{"gaps and truncate", func(s *script) {
		s.open("f", "a", os.O_RDWR|os.O_CREATE)
		s.writeAt("f", "x", 5)
		s.fstat("f")
		s.seek("f", 10, io.SeekStart)
		s.write("f", "y")
		s.readFile("a")
		s.truncate("f", 3)
		s.truncate("f", 6)
		s.readFile("a")
		s.truncate("f", -1)
		s.seek("f", -1, io.SeekStart)
		s.seek("f", 0, io.SeekCurrent)
		s.write("f", "z")
		s.readFile("a")
		s.close("f")
	}},
	{"use after close", func(s *script) {
		s.open("f", "a", os.O_RDWR|os.O_CREATE)
		s.close("f")
		s.write("f", "x")
		s.writeAt("f", "x", 0)
		s.read("f", 1)
		s.readAt("f", 1, 0)
		s.seek("f", 0, io.SeekStart)
		s.truncate("f", 0)
		s.sync("f")
		s.fstat("f")
		s.close("f")
	}},
	{"rename files", func(s *script) {
		s.put("a", "A")
		s.put("b", "B")
		s.rename("a", "c")
		s.readFile("a")
		s.readFile("c")
		s.rename("c", "b")
		s.readFile("b")
		s.readDir("")
		s.rename("x", "y")
		s.rename("b", "nodir/b")
		s.rename("b", "b")
		s.readFile("b")
		s.rename("b/x", "y")
	}},
	{"rename directories", func(s *script) {
		s.mkdir("d")
		s.put("d/f", "F")
		s.mkdir("e")
		s.put("e/g", "G")
		s.mkdir("empty")
		s.put("x", "X")
		s.rename("d", "e")
		s.rename("d", "empty")
		s.rename("d", "d")
		s.rename("d", "d/sub")
		s.rename("d/f", "e")
		s.rename("x", "e")
		s.rename("d", "x")
		s.rename("missing", "e")
		s.rename("d", "moved")
		s.readFile("moved/f")
		s.readDir("")
		s.rename("moved/f", "e/f")
		s.readDir("e")
		s.readDir("moved")
	}},
	{"hard links", func(s *script) {
		s.put("a", "A")
		s.link("a", "b")
		s.open("f", "b", os.O_WRONLY|os.O_APPEND)
		s.write("f", "B")
		s.close("f")
		s.readFile("a")
		s.link("a", "b")
		s.link("z", "y")
		s.link("a", "nodir/y")
		s.mkdir("d")
		s.link("d", "dl")
		s.link("d", "a")
		s.link("b", "c")
		s.rename("b", "c")
		s.readDir("")
		s.remove("a")
		s.readFile("b")
		s.readFile("c")
		s.readDir("")
	}},
	{"remove", func(s *script) {
		s.put("a", "A")
		s.mkdir("d")
		s.put("d/f", "F")
		s.remove("d")
		s.remove("d/f")
		s.remove("d")
		s.remove("d")
		s.remove("a/b")
		s.remove("a")
		s.remove("a")
		s.readDir("")
	}},
	{"mkdir and stat", func(s *script) {
		s.mkdir("d")
		s.mkdir("d")
		s.mkdir("x/y")
		s.put("f", "1234")
		s.mkdir("f/y")
		s.mkdir("f")
		s.stat("d")
		s.stat("f")
		s.stat("missing")
		s.stat("f/x")
		s.stat("d/../f")
	}},
	{"readdir", func(s *script) {
		s.put("b", "bb")
		s.put("a", "a")
		s.mkdir("c")
		s.put("c/z", "")
		s.readDir("")
		s.readDir("c")
		s.readDir("a")
		s.readDir("missing")
	}},
	{"directories as files", func(s *script) {
		s.mkdir("d")
		s.open("d", "d", os.O_RDONLY)
		s.read("d", 10)
		s.fstat("d")
		s.sync("d")
		s.close("d")
		s.open("w", "d", os.O_WRONLY)
		s.open("w", "d", os.O_RDWR|os.O_CREATE)
		s.open("w", "d", os.O_RDONLY|os.O_CREATE)
		s.open("w", "d", os.O_RDONLY|os.O_CREATE|os.O_EXCL)
		s.syncDir("d")
		s.syncDir("missing")
		s.lock("l", "d")
	}},
	{"lock", func(s *script) {
		s.lock("l1", "lk")
		s.lock("l2", "lk")
		s.write("l1", "pid")
		s.close("l1")
		s.lock("l2", "lk")
		s.read("l2", 10)
		s.link("lk", "lk2")
		s.lock("l3", "lk2")
		s.close("l2")
		s.lock("l3", "lk2")
		s.close("l3")
		s.lock("l4", "nodir/lk")
	}},
	{"remove an open file", func(s *script) {
		s.open("f", "a", os.O_RDWR|os.O_CREATE)
		s.write("f", "x")
		s.remove("a")
		s.write("f", "y")
		s.seek("f", 0, io.SeekStart)
		s.read("f", 10)
		s.fstat("f")
		s.sync("f")
		s.close("f")
		s.readFile("a")
	}},
}

// TestMemMatchesOS runs each script on the operating system and on a
// MemFS and compares the transcripts.
func TestMemMatchesOS(t *testing.T) {
	for _, sc := range memScripts {
		t.Run(sc.name, func(t *testing.T) {
			dir := t.TempDir()
			mem := NewMem()
			if err := MkdirAll(mem, dir, 0o755); err != nil {
				t.Fatal(err)
			}
			transcript := func(fsys FS) []string {
				s := &script{fsys: fsys, dir: dir, files: make(map[string]File)}
				sc.run(s)
				for _, f := range s.files {
					f.Close()
				}
				return s.out
			}
			want, got := transcript(Default), transcript(mem)
			if !slices.Equal(got, want) {
				t.Errorf("MemFS and the OS differ:\n%s", diffLines(want, got))
			}
		})
	}
}

// diffLines shows the two transcripts side by side, marking the steps
// that differ.
func diffLines(want, got []string) string {
	var b strings.Builder
	for i := range max(len(want), len(got)) {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		mark := "  "
		if w != g {
			mark = "! "
		}
		fmt.Fprintf(&b, "%sos:  %s\n%smem: %s\n", mark, w, mark, g)
	}
	return b.String()
}

func TestMemPaths(t *testing.T) {
	m := NewMem()
	if err := m.Mkdir("a", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(m, "a/f", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"/a/f", "a/f", "./a//f", "/a/../a/f", "../a/f"} {
		if data, err := ReadFile(m, name); err != nil || string(data) != "x" {
			t.Errorf("ReadFile(%q) = %q, %v; want \"x\"", name, data, err)
		}
	}
	for _, name := range []string{"/", ".", ""} {
		if fi, err := m.Stat(name); err != nil || !fi.IsDir() {
			t.Errorf("Stat(%q) = %v, %v; want the root directory", name, fi, err)
		}
	}
}

func TestMemLock(t *testing.T) {
	m := NewMem()
	l, err := m.Lock("/lk")
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Lock("/lk")
	var pe *fs.PathError
	if !errors.Is(err, ErrLockHeld) || !errors.Is(err, syscall.EWOULDBLOCK) || !errors.As(err, &pe) || pe.Op != "flock" {
		t.Fatalf("second Lock = %v; want a flock *fs.PathError wrapping ErrLockHeld and EWOULDBLOCK", err)
	}
	// An ordinary open does not take the lock.
	f, err := m.OpenFile("/lk", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := m.Lock("/lk"); !errors.Is(err, ErrLockHeld) {
		t.Fatalf("Lock after closing a plain handle = %v; want ErrLockHeld", err)
	}
	// A clone holds no locks.
	if l2, err := m.CrashClone(rand.New(rand.NewPCG(1, 2))).Lock("/lk"); err != nil {
		t.Fatalf("Lock in a crash clone: %v", err)
	} else {
		l2.Close()
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = m.Lock("/lk")
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	l.Close()
}

// TestMemConcurrent exercises MemFS from several goroutines, for the
// race detector.
func TestMemConcurrent(t *testing.T) {
	m := NewMem()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			name := fmt.Sprintf("/f%d", g)
			f, err := Create(m, name)
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			for i := range 100 {
				if _, err := f.Write([]byte{byte(i)}); err != nil {
					t.Error(err)
				}
				if i%10 == 0 {
					f.Sync()
					m.SyncDir("/")
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 20 {
			m.CrashClone(rand.New(rand.NewPCG(uint64(i), 0)))
			m.ReadDir("/")
		}
	})
	wg.Wait()
	for g := range 4 {
		if data, err := ReadFile(m, fmt.Sprintf("/f%d", g)); err != nil || len(data) != 100 {
			t.Errorf("f%d: %d bytes, %v; want 100", g, len(data), err)
		}
	}
}

// Crash model tests.

const crashSeeds = 400

// seeded returns the rng for seed, printed by failing tests.
func seeded(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

func mustPut(t *testing.T, fsys FS, name, data string, sync bool) {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// read returns the contents of name and whether it exists.
func read(t *testing.T, fsys FS, name string) (string, bool) {
	t.Helper()
	data, err := ReadFile(fsys, name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(data), true
}

// tree returns every path in m with its contents ("/" for a directory).
func tree(t *testing.T, m *MemFS) map[string]string {
	t.Helper()
	out := make(map[string]string)
	var walk func(dir string, depth int)
	walk = func(dir string, depth int) {
		if depth > 10 {
			t.Fatalf("%s: deeper than any test builds", dir)
		}
		ents, err := m.ReadDir(dir)
		must(t, err)
		for _, e := range ents {
			p := filepath.Join(dir, e.Name())
			if e.IsDir() {
				out[p] = "/"
				walk(p, depth+1)
				continue
			}
			out[p], _ = read(t, m, p)
		}
	}
	walk("/", 0)
	return out
}

// durableDir returns a MemFS holding an empty directory /d, durable.
func durableDir(t *testing.T) *MemFS {
	m := NewMem()
	must(t, m.Mkdir("/d", 0o755))
	m.SyncAll()
	return m
}

func TestCrashAppendAfterSync(t *testing.T) {
	m := durableDir(t)
	synced := strings.Repeat("s", 100)
	current := synced + strings.Repeat("u", 1000)
	f, err := Create(m, "/d/f")
	must(t, err)
	_, err = f.Write([]byte(synced))
	must(t, err)
	must(t, f.Sync())
	must(t, m.SyncDir("/d"))
	_, err = f.Write([]byte(current[len(synced):]))
	must(t, err)

	var none, all, between, torn int
	for seed := range uint64(crashSeeds) {
		got, ok := read(t, m.CrashClone(seeded(seed)), "/d/f")
		switch {
		case !ok:
			t.Fatalf("seed %d: a synced file in a synced directory is gone", seed)
		case !strings.HasPrefix(got, synced) || len(got) > len(current):
			t.Fatalf("seed %d: %d bytes, not the synced bytes and at most the rest: %q", seed, len(got), got)
		case len(got) == len(synced):
			none++
		case len(got) == len(current):
			all++
		default:
			between++
		}
		if got != current[:len(got)] {
			torn++
		}
	}
	t.Logf("none %d, all %d, between %d, torn %d", none, all, between, torn)
	if none == 0 || all == 0 || between == 0 || torn == 0 {
		t.Errorf("over %d seeds: none %d, all %d, between %d, torn %d; want each", crashSeeds, none, all, between, torn)
	}
	if got, _ := read(t, m, "/d/f"); got != current {
		t.Errorf("CrashClone changed the original: %d bytes", len(got))
	}
}

func TestCrashOverwriteSinceSync(t *testing.T) {
	m := durableDir(t)
	mustPut(t, m, "/d/f", "hello world", true)
	must(t, m.SyncDir("/d"))
	f, err := m.OpenFile("/d/f", os.O_RDWR, 0)
	must(t, err)
	_, err = f.WriteAt([]byte("HELLO"), 0)
	must(t, err)
	seen := map[string]int{}
	for seed := range uint64(crashSeeds) {
		got, _ := read(t, m.CrashClone(seeded(seed)), "/d/f")
		seen[got]++
	}
	want := map[string]bool{"hello world": true, "HELLO world": true}
	for got := range seen {
		if !want[got] {
			t.Errorf("an overwrite since the sync left %q; want the old or the new contents whole", got)
		}
	}
	if len(seen) != 2 {
		t.Errorf("outcomes %v; want both the old and the new contents", seen)
	}
}

func TestCrashNewFileNeedsSyncDir(t *testing.T) {
	m := durableDir(t)
	mustPut(t, m, "/d/f", "data", true)
	present := 0
	for seed := range uint64(crashSeeds) {
		got, ok := read(t, m.CrashClone(seeded(seed)), "/d/f")
		if ok {
			present++
			if got != "data" {
				t.Fatalf("seed %d: %q; want the synced data", seed, got)
			}
		}
	}
	if present == 0 || present == crashSeeds {
		t.Errorf("present in %d of %d clones without SyncDir; want some but not all", present, crashSeeds)
	}
	must(t, m.SyncDir("/d"))
	for seed := range uint64(crashSeeds) {
		if got, ok := read(t, m.CrashClone(seeded(seed)), "/d/f"); got != "data" || !ok {
			t.Fatalf("seed %d after SyncDir: %q, %v; want the synced data", seed, got, ok)
		}
	}
}

func TestCrashNewDirNeedsParentSync(t *testing.T) {
	m := durableDir(t)
	must(t, m.Mkdir("/d/sub", 0o755))
	mustPut(t, m, "/d/sub/f", "data", true)
	must(t, m.SyncDir("/d/sub"))
	present := 0
	for seed := range uint64(crashSeeds) {
		c := m.CrashClone(seeded(seed))
		if _, err := c.Stat("/d/sub"); err == nil {
			present++
			if got, ok := read(t, c, "/d/sub/f"); got != "data" || !ok {
				t.Fatalf("seed %d: the synced directory survives but f is %q, %v", seed, got, ok)
			}
		}
	}
	if present == 0 || present == crashSeeds {
		t.Errorf("sub present in %d of %d clones without a sync of /d; want some but not all", present, crashSeeds)
	}
}

// TestCrashRename checks what the per-name rule guarantees about a rename
// not followed by a SyncDir.
func TestCrashRename(t *testing.T) {
	t.Run("to a new name", func(t *testing.T) {
		// Each name independently keeps its durable binding or takes the
		// current one, so any of the four outcomes may follow, even
		// neither name (harsher than a journaling filesystem). Whatever
		// name survives holds the whole synced contents.
		m := durableDir(t)
		mustPut(t, m, "/d/a", "A", true)
		m.SyncAll()
		must(t, m.Rename("/d/a", "/d/b"))
		outcomes := map[string]int{}
		for seed := range uint64(crashSeeds) {
			c := m.CrashClone(seeded(seed))
			var names []string
			for _, name := range []string{"a", "b"} {
				if got, ok := read(t, c, "/d/"+name); ok {
					if got != "A" {
						t.Fatalf("seed %d: %s holds %q; want the synced contents", seed, name, got)
					}
					names = append(names, name)
				}
			}
			outcomes[strings.Join(names, "+")]++
		}
		if len(outcomes) != 4 {
			t.Errorf("outcomes %v; want a, b, a+b and neither", outcomes)
		}
		must(t, m.SyncDir("/d"))
		for seed := range uint64(crashSeeds) {
			want := map[string]string{"/d": "/", "/d/b": "A"}
			if got := tree(t, m.CrashClone(seeded(seed))); !maps.Equal(got, want) {
				t.Fatalf("seed %d after SyncDir: %v; want %v", seed, got, want)
			}
		}
	})
	t.Run("over a durable name", func(t *testing.T) {
		// The pattern of WriteFileAtomic, crashed before its SyncDir: the
		// target has a binding both before and after, so it is never
		// missing, and holds the old or the new contents whole.
		m := durableDir(t)
		mustPut(t, m, "/d/t", "old", true)
		m.SyncAll()
		mustPut(t, m, "/d/t.tmp", "new", true)
		must(t, m.Rename("/d/t.tmp", "/d/t"))
		seen := map[string]int{}
		for seed := range uint64(crashSeeds) {
			got, ok := read(t, m.CrashClone(seeded(seed)), "/d/t")
			if !ok || (got != "old" && got != "new") {
				t.Fatalf("seed %d: %q, %v; want the old or the new contents", seed, got, ok)
			}
			seen[got]++
		}
		if len(seen) != 2 {
			t.Errorf("outcomes %v; want both old and new", seen)
		}
	})
	t.Run("a directory", func(t *testing.T) {
		// A directory renamed without a SyncDir appears under at most one
		// name, and keeps its durable entries under it.
		m := durableDir(t)
		must(t, m.Mkdir("/d/x", 0o755))
		mustPut(t, m, "/d/x/f", "F", true)
		m.SyncAll()
		must(t, m.Rename("/d/x", "/d/y"))
		outcomes := map[string]int{}
		for seed := range uint64(crashSeeds) {
			c := m.CrashClone(seeded(seed))
			var names []string
			for _, name := range []string{"x", "y"} {
				if got, ok := read(t, c, "/d/"+name+"/f"); ok {
					if got != "F" {
						t.Fatalf("seed %d: %s/f holds %q", seed, name, got)
					}
					names = append(names, name)
				}
			}
			outcomes[strings.Join(names, "+")]++
		}
		if outcomes["x+y"] > 0 || outcomes["x"] == 0 || outcomes["y"] == 0 {
			t.Errorf("outcomes %v; want x and y, never both", outcomes)
		}
	})
}

func TestCrashRemoveUndone(t *testing.T) {
	m := durableDir(t)
	mustPut(t, m, "/d/a", "A", true)
	m.SyncAll()
	must(t, m.Remove("/d/a"))
	back := 0
	for seed := range uint64(crashSeeds) {
		if got, ok := read(t, m.CrashClone(seeded(seed)), "/d/a"); ok {
			back++
			if got != "A" {
				t.Fatalf("seed %d: a removed file came back as %q; want its synced contents", seed, got)
			}
		}
	}
	if back == 0 || back == crashSeeds {
		t.Errorf("back in %d of %d clones; want some but not all", back, crashSeeds)
	}
	must(t, m.SyncDir("/d"))
	for seed := range uint64(crashSeeds) {
		if _, ok := read(t, m.CrashClone(seeded(seed)), "/d/a"); ok {
			t.Fatalf("seed %d: a removal made durable was undone", seed)
		}
	}
}

func TestCrashHardLinksStayShared(t *testing.T) {
	m := durableDir(t)
	mustPut(t, m, "/d/a", "synced", true)
	must(t, m.Link("/d/a", "/d/b"))
	must(t, m.SyncDir("/d"))
	f, err := m.OpenFile("/d/a", os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.Write([]byte(strings.Repeat("u", 100)))
	must(t, err)
	for seed := range uint64(crashSeeds) {
		c := m.CrashClone(seeded(seed))
		a, okA := read(t, c, "/d/a")
		b, okB := read(t, c, "/d/b")
		if !okA || !okB || a != b {
			t.Fatalf("seed %d: a %q %v, b %q %v; want both, equal", seed, a, okA, b, okB)
		}
		f, err := c.OpenFile("/d/a", os.O_WRONLY|os.O_APPEND, 0)
		must(t, err)
		_, err = f.Write([]byte("!"))
		must(t, err)
		f.Close()
		if b, _ := read(t, c, "/d/b"); b != a+"!" {
			t.Fatalf("seed %d: a write through a did not show through b", seed)
		}
	}
}

// TestCrashWithoutSync shows what skipping File.Sync costs: data written
// to a file whose name is durable is lost, in part or in whole, in some
// crash images.
func TestCrashWithoutSync(t *testing.T) {
	m := durableDir(t)
	const payload = "payload that was written but never synced"
	mustPut(t, m, "/d/f", "", false)
	must(t, m.SyncDir("/d"))
	mustPut(t, m, "/d/f", payload, false)
	empty, short := 0, 0
	for seed := range uint64(crashSeeds) {
		got, ok := read(t, m.CrashClone(seeded(seed)), "/d/f")
		if !ok || len(got) > len(payload) {
			t.Fatalf("seed %d: %q, %v; want at most the payload under a durable name", seed, got, ok)
		}
		if got == "" {
			empty++
		}
		if len(got) < len(payload) {
			short++
		}
	}
	if empty == 0 || short == empty {
		t.Errorf("empty in %d, short in %d of %d clones; want some of each", empty, short, crashSeeds)
	}
}

func TestCrashCloneIsDurableAndDeterministic(t *testing.T) {
	m := durableDir(t)
	mustPut(t, m, "/d/synced", "synced", true)
	mustPut(t, m, "/d/unsynced", strings.Repeat("u", 50), false)
	must(t, m.SyncDir("/d"))
	must(t, m.Mkdir("/e", 0o755))
	mustPut(t, m, "/e/f", "f", true)
	must(t, m.Link("/d/synced", "/e/link"))
	must(t, m.Rename("/d/unsynced", "/d/renamed"))
	differ := false
	for seed := range uint64(50) {
		c := m.CrashClone(seeded(seed))
		first := tree(t, c)
		if again := tree(t, m.CrashClone(seeded(seed))); !maps.Equal(again, first) {
			t.Fatalf("seed %d: two clones differ:\n%v\n%v", seed, first, again)
		}
		if again := tree(t, c.CrashClone(seeded(seed+1))); !maps.Equal(again, first) {
			t.Fatalf("seed %d: a clone of a clone differs:\n%v\n%v", seed, first, again)
		}
		if !maps.Equal(first, tree(t, m.CrashClone(seeded(0)))) {
			differ = true
		}
	}
	if !differ {
		t.Error("every seed gave the same clone")
	}
}

// TestCrashDirectoryCycle renames directories so that the durable and the
// current entries together would make a cycle; the clone must still be a
// tree.
func TestCrashDirectoryCycle(t *testing.T) {
	m := NewMem()
	must(t, m.Mkdir("/A", 0o755))
	must(t, m.Mkdir("/A/B", 0o755))
	m.SyncAll()
	must(t, m.Rename("/A/B", "/X"))
	must(t, m.Rename("/A", "/X/A"))
	// Two directories, each placed at most once: no path is deeper than
	// two names.
	for seed := range uint64(crashSeeds) {
		for p := range tree(t, m.CrashClone(seeded(seed))) {
			if strings.Count(p, "/") > 2 {
				t.Fatalf("seed %d: %s: a directory appears twice", seed, p)
			}
		}
	}
}

func TestCrashDataRules(t *testing.T) {
	rng := seeded(0)
	for range 1000 {
		if got := crashData(rng, []byte("abc"), []byte("abc")); string(got) != "abc" {
			t.Fatalf("nothing unsynced: %q", got)
		}
		if got := crashData(rng, nil, nil); len(got) != 0 {
			t.Fatalf("empty: %q", got)
		}
		got := crashData(rng, []byte("ab"), []byte("xy"))
		if string(got) != "ab" && string(got) != "xy" {
			t.Fatalf("overwrite: %q", got)
		}
	}
	// 100 synced bytes, then four whole unsynced sectors and a bit.
	synced := bytes.Repeat([]byte{'s'}, 100)
	cur := append(bytes.Clone(synced), bytes.Repeat([]byte{0xff}, 4*SectorSize+100)...)
	before := bytes.Clone(cur)
	holes := 0
	for range 2000 {
		got := crashData(rng, synced, cur)
		if !bytes.HasPrefix(got, synced) || len(got) > len(cur) {
			t.Fatalf("outcome of %d bytes does not keep the synced bytes or grows the file", len(got))
		}
		// A hole: a whole aligned sector of zeros with written data
		// after it.
		for s := SectorSize; s+SectorSize < len(got); s += SectorSize {
			if bytes.Count(got[s:s+SectorSize], []byte{0}) == SectorSize && got[len(got)-1] == 0xff {
				holes++
				break
			}
		}
		got[0] = 'X' // the result is the caller's
	}
	if !bytes.Equal(cur, before) {
		t.Error("crashData changed its argument")
	}
	// Holes come with probability 1/8 of the outcomes keeping two or more
	// unsynced sectors (about half), and need written data after them.
	if holes < 2000/8/2/4 || holes > 2000/8 {
		t.Errorf("holes in %d of 2000 outcomes; want about %d", holes, 2000/8/2/2)
	}
}
