// Package compaction folds the committed write-ahead log into checkpoint
// runs, merges runs geometrically, publishes manifests and collects
// garbage.
//
// One compaction, in the order that keeps every crash recoverable:
//
//  1. fold: the state deltas of the log between the current manifest's
//     LSN and the fold's LSN become one sorted, consolidated level-0 run
//     per arrangement (new objects; a crash leaves only orphans);
//  2. merge: while an arrangement's newest run is at least half the size
//     of the one before it, the two merge into one (so run sizes grow
//     geometrically and a checkpoint costs about the size of what
//     changed, like differential dataflow's spine);
//  3. publish: once the log is durable up to the fold's LSN, the next
//     manifest, naming the live runs, is created with a conditional
//     create (the commit point of the compaction);
//  4. truncate: the log in front of the manifest's LSN is dropped;
//  5. collect: runs and manifests the new manifest does not name are
//     deleted.
//
// A crash before 3 leaves the old manifest and the whole log; after 3 the
// new manifest and a log that may still hold folded records, which replay
// skips. Orphans of either are deleted by the next compaction.
package compaction

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/base"
)

// ArrKey names an arrangement: its operator and its name there.
type ArrKey struct{ Operator, Arrangement string }

// Fold is what one compaction adds to the checkpoint: every state delta
// committed after the current manifest's LSN, up to and including LSN.
type Fold struct {
	LSN         uint64
	Clock       uint64
	Fingerprint []string
	// Deltas holds per arrangement the deltas in commit order; they need
	// not be sorted or consolidated.
	Deltas map[ArrKey]*differential.Deltas
	// Meta is the engine's state at LSN, stored opaquely in the manifest.
	Meta []byte
	// Base holds, for some arrangements, their whole state at LSN, sorted
	// and consolidated (as differential.Arrangement.Snapshot returns it):
	// it replaces all of their runs, and their Deltas are ignored. Cheaper
	// than sorting a fold larger than the state.
	Base map[ArrKey]differential.Deltas
}

// Stats reports what a compaction did.
type Stats struct {
	Seq             uint64 `json:"seq"` // the manifest published
	RunsWritten     int    `json:"runs_written"`
	RunsMerged      int    `json:"runs_merged"`
	EntriesFolded   int64  `json:"entries_folded"`
	ObjectsDeleted  int    `json:"objects_deleted"`
	BytesWritten    int64  `json:"bytes_written"`
	LiveRuns        int    `json:"live_runs"`
	LiveBytes       int64  `json:"live_bytes"`
	TruncatedBefore uint64 `json:"truncated_before"` // the log's first LSN after truncation
	ManifestBytes   int64  `json:"manifest_bytes"`
}

// Options tune a Compactor.
type Options struct {
	// MergeRatio: a run merges into the one before it while that one is
	// at most MergeRatio times its size. Default 2.
	MergeRatio int64
	// BlockSize is the size of the runs' blocks before compression.
	// Default checkpoint.DefaultBlockSize.
	BlockSize int
}

// Compactor owns the checkpoint of one storage. It is not safe for
// concurrent use: one compaction runs at a time.
type Compactor struct {
	b      backend.Backend
	log    Log // may be nil: then nothing is truncated
	opts   Options
	cur    *checkpoint.Manifest
	nextID uint64
}

// Log is the record log a checkpoint folds: a wal.Log in a storage
// directory, an objlog.Log in an object store.
type Log interface {
	// DurableLSN is the last LSN a crash cannot lose.
	DurableLSN() uint64
	// Sync makes every record appended so far durable.
	Sync() error
	// TruncateFront drops the records before lsn.
	TruncateFront(lsn uint64) error
	// FirstLSN is the first record kept.
	FirstLSN() uint64
}

// Open reads the latest manifest of b (nil when there is none). log, when
// not nil, is truncated after each publication.
func Open(ctx context.Context, b backend.Backend, log Log, opts *Options) (*Compactor, error) {
	c := &Compactor{b: b, log: log}
	if opts != nil {
		c.opts = *opts
	}
	if c.opts.MergeRatio <= 0 {
		c.opts.MergeRatio = 2
	}
	m, err := Latest(ctx, b)
	if err != nil {
		return nil, err
	}
	c.cur = m
	runs, err := b.List(ctx, base.RunPrefix)
	if err != nil {
		return nil, fmt.Errorf("compaction: %w", err)
	}
	for _, name := range runs {
		if id, ok := base.ParseRunName(name); ok && id >= c.nextID {
			c.nextID = id + 1
		}
	}
	if m != nil {
		for _, r := range m.Runs {
			if id, ok := base.ParseRunName(r.Name); ok && id >= c.nextID {
				c.nextID = id + 1
			}
		}
	}
	if c.nextID == 0 {
		c.nextID = 1
	}
	return c, nil
}

// Manifest returns the current manifest, nil when none was published.
func (c *Compactor) Manifest() *checkpoint.Manifest { return c.cur }

// Latest returns the newest manifest of b, or nil when there is none.
func Latest(ctx context.Context, b backend.Backend) (*checkpoint.Manifest, error) {
	names, err := b.List(ctx, base.ManifestPrefix)
	if err != nil {
		return nil, fmt.Errorf("compaction: list manifests: %w", err)
	}
	var best string
	var bestSeq uint64
	for _, n := range names {
		if seq, ok := checkpoint.ParseManifestName(n); ok && (best == "" || seq > bestSeq) {
			best, bestSeq = n, seq
		}
	}
	if best == "" {
		return nil, nil
	}
	data, err := b.Get(ctx, best)
	if err != nil {
		return nil, fmt.Errorf("compaction: read %s: %w", best, err)
	}
	return checkpoint.DecodeManifest(best, data)
}

// LoadRun reads and decodes one run of a manifest, checking it against
// the manifest's size and checksum.
func LoadRun(ctx context.Context, b backend.Backend, meta checkpoint.RunMeta) (differential.Deltas, error) {
	data, err := b.Get(ctx, meta.Name)
	if err != nil {
		return differential.Deltas{}, fmt.Errorf("compaction: read run %s: %w", meta.Name, err)
	}
	if int64(len(data)) != meta.Bytes {
		return differential.Deltas{}, &checkpoint.CorruptError{Object: meta.Name, Offset: int64(len(data)),
			Reason: fmt.Sprintf("%d bytes, the manifest says %d", len(data), meta.Bytes)}
	}
	if crc := checkpoint.Checksum(data); crc != meta.CRC {
		// Decoding places the damage (pwlog verify does the same); a run
		// that decodes is whole, but not the one the manifest lists.
		if _, _, err := checkpoint.DecodeRun(meta.Name, data); err != nil {
			return differential.Deltas{}, err
		}
		return differential.Deltas{}, &checkpoint.CorruptError{Object: meta.Name, Offset: -1,
			Reason: fmt.Sprintf("checksum %08x, the manifest says %08x", crc, meta.CRC)}
	}
	_, d, err := checkpoint.DecodeRun(meta.Name, data)
	return d, err
}

// Apply folds f into the checkpoint and publishes the next manifest. An
// error before publication leaves the current manifest in force; an error
// after it (truncation, collection) is returned but the new manifest is
// in force.
func (c *Compactor) Apply(ctx context.Context, f Fold) (Stats, error) {
	var st Stats
	prevLSN := uint64(0)
	var live []checkpoint.RunMeta
	if c.cur != nil {
		prevLSN = c.cur.LSN
		live = slices.Clone(c.cur.Runs)
		if f.LSN < c.cur.LSN {
			return st, fmt.Errorf("compaction: fold to LSN %d is behind the checkpoint at LSN %d", f.LSN, c.cur.LSN)
		}
	}
	bases := make([]ArrKey, 0, len(f.Base))
	for k := range f.Base {
		bases = append(bases, k)
	}
	sortKeys(bases)
	// Base runs are independent of each other: encode and write them in
	// parallel, then put them in the manifest in a fixed order.
	metas := make([]checkpoint.RunMeta, len(bases))
	errs := make([]error, len(bases))
	runStats := make([]Stats, len(bases))
	workers := make([]*Compactor, len(bases))
	var wg sync.WaitGroup
	for i, k := range bases {
		kept := live[:0:0]
		for _, r := range live {
			if r.Operator != k.Operator || r.Arrangement != k.Arrangement {
				kept = append(kept, r)
			}
		}
		live = kept
		d := f.Base[k]
		if d.Len() == 0 {
			continue
		}
		st.EntriesFolded += int64(d.Len())
		// Each writer starts at its own id; should a name be taken, Create
		// refuses it atomically and the writer moves on (see writeRun).
		workers[i] = &Compactor{b: c.b, nextID: c.nextID, opts: c.opts}
		c.nextID++
		wg.Add(1)
		go func() {
			defer wg.Done()
			metas[i], errs[i] = workers[i].writeRun(ctx, checkpoint.RunMeta{Operator: k.Operator, Arrangement: k.Arrangement, MinLSN: 1, MaxLSN: f.LSN},
				checkpoint.CountGroups(&d), &runStats[i], checkpoint.DeltasIter(&d))
		}()
	}
	wg.Wait()
	for _, w := range workers {
		if w != nil {
			c.nextID = max(c.nextID, w.nextID)
		}
	}
	for i := range bases {
		if errs[i] != nil {
			return st, errs[i]
		}
		if metas[i].Name == "" {
			continue
		}
		st.RunsWritten++
		st.BytesWritten += runStats[i].BytesWritten
		live = append(live, metas[i])
	}
	keys := make([]ArrKey, 0, len(f.Deltas))
	for k, d := range f.Deltas {
		if _, base := f.Base[k]; !base && d != nil && d.Len() > 0 {
			keys = append(keys, k)
		}
	}
	sortKeys(keys)
	for _, k := range keys {
		d := checkpoint.SortDeltas(*f.Deltas[k])
		if d.Len() == 0 {
			continue
		}
		st.EntriesFolded += int64(d.Len())
		meta := checkpoint.RunMeta{Operator: k.Operator, Arrangement: k.Arrangement, Level: 0, MinLSN: prevLSN + 1, MaxLSN: f.LSN}
		meta, err := c.writeRun(ctx, meta, checkpoint.CountGroups(&d), &st, checkpoint.DeltasIter(&d))
		if err != nil {
			return st, err
		}
		st.RunsWritten++
		live = append(live, meta)
		if live, err = c.mergeTail(ctx, live, k, &st); err != nil {
			return st, err
		}
	}
	// A checkpoint never covers a record the log may still lose: with
	// group commit the fold's last records may be written but not yet
	// synced, and a crash after the publication would leave a manifest
	// ahead of the log.
	if c.log != nil && c.log.DurableLSN() < f.LSN {
		if err := c.log.Sync(); err != nil {
			return st, fmt.Errorf("compaction: sync log: %w", err)
		}
	}
	m := &checkpoint.Manifest{LSN: f.LSN, Clock: f.Clock, Fingerprint: f.Fingerprint, Runs: live, Meta: f.Meta}
	if err := c.publish(ctx, m, &st); err != nil {
		return st, err
	}
	if c.log != nil {
		if err := c.log.TruncateFront(f.LSN + 1); err != nil {
			return st, fmt.Errorf("compaction: truncate log: %w", err)
		}
		st.TruncatedBefore = c.log.FirstLSN()
	}
	n, err := c.Collect(ctx)
	st.ObjectsDeleted = n
	return st, err
}

// publish makes m, numbered after the current manifest, the current
// manifest: a conditional create, the commit point of a compaction. It
// records m in st.
func (c *Compactor) publish(ctx context.Context, m *checkpoint.Manifest, st *Stats) error {
	m.Seq = 1
	if c.cur != nil {
		m.Seq = c.cur.Seq + 1
	}
	data, err := checkpoint.EncodeManifest(m)
	if err != nil {
		return err
	}
	if err := c.b.Create(ctx, checkpoint.ManifestName(m.Seq), data); err != nil {
		return fmt.Errorf("compaction: publish manifest %d: %w", m.Seq, err)
	}
	c.cur = m
	st.Seq = m.Seq
	st.ManifestBytes = int64(len(data))
	st.LiveBytes, st.LiveRuns = 0, len(m.Runs)
	for _, r := range m.Runs {
		st.LiveBytes += r.Bytes
	}
	return nil
}

// Fence publishes the current manifest again under the next sequence
// number, so that an earlier writer of the storage, whose next manifest
// would take that number, can no longer publish one, nor collect after
// it. A writer of an object store fences the manifests when it takes the
// storage, before it writes a run (the log is fenced by objlog). A lost
// race re-reads the latest manifest and fences after it. Without a
// manifest there is nothing to fence: an earlier writer's first manifest
// then makes this writer's first publication fail, and the restart
// after it reads that manifest.
func (c *Compactor) Fence(ctx context.Context) error {
	for tries := 0; c.cur != nil; tries++ {
		m := *c.cur
		var st Stats
		err := c.publish(ctx, &m, &st)
		if !errors.Is(err, backend.ErrExist) || tries == 16 {
			return err
		}
		latest, err := Latest(ctx, c.b)
		if err != nil {
			return err
		}
		c.cur = latest
	}
	return nil
}

// mergeTail merges the newest run of arrangement k into older ones while
// they are small enough. Runs are merged as they are read, block by
// block: a merge holds a block of each input and of the output in memory,
// not the runs.
func (c *Compactor) mergeTail(ctx context.Context, live []checkpoint.RunMeta, k ArrKey, st *Stats) ([]checkpoint.RunMeta, error) {
	for {
		// The arrangement's runs in live, oldest first.
		var idx []int
		for i, r := range live {
			if r.Operator == k.Operator && r.Arrangement == k.Arrangement {
				idx = append(idx, i)
			}
		}
		if len(idx) < 2 {
			return live, nil
		}
		older, newer := live[idx[len(idx)-2]], live[idx[len(idx)-1]]
		if older.Entries > c.opts.MergeRatio*max(newer.Entries, 1) {
			return live, nil
		}
		meta := checkpoint.RunMeta{Operator: k.Operator, Arrangement: k.Arrangement,
			Level: max(older.Level, newer.Level) + 1, MinLSN: older.MinLSN, MaxLSN: newer.MaxLSN}
		meta, err := c.mergeRuns(ctx, meta, st, older, newer)
		if err != nil {
			return nil, err
		}
		st.RunsMerged += 2
		// Replace the two by the merged run, where the older one was (by
		// none when their entries cancel out).
		out := make([]checkpoint.RunMeta, 0, len(live)-1)
		for i, r := range live {
			switch i {
			case idx[len(idx)-2]:
				if meta.Name != "" {
					out = append(out, meta)
				}
			case idx[len(idx)-1]:
			default:
				out = append(out, r)
			}
		}
		live = out
	}
}

// mergeRuns writes the merge of the runs ins as one new run.
func (c *Compactor) mergeRuns(ctx context.Context, meta checkpoint.RunMeta, st *Stats, ins ...checkpoint.RunMeta) (checkpoint.RunMeta, error) {
	its := make([]checkpoint.Iterator, 0, len(ins))
	groups := int64(0)
	for _, in := range ins {
		r, closer, err := OpenRun(ctx, c.b, in, nil)
		if err != nil {
			return meta, err
		}
		defer closer.Close()
		groups += r.Groups()
		its = append(its, r.Iter())
	}
	return c.writeRun(ctx, meta, int(groups), st, its...)
}

// OpenRun opens a run of a manifest in place, checking its size against
// the manifest's; the caller closes the returned object after the run.
// A run of format 1 fails with checkpoint.ErrOldFormat.
func OpenRun(ctx context.Context, b backend.Backend, meta checkpoint.RunMeta, cache *checkpoint.Cache) (*checkpoint.Run, io.Closer, error) {
	obj, err := b.Open(ctx, meta.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("compaction: open run %s: %w", meta.Name, err)
	}
	if obj.Size() != meta.Bytes {
		obj.Close()
		return nil, nil, &checkpoint.CorruptError{Object: meta.Name, Offset: obj.Size(),
			Reason: fmt.Sprintf("%d bytes, the manifest says %d", obj.Size(), meta.Bytes)}
	}
	r, err := checkpoint.OpenRun(meta.Name, obj, obj.Size(), cache)
	if err != nil {
		obj.Close()
		return nil, nil, err
	}
	return r, obj, nil
}

// writeRun writes the merged entries of its as a run under a fresh name;
// groups is about how many groups it holds (an upper bound), for its
// filter.
func (c *Compactor) writeRun(ctx context.Context, meta checkpoint.RunMeta, groups int, st *Stats, its ...checkpoint.Iterator) (checkpoint.RunMeta, error) {
	var buf bytes.Buffer
	// The run does not store its name: the manifest names it.
	meta.Name = ""
	w := checkpoint.NewRunWriter(&buf, meta, checkpoint.WriterOptions{BlockSize: c.opts.BlockSize, Groups: groups})
	if err := checkpoint.MergeInto(w, its...); err != nil {
		return meta, err
	}
	meta, err := w.Finish()
	if err != nil {
		return meta, err
	}
	if meta.Entries == 0 {
		return checkpoint.RunMeta{}, nil
	}
	data := buf.Bytes()
	for {
		meta.Name = checkpoint.RunName(c.nextID)
		c.nextID++
		err := c.b.Create(ctx, meta.Name, data)
		if errors.Is(err, backend.ErrExist) {
			continue // an orphan of a crashed compaction holds the name
		}
		if err != nil {
			return meta, fmt.Errorf("compaction: write run %s: %w", meta.Name, err)
		}
		st.BytesWritten += meta.Bytes
		return meta, nil
	}
}

// Collect deletes the runs and manifests the current manifest does not
// name and returns how many it deleted.
//
// When a newer manifest than the current one exists, another writer has
// taken the storage over (see Fence): Collect deletes nothing, for the
// runs it does not know may be that writer's. Runs are listed before
// manifests, so a run listed was written before any manifest the listing
// of manifests does not show: a newer writer fences the manifests before
// it writes a run.
func (c *Compactor) Collect(ctx context.Context) (int, error) {
	if c.cur == nil {
		return 0, nil
	}
	keep := map[string]bool{checkpoint.ManifestName(c.cur.Seq): true}
	for _, r := range c.cur.Runs {
		keep[r.Name] = true
	}
	var names []string
	for _, prefix := range []string{base.RunPrefix, base.ManifestPrefix} {
		ns, err := c.b.List(ctx, prefix)
		if err != nil {
			return 0, fmt.Errorf("compaction: collect: %w", err)
		}
		names = append(names, ns...)
	}
	for _, name := range names {
		if seq, ok := checkpoint.ParseManifestName(name); ok && seq > c.cur.Seq {
			return 0, nil // superseded: not ours to collect
		}
	}
	n := 0
	for _, name := range names {
		if keep[name] {
			continue
		}
		if err := c.b.Delete(ctx, name); err != nil {
			return n, fmt.Errorf("compaction: collect: %w", err)
		}
		n++
	}
	return n, nil
}

func sortKeys(keys []ArrKey) {
	slices.SortFunc(keys, func(a, b ArrKey) int {
		return strings.Compare(a.Operator+"\x00"+a.Arrangement, b.Operator+"\x00"+b.Arrangement)
	})
}
