package pwlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/sources"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/wal"
)

// ErrSinkAhead reports an append-mode sink file holding a time the
// storage has no commit for. Going on would emit that time twice.
var ErrSinkAhead = errors.New("pwlog: the sink is ahead of the storage")

// ErrFormat reports a storage directory this build cannot use: not a
// pwlog storage, a damaged format marker, or another format version.
var ErrFormat = storage.ErrFormat

// ErrLocked reports that another process holds a storage directory.
var ErrLocked = storage.ErrLocked

// ErrPipelineChanged reports a storage written by a different pipeline.
var ErrPipelineChanged = errors.New("pwlog: the pipeline differs from the one that wrote the storage")

// ErrSourceMoved reports a source reading another directory than the one
// the storage recorded for it: its offsets belong to the files of that
// directory. FileOptions.Moved accepts the new directory when the files
// moved there.
var ErrSourceMoved = errors.New("pwlog: the source reads another directory than the storage recorded")

// open takes the storage, replays the log into the operators and sinks,
// and seeks the sources (ARCHITECTURE.md, section 7).
func (e *engine) open() error {
	for _, s := range e.p.sinks {
		e.sinks = append(e.sinks, &sinkState{n: s})
	}
	if e.cfg.Backend == nil {
		for _, s := range e.sinks {
			if s.n.append {
				return fmt.Errorf("pwlog: sink %q: append mode needs persistent storage (Config.Backend)", s.n.name)
			}
		}
	} else if err := e.recover(); err != nil {
		return err
	}
	for _, s := range e.sinks {
		if s.fresh {
			// A fresh file receives the whole table: nothing to resume or
			// re-emit.
			s.ack, s.replay = record.SinkAck{}, nil
			if s.n.fresh != nil {
				s.n.out = s.n.fresh
			}
		}
		if s.out == nil {
			if err := e.openSink(s); err != nil {
				return err
			}
		}
		if s.resnap {
			if err := e.resnapshot(s); err != nil {
				return err
			}
		}
		if err := e.reemit(s); err != nil {
			return err
		}
	}
	// Every committed time is now in every sink's file.
	e.written = e.clock
	e.readers = make([]sources.Reader, len(e.p.nodes))
	for _, n := range e.p.nodes {
		if n.src == nil {
			continue
		}
		prev := e.offsets[n.name]
		if prev == nil {
			prev = map[string]sources.FileState{}
			e.offsets[n.name] = prev
		}
		if err := e.seek(n); err != nil {
			return err
		}
		var bytes, rows int64
		for _, st := range prev {
			bytes += st.Offset
			rows += st.Rows
		}
		e.log.Info("Seek the data source to the frontier",
			slog.String("source", n.name), slog.Int("files", len(prev)),
			slog.Int64("bytes", bytes), slog.Int64("rows", rows))
	}
	return nil
}

// seek opens a source's reader at its committed offsets, in place of the
// one it had: a retracting source retracts the files changed or deleted
// since they were read (in its next time), another fails on a changed
// file and logs a deleted one, once per execution.
func (e *engine) seek(n *node) error {
	r, changed, err := e.openSource(n, e.offsets[n.name])
	var ce *sources.ChangedFileError
	if errors.As(err, &ce) && !n.retract {
		return fmt.Errorf("pwlog: source %q: %w; with FileOptions{Retract: true} the source retracts the rows a changed or deleted file gave and reads it again", n.name, err)
	}
	if err != nil {
		return fmt.Errorf("pwlog: source %q: %w", n.name, err)
	}
	if old := e.readers[n.index]; old != nil {
		old.Close()
	}
	e.readers[n.index] = r
	var deleted []string
	if pr, ok := r.(sources.Partitioned); ok {
		deleted = pr.Deleted()
	} else if n.retract {
		r.Close()
		return fmt.Errorf("pwlog: source %q: Retract needs a connector whose Reader is a sources.Partitioned", n.name)
	}
	if n.retract {
		return e.retract(n, append(changed, deleted...))
	}
	for _, name := range deleted {
		if e.once("deleted", n.name, name) {
			e.log.Warn("A file read earlier is gone; its rows stay in the state (FileOptions.Retract retracts them)",
				slog.String("source", n.name), slog.String("file", name))
		}
	}
	return nil
}

// once tells whether the warning of these words is new to the execution.
func (e *engine) once(words ...string) bool {
	k := strings.Join(words, "\x00")
	if e.warned[k] {
		return false
	}
	if e.warned == nil {
		e.warned = map[string]bool{}
	}
	e.warned[k] = true
	return true
}

func (e *engine) openSink(s *sinkState) error {
	out := s.n.out(e.cfg.FS)
	opened, err := out.Open(sources.Ack{Time: s.ack.Time, Offset: s.ack.Offset})
	if err != nil {
		return fmt.Errorf("pwlog: sink %q: %w", s.n.name, err)
	}
	if opened.Last > e.clock {
		out.Close()
		what := "its output"
		if s.n.path != "" {
			what = s.n.path
		}
		return fmt.Errorf("%w: sink %q: %s holds time %d, but the storage's last commit is time %d: the storage lost committed times (damaged, or restored from an older copy) or the output belongs to another storage; writing on would emit times twice",
			ErrSinkAhead, s.n.name, what, opened.Last, e.clock)
	}
	s.out, s.opened = out, opened
	return nil
}

// resnapshot writes a sink's stored table, as of the last committed time,
// into its fresh file.
func (e *engine) resnapshot(s *sinkState) error {
	rows, err := tableRows(s.n)
	if err != nil || e.clock == 0 {
		return err
	}
	for i := range rows {
		rows[i].Time = e.clock
	}
	if err := s.out.Write(e.clock, rows); err != nil {
		return fmt.Errorf("pwlog: sink %q: %w", s.n.name, err)
	}
	if err := s.out.Flush(); err != nil {
		return fmt.Errorf("pwlog: sink %q: %w", s.n.name, err)
	}
	e.log.Info("Wrote the sink's whole table into a fresh file (a re-snapshot)",
		slog.String("sink", s.n.name), slog.Int("rows", len(rows)), slog.Uint64("time", e.clock))
	return nil
}

// reemit writes the committed times a sink has not got yet.
func (e *engine) reemit(s *sinkState) error {
	rows := 0
	for i := 0; i < len(s.replay); {
		// A time's rows may span several records: one Write per time.
		t := s.replay[i].Time
		var us []differential.Update
		for ; i < len(s.replay) && s.replay[i].Time == t; i++ {
			more, err := s.replay[i].Updates()
			if err != nil {
				return err
			}
			us = append(us, more...)
		}
		if t < s.opened.Resume {
			continue
		}
		if err := s.out.Write(t, us); err != nil {
			return fmt.Errorf("pwlog: sink %q: %w", s.n.name, err)
		}
		rows += len(us)
	}
	s.replay = nil
	if err := s.out.Flush(); err != nil {
		return fmt.Errorf("pwlog: sink %q: %w", s.n.name, err)
	}
	if rows > 0 {
		e.log.Info("Re-emitted committed rows the sink had not received",
			slog.String("sink", s.n.name), slog.Int("rows", rows))
	}
	return nil
}

// commitLog is the record log of a persistent execution: tidwall/wal's
// segments in a storage directory (wal.Log), or one object per commit
// window in an object store (objlog.Log).
type commitLog interface {
	// Append writes a batch of records and returns the LSN of its last.
	Append(recs []wal.Record) (uint64, error)
	// Sync makes every record appended so far durable.
	Sync() error
	// WaitDurable blocks until lsn is durable.
	WaitDurable(lsn uint64) error
	DurableLSN() uint64
	LastLSN() uint64
	FirstLSN() uint64
	// TruncateFront drops the records before lsn.
	TruncateFront(lsn uint64) error
	// Replay calls fn with every record from LSN from on, in order.
	Replay(from uint64, fn func(wal.Record) error) error
	Close() error
}

// localBackend is a backend whose storage is a local directory.
type localBackend interface{ Root() string }

// recover takes the storage and restores the state its checkpoint and
// log describe: the checkpoint's runs into the arrangements, then the
// committed log after it (replay).
func (e *engine) recover() error {
	start := time.Now()
	var where string
	var err error
	if lb, ok := e.cfg.Backend.(localBackend); ok {
		where, err = lb.Root(), e.takeDir(lb.Root())
	} else {
		where, err = storageName(e.cfg.Backend), e.takeObjectStore()
	}
	if err != nil {
		return err
	}
	e.log.Info("Opened the storage", slog.String("storage", where),
		slog.Uint64("first_lsn", e.wal.FirstLSN()), slog.Uint64("last_lsn", e.wal.LastLSN()),
		slog.Duration("duration", time.Since(start)))
	e.cache = checkpoint.NewCache(e.cfg.MemoryLimit / 4)
	// A changed group may leave memory before a checkpoint holds it: its
	// changes stay (the memory bound).
	for _, a := range e.arrs {
		a.Track()
	}
	st, err := e.openCheckpoint(e.ctx, e.ckpt)
	if err != nil {
		return err
	}
	if err := e.replay(st); err != nil {
		return err
	}
	return e.bound()
}

// takeDir takes the storage directory dir: its lock, its marker, its log
// (tidwall/wal segments) and its checkpoint directory.
func (e *engine) takeDir(dir string) error {
	if err := vfs.MkdirAll(e.cfg.FS, dir, 0o755); err != nil {
		return fmt.Errorf("pwlog: storage: %w", err)
	}
	lock, err := storage.TakeLock(e.cfg.FS, dir)
	if err != nil {
		return err
	}
	e.lock = lock
	if err := storage.EnsureMarker(e.cfg.FS, dir); err != nil {
		return err
	}
	l, err := wal.Open(storage.LogDir(dir), &wal.Options{
		SyncInterval: e.cfg.SnapshotInterval, NoSync: e.cfg.NoSync, Logger: e.log, FS: e.cfg.FS,
	})
	if err != nil {
		return fmt.Errorf("pwlog: open log: %w", err)
	}
	e.wal = l
	b, err := backend.NewFilesystemFS(e.cfg.FS, storage.CheckpointDir(dir))
	if err != nil {
		return fmt.Errorf("pwlog: checkpoint storage: %w", err)
	}
	e.ckpt = b
	return nil
}

// openCheckpoint opens the storage's checkpoint, loads its runs into the
// arrangements and returns the state its manifest describes.
func (e *engine) openCheckpoint(ctx context.Context, b backend.Backend) (*storage.State, error) {
	start := time.Now()
	comp, err := compaction.Open(ctx, b, e.wal, &compaction.Options{BlockSize: e.cfg.BlockSize})
	if err != nil {
		return nil, fmt.Errorf("pwlog: %w", err)
	}
	e.comp = comp
	if e.objectStore {
		// Before this writer writes a run: an earlier writer, fenced from
		// the log already, can no longer publish a manifest either.
		if err := comp.Fence(ctx); err != nil {
			return nil, fmt.Errorf("pwlog: fence the checkpoint: %w", err)
		}
		if _, err := comp.Collect(ctx); err != nil {
			return nil, fmt.Errorf("pwlog: %w", err)
		}
	}
	m := comp.Manifest()
	st, err := storage.NewState(m)
	if err != nil {
		return nil, fmt.Errorf("pwlog: %w", err)
	}
	if m == nil {
		return st, nil
	}
	if last := e.wal.LastLSN(); last < m.LSN {
		return nil, fmt.Errorf("pwlog: the log ends at LSN %d but checkpoint %d covers up to LSN %d: the log was removed or replaced; new commits would be lost", last, m.Seq, m.LSN)
	}
	if err := e.rebase(m, nil); err != nil {
		return nil, err
	}
	var entries int64
	for _, r := range m.Runs {
		entries += r.Entries
	}
	e.log.Info("Opened the checkpoint",
		slog.Uint64("manifest", m.Seq), slog.Uint64("lsn", m.LSN), slog.Int("runs", len(m.Runs)),
		slog.Int64("entries", entries), slog.Uint64("clock", m.Clock), slog.Duration("duration", time.Since(start)))
	return st, nil
}

// replay folds the committed log after the checkpoint into st, the state
// its manifest describes, and takes what it describes: state deltas go
// straight into the arrangements, and the offsets, acks, clock and the
// rows sinks may lack are the engine's.
func (e *engine) replay(st *storage.State) error {
	start := time.Now()
	arrs := e.arrs
	st.OnState = func(lsn uint64, r *record.State, size int) error {
		k := compaction.ArrKey{Operator: r.Operator, Arrangement: r.Arrangement}
		a := arrs[k]
		if a == nil {
			// State the pipeline does not keep (a removed operator, or
			// another mode): plan drops it.
			return nil
		}
		if err := a.Apply(r.Deltas); err != nil {
			return err
		}
		e.addToFold(k, r.Deltas, size)
		return nil
	}
	var records int
	err := e.wal.Replay(max(e.wal.FirstLSN(), st.LSN+1), func(r wal.Record) error {
		records++
		return st.Add(r)
	})
	if err == nil && st.Pending() > 0 {
		// wal.Open cuts frames after the last commit: this cannot happen
		// unless the log is damaged.
		err = fmt.Errorf("%d records after the last commit", st.Pending())
	}
	if err != nil {
		return fmt.Errorf("pwlog: replay: %w", err)
	}
	if err := e.checkDirs(st.Catalog); err != nil {
		return err
	}
	e.restored = st.Summary()
	e.storedOffsets = st.Offsets.Clone()
	e.offsets, e.clock, e.foldedLSN = st.Offsets, st.Clock, 0
	if m := st.Manifest; m != nil {
		e.foldedLSN = m.LSN
	}
	// The first commit logs the pipeline record when the storage lacks
	// the fingerprint (or holds another: plan) or holds another catalog
	// (a sink was added).
	e.catalogued = st.Catalog.Equal(e.catalog)
	for _, s := range e.sinks {
		s.ack = st.Acks[s.n.name]
		s.replay = st.Unacked[s.n.name]
	}
	if err := e.plan(st); err != nil {
		return err
	}
	// A source read from its start opens without offsets.
	for name, fresh := range e.keep.fresh {
		if fresh {
			e.offsets[name] = map[string]sources.FileState{}
		}
	}
	e.log.Info("Reached the end of the snapshot",
		slog.Int("entries", records), slog.Int("times", st.Log.Times), slog.Int64("state_deltas", st.Log.StateDeltas),
		slog.Uint64("clock", e.clock), slog.Duration("duration", time.Since(start)))
	return nil
}

// checkDirs compares each source's directory with the one the storage
// recorded for it; a storage written before directories were recorded
// gets them at its next commit.
func (e *engine) checkDirs(stored *record.Catalog) error {
	if stored == nil {
		return nil
	}
	for _, n := range e.p.nodes {
		was := stored.Dirs[n.name]
		if n.src == nil || was == "" || was == n.dir {
			continue
		}
		if !n.moved {
			return fmt.Errorf("%w: source %q read %s, but now reads %s; if its files moved there with the same names and contents, use FileOptions{Moved: true}, else use a new storage directory",
				ErrSourceMoved, n.name, was, n.dir)
		}
		e.log.Warn("The source moved to another directory; its offsets carry over (FileOptions.Moved)",
			slog.String("source", n.name), slog.String("from", was), slog.String("to", n.dir))
	}
	return nil
}

// openSource opens a source's reader at its offsets. For a source that
// retracts, a file changed since it was read is left out of the offsets
// it opens with, so that it is read again from its start, and returned
// among the changed files; other sources fail on it.
func (e *engine) openSource(n *node, prev map[string]sources.FileState) (sources.Reader, []string, error) {
	var changed []string
	for {
		r, err := n.src.Open(prev)
		var ce *sources.ChangedFileError
		if !n.retract || !errors.As(err, &ce) {
			return r, changed, err
		}
		if _, known := prev[ce.Path]; !known || slices.Contains(changed, ce.Path) {
			return nil, nil, err
		}
		if len(changed) == 0 {
			prev = maps.Clone(prev)
		}
		changed = append(changed, ce.Path)
		delete(prev, ce.Path)
	}
}

// retract takes the rows of the given files out of a source: their
// retractions go into the source's first batch, and the files leave its
// offsets with that batch's commit.
func (e *engine) retract(n *node, paths []string) error {
	for _, path := range paths {
		g, err := n.byFile.Get(path)
		if err != nil {
			return fmt.Errorf("pwlog: source %q: %w", n.name, err)
		}
		rows := 0
		if g != nil {
			// Copy the group's columns: the update below changes it.
			keys, encs, diffs := slices.Clone(g.Keys), slices.Clone(g.Rows), slices.Clone(g.Diffs)
			for i := range keys {
				row, err := differential.DecodeRow(make(differential.Row, 0, len(n.schema)), []byte(encs[i]))
				if err != nil {
					return fmt.Errorf("pwlog: source %q: rows of %s: %w", n.name, path, err)
				}
				e.pending[n.index] = append(e.pending[n.index], differential.Update{Key: keys[i], Row: row, Diff: -diffs[i]})
				rows += int(diffs[i])
				diffs[i] = -diffs[i]
			}
			n.byFile.UpdateMany(path, keys, encs, diffs)
		}
		e.removed[n.name] = append(e.removed[n.name], path)
		// The reader reads a changed file again from its start.
		delete(e.offsets[n.name], path)
		e.log.Info("Retracting a file changed or deleted since it was read",
			slog.String("source", n.name), slog.String("file", path), slog.Int("rows", rows))
	}
	return nil
}
