package pwlog_test

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/tool"
)

// The benchmarks of the persistence modes and of a pipeline change
// (issue 16's figures): the storage kept inputs cost against the input
// CSV, the run that changes the session window's gap against a run from
// scratch, and a restart with nothing new in each mode. The data set is
// internal/gen's, seed 1, of the tutorial's shape: PWLOG_BENCH_ROWS rows
// (default 20k here, so that `go test -bench . -benchtime 1x` stays
// quick), rows/100 users, 100 files. The sink is an append-mode
// changelog file beside the storage, as users run the example. Run them
// with -benchtime 1x.

// modesBenchRows is PWLOG_BENCH_ROWS, default 20k.
func modesBenchRows() int {
	if os.Getenv("PWLOG_BENCH_ROWS") != "" {
		return benchRows()
	}
	return 20_000
}

// modesInput writes the data set and returns its directory, its rows and
// its CSV bytes.
func modesInput(b *testing.B) (dir string, rows int, csvBytes int64) {
	b.Helper()
	rows = modesBenchRows()
	dir = filepath.Join(b.TempDir(), "input")
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if _, err := gen.Write(dir, gen.Spec{Seed: 1, Rows: rows, Users: max(rows/100, 1), Files: 100}); err != nil {
		b.Fatal(err)
	}
	return dir, rows, dirBytes(b, dir)
}

// dirBytes returns the bytes of the regular files under dir.
func dirBytes(b *testing.B, dir string) int64 {
	b.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// modesRun runs the tutorial pipeline with gap maxGap over input, its
// sink the append-mode changelog sessions.csv in work, its storage
// work/storage, with set applied to the Config; it returns how long Run
// took.
func modesRun(b *testing.B, input, work string, maxGap int64, set func(*pwlog.Config)) time.Duration {
	b.Helper()
	p := pwlog.New()
	tutorial.Sessions(p, input, maxGap).WriteCSV("output", filepath.Join(work, "sessions.csv"), pwlog.SinkOptions{Append: true})
	cfg := quietConfig(filepath.Join(work, "storage"))
	if set != nil {
		set(&cfg)
	}
	start := time.Now()
	if err := p.Run(context.Background(), cfg); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func keepInputs(c *pwlog.Config) { c.KeepInputs = true }

// copyWork copies a work directory (storage and changelog) to a new one.
func copyWork(b *testing.B, from string) string {
	b.Helper()
	to := filepath.Join(b.TempDir(), "work")
	if out, err := exec.Command("cp", "-r", from, to).CombinedOutput(); err != nil {
		b.Fatalf("%v: %s", err, out)
	}
	return to
}

// arrangementBytes returns the checkpoint bytes of the arrangements named
// name (the "inputs" of a source, the "table" of a sink) in storage.
func arrangementBytes(b *testing.B, storage, name string) int64 {
	b.Helper()
	info, err := tool.Inspect(context.Background(), storage, nil)
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	if info.Checkpoint != nil {
		for _, a := range info.Checkpoint.Arrangements {
			if a.Arrangement == name {
				n += a.Bytes
			}
		}
	}
	return n
}

// BenchmarkKeptInputsStorage is a full persistent run, without kept
// inputs and with them: the run's time (ns/op, rows/s) and the storage
// it leaves (its final compaction folds the log into the checkpoint)
// against the input CSV bytes; with kept inputs, the bytes of the kept
// input rows (the source's "inputs" arrangement) and of the sink's
// table (its "table" arrangement) apart.
func BenchmarkKeptInputsStorage(b *testing.B) {
	input, rows, csvBytes := modesInput(b)
	for _, keep := range []bool{false, true} {
		name := "state"
		var set func(*pwlog.Config)
		if keep {
			name, set = "state+keep-inputs", keepInputs
		}
		b.Run(name, func(b *testing.B) {
			var storage string
			var took time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				work := filepath.Join(b.TempDir(), "work")
				storage = filepath.Join(work, "storage")
				b.StartTimer()
				took += modesRun(b, input, work, 300, set)
			}
			b.StopTimer()
			b.ReportMetric(float64(rows)*float64(b.N)/took.Seconds(), "rows/s")
			b.ReportMetric(float64(dirBytes(b, storage))/float64(csvBytes), "storage_bytes/csv_byte")
			b.ReportMetric(float64(csvBytes), "csv_bytes")
			if keep {
				b.ReportMetric(float64(arrangementBytes(b, storage, "inputs"))/float64(csvBytes), "kept_inputs_bytes/csv_byte")
				b.ReportMetric(float64(arrangementBytes(b, storage, "table"))/float64(csvBytes), "sink_table_bytes/csv_byte")
			}
		})
	}
}

// BenchmarkKeptInputsChange is the run that changes the session window's
// gap from 300 to 600 on a storage that kept the inputs of a run over the
// data set (the session window and the reduce after it rebuilt from the
// kept rows, the difference emitted to the sink), against runs from
// scratch over the same rows with gap 600 on an empty storage: with kept
// inputs (the same storage as the change run leaves), and with state only
// (what starting over costs without them). ns/op is the change run.
func BenchmarkKeptInputsChange(b *testing.B) {
	input, rows, _ := modesInput(b)
	base := filepath.Join(b.TempDir(), "work")
	modesRun(b, input, base, 300, keepInputs)
	var change, scratch, scratchState time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		work := copyWork(b, base)
		b.StartTimer()
		change += modesRun(b, input, work, 600, keepInputs)
		b.StopTimer()
		scratch += modesRun(b, input, filepath.Join(b.TempDir(), "work"), 600, keepInputs)
		scratchState += modesRun(b, input, filepath.Join(b.TempDir(), "work"), 600, nil)
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(change.Seconds()*1000/n, "change-ms")
	b.ReportMetric(scratch.Seconds()*1000/n, "scratch-keep-inputs-ms")
	b.ReportMetric(scratchState.Seconds()*1000/n, "scratch-state-ms")
	b.ReportMetric(change.Seconds()/scratch.Seconds(), "change/scratch")
	b.ReportMetric(change.Seconds()/scratchState.Seconds(), "change/scratch-state")
	b.ReportMetric(float64(rows), "kept-rows")
}

// modesOf are the modes BenchmarkKeptInputsRestart restarts in: each a
// Config change, the same for the run that fills the storage and for the
// restarts.
var modesOf = []struct {
	name string
	set  func(*pwlog.Config)
}{
	{"state", nil},
	{"state+keep-inputs", keepInputs},
	{"inputs", func(c *pwlog.Config) { c.Mode = pwlog.PersistInputs }},
	{"selective", func(c *pwlog.Config) { c.Mode, c.Persist = pwlog.PersistSelective, []string{"accesses"} }},
	{"udf-cache", func(c *pwlog.Config) { c.Mode = pwlog.PersistUDFCache }},
	{"offsets-only", func(c *pwlog.Config) { c.Access = pwlog.AccessOffsetsOnly }},
}

// BenchmarkKeptInputsRestart is a restart with nothing new in each mode,
// after a run over the data set in that mode: ms per restart (ns/op is
// the same), and the storage the first run left against the input CSV
// bytes. A mode that keeps no operator state recomputes it at every
// restart: from the kept inputs (inputs), from the source read again
// (selective, for the other sources; udf-cache, whose pipeline here calls
// no function), or not at all (offsets-only: the operators start empty).
func BenchmarkKeptInputsRestart(b *testing.B) {
	input, _, csvBytes := modesInput(b)
	for _, m := range modesOf {
		b.Run("mode="+m.name, func(b *testing.B) {
			work := filepath.Join(b.TempDir(), "work")
			modesRun(b, input, work, 300, m.set)
			size := dirBytes(b, filepath.Join(work, "storage"))
			var took time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				took += modesRun(b, input, work, 300, m.set)
			}
			b.StopTimer()
			b.ReportMetric(took.Seconds()*1000/float64(b.N), "ms/restart")
			b.ReportMetric(float64(size)/float64(csvBytes), "storage_bytes/csv_byte")
		})
	}
}
