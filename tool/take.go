package tool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/objlog"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/wal"
)

// taken is a storage taken for writing, as the tools that write (Compact,
// Resnapshot) take it: a directory under its lock, or a storage in an
// object store under the writer's lease, its marker checked again once
// taken. open then opens its log and the compactor of its checkpoint.
type taken struct {
	dir    string
	fs     vfs.FS
	logger *slog.Logger
	// b is the root of a storage in an object store, with transient
	// failures retried; nil for a directory.
	b      backend.Backend
	format int
	lock   *storage.Lock // a directory's
	lease  *objlog.Lease // an object store's
	// log and comp are set by open.
	log  writeLog
	comp *compaction.Compactor
}

// writeLog is the log of a taken storage: a *wal.Log or an *objlog.Log.
type writeLog interface {
	replayLog
	compaction.Log
	// Append returns once the records are durable: both logs are
	// opened with a sync interval of 0.
	Append(recs []wal.Record) (uint64, error)
	Close() error
}

// takeStorage takes the storage dir for writing: a directory read and
// written through fsys, or, when b is set or dir is a storage URL, a
// storage in an object store (see CompactOptions.Backend). A directory's
// marker is checked before its lock is taken, so that a directory that is
// no storage gets no lock file, and again under the lock; a lock held by
// another process is an error wrapping ErrLocked that names it. In an
// object store it takes the writer's lease (objlog.AcquireLease), refused
// while a pipeline holds it with an error wrapping ErrLocked and naming
// the holder; no storage there was ever of another format than
// FormatVersion, and one that says so is refused.
func takeStorage(ctx context.Context, dir string, b backend.Backend, fsys vfs.FS, logger *slog.Logger) (*taken, error) {
	t := &taken{dir: dir, fs: fsys, logger: logger}
	ob, err := objectStore(dir, b, logger)
	if err != nil {
		return nil, err
	}
	if ob == nil {
		if _, err := storage.Check(fsys, dir); err != nil {
			return nil, err
		}
		if t.lock, err = storage.TakeLock(fsys, dir); err != nil {
			return nil, err
		}
		// The marker again, under the lock.
		if t.format, err = storage.Check(fsys, dir); err != nil {
			t.lock.Close()
			return nil, err
		}
		return t, nil
	}
	t.b = ob
	check := func() error {
		format, _, err := checkMarkerObject(ctx, ob, dir)
		if err == nil && format != storage.FormatVersion {
			err = fmt.Errorf("%w: %s has format %d: a storage in an object store is of format %d only, and compact upgrades none",
				ErrFormat, dir, format, storage.FormatVersion)
		}
		t.format = format
		return err
	}
	if err := check(); err != nil {
		return nil, err
	}
	t.lease, err = objlog.AcquireLease(ctx, ob, &objlog.LeaseOptions{Logger: logger})
	if errors.Is(err, objlog.ErrLeaseHeld) {
		return nil, fmt.Errorf("%w: %s is in use: %w", ErrLocked, dir, err)
	}
	if err != nil {
		return nil, fmt.Errorf("pwlog: %s: %w", dir, err)
	}
	// The marker again, under the lease.
	if err := check(); err != nil {
		t.lease.Close()
		return nil, err
	}
	return t, nil
}

// open opens the log of the taken storage (a directory's through
// wal.Open, which repairs its tail; an object store's through objlog.Open
// with the lease's epoch, which fences any older writer) and the
// compactor of its checkpoint (compaction.Open: the manifest in force).
func (t *taken) open(ctx context.Context) error {
	var cb backend.Backend
	if t.b == nil {
		l, err := wal.Open(storage.LogDir(t.dir), &wal.Options{Logger: t.logger, FS: t.fs})
		if err != nil {
			return fmt.Errorf("pwlog: open log: %w", err)
		}
		t.log = l
		if cb, err = backend.NewFilesystemFS(t.fs, storage.CheckpointDir(t.dir)); err != nil {
			return fmt.Errorf("pwlog: checkpoint storage: %w", err)
		}
	} else {
		l, err := objlog.Open(ctx, backend.Sub(t.b, base.LogDir), &objlog.Options{Epoch: t.lease.Epoch(), Logger: t.logger})
		if err != nil {
			return fmt.Errorf("pwlog: open log: %w", t.damage(err))
		}
		t.log = l
		cb = backend.Sub(t.b, base.CheckpointDir)
	}
	comp, err := compaction.Open(ctx, cb, t.log, nil)
	if err != nil {
		return fmt.Errorf("pwlog: %w", err)
	}
	t.comp = comp
	return nil
}

// damage returns err, naming a damaged log object of an object store by
// its URL: objlog names it relative to the log.
func (t *taken) damage(err error) error {
	var we *wal.CorruptError
	if t.b != nil && errors.As(err, &we) && we.File != "" && !strings.HasPrefix(we.File, objectURL(t.dir, "")) {
		we.File = objectURL(t.dir, base.LogDir+"/"+we.File)
	}
	return err
}

// closeLog closes the log. In an object store it then fails when another
// writer took the storage over meanwhile: what was written is fenced, or
// done again by it.
func (t *taken) closeLog() error {
	if t.log == nil {
		return nil
	}
	err := t.log.Close()
	t.log = nil
	if err != nil {
		return err
	}
	if t.lease != nil {
		if err := t.lease.Err(); err != nil {
			return fmt.Errorf("pwlog: %s: %w", t.dir, err)
		}
	}
	return nil
}

// close closes the log if it is open, and lets the storage go: its lock,
// or the lease, which is deleted if it is still ours. It may be called
// again, and after an error.
func (t *taken) close() error {
	if t.log != nil {
		t.log.Close()
		t.log = nil
	}
	if t.lease != nil {
		err := t.lease.Close()
		t.lease = nil
		if err != nil {
			return fmt.Errorf("pwlog: %s: %w", t.dir, err)
		}
		return nil
	}
	return t.lock.Close()
}
