package tool

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/wal"
)

// The errors the tools return, to test with errors.Is. They are the
// storage's own (pwlog.ErrFormat and pwlog.ErrLocked are the same
// values).
var (
	// ErrFormat reports a directory the tools cannot read: not a pwlog
	// storage, or one of a format this build does not read.
	ErrFormat = storage.ErrFormat
	// ErrMarkerDamaged reports a storage whose format marker is damaged or
	// missing while its log or checkpoints exist: a *MarkerError. It wraps
	// ErrFormat.
	ErrMarkerDamaged = storage.ErrMarkerDamaged
	// ErrLocked reports that another process holds the storage: Compact
	// refuses to run.
	ErrLocked = storage.ErrLocked
)

// MarkerError reports a storage whose format marker (the file PWLOG) is
// damaged: it does not hold a format marker, or it is missing while the
// directory holds a log or checkpoints. The storage is one, damaged; its
// log and checkpoints may be intact, and Verify checks them. It wraps
// ErrMarkerDamaged.
type MarkerError struct {
	Dir string
	// Missing is true when there is no marker file; Content is what the
	// file holds otherwise.
	Missing bool
	Content []byte
	err     error // the storage's error
}

func (e *MarkerError) Error() string {
	return fmt.Sprintf("the format marker %s is damaged: %s %s", base.Marker, e.path(), e.what())
}

// what says what is wrong with the marker, after its path.
func (e *MarkerError) what() string {
	if e.Missing {
		return fmt.Sprintf("is missing, but %s holds a %s/ or %s/", e.Dir, base.LogDir, base.CheckpointDir)
	}
	c, more := e.Content, ""
	if len(c) > 40 {
		c, more = c[:40], "..."
	}
	return fmt.Sprintf("holds %q%s, not %q", c, more, "pwlog storage format N\n")
}

func (e *MarkerError) path() string { return filepath.Join(e.Dir, base.Marker) }

// Unwrap returns the storage's error, which wraps ErrMarkerDamaged.
func (e *MarkerError) Unwrap() error { return e.err }

// checkStorage returns the format of the storage dir, as storage.Check,
// with a damaged marker reported as a *MarkerError.
func checkStorage(fsys vfs.FS, dir string) (int, error) {
	format, err := storage.Check(fsys, dir)
	if !errors.Is(err, ErrMarkerDamaged) {
		return format, err
	}
	me := &MarkerError{Dir: dir, err: err}
	b, rerr := vfs.ReadFile(fsys, me.path())
	switch {
	case errors.Is(rerr, fs.ErrNotExist):
		me.Missing = true
	case rerr != nil:
		// The marker was read a moment ago: the storage's error says
		// what it held.
		return 0, err
	default:
		me.Content = b
	}
	return 0, me
}

// UnknownNameError reports a source, operator or sink that Dump was asked
// to select and the storage does not know: no catalog, offset,
// acknowledgement or record names it.
type UnknownNameError struct {
	Dir string
	// What is "source", "operator" or "sink".
	What string
	// Names are the unknown names asked for; Known are the names of that
	// kind the storage knows, sorted.
	Names []string
	Known []string
}

func (e *UnknownNameError) Error() string {
	quoted := make([]string, len(e.Names))
	for i, n := range e.Names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	s := fmt.Sprintf("%s has no %s %s", e.Dir, e.What, strings.Join(quoted, ", "))
	if len(e.Known) == 0 {
		return s + fmt.Sprintf("; it knows no %s", e.What)
	}
	return s + fmt.Sprintf("; its %ss are: %s", e.What, strings.Join(e.Known, ", "))
}

// IsDamage reports whether err, returned by one of the tools, says the
// storage is damaged, rather than that it could not be read or used: a
// damaged format marker, a corrupt log or checkpoint file, a committed
// log record that does not decode or breaks the format's rules.
func IsDamage(err error) bool {
	var we *wal.CorruptError
	var be *storage.BatchError
	var de *damageError
	return errors.Is(err, ErrMarkerDamaged) || errors.Is(err, checkpoint.ErrCorrupt) || errors.Is(err, wal.ErrCorrupt) ||
		errors.As(err, &we) || errors.As(err, &be) || errors.As(err, &de)
}

// damageError marks damage the other packages' errors do not: a log
// record that does not decode.
type damageError struct{ err error }

func (e *damageError) Error() string { return e.err.Error() }
func (e *damageError) Unwrap() error { return e.err }
