// Package record defines the bodies of pwlog's write-ahead log records and
// the engine state a checkpoint's manifest carries: the format the engine
// writes and every reader of a storage (restart, compaction, the tools)
// decodes.
//
// A logical time T is one batch of the log (package wal):
//
//	pipeline?  input*  state*  output*  commit
//
// where every record but the pipeline record carries T. Records without a
// following commit record do not exist for recovery: the wal package cuts
// them at open, and readers that see them (wal.Scan) must ignore them.
// All bodies are msgpack; rows are in differential's row encoding, and
// every record holds columns, not one entry per update.
//
// The msgpack tags are the storage format: they must not change without a
// new storage format version. The json tags are what `pwlog dump --json`
// prints.
package record

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/msgpackx"
	"github.com/pwlog/pwlog/sources"
	"github.com/pwlog/pwlog/wal"
)

// The kinds of log records.
const (
	KindCommit = wal.KindCommit // *Commit: T, source offsets, sink acks
	KindInput  = wal.Kind(2)    // *Input: one source's rows of T
	KindState  = wal.Kind(3)    // *State: one arrangement's deltas of T
	KindOutput = wal.Kind(4)    // *Output: one sink's rows of T
	// KindPipeline holds the pipeline's fingerprint and catalog
	// (*Pipeline); it is logged in the first batch of a storage and again
	// when the catalog changes, and restarts compare with it.
	KindPipeline = wal.Kind(5)
)

// Kinds lists the record kinds, in the order of their numbers.
var Kinds = []wal.Kind{KindCommit, KindInput, KindState, KindOutput, KindPipeline}

// KindName returns a record kind's name for logs and tools: "commit",
// "input", "state", "output", "pipeline", or "kind(N)".
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

// ParseKind returns the kind named name (see KindName).
func ParseKind(name string) (wal.Kind, bool) {
	for _, k := range Kinds {
		if KindName(k) == name {
			return k, true
		}
	}
	return 0, false
}

// Commit ends the batch of logical time Time.
type Commit struct {
	Time uint64 `msgpack:"t" json:"time"`
	// Sources holds, per source, the state of every file the source
	// advanced at Time. The offsets of a source are the merge of all its
	// commits (Offsets.Apply).
	Sources map[string][]sources.FileState `msgpack:"s,omitempty" json:"sources,omitempty"`
	// Removed holds, per source, the files whose rows were retracted at
	// Time (changed or deleted): they are no longer read, and a file of
	// that name that exists is read again from its start.
	Removed map[string][]string `msgpack:"x,omitempty" json:"removed,omitempty"`
	// Acks holds, per sink, what an execution that finished left durably
	// in the sink's file; later times are re-emitted by the next one.
	Acks map[string]SinkAck `msgpack:"a,omitempty" json:"acks,omitempty"`
}

// EncodeMsgpack implements msgpack.CustomEncoder: the maps are encoded in
// key order, so a commit record's bytes are reproducible.
func (c *Commit) EncodeMsgpack(enc *msgpack.Encoder) error {
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
//
// Resnapshot, set by `pwlog resnapshot`, asks the next execution to
// write the sink's whole current table into a new file (its file was
// deleted or rotated) instead of resuming the old one.
type SinkAck struct {
	Time       uint64 `msgpack:"t" json:"time"`
	Offset     int64  `msgpack:"o" json:"offset"`
	Resnapshot bool   `msgpack:"r,omitempty" json:"resnapshot,omitempty"`
}

// Input holds the rows one source contributed at Time.
type Input struct {
	Time   uint64             `msgpack:"t" json:"time"`
	Source string             `msgpack:"n" json:"source"`
	Keys   []differential.Key `msgpack:"k" json:"keys"`
	Rows   []string           `msgpack:"r" json:"rows"`
	Diffs  []int64            `msgpack:"d" json:"diffs"`
}

// State holds the deltas an operator applied to one of its arrangements
// at Time.
type State struct {
	Time        uint64              `msgpack:"t" json:"time"`
	Operator    string              `msgpack:"o" json:"operator"`
	Arrangement string              `msgpack:"a" json:"arrangement"`
	Deltas      differential.Deltas `msgpack:"d" json:"deltas"`
}

// Output holds the consolidated rows a sink receives at Time.
type Output struct {
	Time  uint64             `msgpack:"t" json:"time"`
	Sink  string             `msgpack:"n" json:"sink"`
	Keys  []differential.Key `msgpack:"k" json:"keys"`
	Rows  []string           `msgpack:"r" json:"rows"`
	Diffs []int64            `msgpack:"d" json:"diffs"`
}

// Pipeline holds a pipeline's fingerprint (pwlog.Pipeline.Describe).
type Pipeline struct {
	Lines []string `msgpack:"l" json:"lines"`
	// Catalog names the columns of the pipeline's rows; nil in storages
	// written before it existed.
	Catalog *Catalog `msgpack:"c,omitempty" json:"catalog,omitempty"`
	// Changed is set on the record of an execution that changed the
	// pipeline (evolution): its fingerprint replaces the stored one, and
	// the same batch holds the rebuilt state and the difference the
	// change made to every sink.
	Changed bool `msgpack:"x,omitempty" json:"changed,omitempty"`
}

// Columns turns updates into the columns of an Input or Output record.
func Columns(us []differential.Update) (keys []differential.Key, rows []string, diffs []int64) {
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

// Updates turns the columns of an output record back into updates.
func (r *Output) Updates() ([]differential.Update, error) {
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

// Encode encodes v, the body of a record of kind (one of the record
// types), into a log record.
func Encode(kind wal.Kind, v any) (wal.Record, error) {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return wal.Record{}, fmt.Errorf("encode %s record: %w", KindName(kind), err)
	}
	return wal.Record{Kind: kind, Data: b}, nil
}

// Decode decodes the body of a log record of a known kind into one of
// the record types (*Commit, *Input, *State, *Output, *Pipeline). It
// refuses hostile lengths and, in an input, state or output record,
// columns of different lengths: readers index them together. On error
// the value is nil.
func Decode(kind wal.Kind, data []byte) (any, error) {
	var v any
	switch kind {
	case KindCommit:
		v = &Commit{}
	case KindInput:
		v = &Input{}
	case KindState:
		v = &State{}
	case KindOutput:
		v = &Output{}
	case KindPipeline:
		v = &Pipeline{}
	default:
		return nil, fmt.Errorf("unknown record kind %d", kind)
	}
	if err := Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("decode %s record: %w", KindName(kind), err)
	}
	return v, nil
}

// Unmarshal decodes the body of a log record into v, a pointer to one of
// the record types, with Decode's checks.
func Unmarshal(data []byte, v any) error {
	if err := msgpackx.Unmarshal(data, v); err != nil {
		return err
	}
	lens := ColumnLens(v)
	for _, n := range lens {
		if n != lens[0] {
			return fmt.Errorf("columns of different lengths %v", lens)
		}
	}
	return nil
}

// ColumnLens returns the lengths of the columns of a record, v one of the
// record types; [0] for a record without columns.
func ColumnLens(v any) []int {
	switch r := v.(type) {
	case *Input:
		return []int{len(r.Keys), len(r.Rows), len(r.Diffs)}
	case *State:
		return []int{len(r.Deltas.Groups), len(r.Deltas.Keys), len(r.Deltas.Rows), len(r.Deltas.Diffs)}
	case *Output:
		return []int{len(r.Keys), len(r.Rows), len(r.Diffs)}
	}
	return []int{0}
}

// Time returns a decoded record's logical time; 0 for a pipeline record,
// which carries none.
func Time(v any) uint64 {
	switch r := v.(type) {
	case *Commit:
		return r.Time
	case *Input:
		return r.Time
	case *State:
		return r.Time
	case *Output:
		return r.Time
	}
	return 0
}
