package tool

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/internal/location"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/wal"
)

// The arrangements a pipeline that keeps its inputs (pwlog.Config's
// KeepInputs, or a mode that keeps inputs) has besides its operators':
// "inputs" under each source's name (group: the commit time; entries:
// the source's rows committed then) and "table" under each sink's name
// (entries: the sink's current table). The UDF caches' mode keeps the
// sink tables too. This package does not import the engine, which names
// them.
const (
	keptInputsArrangement = "inputs"
	sinkTableArrangement  = "table"
)

// ResnapshotOptions configures Resnapshot.
type ResnapshotOptions struct {
	// Logger receives one line when the re-snapshot is asked for.
	// Default slog.Default().
	Logger *slog.Logger
	// FS is the filesystem written through; see pwlog.Config.FS.
	// Default vfs.Default.
	FS vfs.FS
	// Backend, when set, is the storage, kept in an object store, and the
	// location only names it; see CompactOptions.Backend.
	Backend backend.Backend
}

// ResnapshotResult reports what Resnapshot did.
type ResnapshotResult struct {
	Sink string `json:"sink"`
	// Time is the storage's last committed logical time: the next
	// execution writes the sink's whole table as of it, at it.
	Time uint64 `json:"time"`
	// Ack is the sink's acknowledgement now: its time and offset as
	// before, Resnapshot set.
	Ack record.SinkAck `json:"ack"`
	// LSN is the commit record Resnapshot appended; 0 when a re-snapshot
	// of the sink was pending already and nothing was written
	// (AlreadyPending).
	LSN            uint64 `json:"lsn,omitempty"`
	AlreadyPending bool   `json:"already_pending,omitempty"`
}

// Resnapshot asks the next execution of the pipeline whose storage is
// dir (a directory or a storage URL, see ResnapshotOptions.Backend) to
// write the whole current table of sink into a new file, at the last
// committed time, and to go on from there: for a sink whose file (an
// append-mode changelog) was deleted or rotated. It appends one ack-only commit record to the log, at the last
// committed time, holding the sink's acknowledgement with its time and
// offset as they were and SinkAck.Resnapshot set; the log is synced
// before it returns. The next execution's acknowledgement of the sink
// clears the flag. Resnapshot never touches the sink's file.
//
// The storage is taken as Compact takes it: its lock (ErrLocked while a
// pipeline runs), or in an object store the writer's lease. Resnapshot
// fails, writing nothing, when the storage holds no commit yet, when its
// pipeline has no sink of that name (an *UnknownNameError naming the
// sinks it has), and when it keeps no table of the sink: only a pipeline
// that keeps its inputs (pwlog.Config.KeepInputs, or the modes inputs,
// selective and udf-cache) keeps its sinks' tables. When a re-snapshot of
// the sink is pending already it writes nothing either
// (AlreadyPending): running it twice is harmless.
func Resnapshot(ctx context.Context, dir, sink string, opts *ResnapshotOptions) (ResnapshotResult, error) {
	dir = location.LocalPath(dir)
	res := ResnapshotResult{Sink: sink}
	var o ResnapshotOptions
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
		return res, err
	}
	defer t.close()
	if err := t.open(ctx); err != nil {
		return res, err
	}
	s, err := storage.NewState(t.comp.Manifest())
	if err != nil {
		return res, fmt.Errorf("pwlog: %w", err)
	}
	if err := replayState(t.log, s, nil); err != nil {
		return res, t.damage(err)
	}
	if s.LSN == 0 {
		return res, fmt.Errorf("pwlog: %s holds no commit yet: the first execution of a pipeline writes its sinks whole, there is nothing to re-snapshot", dir)
	}
	known := newKnownNames(s)
	known.tablesAsSinks()
	if !known.sinks[sink] {
		return res, &UnknownNameError{Dir: dir, What: "sink", Names: []string{sink}, Known: slices.Sorted(maps.Keys(known.sinks))}
	}
	if !hasSinkTable(s.Catalog, sink) {
		return res, fmt.Errorf("pwlog: %s keeps no table of sink %q, which the next execution would write whole: "+
			"only a pipeline that keeps its inputs keeps its sinks' tables (pwlog.Config.KeepInputs, the -keep-inputs flag of the examples, "+
			"or the modes inputs, selective and udf-cache)", dir, sink)
	}
	ack := s.Acks[sink]
	res.Time = s.Clock
	if ack.Resnapshot {
		res.Ack, res.AlreadyPending = ack, true
		o.Logger.Info("A re-snapshot of the sink is pending already", slog.String("sink", sink), slog.Uint64("time", s.Clock))
		return res, t.close()
	}
	ack.Resnapshot = true
	rec, err := record.Encode(record.KindCommit, &record.Commit{Time: s.Clock, Acks: map[string]record.SinkAck{sink: ack}})
	if err != nil {
		return res, fmt.Errorf("pwlog: %w", err)
	}
	lsn, err := t.log.Append([]wal.Record{rec})
	if err != nil {
		return res, fmt.Errorf("pwlog: append to the log: %w", err)
	}
	if err := t.log.Sync(); err != nil {
		return res, fmt.Errorf("pwlog: sync the log: %w", err)
	}
	if err := t.closeLog(); err != nil {
		return res, err
	}
	res.Ack, res.LSN = ack, lsn
	o.Logger.Info("Asked the next execution to re-snapshot the sink", slog.String("sink", sink),
		slog.Uint64("time", s.Clock), slog.Uint64("lsn", lsn))
	return res, t.close()
}

// hasSinkTable reports whether the catalog names the table arrangement
// of sink.
func hasSinkTable(c *record.Catalog, sink string) bool {
	if c == nil {
		return false
	}
	_, ok := c.Arrangements[record.ArrangementKey(sink, sinkTableArrangement)]
	return ok
}
