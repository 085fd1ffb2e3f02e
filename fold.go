package pwlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/record"
)

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
	// State the pipeline no longer keeps goes: an empty base replaces its
	// runs.
	for k := range e.drop {
		if f.Base == nil {
			f.Base = map[compaction.ArrKey]differential.Deltas{}
		}
		f.Base[k] = differential.Deltas{}
	}
	e.sealed = map[compaction.ArrKey]uint64{}
	for k, a := range e.arrs {
		e.sealed[k] = a.Seal()
		chunks := e.fold[k]
		if len(chunks) == 0 {
			continue
		}
		if quiet && !a.HasBase() && e.foldLen[k] >= a.Len() {
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
// wait for one (or force) and the sinks hold every committed time, and
// collects the result of one that finished. A failed compaction fails the
// execution: its deltas left the in-memory fold, and only a restart from
// the previous checkpoint and the whole log gets them back.
func (e *engine) maybeCompact(force bool) error {
	if e.compactCh != nil {
		select {
		case err := <-e.compactCh:
			if err := e.compacted(err); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	if e.comp == nil || e.keep.readOnly || (e.cfg.CompactBytes < 0 && !force) || e.foldBytes == 0 || len(e.queue) > 0 {
		return nil
	}
	byTime := e.cfg.CompactInterval > 0 && time.Since(e.lastFold) >= e.cfg.CompactInterval
	if e.foldBytes < e.cfg.CompactBytes && !byTime && !force {
		return nil
	}
	if !e.changelogs() {
		return nil
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

// changelogs reports whether every sink is a changelog, whose file
// acknowledges what a checkpoint folds: only then may an execution
// compact before its end.
func (e *engine) changelogs() bool {
	for _, s := range e.sinks {
		if !s.opened.Changelog {
			return false
		}
	}
	return true
}

// compacted takes the result of a background compaction: on success the
// arrangements read the new checkpoint's runs, and the groups its fold
// holds may leave memory.
func (e *engine) compacted(err error) error {
	e.compactCh = nil
	if err != nil {
		return err
	}
	return e.rebase(e.comp.Manifest(), e.sealed)
}

// openRun is a run the arrangements read, and the object it is read from.
type openRun struct {
	run *checkpoint.Run
	obj io.Closer
}

// rebase makes the runs of manifest m the arrangements' bases, opening
// the runs not open yet and closing those m no longer names. sealed holds
// per arrangement the epoch whose changes m holds (none at a restart).
func (e *engine) rebase(m *checkpoint.Manifest, sealed map[compaction.ArrKey]uint64) error {
	if m == nil {
		return nil
	}
	start := time.Now()
	arrs := e.arrs
	stacks := map[compaction.ArrKey]checkpoint.Stack{}
	entries := map[compaction.ArrKey]int64{}
	// Runs of state the pipeline does not keep are not read: the next
	// compaction drops them (engine.plan).
	runs := slices.DeleteFunc(slices.Clone(m.Runs), func(r checkpoint.RunMeta) bool {
		return arrs[compaction.ArrKey{Operator: r.Operator, Arrangement: r.Arrangement}] == nil
	})
	opened, err := e.openRuns(runs)
	if err != nil {
		return err
	}
	open := map[string]openRun{}
	for i, r := range runs {
		k := compaction.ArrKey{Operator: r.Operator, Arrangement: r.Arrangement}
		or, ok := e.runs[r.Name]
		if !ok {
			or = opened[i]
		}
		open[r.Name] = or
		stacks[k] = append(stacks[k], or.run)
		entries[k] += r.Entries
	}
	for k, a := range arrs {
		st := stacks[k]
		if st == nil {
			st = checkpoint.Stack{}
		}
		a.Rebase(st, entries[k], sealed[k])
	}
	for name, or := range e.runs {
		if _, live := open[name]; !live {
			or.close()
		}
	}
	e.runs = open
	e.log.Debug("The arrangements read the checkpoint in place", slog.Uint64("manifest", m.Seq),
		slog.Int("runs", len(runs)), slog.Duration("duration", time.Since(start)))
	return nil
}

// openRunsAtOnce bounds the runs openRuns opens at once: in an object
// store each may be a download.
const openRunsAtOnce = 8

// openRuns opens, concurrently, the runs of runs the arrangements do not
// read yet (e.runs), at their index in runs. On error it closes what it
// opened.
func (e *engine) openRuns(runs []checkpoint.RunMeta) ([]openRun, error) {
	opened := make([]openRun, len(runs))
	errs := make([]error, len(runs))
	sem := make(chan struct{}, openRunsAtOnce)
	var wg sync.WaitGroup
	for i, r := range runs {
		if _, ok := e.runs[r.Name]; ok {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			run, obj, err := compaction.OpenRun(e.ctx, e.ckpt, r, e.cache)
			opened[i], errs[i] = openRun{run: run, obj: obj}, err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for i, or := range opened {
			if errs[i] == nil && or.run != nil {
				or.close()
			}
		}
		for _, err := range errs {
			if err != nil {
				return nil, fmt.Errorf("pwlog: open checkpoint: %w", err)
			}
		}
	}
	return opened, nil
}

func (or openRun) close() {
	or.run.Close()
	or.obj.Close()
}

// closeRuns closes the runs the arrangements read.
func (e *engine) closeRuns() {
	for _, or := range e.runs {
		or.close()
	}
	e.runs = nil
}

// foldMemBytes estimates what the fold's chunks hold beside the rows the
// arrangements share with them.
func (e *engine) foldMemBytes() int64 {
	n := 0
	for _, l := range e.foldLen {
		n += l
	}
	return int64(n) * (16 + 8 + 16 + 8)
}

// bound keeps the arrangements within Config.MemoryLimit. Changes since
// the checkpoint are folded into it in the background once their fold
// passes a quarter of the bound, so that they can leave memory. Past the
// bound, groups the checkpoint holds leave memory (those not used since
// the last time first), then changed groups keep only their changes; when
// that is not enough, the execution waits for the compaction running, or
// starts one and waits for it, then drops what it folded.
func (e *engine) bound() error {
	if e.comp == nil {
		return nil
	}
	limit := e.cfg.MemoryLimit - e.cache.Stats().Capacity
	arrs := e.arrs
	used := func() int64 {
		n := e.foldMemBytes()
		for _, a := range arrs {
			n += a.MemBytes()
		}
		return n
	}
	defer func() { e.stats.peakState = max(e.stats.peakState, used()) }()
	if e.compactCh == nil && e.foldMemBytes() > limit/4 {
		if err := e.maybeCompact(true); err != nil {
			return err
		}
	}
	if used() <= limit {
		return nil
	}
	e.evict(arrs, limit/2)
	for i := 0; i < 2 && used() > limit; i++ {
		if e.compactCh == nil {
			if e.foldBytes == 0 {
				return nil
			}
			// A fold covers only times the sinks hold: with group commit,
			// wait for the fsync of the last commit and write its rows.
			if len(e.queue) > 0 {
				if err := e.wal.WaitDurable(e.queue[len(e.queue)-1].lsn); err != nil {
					return fmt.Errorf("pwlog: sync log: %w", err)
				}
				if err := e.drain(false); err != nil {
					return err
				}
			}
			if err := e.maybeCompact(true); err != nil {
				return err
			}
			if e.compactCh == nil {
				if !e.changelogs() && e.once("memory limit") {
					e.log.Warn("The arrangements hold more than Config.MemoryLimit and cannot fold their changes into the checkpoint before the execution ends (a fresh-mode sink)",
						slog.Int64("bytes", used()), slog.Int64("limit", e.cfg.MemoryLimit))
				}
				return nil
			}
		}
		if err := e.compacted(<-e.compactCh); err != nil {
			return err
		}
		e.evict(arrs, limit/2)
	}
	return nil
}

// evict drops clean groups until the arrangements hold about target
// bytes, each giving up its share.
func (e *engine) evict(arrs map[compaction.ArrKey]*differential.Arrangement, target int64) {
	total := int64(0)
	for _, a := range arrs {
		total += a.MemBytes()
	}
	if total <= target || total == 0 {
		return
	}
	for _, a := range arrs {
		a.Evict(int64(float64(a.MemBytes()) * float64(target) / float64(total)))
	}
}

// arrangementErr returns the first base read error of a node's
// arrangements.
func arrangementErr(n *node) error {
	for _, a := range n.arrangements() {
		if err := a.Err(); err != nil {
			return err
		}
	}
	return nil
}
