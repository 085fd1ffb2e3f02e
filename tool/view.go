package tool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/internal/location"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/wal"
)

// ReadOptions configure the read-only tools: Inspect, Dump and Verify.
// The zero value is valid.
type ReadOptions struct {
	// FS is the filesystem read. Default vfs.Default.
	FS vfs.FS
	// Backend, when set, is the storage: one kept in an object store,
	// the backend's root holding its marker PWLOG, its log (wal/), its
	// lease (writer/) and its checkpoint (checkpoints/). The dir the
	// tools are given then only names it in what they report. When nil,
	// a dir that is a storage URL (s3://BUCKET/PREFIX,
	// azure://CONTAINER/PREFIX) is opened as internal/location says, and
	// any other dir is a directory read through FS.
	Backend backend.Backend
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

// objectStore returns the backend of the storage dir when it is kept in
// an object store, given (b) or named by a storage URL, with transient
// failures retried; nil when dir is a directory.
func objectStore(dir string, b backend.Backend, logger *slog.Logger) (backend.Backend, error) {
	if b == nil {
		if !location.Remote(dir) {
			return nil, nil
		}
		var err error
		if b, err = location.Open(dir); err != nil {
			return nil, err
		}
	}
	return backend.Retry(b, &backend.RetryOptions{Logger: logger}), nil
}

// view is what the read-only tools know of a storage before they read
// its log: the marker, the checkpoint's files and its live manifest.
// Nothing here writes: not the marker, not the lock, not a repair.
type view struct {
	ctx context.Context
	fs  vfs.FS
	// b is the root of a storage kept in an object store; nil for a
	// directory.
	b      backend.Backend
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
	// markerErr is the damage of the format marker, when openView was
	// told to read a storage with a damaged marker; format is then this
	// build's.
	markerErr *MarkerError
	// state is the manifest's state, before the log: an empty storage's
	// when there is no manifest or it is damaged.
	state *storage.State
	// objects (an object store only) are the names of every object of
	// the storage as listed when the view was opened; sizes holds the
	// sizes of those the view read or whose size a manifest records.
	objects []string
	sizes   map[string]int64
	// logSizes (an object store only) are the sizes of the log's
	// objects, by name, once logObjectSizes asked for them.
	logSizes map[string]int64
}

// openView reads dir's marker and checkpoint files. It fails when dir is
// not a pwlog storage this build reads, and with a *MarkerError when its
// marker is damaged unless damagedMarker is set: then the storage is read
// as one of this build's format and the damage is in markerErr. A damaged
// manifest is not an error but recorded in manifestErr.
func openView(ctx context.Context, o ReadOptions, dir string, damagedMarker bool) (*view, error) {
	b, err := objectStore(dir, o.Backend, nil)
	if err != nil {
		return nil, err
	}
	v := &view{ctx: ctx, fs: o.FS, b: b, dir: dir}
	var format int
	if b == nil {
		format, err = storage.Check(o.FS, dir)
	} else {
		format, err = v.checkObjects()
	}
	var me *MarkerError
	if damagedMarker && errors.As(err, &me) {
		format, err = storage.FormatVersion, nil
	}
	if err != nil {
		return nil, err
	}
	v.format, v.markerErr = format, me
	if err := v.listCheckpoint(); err != nil {
		return nil, err
	}
	if len(v.manifests) > 0 {
		v.manifestName = v.manifests[len(v.manifests)-1]
		v.manifest, v.manifestErr = v.readManifest(v.manifestName)
	}
	if v.manifest != nil {
		if v.state, err = storage.NewState(v.manifest); err != nil {
			// Name the manifest by its path, as a decoding error does.
			var ce *checkpoint.CorruptError
			if errors.As(err, &ce) {
				ce.Object = v.cpPath(v.manifestName)
			}
			v.manifestErr = err
			v.manifest = nil
		}
	}
	if v.manifest != nil && v.b != nil {
		for _, r := range v.manifest.Runs {
			v.sizes[base.CheckpointDir+"/"+r.Name] = r.Bytes
		}
	}
	if v.state == nil {
		v.state, _ = storage.NewState(nil)
	}
	return v, nil
}

// cpPath returns the path of a checkpoint object: a file, or the URL of
// an object.
func (v *view) cpPath(name string) string {
	if v.b != nil {
		return objectURL(v.dir, base.CheckpointDir+"/"+name)
	}
	return filepath.Join(storage.CheckpointDir(v.dir), filepath.FromSlash(name))
}

// path returns the path of the file or object name (slash-separated,
// relative to the storage).
func (v *view) path(name string) string {
	if v.b != nil {
		return objectURL(v.dir, name)
	}
	return filepath.Join(v.dir, filepath.FromSlash(name))
}

// logPath returns the path of the log directory, or the URL of the log's
// objects.
func (v *view) logPath() string { return v.path(base.LogDir) }

// readCheckpoint returns the content of a checkpoint file or object;
// an error wrapping fs.ErrNotExist or backend.ErrNotExist when there is
// none (notExist).
func (v *view) readCheckpoint(name string) ([]byte, error) {
	if v.b == nil {
		return vfs.ReadFile(v.fs, v.cpPath(name))
	}
	b, err := v.b.Get(v.ctx, base.CheckpointDir+"/"+name)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", v.cpPath(name), err)
	}
	v.sizes[base.CheckpointDir+"/"+name] = int64(len(b))
	return b, nil
}

// notExist reports whether err says a file or object does not exist.
func notExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, backend.ErrNotExist)
}

func (v *view) readManifest(name string) (*checkpoint.Manifest, error) {
	b, err := v.readCheckpoint(name)
	if err != nil {
		return nil, err
	}
	return checkpoint.DecodeManifest(v.cpPath(name), b)
}

// manifestBytes returns the size of the live manifest.
func (v *view) manifestBytes() int64 {
	if v.b != nil {
		return v.sizes[base.CheckpointDir+"/"+v.manifestName]
	}
	if fi, err := v.fs.Stat(v.cpPath(v.manifestName)); err == nil {
		return fi.Size()
	}
	return 0
}

// listCheckpoint lists the manifests, runs and temporary files of the
// checkpoint directory; a missing directory holds none.
func (v *view) listCheckpoint() error {
	root := storage.CheckpointDir(v.dir)
	var seqs []uint64
	add := func(name string) {
		if seq, ok := base.ParseManifestName(name); ok {
			seqs = append(seqs, seq)
		} else if _, ok := base.ParseRunName(name); ok {
			v.runs = append(v.runs, name)
		} else {
			// Temporary files, and anything else a crash or a person
			// left: not part of a checkpoint.
			v.temps = append(v.temps, name)
		}
	}
	if v.b != nil {
		for _, n := range v.objects {
			if name, ok := strings.CutPrefix(n, base.CheckpointDir+"/"); ok {
				add(name)
			}
		}
	} else if err := storage.WalkFiles(v.fs, root, "", add); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pwlog: list %s: %w", root, err)
	}
	slices.Sort(seqs)
	for _, s := range seqs {
		v.manifests = append(v.manifests, base.ManifestName(s))
	}
	slices.Sort(v.runs)
	slices.Sort(v.temps)
	return nil
}

// scanLog scans the storage's log (wal.Scan, or objlog.Scan for a
// storage in an object store); a storage whose log was never created has
// an empty one.
func (v *view) scanLog(progress func(done, total int64), fn func(wal.Entry) error) (wal.Info, error) {
	if v.b != nil {
		return v.scanObjects(progress, fn)
	}
	dir := storage.LogDir(v.dir)
	info, err := wal.Scan(dir, &wal.ScanOptions{FS: v.fs, Progress: progress}, fn)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := v.fs.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			return wal.Info{Dir: dir, FirstLSN: 1}, nil
		}
	}
	return info, err
}

// bytes returns the bytes of the storage's files, as Inspect counts them;
// scan is what scanLog found.
func (v *view) bytes(scan wal.Info) int64 {
	if v.b == nil {
		return storage.Bytes(v.fs, v.dir)
	}
	var rest []string
	for _, n := range v.objects {
		if !strings.HasPrefix(n, base.LogDir+"/") {
			rest = append(rest, n)
		}
	}
	// The log as scanned, the rest as listed.
	return scan.Bytes + objectBytes(v.ctx, v.b, rest, v.sizes)
}
