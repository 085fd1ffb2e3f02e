package pwlog

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/msgpackx"
	"github.com/pwlog/pwlog/sources"
	"github.com/vmihailenco/msgpack/v5"
)

// storageMeta is the engine's state at a checkpoint's LSN, kept opaquely
// in the manifest: the merged source offsets and the sink acks.
type storageMeta struct {
	Sources msgpackx.SortedMap[[]sources.FileState] `msgpack:"s,omitempty"`
	Acks    msgpackx.SortedMap[SinkAck]             `msgpack:"a,omitempty"`
	Catalog *Catalog                                `msgpack:"c,omitempty"`
}

// mergeOffsets applies a commit's source changes to offsets: files
// retracted, then files advanced.
func mergeOffsets(offsets map[string]map[string]sources.FileState, c *CommitRecord) {
	for name, paths := range c.Removed {
		for _, p := range paths {
			delete(offsets[name], p)
		}
	}
	for name, states := range c.Sources {
		m := offsets[name]
		if m == nil {
			m = map[string]sources.FileState{}
			offsets[name] = m
		}
		for _, st := range states {
			m[st.Path] = st
		}
	}
}

func encodeMeta(offsets map[string]map[string]sources.FileState, acks map[string]SinkAck, cat *Catalog) ([]byte, error) {
	m := storageMeta{Sources: map[string][]sources.FileState{}, Acks: acks, Catalog: cat}
	for name, files := range offsets {
		paths := slices.Sorted(maps.Keys(files))
		states := make([]sources.FileState, len(paths))
		for i, p := range paths {
			states[i] = files[p]
		}
		m.Sources[name] = states
	}
	return msgpack.Marshal(&m)
}

// checkpointDir is where a filesystem storage keeps its checkpoint
// objects.
const checkpointDir = "checkpoints"

// openCheckpoint opens the storage's checkpoint and loads the latest
// manifest into the operators, offsets, acks and clock.
func (e *engine) openCheckpoint(ctx context.Context, b backend.Backend) error {
	start := time.Now()
	comp, err := compaction.Open(ctx, b, e.wal, nil)
	if err != nil {
		return fmt.Errorf("pwlog: open checkpoint: %w", err)
	}
	e.comp = comp
	m := comp.Manifest()
	if m == nil {
		return nil
	}
	if err := e.checkFingerprint(m.Fingerprint); err != nil {
		return err
	}
	if last := e.wal.LastLSN(); last < m.LSN {
		return fmt.Errorf("pwlog: the log ends at LSN %d but checkpoint %d covers up to LSN %d: the log was removed or replaced; new commits would be lost", last, m.Seq, m.LSN)
	}
	var meta storageMeta
	if err := msgpackx.Unmarshal(m.Meta, &meta); err != nil {
		return fmt.Errorf("pwlog: manifest %d: engine state: %w", m.Seq, err)
	}
	for name, states := range meta.Sources {
		files := map[string]sources.FileState{}
		for _, st := range states {
			files[st.Path] = st
		}
		e.offsets[name] = files
	}
	for _, s := range e.sinks {
		if ack, ok := meta.Acks[s.n.name]; ok {
			s.ack = ack
		}
	}
	e.catalogued = meta.Catalog.Equal(e.catalog)
	e.clock = m.Clock
	e.foldedLSN = m.LSN
	entries, err := e.loadRuns(ctx, b, m)
	if err != nil {
		return err
	}
	e.log.Info("Loaded the checkpoint",
		slog.Uint64("manifest", m.Seq), slog.Uint64("lsn", m.LSN), slog.Int("runs", len(m.Runs)),
		slog.Int64("entries", entries), slog.Uint64("clock", m.Clock), slog.Duration("duration", time.Since(start)))
	return nil
}

// loadRuns applies the manifest's runs to the arrangements: runs of one
// arrangement in order, arrangements in parallel.
func (e *engine) loadRuns(ctx context.Context, b backend.Backend, m *checkpoint.Manifest) (int64, error) {
	arrs := e.arrangements()
	byArr := map[compaction.ArrKey][]checkpoint.RunMeta{}
	for _, r := range m.Runs {
		k := compaction.ArrKey{Operator: r.Operator, Arrangement: r.Arrangement}
		if arrs[k] == nil {
			return 0, fmt.Errorf("pwlog: manifest %d holds state of %s/%s, which this pipeline does not have", m.Seq, r.Operator, r.Arrangement)
		}
		byArr[k] = append(byArr[k], r)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		entries int64
		first   error
	)
	for k, runs := range byArr {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Merge the arrangement's runs first: one sorted run loads in
			// bulk, group by group.
			ds := make([]differential.Deltas, 0, len(runs))
			for _, r := range runs {
				d, err := compaction.LoadRun(ctx, b, r)
				mu.Lock()
				if err != nil && first == nil {
					first = fmt.Errorf("pwlog: load checkpoint: %w", err)
				}
				entries += int64(d.Len())
				mu.Unlock()
				if err != nil {
					return
				}
				ds = append(ds, d)
			}
			if len(ds) == 1 {
				arrs[k].Apply(ds[0])
			} else {
				arrs[k].Apply(checkpoint.Merge(ds...))
			}
		}()
	}
	wg.Wait()
	return entries, first
}

// arrangements indexes the pipeline's arrangements.
func (e *engine) arrangements() map[compaction.ArrKey]*differential.Arrangement {
	arrs := map[compaction.ArrKey]*differential.Arrangement{}
	for _, n := range e.p.nodes {
		for _, a := range n.arrangements() {
			arrs[compaction.ArrKey{Operator: n.name, Arrangement: a.Name()}] = a
		}
	}
	return arrs
}

// addToFold keeps a committed state delta for the next compaction. The
// fold is a list of chunks, joined only if a compaction needs them: the
// final compaction of a long run often checkpoints from snapshots instead.
func (e *engine) addToFold(op, arr string, d differential.Deltas, bytes int) {
	if e.comp == nil {
		return
	}
	k := compaction.ArrKey{Operator: op, Arrangement: arr}
	e.fold[k] = append(e.fold[k], d)
	e.foldLen[k] += d.Len()
	e.foldBytes += int64(bytes)
}

// takeFold returns the fold of everything committed up to the log's last
// LSN and starts a new one. When the arrangements are quiet (nothing runs
// beside the compaction), an arrangement whose fold is at least as large
// as its state is checkpointed from its snapshot instead: sorting the
// state is cheaper than sorting the larger fold.
func (e *engine) takeFold(acks map[string]SinkAck, quiet bool) (compaction.Fold, error) {
	meta, err := encodeMeta(e.offsets, acks, e.catalog)
	if err != nil {
		return compaction.Fold{}, fmt.Errorf("pwlog: checkpoint: %w", err)
	}
	f := compaction.Fold{LSN: e.wal.LastLSN(), Clock: e.clock, Fingerprint: e.p.Describe(),
		Deltas: map[compaction.ArrKey]*differential.Deltas{}, Meta: meta}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for k, a := range e.arrangements() {
		chunks := e.fold[k]
		if len(chunks) == 0 {
			continue
		}
		if quiet && e.foldLen[k] >= a.Len() {
			// Snapshots of different arrangements are independent: take
			// them in parallel.
			wg.Add(1)
			go func() {
				defer wg.Done()
				snap := a.Snapshot()
				mu.Lock()
				defer mu.Unlock()
				if f.Base == nil {
					f.Base = map[compaction.ArrKey]differential.Deltas{}
				}
				f.Base[k] = snap
			}()
			continue
		}
		d := &differential.Deltas{
			Groups: make([]string, 0, e.foldLen[k]),
			Keys:   make([]differential.Key, 0, e.foldLen[k]),
			Rows:   make([]string, 0, e.foldLen[k]),
			Diffs:  make([]int64, 0, e.foldLen[k]),
		}
		for _, c := range chunks {
			d.Append(c)
		}
		f.Deltas[k] = d
	}
	wg.Wait()
	e.fold = map[compaction.ArrKey][]differential.Deltas{}
	e.foldLen = map[compaction.ArrKey]int{}
	e.foldBytes = 0
	return f, nil
}

// compact runs one compaction now.
func (e *engine) compact(ctx context.Context, f compaction.Fold) error {
	start := time.Now()
	st, err := e.comp.Apply(ctx, f)
	if err != nil {
		return fmt.Errorf("pwlog: compaction: %w", err)
	}
	e.foldedLSN = f.LSN
	e.log.Info("Compacted the log into a checkpoint",
		slog.Uint64("manifest", st.Seq), slog.Uint64("lsn", f.LSN), slog.Int64("entries_folded", st.EntriesFolded),
		slog.Int("runs_written", st.RunsWritten), slog.Int("runs_merged", st.RunsMerged),
		slog.Int("live_runs", st.LiveRuns), slog.Int64("live_bytes", st.LiveBytes),
		slog.Int("deleted", st.ObjectsDeleted), slog.Duration("duration", time.Since(start)))
	return nil
}

// currentAcks returns every sink's ack as of now: the file holds every
// time up to the clock.
func (e *engine) currentAcks() map[string]SinkAck {
	acks := map[string]SinkAck{}
	for _, s := range e.sinks {
		acks[s.n.name] = s.ack
	}
	return acks
}
