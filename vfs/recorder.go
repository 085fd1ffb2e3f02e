package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
)

// Recorder is an FS over the operating system that also records, for
// the files under a root directory, what a machine crash would keep, so
// that tests of a whole pipeline can build crash images of real files
// (CrashImage). Every call is performed on the operating system, exactly
// as Default would; paths outside the root pass through untracked.
//
// The record is a shadow MemFS in which a node stands for an inode under
// the root. Names follow the calls made through the Recorder (a rename
// moves the node, a link shares it), and everything under the root when
// the Recorder was made counts as durable. File data is not copied on
// each write: a File.Sync through the Recorder reads the file from disk
// and, once the fsync succeeds, records what it read as synced; an
// FS.SyncDir (or a Sync of a directory opened through the Recorder)
// likewise records the directory's real entries as synced.
//
// What it cannot see: files created, written, renamed or removed by
// other code through package os (the log segments written by
// github.com/tidwall/wal) become visible at the next Sync, SyncDir or
// CrashImage that looks at them; a file replaced behind the Recorder's
// back (a different inode under the same name) is a new, never synced
// file. Syncs done by other code directly through package os are not
// seen at all, so a crash image may lose data that such code synced: the
// Recorder is a harsher adversary than a real crash, never a milder one.
// Only regular files and directories are tracked (symbolic links and
// other special files under the root are ignored), and path names are
// compared lexically, without resolving symbolic links.
type Recorder struct {
	root string // absolute and clean

	mu struct {
		// Held across each namespace change under the root and its
		// mirroring, so that the shadow sees them in the order the
		// operating system did.
		sync.Mutex
		// shadow is the record: a node per file or directory under the
		// root, its synced state what the Recorder saw synced.
		shadow *MemFS
		// seq numbers the snapshots taken for syncs.
		seq uint64
	}
}

var _ FS = (*Recorder)(nil)

// NewRecorder returns a Recorder for the files under root, an existing
// directory. Everything under root as it is now counts as durable.
func NewRecorder(root string) (*Recorder, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, &fs.PathError{Op: "recorder", Path: root, Err: syscall.ENOTDIR}
	}
	r := &Recorder{root: abs}
	r.mu.shadow = NewMem()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mu.shadow.mu.root.ino = inode(fi)
	if err := r.refresh(r.mu.shadow.mu.root, abs, true); err != nil {
		return nil, err
	}
	r.mu.shadow.SyncAll()
	return r, nil
}

// Root returns the absolute path of the directory the Recorder tracks.
func (r *Recorder) Root() string { return r.root }

// rel returns name relative to the root, and whether it is under it.
func (r *Recorder) rel(name string) (string, bool) {
	abs, err := filepath.Abs(name)
	if err != nil {
		return "", false
	}
	rel, err := filepath.Rel(r.root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}

// tracked reports whether fi is a kind of file the shadow holds.
func tracked(fi fs.FileInfo) bool { return fi.IsDir() || fi.Mode().IsRegular() }

// adopt returns the node for entry name of shadow directory d, which on
// disk is fi: the node bound there if it is the same file, else a new
// node (never synced) bound in its place. r.mu is held.
func (r *Recorder) adopt(d *memNode, name string, fi fs.FileInfo) *memNode {
	ino := inode(fi)
	if n, ok := d.children[name]; ok && n.dir == fi.IsDir() && n.ino == ino {
		return n
	}
	var n *memNode
	if fi.IsDir() {
		n = newDirNode(fi.Mode())
	} else {
		n = newFileNode(fi.Mode())
	}
	n.ino = ino
	d.children[name] = n
	return n
}

// shadowAt makes the shadow's bindings along rel (relative to the root)
// match the disk, adopting what was made behind the Recorder's back, and
// returns the node at rel, or nil if there is none on disk. r.mu is held.
func (r *Recorder) shadowAt(rel string) *memNode {
	n := r.mu.shadow.mu.root
	if rel == "." {
		return n
	}
	disk := r.root
	for _, c := range strings.Split(rel, string(filepath.Separator)) {
		disk = filepath.Join(disk, c)
		fi, err := os.Lstat(disk)
		if err != nil || !n.dir || !tracked(fi) {
			return nil
		}
		n = r.adopt(n, c, fi)
	}
	return n
}

// refresh makes the entries of shadow directory d those of the real
// directory dpath, keeping the nodes of names that still name the same
// files and reading the data of new files from disk. If deep, it recurses
// into subdirectories and rereads the data of every file. The synced
// state of existing nodes is left alone. r.mu is held.
func (r *Recorder) refresh(d *memNode, dpath string, deep bool) error {
	ents, err := os.ReadDir(dpath)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(ents))
	for _, e := range ents {
		p := filepath.Join(dpath, e.Name())
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed meanwhile
		}
		if err != nil {
			return err
		}
		if !tracked(fi) {
			continue
		}
		seen[e.Name()] = true
		old := d.children[e.Name()]
		n := r.adopt(d, e.Name(), fi)
		switch {
		case n.dir && deep:
			if err := r.refresh(n, p, true); err != nil {
				return err
			}
		case !n.dir && (deep || n != old):
			data, err := os.ReadFile(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			n.data = data
		}
	}
	for name := range d.children {
		if !seen[name] {
			delete(d.children, name)
		}
	}
	return nil
}

// OpenFile opens name as os.OpenFile does.
func (r *Recorder) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	rel, ok := r.rel(name)
	if !ok {
		return Default.OpenFile(name, flag, perm)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return r.track(f, rel)
}

// track wraps f, just opened at rel, binding its node in the shadow.
// r.mu is held.
func (r *Recorder) track(f *os.File, rel string) (File, error) {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	rf := &recFile{File: f, r: r}
	if tracked(fi) {
		if rel == "." {
			rf.node = r.mu.shadow.mu.root
		} else if parent := r.shadowAt(filepath.Dir(rel)); parent != nil && parent.dir {
			rf.node = r.adopt(parent, filepath.Base(rel), fi)
		}
	}
	return rf, nil
}

// Rename renames oldname to newname as os.Rename does; the file keeps its
// record (what was synced of it) under the new name.
func (r *Recorder) Rename(oldname, newname string) error {
	orel, oldIn := r.rel(oldname)
	nrel, newIn := r.rel(newname)
	if !oldIn && !newIn {
		return os.Rename(oldname, newname)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var n *memNode
	if oldIn {
		n = r.shadowAt(orel)
	}
	if err := os.Rename(oldname, newname); err != nil {
		return err
	}
	if oldIn {
		// Renaming one hard link onto another leaves both in place.
		if _, err := os.Lstat(oldname); errors.Is(err, fs.ErrNotExist) {
			r.unbind(orel)
		}
	}
	if newIn {
		r.bind(nrel, n)
	}
	return nil
}

// Link makes newname a hard link to oldname, as os.Link does.
func (r *Recorder) Link(oldname, newname string) error {
	orel, oldIn := r.rel(oldname)
	nrel, newIn := r.rel(newname)
	if !newIn {
		return os.Link(oldname, newname)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var n *memNode
	if oldIn {
		n = r.shadowAt(orel)
	}
	if err := os.Link(oldname, newname); err != nil {
		return err
	}
	r.bind(nrel, n)
	return nil
}

// bind binds rel to n in the shadow, or, if n is nil, to whatever is at
// rel on disk. r.mu is held.
func (r *Recorder) bind(rel string, n *memNode) {
	if n == nil || rel == "." {
		r.shadowAt(rel)
		return
	}
	if parent := r.shadowAt(filepath.Dir(rel)); parent != nil && parent.dir {
		parent.children[filepath.Base(rel)] = n
	}
}

// unbind removes rel from the shadow's current entries. r.mu is held.
func (r *Recorder) unbind(rel string) {
	if rel == "." {
		return
	}
	if parent := r.shadowAt(filepath.Dir(rel)); parent != nil && parent.dir {
		delete(parent.children, filepath.Base(rel))
	}
}

// Remove removes a file or an empty directory, as os.Remove does.
func (r *Recorder) Remove(name string) error {
	rel, ok := r.rel(name)
	if !ok {
		return os.Remove(name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.Remove(name); err != nil {
		return err
	}
	r.unbind(rel)
	return nil
}

// Mkdir creates a directory, as os.Mkdir does.
func (r *Recorder) Mkdir(name string, perm fs.FileMode) error {
	rel, ok := r.rel(name)
	if !ok {
		return os.Mkdir(name, perm)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.Mkdir(name, perm); err != nil {
		return err
	}
	r.shadowAt(rel)
	return nil
}

// ReadDir lists a directory, as os.ReadDir does.
func (r *Recorder) ReadDir(name string) ([]fs.DirEntry, error) { return os.ReadDir(name) }

// Stat describes the file at name, as os.Stat does.
func (r *Recorder) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// Lstat describes the file at name, as os.Lstat does.
func (r *Recorder) Lstat(name string) (fs.FileInfo, error) { return os.Lstat(name) }

// SyncDir syncs directory name and records its real entries as durable.
func (r *Recorder) SyncDir(name string) error { return SyncFile(r, name) }

// Lock creates name if needed, opens it read-write and takes an exclusive
// lock on it without waiting, as Default.Lock does; a held lock fails
// with an error wrapping ErrLockHeld.
func (r *Recorder) Lock(name string) (File, error) {
	rel, ok := r.rel(name)
	if !ok {
		return Default.Lock(name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := lockFile(name)
	if err != nil {
		return nil, err
	}
	return r.track(f, rel)
}

// CrashImage writes under dst (created if needed; it should not be
// under the root) what a machine crash at this moment could leave of the
// files under the root, chosen by rng: the root maps to dst. It first
// reads the current state of the root from disk, then crash-clones the
// record (see MemFS.CrashClone) and writes the clone out, hard links as
// hard links.
func (r *Recorder) CrashImage(rng *rand.Rand, dst string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.refresh(r.mu.shadow.mu.root, r.root, true); err != nil {
		return err
	}
	clone := r.mu.shadow.CrashClone(rng)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	return writeTree(clone.mu.root, dst, make(map[*memNode]string))
}

// writeTree writes the entries of directory d under dir. written maps
// the file nodes already written to their path, for hard links.
func writeTree(d *memNode, dir string, written map[*memNode]string) error {
	for _, name := range slices.Sorted(maps.Keys(d.children)) {
		n, p := d.children[name], filepath.Join(dir, name)
		if n.dir {
			if err := os.Mkdir(p, n.mode.Perm()|0o700); err != nil {
				return err
			}
			if err := writeTree(n, p, written); err != nil {
				return err
			}
			continue
		}
		if first, ok := written[n]; ok {
			if err := os.Link(first, p); err != nil {
				return err
			}
			continue
		}
		if err := os.WriteFile(p, n.data, n.mode.Perm()|0o600); err != nil {
			return err
		}
		written[n] = p
	}
	return nil
}

// recFile is a file opened through a Recorder. node is its shadow node,
// nil if it is outside the root or of a kind not tracked.
type recFile struct {
	*os.File
	r    *Recorder
	node *memNode
}

// Sync fsyncs the file and records what the fsync made durable: a
// file's data, a directory's entries. What is recorded is read from disk
// just before the fsync, so all of it is covered by the fsync even if
// other code keeps writing the file meanwhile (reading after the fsync
// could record as durable bytes written after it).
func (f *recFile) Sync() error {
	if f.node == nil {
		return f.File.Sync()
	}
	commit, err := f.snapshot()
	if err != nil {
		return fmt.Errorf("vfs: recording sync of %s: %w", f.Name(), err)
	}
	if err := f.File.Sync(); err != nil {
		return err
	}
	commit()
	return nil
}

// snapshot reads the file's current state from disk and returns the
// function that records it as synced.
func (f *recFile) snapshot() (commit func(), err error) {
	rc, err := f.File.SyscallConn()
	if err != nil {
		return nil, err
	}
	var rerr error
	err = rc.Control(func(fd uintptr) {
		// The open file itself, even if it was opened write-only, and by a
		// path that survives renames.
		self := fmt.Sprintf("/proc/self/fd/%d", fd)
		// Snapshots are numbered under the lock, so that of two racing
		// syncs the later snapshot is the one kept.
		f.r.mu.Lock()
		defer f.r.mu.Unlock()
		f.r.mu.seq++
		seq := f.r.mu.seq
		if !f.node.dir {
			var data []byte
			if data, rerr = os.ReadFile(self); rerr == nil {
				commit = func() {
					f.r.mu.Lock()
					defer f.r.mu.Unlock()
					if seq > f.node.syncSeq {
						f.node.syncSeq = seq
						f.node.data = data
						f.node.sync()
					}
				}
			}
			return
		}
		if rerr = f.r.refresh(f.node, self, false); rerr == nil {
			entries := maps.Clone(f.node.children)
			commit = func() {
				f.r.mu.Lock()
				defer f.r.mu.Unlock()
				if seq > f.node.syncSeq {
					f.node.syncSeq = seq
					f.node.syncedChildren = entries
				}
			}
		}
	})
	if err == nil {
		err = rerr
	}
	return commit, err
}
