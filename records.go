package pwlog

import (
	"fmt"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/msgpackx"
	"github.com/pwlog/pwlog/sources"
	"github.com/pwlog/pwlog/wal"
	"github.com/vmihailenco/msgpack/v5"
)

// The kinds of WAL records. A logical time T is one WAL batch:
//
//	input*  state*  output*  commit
//
// where every record carries T. Records without a following commit
// record do not exist for recovery (the wal package cuts them at open).
// All bodies are msgpack; rows are in differential's row encoding, and
// every record holds columns, not one entry per update.
const (
	KindCommit = wal.KindCommit // commitRecord: T, source offsets, sink acks
	KindInput  = wal.Kind(2)    // inputRecord: one source's rows of T
	KindState  = wal.Kind(3)    // stateRecord: one arrangement's deltas of T
	KindOutput = wal.Kind(4)    // outputRecord: one sink's rows of T
	// KindPipeline holds the pipeline's fingerprint; it is logged in the
	// first batch of a storage, and restarts compare with it.
	KindPipeline = wal.Kind(5)
)

// KindName returns a record kind's name for logs and tools.
func KindName(k wal.Kind) string {
	switch k {
	case KindCommit:
		return "commit"
	case KindInput:
		return "input"
	case KindState:
		return "state"
	case KindOutput:
		return "output"
	case KindPipeline:
		return "pipeline"
	}
	return fmt.Sprintf("kind(%d)", k)
}

// CommitRecord ends the batch of logical time Time.
type CommitRecord struct {
	Time uint64 `msgpack:"t"`
	// Sources holds, per source, the state of every file the source
	// advanced at Time. The offsets of a source are the merge of all its
	// commits.
	Sources map[string][]sources.FileState `msgpack:"s,omitempty"`
	// Removed holds, per source, the files whose rows were retracted at
	// Time (changed or deleted): they are no longer read, and a file of
	// that name that exists is read again from its start.
	Removed map[string][]string `msgpack:"x,omitempty"`
	// Acks holds, per sink, what a run that finished left durably in the
	// sink's file; later times are re-emitted by the next run.
	Acks map[string]SinkAck `msgpack:"a,omitempty"`
}

// EncodeMsgpack implements msgpack.CustomEncoder: the maps are encoded in
// key order, so a commit record's bytes are reproducible.
func (c *CommitRecord) EncodeMsgpack(enc *msgpack.Encoder) error {
	type wire struct {
		Time    uint64                                  `msgpack:"t"`
		Sources msgpackx.SortedMap[[]sources.FileState] `msgpack:"s,omitempty"`
		Removed msgpackx.SortedMap[[]string]            `msgpack:"x,omitempty"`
		Acks    msgpackx.SortedMap[SinkAck]             `msgpack:"a,omitempty"`
	}
	return enc.Encode(&wire{c.Time, c.Sources, c.Removed, c.Acks})
}

// SinkAck is a sink's acknowledgement: its file held every time <= Time
// when it was synced. For an append-mode sink, Offset is the file's size
// then: recovery scans the changelog from there, not from its start.
type SinkAck struct {
	Time   uint64 `msgpack:"t"`
	Offset int64  `msgpack:"o"`
}

// InputRecord holds the rows one source contributed at Time.
type InputRecord struct {
	Time   uint64             `msgpack:"t"`
	Source string             `msgpack:"n"`
	Keys   []differential.Key `msgpack:"k"`
	Rows   []string           `msgpack:"r"`
	Diffs  []int64            `msgpack:"d"`
}

// StateRecord holds the deltas an operator applied to one of its
// arrangements at Time.
type StateRecord struct {
	Time        uint64              `msgpack:"t"`
	Operator    string              `msgpack:"o"`
	Arrangement string              `msgpack:"a"`
	Deltas      differential.Deltas `msgpack:"d"`
}

// OutputRecord holds the consolidated rows a sink receives at Time.
type OutputRecord struct {
	Time  uint64             `msgpack:"t"`
	Sink  string             `msgpack:"n"`
	Keys  []differential.Key `msgpack:"k"`
	Rows  []string           `msgpack:"r"`
	Diffs []int64            `msgpack:"d"`
}

// PipelineRecord holds a pipeline's fingerprint (Pipeline.Describe).
type PipelineRecord struct {
	Lines []string `msgpack:"l"`
	// Catalog names the columns of the pipeline's rows; nil in storages
	// written before it existed.
	Catalog *Catalog `msgpack:"c,omitempty"`
}

// columns turns updates into the columns of an input or output record.
func columns(us []differential.Update) (keys []differential.Key, rows []string, diffs []int64) {
	keys = make([]differential.Key, len(us))
	rows = make([]string, len(us))
	diffs = make([]int64, len(us))
	var buf []byte
	for i, u := range us {
		buf = differential.AppendRow(buf[:0], u.Row)
		keys[i], rows[i], diffs[i] = u.Key, string(buf), u.Diff
	}
	return keys, rows, diffs
}

// updates turns the columns of an output record back into updates.
func (r *OutputRecord) updates() ([]differential.Update, error) {
	if len(r.Rows) != len(r.Keys) || len(r.Diffs) != len(r.Keys) {
		return nil, fmt.Errorf("output record of sink %q at time %d: column lengths differ", r.Sink, r.Time)
	}
	us := make([]differential.Update, len(r.Keys))
	for i := range us {
		row, err := differential.DecodeRow(nil, []byte(r.Rows[i]))
		if err != nil {
			return nil, fmt.Errorf("output record of sink %q at time %d: %w", r.Sink, r.Time, err)
		}
		us[i] = differential.Update{Key: r.Keys[i], Row: row, Time: r.Time, Diff: r.Diffs[i]}
	}
	return us, nil
}

func record(kind wal.Kind, v any) (wal.Record, error) {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return wal.Record{}, fmt.Errorf("pwlog: encode %s record: %w", KindName(kind), err)
	}
	return wal.Record{Kind: kind, Data: b}, nil
}

// DecodeRecord decodes the body of a WAL record of a known kind into one of
// the *Record types.
func DecodeRecord(kind wal.Kind, data []byte) (any, error) {
	var v any
	switch kind {
	case KindCommit:
		v = &CommitRecord{}
	case KindInput:
		v = &InputRecord{}
	case KindState:
		v = &StateRecord{}
	case KindOutput:
		v = &OutputRecord{}
	case KindPipeline:
		v = &PipelineRecord{}
	default:
		return nil, fmt.Errorf("pwlog: unknown record kind %d", kind)
	}
	if err := unmarshalRecord(data, v); err != nil {
		return nil, fmt.Errorf("pwlog: decode %s record: %w", KindName(kind), err)
	}
	return v, nil
}

// unmarshalRecord decodes the body of a WAL record into v, one of the
// *Record types, refusing hostile lengths (msgpackx.Unmarshal) and, in an
// input, state or output record, columns of different lengths: replay
// indexes them together.
func unmarshalRecord(data []byte, v any) error {
	if err := msgpackx.Unmarshal(data, v); err != nil {
		return err
	}
	lens := columnLens(v)
	for _, n := range lens {
		if n != lens[0] {
			return fmt.Errorf("columns of different lengths %v", lens)
		}
	}
	return nil
}

// columnLens returns the lengths of the columns of a record, v one of the
// *Record types; [0] for a record without columns.
func columnLens(v any) []int {
	switch r := v.(type) {
	case *InputRecord:
		return []int{len(r.Keys), len(r.Rows), len(r.Diffs)}
	case *StateRecord:
		return []int{len(r.Deltas.Groups), len(r.Deltas.Keys), len(r.Deltas.Rows), len(r.Deltas.Diffs)}
	case *OutputRecord:
		return []int{len(r.Keys), len(r.Rows), len(r.Diffs)}
	}
	return []int{0}
}
