package pwlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/internal/msgpackx"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/wal"
)

// The read-only view of a storage directory that Inspect, Dump and Verify
// share. Nothing here writes: not the marker, not the lock, not a repair.

// ReadOptions configure the read-only tools: Inspect, Dump and Verify.
// The zero value is valid.
type ReadOptions struct {
	// FS is the filesystem read. Default vfs.Default.
	FS vfs.FS
	// Progress, when set, receives how many bytes of the storage's files
	// have been read so far, of total.
	Progress func(done, total int64)
}

func (o *ReadOptions) withDefaults() ReadOptions {
	var r ReadOptions
	if o != nil {
		r = *o
	}
	if r.FS == nil {
		r.FS = vfs.Default
	}
	return r
}

// storageView is what the read-only tools know of a storage before they
// read its log: the marker, the checkpoint's files and its live manifest.
type storageView struct {
	fs     vfs.FS
	dir    string
	format int
	// manifests are the names (relative to the checkpoint directory) of
	// every manifest file, oldest first; runs of every run file; temps of
	// temporary files a crashed write left.
	manifests, runs, temps []string
	// manifest is the newest manifest, nil when there is none or it is
	// damaged (manifestErr).
	manifest     *checkpoint.Manifest
	manifestName string
	manifestErr  error
	meta         storageMeta
}

// readMarker returns the format version of dir's marker. It fails with an
// error wrapping ErrFormat when dir is not a pwlog storage, its marker is
// not one, or its version is not FormatVersion; and wrapping
// fs.ErrNotExist when dir has no marker.
func readMarker(fsys vfs.FS, dir string) (int, error) {
	p := filepath.Join(dir, markerName)
	b, err := vfs.ReadFile(fsys, p)
	if err != nil {
		return 0, err
	}
	var v int
	if _, err := fmt.Sscanf(string(b), "pwlog storage format %d", &v); err != nil {
		return 0, fmt.Errorf("%w: %s is not a pwlog format marker", ErrFormat, p)
	}
	switch {
	case v > FormatVersion:
		return v, fmt.Errorf("%w: %s has format %d, newer than this build's format %d: use a newer pwlog", ErrFormat, dir, v, FormatVersion)
	case v != FormatVersion:
		return v, fmt.Errorf("%w: %s has format %d, this build reads format %d", ErrFormat, dir, v, FormatVersion)
	}
	return v, nil
}

// checkStorage returns the format of the existing storage dir. It fails,
// wrapping ErrFormat, when dir is not a pwlog storage this build reads.
func checkStorage(fsys vfs.FS, dir string) (int, error) {
	fi, err := fsys.Stat(dir)
	if err != nil {
		return 0, fmt.Errorf("pwlog: storage %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return 0, fmt.Errorf("%w: %s is not a directory", ErrFormat, dir)
	}
	format, err := readMarker(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%w: %s is not a pwlog storage: it has no %s marker", ErrFormat, dir, markerName)
	}
	return format, err
}

// openView reads dir's marker and checkpoint files. It fails when dir is
// not a pwlog storage this build reads; a damaged manifest is not an
// error but recorded in manifestErr.
func openView(fsys vfs.FS, dir string) (*storageView, error) {
	format, err := checkStorage(fsys, dir)
	if err != nil {
		return nil, err
	}
	v := &storageView{fs: fsys, dir: dir, format: format}
	if err := v.listCheckpoint(); err != nil {
		return nil, err
	}
	if len(v.manifests) == 0 {
		return v, nil
	}
	v.manifestName = v.manifests[len(v.manifests)-1]
	v.manifest, v.manifestErr = v.readManifest(v.manifestName)
	if v.manifestErr == nil {
		if err := msgpackx.Unmarshal(v.manifest.Meta, &v.meta); err != nil {
			v.manifestErr = &checkpoint.CorruptError{Object: v.manifestName, Reason: "engine state: " + err.Error()}
			v.manifest = nil
		}
	}
	return v, nil
}

// cpPath returns the path of a checkpoint object.
func (v *storageView) cpPath(name string) string {
	return filepath.Join(v.dir, checkpointDir, filepath.FromSlash(name))
}

func (v *storageView) readManifest(name string) (*checkpoint.Manifest, error) {
	b, err := vfs.ReadFile(v.fs, v.cpPath(name))
	if err != nil {
		return nil, err
	}
	return checkpoint.DecodeManifest(v.cpPath(name), b)
}

// listCheckpoint lists the manifests, runs and temporary files of the
// checkpoint directory; a missing directory holds none.
func (v *storageView) listCheckpoint() error {
	root := filepath.Join(v.dir, checkpointDir)
	var seqs []uint64
	err := walkFiles(v.fs, root, "", func(name string) {
		base := path.Base(name)
		switch seq, ok := checkpoint.ParseManifestName(name); {
		case ok:
			seqs = append(seqs, seq)
		case strings.HasPrefix(base, ".tmp-"):
			v.temps = append(v.temps, name)
		case strings.HasPrefix(name, "runs/") && strings.HasSuffix(name, ".run"):
			v.runs = append(v.runs, name)
		default:
			v.temps = append(v.temps, name)
		}
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pwlog: list %s: %w", root, err)
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		v.manifests = append(v.manifests, checkpoint.ManifestName(s))
	}
	slices.Sort(v.runs)
	slices.Sort(v.temps)
	return nil
}

// walkFiles calls fn with the slash-separated name, relative to root, of
// every regular file under root/rel.
func walkFiles(fsys vfs.FS, root, rel string, fn func(name string)) error {
	des, err := fsys.ReadDir(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	for _, de := range des {
		name := path.Join(rel, de.Name())
		if de.IsDir() {
			if err := walkFiles(fsys, root, name, fn); err != nil {
				return err
			}
			continue
		}
		fn(name)
	}
	return nil
}

// dirBytes returns the bytes of every file under dir but a lock file at
// its top: the lock holds its holder's pid, not data.
func dirBytes(fsys vfs.FS, dir string) int64 {
	var n int64
	_ = walkFiles(fsys, dir, "", func(name string) {
		if name == "LOCK" {
			return
		}
		if fi, err := fsys.Lstat(filepath.Join(dir, filepath.FromSlash(name))); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	})
	return n
}

// LockInfo says whether a process holds a storage.
type LockInfo struct {
	Held bool `json:"held"`
	// Holder is what the holder wrote in the lock file: its pid and since
	// when.
	Holder string `json:"holder,omitempty"`
	// Unknown says why the lock could not be probed (a read-only
	// directory); Held is then false.
	Unknown string `json:"unknown,omitempty"`
}

// probeLock tells whether a process holds dir's lock. It takes the lock
// for an instant when nobody holds it, so a pipeline starting at that
// very instant is refused with ErrLocked; it does not create the lock
// file.
func probeLock(fsys vfs.FS, dir string) LockInfo {
	p := filepath.Join(dir, "LOCK")
	if _, err := fsys.Stat(p); errors.Is(err, os.ErrNotExist) {
		return LockInfo{}
	}
	f, err := fsys.Lock(p)
	switch {
	case err == nil:
		f.Close()
		return LockInfo{}
	case errors.Is(err, syscall.EWOULDBLOCK):
		holder, _ := vfs.ReadFile(fsys, p)
		return LockInfo{Held: true, Holder: describeHolder(string(holder))}
	}
	return LockInfo{Unknown: err.Error()}
}

// scanLog scans the storage's log (wal.Scan); a storage whose log was
// never created has an empty one.
func (v *storageView) scanLog(progress func(done, total int64), fn func(wal.Entry) error) (wal.Info, error) {
	dir := filepath.Join(v.dir, "wal")
	info, err := wal.Scan(dir, &wal.ScanOptions{FS: v.fs, Progress: progress}, fn)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := v.fs.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			return wal.Info{Dir: dir, FirstLSN: 1}, nil
		}
	}
	return info, err
}
