package record

import (
	"maps"
	"slices"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/pwlog/pwlog/internal/msgpackx"
	"github.com/pwlog/pwlog/sources"
)

// Offsets are the files every source has read: source -> file path ->
// state. The offsets of a storage are the merge of its commits.
type Offsets map[string]map[string]sources.FileState

// Apply merges a commit's source changes: files retracted, then files
// advanced.
func (o Offsets) Apply(c *Commit) {
	for name, paths := range c.Removed {
		for _, p := range paths {
			delete(o[name], p)
		}
	}
	for name, states := range c.Sources {
		m := o[name]
		if m == nil {
			m = map[string]sources.FileState{}
			o[name] = m
		}
		for _, st := range states {
			m[st.Path] = st
		}
	}
}

// Clone returns a deep copy of o.
func (o Offsets) Clone() Offsets {
	c := make(Offsets, len(o))
	for name, files := range o {
		c[name] = maps.Clone(files)
	}
	return c
}

// Meta is the engine's state at a checkpoint's LSN, kept in the
// manifest (checkpoint.Manifest.Meta): the merged source offsets, the
// sink acks and the catalog. The manifest itself holds the LSN, the
// clock and the fingerprint.
type Meta struct {
	Offsets Offsets
	Acks    map[string]SinkAck
	Catalog *Catalog
}

// meta is Meta as stored: every source's files as a list in path order,
// maps in key order, so that a manifest's bytes are reproducible.
type meta struct {
	Sources msgpackx.SortedMap[[]sources.FileState] `msgpack:"s,omitempty"`
	Acks    msgpackx.SortedMap[SinkAck]             `msgpack:"a,omitempty"`
	Catalog *Catalog                                `msgpack:"c,omitempty"`
}

// EncodeMeta encodes m for checkpoint.Manifest.Meta.
func EncodeMeta(m *Meta) ([]byte, error) {
	w := meta{Sources: map[string][]sources.FileState{}, Acks: m.Acks, Catalog: m.Catalog}
	for name, files := range m.Offsets {
		paths := slices.Sorted(maps.Keys(files))
		states := make([]sources.FileState, len(paths))
		for i, p := range paths {
			states[i] = files[p]
		}
		w.Sources[name] = states
	}
	return msgpack.Marshal(&w)
}

// DecodeMeta decodes what EncodeMeta encoded. Its maps are never nil.
func DecodeMeta(data []byte) (*Meta, error) {
	var w meta
	if err := msgpackx.Unmarshal(data, &w); err != nil {
		return nil, err
	}
	m := &Meta{Offsets: Offsets{}, Acks: map[string]SinkAck{}, Catalog: w.Catalog}
	for name, states := range w.Sources {
		files := map[string]sources.FileState{}
		for _, st := range states {
			files[st.Path] = st
		}
		m.Offsets[name] = files
	}
	maps.Copy(m.Acks, w.Acks)
	return m, nil
}

// Summary is what a storage's checkpoint and committed log add up to:
// what every reader of a storage (a restart, a compaction, the tools)
// must agree on.
type Summary struct {
	// LSN is the last commit folded in, or the checkpoint's LSN.
	LSN   uint64
	Clock uint64
	// Times counts the committed logical times in the log after the
	// checkpoint.
	Times   int
	Offsets Offsets
	Acks    map[string]SinkAck
	// Entries counts, per ArrangementKey, the entries of the
	// checkpoint's runs plus the state deltas of the log after it.
	Entries map[string]int64
	// Unacked lists, per sink, the times of the committed output records
	// after the sink's ack, in log order: what a restart re-emits where
	// the sink's file lacks it. Nil when there are none.
	Unacked map[string][]uint64
}
