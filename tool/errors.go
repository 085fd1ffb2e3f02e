package tool

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/internal/storage"
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
	// ErrLocked reports that another process holds the storage (its
	// lock, or in an object store the writer's lease, which the error
	// wraps too: objlog.ErrLeaseHeld): Compact and Resnapshot refuse to run.
	ErrLocked = storage.ErrLocked
)

// MarkerError reports a storage whose format marker (the file PWLOG) is
// damaged or missing while its log or checkpoints exist. It wraps
// ErrMarkerDamaged.
type MarkerError = storage.MarkerError

// UnknownNameError reports a source, operator or sink that Dump was asked
// to select, or a sink Resnapshot was asked for, and the storage does not
// know: no catalog, offset, acknowledgement or record names it.
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
