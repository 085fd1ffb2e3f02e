package tool

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/objlog"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/wal"
)

// Resnapshot appends one ack-only commit at the last committed time
// whose ack of the sink keeps its time and offset and sets the flag; the
// sink's file is not touched; a second call writes nothing; a
// compaction keeps the flag.
func TestResnapshot(t *testing.T) {
	dir := fixture{runs: 2, keepInputs: true}.build(t)
	output := filepath.Join(filepath.Dir(dir), "sessions.csv")
	file, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}
	before, err := Inspect(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ack := before.Committed.Acks["output"]
	if ack.Time != before.Clock || ack.Offset != int64(len(file)) || ack.Resnapshot || before.Sinks[0].Resnapshot {
		t.Fatalf("before: ack %+v, sinks %+v, clock %d, file of %d bytes", ack, before.Sinks, before.Clock, len(file))
	}

	res, err := Resnapshot(t.Context(), dir, "output", &ResnapshotOptions{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	flagged := record.SinkAck{Time: ack.Time, Offset: ack.Offset, Resnapshot: true}
	if res.Sink != "output" || res.Time != before.Clock || res.Ack != flagged || res.LSN != before.WAL.LastCommitLSN+1 || res.AlreadyPending {
		t.Fatalf("result %+v; before: clock %d, last commit at LSN %d", res, before.Clock, before.WAL.LastCommitLSN)
	}
	// The log's last record is that commit, durable: a fresh reader of
	// the storage sees it.
	entries, _, err := dumpAll(t, dir, &DumpOptions{FromLSN: res.LSN})
	if err != nil {
		t.Fatal(err)
	}
	want := &record.Commit{Time: before.Clock, Acks: map[string]record.SinkAck{"output": flagged}}
	if len(entries) != 1 || entries[0].LSN != res.LSN || !entries[0].Committed || !reflect.DeepEqual(entries[0].Commit, want) {
		t.Fatalf("log from LSN %d: %+v, want the commit %+v", res.LSN, entries, want)
	}
	after, err := Inspect(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if after.Committed.Acks["output"] != flagged || !after.Sinks[0].Resnapshot || after.Sinks[0].AckTime != ack.Time ||
		after.Sinks[0].AckOffset != ack.Offset || after.Clock != before.Clock || len(after.Problems) > 0 {
		t.Errorf("after: acks %+v, sinks %+v, clock %d, problems %v", after.Committed.Acks, after.Sinks, after.Clock, after.Problems)
	}
	if rep, err := Verify(t.Context(), dir, nil); err != nil || !rep.Sound() || !reflect.DeepEqual(rep.Committed, after.Committed) {
		t.Errorf("verify: %+v, %v", rep, err)
	}
	if got, err := os.ReadFile(output); err != nil || string(got) != string(file) {
		t.Errorf("the sink's file changed: %v\n%s", err, got)
	}

	// Again: pending already, nothing written.
	was := snapshotBut(t, dir, "LOCK")
	res2, err := Resnapshot(t.Context(), dir, "output", &ResnapshotOptions{Logger: quiet})
	if err != nil || !res2.AlreadyPending || res2.LSN != 0 || res2.Ack != flagged || res2.Time != before.Clock {
		t.Errorf("second resnapshot: %+v, %v", res2, err)
	}
	if snapshotBut(t, dir, "LOCK") != was {
		t.Error("a second resnapshot changed the storage")
	}

	// A compaction folds the commit into the checkpoint: the flag stays.
	if _, err := Compact(t.Context(), dir, &CompactOptions{Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	compacted, err := Inspect(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if compacted.Checkpoint == nil || compacted.Checkpoint.LSN != res.LSN || compacted.Committed.Acks["output"] != flagged ||
		!compacted.Sinks[0].Resnapshot {
		t.Errorf("after compact: checkpoint %+v, acks %+v", compacted.Checkpoint, compacted.Committed.Acks)
	}
}

// Inspect tells a pipeline's kept inputs and sink tables, with their
// entries and bytes.
func TestInspectKept(t *testing.T) {
	for _, keep := range []bool{false, true} {
		dir := fixture{runs: 2, keepInputs: keep, interrupted: true}.build(t)
		info, err := Inspect(t.Context(), dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !keep {
			if len(info.KeptInputs) != 0 || len(info.SinkTables) != 0 {
				t.Errorf("without kept inputs: kept %+v, tables %+v", info.KeptInputs, info.SinkTables)
			}
			continue
		}
		// The checkpoint holds run 1, the log run 2: both count.
		if len(info.KeptInputs) != 1 || info.KeptInputs[0].Name != "accesses" ||
			info.KeptInputs[0].Entries != info.Committed.Entries[record.ArrangementKey("accesses", "inputs")] ||
			info.KeptInputs[0].Entries < info.Sources[0].Rows || info.KeptInputs[0].Bytes <= 0 {
			t.Fatalf("kept inputs %+v; sources %+v", info.KeptInputs, info.Sources)
		}
		if len(info.SinkTables) != 1 || info.SinkTables[0].Name != "output" ||
			info.SinkTables[0].Entries != info.Committed.Entries[record.ArrangementKey("output", "table")] ||
			info.SinkTables[0].Entries == 0 || info.SinkTables[0].Bytes <= 0 {
			t.Fatalf("sink tables %+v", info.SinkTables)
		}
		var cpBytes int64
		for _, a := range info.Checkpoint.Arrangements {
			if a.Operator == "output" && a.Arrangement == "table" {
				cpBytes = a.Bytes
			}
		}
		if cpBytes == 0 || info.SinkTables[0].Bytes <= cpBytes {
			t.Errorf("sink table: %d bytes, of which %d in the checkpoint: the log's records do not count", info.SinkTables[0].Bytes, cpBytes)
		}
	}
}

// Resnapshot refuses, writing nothing, a sink the storage does not
// have, naming the sinks it has (a source is no sink); a storage that
// keeps no sink tables; a storage with no commit; a locked one.
func TestResnapshotRefuses(t *testing.T) {
	dir := fixture{runs: 1, keepInputs: true}.build(t)
	was := snapshotBut(t, dir, "LOCK")
	for _, sink := range []string{"nosuch", "accesses"} {
		_, err := Resnapshot(t.Context(), dir, sink, &ResnapshotOptions{Logger: quiet})
		var ue *UnknownNameError
		if !errors.As(err, &ue) || ue.What != "sink" || !slices.Equal(ue.Names, []string{sink}) || !slices.Equal(ue.Known, []string{"output"}) ||
			err.Error() != dir+` has no sink "`+sink+`"; its sinks are: output` {
			t.Errorf("%s: %v, want an unknown sink", sink, err)
		}
	}
	if snapshotBut(t, dir, "LOCK") != was {
		t.Error("a refused resnapshot changed the storage")
	}

	lock, err := vfs.Default.Lock(filepath.Join(dir, "LOCK"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Resnapshot(t.Context(), dir, "output", &ResnapshotOptions{Logger: quiet}); !errors.Is(err, ErrLocked) {
		t.Errorf("locked: %v, want ErrLocked", err)
	}
	lock.Close()
	if snapshotBut(t, dir, "LOCK") != was {
		t.Error("a refused resnapshot changed the storage")
	}

	plain := fixture{runs: 1}.build(t)
	was = snapshotBut(t, plain, "LOCK")
	_, err = Resnapshot(t.Context(), plain, "output", &ResnapshotOptions{Logger: quiet})
	if err == nil || !strings.Contains(err.Error(), `keeps no table of sink "output"`) || !strings.Contains(err.Error(), "KeepInputs") ||
		!strings.Contains(err.Error(), "-keep-inputs") {
		t.Errorf("no sink tables: %v", err)
	}
	if snapshotBut(t, plain, "LOCK") != was {
		t.Error("a refused resnapshot changed the storage")
	}

	empty := t.TempDir()
	if err := storage.WriteMarker(vfs.Default, empty); err != nil {
		t.Fatal(err)
	}
	if _, err := Resnapshot(t.Context(), empty, "output", &ResnapshotOptions{Logger: quiet}); err == nil ||
		err.Error() != "pwlog: "+empty+" holds no commit yet: the first execution of a pipeline writes its sinks whole, there is nothing to re-snapshot" {
		t.Errorf("no commit: %v", err)
	}
	if _, err := Resnapshot(t.Context(), t.TempDir(), "output", &ResnapshotOptions{Logger: quiet}); !errors.Is(err, ErrFormat) {
		t.Errorf("not a storage: %v", err)
	}
}

// Resnapshot of a storage in an object store takes the writer's lease,
// refused while a writer holds it, and appends the commit there.
func TestResnapshotObjectStore(t *testing.T) {
	s := fixture{runs: 2, keepInputs: true}.buildStore(t)
	before, err := Inspect(t.Context(), storeURL, s.opts())
	if err != nil {
		t.Fatal(err)
	}
	lease, err := objlog.AcquireLease(t.Context(), s.mem, &objlog.LeaseOptions{Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	was := s.mem.Objects()
	if _, err := Resnapshot(t.Context(), storeURL, "output", &ResnapshotOptions{Logger: quiet, Backend: s.mem}); !errors.Is(err, ErrLocked) {
		t.Errorf("lease held: %v, want ErrLocked", err)
	}
	if !maps.EqualFunc(was, s.mem.Objects(), slices.Equal) {
		t.Error("a refused resnapshot changed the storage")
	}
	if err := lease.Close(); err != nil {
		t.Fatal(err)
	}

	res, err := Resnapshot(t.Context(), storeURL, "output", &ResnapshotOptions{Logger: quiet, Backend: s.mem})
	if err != nil {
		t.Fatal(err)
	}
	ack := before.Committed.Acks["output"]
	flagged := record.SinkAck{Time: ack.Time, Offset: ack.Offset, Resnapshot: true}
	if res.Ack != flagged || res.Time != before.Clock || res.LSN <= before.WAL.LastCommitLSN {
		t.Fatalf("result %+v; before %+v at LSN %d", res, ack, before.WAL.LastCommitLSN)
	}
	after, err := Inspect(t.Context(), storeURL, s.opts())
	if err != nil {
		t.Fatal(err)
	}
	if after.Committed.Acks["output"] != flagged || !after.Sinks[0].Resnapshot || after.WAL.LastCommitLSN != res.LSN ||
		after.Clock != before.Clock || len(after.Problems) > 0 || after.Lock.Held {
		t.Errorf("after: acks %+v, log %+v, problems %v, lease %+v", after.Committed.Acks, after.WAL, after.Problems, after.Lock)
	}
	commits, _, err := dumpAll(t, storeURL, &DumpOptions{ReadOptions: *s.opts(), Kinds: []wal.Kind{record.KindCommit}, FromLSN: res.LSN})
	if err != nil || len(commits) != 1 || !reflect.DeepEqual(commits[0].Commit, &record.Commit{Time: before.Clock, Acks: map[string]record.SinkAck{"output": flagged}}) {
		t.Errorf("the log's last commit: %+v, %v", commits, err)
	}
}
