package measure

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/wal"
)

// PeerResult is one storage engine persisting a Stream and restarting.
type PeerResult struct {
	Write time.Duration // persist every batch, durable (sync) per batch
	// Compact is the time pwlog then takes to fold the log into a
	// checkpoint (0 for pebble, whose flushes and compactions run
	// during Write).
	Compact time.Duration
	Restart time.Duration // open the store cold and rebuild every arrangement in memory (differential.Arrangement.Apply) from it
	// Open is the store's open alone, cold, without reading the state:
	// for pebble, pebble.Open (which replays its log); for pwlog, what
	// the engine's restart does now, the log and the checkpoint's runs
	// opened in place (their indexes and filters read), fresh
	// arrangements rebased on them.
	Open    time.Duration
	Entries int   // entries loaded at restart (live state size)
	Bytes   int64 // bytes on disk after Write (and, for pwlog, after compaction)
}

// Pebble persists s into a github.com/cockroachdb/pebble DB in dir
// (created if missing; default options but for the merge operator) and
// restarts from it. "Cold" means a new DB handle: the OS page cache is
// left as the write left it, for pebble as for Pwlog.
//
// Layout: one key per arrangement entry, uvarint-length-prefixed
// operator, arrangement and group, then the row key (8 bytes big endian)
// and the encoded row, so that the keys of one arrangement, and of one
// group within it, are contiguous. The value is the entry's multiplicity,
// an int64 (8 bytes little endian) kept with a Merge operator that sums
// the diffs, so a write never reads; a sum of zero is dropped by pebble's
// compactions (DeletableValueMerger) and skipped at restart.
//
// Write times the loop that, per stream batch, encodes every delta as a
// Merge into one pebble.Batch and commits it with pebble.Sync. Bytes are
// the directory's after Write and Close, as pebble leaves it (WAL,
// memtable flushes and compactions that happened). Restart times opening
// the closed DB (which replays its WAL) and, per arrangement in parallel,
// an iterator over its key range whose entries are decoded and Applied
// to a fresh arrangement of the tutorial's operators. Entries must equal
// the entries of s applied in memory.
func Pebble(dir string, s *Stream) (PeerResult, error) {
	var res PeerResult
	want, err := s.apply()
	if err != nil {
		return res, err
	}
	opts := func() *pebble.Options {
		return &pebble.Options{Merger: sumMerger, Logger: pebbleQuiet{}}
	}
	db, err := pebble.Open(dir, opts())
	if err != nil {
		return res, fmt.Errorf("measure: pebble: %w", err)
	}
	var key []byte
	var val [8]byte
	start := time.Now()
	for _, b := range s.Batches {
		batch := db.NewBatch()
		for _, st := range b.States {
			d := st.Deltas
			for i := range d.Keys {
				key = pebbleKey(key[:0], st.Operator, st.Arrangement, d.Groups[i], d.Keys[i], d.Rows[i])
				binary.LittleEndian.PutUint64(val[:], uint64(d.Diffs[i]))
				if err = batch.Merge(key, val[:], nil); err != nil {
					break
				}
			}
		}
		if err == nil {
			err = batch.Commit(pebble.Sync)
		}
		batch.Close()
		if err != nil {
			db.Close()
			return res, fmt.Errorf("measure: pebble: time %d: %w", b.Time, err)
		}
	}
	res.Write = time.Since(start)
	if err := db.Close(); err != nil {
		return res, fmt.Errorf("measure: pebble: %w", err)
	}
	if res.Bytes, err = dirBytes(dir); err != nil {
		return res, err
	}

	arrs, err := freshArrangements()
	if err != nil {
		return res, err
	}
	start = time.Now()
	db, err = pebble.Open(dir, opts())
	if err != nil {
		return res, fmt.Errorf("measure: pebble: reopen: %w", err)
	}
	res.Open = time.Since(start)
	err = parallel(arrs, func(k compaction.ArrKey, a *differential.Arrangement) error {
		return pebbleLoad(db, k, a)
	})
	res.Restart = time.Since(start)
	res.Entries = entries(arrs)
	if err = errors.Join(err, db.Close()); err != nil {
		return res, fmt.Errorf("measure: pebble: restart: %w", err)
	}
	return res, checkEntries("pebble", res.Entries, entries(want))
}

// pebbleKey appends the key of an arrangement entry to dst.
func pebbleKey(dst []byte, op, arr, group string, key differential.Key, row string) []byte {
	dst = pebblePrefix(dst, op, arr)
	dst = binary.AppendUvarint(dst, uint64(len(group)))
	dst = append(dst, group...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(key))
	return append(dst, row...)
}

// pebblePrefix appends the prefix every key of an arrangement has.
func pebblePrefix(dst []byte, op, arr string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(op)))
	dst = append(dst, op...)
	dst = binary.AppendUvarint(dst, uint64(len(arr)))
	return append(dst, arr...)
}

// pebbleLoad reads the entries of arrangement k from db, in key order
// (group by group), and applies them to a.
func pebbleLoad(db *pebble.DB, k compaction.ArrKey, a *differential.Arrangement) error {
	lo := pebblePrefix(nil, k.Operator, k.Arrangement)
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return err
	}
	var d differential.Deltas
	for it.First(); it.Valid(); it.Next() {
		diff := int64(binary.LittleEndian.Uint64(it.Value()))
		if diff == 0 {
			continue
		}
		rest := it.Key()[len(lo):]
		n, w := binary.Uvarint(rest)
		if w <= 0 || uint64(len(rest)-w) < n+8 {
			it.Close()
			return fmt.Errorf("bad key %q", it.Key())
		}
		rest = rest[w:]
		d.Groups = append(d.Groups, string(rest[:n]))
		d.Keys = append(d.Keys, differential.Key(binary.BigEndian.Uint64(rest[n:])))
		d.Rows = append(d.Rows, string(rest[n+8:]))
		d.Diffs = append(d.Diffs, diff)
	}
	if err := it.Close(); err != nil {
		return err
	}
	a.Apply(d)
	return nil
}

// prefixEnd returns the smallest key greater than every key starting with
// p (p must not be all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for len(end) > 0 && end[len(end)-1] == 0xff {
		end = end[:len(end)-1]
	}
	end[len(end)-1]++
	return end
}

// sumMerger sums int64 multiplicities (8 bytes little endian).
var sumMerger = &pebble.Merger{
	Name: "pwlog.measure.int64sum",
	Merge: func(_, value []byte) (pebble.ValueMerger, error) {
		m := &sum{}
		return m, m.MergeNewer(value)
	},
}

// sum is the ValueMerger of sumMerger.
type sum struct{ n int64 }

func (s *sum) MergeNewer(v []byte) error {
	if len(v) != 8 {
		return fmt.Errorf("measure: merge operand of %d bytes, want 8", len(v))
	}
	s.n += int64(binary.LittleEndian.Uint64(v))
	return nil
}

func (s *sum) MergeOlder(v []byte) error { return s.MergeNewer(v) }

func (s *sum) Finish(bool) ([]byte, io.Closer, error) {
	return binary.LittleEndian.AppendUint64(nil, uint64(s.n)), nil, nil
}

// DeletableFinish lets pebble drop operands that sum to zero: for a sum,
// operands that cancel contribute nothing, whether or not the base is
// among them.
func (s *sum) DeletableFinish(includesBase bool) ([]byte, bool, io.Closer, error) {
	v, c, err := s.Finish(includesBase)
	return v, s.n == 0, c, err
}

// pebbleQuiet drops pebble's informational messages.
type pebbleQuiet struct{}

func (pebbleQuiet) Infof(string, ...any) {}

func (pebbleQuiet) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// Pwlog persists s the way the engine does, through pwlog's public
// packages, into dir (created if missing), and restarts from it.
//
// Write times the loop that, per batch, msgpack-encodes a
// record.State per StateDelta and a record.Commit (holding the
// time only: the stream has no source offsets) and appends them with one
// wal.Log.Append, fsynced (wal.Options zero). Then, not timed, everything
// is folded into a checkpoint as the engine's final compaction does:
// compaction.Open over backend.NewFilesystem(dir/checkpoints) and the
// log, and Apply of a Fold whose Deltas are each arrangement's deltas
// concatenated in commit order (not Base snapshots: the compaction sorts
// and consolidates them into one run per arrangement, the same run a
// snapshot gives); the log is truncated in front of it. Bytes are the
// directory's after that (checkpoint and the emptied log).
//
// Restart times decoding the whole checkpoint into arrangements, what
// the engine's restart did before its arrangements read the checkpoint in
// place (and what pebble's Restart does): wal.Open of the log,
// backend.NewFilesystem, compaction.Latest, and per arrangement in
// parallel compaction.LoadRun of each of its runs, checkpoint.Merge when
// it has several, and Apply into a fresh arrangement of the tutorial's
// operators. The log holds nothing after the checkpoint, so there is
// nothing to replay. Entries must equal the entries of s applied in
// memory.
//
// Open then times what the engine's restart does now (rebase): wal.Open,
// backend.NewFilesystem, compaction.Latest, compaction.OpenRun of every
// run with one block cache, and Rebase of fresh arrangements on each
// one's runs; the entries the runs count must equal s's too.
func Pwlog(dir string, s *Stream) (PeerResult, error) {
	var res PeerResult
	want, err := s.apply()
	if err != nil {
		return res, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	ctx := context.Background()
	walDir, cpDir := filepath.Join(dir, "wal"), filepath.Join(dir, "checkpoints")
	log, err := wal.Open(walDir, &wal.Options{Logger: quiet()})
	if err != nil {
		return res, fmt.Errorf("measure: pwlog: %w", err)
	}
	start := time.Now()
	for _, b := range s.Batches {
		var recs []wal.Record
		if recs, err = encodeBatch(b); err == nil {
			_, err = log.Append(recs)
		}
		if err != nil {
			log.Close()
			return res, fmt.Errorf("measure: pwlog: time %d: %w", b.Time, err)
		}
	}
	res.Write = time.Since(start)
	start = time.Now()
	err = foldAll(ctx, cpDir, log, s)
	res.Compact = time.Since(start)
	if err = errors.Join(err, log.Close()); err != nil {
		return res, fmt.Errorf("measure: pwlog: compaction: %w", err)
	}
	if res.Bytes, err = dirBytes(dir); err != nil {
		return res, err
	}

	arrs, err := freshArrangements()
	if err != nil {
		return res, err
	}
	start = time.Now()
	log, err = wal.Open(walDir, &wal.Options{Logger: quiet()})
	if err != nil {
		return res, fmt.Errorf("measure: pwlog: reopen: %w", err)
	}
	err = loadCheckpoint(ctx, cpDir, arrs)
	res.Restart = time.Since(start)
	res.Entries = entries(arrs)
	if err = errors.Join(err, log.Close()); err != nil {
		return res, fmt.Errorf("measure: pwlog: restart: %w", err)
	}
	if err := checkEntries("pwlog", res.Entries, entries(want)); err != nil {
		return res, err
	}
	if arrs, err = freshArrangements(); err != nil {
		return res, err
	}
	start = time.Now()
	log, err = wal.Open(walDir, &wal.Options{Logger: quiet()})
	if err != nil {
		return res, fmt.Errorf("measure: pwlog: reopen: %w", err)
	}
	closeRuns, err := openInPlace(ctx, cpDir, arrs)
	res.Open = time.Since(start)
	n := entries(arrs)
	if err = errors.Join(err, closeRuns(), log.Close()); err != nil {
		return res, fmt.Errorf("measure: pwlog: open in place: %w", err)
	}
	return res, checkEntries("pwlog, in place,", n, entries(want))
}

// openInPlace opens the runs of the latest checkpoint under cpDir in
// place, as the engine's restart does (engine.rebase), and rebases arrs
// on them; the returned function closes the runs.
func openInPlace(ctx context.Context, cpDir string, arrs map[compaction.ArrKey]*differential.Arrangement) (closeRuns func() error, err error) {
	var runs []*checkpoint.Run
	var objs []io.Closer
	closeRuns = func() error {
		var errs []error
		for i, r := range runs {
			r.Close()
			errs = append(errs, objs[i].Close())
		}
		return errors.Join(errs...)
	}
	b, err := backend.NewFilesystem(cpDir)
	if err != nil {
		return closeRuns, err
	}
	m, err := compaction.Latest(ctx, b)
	if err != nil {
		return closeRuns, err
	}
	if m == nil {
		return closeRuns, errors.New("no checkpoint")
	}
	cache := checkpoint.NewCache(engineCache)
	stacks := map[compaction.ArrKey]checkpoint.Stack{}
	counts := map[compaction.ArrKey]int64{}
	for _, r := range m.Runs {
		k := compaction.ArrKey{Operator: r.Operator, Arrangement: r.Arrangement}
		if arrs[k] == nil {
			return closeRuns, fmt.Errorf("checkpoint holds state of %s/%s, which the tutorial does not have", r.Operator, r.Arrangement)
		}
		run, obj, err := compaction.OpenRun(ctx, b, r, cache)
		if err != nil {
			return closeRuns, err
		}
		runs, objs = append(runs, run), append(objs, obj)
		stacks[k] = append(stacks[k], run)
		counts[k] += r.Entries
	}
	for k, a := range arrs {
		st := stacks[k]
		if st == nil {
			st = checkpoint.Stack{}
		}
		a.Rebase(st, counts[k], 0)
	}
	return closeRuns, nil
}

// engineCache is the engine's block cache by default: a quarter of the
// default Config.MemoryLimit (64 MiB).
const engineCache = 16 << 20

// foldAll folds every state delta of s, all committed to log, into the
// checkpoint under cpDir and truncates the log in front of it.
func foldAll(ctx context.Context, cpDir string, log *wal.Log, s *Stream) error {
	b, err := backend.NewFilesystem(cpDir)
	if err != nil {
		return err
	}
	comp, err := compaction.Open(ctx, b, log, nil)
	if err != nil {
		return err
	}
	f := compaction.Fold{LSN: log.LastLSN(), Deltas: map[compaction.ArrKey]*differential.Deltas{}}
	for _, batch := range s.Batches {
		f.Clock = batch.Time
		for _, st := range batch.States {
			k := compaction.ArrKey{Operator: st.Operator, Arrangement: st.Arrangement}
			if f.Deltas[k] == nil {
				f.Deltas[k] = &differential.Deltas{}
			}
			f.Deltas[k].Append(st.Deltas)
		}
	}
	_, err = comp.Apply(ctx, f)
	return err
}

// loadCheckpoint applies the latest checkpoint under cpDir to arrs as the
// engine's loadRuns does: runs of one arrangement merged, arrangements in
// parallel.
func loadCheckpoint(ctx context.Context, cpDir string, arrs map[compaction.ArrKey]*differential.Arrangement) error {
	b, err := backend.NewFilesystem(cpDir)
	if err != nil {
		return err
	}
	m, err := compaction.Latest(ctx, b)
	if err != nil {
		return err
	}
	if m == nil {
		return errors.New("no checkpoint")
	}
	byArr := map[compaction.ArrKey][]checkpoint.RunMeta{}
	for _, r := range m.Runs {
		k := compaction.ArrKey{Operator: r.Operator, Arrangement: r.Arrangement}
		if arrs[k] == nil {
			return fmt.Errorf("checkpoint holds state of %s/%s, which the tutorial does not have", r.Operator, r.Arrangement)
		}
		byArr[k] = append(byArr[k], r)
	}
	return parallel(arrs, func(k compaction.ArrKey, a *differential.Arrangement) error {
		ds := make([]differential.Deltas, 0, len(byArr[k]))
		for _, r := range byArr[k] {
			d, err := compaction.LoadRun(ctx, b, r)
			if err != nil {
				return err
			}
			ds = append(ds, d)
		}
		switch len(ds) {
		case 0:
		case 1:
			a.Apply(ds[0])
		default:
			a.Apply(checkpoint.Merge(ds...))
		}
		return nil
	})
}

// parallel calls fn for every arrangement, each in its own goroutine, and
// returns their errors joined.
func parallel(arrs map[compaction.ArrKey]*differential.Arrangement, fn func(compaction.ArrKey, *differential.Arrangement) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for k, a := range arrs {
		wg.Go(func() {
			if err := fn(k, a); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s/%s: %w", k.Operator, k.Arrangement, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// checkEntries fails when a restart loaded another number of entries than
// the stream leaves in memory.
func checkEntries(store string, got, want int) error {
	if got != want {
		return fmt.Errorf("measure: %s: restart loaded %d entries, the stream leaves %d", store, got, want)
	}
	return nil
}
