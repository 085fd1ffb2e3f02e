package pwlog

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/msgpackx"
	"github.com/pwlog/pwlog/sources"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/wal"
)

// CompactStats reports what Compact did.
type CompactStats struct {
	// BytesBefore and BytesAfter are the bytes of every file of the
	// storage but its lock file, as Inspect counts them.
	BytesBefore, BytesAfter int64
	// FoldedLSN is the last log record folded into the checkpoint; the
	// log keeps only what follows it.
	FoldedLSN uint64
	compaction.Stats
}

// CompactOptions configures Compact.
type CompactOptions struct {
	// Logger receives one line per step. Default slog.Default().
	Logger *slog.Logger
	// FS is the filesystem written through; see Config.FS. Default
	// vfs.Default.
	FS vfs.FS
	// Progress, when set, receives how many of the log's records after
	// the checkpoint have been read, of total; writing the checkpoint
	// follows the last call.
	Progress func(done, total int64)
}

// Compact folds the committed log of a stopped pipeline's storage into its
// checkpoint, merges runs, truncates the log and deletes what the new
// checkpoint does not need. It takes the storage lock, so it refuses
// (ErrLocked) while a pipeline runs. Sink rows that a crashed run did not
// get to acknowledge stay in the log for the next run to re-emit: the
// fold stops before the first of them.
func Compact(ctx context.Context, dir string, opts *CompactOptions) (CompactStats, error) {
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
	logger := o.Logger
	if _, err := checkStorage(o.FS, dir); err != nil {
		return st, err
	}
	lock, err := lockStorage(o.FS, dir)
	if err != nil {
		return st, err
	}
	defer lock.Close()
	if err := checkMarker(o.FS, dir); err != nil {
		return st, err
	}
	st.BytesBefore = dirBytes(o.FS, dir)
	l, err := wal.Open(filepath.Join(dir, "wal"), &wal.Options{Logger: logger, FS: o.FS})
	if err != nil {
		return st, fmt.Errorf("pwlog: open log: %w", err)
	}
	defer l.Close()
	b, err := backend.NewFilesystemFS(o.FS, filepath.Join(dir, checkpointDir))
	if err != nil {
		return st, fmt.Errorf("pwlog: checkpoint storage: %w", err)
	}
	comp, err := compaction.Open(ctx, b, l, nil)
	if err != nil {
		return st, err
	}
	f, err := scanFold(l, comp, o.Progress)
	if err != nil {
		return st, err
	}
	if f.LSN > 0 && (comp.Manifest() == nil || f.LSN > comp.Manifest().LSN) {
		start := time.Now()
		cs, err := comp.Apply(ctx, f)
		st.Stats = cs
		if err != nil {
			return st, err
		}
		logger.Info("Compacted the log into a checkpoint", slog.Uint64("manifest", cs.Seq),
			slog.Uint64("lsn", f.LSN), slog.Int64("entries_folded", cs.EntriesFolded), slog.Duration("duration", time.Since(start)))
	} else if _, err := comp.Collect(ctx); err != nil {
		return st, err
	}
	st.FoldedLSN = f.LSN
	if m := comp.Manifest(); m != nil {
		st.FoldedLSN = m.LSN
	}
	if err := l.Close(); err != nil {
		return st, err
	}
	st.BytesAfter = dirBytes(o.FS, dir)
	return st, nil
}

// scanFold reads the log after the checkpoint and returns the fold up to
// the last commit at which every sink had acknowledged every row.
func scanFold(l *wal.Log, comp *compaction.Compactor, progress func(done, total int64)) (compaction.Fold, error) {
	var f compaction.Fold
	offsets := map[string]map[string]sources.FileState{}
	acks := map[string]SinkAck{}
	var fingerprint []string
	var cat *Catalog
	from := l.FirstLSN()
	if m := comp.Manifest(); m != nil {
		var meta storageMeta
		if err := msgpackx.Unmarshal(m.Meta, &meta); err != nil {
			return f, fmt.Errorf("pwlog: manifest %d: engine state: %w", m.Seq, err)
		}
		for name, states := range meta.Sources {
			files := map[string]sources.FileState{}
			for _, s := range states {
				files[s.Path] = s
			}
			offsets[name] = files
		}
		for name, a := range meta.Acks {
			acks[name] = a
		}
		fingerprint = m.Fingerprint
		cat = meta.Catalog
		f.Clock = m.Clock
		from = max(from, m.LSN+1)
	}
	pending := map[compaction.ArrKey]*differential.Deltas{}
	folded := map[compaction.ArrKey]*differential.Deltas{}
	unacked := map[string]uint64{} // sink -> newest output time
	var batch []wal.Record
	var clock uint64 = f.Clock
	total := int64(l.LastLSN()) - int64(from) + 1
	err := l.Replay(from, func(r wal.Record) error {
		if progress != nil && (r.LSN%256 == 0 || r.LSN == l.LastLSN()) {
			progress(int64(r.LSN-from)+1, total)
		}
		if r.Kind != KindCommit {
			if r.Kind != KindInput {
				batch = append(batch, wal.Record{LSN: r.LSN, Kind: r.Kind, Data: append([]byte(nil), r.Data...)})
			}
			return nil
		}
		var c CommitRecord
		if err := unmarshalRecord(r.Data, &c); err != nil {
			return fmt.Errorf("pwlog: commit record at LSN %d: %w", r.LSN, err)
		}
		for _, b := range batch {
			v, err := DecodeRecord(b.Kind, b.Data)
			if err != nil {
				return fmt.Errorf("LSN %d: %w", b.LSN, err)
			}
			switch rec := v.(type) {
			case *StateRecord:
				k := compaction.ArrKey{Operator: rec.Operator, Arrangement: rec.Arrangement}
				d := pending[k]
				if d == nil {
					d = &differential.Deltas{}
					pending[k] = d
				}
				d.Append(rec.Deltas)
			case *OutputRecord:
				unacked[rec.Sink] = max(unacked[rec.Sink], rec.Time)
			case *PipelineRecord:
				fingerprint = rec.Lines
				if rec.Catalog != nil {
					cat = rec.Catalog
				}
			}
		}
		batch = batch[:0]
		clock = max(clock, c.Time)
		mergeOffsets(offsets, &c)
		for name, a := range c.Acks {
			acks[name] = a
			if unacked[name] <= a.Time {
				delete(unacked, name)
			}
		}
		if len(unacked) > 0 {
			return nil
		}
		// Every sink holds every row so far: this is a point to fold to.
		for k, d := range pending {
			fd := folded[k]
			if fd == nil {
				fd = &differential.Deltas{}
				folded[k] = fd
			}
			fd.Append(*d)
		}
		clear(pending)
		meta, err := encodeMeta(offsets, acks, cat)
		if err != nil {
			return err
		}
		f = compaction.Fold{LSN: r.LSN, Clock: clock, Fingerprint: fingerprint, Deltas: folded, Meta: meta}
		return nil
	})
	if err != nil {
		return f, fmt.Errorf("pwlog: read log: %w", err)
	}
	return f, nil
}
