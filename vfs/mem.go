package vfs

import (
	"errors"
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
	"time"
)

// MemFS is an in-memory FS that remembers what File.Sync and FS.SyncDir
// made durable, so that CrashClone can produce what a machine crash
// would leave. It is safe for concurrent use.
//
// Paths are cleaned; absolute and relative paths name the same tree,
// rooted at "/" (a relative path is relative to the root). As on the
// operating system, the directories of a path must exist. There are no
// symbolic links, so Lstat is Stat, and no permissions: modes are
// recorded but not enforced. Errors are those the operating system would
// return, as *fs.PathError or *os.LinkError, with the same errnos
// underneath (fs.ErrNotExist, fs.ErrExist, syscall.ENOTDIR, EISDIR,
// ENOTEMPTY, EBADF, EINVAL; a held lock is ErrLockHeld over EWOULDBLOCK).
//
// Rename follows os.Rename on Linux, including its refusal to rename
// onto an existing directory (fs.ErrExist, even if it is empty).
type MemFS struct {
	mu struct {
		sync.Mutex
		root *memNode
	}
}

var _ FS = (*MemFS)(nil)

// memNode is a file or a directory. Hard links share the node. All
// fields are guarded by the owning MemFS's mu, or, for a Recorder's
// shadow, by the Recorder's mu.
type memNode struct {
	dir     bool
	mode    fs.FileMode // fs.ModeDir set for a directory
	modTime time.Time

	// Files.
	data       []byte
	synced     []byte // a copy of data at the last Sync, never aliased
	everSynced bool
	locked     bool // a Lock handle on the node is open

	// Directories.
	children       map[string]*memNode
	syncedChildren map[string]*memNode // entries at the last SyncDir; nil if never

	// ino is the inode number of the real file that a Recorder's shadow
	// node stands for; 0 in a plain MemFS.
	ino uint64
	// syncSeq orders a Recorder's snapshots of the node: a sync whose
	// snapshot is older than the one recorded (two fsyncs racing) must
	// not overwrite it.
	syncSeq uint64
}

func newFileNode(perm fs.FileMode) *memNode {
	return &memNode{mode: perm & fs.ModePerm, modTime: time.Now()}
}

func newDirNode(perm fs.FileMode) *memNode {
	return &memNode{
		dir:      true,
		mode:     fs.ModeDir | perm&fs.ModePerm,
		modTime:  time.Now(),
		children: make(map[string]*memNode),
	}
}

// NewMem returns an empty MemFS. Its root counts as durable, with no
// entries: like any directory, the entries later created in the root
// are durable only after SyncDir("/").
func NewMem() *MemFS {
	m := &MemFS{}
	m.mu.root = newDirNode(0o755)
	m.mu.root.syncedChildren = make(map[string]*memNode)
	return m
}

// splitPath returns the components of name below the root ("/" and "."
// have none).
func splitPath(name string) []string {
	p := filepath.Clean("/" + name)
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// walkDir returns the directory whose path is comps, or ENOENT or
// ENOTDIR as the operating system would.
func (m *MemFS) walkDir(comps []string) (*memNode, error) {
	d := m.mu.root
	for _, c := range comps {
		n, ok := d.children[c]
		if !ok {
			return nil, syscall.ENOENT
		}
		if !n.dir {
			return nil, syscall.ENOTDIR
		}
		d = n
	}
	return d, nil
}

// lookup returns the node at name, its parent directory and its last
// component. For the root, parent is nil. If only the last component is
// missing, parent and base are set and err is ENOENT.
func (m *MemFS) lookup(name string) (n, parent *memNode, base string, err error) {
	comps := splitPath(name)
	if len(comps) == 0 {
		return m.mu.root, nil, "", nil
	}
	parent, err = m.walkDir(comps[:len(comps)-1])
	if err != nil {
		return nil, nil, "", err
	}
	base = comps[len(comps)-1]
	n, ok := parent.children[base]
	if !ok {
		return nil, parent, base, syscall.ENOENT
	}
	return n, parent, base, nil
}

// OpenFile opens name with os.OpenFile's flags. A directory may be
// opened read-only (reading it fails with EISDIR; syncing it is SyncDir).
func (m *MemFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.openLocked(name, flag, perm)
}

func (m *MemFS) openLocked(name string, flag int, perm fs.FileMode) (*memFile, error) {
	pathErr := func(err error) error { return &fs.PathError{Op: "open", Path: name, Err: err} }
	access := flag & (os.O_RDONLY | os.O_WRONLY | os.O_RDWR)
	write := access == os.O_WRONLY || access == os.O_RDWR
	n, parent, base, err := m.lookup(name)
	switch {
	case err == nil:
		if flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0 {
			return nil, pathErr(syscall.EEXIST)
		}
		if n.dir && (write || flag&os.O_CREATE != 0) {
			return nil, pathErr(syscall.EISDIR)
		}
		if !n.dir && flag&os.O_TRUNC != 0 {
			n.data = n.data[:0]
			n.modTime = time.Now()
		}
	case parent != nil && errors.Is(err, fs.ErrNotExist) && flag&os.O_CREATE != 0:
		n = newFileNode(perm)
		parent.children[base] = n
		parent.modTime = n.modTime
	default:
		return nil, pathErr(err)
	}
	return &memFile{
		fs:     m,
		n:      n,
		name:   name,
		read:   access == os.O_RDONLY || access == os.O_RDWR,
		write:  write,
		append: flag&os.O_APPEND != 0,
	}, nil
}

// Rename renames oldname to newname as os.Rename does on Linux.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	linkErr := func(err error) error {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: err}
	}
	// os.Rename refuses an existing directory as the target before the
	// system call, unless both names are the same directory.
	if nn, _, _, err := m.lookup(newname); err == nil && nn.dir {
		on, _, _, err := m.lookup(oldname)
		if err != nil {
			return linkErr(err)
		}
		if newname == oldname || on != nn {
			return linkErr(syscall.EEXIST)
		}
	}
	on, oparent, obase, err := m.lookup(oldname)
	if err != nil {
		return linkErr(err)
	}
	if oparent == nil {
		return linkErr(syscall.EBUSY)
	}
	ncomps := splitPath(newname)
	if len(ncomps) == 0 {
		return linkErr(syscall.EBUSY)
	}
	nparent, err := m.walkDir(ncomps[:len(ncomps)-1])
	if err != nil {
		return linkErr(err)
	}
	if on.dir {
		// A directory cannot move below itself.
		d := m.mu.root
		for _, c := range ncomps[:len(ncomps)-1] {
			if d = d.children[c]; d == on {
				return linkErr(syscall.EINVAL)
			}
		}
	}
	nbase := ncomps[len(ncomps)-1]
	if nn, ok := nparent.children[nbase]; ok {
		switch {
		case nn == on:
			return nil // the same file: nothing to do
		case on.dir && !nn.dir:
			return linkErr(syscall.ENOTDIR)
		case !on.dir && nn.dir:
			return linkErr(syscall.EISDIR)
		case nn.dir && len(nn.children) > 0:
			return linkErr(syscall.ENOTEMPTY)
		}
	}
	delete(oparent.children, obase)
	nparent.children[nbase] = on
	now := time.Now()
	oparent.modTime, nparent.modTime = now, now
	return nil
}

// Link makes newname a hard link to oldname, sharing its node.
func (m *MemFS) Link(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	linkErr := func(err error) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: err}
	}
	on, _, _, err := m.lookup(oldname)
	if err != nil {
		return linkErr(err)
	}
	_, nparent, nbase, err := m.lookup(newname)
	switch {
	case err == nil:
		return linkErr(syscall.EEXIST)
	case nparent == nil || !errors.Is(err, fs.ErrNotExist):
		return linkErr(err)
	case on.dir:
		return linkErr(syscall.EPERM)
	}
	nparent.children[nbase] = on
	nparent.modTime = time.Now()
	return nil
}

// Remove removes a file or an empty directory. Open handles on a removed
// file keep working.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	pathErr := func(err error) error { return &fs.PathError{Op: "remove", Path: name, Err: err} }
	n, parent, base, err := m.lookup(name)
	switch {
	case err != nil:
		return pathErr(err)
	case parent == nil:
		return pathErr(syscall.EBUSY)
	case n.dir && len(n.children) > 0:
		return pathErr(syscall.ENOTEMPTY)
	}
	delete(parent.children, base)
	parent.modTime = time.Now()
	return nil
}

// Mkdir creates a directory.
func (m *MemFS) Mkdir(name string, perm fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, parent, base, err := m.lookup(name)
	switch {
	case err == nil:
		err = syscall.EEXIST
	case parent != nil && errors.Is(err, fs.ErrNotExist):
		n := newDirNode(perm)
		parent.children[base] = n
		parent.modTime = n.modTime
		return nil
	}
	return &fs.PathError{Op: "mkdir", Path: name, Err: err}
}

// ReadDir lists a directory, sorted by name.
func (m *MemFS) ReadDir(name string) ([]fs.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, _, _, err := m.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if !d.dir {
		return nil, &fs.PathError{Op: "readdirent", Path: name, Err: syscall.ENOTDIR}
	}
	names := slices.Sorted(maps.Keys(d.children))
	ents := make([]fs.DirEntry, len(names))
	for i, c := range names {
		ents[i] = fs.FileInfoToDirEntry(d.children[c].info(c))
	}
	return ents, nil
}

// Stat describes the file at name.
func (m *MemFS) Stat(name string) (fs.FileInfo, error) { return m.stat("stat", name) }

// Lstat is Stat: MemFS has no symbolic links.
func (m *MemFS) Lstat(name string) (fs.FileInfo, error) { return m.stat("lstat", name) }

func (m *MemFS) stat(op, name string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, _, _, err := m.lookup(name)
	if err != nil {
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return n.info(filepath.Base(filepath.Clean(name))), nil
}

// SyncDir makes the entries of directory name durable. Like the
// operating system's, given a file it syncs the file.
func (m *MemFS) SyncDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, _, _, err := m.lookup(name)
	if err != nil {
		return &fs.PathError{Op: "open", Path: name, Err: err}
	}
	n.sync()
	return nil
}

// Lock creates name if needed and opens it read-write, failing with an
// error wrapping ErrLockHeld (and so syscall.EWOULDBLOCK, see
// ErrLockHeld) while another handle from Lock on the same file (under
// any of its names) is open.
func (m *MemFS) Lock(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.openLocked(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if f.n.locked {
		return nil, lockHeld("flock", name, syscall.EWOULDBLOCK)
	}
	f.n.locked, f.lock = true, true
	return f, nil
}

// SyncAll makes everything durable as it is now, as if every file and
// every directory had been synced. It is for setting up tests.
func (m *MemFS) SyncAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	var walk func(n *memNode)
	walk = func(n *memNode) {
		n.sync()
		for _, c := range n.children {
			walk(c)
		}
	}
	walk(m.mu.root)
}

// CrashClone returns a new MemFS holding what a machine crash at this
// moment could leave of m, chosen by rng; m is not changed. In each
// directory every name keeps, by a coin flip, its binding as of the last
// SyncDir or its current one (see crashEntries); a directory never
// synced has no durable entries. Each file's data is chosen once, shared
// by its hard links, from what its last Sync made durable and what it
// holds now (see crashData). The root always survives, and a directory
// that would appear under two names (a rename not yet synced) appears
// only under the first in depth-first name order. Names are chosen
// independently, so a file renamed to a new name without a SyncDir may
// be left under neither name; one renamed over an existing durable name
// leaves that name holding the old file or the new one.
//
// Everything in the clone is durable and no locks are held in it.
func (m *MemFS) CrashClone(rng *rand.Rand) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := crashCloner{
		rng:   rng,
		files: make(map[*memNode]*memNode),
		dirs:  make(map[*memNode]bool),
	}
	clone := &MemFS{}
	clone.mu.root = c.dir(m.mu.root)
	return clone
}

type crashCloner struct {
	rng   *rand.Rand
	files map[*memNode]*memNode // original -> clone, to keep hard links
	dirs  map[*memNode]bool     // directories already placed in the clone
}

func (c *crashCloner) dir(d *memNode) *memNode {
	c.dirs[d] = true
	nd := &memNode{dir: true, mode: d.mode, modTime: d.modTime, children: make(map[string]*memNode)}
	for _, e := range crashEntries(c.rng, d.syncedChildren, d.children) {
		switch {
		case !e.node.dir:
			nd.children[e.name] = c.file(e.node)
		case !c.dirs[e.node]:
			nd.children[e.name] = c.dir(e.node)
		}
	}
	nd.syncedChildren = maps.Clone(nd.children)
	return nd
}

func (c *crashCloner) file(n *memNode) *memNode {
	if nn, ok := c.files[n]; ok {
		return nn
	}
	var synced []byte
	if n.everSynced {
		synced = n.synced
	}
	data := crashData(c.rng, synced, n.data)
	nn := &memNode{
		mode:       n.mode,
		modTime:    n.modTime,
		data:       data,
		synced:     slices.Clone(data),
		everSynced: true,
	}
	c.files[n] = nn
	return nn
}

// sync makes n durable as it is: a file's data, a directory's entries.
func (n *memNode) sync() {
	if n.dir {
		n.syncedChildren = maps.Clone(n.children)
		return
	}
	n.synced = slices.Clone(n.data)
	n.everSynced = true
}

func (n *memNode) info(name string) fs.FileInfo {
	return &memFileInfo{name: name, size: int64(len(n.data)), mode: n.mode, modTime: n.modTime}
}

// memFileInfo is a snapshot of a node.
type memFileInfo struct {
	name    string
	size    int64
	mode    fs.FileMode
	modTime time.Time
}

func (fi *memFileInfo) Name() string       { return fi.name }
func (fi *memFileInfo) Size() int64        { return fi.size }
func (fi *memFileInfo) Mode() fs.FileMode  { return fi.mode }
func (fi *memFileInfo) ModTime() time.Time { return fi.modTime }
func (fi *memFileInfo) IsDir() bool        { return fi.mode.IsDir() }
func (fi *memFileInfo) Sys() any           { return nil }

// errWriteAtInAppendMode is os.File's error for WriteAt on a file opened
// with O_APPEND.
var errWriteAtInAppendMode = errors.New("vfs: invalid use of WriteAt on file opened with O_APPEND")

// memFile is an open MemFS file. Its state is guarded by fs.mu.
type memFile struct {
	fs     *MemFS
	n      *memNode
	name   string
	read   bool
	write  bool
	append bool
	lock   bool // opened by Lock: closing releases n.locked

	pos    int64
	closed bool
}

// check returns the error of operation op on f, if any: f closed, not
// open for the access op needs (allowed false), or a directory.
func (f *memFile) check(op string, allowed bool) error {
	var err error
	switch {
	case f.closed:
		err = fs.ErrClosed
	case !allowed:
		err = syscall.EBADF
	case f.n.dir:
		err = syscall.EISDIR
	default:
		return nil
	}
	return &fs.PathError{Op: op, Path: f.name, Err: err}
}

func (f *memFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", f.read); err != nil {
		return 0, err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.pos >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[f.pos:])
	f.pos += int64(n)
	return n, nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", f.read); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "readat", Path: f.name, Err: errors.New("negative offset")}
	}
	if off >= int64(len(f.n.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", f.write); err != nil {
		return 0, err
	}
	if f.append {
		f.pos = int64(len(f.n.data))
	}
	f.n.writeAt(p, f.pos)
	f.pos += int64(len(p))
	return len(p), nil
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.append && !f.closed {
		return 0, errWriteAtInAppendMode
	}
	if err := f.check("write", f.write); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "writeat", Path: f.name, Err: errors.New("negative offset")}
	}
	f.n.writeAt(p, off)
	return len(p), nil
}

// writeAt writes p at off, zero-filling any gap after the end.
func (n *memNode) writeAt(p []byte, off int64) {
	if end := off + int64(len(p)); end > int64(len(n.data)) {
		n.data = append(n.data, make([]byte, end-int64(len(n.data)))...)
	}
	copy(n.data[off:], p)
	n.modTime = time.Now()
}

func (f *memFile) Seek(offset int64, whence int) (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: fs.ErrClosed}
	}
	pos := offset
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		pos += f.pos
	case io.SeekEnd:
		pos += int64(len(f.n.data))
	default:
		pos = -1
	}
	if pos < 0 {
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: syscall.EINVAL}
	}
	f.pos = pos
	return pos, nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: fs.ErrClosed}
	}
	if !f.write || f.n.dir || size < 0 {
		return &fs.PathError{Op: "truncate", Path: f.name, Err: syscall.EINVAL}
	}
	if size <= int64(len(f.n.data)) {
		f.n.data = f.n.data[:size]
	} else {
		f.n.data = append(f.n.data, make([]byte, size-int64(len(f.n.data)))...)
	}
	f.n.modTime = time.Now()
	return nil
}

// Sync makes the file's data durable; on a directory, its entries.
func (f *memFile) Sync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "sync", Path: f.name, Err: fs.ErrClosed}
	}
	f.n.sync()
	return nil
}

func (f *memFile) Stat() (fs.FileInfo, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return nil, &fs.PathError{Op: "stat", Path: f.name, Err: fs.ErrClosed}
	}
	return f.n.info(filepath.Base(filepath.Clean(f.name))), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	if f.lock {
		f.n.locked = false
	}
	return nil
}

func (f *memFile) Name() string { return f.name }
