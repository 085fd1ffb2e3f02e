package storage

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/sources"
	"github.com/pwlog/pwlog/wal"
)

// log builds a log's records, numbering them from first.
type log struct {
	t    *testing.T
	next uint64
	recs []wal.Record
}

func (l *log) add(kind wal.Kind, v any) uint64 {
	l.t.Helper()
	r, err := record.Encode(kind, v)
	if err != nil {
		l.t.Fatal(err)
	}
	r.LSN = l.next
	l.next++
	l.recs = append(l.recs, r)
	return r.LSN
}

var testCatalog = &record.Catalog{
	Tables:       map[string][]string{"src": {"x"}, "out": {"x"}},
	Arrangements: map[string]differential.Columns{"op/arr": {Group: []string{"x"}, Row: []string{"x"}}},
}

func stateRec(t uint64, n int) *record.State {
	d := differential.Deltas{}
	for i := range n {
		d.Groups = append(d.Groups, "g")
		d.Keys = append(d.Keys, differential.Key(i))
		d.Rows = append(d.Rows, "r")
		d.Diffs = append(d.Diffs, 1)
	}
	return &record.State{Time: t, Operator: "op", Arrangement: "arr", Deltas: d}
}

func output(t uint64) *record.Output {
	return &record.Output{Time: t, Sink: "out", Keys: []differential.Key{1}, Rows: []string{"r"}, Diffs: []int64{1}}
}

func fileAt(off int64) map[string][]sources.FileState {
	return map[string][]sources.FileState{"src": {{Path: "a.csv", Offset: off}}}
}

func feed(t *testing.T, s *State, recs []wal.Record) {
	t.Helper()
	for _, r := range recs {
		if err := s.Add(r); err != nil {
			t.Fatalf("LSN %d: %v", r.LSN, err)
		}
	}
}

// A batch counts only once its commit is read; offsets, acks, the clock,
// entry counts and unacknowledged outputs follow the commits.
func TestStateFoldsCommittedBatches(t *testing.T) {
	l := &log{t: t, next: 1}
	l.add(record.KindPipeline, &record.Pipeline{Lines: []string{"source src: csv(x:int)"}, Catalog: testCatalog})
	l.add(record.KindInput, &record.Input{Time: 10, Source: "src"})
	l.add(record.KindState, stateRec(10, 3))
	l.add(record.KindOutput, output(10))
	l.add(record.KindCommit, &record.Commit{Time: 10, Sources: fileAt(5)})
	l.add(record.KindCommit, &record.Commit{Time: 10, Acks: map[string]record.SinkAck{"out": {Time: 10, Offset: 7}}})
	l.add(record.KindState, stateRec(20, 2))
	l.add(record.KindOutput, output(20))
	commit20 := l.add(record.KindCommit, &record.Commit{Time: 20, Sources: fileAt(9)})
	l.add(record.KindState, stateRec(30, 4)) // never committed

	s, err := NewState(nil)
	if err != nil {
		t.Fatal(err)
	}
	var commits []uint64
	s.OnCommit = func(lsn uint64, _ *record.Commit) error { commits = append(commits, lsn); return nil }
	var applied int
	s.OnState = func(_ uint64, r *record.State, _ int) error { applied += r.Deltas.Len(); return nil }
	feed(t, s, l.recs)

	if s.LSN != commit20 || s.Clock != 20 || s.Log.Times != 2 || s.Log.Records != 9 || s.Pending() != 1 {
		t.Fatalf("LSN %d clock %d times %d records %d pending %d", s.LSN, s.Clock, s.Log.Times, s.Log.Records, s.Pending())
	}
	if applied != 5 || s.Log.StateDeltas != 5 || len(commits) != 3 {
		t.Fatalf("applied %d, deltas %d, commits %v", applied, s.Log.StateDeltas, commits)
	}
	if got := s.Offsets["src"]["a.csv"].Offset; got != 9 {
		t.Fatalf("offset %d, want 9", got)
	}
	if s.Acks["out"] != (record.SinkAck{Time: 10, Offset: 7}) {
		t.Fatalf("acks %v", s.Acks)
	}
	// Time 10's rows were acknowledged; time 20's wait.
	if us := s.Unacked["out"]; len(us) != 1 || us[0].Time != 20 || s.AllAcked() || s.LastOutput["out"] != 20 {
		t.Fatalf("unacked %v, last output %d", us, s.LastOutput["out"])
	}
	want := record.Summary{LSN: commit20, Clock: 20, Times: 2,
		Offsets: record.Offsets{"src": {"a.csv": {Path: "a.csv", Offset: 9}}},
		Acks:    map[string]record.SinkAck{"out": {Time: 10, Offset: 7}},
		Entries: map[string]int64{"op/arr": 5},
		Unacked: map[string][]uint64{"out": {20}}}
	if got := s.Summary(); !reflect.DeepEqual(got, want) {
		t.Fatalf("summary %+v\nwant %+v", got, want)
	}
}

// A state starts from a manifest: its offsets, acks, catalog, clock and
// run entries; the log's records up to its LSN are not folded again.
func TestStateStartsFromManifest(t *testing.T) {
	meta, err := record.EncodeMeta(&record.Meta{Offsets: record.Offsets{"src": {"a.csv": {Path: "a.csv", Offset: 5}}},
		Acks: map[string]record.SinkAck{"out": {Time: 10}}, Catalog: testCatalog})
	if err != nil {
		t.Fatal(err)
	}
	m := &checkpoint.Manifest{Seq: 1, LSN: 3, Clock: 10, Fingerprint: []string{"source src: csv(x:int)"}, Meta: meta,
		Runs: []checkpoint.RunMeta{{Name: "runs/1.run", Operator: "op", Arrangement: "arr", Entries: 6}}}
	s, err := NewState(m)
	if err != nil {
		t.Fatal(err)
	}
	l := &log{t: t, next: 1}
	l.add(record.KindState, stateRec(10, 100)) // folded into the manifest
	l.add(record.KindOutput, output(10))
	l.add(record.KindCommit, &record.Commit{Time: 10, Sources: fileAt(1)})
	l.add(record.KindState, stateRec(11, 2))
	last := l.add(record.KindCommit, &record.Commit{Time: 11})
	feed(t, s, l.recs)
	if s.Offsets["src"]["a.csv"].Offset != 5 || s.Entries[arrKey("op", "arr")] != 8 || s.LSN != last || s.Clock != 11 ||
		len(s.Unacked["out"]) != 0 || s.Log.Times != 1 || !s.Catalog.Equal(testCatalog) {
		t.Fatalf("state %+v", s.Summary())
	}

	// The first commit after the checkpoint may not go back before its
	// clock; an ack-only commit repeats it.
	s, _ = NewState(m)
	l = &log{t: t, next: 4}
	l.add(record.KindCommit, &record.Commit{Time: 10, Acks: map[string]record.SinkAck{"out": {Time: 10}}})
	back := l.add(record.KindCommit, &record.Commit{Time: 9})
	var be *BatchError
	for _, r := range l.recs {
		if err = s.Add(r); err != nil {
			break
		}
	}
	if !errors.As(err, &be) || be.LSN != back {
		t.Fatalf("a commit before the checkpoint's clock: %v", err)
	}

	m.Meta = []byte{0xc1} // never used in msgpack
	var ce *checkpoint.CorruptError
	if _, err := NewState(m); !errors.As(err, &ce) || !strings.Contains(err.Error(), "MANIFEST-") {
		t.Fatalf("a manifest whose engine state does not decode: %v", err)
	}
}

// A committed batch that breaks the format's rules is a *BatchError: Add
// returns it, or, with Problem set, reports it and goes on.
func TestStateBatchRules(t *testing.T) {
	for _, c := range []struct {
		name  string
		build func(l *log) uint64 // returns the LSN the error names
		want  string
	}{
		{"time-mismatch", func(l *log) uint64 {
			lsn := l.add(record.KindState, stateRec(9, 1))
			l.add(record.KindCommit, &record.Commit{Time: 10})
			return lsn
		}, "time 9 in the batch of time 10"},
		{"time-back", func(l *log) uint64 {
			l.add(record.KindCommit, &record.Commit{Time: 10})
			return l.add(record.KindCommit, &record.Commit{Time: 9})
		}, "time went back"},
		{"unknown-arrangement", func(l *log) uint64 {
			r := stateRec(10, 1)
			r.Operator = "gone"
			lsn := l.add(record.KindState, r)
			l.add(record.KindCommit, &record.Commit{Time: 10})
			return lsn
		}, "state of gone/arr"},
		{"second-fingerprint", func(l *log) uint64 {
			lsn := l.add(record.KindPipeline, &record.Pipeline{Lines: []string{"source src: csv(x:str)"}})
			l.add(record.KindCommit, &record.Commit{Time: 10})
			return lsn
		}, "a second, different pipeline fingerprint"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := &log{t: t, next: 1}
			l.add(record.KindPipeline, &record.Pipeline{Lines: []string{"source src: csv(x:int)"}, Catalog: testCatalog})
			l.add(record.KindCommit, &record.Commit{Time: 1})
			at := c.build(l)
			final := l.add(record.KindCommit, &record.Commit{Time: 50})

			s, _ := NewState(nil)
			var err error
			for _, r := range l.recs {
				if err = s.Add(r); err != nil {
					break
				}
			}
			var be *BatchError
			if !errors.As(err, &be) || be.LSN != at || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Add: %v; want a *BatchError at LSN %d saying %q", err, at, c.want)
			}

			s, _ = NewState(nil)
			var problems []*BatchError
			s.Problem = func(e *BatchError) { problems = append(problems, e) }
			feed(t, s, l.recs)
			if len(problems) != 1 || problems[0].LSN != at || s.LSN != final {
				t.Fatalf("with Problem: %v, folded up to LSN %d, want one problem and LSN %d", problems, s.LSN, final)
			}
		})
	}
}

// A record that does not decode fails Add, naming its LSN; a hook's
// error is returned as it is.
func TestStateErrors(t *testing.T) {
	s, _ := NewState(nil)
	err := s.Add(wal.Record{LSN: 4, Kind: record.KindState, Data: []byte{0xc1}})
	if err == nil || !strings.Contains(err.Error(), "LSN 4") || !strings.Contains(err.Error(), "state record") {
		t.Fatalf("undecodable record: %v", err)
	}
	if err := s.AddDecoded(5, record.KindCommit, &record.State{}, 1); err == nil {
		t.Fatal("a commit that is not a *record.Commit was accepted")
	}
	if err := s.AddDecoded(6, record.KindCommit, nil, 1); err == nil {
		t.Fatal("a nil commit was accepted")
	}
	if err := s.AddDecoded(7, record.KindState, (*record.State)(nil), 1); err == nil {
		t.Fatal("a nil state record was accepted")
	}
	if err := s.AddDecoded(8, record.KindOutput, &record.State{}, 1); err == nil {
		t.Fatal("an output record decoded as a state record was accepted")
	}
	if err := s.AddDecoded(9, record.KindInput, nil, 1); err != nil {
		t.Fatalf("an undecoded input record: %v", err)
	}
	stop := errors.New("stop")
	s, _ = NewState(nil)
	s.OnState = func(uint64, *record.State, int) error { return stop }
	l := &log{t: t, next: 1}
	l.add(record.KindState, stateRec(1, 1))
	l.add(record.KindCommit, &record.Commit{Time: 1})
	var got error
	for _, r := range l.recs {
		if got = s.Add(r); got != nil {
			break
		}
	}
	if got != stop {
		t.Fatalf("hook error %v, want it as it is", got)
	}
}

func arrKey(op, arr string) compaction.ArrKey {
	return compaction.ArrKey{Operator: op, Arrangement: arr}
}

// A storage's catalog records its sources' directories: a manifest
// written before they were recorded has none, and a later batch of just
// a pipeline record and a commit repeating the last time (what an
// execution that committed nothing logs to record them) brings them
// without breaking a rule.
func TestStateCatalogDirs(t *testing.T) {
	meta, err := record.EncodeMeta(&record.Meta{Offsets: record.Offsets{}, Catalog: testCatalog})
	if err != nil {
		t.Fatal(err)
	}
	lines := []string{"source src: csv(x:int)"}
	m := &checkpoint.Manifest{Seq: 1, LSN: 3, Clock: 10, Fingerprint: lines, Meta: meta}
	s, err := NewState(m)
	if err != nil {
		t.Fatal(err)
	}
	if s.Catalog == nil || s.Catalog.Dirs != nil {
		t.Fatalf("catalog %+v, want one without Dirs", s.Catalog)
	}
	withDirs := *testCatalog
	withDirs.Dirs = map[string]string{"src": "/data/in"}
	l := &log{t: t, next: 4}
	l.add(record.KindPipeline, &record.Pipeline{Lines: lines, Catalog: &withDirs})
	last := l.add(record.KindCommit, &record.Commit{Time: 10})
	s.Problem = func(e *BatchError) { t.Errorf("problem: %v", e) }
	feed(t, s, l.recs)
	if !s.Catalog.Equal(&withDirs) || s.LSN != last || s.Clock != 10 || s.Log.Times != 1 {
		t.Fatalf("catalog %+v, LSN %d, clock %d, times %d", s.Catalog, s.LSN, s.Clock, s.Log.Times)
	}
}
