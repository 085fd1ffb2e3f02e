// Package storage is what every reader and writer of a pwlog storage
// directory shares: its format marker, its lock, and State, the one fold
// of a manifest and the committed log into what they describe. The engine (package pwlog) and
// the tools (package tool) both use it; the layout of the directory is
// drawn in package base.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/vfs"
)

// FormatVersion is the storage format this build writes and the engine
// reads. Format 2 differs from format 1 in its checkpoint runs only:
// blocks, an index and a filter, read in place (checkpoint.OpenRun).
const FormatVersion = 2

// OldestFormat is the oldest storage format this build reads. The tools
// read a storage of any format from OldestFormat to FormatVersion, and
// tool.Compact upgrades it to FormatVersion; the engine refuses one older
// than FormatVersion (an *OldFormatError).
const OldestFormat = 1

// ErrFormat reports a storage directory this build cannot use.
var ErrFormat = errors.New("pwlog: unsupported storage")

// ErrMarkerDamaged reports a storage whose format marker is damaged
// (see MarkerError). It wraps ErrFormat.
var ErrMarkerDamaged = fmt.Errorf("%w: damaged format marker", ErrFormat)

// MarkerError reports a storage whose format marker (the file PWLOG) is
// damaged: it does not hold a format marker, or it is missing while the
// directory holds a log or checkpoints. The directory is a storage,
// damaged; its log and checkpoints may be intact, and tool.Verify checks
// them. It wraps ErrMarkerDamaged.
type MarkerError struct {
	Dir string
	// Missing is true when there is no marker file; Content is what the
	// file holds otherwise.
	Missing bool
	Content []byte
}

func (e *MarkerError) Error() string {
	return fmt.Sprintf("pwlog: the format marker %s is damaged: %s %s", base.Marker, markerPath(e.Dir), e.Reason())
}

// markerPath names the marker of the storage dir: a file in a directory,
// or an object under a storage URL (s3://bucket/prefix/PWLOG).
func markerPath(dir string) string {
	if strings.Contains(dir, "://") {
		return strings.TrimSuffix(dir, "/") + "/" + base.Marker
	}
	return filepath.Join(dir, base.Marker)
}

// Reason says what is wrong with the marker, as a predicate of it:
// "holds ..., not ..." or "is missing, but ...".
func (e *MarkerError) Reason() string {
	if e.Missing {
		return fmt.Sprintf("is missing, but %s holds a %s/ or %s/", e.Dir, base.LogDir, base.CheckpointDir)
	}
	c, more := e.Content, ""
	if len(c) > 40 {
		c, more = c[:40], "..."
	}
	return fmt.Sprintf("holds %q%s, not %q", c, more, "pwlog storage format N\n")
}

// Unwrap returns ErrMarkerDamaged.
func (e *MarkerError) Unwrap() error { return ErrMarkerDamaged }

// OldFormatError reports a storage of a format older than FormatVersion
// that this build still reads: the engine refuses it, and `pwlog compact`
// (tool.Compact) upgrades it. It wraps ErrFormat.
type OldFormatError struct {
	Dir    string
	Format int
}

func (e *OldFormatError) Error() string {
	return fmt.Sprintf("pwlog: %s has format %d, this build reads format %d: run \"pwlog compact %s\" to upgrade it (its checkpoint runs are rewritten with a block index)",
		e.Dir, e.Format, FormatVersion, e.Dir)
}

// Unwrap returns ErrFormat.
func (e *OldFormatError) Unwrap() error { return ErrFormat }

func markerText(v int) []byte { return fmt.Appendf(nil, "pwlog storage format %d\n", v) }

// ReadMarker returns the format version of dir's marker, one from
// OldestFormat to FormatVersion. It fails with an error wrapping
// ErrFormat when the marker is not one (wrapping ErrMarkerDamaged too) or
// its version is not one this build reads, and with one wrapping
// fs.ErrNotExist when dir has no marker.
func ReadMarker(fsys vfs.FS, dir string) (int, error) {
	p := filepath.Join(dir, base.Marker)
	b, err := vfs.ReadFile(fsys, p)
	if err != nil {
		return 0, err
	}
	return parseMarker(dir, b)
}

// parseMarker returns the format version marker b says, as ReadMarker.
func parseMarker(dir string, b []byte) (int, error) {
	var v int
	if _, err := fmt.Sscanf(string(b), "pwlog storage format %d", &v); err != nil || !slices.Equal(b, markerText(v)) {
		return 0, &MarkerError{Dir: dir, Content: b}
	}
	switch {
	case v > FormatVersion:
		return v, fmt.Errorf("%w: %s has format %d, newer than this build's format %d: use a newer pwlog", ErrFormat, dir, v, FormatVersion)
	case v < OldestFormat:
		return v, fmt.Errorf("%w: %s has format %d, this build reads formats %d to %d", ErrFormat, dir, v, OldestFormat, FormatVersion)
	}
	return v, nil
}

// Check returns the format of the existing storage dir, one from
// OldestFormat to FormatVersion. It fails, wrapping ErrFormat, when dir
// is not a pwlog storage this build reads, and wrapping fs.ErrNotExist
// when dir does not exist.
func Check(fsys vfs.FS, dir string) (int, error) {
	fi, err := fsys.Stat(dir)
	if err != nil {
		return 0, fmt.Errorf("pwlog: storage: %w", err)
	}
	if !fi.IsDir() {
		return 0, fmt.Errorf("%w: %s is not a directory", ErrFormat, dir)
	}
	format, err := ReadMarker(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		if hasData(fsys, dir) {
			return 0, &MarkerError{Dir: dir, Missing: true}
		}
		return 0, fmt.Errorf("%w: %s is not a pwlog storage: it has no %s marker", ErrFormat, dir, base.Marker)
	}
	return format, err
}

// hasData reports whether dir holds a log or checkpoint directory.
func hasData(fsys vfs.FS, dir string) bool {
	for _, d := range []string{base.LogDir, base.CheckpointDir} {
		if fi, err := fsys.Stat(filepath.Join(dir, d)); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

// EnsureMarker verifies that the format marker of dir says FormatVersion,
// creating it (durably) in a new or empty storage directory. A storage of
// an older format is an *OldFormatError.
func EnsureMarker(fsys vfs.FS, dir string) error {
	v, err := ReadMarker(fsys, dir)
	switch {
	case err == nil && v < FormatVersion:
		return &OldFormatError{Dir: dir, Format: v}
	case err == nil, errors.Is(err, ErrFormat):
		return err
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("pwlog: %w", err)
	}
	if hasData(fsys, dir) {
		return &MarkerError{Dir: dir, Missing: true}
	}
	return WriteMarker(fsys, dir)
}

// WriteMarker writes dir's format marker, saying FormatVersion, or
// replaces it: atomically (a temporary file renamed over it) and durably
// (file and directory fsynced), so that a crash leaves the old marker or
// the new one.
func WriteMarker(fsys vfs.FS, dir string) error {
	path := filepath.Join(dir, base.Marker)
	if err := vfs.WriteFileAtomic(fsys, path, markerText(FormatVersion), 0o644); err != nil {
		return fmt.Errorf("pwlog: write %s: %w", path, err)
	}
	return nil
}

// LogDir returns the path of dir's log directory.
func LogDir(dir string) string { return filepath.Join(dir, base.LogDir) }

// CheckpointDir returns the path of dir's checkpoint directory.
func CheckpointDir(dir string) string { return filepath.Join(dir, base.CheckpointDir) }

// WalkFiles calls fn with the slash-separated name, relative to root, of
// every regular file under root/rel.
func WalkFiles(fsys vfs.FS, root, rel string, fn func(name string)) error {
	des, err := fsys.ReadDir(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	for _, de := range des {
		name := filepath.ToSlash(filepath.Join(rel, de.Name()))
		if de.IsDir() {
			if err := WalkFiles(fsys, root, name, fn); err != nil {
				return err
			}
			continue
		}
		fn(name)
	}
	return nil
}

// Bytes returns the bytes of every file under dir but a lock file at its
// top: the lock holds its holder's pid, not data.
func Bytes(fsys vfs.FS, dir string) int64 {
	var n int64
	_ = WalkFiles(fsys, dir, "", func(name string) {
		if name == base.Lock {
			return
		}
		if fi, err := fsys.Lstat(filepath.Join(dir, filepath.FromSlash(name))); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	})
	return n
}

// ReadMarkerObject returns the format version of the marker object of a
// storage in an object store (b is its root; where names it in errors),
// as ReadMarker does for a directory: an error wrapping ErrFormat when
// the object is not a marker or says a format this build does not read,
// and one wrapping backend.ErrNotExist when there is no marker object.
func ReadMarkerObject(ctx context.Context, b backend.Backend, where string) (int, error) {
	data, err := b.Get(ctx, base.Marker)
	if err != nil {
		return 0, fmt.Errorf("pwlog: %s: %w", where, err)
	}
	return parseMarker(where, data)
}

// EnsureMarkerObject does for a storage in an object store what
// EnsureMarker does for a directory: the marker object PWLOG must say
// FormatVersion; in a new storage (no object at all under its prefix) it
// is created, by conditional create. A prefix without the marker that
// holds a log or checkpoints is a damaged storage (a *MarkerError); one
// that holds other objects is not a storage (ErrFormat). where names the
// storage in errors.
func EnsureMarkerObject(ctx context.Context, b backend.Backend, where string) error {
	data, err := b.Get(ctx, base.Marker)
	if errors.Is(err, backend.ErrNotExist) {
		names, lerr := b.List(ctx, "")
		if lerr != nil {
			return fmt.Errorf("pwlog: %s: %w", where, lerr)
		}
		for _, n := range names {
			if strings.HasPrefix(n, base.LogDir+"/") || strings.HasPrefix(n, base.CheckpointDir+"/") {
				return &MarkerError{Dir: where, Missing: true}
			}
		}
		if len(names) > 0 {
			return fmt.Errorf("%w: %s holds %d objects but no format marker %s: it is not a pwlog storage; give a pipeline a prefix of its own",
				ErrFormat, where, len(names), base.Marker)
		}
		err = b.Create(ctx, base.Marker, markerText(FormatVersion))
		if errors.Is(err, backend.ErrExist) {
			return EnsureMarkerObject(ctx, b, where) // another writer created it first
		}
		if err != nil {
			return fmt.Errorf("pwlog: %s: %w", where, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("pwlog: %s: %w", where, err)
	}
	v, err := parseMarker(where, data)
	if err == nil && v < FormatVersion {
		return &OldFormatError{Dir: where, Format: v}
	}
	return err
}
