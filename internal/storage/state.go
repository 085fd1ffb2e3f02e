package storage

import (
	"fmt"
	"maps"
	"slices"

	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/wal"
)

// State is what a storage describes: a checkpoint's manifest folded with
// the committed batches of the log after it. It is the one reader of the
// log's batch format: restart, compaction of a stopped storage, Inspect
// and Verify all feed their records to a State, so they cannot disagree
// about what is committed.
//
// Feed it every record of the log in LSN order (Add); records up to the
// manifest's LSN are ignored. A batch's records are held until its commit
// record arrives, then applied in order: the pipeline record, the state
// deltas (OnState), the outputs, and last the commit's offsets, acks and
// clock (then OnCommit). Records never followed by a commit are not part
// of the state: Pending says how many wait.
//
// A committed batch that breaks the format's rules (a record of another
// time than its commit's, a commit whose time goes back, state of an
// arrangement the catalog does not name, a second and different
// fingerprint) is a *BatchError. With Problem set it is reported there
// and folding goes on; without, Add returns it.
type State struct {
	// Manifest is the checkpoint the state starts from; nil for none.
	Manifest *checkpoint.Manifest
	// LSN is the last LSN folded in: the last commit applied, or the
	// manifest's LSN.
	LSN uint64
	// Clock is the last committed logical time; 0 when none.
	Clock uint64
	// Fingerprint and Catalog describe the pipeline that wrote the
	// storage: the last pipeline record, or the manifest's.
	Fingerprint []string
	Catalog     *record.Catalog
	// Offsets are the sources' offsets, Acks the sinks' acknowledgements.
	Offsets record.Offsets
	Acks    map[string]record.SinkAck
	// Entries counts, per arrangement, the entries of the checkpoint's
	// runs plus the state deltas folded from the log (before
	// consolidation).
	Entries map[compaction.ArrKey]int64
	// Unacked holds, per sink, the committed output records of times
	// after the sink's ack, in log order: what a restart re-emits where
	// the sink's file lacks it.
	Unacked map[string][]*record.Output
	// LastOutput is, per sink, the last time of its rows in the log
	// after the checkpoint.
	LastOutput map[string]uint64
	// Log counts what was folded from the log after the checkpoint.
	Log LogCounts

	// OnPipeline, when set, is called with each committed pipeline
	// record before the batch's state deltas; an error stops Add.
	OnPipeline func(lsn uint64, r *record.Pipeline) error
	// OnState, when set, is called with each committed state record, in
	// log order; size is the record's body size. An error stops Add.
	OnState func(lsn uint64, r *record.State, size int) error
	// OnCommit, when set, is called after a commit was applied; an error
	// stops Add.
	OnCommit func(lsn uint64, c *record.Commit) error
	// Problem, when set, receives each *BatchError and folding goes on.
	Problem func(*BatchError)

	batch     []pending
	commits   int
	lastBatch uint64 // time of the last commit applied
}

// LogCounts counts what a State folded from the log.
type LogCounts struct {
	// Records counts the committed records folded, commits included.
	Records int
	// Times counts the distinct committed logical times, from FirstTime
	// to LastTime. An ack-only commit repeats the last time.
	Times               int
	FirstTime, LastTime uint64
	// StateDeltas counts the state deltas folded.
	StateDeltas int64
}

// pending is a decoded record of a batch whose commit has not come yet.
type pending struct {
	lsn  uint64
	kind wal.Kind
	v    any // a record type; nil for an input record, which is not decoded
	size int
}

// BatchError is a committed batch, or one record of it, that breaks the
// rules of the log's format.
type BatchError struct {
	LSN    uint64 // the record concerned
	Kind   wal.Kind
	Reason string
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("%s record at LSN %d: %s", record.KindName(e.Kind), e.LSN, e.Reason)
}

// NewState returns the state a manifest describes, or an empty storage's
// when m is nil. It fails when the manifest's engine state does not
// decode, with a *checkpoint.CorruptError naming the manifest.
func NewState(m *checkpoint.Manifest) (*State, error) {
	s := &State{
		Manifest:   m,
		Offsets:    record.Offsets{},
		Acks:       map[string]record.SinkAck{},
		Entries:    map[compaction.ArrKey]int64{},
		Unacked:    map[string][]*record.Output{},
		LastOutput: map[string]uint64{},
	}
	if m == nil {
		return s, nil
	}
	meta, err := record.DecodeMeta(m.Meta)
	if err != nil {
		return nil, &checkpoint.CorruptError{Object: checkpoint.ManifestName(m.Seq), Offset: -1, Reason: "engine state: " + err.Error()}
	}
	s.LSN, s.Clock, s.Fingerprint = m.LSN, m.Clock, m.Fingerprint
	// The first commit after the checkpoint may not go back before it.
	s.commits, s.lastBatch = 1, m.Clock
	s.Offsets, s.Acks, s.Catalog = meta.Offsets, meta.Acks, meta.Catalog
	for _, r := range m.Runs {
		s.Entries[compaction.ArrKey{Operator: r.Operator, Arrangement: r.Arrangement}] += r.Entries
	}
	return s, nil
}

// Pending returns how many records wait for their batch's commit.
func (s *State) Pending() int { return len(s.batch) }

// AllAcked reports whether every sink holds every committed row: no
// output record after a sink's ack. A compaction may fold the log up to
// such a point, since no row of it needs re-emitting.
func (s *State) AllAcked() bool {
	for _, us := range s.Unacked {
		if len(us) > 0 {
			return false
		}
	}
	return true
}

// Add folds one record of the log. The record's Data is not retained. A
// record whose body does not decode fails Add with an error naming its
// kind and LSN; so do the errors of the hooks.
func (s *State) Add(r wal.Record) error {
	if r.LSN <= s.LSN {
		return nil // folded into the checkpoint
	}
	var v any
	if r.Kind != record.KindInput {
		// Inputs are kept for tools and for rebuilding operators; no
		// state depends on them, so they are not decoded here.
		d, err := record.Decode(r.Kind, r.Data)
		if err != nil {
			return fmt.Errorf("LSN %d: %w", r.LSN, err)
		}
		v = d
	}
	return s.AddDecoded(r.LSN, r.Kind, v, len(r.Data))
}

// AddDecoded is Add for a record its caller decoded already (v is what
// record.Decode returned; nil for an input record it did not decode).
func (s *State) AddDecoded(lsn uint64, kind wal.Kind, v any, size int) error {
	if lsn <= s.LSN {
		return nil
	}
	if !decodedAs(kind, v) {
		return fmt.Errorf("LSN %d: a %s record decoded as %T", lsn, record.KindName(kind), v)
	}
	if kind != record.KindCommit {
		s.batch = append(s.batch, pending{lsn: lsn, kind: kind, v: v, size: size})
		return nil
	}
	return s.commit(lsn, v.(*record.Commit))
}

// decodedAs reports whether v is what record.Decode returns for kind (an
// input record may also be left undecoded: nil).
func decodedAs(kind wal.Kind, v any) bool {
	switch r := v.(type) {
	case nil:
		return kind == record.KindInput
	case *record.Commit:
		return kind == record.KindCommit && r != nil
	case *record.Input:
		return kind == record.KindInput && r != nil
	case *record.State:
		return kind == record.KindState && r != nil
	case *record.Output:
		return kind == record.KindOutput && r != nil
	case *record.Pipeline:
		return kind == record.KindPipeline && r != nil
	}
	return false
}

func (s *State) problem(lsn uint64, kind wal.Kind, format string, args ...any) error {
	e := &BatchError{LSN: lsn, Kind: kind, Reason: fmt.Sprintf(format, args...)}
	if s.Problem != nil {
		s.Problem(e)
		return nil
	}
	return e
}

// commit applies the held batch and its commit record c at lsn.
func (s *State) commit(lsn uint64, c *record.Commit) error {
	batch := s.batch
	s.batch = s.batch[:0]
	if s.commits > 0 && c.Time < s.lastBatch {
		if err := s.problem(lsn, record.KindCommit, "commit of time %d after a commit of time %d: time went back", c.Time, s.lastBatch); err != nil {
			return err
		}
	}
	for _, p := range batch {
		if p.v == nil {
			continue
		}
		if t := record.Time(p.v); p.kind != record.KindPipeline && t != c.Time {
			if err := s.problem(p.lsn, p.kind, "time %d in the batch of time %d (committed at LSN %d)", t, c.Time, lsn); err != nil {
				return err
			}
		}
		switch r := p.v.(type) {
		case *record.Pipeline:
			if err := s.pipeline(p.lsn, r); err != nil {
				return err
			}
		case *record.State:
			if !s.Catalog.Knows(r.Operator, r.Arrangement) {
				if err := s.problem(p.lsn, p.kind, "state of %s/%s, which the pipeline does not have", r.Operator, r.Arrangement); err != nil {
					return err
				}
			}
			if s.OnState != nil {
				if err := s.OnState(p.lsn, r, p.size); err != nil {
					return err
				}
			}
			n := int64(r.Deltas.Len())
			s.Entries[compaction.ArrKey{Operator: r.Operator, Arrangement: r.Arrangement}] += n
			s.Log.StateDeltas += n
		case *record.Output:
			s.LastOutput[r.Sink] = max(s.LastOutput[r.Sink], r.Time)
			if r.Time > s.Acks[r.Sink].Time {
				s.Unacked[r.Sink] = append(s.Unacked[r.Sink], r)
			}
		}
	}
	s.Log.Records += len(batch) + 1
	if s.Log.Times == 0 || c.Time > s.Log.LastTime {
		if s.Log.Times == 0 {
			s.Log.FirstTime = c.Time
		}
		s.Log.Times++
		s.Log.LastTime = c.Time
	}
	s.Clock = max(s.Clock, c.Time)
	s.Offsets.Apply(c)
	for name, ack := range c.Acks {
		s.Acks[name] = ack
		if us := s.Unacked[name]; len(us) > 0 {
			s.Unacked[name] = slices.DeleteFunc(us, func(o *record.Output) bool { return o.Time <= ack.Time })
		}
	}
	s.commits++
	s.lastBatch = c.Time
	s.LSN = lsn
	if s.OnCommit != nil {
		return s.OnCommit(lsn, c)
	}
	return nil
}

// pipeline applies a committed pipeline record.
func (s *State) pipeline(lsn uint64, r *record.Pipeline) error {
	// The hook first: a reader that knows the pipeline (a restart) says
	// how it differs from the stored one.
	if s.OnPipeline != nil {
		if err := s.OnPipeline(lsn, r); err != nil {
			return err
		}
	}
	if s.Fingerprint != nil && !r.Changed {
		if d := FingerprintDiff(s.Fingerprint, r.Lines); d != "" {
			if err := s.problem(lsn, record.KindPipeline, "a second, different pipeline fingerprint in one storage: %s", d); err != nil {
				return err
			}
		}
	}
	s.Fingerprint = r.Lines
	if r.Catalog != nil {
		s.Catalog = r.Catalog
	}
	return nil
}

// Summary returns what the state adds up to, in maps of its own.
func (s *State) Summary() record.Summary {
	sum := record.Summary{LSN: s.LSN, Clock: s.Clock, Times: s.Log.Times, Offsets: s.Offsets.Clone(),
		Acks: maps.Clone(s.Acks), Entries: map[string]int64{}}
	for k, n := range s.Entries {
		sum.Entries[record.ArrangementKey(k.Operator, k.Arrangement)] = n
	}
	for name, us := range s.Unacked {
		for _, o := range us {
			if sum.Unacked == nil {
				sum.Unacked = map[string][]uint64{}
			}
			sum.Unacked[name] = append(sum.Unacked[name], o.Time)
		}
	}
	return sum
}
