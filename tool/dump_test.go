package tool

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/wal"
)

func TestDump(t *testing.T) {
	dir := interrupted(t)
	info, err := Inspect(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	all, sum, err := dumpAll(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Run 2: one input, two state (one per arrangement), one output
	// record, its commit and the sink's ack commit.
	var kinds []string
	for i, e := range all {
		kinds = append(kinds, e.Kind)
		if e.LSN != info.WAL.FirstLSN+uint64(i) || !e.Committed || e.Error != "" || e.Time != info.Clock {
			t.Errorf("entry %d: %+v", i, e)
		}
	}
	if want := []string{"input", "state", "state", "output", "commit", "commit"}; !slices.Equal(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	if sum.Records != 6 || sum.Delivered != 6 || sum.Folded() || sum.Manifest != info.Checkpoint.Manifest || sum.ManifestLSN != info.Checkpoint.LSN {
		t.Errorf("summary %+v", sum)
	}
	// Rows are named by the catalog the checkpoint keeps.
	out := all[3]
	if out.Sink != "output" || len(out.Rows) != 1 || out.Rows[0].Values[0].Name != "user_id" || out.Rows[0].Diff != 1 {
		t.Errorf("output record %+v", out)
	}
	st := all[1]
	if st.Operator != "sessions" || st.Arrangement != "by_instance" || st.Rows[0].Group[0].Name != "user_id" {
		t.Errorf("state record %+v", st)
	}
	if c := all[4].Commit; c == nil || len(c.Sources["accesses"]) != 1 || c.Sources["accesses"][0].Path != "part_three.csv" {
		t.Errorf("commit %+v", all[4].Commit)
	}
	if c := all[5].Commit; c == nil || c.Acks["output"].Time != info.Clock {
		t.Errorf("ack commit %+v", all[5].Commit)
	}

	// The checkpoint's runs come first, one entry per group.
	withRuns, sum, err := dumpAll(t, dir, &DumpOptions{Checkpoint: true})
	if err != nil {
		t.Fatal(err)
	}
	runs := withRuns[:len(withRuns)-len(all)]
	if len(runs) == 0 || sum.Delivered != len(withRuns) {
		t.Fatalf("%d run entries, summary %+v", len(runs), sum)
	}
	var entries int64
	for _, e := range runs {
		if e.Kind != KindRun || e.LSN != 0 || e.Error != "" || len(e.Rows) == 0 {
			t.Errorf("run entry %+v", e)
		}
		for _, r := range e.Rows {
			if !slices.Equal(r.Group, e.Rows[0].Group) {
				t.Errorf("run entry of several groups: %+v", e)
			}
		}
		entries += int64(len(e.Rows))
	}
	var want int64
	for _, a := range info.Checkpoint.Arrangements {
		want += a.Entries
	}
	if entries != want {
		t.Errorf("runs hold %d entries, the checkpoint %d", entries, want)
	}
}

// Each filter keeps exactly the records it selects.
func TestDumpFilters(t *testing.T) {
	dir := interrupted(t)
	all, _, err := dumpAll(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	mid := all[2].LSN
	cases := []struct {
		name string
		o    DumpOptions
		keep func(e *DumpEntry) bool
	}{
		{"kind", DumpOptions{Kinds: []wal.Kind{record.KindState, record.KindCommit}}, func(e *DumpEntry) bool { return e.Kind == "state" || e.Kind == "commit" }},
		{"lsn", DumpOptions{FromLSN: mid, ToLSN: mid + 1}, func(e *DumpEntry) bool { return e.LSN == mid || e.LSN == mid+1 }},
		{"time", DumpOptions{FromTime: all[0].Time + 1}, func(e *DumpEntry) bool { return false }},
		{"source", DumpOptions{Sources: []string{"accesses"}}, func(e *DumpEntry) bool { return e.Source == "accesses" || e.Commit != nil && e.Commit.Sources != nil }},
		{"operator", DumpOptions{Operators: []string{"session_stats"}}, func(e *DumpEntry) bool { return e.Operator == "session_stats" }},
		{"sink", DumpOptions{Sinks: []string{"output"}}, func(e *DumpEntry) bool { return e.Sink == "output" || e.Commit != nil && e.Commit.Acks != nil }},
		{"source or sink", DumpOptions{Sources: []string{"accesses"}, Sinks: []string{"output"}}, func(e *DumpEntry) bool { return e.Kind != "state" }},
	}
	for _, c := range cases {
		var want, got []uint64
		for _, e := range all {
			if c.keep(e) {
				want = append(want, e.LSN)
			}
		}
		es, sum, err := dumpAll(t, dir, &c.o)
		for _, e := range es {
			got = append(got, e.LSN)
		}
		if err != nil || !slices.Equal(got, want) || sum.Records != len(all) || sum.Delivered != len(got) {
			t.Errorf("%s: LSNs %v, %v, summary %+v; want %v", c.name, got, err, sum, want)
		}
	}
}

// A retracting source keeps state: its state records and runs are the
// source's, for --source as for --operator.
func TestDumpRetractingSource(t *testing.T) {
	dir := fixture{runs: 2, interrupted: true, retract: true}.build(t)
	for _, o := range []DumpOptions{{Sources: []string{"accesses"}, Checkpoint: true}, {Operators: []string{"accesses"}, Checkpoint: true}} {
		es, _, err := dumpAll(t, dir, &o)
		if err != nil {
			t.Fatal(err)
		}
		var runs, states int
		for _, e := range es {
			switch {
			case e.Kind == KindRun && e.Operator == "accesses":
				runs++
			case e.Kind == "state" && e.Operator == "accesses":
				states++
			case e.Operator != "":
				t.Errorf("%+v: entry of operator %s", o, e.Operator)
			}
		}
		if runs == 0 || states == 0 {
			t.Errorf("%+v: %d runs and %d state records of the source", o, runs, states)
		}
	}
}

// A name the storage does not know fails Dump, listing the names it
// knows; the records of the names it knows are delivered first.
func TestDumpUnknownName(t *testing.T) {
	for _, build := range []func(*testing.T) string{interrupted, finished} {
		dir := build(t)
		for _, c := range []struct {
			o     DumpOptions
			what  string
			names []string
			known []string
		}{
			{DumpOptions{Sources: []string{"nosuch"}}, "source", []string{"nosuch"}, []string{"accesses"}},
			{DumpOptions{Sources: []string{"output"}}, "source", []string{"output"}, []string{"accesses"}},
			{DumpOptions{Operators: []string{"sessions", "x", "y", "x"}}, "operator", []string{"x", "y"}, []string{"session_stats", "sessions"}},
			{DumpOptions{Sinks: []string{"accesses"}}, "sink", []string{"accesses"}, []string{"output"}},
			{DumpOptions{Sinks: []string{"nosuch"}, Checkpoint: true}, "sink", []string{"nosuch"}, []string{"output"}},
		} {
			es, _, err := dumpAll(t, dir, &c.o)
			var ue *UnknownNameError
			if !errors.As(err, &ue) || ue.What != c.what || !slices.Equal(ue.Names, c.names) || !slices.Equal(ue.Known, c.known) || ue.Dir != dir {
				t.Errorf("%+v: %#v", c.o, err)
				continue
			}
			if IsDamage(err) {
				t.Errorf("%+v: an unknown name is damage", c.o)
			}
			for _, e := range es {
				if !slices.Contains(c.o.Operators, e.Operator) {
					t.Errorf("%+v: delivered %+v", c.o, e)
				}
			}
		}
		for _, o := range []DumpOptions{{Sources: []string{"accesses"}}, {Operators: []string{"sessions"}}, {Sinks: []string{"output"}}} {
			if _, _, err := dumpAll(t, dir, &o); err != nil {
				t.Errorf("%+v: %v", o, err)
			}
		}
	}
	_, _, err := dumpAll(t, interrupted(t), &DumpOptions{Sources: []string{"nosuch", "nope"}})
	if err == nil || !strings.HasSuffix(err.Error(), `has no source "nosuch", "nope"; its sources are: accesses`) {
		t.Errorf("message: %v", err)
	}
}

// The log of a storage whose run finished is empty: Dump says it was
// folded into the checkpoint, whose runs hold the state.
func TestDumpFolded(t *testing.T) {
	dir := finished(t)
	es, sum, err := dumpAll(t, dir, nil)
	if err != nil || len(es) != 0 || !sum.Folded() || sum.Records != 0 || sum.Manifest == "" || sum.ManifestLSN == 0 {
		t.Fatalf("%d entries, summary %+v, %v", len(es), sum, err)
	}
	es, sum, err = dumpAll(t, dir, &DumpOptions{Checkpoint: true})
	if err != nil || len(es) == 0 || sum.Delivered != len(es) || !sum.Folded() {
		t.Fatalf("--checkpoint: %d entries, summary %+v, %v", len(es), sum, err)
	}
	// A log whose records a filter leaves out is not folded.
	_, sum, err = dumpAll(t, interrupted(t), &DumpOptions{Kinds: []wal.Kind{record.KindPipeline}})
	if err != nil || sum.Delivered != 0 || sum.Folded() {
		t.Fatalf("filtered: summary %+v, %v", sum, err)
	}
}

// Damage: a log frame ends the dump, after the records before it; a
// damaged manifest fails it after the log's records.
func TestDumpDamaged(t *testing.T) {
	dir := interrupted(t)
	flip(t, only(t, dir, "wal/*"), 200)
	es, _, err := dumpAll(t, dir, nil)
	var we *wal.CorruptError
	if !errors.As(err, &we) || !IsDamage(err) || len(es) != 1 || we.Offset != 144 {
		t.Errorf("damaged log: %d entries, %v", len(es), err)
	}

	dir = interrupted(t)
	flip(t, only(t, dir, "checkpoints/MANIFEST-*"), 40)
	es, sum, err := dumpAll(t, dir, nil)
	var ce *checkpoint.CorruptError
	if !errors.As(err, &ce) || !IsDamage(err) || len(es) != 6 || sum.Manifest != "" {
		t.Errorf("damaged manifest: %d entries, summary %+v, %v", len(es), sum, err)
	}
	if _, _, err := dumpAll(t, dir, &DumpOptions{Checkpoint: true}); !errors.As(err, &ce) {
		t.Errorf("damaged manifest, checkpoint: %v", err)
	}
}
