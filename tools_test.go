package pwlog_test

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/tool"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/vfs/errorfs"
	"github.com/pwlog/pwlog/wal"
)

// failCheckpoints is a Config whose checkpoint writes fail: a run commits
// to the log, then fails at its final compaction, so the log keeps its
// records for the test to read.
func failCheckpoints(storage string) pwlog.Config {
	cfg := quietConfig(storage)
	cfg.FS = errorfs.Wrap(vfs.Default, errorfs.NewRandom(1, 1, syscall.EIO,
		errorfs.And(errorfs.Mutating, errorfs.PathContains("checkpoints"))))
	return cfg
}

// tutorialDirs returns a temporary directory holding an input directory
// with the tutorial's first files, and the path of a storage beside it.
func tutorialDirs(t *testing.T) (dir, input, storage string) {
	dir = t.TempDir()
	input, storage = filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	if err := os.Mkdir(input, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFiles(t, "testdata/tutorial/run1", input)
	return dir, input, storage
}

// The catalog names every column; it is logged again when a sink is
// added (the fingerprint stays), and not by a run that changes nothing.
func TestCatalogFollowsThePipeline(t *testing.T) {
	dir, input, storage := tutorialDirs(t)
	if err := runSessions(t, input, filepath.Join(dir, "out.csv"), storage, false); err != nil {
		t.Fatal(err)
	}
	info, err := tool.Inspect(t.Context(), storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	built := pwlog.New()
	tutorial.Sessions(built, input, 300).WriteCSV("output", "x")
	if want := pwlog.Catalog(built); !info.Catalog.Equal(want) {
		t.Fatalf("catalog %+v, want %+v", info.Catalog, want)
	}
	if got := info.Catalog.Arrangements["sessions/by_instance"]; !slices.Equal(got.Group, []string{"user_id"}) || !slices.Equal(got.Row, []string{"access_time"}) {
		t.Fatalf("session window columns: %+v", got)
	}

	withSink := func() *pwlog.Pipeline {
		p := pwlog.New()
		stats := tutorial.Sessions(p, input, 300)
		stats.WriteCSV("output", filepath.Join(dir, "out.csv"))
		stats.WriteCSV("second", filepath.Join(dir, "second.csv"))
		return p
	}
	pipelineRecords := func() []*record.Pipeline {
		var out []*record.Pipeline
		_, err := tool.Dump(t.Context(), storage, &tool.DumpOptions{Kinds: []wal.Kind{record.KindPipeline}}, func(e *tool.DumpEntry) error {
			out = append(out, e.Pipeline)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	copyFiles(t, "testdata/tutorial/run2", input)
	if err := withSink().Run(t.Context(), failCheckpoints(storage)); err == nil {
		t.Fatal("the run's compaction did not fail")
	}
	recs := pipelineRecords()
	if len(recs) != 1 || recs[0].Catalog.Tables["second"] == nil {
		t.Fatalf("after adding a sink, the log holds %d pipeline records: %+v", len(recs), recs)
	}
	copyFiles(t, "testdata/tutorial/run3", input)
	if err := withSink().Run(t.Context(), failCheckpoints(storage)); err == nil {
		t.Fatal("the run's compaction did not fail")
	}
	if n := len(pipelineRecords()); n != 1 {
		t.Fatalf("an unchanged pipeline logged its catalog again: %d pipeline records", n)
	}
}

// A retracting source's state is grouped by file path, plain text: dump
// shows it as such, with the source's columns naming the rows.
func TestDumpRetractingSourceState(t *testing.T) {
	dir, input, storage := tutorialDirs(t)
	p := pwlog.New()
	tutorial.Sessions(p, input, 300, pwlog.FileOptions{Retract: true}).WriteCSV("output", filepath.Join(dir, "out.csv"))
	if err := p.Run(t.Context(), quietConfig(storage)); err != nil {
		t.Fatal(err)
	}
	var files []string
	_, err := tool.Dump(t.Context(), storage, &tool.DumpOptions{Checkpoint: true, Sources: []string{"accesses"}}, func(e *tool.DumpEntry) error {
		if e.Kind != tool.KindRun || e.Operator != "accesses" || e.Arrangement != "by_file" || e.Error != "" {
			t.Fatalf("entry %+v", e)
		}
		for _, r := range e.Rows {
			if len(r.Group) != 1 || r.Group[0].Name != "group" || r.Values[0].Name != "user_id" || r.Values[1].Name != "access_time" {
				t.Fatalf("row %+v", r)
			}
			if f := r.Group[0].Value.AsString(); !slices.Contains(files, f) {
				files = append(files, f)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(files, []string{"part_one.csv", "part_two.csv"}) {
		t.Fatalf("groups %v, want the two files", files)
	}
}

// Compact reports its progress through the log, ending at the total.
func TestCompactProgress(t *testing.T) {
	dir, input, storage := tutorialDirs(t)
	if err := runSessions(t, input, filepath.Join(dir, "out.csv"), storage, false); err != nil {
		t.Fatal(err)
	}
	copyFiles(t, "testdata/tutorial/run2", input)
	p := pwlog.New()
	tutorial.Sessions(p, input, 300).WriteCSV("output", filepath.Join(dir, "out.csv"))
	if err := p.Run(t.Context(), failCheckpoints(storage)); err == nil {
		t.Fatal("the run's compaction did not fail")
	}
	var calls [][2]int64
	st, err := tool.Compact(t.Context(), storage, &tool.CompactOptions{Logger: quietConfig("").Logger,
		Progress: func(done, total int64) { calls = append(calls, [2]int64{done, total}) }})
	if err != nil {
		t.Fatal(err)
	}
	last := calls[len(calls)-1]
	if st.Seq != 2 || last[0] != last[1] || last[1] < 4 {
		t.Fatalf("manifest %d, progress calls %v: want the last at the total, the records of run 2", st.Seq, calls)
	}
}

// A storage a crash left with its marker but no log yet is empty, not
// an error.
func TestInspectStorageWithoutLog(t *testing.T) {
	dir := t.TempDir()
	if err := storage.EnsureMarker(vfs.Default, dir); err != nil {
		t.Fatal(err)
	}
	info, err := tool.Inspect(t.Context(), dir, nil)
	if err != nil || info.Clock != 0 || info.WAL.LastLSN != 0 || len(info.Problems) > 0 {
		t.Fatalf("inspect: %+v, %v", info, err)
	}
	rep, err := tool.Verify(t.Context(), dir, nil)
	if err != nil || !rep.Sound() {
		t.Fatalf("verify: %+v, %v", rep, err)
	}
}
