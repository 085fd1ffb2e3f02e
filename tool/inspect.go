package tool

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/internal/location"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/wal"
)

// StorageInfo describes a storage: what Inspect found.
type StorageInfo struct {
	// Dir is the storage's directory, or its URL (or the name given with
	// ReadOptions.Backend) when it is kept in an object store.
	Dir    string `json:"dir"`
	Format int    `json:"format"`
	// Bytes counts every file under Dir but the lock file; in an object
	// store every object but the writer's lease.
	Bytes int64 `json:"bytes"`
	// Lock says whether a process holds the storage: its lock, or in an
	// object store the writer's lease (Holder "host H pid P epoch E"),
	// which a writer that died leaves until the next one takes it over.
	Lock storage.LockInfo `json:"lock"`
	// Pipeline is the fingerprint of the pipeline that wrote the storage
	// (pwlog.Pipeline.Describe); Catalog names its columns.
	Pipeline []string        `json:"pipeline,omitempty"`
	Catalog  *record.Catalog `json:"catalog,omitempty"`
	// Clock is the last committed logical time, 0 when none.
	Clock uint64 `json:"clock"`
	// Checkpoint is the live checkpoint, nil when there is none or its
	// manifest is damaged: DamagedManifest names it then, and Problems
	// says why.
	Checkpoint      *CheckpointInfo `json:"checkpoint,omitempty"`
	DamagedManifest string          `json:"damaged_manifest,omitempty"`
	WAL             WALInfo         `json:"wal"`
	Sources         []SourceInfo    `json:"sources"`
	Sinks           []SinkInfo      `json:"sinks"`
	// UDFCaches lists the caches of user-defined functions (arrangements
	// "udf_cache:<function>"), by operator and function; none when no
	// operator caches a function.
	UDFCaches []UDFCacheInfo `json:"udf_caches,omitempty"`
	// KeptInputs lists, per source, the input rows a pipeline that keeps
	// its inputs keeps (arrangement "inputs"), and SinkTables, per sink,
	// the sink's current table such a pipeline keeps (arrangement
	// "table"); none when the pipeline keeps none.
	KeptInputs []KeptInfo `json:"kept_inputs,omitempty"`
	SinkTables []KeptInfo `json:"sink_tables,omitempty"`
	// Problems lists damage met on the way, each naming its file; Verify
	// checks everything and tells more.
	Problems []string `json:"problems,omitempty"`
	// Committed is what the checkpoint and the committed log add up to,
	// as every reader of the storage folds them (a restart, Compact,
	// Verify): it is not printed.
	Committed record.Summary `json:"-"`
}

// CheckpointInfo describes the live checkpoint.
type CheckpointInfo struct {
	Manifest string `json:"manifest"` // file name
	Seq      uint64 `json:"seq"`
	LSN      uint64 `json:"lsn"`   // every log record up to it is folded in
	Clock    uint64 `json:"clock"` // the last logical time folded in
	Bytes    int64  `json:"bytes"` // the manifest and its runs
	Runs     int    `json:"runs"`
	// Arrangements sums the runs of each arrangement.
	Arrangements []ArrangementInfo `json:"arrangements"`
	// Garbage lists files the checkpoint does not use (older manifests,
	// runs of none, temporary files): the next compaction deletes them.
	Garbage []string `json:"garbage,omitempty"`
}

// ArrangementInfo sums the runs of one arrangement.
type ArrangementInfo struct {
	Operator    string `json:"operator"`
	Arrangement string `json:"arrangement"`
	Runs        int    `json:"runs"`
	Entries     int64  `json:"entries"`
	Bytes       int64  `json:"bytes"`
}

// udfCachePrefix starts the name of a UDF cache arrangement: it is
// operators.UDFCachePrefix, which this package does not import.
const udfCachePrefix = "udf_cache:"

// UDFCacheInfo describes the cache of a user-defined function in one
// operator.
type UDFCacheInfo struct {
	Operator string `json:"operator"`
	Function string `json:"function"`
	// Entries counts the cached results: the checkpoint's entries and
	// those the log adds after it (an entry in two runs counts twice
	// until a merge consolidates them).
	Entries int64 `json:"entries"`
	// Bytes is what the cache takes in the checkpoint's runs and in the
	// log's state records after it.
	Bytes int64 `json:"bytes"`
}

// KeptInfo describes the kept inputs of a source or the table of a sink.
type KeptInfo struct {
	// Name is the source's or the sink's.
	Name string `json:"name"`
	// Entries and Bytes count as UDFCacheInfo's do: the checkpoint's
	// entries and runs, and the log's state records after it.
	Entries int64 `json:"entries"`
	Bytes   int64 `json:"bytes"`
}

// WALInfo describes the log.
type WALInfo struct {
	FirstLSN uint64 `json:"first_lsn"`
	LastLSN  uint64 `json:"last_lsn"`
	// LastCommitLSN is the last LSN the next execution keeps: the last
	// commit, or the LSN before FirstLSN when the log holds none.
	LastCommitLSN uint64            `json:"last_commit_lsn"`
	Bytes         int64             `json:"bytes"`
	Segments      []wal.SegmentInfo `json:"segments"`
	// Times counts the committed logical times in the log after the
	// checkpoint, from FirstTime to LastTime.
	Times     int    `json:"times"`
	FirstTime uint64 `json:"first_time,omitempty"`
	LastTime  uint64 `json:"last_time,omitempty"`
	// Uncommitted describes what follows the last commit: the next
	// execution cuts it. Nil when nothing does.
	Uncommitted *TailInfo `json:"uncommitted,omitempty"`
	// Interrupted lists the files of a truncation a crash interrupted,
	// which the next execution completes; Broken the copies earlier
	// repairs kept of the tails they cut.
	Interrupted []string `json:"interrupted,omitempty"`
	Broken      []string `json:"broken,omitempty"`
}

// TailInfo describes the uncommitted tail of the log.
type TailInfo struct {
	Bytes int64 `json:"bytes"`
	// Records counts the valid records after the last commit.
	Records int `json:"records"`
	// Damage says why the tail is torn; "" when it holds only whole
	// records of a batch whose commit was never written.
	Damage string `json:"damage,omitempty"`
}

// SourceInfo describes what a source has read.
type SourceInfo struct {
	Name string `json:"name"`
	// Dir is the directory the source reads, as the storage recorded it
	// (absolute, symbolic links resolved); empty when it recorded none.
	Dir   string           `json:"dir,omitempty"`
	Files []SourceFileInfo `json:"files"`
	Bytes int64            `json:"bytes"`
	Rows  int64            `json:"rows"`
}

// SourceFileInfo describes what a source has read of one file.
type SourceFileInfo struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"` // read up to here
	Size  int64  `json:"size"`  // the file's size when last read
	Lines int64  `json:"lines"` // header included
	Rows  int64  `json:"rows"`
}

// SinkInfo describes a sink's position.
type SinkInfo struct {
	Name string `json:"name"`
	// AckTime is the last time the sink's file is known to hold (its last
	// execution finished), AckOffset the file's size then.
	AckTime   uint64 `json:"ack_time"`
	AckOffset int64  `json:"ack_offset"`
	// LastTime is the last time of the sink's rows in the log; rows of
	// times after AckTime are re-emitted by the next execution if its
	// file lacks them.
	LastTime uint64 `json:"last_time,omitempty"`
	// Pending counts the committed times after AckTime whose rows the log
	// holds.
	Pending int `json:"pending"`
	// Resnapshot is set when a re-snapshot of the sink is pending
	// (pwlog resnapshot): the next execution writes its whole table, as
	// of the last committed time, into a new file.
	Resnapshot bool `json:"resnapshot,omitempty"`
}

// Inspect describes the storage in dir (a directory or a storage URL, see
// ReadOptions.Backend) without changing it. It fails when dir is not a
// pwlog storage this build reads; damage it meets is listed in
// StorageInfo.Problems. In an object store it reads the writer's lease
// but does not take it.
func Inspect(ctx context.Context, dir string, opts *ReadOptions) (*StorageInfo, error) {
	dir = location.LocalPath(dir)
	o := opts.withDefaults()
	v, err := openView(ctx, o, dir, false)
	if err != nil {
		return nil, err
	}
	info := &StorageInfo{Dir: dir, Format: v.format}
	if v.b == nil {
		info.Lock = storage.ProbeLock(o.FS, dir)
	} else {
		info.Lock = probeLease(ctx, v.b)
	}
	if v.manifestErr != nil {
		info.DamagedManifest = v.manifestName
		info.Problems = append(info.Problems, v.manifestErr.Error())
	}
	if v.manifest != nil {
		info.Checkpoint = v.checkpointInfo()
	}
	st := v.state
	// at places the records of the batch being folded, for its problems.
	at := map[uint64]wal.Entry{}
	st.Problem = func(be *storage.BatchError) {
		e := at[be.LSN]
		info.Problems = append(info.Problems, fmt.Sprintf("%s offset %d (LSN %d): %s record: %s", e.File, e.Offset, be.LSN, record.KindName(be.Kind), be.Reason))
	}
	// logBytes sums the bytes of each arrangement's records in the log.
	logBytes := map[compaction.ArrKey]int64{}
	onState := st.OnState
	st.OnState = func(lsn uint64, r *record.State, size int) error {
		logBytes[compaction.ArrKey{Operator: r.Operator, Arrangement: r.Arrangement}] += int64(size)
		if onState != nil {
			return onState(lsn, r, size)
		}
		return nil
	}
	var tail TailInfo
	scan, err := v.scanLog(o.Progress, func(e wal.Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.Committed {
			tail.Records++
			return nil
		}
		place := e
		place.Data = nil
		at[e.LSN] = place
		if err := st.Add(e.Record); err != nil {
			// The fold's error names the LSN.
			info.Problems = append(info.Problems, fmt.Sprintf("%s offset %d: %v", e.File, e.Offset, err))
		}
		if e.Kind == record.KindCommit {
			clear(at)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	info.Bytes = v.bytes(scan)
	info.Pipeline, info.Catalog, info.Clock = st.Fingerprint, st.Catalog, st.Clock
	info.Committed = st.Summary()
	info.WAL.fill(scan, st.Log)
	if scan.TailBytes > 0 {
		tail.Bytes, tail.Damage = scan.TailBytes, scan.TailDamage
		info.WAL.Uncommitted = &tail
	}
	for _, p := range scan.Problems {
		info.Problems = append(info.Problems, p.Error())
	}
	info.Sources = sourceInfos(st.Offsets, st.Catalog)
	names := slices.Collect(maps.Keys(st.Acks))
	for name := range st.LastOutput {
		if _, ok := st.Acks[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	info.Sinks = []SinkInfo{}
	for _, name := range names {
		ack := st.Acks[name]
		s := SinkInfo{Name: name, AckTime: ack.Time, AckOffset: ack.Offset, LastTime: st.LastOutput[name], Resnapshot: ack.Resnapshot}
		seen := map[uint64]bool{}
		for _, r := range st.Unacked[name] {
			if !seen[r.Time] {
				seen[r.Time] = true
				s.Pending++
			}
		}
		info.Sinks = append(info.Sinks, s)
	}
	for _, a := range sumArrangements(st.Entries, logBytes, info.Checkpoint) {
		switch {
		case strings.HasPrefix(a.Arrangement, udfCachePrefix):
			info.UDFCaches = append(info.UDFCaches, UDFCacheInfo{Operator: a.Operator,
				Function: strings.TrimPrefix(a.Arrangement, udfCachePrefix), Entries: a.Entries, Bytes: a.Bytes})
		case a.Arrangement == keptInputsArrangement:
			info.KeptInputs = append(info.KeptInputs, KeptInfo{Name: a.Operator, Entries: a.Entries, Bytes: a.Bytes})
		case a.Arrangement == sinkTableArrangement:
			info.SinkTables = append(info.SinkTables, KeptInfo{Name: a.Operator, Entries: a.Entries, Bytes: a.Bytes})
		}
	}
	return info, nil
}

// sumArrangements sums, per arrangement, its entries (the checkpoint's
// and the log's: entries), and its bytes: those of its records in the log
// (logBytes) and of its runs in the checkpoint cp. It returns them sorted
// by operator and arrangement; Runs is not set.
func sumArrangements(entries, logBytes map[compaction.ArrKey]int64, cp *CheckpointInfo) []ArrangementInfo {
	sums := map[compaction.ArrKey]*ArrangementInfo{}
	get := func(k compaction.ArrKey) *ArrangementInfo {
		a := sums[k]
		if a == nil {
			a = &ArrangementInfo{Operator: k.Operator, Arrangement: k.Arrangement}
			sums[k] = a
		}
		return a
	}
	for k, n := range entries {
		get(k).Entries += n
	}
	for k, n := range logBytes {
		get(k).Bytes += n
	}
	if cp != nil {
		for _, a := range cp.Arrangements {
			get(compaction.ArrKey{Operator: a.Operator, Arrangement: a.Arrangement}).Bytes += a.Bytes
		}
	}
	out := make([]ArrangementInfo, 0, len(sums))
	for _, a := range sums {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b ArrangementInfo) int {
		return cmp.Or(cmp.Compare(a.Operator, b.Operator), cmp.Compare(a.Arrangement, b.Arrangement))
	})
	return out
}

// fill copies what a scan of the log and the fold of its committed
// records found.
func (w *WALInfo) fill(s wal.Info, c storage.LogCounts) {
	w.FirstLSN, w.LastLSN, w.LastCommitLSN, w.Bytes = s.FirstLSN, s.LastLSN, keptLSN(s), s.Bytes
	w.Segments = []wal.SegmentInfo{}
	for _, sg := range s.Segments {
		sg.Path = filepath.Base(sg.Path)
		w.Segments = append(w.Segments, sg)
	}
	w.Interrupted, w.Broken = s.Interrupted, s.Broken
	w.Times, w.FirstTime, w.LastTime = c.Times, c.FirstTime, c.LastTime
}

// keptLSN returns the last LSN the next execution keeps of a scanned
// log: its last commit, or the LSN before its first when it holds none
// (a log truncated behind a checkpoint).
func keptLSN(s wal.Info) uint64 {
	if s.LastCommitLSN >= s.FirstLSN {
		return s.LastCommitLSN
	}
	return s.FirstLSN - 1
}

// checkpointInfo describes the live manifest's checkpoint.
func (v *view) checkpointInfo() *CheckpointInfo {
	m := v.manifest
	ci := &CheckpointInfo{Manifest: v.manifestName, Seq: m.Seq, LSN: m.LSN, Clock: m.Clock, Runs: len(m.Runs),
		Arrangements: []ArrangementInfo{}}
	ci.Bytes = v.manifestBytes()
	live := map[string]bool{v.manifestName: true}
	idx := map[[2]string]int{}
	for _, r := range m.Runs {
		live[r.Name] = true
		ci.Bytes += r.Bytes
		k := [2]string{r.Operator, r.Arrangement}
		i, ok := idx[k]
		if !ok {
			i = len(ci.Arrangements)
			idx[k] = i
			ci.Arrangements = append(ci.Arrangements, ArrangementInfo{Operator: r.Operator, Arrangement: r.Arrangement})
		}
		a := &ci.Arrangements[i]
		a.Runs++
		a.Entries += r.Entries
		a.Bytes += r.Bytes
	}
	slices.SortFunc(ci.Arrangements, func(a, b ArrangementInfo) int {
		return cmp.Or(cmp.Compare(a.Operator, b.Operator), cmp.Compare(a.Arrangement, b.Arrangement))
	})
	for _, names := range [][]string{v.manifests, v.runs, v.temps} {
		for _, n := range names {
			if !live[n] {
				ci.Garbage = append(ci.Garbage, n)
			}
		}
	}
	return ci
}

// sourceInfos describes the sources' offsets, by name and path, and the
// directories the catalog records for them.
func sourceInfos(offsets record.Offsets, cat *record.Catalog) []SourceInfo {
	out := []SourceInfo{}
	for _, name := range slices.Sorted(maps.Keys(offsets)) {
		s := SourceInfo{Name: name, Files: []SourceFileInfo{}}
		if cat != nil {
			s.Dir = cat.Dirs[name]
		}
		files := offsets[name]
		for _, p := range slices.Sorted(maps.Keys(files)) {
			st := files[p]
			s.Files = append(s.Files, SourceFileInfo{Path: p, Bytes: st.Offset, Size: st.Size, Lines: st.Line, Rows: st.Rows})
			s.Bytes += st.Offset
			s.Rows += st.Rows
		}
		out = append(out, s)
	}
	return out
}
