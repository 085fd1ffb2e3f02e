package measure

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/pwlog/pwlog/record"

	"github.com/pwlog/pwlog/wal"
	tidwal "github.com/tidwall/wal"
	"github.com/vmihailenco/msgpack/v5"
)

// WALResult compares pwlog's WAL commit path with raw tidwall/wal on the
// same bytes.
type WALResult struct {
	Batches int
	Bytes   int64         // bytes of record bodies written, the same for both
	Ours    time.Duration // wal.Log.Append of each batch's records (msgpack-encoded record.State bodies + a commit record), fsync per batch
	Raw     time.Duration // github.com/tidwall/wal WriteBatch of the same bodies as entries, tidwall's own sync per batch (NoSync false)
	// OursDisk and RawDisk are the bytes each log holds on disk after:
	// our frames snappy-compress bodies of 256 bytes or more.
	OursDisk, RawDisk int64
}

// WALCompare writes s through both logs into fresh directories under dir
// (created if missing).
// The bodies (msgpack of a record.State per StateDelta and of a
// record.Commit holding only the time) are encoded before timing.
// Ours times the loop of one wal.Log.Append per batch: framing, CRC,
// snappy for bodies of 256 bytes or more, the writer goroutine's
// WriteBatch and, with sync, its fsync. Raw times the loop of one tidwall
// WriteBatch per batch (building the tidwall.Batch included) of the same
// bodies, as they are; with sync, tidwall fsyncs after each WriteBatch.
// Both use 16 MiB segments; opening and closing the logs is not timed.
// With sync false both skip their fsync (wal Options.NoSync; tidwall
// NoSync true), to compare the CPU cost of the paths alone.
func WALCompare(dir string, s *Stream, sync bool) (WALResult, error) {
	res := WALResult{Batches: len(s.Batches)}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, err
	}
	batches := make([][]wal.Record, len(s.Batches))
	for i, b := range s.Batches {
		recs, err := encodeBatch(b)
		if err != nil {
			return res, err
		}
		for _, r := range recs {
			res.Bytes += int64(len(r.Data))
		}
		batches[i] = recs
	}
	var err error
	if res.Ours, err = timeOurs(dir, batches, sync); err != nil {
		return res, err
	}
	if res.Raw, err = timeRaw(dir, batches, sync); err != nil {
		return res, err
	}
	if res.OursDisk, err = globBytes(dir, "pwlog-wal-*"); err != nil {
		return res, err
	}
	res.RawDisk, err = globBytes(dir, "tidwall-*")
	return res, err
}

// globBytes returns the bytes of the directories under dir matching
// pattern.
func globBytes(dir, pattern string) (int64, error) {
	dirs, err := filepath.Glob(filepath.Join(dir, pattern))
	var n int64
	for _, d := range dirs {
		b, derr := dirBytes(d)
		n += b
		err = errors.Join(err, derr)
	}
	return n, err
}

// encodeBatch returns the records the engine logs for b's state: one
// record.State per arrangement, then a record.Commit.
func encodeBatch(b StreamBatch) ([]wal.Record, error) {
	recs := make([]wal.Record, 0, len(b.States)+1)
	for _, st := range b.States {
		data, err := msgpack.Marshal(&record.State{Time: b.Time, Operator: st.Operator, Arrangement: st.Arrangement, Deltas: st.Deltas})
		if err != nil {
			return nil, fmt.Errorf("measure: encode state record: %w", err)
		}
		recs = append(recs, wal.Record{Kind: record.KindState, Data: data})
	}
	data, err := msgpack.Marshal(&record.Commit{Time: b.Time})
	if err != nil {
		return nil, fmt.Errorf("measure: encode commit record: %w", err)
	}
	return append(recs, wal.Record{Kind: record.KindCommit, Data: data}), nil
}

// timeOurs appends the batches to a new pwlog wal.Log under dir.
func timeOurs(dir string, batches [][]wal.Record, sync bool) (time.Duration, error) {
	d, err := os.MkdirTemp(dir, "pwlog-wal-")
	if err != nil {
		return 0, err
	}
	log, err := wal.Open(d, &wal.Options{NoSync: !sync, Logger: quiet()})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for _, recs := range batches {
		if _, err := log.Append(recs); err != nil {
			log.Close()
			return 0, err
		}
	}
	elapsed := time.Since(start)
	return elapsed, log.Close()
}

// timeRaw writes the batches' bodies to a new tidwall/wal log under dir.
func timeRaw(dir string, batches [][]wal.Record, sync bool) (time.Duration, error) {
	d, err := os.MkdirTemp(dir, "tidwall-")
	if err != nil {
		return 0, err
	}
	log, err := tidwal.Open(d, &tidwal.Options{NoSync: !sync, SegmentSize: wal.DefaultSegmentSize})
	if err != nil {
		return 0, err
	}
	var b tidwal.Batch
	index := uint64(1)
	start := time.Now()
	for _, recs := range batches {
		b.Clear()
		for _, r := range recs {
			b.Write(index, r.Data)
			index++
		}
		if err := log.WriteBatch(&b); err != nil {
			log.Close()
			return 0, err
		}
	}
	elapsed := time.Since(start)
	return elapsed, log.Close()
}

// quiet is a logger that drops everything.
func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
