// Package backendtest is the conformance suite every backend.Backend
// passes, and the helpers its tests share.
package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/pwlog/pwlog/backend"
)

// Run runs the conformance suite on backends newBackend returns, a new
// empty one for each test.
func Run(t *testing.T, newBackend func(t *testing.T) backend.Backend) {
	for _, tc := range []struct {
		name string
		test func(t *testing.T, b backend.Backend)
	}{
		{"PutGetReplace", testPutGetReplace},
		{"CreateTwice", testCreateTwice},
		{"ListPrefixSorted", testListPrefixSorted},
		{"Nested", testNested},
		{"Delete", testDelete},
		{"Size", testSize},
		{"GetMissing", testGetMissing},
		{"BadNames", testBadNames},
		{"Cancelled", testCancelled},
		{"Copies", testCopies},
		{"ConcurrentCreate", testConcurrentCreate},
		{"AtomicPut", testAtomicPut},
		{"OpenReadAt", testOpenReadAt},
		{"OpenMissing", testOpenMissing},
		{"OpenClose", testOpenClose},
		{"OpenThenDeleteOrPut", testOpenThenDeleteOrPut},
		{"OpenConcurrentReadAt", testOpenConcurrentReadAt},
		{"CopyTo", testCopyTo},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newBackend(t)) })
	}
}

func testPutGetReplace(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	MustPut(t, b, "MANIFEST-1", []byte("first version"))
	MustGetEqual(t, b, "MANIFEST-1", []byte("first version"))
	MustPut(t, b, "MANIFEST-1", []byte("v2")) // shorter: no tail of v1 left
	MustGetEqual(t, b, "MANIFEST-1", []byte("v2"))
	MustPut(t, b, "MANIFEST-1", nil)
	got, err := b.Get(ctx, "MANIFEST-1")
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || len(got) != 0 {
		t.Fatalf("empty object: got %#v, want a non-nil empty slice", got)
	}
	MustListEqual(t, b, "", []string{"MANIFEST-1"})
}

func testCreateTwice(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	if err := b.Create(ctx, "runs/1.run", []byte("first")); err != nil {
		t.Fatal(err)
	}
	err := b.Create(ctx, "runs/1.run", []byte("second"))
	if !errors.Is(err, backend.ErrExist) {
		t.Fatalf("second Create: err %v, want backend.ErrExist", err)
	}
	if !NamesOp(err, "create", "runs/1.run") {
		t.Errorf("error %q does not name the operation and object", err)
	}
	MustGetEqual(t, b, "runs/1.run", []byte("first"))

	MustPut(t, b, "put-then-create", []byte("put"))
	if err := b.Create(ctx, "put-then-create", []byte("create")); !errors.Is(err, backend.ErrExist) {
		t.Fatalf("Create over Put: err %v, want backend.ErrExist", err)
	}
	MustGetEqual(t, b, "put-then-create", []byte("put"))

	if err := b.Delete(ctx, "runs/1.run"); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, "runs/1.run", []byte("again")); err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
	MustGetEqual(t, b, "runs/1.run", []byte("again"))
	MustListEqual(t, b, "", []string{"put-then-create", "runs/1.run"})
}

func testListPrefixSorted(t *testing.T, b backend.Backend) {
	// Written out of order, some with Create and some with Put.
	for i, name := range []string{
		"runs/000010.run", "MANIFEST-2", "runs/000001.run", "runsx",
		"MANIFEST-1", "runs/000002.run", "CURRENT",
	} {
		var err error
		if i%2 == 0 {
			err = b.Put(context.Background(), name, []byte(name))
		} else {
			err = b.Create(context.Background(), name, []byte(name))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	MustListEqual(t, b, "", []string{
		"CURRENT", "MANIFEST-1", "MANIFEST-2",
		"runs/000001.run", "runs/000002.run", "runs/000010.run", "runsx",
	})
	MustListEqual(t, b, "runs/", []string{"runs/000001.run", "runs/000002.run", "runs/000010.run"})
	MustListEqual(t, b, "runs", []string{"runs/000001.run", "runs/000002.run", "runs/000010.run", "runsx"})
	MustListEqual(t, b, "runs/00000", []string{"runs/000001.run", "runs/000002.run"})
	MustListEqual(t, b, "MANIFEST-", []string{"MANIFEST-1", "MANIFEST-2"})
	MustListEqual(t, b, "runs/000001.run", []string{"runs/000001.run"})
	MustListEqual(t, b, "nothing", []string{})
	MustListEqual(t, b, "../", []string{})
}

func testNested(t *testing.T, b backend.Backend) {
	names := []string{"a/b/c/d.run", "a/bb/c", "a/b.run", "a/b/c/e", "z"}
	for _, name := range names {
		MustPut(t, b, name, []byte("data of "+name))
	}
	for _, name := range names {
		MustGetEqual(t, b, name, []byte("data of "+name))
	}
	// Bytewise order: '.' < '/' < 'b', whatever the directory structure.
	MustListEqual(t, b, "a/b", []string{"a/b.run", "a/b/c/d.run", "a/b/c/e", "a/bb/c"})
	MustListEqual(t, b, "a/b/", []string{"a/b/c/d.run", "a/b/c/e"})
	MustListEqual(t, b, "a/b/c/", []string{"a/b/c/d.run", "a/b/c/e"})
	MustListEqual(t, b, "a/bb/", []string{"a/bb/c"})
}

func testDelete(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	if err := b.Delete(ctx, "missing"); err != nil {
		t.Fatalf("Delete of a missing object: %v", err)
	}
	if err := b.Delete(ctx, "no/such/dir/missing"); err != nil {
		t.Fatalf("Delete of a missing nested object: %v", err)
	}
	MustPut(t, b, "runs/1.run", []byte("one"))
	MustPut(t, b, "runs/2.run", []byte("two"))
	if err := b.Delete(ctx, "runs/1.run"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "runs/1.run"); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("Get after Delete: err %v, want backend.ErrNotExist", err)
	}
	if _, err := b.Size(ctx, "runs/1.run"); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("Size after Delete: err %v, want backend.ErrNotExist", err)
	}
	MustListEqual(t, b, "", []string{"runs/2.run"})
	if err := b.Delete(ctx, "runs/1.run"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	MustGetEqual(t, b, "runs/2.run", []byte("two"))
}

func testSize(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	MustPut(t, b, "empty", nil)
	MustPut(t, b, "runs/big.run", bytes.Repeat([]byte{7}, 12345))
	for name, want := range map[string]int64{"empty": 0, "runs/big.run": 12345} {
		got, err := b.Size(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Size(%s) = %d, want %d", name, got, want)
		}
	}
	if _, err := b.Size(ctx, "missing"); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("Size of a missing object: err %v, want backend.ErrNotExist", err)
	}
}

func testGetMissing(t *testing.T, b backend.Backend) {
	_, err := b.Get(context.Background(), "runs/404.run")
	if !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("err %v, want backend.ErrNotExist", err)
	}
	if errors.Is(err, backend.ErrExist) || errors.Is(err, backend.ErrBadName) {
		t.Fatalf("err %v also matches another sentinel", err)
	}
	if !NamesOp(err, "get", "runs/404.run") {
		t.Errorf("error %q does not name the operation and object", err)
	}
}

// badNames break the naming rules of the package doc.
var badNames = []string{
	"", "/abs", "a/", "a//b", "/", "..", "../up", "a/../b", "a/..", ".", "./a", "a/./b",
	".tmp-1234-x", "runs/.tmp-1234-1.run", `a\b`, "a\x00b",
}

func testBadNames(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	for _, name := range badNames {
		ops := map[string]error{
			"Put":    b.Put(ctx, name, []byte("x")),
			"Create": b.Create(ctx, name, []byte("x")),
			"Delete": b.Delete(ctx, name),
		}
		_, ops["Get"] = b.Get(ctx, name)
		_, ops["Size"] = b.Size(ctx, name)
		_, ops["Open"] = b.Open(ctx, name)
		for op, err := range ops {
			if !errors.Is(err, backend.ErrBadName) {
				t.Errorf("%s(%q): err %v, want backend.ErrBadName", op, name, err)
			}
		}
	}
	MustListEqual(t, b, "", []string{})
	// Names close to the bad ones are fine.
	for _, name := range []string{"a..b", "..a", "a/.b", ".tmp", "x.tmp-1", "tmp-1/a"} {
		MustPut(t, b, name, []byte(name))
		MustGetEqual(t, b, name, []byte(name))
	}
}

func testCancelled(t *testing.T, b backend.Backend) {
	MustPut(t, b, "keep", []byte("kept"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ops := map[string]error{
		"Put":         b.Put(ctx, "new", []byte("x")),
		"Put over":    b.Put(ctx, "keep", []byte("replaced")),
		"Create":      b.Create(ctx, "created", []byte("x")),
		"Delete":      b.Delete(ctx, "keep"),
		"bad name":    b.Put(ctx, "/bad", nil), // ctx comes first
		"Get":         nil,
		"Size":        nil,
		"List":        nil,
		"Get absent":  nil,
		"Open":        nil,
		"Open absent": nil,
	}
	_, ops["Get"] = b.Get(ctx, "keep")
	_, ops["Get absent"] = b.Get(ctx, "absent")
	_, ops["Size"] = b.Size(ctx, "keep")
	_, ops["List"] = b.List(ctx, "")
	_, ops["Open"] = b.Open(ctx, "keep")
	_, ops["Open absent"] = b.Open(ctx, "absent")
	for op, err := range ops {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled ctx: err %v, want context.Canceled", op, err)
		}
	}
	// Nothing happened.
	MustListEqual(t, b, "", []string{"keep"})
	MustGetEqual(t, b, "keep", []byte("kept"))
}

func testCopies(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	in := []byte("original")
	MustPut(t, b, "put", in)
	if err := b.Create(ctx, "created", in); err != nil {
		t.Fatal(err)
	}
	copy(in, "XXXXXXXX")
	MustGetEqual(t, b, "put", []byte("original"))
	MustGetEqual(t, b, "created", []byte("original"))
	out, err := b.Get(ctx, "put")
	if err != nil {
		t.Fatal(err)
	}
	copy(out, "YYYYYYYY")
	MustGetEqual(t, b, "put", []byte("original"))
}

// testConcurrentCreate: of concurrent Creates of one name exactly one
// wins, and the object holds its bytes. The odd rounds write objects
// large enough (256 KiB) that a remote server's uploads overlap.
func testConcurrentCreate(t *testing.T, b backend.Backend) {
	const writers = 8
	for round := range 6 {
		name := fmt.Sprintf("runs/MANIFEST-%d", round)
		errs := make([]error, writers)
		data := make([][]byte, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range writers {
			data[i] = []byte(fmt.Sprintf("writer %d", i))
			if round%2 == 1 {
				data[i] = bytes.Repeat(data[i], 256<<10/len(data[i]))
			}
			wg.Go(func() {
				<-start
				errs[i] = b.Create(context.Background(), name, data[i])
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: writers %d and %d both created %s", round, winner, i, name)
			case err == nil:
				winner = i
			case !errors.Is(err, backend.ErrExist):
				t.Fatalf("round %d: writer %d: err %v, want nil or backend.ErrExist", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer created %s", round, name)
		}
		MustGetEqual(t, b, name, data[winner])
	}
	MustListEqual(t, b, "", []string{
		"runs/MANIFEST-0", "runs/MANIFEST-1", "runs/MANIFEST-2", "runs/MANIFEST-3", "runs/MANIFEST-4", "runs/MANIFEST-5",
	})
}

func testAtomicPut(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	// Different lengths and contents, so a torn or mixed read is neither.
	a := bytes.Repeat([]byte("a"), 96<<10)
	bb := bytes.Repeat([]byte("B"), 160<<10)
	MustPut(t, b, "MANIFEST", a)

	done := make(chan struct{})
	var reads int
	var readErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			got, err := b.Get(ctx, "MANIFEST")
			if err != nil {
				readErr = err
				return
			}
			if !bytes.Equal(got, a) && !bytes.Equal(got, bb) {
				readErr = fmt.Errorf("read %d bytes that are neither value (first %q, last %q)",
					len(got), got[:min(len(got), 1)], got[max(len(got)-1, 0):])
				return
			}
			reads++
		}
	})
	for i := range 40 {
		v := a
		if i%2 == 0 {
			v = bb
		}
		if err := b.Put(ctx, "MANIFEST", v); err != nil {
			close(done)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if readErr != nil {
		t.Fatal(readErr)
	}
	if reads == 0 {
		t.Fatal("the reader never read")
	}
	MustGetEqual(t, b, "MANIFEST", a)
}

// Pattern returns n bytes in which every 4-byte-aligned word holds its own
// offset (little-endian, truncated to 32 bits), so that a read at the wrong
// offset shows.
func Pattern(n int) []byte {
	data := make([]byte, n)
	for i := range data {
		data[i] = byte((i &^ 3) >> (8 * (i % 4)))
	}
	return data
}

func testOpenReadAt(t *testing.T, b backend.Backend) {
	const size = 100_003
	data := Pattern(size)
	MustPut(t, b, "runs/000001.run", data)
	o := MustOpen(t, b, "runs/000001.run")
	defer o.Close()
	if got := o.Size(); got != size {
		t.Fatalf("Size() = %d, want %d", got, size)
	}
	// Reads inside the object: whole, or n == len(p).
	for _, r := range []struct{ off, n int }{
		{0, 1}, {0, 4096}, {1, 7}, {4095, 4098}, {50_000, 30_000}, {size - 1, 1},
		{size - 4096, 4096}, {0, size}, {12345, 0},
	} {
		p := make([]byte, r.n)
		n, err := o.ReadAt(p, int64(r.off))
		// io.ReaderAt allows io.EOF with a read that ends at the end.
		if err != nil && !(err == io.EOF && r.off+r.n == size) {
			t.Fatalf("ReadAt(%d bytes at %d): %v", r.n, r.off, err)
		}
		if n != r.n || !bytes.Equal(p, data[r.off:r.off+r.n]) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d bytes %q, want %q",
				r.n, r.off, n, Trim(p[:n]), Trim(data[r.off:r.off+r.n]))
		}
	}
	// Reads across or past the end: the bytes there are, and io.EOF
	// itself, not wrapped.
	for _, r := range []struct{ off, n int }{
		{size - 10, 11}, {size - 10, 4096}, {size, 1}, {size + 1, 10}, {1 << 40, 1}, {0, size + 1},
	} {
		p := make([]byte, r.n)
		n, err := o.ReadAt(p, int64(r.off))
		want := data[min(r.off, size):]
		if err != io.EOF || n != len(want) || !bytes.Equal(p[:n], want) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d bytes %q, %v; want %d bytes %q, io.EOF",
				r.n, r.off, n, Trim(p[:n]), err, len(want), Trim(want))
		}
	}
	_, err := o.ReadAt(make([]byte, 1), -1)
	if err == nil || err == io.EOF || !NamesOp(err, "read", "runs/000001.run") {
		t.Fatalf("ReadAt at -1: err %v, want an error naming the operation and object", err)
	}

	MustPut(t, b, "empty", nil)
	e := MustOpen(t, b, "empty")
	defer e.Close()
	if got := e.Size(); got != 0 {
		t.Fatalf("Size() of the empty object = %d", got)
	}
	if n, err := e.ReadAt(make([]byte, 1), 0); n != 0 || err != io.EOF {
		t.Fatalf("ReadAt of the empty object = %d, %v; want 0, io.EOF", n, err)
	}
}

func testOpenMissing(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	MustPut(t, b, "runs/1.run", []byte("1"))
	for _, name := range []string{"runs/404.run", "runs", "runs/1.run/x", "no/such/dir"} {
		o, err := b.Open(ctx, name)
		if !errors.Is(err, backend.ErrNotExist) || o != nil {
			t.Fatalf("Open(%s) = %v, %v; want nil, backend.ErrNotExist", name, o, err)
		}
		if errors.Is(err, backend.ErrExist) || errors.Is(err, backend.ErrBadName) {
			t.Fatalf("err %v also matches another sentinel", err)
		}
		if !NamesOp(err, "open", name) {
			t.Errorf("error %q does not name the operation and object", err)
		}
	}
}

func testOpenClose(t *testing.T, b backend.Backend) {
	MustPut(t, b, "a", []byte("abc"))
	o := MustOpen(t, b, "a")
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := o.ReadAt(make([]byte, 1), 0)
	if !errors.Is(err, fs.ErrClosed) || !NamesOp(err, "read", "a") {
		t.Fatalf("ReadAt after Close: err %v, want fs.ErrClosed naming the operation and object", err)
	}
	err = o.Close()
	if !errors.Is(err, fs.ErrClosed) || !NamesOp(err, "close", "a") {
		t.Fatalf("second Close: err %v, want fs.ErrClosed naming the operation and object", err)
	}
	// Closing one backend.Object leaves another of the same name open.
	o1, o2 := MustOpen(t, b, "a"), MustOpen(t, b, "a")
	if err := o1.Close(); err != nil {
		t.Fatal(err)
	}
	MustReadAll(t, o2, []byte("abc"))
	if err := o2.Close(); err != nil {
		t.Fatal(err)
	}
	MustGetEqual(t, b, "a", []byte("abc"))
}

func testOpenThenDeleteOrPut(t *testing.T, b backend.Backend) {
	if _, ok := b.(*backend.Filesystem); ok && runtime.GOOS == "windows" {
		t.Skip("Windows does not remove or replace an open file")
	}
	ctx := context.Background()
	old := Pattern(9000)
	MustPut(t, b, "runs/1.run", old)
	deleted := MustOpen(t, b, "runs/1.run")
	defer deleted.Close()
	if err := b.Delete(ctx, "runs/1.run"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "runs/1.run"); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("Get after Delete: err %v, want backend.ErrNotExist", err)
	}
	MustReadAll(t, deleted, old)

	// Put over the name, shorter and then longer, and Create after a Delete.
	MustPut(t, b, "MANIFEST", old)
	replaced := MustOpen(t, b, "MANIFEST")
	defer replaced.Close()
	MustPut(t, b, "MANIFEST", []byte("short"))
	shortened := MustOpen(t, b, "MANIFEST")
	defer shortened.Close()
	MustPut(t, b, "MANIFEST", bytes.Repeat([]byte("L"), 20000))
	MustReadAll(t, replaced, old)
	MustReadAll(t, shortened, []byte("short"))
	if err := b.Delete(ctx, "runs/1.run"); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, "runs/1.run", []byte("new")); err != nil {
		t.Fatal(err)
	}
	MustReadAll(t, deleted, old)
	fresh := MustOpen(t, b, "runs/1.run")
	defer fresh.Close()
	MustReadAll(t, fresh, []byte("new"))
}

func testOpenConcurrentReadAt(t *testing.T, b backend.Backend) {
	const block = 4096
	const blocks = 64
	data := Pattern(block * blocks)
	MustPut(t, b, "runs/1.run", data)
	o := MustOpen(t, b, "runs/1.run")
	defer o.Close()
	const readers = 8
	errs := make([]error, readers)
	var wg sync.WaitGroup
	for r := range readers {
		wg.Go(func() {
			p := make([]byte, block)
			for i := range 4 * blocks {
				off := int64((i*7+r*13)%blocks) * block
				n, err := o.ReadAt(p, off)
				if err != nil && err != io.EOF {
					errs[r] = err
					return
				}
				if n != block || !bytes.Equal(p, data[off:off+block]) {
					errs[r] = fmt.Errorf("reader %d: ReadAt at %d read %d bytes, not the object's", r, off, n)
					return
				}
			}
		})
	}
	// Meanwhile the name is replaced and deleted.
	for i := range 20 {
		MustPut(t, b, "runs/1.run", []byte(fmt.Sprint(i)))
	}
	if err := b.Delete(context.Background(), "runs/1.run"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// MustOpen opens name or fails the test.
func MustOpen(t *testing.T, b backend.Backend, name string) backend.Object {
	t.Helper()
	o, err := b.Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// MustReadAll checks that o holds want: its Size, and its bytes read with
// one ReadAt and in small blocks.
func MustReadAll(t *testing.T, o backend.Object, want []byte) {
	t.Helper()
	if got := o.Size(); got != int64(len(want)) {
		t.Fatalf("Size() = %d, want %d", got, len(want))
	}
	got := make([]byte, len(want)+1)
	n, err := o.ReadAt(got, 0)
	if err != io.EOF || !bytes.Equal(got[:n], want) {
		t.Fatalf("ReadAt = %q, %v; want %q, io.EOF", Trim(got[:n]), err, Trim(want))
	}
	var blocks []byte
	p := make([]byte, 1000)
	for off := int64(0); ; off += int64(len(p)) {
		n, err := o.ReadAt(p, off)
		blocks = append(blocks, p[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(blocks, want) {
		t.Fatalf("read in blocks %q, want %q", Trim(blocks), Trim(want))
	}
}

// MustPut puts data under name or fails the test.
func MustPut(t *testing.T, b backend.Backend, name string, data []byte) {
	t.Helper()
	if err := b.Put(context.Background(), name, data); err != nil {
		t.Fatal(err)
	}
}

// MustGetEqual checks that name holds want.
func MustGetEqual(t *testing.T, b backend.Backend, name string, want []byte) {
	t.Helper()
	got, err := b.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%s) = %q, want %q", name, Trim(got), Trim(want))
	}
}

// MustListEqual checks that List(prefix) returns want.
func MustListEqual(t *testing.T, b backend.Backend, prefix string, want []string) {
	t.Helper()
	got, err := b.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || !slices.Equal(got, want) {
		t.Fatalf("List(%q) = %#v, want %#v", prefix, got, want)
	}
}

// Trim shortens data for a failure message.
func Trim(data []byte) []byte {
	if len(data) > 40 {
		return append(data[:40:40], "..."...)
	}
	return data
}

// NamesOp reports whether err's message names the operation op and the
// object name: op, a space, then the name, which may be preceded by the
// backend's own location ("get runs/1.run", "get a/b/runs/1.run",
// "get s3://bucket/prefix/runs/1.run").
func NamesOp(err error, op, name string) bool {
	if err == nil {
		return false
	}
	re := regexp.MustCompile(`\b` + regexp.QuoteMeta(op) + ` (\S*/)?` + regexp.QuoteMeta(name) + `(\W|$)`)
	return re.MatchString(err.Error())
}

// testCopyTo: backend.CopyTo (streamed when the backend is a
// backend.Copier) writes the object's bytes, and fails on a missing
// object as Get does.
func testCopyTo(t *testing.T, b backend.Backend) {
	ctx := context.Background()
	data := Pattern(300 << 10)
	MustPut(t, b, "runs/1.run", data)
	var buf bytes.Buffer
	n, err := backend.CopyTo(ctx, b, "runs/1.run", &buf)
	if err != nil || n != int64(len(data)) || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("CopyTo: %d bytes, %v; want %d", n, err, len(data))
	}
	MustPut(t, b, "empty", nil)
	buf.Reset()
	if n, err := backend.CopyTo(ctx, b, "empty", &buf); err != nil || n != 0 || buf.Len() != 0 {
		t.Fatalf("CopyTo of an empty object: %d, %v", n, err)
	}
	if _, err := backend.CopyTo(ctx, b, "runs/404.run", &buf); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("CopyTo of a missing object: %v, want ErrNotExist", err)
	}
}
