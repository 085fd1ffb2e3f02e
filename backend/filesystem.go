package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/pwlog/pwlog/vfs"
)

// Filesystem keeps objects as regular files under a root directory: the
// object "runs/000001.run" is the file root/runs/000001.run. Anything else
// under the root (directories, symbolic links, temporary files, files whose
// names are bad object names) is not an object. It is safe for concurrent
// use, also by several processes sharing the root.
//
// Durability: Put writes a temporary file beside the final name, fsyncs it,
// renames it over the final name and fsyncs the directory. Create does the
// same but links the temporary file to the final name instead of renaming,
// which fails atomically if the name is taken. Delete removes the file and
// fsyncs the directory. A sub-directory is created when first needed and
// its parent fsynced.
//
// Directories are never removed, even when they become empty. A name
// cannot be both an object and a directory on the way to another object
// ("a" and "a/b"); the second write fails with an error (an object store
// would take both).
type Filesystem struct {
	root string
	fs   vfs.FS

	// dirs holds the sub-directories (slash-separated, relative to root)
	// whose entry in their parent this Filesystem has made durable, so that
	// each is created and synced once, not on every Put.
	dirs sync.Map
}

var _ Backend = (*Filesystem)(nil)

// NewFilesystem returns a Filesystem rooted at root. It creates root with
// its missing parents, fsyncing the parent of each directory it creates,
// and fails if root exists but is not a directory.
//
// Temporary files under root are what a Put or Create left behind when the
// process died mid-way; NewFilesystem removes every one it finds (and
// fsyncs their directories). So no other process may be writing to root
// while NewFilesystem runs: its temporary files would be removed under it.
func NewFilesystem(root string) (*Filesystem, error) {
	return NewFilesystemFS(vfs.Default, root)
}

// NewFilesystemFS is NewFilesystem writing through fsys instead of the
// operating system's filesystem.
func NewFilesystemFS(fsys vfs.FS, root string) (*Filesystem, error) {
	if root == "" {
		return nil, errors.New("backend: filesystem root is empty")
	}
	root = filepath.Clean(root)
	f := &Filesystem{root: root, fs: fsys}
	if err := vfs.MkdirAll(fsys, root, 0o755); err != nil {
		return nil, fmt.Errorf("backend: create root %s: %w", root, err)
	}
	if err := f.removeTemps(); err != nil {
		return nil, fmt.Errorf("backend: remove stale temporary files under %s: %w", root, err)
	}
	return f, nil
}

// Root returns the directory the objects live in, as cleaned by
// filepath.Clean.
func (f *Filesystem) Root() string { return f.root }

// Put stores data under name, replacing any object of that name; see
// Backend.Put and the Filesystem doc for how.
func (f *Filesystem) Put(ctx context.Context, name string, data []byte) error {
	if err := begin(ctx, OpPut, name, true); err != nil {
		return err
	}
	if err := f.put(name, data); err != nil {
		return wrap(OpPut, name, err)
	}
	return nil
}

// stage writes data to a synced temporary file beside the object's final
// path, creating the object's directories, and returns the three paths.
func (f *Filesystem) stage(name string, data []byte) (tmp, final, dir string, err error) {
	if err := f.ensureDir(path.Dir(name)); err != nil {
		return "", "", "", err
	}
	final = f.path(name)
	dir = filepath.Dir(final)
	tmp, err = writeTemp(f.fs, dir, path.Base(name), data)
	return tmp, final, dir, err
}

func (f *Filesystem) put(name string, data []byte) error {
	tmp, final, dir, err := f.stage(name, data)
	if err != nil {
		return err
	}
	if err := f.fs.Rename(tmp, final); err != nil {
		_ = f.fs.Remove(tmp) // best effort; NewFilesystem removes it otherwise
		return err
	}
	return f.fs.SyncDir(dir)
}

// PutFrom stores under name the bytes fill writes, as Put does (a
// temporary file, fsynced, renamed over the name): an object far larger
// than what a caller would hold in memory. fill's error fails PutFrom
// and leaves the name as it was.
func (f *Filesystem) PutFrom(ctx context.Context, name string, fill func(w io.Writer) error) error {
	if err := begin(ctx, OpPut, name, true); err != nil {
		return err
	}
	if err := f.ensureDir(path.Dir(name)); err != nil {
		return wrap(OpPut, name, err)
	}
	final := f.path(name)
	dir := filepath.Dir(final)
	tmp, err := writeTempFrom(f.fs, dir, path.Base(name), fill)
	if err == nil {
		if err = f.fs.Rename(tmp, final); err != nil {
			_ = f.fs.Remove(tmp)
		}
	}
	if err == nil {
		err = f.fs.SyncDir(dir)
	}
	if err != nil {
		return wrap(OpPut, name, err)
	}
	return nil
}

// Create stores data under name only if no object has that name; see
// Backend.Create and the Filesystem doc for how.
func (f *Filesystem) Create(ctx context.Context, name string, data []byte) error {
	if err := begin(ctx, OpCreate, name, true); err != nil {
		return err
	}
	if err := f.create(name, data); err != nil {
		return wrap(OpCreate, name, err)
	}
	return nil
}

func (f *Filesystem) create(name string, data []byte) error {
	tmp, final, dir, err := f.stage(name, data)
	if err != nil {
		return err
	}
	linkErr := f.fs.Link(tmp, final)
	// A temporary file that cannot be removed does no harm: it is never
	// listed and the next NewFilesystem removes it. Failing a Create whose
	// link succeeded would tell the caller the object was not created.
	_ = f.fs.Remove(tmp)
	if linkErr != nil {
		if !errors.Is(linkErr, fs.ErrExist) {
			return linkErr
		}
		if st, err := f.fs.Lstat(final); err == nil && st.IsDir() {
			return &fs.PathError{Op: "link", Path: final, Err: syscall.EISDIR}
		}
		// The object may have been linked a moment ago by a concurrent
		// Create that has not yet synced the directory; sync it, so that
		// the object the caller is told about is durable.
		if err := f.fs.SyncDir(dir); err != nil {
			return err
		}
		return ErrExist
	}
	return f.fs.SyncDir(dir)
}

// Get returns the object's bytes in a new slice; see Backend.Get.
func (f *Filesystem) Get(ctx context.Context, name string) ([]byte, error) {
	if err := begin(ctx, OpGet, name, true); err != nil {
		return nil, err
	}
	data, err := f.get(name)
	if err != nil {
		return nil, wrap(OpGet, name, err)
	}
	return data, nil
}

func (f *Filesystem) get(name string) ([]byte, error) {
	fh, size, err := f.openFile(name)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data := make([]byte, size)
	if _, err := io.ReadFull(fh, data); err != nil {
		return nil, err
	}
	return data, nil
}

// openFile opens the object's file for reading and returns it with its
// size, or ErrNotExist when there is no object (a missing file, or one that
// is not a regular file).
func (f *Filesystem) openFile(name string) (vfs.File, int64, error) {
	p := f.path(name)
	if _, err := f.lstatObject(p); err != nil {
		return nil, 0, err
	}
	fh, err := vfs.Open(f.fs, p)
	if err != nil {
		return nil, 0, notExist(err)
	}
	// The file is never written in place (Put renames a new file over the
	// name), so the open file keeps the size it has now.
	st, err := fh.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = ErrNotExist
	}
	if err != nil {
		_ = fh.Close()
		return nil, 0, err
	}
	return fh, st.Size(), nil
}

// Open opens the object's file for reads at any offset; see Backend.Open.
// The file stays open until the Object is closed, so on Unix the Object
// reads the bytes it opened even after Delete, or Put, of the name.
func (f *Filesystem) Open(ctx context.Context, name string) (Object, error) {
	if err := begin(ctx, OpOpen, name, true); err != nil {
		return nil, err
	}
	fh, size, err := f.openFile(name)
	if err != nil {
		return nil, wrap(OpOpen, name, err)
	}
	return &fileObject{name: name, f: fh, size: size}, nil
}

// fileObject is an Object of the Filesystem: the open file of the object.
type fileObject struct {
	name string
	f    vfs.File
	size int64
}

func (o *fileObject) ReadAt(p []byte, off int64) (int, error) {
	n, err := o.f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		err = wrap(OpRead, o.name, err)
	}
	return n, err
}

func (o *fileObject) Size() int64 { return o.size }

func (o *fileObject) Close() error {
	if err := o.f.Close(); err != nil {
		return wrap(OpClose, o.name, err)
	}
	return nil
}

// List returns the sorted names of the objects whose name starts with
// prefix; see Backend.List. It walks only the directories that can hold
// such names.
func (f *Filesystem) List(ctx context.Context, prefix string) ([]string, error) {
	if err := begin(ctx, OpList, prefix, false); err != nil {
		return nil, err
	}
	names := []string{}
	err := walkDir(f.fs, f.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != f.root && isNotExist(err) {
				return nil // vanished while we walked: not there
			}
			return err
		}
		if p == f.root {
			return nil
		}
		rel, err := filepath.Rel(f.root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			under := rel + "/"
			if !validName(rel) || !(strings.HasPrefix(under, prefix) || strings.HasPrefix(prefix, under)) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && strings.HasPrefix(rel, prefix) && validName(rel) {
			names = append(names, rel)
		}
		return nil
	})
	if err != nil {
		return nil, wrap(OpList, prefix, err)
	}
	// WalkDir goes by directory: "a/b/c" comes before "a/b.run" although
	// '.' sorts before '/'.
	slices.Sort(names)
	return names, nil
}

// Delete removes the object; see Backend.Delete.
func (f *Filesystem) Delete(ctx context.Context, name string) error {
	if err := begin(ctx, OpDelete, name, true); err != nil {
		return err
	}
	if err := f.delete(name); err != nil {
		return wrap(OpDelete, name, err)
	}
	return nil
}

func (f *Filesystem) delete(name string) error {
	p := f.path(name)
	if _, err := f.lstatObject(p); err != nil {
		if err != ErrNotExist {
			return err
		}
		// Missing. A concurrent Delete may have removed it and not yet
		// synced the directory; sync it, so the absence is durable when we
		// return. A missing directory holds nothing to sync.
	} else if err := f.fs.Remove(p); err != nil && !isNotExist(err) {
		return err
	}
	if err := f.fs.SyncDir(filepath.Dir(p)); err != nil && !isNotExist(err) {
		return err
	}
	return nil
}

// Size returns the object's size in bytes; see Backend.Size.
func (f *Filesystem) Size(ctx context.Context, name string) (int64, error) {
	if err := begin(ctx, OpSize, name, true); err != nil {
		return 0, err
	}
	st, err := f.lstatObject(f.path(name))
	if err != nil {
		return 0, wrap(OpSize, name, err)
	}
	return st.Size(), nil
}

// path returns the file of the object name (a valid name).
func (f *Filesystem) path(name string) string {
	return filepath.Join(f.root, filepath.FromSlash(name))
}

// lstatObject returns the FileInfo of the object file p, or ErrNotExist
// when p is missing or not a regular file.
func (f *Filesystem) lstatObject(p string) (fs.FileInfo, error) {
	st, err := f.fs.Lstat(p)
	if err != nil {
		return nil, notExist(err)
	}
	if !st.Mode().IsRegular() {
		return nil, ErrNotExist
	}
	return st, nil
}

// ensureDir makes sure the sub-directory rel (slash-separated, relative to
// the root; "." for the root itself) exists and that its entry in its
// parent is durable, creating it and its missing parents as needed.
func (f *Filesystem) ensureDir(rel string) error {
	if rel == "." {
		return nil
	}
	if _, ok := f.dirs.Load(rel); ok {
		return nil
	}
	if err := f.ensureDir(path.Dir(rel)); err != nil {
		return err
	}
	p := f.path(rel)
	if err := f.fs.Mkdir(p, 0o755); err != nil {
		if !errors.Is(err, fs.ErrExist) {
			return err
		}
		st, err := f.fs.Stat(p)
		if err != nil {
			return err
		}
		if !st.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: p, Err: syscall.ENOTDIR}
		}
	}
	// Whether we created it or found it (made by another process, or by a
	// concurrent call that may not have synced yet), sync the parent once.
	if err := f.fs.SyncDir(filepath.Dir(p)); err != nil {
		return err
	}
	f.dirs.Store(rel, struct{}{})
	return nil
}

// removeTemps removes every temporary file under the root and fsyncs the
// directories it removed them from.
func (f *Filesystem) removeTemps() error {
	var dirs []string
	err := walkDir(f.fs, f.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		if err := f.fs.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if dir := filepath.Dir(p); len(dirs) == 0 || dirs[len(dirs)-1] != dir {
			dirs = append(dirs, dir)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, dir := range dirs {
		if err := f.fs.SyncDir(dir); err != nil {
			return err
		}
	}
	return nil
}

// maxTempBase bounds the part of the object's base name copied into a
// temporary file's name, keeping that name within NAME_MAX (255 bytes).
const maxTempBase = 64

// writeTemp writes data to a new temporary file in dir, named
// ".tmp-<random>-<base>", fsyncs and closes it, and returns its path. On
// error no file is left behind (as far as removal succeeds).
func writeTemp(fsys vfs.FS, dir, base string, data []byte) (string, error) {
	return writeTempFrom(fsys, dir, base, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeTempFrom is writeTemp with the bytes written by fill.
func writeTempFrom(fsys vfs.FS, dir, base string, fill func(w io.Writer) error) (string, error) {
	if len(base) > maxTempBase {
		base = base[:maxTempBase]
	}
	for attempt := 0; ; attempt++ {
		tmp := filepath.Join(dir, fmt.Sprintf("%s%016x-%s", tempPrefix, rand.Uint64(), base))
		fh, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			if errors.Is(err, fs.ErrExist) && attempt < 8 {
				continue // 64 random bits collided: draw again
			}
			return "", err
		}
		err = fill(fh)
		if err == nil {
			err = fh.Sync()
		}
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = fsys.Remove(tmp)
			return "", err
		}
		return tmp, nil
	}
}

// walkDir is filepath.WalkDir through fsys: fn is called for root and then
// for every entry below it, in lexical order, directories before their
// contents; fn returning filepath.SkipDir for a directory skips it.
func walkDir(fsys vfs.FS, root string, fn fs.WalkDirFunc) error {
	st, err := fsys.Lstat(root)
	if err != nil {
		return fn(root, nil, err)
	}
	err = walk(fsys, root, fs.FileInfoToDirEntry(st), fn)
	if err == filepath.SkipDir || err == filepath.SkipAll {
		return nil
	}
	return err
}

func walk(fsys vfs.FS, p string, d fs.DirEntry, fn fs.WalkDirFunc) error {
	if err := fn(p, d, nil); err != nil || !d.IsDir() {
		if err == filepath.SkipDir && d.IsDir() {
			err = nil
		}
		return err
	}
	des, err := fsys.ReadDir(p)
	if err != nil {
		if err = fn(p, d, err); err != nil {
			if err == filepath.SkipDir && d.IsDir() {
				err = nil
			}
			return err
		}
	}
	for _, de := range des {
		if err := walk(fsys, filepath.Join(p, de.Name()), de, fn); err != nil {
			if err == filepath.SkipDir {
				break
			}
			return err
		}
	}
	return nil
}

// isNotExist reports whether err means "no such file": ENOENT, or ENOTDIR
// when a component of the path is a file.
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// notExist returns ErrNotExist for an error that means "no such file" and
// any other error unchanged.
func notExist(err error) error {
	if isNotExist(err) {
		return ErrNotExist
	}
	return err
}
