package tool

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"

	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/wal"
)

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

// view is what the read-only tools know of a storage before they read
// its log: the marker, the checkpoint's files and its live manifest.
// Nothing here writes: not the marker, not the lock, not a repair.
type view struct {
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
	// markerErr is the damage of the format marker, when openView was
	// told to read a storage with a damaged marker; format is then this
	// build's.
	markerErr *MarkerError
	// state is the manifest's state, before the log: an empty storage's
	// when there is no manifest or it is damaged.
	state *storage.State
}

// openView reads dir's marker and checkpoint files. It fails when dir is
// not a pwlog storage this build reads, and with a *MarkerError when its
// marker is damaged unless damagedMarker is set: then the storage is read
// as one of this build's format and the damage is in markerErr. A damaged
// manifest is not an error but recorded in manifestErr.
func openView(fsys vfs.FS, dir string, damagedMarker bool) (*view, error) {
	format, err := storage.Check(fsys, dir)
	var me *MarkerError
	if damagedMarker && errors.As(err, &me) {
		format, err = storage.FormatVersion, nil
	}
	if err != nil {
		return nil, err
	}
	v := &view{fs: fsys, dir: dir, format: format, markerErr: me}
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
	if v.state == nil {
		v.state, _ = storage.NewState(nil)
	}
	return v, nil
}

// cpPath returns the path of a checkpoint object.
func (v *view) cpPath(name string) string {
	return filepath.Join(storage.CheckpointDir(v.dir), filepath.FromSlash(name))
}

func (v *view) readManifest(name string) (*checkpoint.Manifest, error) {
	b, err := vfs.ReadFile(v.fs, v.cpPath(name))
	if err != nil {
		return nil, err
	}
	return checkpoint.DecodeManifest(v.cpPath(name), b)
}

// listCheckpoint lists the manifests, runs and temporary files of the
// checkpoint directory; a missing directory holds none.
func (v *view) listCheckpoint() error {
	root := storage.CheckpointDir(v.dir)
	var seqs []uint64
	err := storage.WalkFiles(v.fs, root, "", func(name string) {
		if seq, ok := base.ParseManifestName(name); ok {
			seqs = append(seqs, seq)
		} else if _, ok := base.ParseRunName(name); ok {
			v.runs = append(v.runs, name)
		} else {
			// Temporary files, and anything else a crash or a person
			// left: not part of a checkpoint.
			v.temps = append(v.temps, name)
		}
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
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

// scanLog scans the storage's log (wal.Scan); a storage whose log was
// never created has an empty one.
func (v *view) scanLog(progress func(done, total int64), fn func(wal.Entry) error) (wal.Info, error) {
	dir := storage.LogDir(v.dir)
	info, err := wal.Scan(dir, &wal.ScanOptions{FS: v.fs, Progress: progress}, fn)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := v.fs.Stat(dir); errors.Is(serr, fs.ErrNotExist) {
			return wal.Info{Dir: dir, FirstLSN: 1}, nil
		}
	}
	return info, err
}
