package tool

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/internal/location"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/wal"
)

// FormatVersion is the storage format this build writes: the one Compact
// upgrades a storage of an older format to, and the only one a pipeline
// opens.
const FormatVersion = storage.FormatVersion

// CompactStats reports what Compact did.
type CompactStats struct {
	// BytesBefore and BytesAfter are the bytes of every file of the
	// storage but its lock file, as Inspect counts them.
	BytesBefore int64 `json:"bytes_before"`
	BytesAfter  int64 `json:"bytes_after"`
	// FoldedLSN is the last log record folded into the checkpoint; the
	// log keeps only what follows it.
	FoldedLSN uint64 `json:"folded_lsn"`
	// Compacted is false when the log held nothing to fold: only
	// garbage was collected, and the fields below describe the
	// checkpoint as it stands.
	Compacted bool `json:"compacted"`
	// FormatBefore is the storage's format before Compact; Upgraded is
	// true when it was older than FormatVersion and Compact
	// upgraded the storage: it rewrote the RunsUpgraded runs of format 1
	// of its checkpoint in format 2 (none when an interrupted Compact
	// had) and replaced the marker. The fields below describe the fold
	// that followed.
	FormatBefore int  `json:"format_before"`
	Upgraded     bool `json:"upgraded"`
	RunsUpgraded int  `json:"runs_upgraded"`
	compaction.Stats
	// Committed is what the checkpoint and the committed log added up to
	// before the compaction (see StorageInfo.Committed): the compaction
	// keeps it. It is not printed.
	Committed record.Summary `json:"-"`
}

// CompactOptions configures Compact.
type CompactOptions struct {
	// Logger receives one line per step. Default slog.Default().
	Logger *slog.Logger
	// FS is the filesystem written through; see pwlog.Config.FS.
	// Default vfs.Default.
	FS vfs.FS
	// Backend, when set, is the storage, kept in an object store, and dir
	// only names it; see ReadOptions.Backend. When nil, a dir that is a
	// storage URL is opened as internal/location says.
	Backend backend.Backend
	// Progress, when set, receives how many of the log's records after
	// the checkpoint have been read, of total; writing the checkpoint
	// follows the last call.
	Progress func(done, total int64)
}

// Compact folds the committed log of a stopped pipeline's storage (a
// directory or a storage URL, see CompactOptions.Backend) into its
// checkpoint, merges runs, truncates the log and deletes what the new
// checkpoint does not need. It takes the storage lock, so it refuses
// (ErrLocked) while a pipeline runs, and it refuses a storage whose
// format marker is damaged (a *MarkerError). Sink rows that a crashed
// execution did not get to acknowledge stay in the log for the next one
// to re-emit: the fold stops before the first of them. When there is
// nothing to fold it only deletes garbage: Compacted is false and the
// stats describe the checkpoint in force.
//
// A storage of format 1, whose checkpoint runs have no block index, is
// upgraded to format 2 (Upgraded): its runs of format 1 are rewritten
// in format 2 (compaction.Compactor.Upgrade), then the log is folded as
// usual, then the marker is replaced (atomically, file and directory
// fsynced: storage.WriteMarker). In that order a crash leaves either the
// old manifest (runs of format 1, marker 1) or a newer one (runs of
// format 2 only, marker still 1): the engine refuses both, and Compact
// again finishes the upgrade, finding no run of format 1 to rewrite in
// the second case and just replacing the marker. The marker says 2 only
// once no run of format 1 is in force.
//
// A storage in an object store has no lock: Compact takes the writer's
// lease instead (objlog.AcquireLease), refused while a pipeline holds it
// with an error wrapping ErrLocked and naming the holder, and opens the
// log with the lease's epoch, which fences an older writer. None there is
// of format 1: a storage of another format than FormatVersion is
// refused.
func Compact(ctx context.Context, dir string, opts *CompactOptions) (CompactStats, error) {
	dir = location.LocalPath(dir)
	var st CompactStats
	var o CompactOptions
	if opts != nil {
		o = *opts
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	t, err := takeStorage(ctx, dir, o.Backend, o.FS, o.Logger)
	if err != nil {
		return st, err
	}
	defer t.close()
	if t.b != nil {
		return compactObjects(ctx, t, &o)
	}
	format := t.format
	st.FormatBefore = format
	st.BytesBefore = storage.Bytes(o.FS, dir)
	if err := t.open(ctx); err != nil {
		return st, err
	}
	comp := t.comp
	upgradeDeleted := 0
	if format < storage.FormatVersion {
		// Format 1 differs from format 2 in its runs only. They are
		// rewritten first, so that the fold's merges read runs of
		// format 2 in place.
		start := time.Now()
		n, us, err := comp.Upgrade(ctx)
		if err != nil {
			return st, fmt.Errorf("pwlog: upgrade the checkpoint: %w", err)
		}
		st.RunsUpgraded, upgradeDeleted = n, us.ObjectsDeleted
		if n > 0 {
			o.Logger.Info("Rewrote the checkpoint's runs of format 1 in format 2", slog.Uint64("manifest", us.Seq),
				slog.Int("runs_upgraded", n), slog.Int("runs_written", us.RunsWritten), slog.Duration("duration", time.Since(start)))
		}
	}
	if err := fold(ctx, t.log, comp, &o, &st); err != nil {
		return st, err
	}
	st.ObjectsDeleted += upgradeDeleted
	if format < storage.FormatVersion {
		// Last: no run of format 1 is in force any more.
		if err := storage.WriteMarker(o.FS, dir); err != nil {
			return st, err
		}
		st.Upgraded = true
		o.Logger.Info("Upgraded the storage", slog.Int("from_format", format), slog.Int("to_format", storage.FormatVersion))
	}
	if err := t.closeLog(); err != nil {
		return st, err
	}
	st.BytesAfter = storage.Bytes(o.FS, dir)
	return st, t.close()
}

// compactObjects is Compact for a storage in an object store, taken
// under the writer's lease: it opens the log with the lease's epoch
// (fencing any older writer), folds it into the checkpoint and lets the
// lease go. No storage in an object store was ever of format 1
// (takeStorage refuses one that says so).
func compactObjects(ctx context.Context, t *taken, o *CompactOptions) (CompactStats, error) {
	st := CompactStats{FormatBefore: t.format}
	b := t.b
	st.BytesBefore = listBytes(ctx, b, nil)
	if err := t.open(ctx); err != nil {
		return st, err
	}
	l, comp := t.log, t.comp
	if err := fold(ctx, l, comp, o, &st); err != nil {
		return st, t.damage(err)
	}
	if m := comp.Manifest(); m != nil && !st.Compacted {
		// Open placed a fence object after the log's last: the log's
		// objects the checkpoint covers (an earlier fence) go, as a fold
		// would truncate them.
		if err := l.TruncateFront(m.LSN + 1); err != nil {
			return st, fmt.Errorf("pwlog: truncate the log: %w", err)
		}
	}
	if err := t.closeLog(); err != nil {
		return st, err
	}
	known := map[string]int64{}
	if m := comp.Manifest(); m != nil {
		for _, r := range m.Runs {
			known[base.CheckpointDir+"/"+r.Name] = r.Bytes
		}
	}
	st.BytesAfter = listBytes(ctx, b, known)
	return st, t.close()
}

// fold folds the log into comp's checkpoint (foldLog, then Apply), or
// when there is nothing to fold only collects garbage, and fills st.
func fold(ctx context.Context, l replayLog, comp *compaction.Compactor, o *CompactOptions, st *CompactStats) error {
	f, err := foldLog(l, comp, o.Progress, &st.Committed)
	if err != nil {
		return err
	}
	if m := comp.Manifest(); f.LSN > 0 && (m == nil || f.LSN > m.LSN) {
		start := time.Now()
		cs, err := comp.Apply(ctx, f)
		st.Stats, st.Compacted = cs, true
		if err != nil {
			return fmt.Errorf("pwlog: %w", err)
		}
		o.Logger.Info("Compacted the log into a checkpoint", slog.Uint64("manifest", cs.Seq),
			slog.Uint64("lsn", f.LSN), slog.Int64("entries_folded", cs.EntriesFolded), slog.Duration("duration", time.Since(start)))
	} else {
		n, err := comp.Collect(ctx)
		if err != nil {
			return fmt.Errorf("pwlog: %w", err)
		}
		st.ObjectsDeleted = n
		if m != nil {
			st.Seq = m.Seq
			st.LiveRuns = len(m.Runs)
			for _, r := range m.Runs {
				st.LiveBytes += r.Bytes
			}
		}
	}
	if m := comp.Manifest(); m != nil {
		st.FoldedLSN = m.LSN
	}
	return nil
}

// replayLog is what foldLog reads of a log: a *wal.Log or an
// *objlog.Log.
type replayLog interface {
	FirstLSN() uint64
	LastLSN() uint64
	Replay(from uint64, fn func(wal.Record) error) error
}

// foldLog reads the log after the checkpoint and returns the compaction
// fold up to the last commit at which every sink had acknowledged every
// row; a fold with LSN 0 when there is no such commit. It sets sum to
// what the checkpoint and the whole committed log add up to.
func foldLog(l replayLog, comp *compaction.Compactor, progress func(done, total int64), sum *record.Summary) (compaction.Fold, error) {
	var f compaction.Fold
	s, err := storage.NewState(comp.Manifest())
	if err != nil {
		return f, fmt.Errorf("pwlog: %w", err)
	}
	var encErr error // the one error of the hooks
	pending := map[compaction.ArrKey]*differential.Deltas{}
	folded := map[compaction.ArrKey]*differential.Deltas{}
	s.OnState = func(_ uint64, r *record.State, _ int) error {
		k := compaction.ArrKey{Operator: r.Operator, Arrangement: r.Arrangement}
		d := pending[k]
		if d == nil {
			d = &differential.Deltas{}
			pending[k] = d
		}
		d.Append(r.Deltas)
		return nil
	}
	s.OnCommit = func(lsn uint64, _ *record.Commit) error {
		if !s.AllAcked() {
			return nil
		}
		// Every sink holds every row so far: a point to fold to.
		for k, d := range pending {
			fd := folded[k]
			if fd == nil {
				fd = &differential.Deltas{}
				folded[k] = fd
			}
			fd.Append(*d)
		}
		clear(pending)
		meta, err := record.EncodeMeta(&record.Meta{Offsets: s.Offsets, Acks: s.Acks, Catalog: s.Catalog})
		if err != nil {
			encErr = err
			return err
		}
		f = compaction.Fold{LSN: lsn, Clock: s.Clock, Fingerprint: s.Fingerprint, Deltas: folded, Meta: meta}
		return nil
	}
	err = replayState(l, s, progress)
	if encErr != nil {
		return f, fmt.Errorf("pwlog: read log: %w", encErr)
	}
	if err != nil {
		return f, err
	}
	*sum = s.Summary()
	return f, nil
}

// replayState folds the log's records after s's LSN into s, reporting
// progress (records read, of total) when it is set. An error of s.Add is
// reported as damage (a record that does not decode, or a batch that
// breaks the format's rules): a caller whose hooks may fail tells their
// error apart itself.
func replayState(l replayLog, s *storage.State, progress func(done, total int64)) error {
	from := max(l.FirstLSN(), s.LSN+1)
	total := int64(l.LastLSN()) - int64(from) + 1
	err := l.Replay(from, func(r wal.Record) error {
		if progress != nil && (r.LSN%256 == 0 || r.LSN == l.LastLSN()) {
			progress(int64(r.LSN-from)+1, total)
		}
		if err := s.Add(r); err != nil {
			return &damageError{err}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pwlog: read log: %w", err)
	}
	return nil
}
