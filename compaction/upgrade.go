package compaction

import (
	"context"
	"errors"

	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/differential"
)

// Upgrade rewrites the runs of format 1 of the current manifest in the
// format this build writes. Each arrangement with a run of format 1 gets
// all of its live runs merged into one new run (they are decoded whole,
// LoadRun; format 1 has no index to read in place); an arrangement whose
// runs are all of the current format keeps them. Then the next manifest
// is published with the same LSN, clock, fingerprint and Meta, naming the
// rewritten runs, and the runs it no longer names are collected. The log
// is not touched.
//
// The order is a compaction's: new runs (a crash leaves orphans), then
// the manifest (the commit point), then collection. A crash before the
// manifest leaves the old one in force, with its runs; a crash after it,
// the new one. Either is a checkpoint this build can open: a second
// Upgrade rewrites what is left of format 1, if anything.
//
// Upgrade returns the number of runs of format 1 it rewrote, 0 when there
// were none (or no manifest): then it publishes nothing and its Stats are
// zero.
func (c *Compactor) Upgrade(ctx context.Context) (int, Stats, error) {
	var st Stats
	if c.cur == nil {
		return 0, st, nil
	}
	// The arrangements with a run of format 1.
	old := map[ArrKey]bool{}
	upgraded := 0
	for _, r := range c.cur.Runs {
		_, closer, err := OpenRun(ctx, c.b, r, nil)
		switch {
		case errors.Is(err, checkpoint.ErrOldFormat):
			old[ArrKey{r.Operator, r.Arrangement}] = true
			upgraded++
		case err != nil:
			return 0, st, err
		default:
			closer.Close()
		}
	}
	if upgraded == 0 {
		return 0, st, nil
	}
	// Each such arrangement's runs, merged, in place of the first of them.
	var live []checkpoint.RunMeta
	done := map[ArrKey]bool{}
	for _, r := range c.cur.Runs {
		k := ArrKey{r.Operator, r.Arrangement}
		if !old[k] {
			live = append(live, r)
			continue
		}
		if done[k] {
			continue
		}
		done[k] = true
		meta, err := c.rewrite(ctx, k, &st)
		if err != nil {
			return 0, st, err
		}
		if meta.Name != "" {
			live = append(live, meta)
		}
	}
	m := &checkpoint.Manifest{LSN: c.cur.LSN, Clock: c.cur.Clock, Fingerprint: c.cur.Fingerprint, Runs: live, Meta: c.cur.Meta}
	if err := c.publish(ctx, m, &st); err != nil {
		return 0, st, err
	}
	n, err := c.Collect(ctx)
	st.ObjectsDeleted = n
	return upgraded, st, err
}

// rewrite writes the live runs of arrangement k, merged, as one run of
// the current format; its meta has no name when their entries cancel
// out.
func (c *Compactor) rewrite(ctx context.Context, k ArrKey, st *Stats) (checkpoint.RunMeta, error) {
	var ds []differential.Deltas
	meta := checkpoint.RunMeta{Operator: k.Operator, Arrangement: k.Arrangement}
	n := 0
	for _, r := range c.cur.Runs {
		if r.Operator != k.Operator || r.Arrangement != k.Arrangement {
			continue
		}
		d, err := LoadRun(ctx, c.b, r)
		if err != nil {
			return meta, err
		}
		ds = append(ds, d)
		if n == 0 {
			meta.Level, meta.MinLSN, meta.MaxLSN = r.Level, r.MinLSN, r.MaxLSN
		} else {
			// A merge goes a level up, as in mergeTail.
			meta.Level = max(meta.Level, r.Level) + 1
			meta.MinLSN, meta.MaxLSN = min(meta.MinLSN, r.MinLSN), max(meta.MaxLSN, r.MaxLSN)
		}
		n++
	}
	d := checkpoint.Merge(ds...)
	meta, err := c.writeRun(ctx, meta, checkpoint.CountGroups(&d), st, checkpoint.DeltasIter(&d))
	if err != nil {
		return meta, err
	}
	if n > 1 {
		st.RunsMerged += n
	}
	if meta.Name != "" {
		st.RunsWritten++
	}
	return meta, nil
}
