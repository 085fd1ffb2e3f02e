package pwlog

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/sources"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/wal"
)

// FormatVersion is the storage format this build reads and writes.
const FormatVersion = 1

// ErrSinkAhead reports an append-mode sink file holding a time the
// storage has no commit for. Going on would emit that time twice.
var ErrSinkAhead = errors.New("pwlog: the sink is ahead of the storage")

// ErrFormat reports a storage directory this build cannot use.
var ErrFormat = errors.New("pwlog: unsupported storage")

const markerName = "PWLOG"

func markerText(v int) []byte { return fmt.Appendf(nil, "pwlog storage format %d\n", v) }

// checkMarker verifies the format marker of dir, creating it (durably) in
// a new or empty storage directory.
func checkMarker(fsys vfs.FS, dir string) error {
	_, err := readMarker(fsys, dir)
	switch {
	case err == nil, errors.Is(err, ErrFormat):
		return err
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("pwlog: %w", err)
	}
	path := filepath.Join(dir, markerName)
	if _, err := fsys.Stat(filepath.Join(dir, "wal")); err == nil {
		return fmt.Errorf("%w: %s has a wal/ but no %s marker", ErrFormat, dir, markerName)
	}
	if err := vfs.WriteFileAtomic(fsys, path, markerText(FormatVersion), 0o644); err != nil {
		return fmt.Errorf("pwlog: write %s: %w", path, err)
	}
	return nil
}

// open takes the storage, replays the log into the operators and sinks,
// and seeks the sources (DESIGN section 7).
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
		if s.csv == nil {
			if err := e.openSink(s); err != nil {
				return err
			}
		}
		if err := e.reemit(s); err != nil {
			return err
		}
	}
	// Every committed time is now in every sink's file.
	e.written = e.clock
	e.readers = make([]*sources.Reader, len(e.p.nodes))
	for _, n := range e.p.nodes {
		if n.src == nil {
			continue
		}
		prev := e.offsets[n.name]
		if prev == nil {
			prev = map[string]sources.FileState{}
			e.offsets[n.name] = prev
		}
		r, changed, err := e.openSource(n, prev)
		if err != nil {
			return fmt.Errorf("pwlog: source %q: %w", n.name, err)
		}
		e.readers[n.index] = r
		if n.byFile != nil {
			if err := e.retract(n, append(changed, r.Deleted()...)); err != nil {
				return err
			}
		}
		var bytes, rows int64
		for _, st := range prev {
			bytes += st.Offset
			rows += st.Rows
		}
		e.log.Info("Seek the data source to the frontier",
			slog.String("source", n.name), slog.Int("files", len(prev)),
			slog.Int64("bytes", bytes), slog.Int64("rows", rows))
		if n.byFile == nil {
			for _, name := range r.Deleted() {
				e.log.Warn("A file read earlier is gone; its rows stay in the state (CSVOptions.Retract retracts them)",
					slog.String("source", n.name), slog.String("file", name))
			}
		}
	}
	return nil
}

func (e *engine) openSink(s *sinkState) error {
	var hint int64
	if s.n.append && s.ack.Offset > 0 {
		hint = s.ack.Offset
		// The log keeps no rows of acknowledged times: a changelog that
		// lost some cannot be repaired from it.
		if fi, err := e.cfg.FS.Stat(s.n.path); err != nil || fi.Size() < hint {
			return fmt.Errorf("pwlog: sink %q: %s should hold at least %d bytes, every time up to %d, but %s; restore the file or start with a new storage directory",
				s.n.name, s.n.path, hint, s.ack.Time, describeSize(fi, err))
		}
	}
	csv, resume, err := sources.OpenCSVSinkFS(e.cfg.FS, s.n.path, s.n.input.schema.Names(), s.n.append, hint)
	if err != nil {
		return fmt.Errorf("pwlog: sink %q: %w", s.n.name, err)
	}
	if last := csv.LastTime(); s.n.append && last > e.clock {
		csv.Close()
		return fmt.Errorf("%w: sink %q: %s holds time %d, but the storage's last commit is time %d: the storage lost committed times (damaged, or restored from an older copy) or the file belongs to another storage; writing on would emit times twice",
			ErrSinkAhead, s.n.name, s.n.path, last, e.clock)
	}
	s.csv, s.resume = csv, resume
	return nil
}

// reemit writes the committed times a sink has not got yet.
func (e *engine) reemit(s *sinkState) error {
	rows := 0
	for i := range s.replay {
		r := &s.replay[i]
		if s.n.append && r.Time < s.resume {
			continue
		}
		us, err := r.updates()
		if err != nil {
			return err
		}
		if err := s.csv.Write(r.Time, us); err != nil {
			return fmt.Errorf("pwlog: sink %q: %w", s.n.name, err)
		}
		rows += len(us)
	}
	s.replay = nil
	if err := s.csv.Flush(); err != nil {
		return fmt.Errorf("pwlog: sink %q: %w", s.n.name, err)
	}
	if rows > 0 {
		e.log.Info("Re-emitted committed rows the sink had not received",
			slog.String("sink", s.n.name), slog.Int("rows", rows))
	}
	return nil
}

// recover opens the storage and replays the log.
func (e *engine) recover() error {
	dir := e.cfg.Backend.Dir()
	start := time.Now()
	if err := vfs.MkdirAll(e.cfg.FS, dir, 0o755); err != nil {
		return fmt.Errorf("pwlog: storage: %w", err)
	}
	lock, err := lockStorage(e.cfg.FS, dir)
	if err != nil {
		return err
	}
	e.lock = lock
	if err := checkMarker(e.cfg.FS, dir); err != nil {
		return err
	}
	l, err := wal.Open(filepath.Join(dir, "wal"), &wal.Options{
		SyncInterval: e.cfg.SnapshotInterval, NoSync: e.cfg.NoSync, Logger: e.log, FS: e.cfg.FS,
	})
	if err != nil {
		return fmt.Errorf("pwlog: open log: %w", err)
	}
	e.wal = l
	e.log.Info("Opened the storage", slog.String("dir", dir),
		slog.Uint64("first_lsn", l.FirstLSN()), slog.Uint64("last_lsn", l.LastLSN()),
		slog.Duration("duration", time.Since(start)))
	b, err := backend.NewFilesystemFS(e.cfg.FS, filepath.Join(dir, checkpointDir))
	if err != nil {
		return fmt.Errorf("pwlog: checkpoint storage: %w", err)
	}
	if err := e.openCheckpoint(e.ctx, b); err != nil {
		return err
	}
	return e.replay()
}

// replay applies every committed batch of the log: state deltas go
// straight into the arrangements, sink rows are kept where a sink lacks
// them, offsets and the clock advance.
func (e *engine) replay() error {
	start := time.Now()
	type arrKey struct{ op, arr string }
	arrs := map[arrKey]*differential.Arrangement{}
	for _, n := range e.p.nodes {
		if n.op != nil {
			for _, a := range n.op.Arrangements() {
				arrs[arrKey{n.name, a.Name()}] = a
			}
		}
	}
	sinks := map[string]*sinkState{}
	for _, s := range e.sinks {
		sinks[s.n.name] = s
	}
	var batch []wal.Record
	var times, records, deltas int
	err := e.wal.Replay(max(e.wal.FirstLSN(), e.foldedLSN+1), func(r wal.Record) error {
		records++
		switch r.Kind {
		case KindInput:
			// Input events are kept for tools and for rebuilding changed
			// operators; restoring state does not need them.
			return nil
		case KindCommit:
		default:
			// Copy: the body is valid only during the callback.
			batch = append(batch, wal.Record{LSN: r.LSN, Kind: r.Kind, Data: bytes.Clone(r.Data)})
			return nil
		}
		var c CommitRecord
		if err := unmarshalRecord(r.Data, &c); err != nil {
			return fmt.Errorf("pwlog: commit record at LSN %d: %w", r.LSN, err)
		}
		for _, b := range batch {
			switch b.Kind {
			case KindState:
				var s StateRecord
				if err := unmarshalRecord(b.Data, &s); err != nil {
					return fmt.Errorf("pwlog: state record at LSN %d: %w", b.LSN, err)
				}
				a := arrs[arrKey{s.Operator, s.Arrangement}]
				if a == nil {
					return fmt.Errorf("pwlog: the storage holds state of operator %q (arrangement %q) that this pipeline does not have: it was built by a different pipeline", s.Operator, s.Arrangement)
				}
				a.Apply(s.Deltas)
				deltas += s.Deltas.Len()
				e.addToFold(s.Operator, s.Arrangement, s.Deltas, len(b.Data))
			case KindPipeline:
				var pr PipelineRecord
				if err := unmarshalRecord(b.Data, &pr); err != nil {
					return fmt.Errorf("pwlog: pipeline record at LSN %d: %w", b.LSN, err)
				}
				if err := e.checkFingerprint(pr.Lines); err != nil {
					return err
				}
				e.catalogued = pr.Catalog.Equal(e.catalog)
			case KindOutput:
				var o OutputRecord
				if err := unmarshalRecord(b.Data, &o); err != nil {
					return fmt.Errorf("pwlog: output record at LSN %d: %w", b.LSN, err)
				}
				if s := sinks[o.Sink]; s != nil && o.Time > s.ack.Time {
					s.replay = append(s.replay, o)
				}
			}
		}
		batch = batch[:0]
		if c.Time > e.clock {
			e.clock = c.Time
			times++
		}
		mergeOffsets(e.offsets, &c)
		for name, ack := range c.Acks {
			if s := sinks[name]; s != nil {
				s.ack = ack
				kept := s.replay[:0]
				for _, o := range s.replay {
					if o.Time > ack.Time {
						kept = append(kept, o)
					}
				}
				s.replay = kept
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pwlog: replay: %w", err)
	}
	if len(batch) > 0 {
		// wal.Open cuts frames after the last commit: this cannot happen
		// unless the log is damaged.
		return fmt.Errorf("pwlog: replay: %d records after the last commit", len(batch))
	}
	e.log.Info("Reached the end of the snapshot",
		slog.Int("entries", records), slog.Int("times", times), slog.Int("state_deltas", deltas),
		slog.Uint64("clock", e.clock), slog.Duration("duration", time.Since(start)))
	return nil
}

func describeSize(fi os.FileInfo, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("it has %d", fi.Size())
}

// ErrPipelineChanged reports a storage written by a different pipeline.
var ErrPipelineChanged = errors.New("pwlog: the pipeline differs from the one that wrote the storage")

// checkFingerprint compares the stored fingerprint with the pipeline's.
func (e *engine) checkFingerprint(stored []string) error {
	e.fingerprinted = true
	if diff := fingerprintDiff(stored, e.p.Describe()); diff != "" {
		return fmt.Errorf("%w: %s; use a new storage directory for the changed pipeline", ErrPipelineChanged, diff)
	}
	return nil
}

// openSource opens a source's reader at its offsets. For a source that
// retracts, a file changed since it was read is left out of the offsets
// it opens with, so that it is read again from its start, and returned
// among the changed files; other sources fail on it.
func (e *engine) openSource(n *node, prev map[string]sources.FileState) (*sources.Reader, []string, error) {
	var changed []string
	for {
		r, err := n.src.Open(prev)
		var ce *sources.ChangedFileError
		if n.byFile == nil || !errors.As(err, &ce) {
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
		g := n.byFile.Get(path)
		rows := 0
		if g != nil {
			// Copy the group's columns: the updates below change it.
			keys, encs, diffs := slices.Clone(g.Keys), slices.Clone(g.Rows), slices.Clone(g.Diffs)
			for i := range keys {
				row, err := differential.DecodeRow(make(differential.Row, 0, len(n.schema)), []byte(encs[i]))
				if err != nil {
					return fmt.Errorf("pwlog: source %q: rows of %s: %w", n.name, path, err)
				}
				e.pending[n.index] = append(e.pending[n.index], differential.Update{Key: keys[i], Row: row, Diff: -diffs[i]})
				n.byFile.Update(path, keys[i], encs[i], -diffs[i])
				rows += int(diffs[i])
			}
		}
		e.removed[n.name] = append(e.removed[n.name], path)
		// The reader reads a changed file again from its start.
		delete(e.offsets[n.name], path)
		e.log.Info("Retracting a file changed or deleted since it was read",
			slog.String("source", n.name), slog.String("file", path), slog.Int("rows", rows))
	}
	return nil
}
