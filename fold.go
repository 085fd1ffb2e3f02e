package pwlog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/record"
)

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
// final compaction of a long execution often checkpoints from snapshots instead.
func (e *engine) addToFold(k compaction.ArrKey, d differential.Deltas, bytes int) {
	if e.comp == nil {
		return
	}
	e.fold[k] = append(e.fold[k], d)
	e.foldLen[k] += d.Len()
	e.foldBytes += int64(bytes)
}

// takeFold returns the fold of everything committed up to the log's last
// LSN and starts a new one. When the arrangements are quiet (nothing runs
// beside the compaction), an arrangement whose fold is at least as large
// as its state is checkpointed from its snapshot instead: sorting the
// state is cheaper than sorting the larger fold.
func (e *engine) takeFold(acks map[string]record.SinkAck, quiet bool) (compaction.Fold, error) {
	meta, err := record.EncodeMeta(&record.Meta{Offsets: e.offsets, Acks: acks, Catalog: e.catalog})
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
		return fmt.Errorf("pwlog: %w", err)
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
func (e *engine) currentAcks() map[string]record.SinkAck {
	acks := map[string]record.SinkAck{}
	for _, s := range e.sinks {
		acks[s.n.name] = s.ack
	}
	return acks
}

// maybeCompact starts a background compaction when enough state deltas
// wait for one and the sinks hold every committed time, and collects the
// result of one that finished. A failed compaction fails the execution: its
// deltas left the in-memory fold, and only a restart from the previous
// checkpoint and the whole log gets them back.
func (e *engine) maybeCompact() error {
	if e.compactCh != nil {
		select {
		case err := <-e.compactCh:
			e.compactCh = nil
			if err != nil {
				return err
			}
		default:
			return nil
		}
	}
	if e.comp == nil || e.cfg.CompactBytes < 0 || e.foldBytes == 0 || len(e.queue) > 0 {
		return nil
	}
	byTime := e.cfg.CompactInterval > 0 && time.Since(e.lastFold) >= e.cfg.CompactInterval
	if e.foldBytes < e.cfg.CompactBytes && !byTime {
		return nil
	}
	for _, s := range e.sinks {
		if !s.opened.Changelog {
			return nil
		}
	}
	// The sinks' files must hold every time the fold covers: sync them and
	// acknowledge in the checkpoint.
	for _, s := range e.sinks {
		if err := s.out.Sync(); err != nil {
			return fmt.Errorf("pwlog: sink %q: %w", s.n.name, err)
		}
		s.ack = record.SinkAck{Time: e.written, Offset: sinkOffset(s.out)}
	}
	f, err := e.takeFold(e.currentAcks(), false)
	if err != nil {
		return err
	}
	ch := make(chan error, 1)
	e.compactCh = ch
	e.lastFold = time.Now()
	go func() { ch <- e.compact(e.ctx, f) }()
	return nil
}
