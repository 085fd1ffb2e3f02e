package backend_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/backend/backendtest"
	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/vfs/errorfs"
)

// Whether a directory fsync is missing cannot be seen on a real filesystem
// without crashing the machine, so the tests count the syncs through the
// filesystem seam instead.

// dirSyncs is the OS filesystem recording the directories synced through
// it.
type dirSyncs struct {
	vfs.FS
	mu   sync.Mutex
	dirs []string
	fail error // returned by every sync when set
}

func (d *dirSyncs) SyncDir(dir string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dirs = append(d.dirs, dir)
	if d.fail != nil {
		return d.fail
	}
	return d.FS.SyncDir(dir)
}

// take returns the directories synced since the last take.
func (d *dirSyncs) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	dirs := d.dirs
	d.dirs = nil
	return dirs
}

func newCounted(t *testing.T, root string) (*backend.Filesystem, *dirSyncs) {
	t.Helper()
	syncs := &dirSyncs{FS: vfs.Default}
	f, err := backend.NewFilesystemFS(syncs, root)
	if err != nil {
		t.Fatal(err)
	}
	return f, syncs
}

func TestFilesystemDirSync(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	f, syncs := newCounted(t, root)
	syncs.take()
	in := func(rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) }

	backendtest.MustPut(t, f, "MANIFEST-1", []byte("m"))
	if got := syncs.take(); !slices.Equal(got, []string{root}) {
		t.Errorf("Put in the root synced %q, want the root once", got)
	}

	// New sub-directories: each one's parent, then the object's directory.
	backendtest.MustPut(t, f, "x/y/1.run", []byte("r"))
	if got, want := syncs.take(), []string{root, in("x"), in("x/y")}; !slices.Equal(got, want) {
		t.Errorf("Put in new directories synced %q, want %q", got, want)
	}
	// Known sub-directories are not synced again; the object's directory is.
	backendtest.MustPut(t, f, "x/y/1.run", []byte("replaced"))
	if got, want := syncs.take(), []string{in("x/y")}; !slices.Equal(got, want) {
		t.Errorf("Put replacing synced %q, want %q", got, want)
	}

	if err := f.Create(ctx, "x/y/2.run", []byte("c")); err != nil {
		t.Fatal(err)
	}
	if got, want := syncs.take(), []string{in("x/y")}; !slices.Equal(got, want) {
		t.Errorf("Create synced %q, want %q", got, want)
	}
	// A Create that finds the name taken syncs too, so the object it
	// reports is durable even if a concurrent creator has not synced yet.
	if err := f.Create(ctx, "x/y/2.run", []byte("c")); !errors.Is(err, backend.ErrExist) {
		t.Fatalf("err %v, want backend.ErrExist", err)
	}
	if got, want := syncs.take(), []string{in("x/y")}; !slices.Equal(got, want) {
		t.Errorf("Create of a taken name synced %q, want %q", got, want)
	}

	if err := f.Delete(ctx, "x/y/1.run"); err != nil {
		t.Fatal(err)
	}
	if got, want := syncs.take(), []string{in("x/y")}; !slices.Equal(got, want) {
		t.Errorf("Delete synced %q, want %q", got, want)
	}

	// Reads never sync.
	if _, err := f.Get(ctx, "x/y/2.run"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Size(ctx, "x/y/2.run"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.List(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if got := syncs.take(); len(got) != 0 {
		t.Errorf("Get, Size and List synced %q", got)
	}
}

func TestFilesystemDirSyncError(t *testing.T) {
	ctx := context.Background()
	f, syncs := newCounted(t, t.TempDir())
	backendtest.MustPut(t, f, "runs/1.run", []byte("one"))
	boom := errors.New("sync failed")
	syncs.fail = boom

	for op, err := range map[string]error{
		"put":    f.Put(ctx, "runs/2.run", []byte("two")),
		"create": f.Create(ctx, "runs/3.run", []byte("three")),
		"delete": f.Delete(ctx, "runs/1.run"),
	} {
		if !errors.Is(err, boom) {
			t.Errorf("%s with a failing directory sync: err %v, want the sync error", op, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "backend: "+op+" runs/") {
			t.Errorf("error %q does not name the operation and object", err)
		}
	}
}

func TestFilesystemNewCreatesRoot(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "a", "b", "c")
	f, syncs := newCounted(t, root+string(filepath.Separator))
	if f.Root() != root {
		t.Errorf("Root() = %q, want %q", f.Root(), root)
	}
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		t.Fatalf("root not created: %v", err)
	}
	want := []string{parent, filepath.Join(parent, "a"), filepath.Join(parent, "a", "b")}
	if got := syncs.take(); !slices.Equal(got, want) {
		t.Errorf("creating the root synced %q, want %q", got, want)
	}
	backendtest.MustPut(t, f, "o", []byte("x"))

	// Opening an existing root creates and syncs nothing.
	_, syncs = newCounted(t, root)
	if got := syncs.take(); len(got) != 0 {
		t.Errorf("opening an existing root synced %q", got)
	}

	file := filepath.Join(parent, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.NewFilesystem(file); err == nil {
		t.Error("backend.NewFilesystem on a regular file: no error")
	}
	if _, err := backend.NewFilesystem(""); err == nil {
		t.Error("backend.NewFilesystem(\"\"): no error")
	}
}

func TestFilesystemStaleTemp(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	f, err := backend.NewFilesystem(root)
	if err != nil {
		t.Fatal(err)
	}
	backendtest.MustPut(t, f, "MANIFEST-1", []byte("manifest"))
	backendtest.MustPut(t, f, "runs/1.run", []byte("run"))
	// What a crash between writing the temporary file and renaming or
	// linking it leaves behind.
	stale := []string{
		filepath.Join(root, base.TempPrefix+"00000000000000ab-MANIFEST-2"),
		filepath.Join(root, "runs", base.TempPrefix+"00000000000000cd-2.run"),
	}
	for _, p := range stale {
		if err := os.WriteFile(p, []byte("half written"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"MANIFEST-1", "runs/1.run"}
	backendtest.MustListEqual(t, f, "", want)
	backendtest.MustListEqual(t, f, "runs/", []string{"runs/1.run"})
	if _, err := f.Get(ctx, "runs/"+base.TempPrefix+"00000000000000cd-2.run"); !errors.Is(err, backend.ErrBadName) {
		t.Errorf("Get of a temporary file: err %v, want backend.ErrBadName", err)
	}

	f2, syncs := newCounted(t, root)
	for _, p := range stale {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("stale %s still there after backend.NewFilesystem: %v", p, err)
		}
	}
	if got, want := syncs.take(), []string{root, filepath.Join(root, "runs")}; !slices.Equal(got, want) {
		t.Errorf("removing stale files synced %q, want %q", got, want)
	}
	backendtest.MustListEqual(t, f2, "", want)
	backendtest.MustGetEqual(t, f2, "MANIFEST-1", []byte("manifest"))
	backendtest.MustGetEqual(t, f2, "runs/1.run", []byte("run"))
}

func TestFilesystemNoTempLeft(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	f, err := backend.NewFilesystem(root)
	if err != nil {
		t.Fatal(err)
	}
	backendtest.MustPut(t, f, "runs/1.run", []byte("1"))
	backendtest.MustPut(t, f, "runs/1.run", []byte("1 again"))
	if err := f.Create(ctx, "runs/2.run", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if err := f.Create(ctx, "runs/2.run", []byte("2 again")); !errors.Is(err, backend.ErrExist) {
		t.Fatalf("err %v, want backend.ErrExist", err)
	}
	backendtest.MustPut(t, f, "a/b/c", []byte("c"))
	if err := f.Put(ctx, "a/b/c/d", []byte("d")); err == nil { // a/b/c is a file
		t.Fatal("Put under an object's name: no error")
	}
	files := allFiles(t, root)
	if want := []string{"a/b/c", "runs/1.run", "runs/2.run"}; !slices.Equal(files, want) {
		t.Fatalf("files on disk %q, want %q", files, want)
	}
}

func TestFilesystemDirectoryIsNotObject(t *testing.T) {
	ctx := context.Background()
	f, err := backend.NewFilesystem(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	backendtest.MustPut(t, f, "a/b", []byte("b"))
	if _, err := f.Get(ctx, "a"); !errors.Is(err, backend.ErrNotExist) {
		t.Errorf("Get of a directory: err %v, want backend.ErrNotExist", err)
	}
	if _, err := f.Size(ctx, "a"); !errors.Is(err, backend.ErrNotExist) {
		t.Errorf("Size of a directory: err %v, want backend.ErrNotExist", err)
	}
	if _, err := f.Open(ctx, "a"); !errors.Is(err, backend.ErrNotExist) {
		t.Errorf("Open of a directory: err %v, want backend.ErrNotExist", err)
	}
	if err := f.Delete(ctx, "a"); err != nil {
		t.Errorf("Delete of a directory: %v", err)
	}
	backendtest.MustGetEqual(t, f, "a/b", []byte("b"))
	err = f.Create(ctx, "a", []byte("a"))
	if err == nil || errors.Is(err, backend.ErrExist) {
		t.Errorf("Create over a directory: err %v, want an error that is not backend.ErrExist", err)
	}
	// A path through a file (ENOTDIR) is a missing object too.
	if _, err := f.Get(ctx, "a/b/c"); !errors.Is(err, backend.ErrNotExist) {
		t.Errorf("Get through a file: err %v, want backend.ErrNotExist", err)
	}
	if _, err := f.Size(ctx, "a/b/c"); !errors.Is(err, backend.ErrNotExist) {
		t.Errorf("Size through a file: err %v, want backend.ErrNotExist", err)
	}
	if _, err := f.Open(ctx, "a/b/c"); !errors.Is(err, backend.ErrNotExist) {
		t.Errorf("Open through a file: err %v, want backend.ErrNotExist", err)
	}
	if err := f.Delete(ctx, "a/b/c"); err != nil {
		t.Errorf("Delete through a file: %v", err)
	}
	backendtest.MustListEqual(t, f, "", []string{"a/b"})
}

func TestFilesystemListSkipsForeign(t *testing.T) {
	root := t.TempDir()
	f, err := backend.NewFilesystem(root)
	if err != nil {
		t.Fatal(err)
	}
	backendtest.MustPut(t, f, "runs/1.run", []byte("1"))
	for _, dir := range []string{"empty", "runs/empty", base.TempPrefix + "dir"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Files that are not objects: a name no backend accepts, a file inside
	// a directory no object name can pass through, a symbolic link.
	for _, name := range []string{`back\slash`, base.TempPrefix + "dir/inside"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "runs", "1.run"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	backendtest.MustListEqual(t, f, "", []string{"runs/1.run"})
}

func TestFilesystemLongName(t *testing.T) {
	f, err := backend.NewFilesystem(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// 250-byte base names: within NAME_MAX (255), but not once the
	// temporary prefix is put in front of them whole.
	put := "runs/" + strings.Repeat("p", 250)
	created := "runs/" + strings.Repeat("c", 250)
	backendtest.MustPut(t, f, put, []byte("put"))
	if err := f.Create(context.Background(), created, []byte("created")); err != nil {
		t.Fatal(err)
	}
	backendtest.MustGetEqual(t, f, put, []byte("put"))
	backendtest.MustGetEqual(t, f, created, []byte("created"))
	backendtest.MustListEqual(t, f, "", []string{created, put})
}

// allFiles returns every non-directory under root, slash-separated and
// sorted, temporary files included.
func allFiles(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

func TestFilesystemOpenSymlinkIsNotObject(t *testing.T) {
	root := t.TempDir()
	f, err := backend.NewFilesystem(root)
	if err != nil {
		t.Fatal(err)
	}
	backendtest.MustPut(t, f, "runs/1.run", []byte("1"))
	if err := os.Symlink(filepath.Join(root, "runs", "1.run"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Open(context.Background(), "link"); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("Open of a symbolic link: err %v, want backend.ErrNotExist", err)
	}
}

func TestFilesystemOpenErrors(t *testing.T) {
	ctx := context.Background()
	inj := errorfs.NewToggle(syscall.EIO, errorfs.PathContains("1.run"))
	f, err := backend.NewFilesystemFS(errorfs.Wrap(vfs.Default, inj), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	backendtest.MustPut(t, f, "runs/1.run", []byte("one"))
	o := backendtest.MustOpen(t, f, "runs/1.run")
	defer o.Close()

	inj.Set(true)
	// A failed open or stat is not a missing object.
	_, err = f.Open(ctx, "runs/1.run")
	if !errors.Is(err, syscall.EIO) || errors.Is(err, backend.ErrNotExist) || !strings.HasPrefix(err.Error(), "backend: open runs/1.run: ") {
		t.Fatalf("Open with EIO: err %v, want EIO named with the operation and object", err)
	}
	n, err := o.ReadAt(make([]byte, 3), 0)
	if n != 0 || !errors.Is(err, syscall.EIO) || !strings.HasPrefix(err.Error(), "backend: read runs/1.run: ") {
		t.Fatalf("ReadAt with EIO = %d, %v; want EIO named with the operation and object", n, err)
	}
	inj.Set(false)
	backendtest.MustReadAll(t, o, []byte("one"))
}

// The backend.Filesystem reads through any vfs.FS, such as the in-memory one.
func TestFilesystemOpenMemFS(t *testing.T) {
	ctx := context.Background()
	f, err := backend.NewFilesystemFS(vfs.NewMem(), "/root")
	if err != nil {
		t.Fatal(err)
	}
	backendtest.MustPut(t, f, "runs/1.run", []byte("old"))
	o := backendtest.MustOpen(t, f, "runs/1.run")
	backendtest.MustPut(t, f, "runs/1.run", []byte("replaced"))
	backendtest.MustReadAll(t, o, []byte("old"))
	if err := f.Delete(ctx, "runs/1.run"); err != nil {
		t.Fatal(err)
	}
	backendtest.MustReadAll(t, o, []byte("old"))
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.ReadAt(make([]byte, 1), 0); !errors.Is(err, fs.ErrClosed) {
		t.Fatalf("ReadAt after Close: err %v, want fs.ErrClosed", err)
	}
	if _, err := f.Open(ctx, "runs/1.run"); !errors.Is(err, backend.ErrNotExist) {
		t.Fatalf("Open after Delete: err %v, want backend.ErrNotExist", err)
	}
}
