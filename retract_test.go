package pwlog_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/internal/model"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/sources"
)

// retractingPipeline is the tutorial's pipeline over a source that
// retracts changed and deleted files.
func retractingPipeline(input, output string, appendMode bool) *pwlog.Pipeline {
	p := pwlog.New()
	tutorial.Sessions(p, input, 300, pwlog.FileOptions{Retract: true}).WriteCSV("output", output, pwlog.SinkOptions{Append: appendMode})
	return p
}

func currentSessions(t testing.TB, input string) []string {
	t.Helper()
	acc, err := model.Accesses(input)
	if err != nil {
		t.Fatal(err)
	}
	return model.Strings(model.Sessions(acc, 300))
}

// TestRetractChangedAndDeletedFiles rewrites, truncates and deletes files
// read before: each run emits exactly the difference between the
// from-scratch results before and after.
func TestRetractChangedAndDeletedFiles(t *testing.T) {
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	output := filepath.Join(dir, "out.csv")
	os.Mkdir(input, 0o755)
	copyFiles(t, "testdata/tutorial/run1", input)
	before := []string(nil)
	steps := []struct {
		name   string
		change func()
	}{
		{"first run", func() {}},
		{"rewrite", func() {
			os.WriteFile(filepath.Join(input, "part_two.csv"), []byte("user_id,access_time\nalice,1701103040\nbob,1701102900\n"), 0o644)
		}},
		{"truncate", func() {
			os.WriteFile(filepath.Join(input, "part_one.csv"), []byte("user_id,access_time\nalice,1701102730\n"), 0o644)
		}},
		{"delete", func() { os.Remove(filepath.Join(input, "part_two.csv")) }},
		{"nothing", func() {}},
		{"add back", func() { copyFiles(t, "testdata/tutorial/run2", input) }},
	}
	for _, s := range steps {
		s.change()
		if err := retractingPipeline(input, output, false).Run(t.Context(), quietConfig(storage)); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		after := currentSessions(t, input)
		if got, want := signed(readSink(t, output)), model.Diff(before, after); !slices.Equal(got, want) {
			t.Fatalf("%s: emitted %v, want %v", s.name, got, want)
		}
		before = after
	}
}

// TestChangedFileWithoutRetract: without FileOptions.Retract a rewritten
// file fails the run, naming it.
func TestChangedFileWithoutRetract(t *testing.T) {
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	os.Mkdir(input, 0o755)
	copyFiles(t, "testdata/tutorial/run1", input)
	if err := runSessions(t, input, filepath.Join(dir, "o.csv"), storage, false); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(input, "part_two.csv"), []byte("user_id,access_time\nbob,1\n"), 0o644)
	var ce *sources.ChangedFileError
	if err := runSessions(t, input, filepath.Join(dir, "o.csv"), storage, false); !errors.As(err, &ce) || ce.Path != "part_two.csv" {
		t.Fatalf("got %v, want a ChangedFileError for part_two.csv", err)
	}
}

// TestRetractMatchesModel: random files added, rewritten and deleted over
// runs, with checkpoints and restarts between; the changelog always
// consolidates to the from-scratch result over the files present.
func TestRetractMatchesModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
		output := filepath.Join(dir, "changelog.csv")
		os.Mkdir(input, 0o755)
		batch := rapid.SampledFrom([]int{3, 40, 1 << 16}).Draw(rt, "batchRows")
		compactBytes := rapid.SampledFrom([]int64{-1, 1, 0}).Draw(rt, "compactBytes")
		next := 0
		for run := rapid.IntRange(1, 6).Draw(rt, "runs"); run > 0; run-- {
			files, _ := filepath.Glob(filepath.Join(input, "*.csv"))
			switch action := rapid.IntRange(0, 2).Draw(rt, "action"); {
			case action == 1 && len(files) > 0:
				os.Remove(files[rapid.IntRange(0, len(files)-1).Draw(rt, "delete")])
			case action == 2 && len(files) > 0:
				f := files[rapid.IntRange(0, len(files)-1).Draw(rt, "rewrite")]
				os.Remove(f)
				if _, err := gen.Write(input, gen.Spec{Seed: rapid.Uint64().Draw(rt, "seed"), Rows: rapid.IntRange(0, 40).Draw(rt, "rows"), Users: 3, Files: 1, Window: 700, FirstFile: fileNumber(f)}); err != nil {
					rt.Fatal(err)
				}
			default:
				if _, err := gen.Write(input, gen.Spec{Seed: rapid.Uint64().Draw(rt, "seed"), Rows: rapid.IntRange(0, 40).Draw(rt, "rows"), Users: 3, Files: 1, Window: 700, FirstFile: next}); err != nil {
					rt.Fatal(err)
				}
				next++
			}
			cfg := quietConfig(storage)
			cfg.BatchRows = batch
			cfg.CompactBytes = compactBytes
			if err := retractingPipeline(input, output, true).Run(t.Context(), cfg); err != nil {
				rt.Fatal(err)
			}
			if got, want := consolidated(t, readSink(t, output)), currentSessions(t, input); !slices.Equal(got, want) {
				rt.Fatalf("changelog consolidates to %v, want %v", got, want)
			}
		}
	})
}

// fileNumber returns N of a part_N.csv path written by gen.
func fileNumber(path string) int {
	var n int
	base := filepath.Base(path)
	for _, c := range base[len("part_") : len(base)-len(".csv")] {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestRewriteRetractedInOneTime: a file rewritten with one row changed,
// larger than BatchRows, is retracted and read again in one logical time,
// so the rows it still holds cancel out and the pipeline sees only the
// change: no intermediate time without the file's other rows. (A row's
// key is its byte offset: a change of a line's width gives the lines
// after it new keys.)
func TestRewriteRetractedInOneTime(t *testing.T) {
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	os.Mkdir(input, 0o755)
	write := func(changed int) {
		b := []byte("id,v\n")
		for i := range 500 {
			v := i
			if i == changed {
				v = 999 // as wide as i: the rows after it keep their byte offsets, so their keys
			}
			b = fmt.Appendf(b, "%d,%d\n", i, v)
		}
		if err := os.WriteFile(filepath.Join(input, "rows.csv"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var times []uint64
	var got []pwlog.Update
	run := func() {
		times, got = nil, nil
		p := pwlog.New()
		p.ReadCSV("rows", input, pwlog.Schema{{Name: "id", Type: pwlog.TypeInt}, {Name: "v", Type: pwlog.TypeInt}}, pwlog.FileOptions{Retract: true}).
			Subscribe("out", func(time uint64, rows []pwlog.Update) error {
				times = append(times, time)
				got = append(got, rows...)
				return nil
			})
		cfg := quietConfig(storage)
		cfg.BatchRows = 100
		if err := p.Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	write(-1)
	run()
	if len(got) != 500 {
		t.Fatalf("first run: %d rows, want 500", len(got))
	}
	write(250)
	run()
	if len(times) != 1 || len(got) != 2 {
		t.Fatalf("the rewrite reached the sink in %d times with %d rows, want 1 time with the 2 rows of the change; first %v, last %v", len(times), len(got), got[0], got[len(got)-1])
	}
	for _, u := range got {
		if u.Row[0].AsInt() != 250 {
			t.Fatalf("row %v changed, want only id 250", u.Row)
		}
	}
}
