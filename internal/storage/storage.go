// Package storage is what every reader and writer of a pwlog storage
// directory shares: its format marker, its lock, a read-only view of its
// checkpoint files, and State, the one fold of a manifest and the
// committed log into what they describe. The engine (package pwlog) and
// the tools (package tool) both use it; the layout of the directory is
// drawn in package base.
package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/vfs"
)

// FormatVersion is the storage format this build reads and writes.
const FormatVersion = 1

// ErrFormat reports a storage directory this build cannot use.
var ErrFormat = errors.New("pwlog: unsupported storage")

// ErrMarkerDamaged reports a storage whose format marker is not one: the
// directory holds a log or checkpoints, so it is a storage, but the
// marker cannot tell which format. It wraps ErrFormat.
var ErrMarkerDamaged = fmt.Errorf("%w: damaged format marker", ErrFormat)

func markerText(v int) []byte { return fmt.Appendf(nil, "pwlog storage format %d\n", v) }

// ReadMarker returns the format version of dir's marker. It fails with
// an error wrapping ErrFormat when the marker is not one (wrapping
// ErrMarkerDamaged too) or its version is not FormatVersion, and with
// one wrapping fs.ErrNotExist when dir has no marker.
func ReadMarker(fsys vfs.FS, dir string) (int, error) {
	p := filepath.Join(dir, base.Marker)
	b, err := vfs.ReadFile(fsys, p)
	if err != nil {
		return 0, err
	}
	var v int
	if _, err := fmt.Sscanf(string(b), "pwlog storage format %d", &v); err != nil || !slices.Equal(b, markerText(v)) {
		return 0, fmt.Errorf("%w: %s holds %q, not \"pwlog storage format N\"", ErrMarkerDamaged, p, truncate(b, 40))
	}
	switch {
	case v > FormatVersion:
		return v, fmt.Errorf("%w: %s has format %d, newer than this build's format %d: use a newer pwlog", ErrFormat, dir, v, FormatVersion)
	case v != FormatVersion:
		return v, fmt.Errorf("%w: %s has format %d, this build reads format %d", ErrFormat, dir, v, FormatVersion)
	}
	return v, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// Check returns the format of the existing storage dir. It fails,
// wrapping ErrFormat, when dir is not a pwlog storage this build reads,
// and wrapping fs.ErrNotExist when dir does not exist.
func Check(fsys vfs.FS, dir string) (int, error) {
	fi, err := fsys.Stat(dir)
	if err != nil {
		return 0, fmt.Errorf("pwlog: storage %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return 0, fmt.Errorf("%w: %s is not a directory", ErrFormat, dir)
	}
	format, err := ReadMarker(fsys, dir)
	if errors.Is(err, fs.ErrNotExist) {
		if hasData(fsys, dir) {
			return 0, fmt.Errorf("%w: %s has a %s/ or %s/ but its %s marker is missing", ErrMarkerDamaged, dir, base.LogDir, base.CheckpointDir, base.Marker)
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

// EnsureMarker verifies the format marker of dir, creating it (durably)
// in a new or empty storage directory.
func EnsureMarker(fsys vfs.FS, dir string) error {
	_, err := ReadMarker(fsys, dir)
	switch {
	case err == nil, errors.Is(err, ErrFormat):
		return err
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("pwlog: %w", err)
	}
	if hasData(fsys, dir) {
		return fmt.Errorf("%w: %s has a %s/ or %s/ but no %s marker", ErrMarkerDamaged, dir, base.LogDir, base.CheckpointDir, base.Marker)
	}
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

// isTemp reports whether the slash-separated name is a temporary file.
func isTemp(name string) bool {
	b := name[strings.LastIndexByte(name, '/')+1:]
	return strings.HasPrefix(b, base.TempPrefix) || strings.HasSuffix(b, base.TempSuffix)
}
