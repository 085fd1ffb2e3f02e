// Corruption tests: a bit flipped in the committed log or in a checkpoint
// run fails the next run with the named corruption error and leaves the
// changelog as it was; a record whose checksum is right but whose body
// breaks the format (columns of different lengths) is refused with an
// error, not a panic. damage_test.go damages every file every way.

package pwlog_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/wal"
)

// flipByte flips a bit, a third in, of the first file with data matching
// pattern.
func flipByte(t *testing.T, pattern string) {
	t.Helper()
	paths, _ := filepath.Glob(pattern)
	var target string
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && fi.Size() > 64 {
			target = p
			break
		}
	}
	if target == "" {
		t.Fatalf("no file with data matches %s: %v", pattern, paths)
	}
	b, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x10
	if err := os.WriteFile(target, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDamagedStorageIsReported flips a bit in the committed log and in a
// checkpoint run: the next run must fail with the named corruption error
// and leave the changelog as it was, never emit wrong rows.
func TestDamagedStorageIsReported(t *testing.T) {
	for _, c := range []struct {
		name    string
		pattern string
		want    error
	}{
		{"wal", "wal/0*", wal.ErrCorrupt},
		{"checkpoint", "checkpoints/runs/*.run", checkpoint.ErrCorrupt},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
			output := filepath.Join(dir, "out.csv")
			os.Mkdir(input, 0o755)
			if _, err := gen.Write(input, gen.Spec{Seed: 3, Rows: 2000, Users: 30, Files: 4}); err != nil {
				t.Fatal(err)
			}
			if c.name == "wal" {
				// A run that fails on its last file leaves its commits in
				// the log: only finished runs compact at their end.
				os.WriteFile(filepath.Join(input, "zz_bad.csv"), []byte("user_id,access_time\nx,y\n"), 0o644)
			}
			p := pwlog.New()
			tutorial.Sessions(p, input, 300).WriteCSV("output", output, pwlog.SinkOptions{Append: true})
			cfg := quietConfig(storage)
			cfg.BatchRows = 300 // several commits
			err := p.Run(t.Context(), cfg)
			if c.name == "checkpoint" && err != nil {
				t.Fatal(err)
			}
			before := signed(readSink(t, output))
			if len(before) == 0 {
				t.Fatal("nothing was emitted")
			}
			flipByte(t, filepath.Join(storage, c.pattern))
			os.Remove(filepath.Join(input, "zz_bad.csv"))
			copyFiles(t, "testdata/tutorial/run1", input)
			err = runSessions(t, input, output, storage, true)
			if !errors.Is(err, c.want) {
				t.Fatalf("run on damaged storage: %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), filepath.Base(filepath.Dir(c.pattern))) && !strings.Contains(err.Error(), "0000") {
				t.Fatalf("the error does not name the damaged file: %v", err)
			}
			if after := signed(readSink(t, output)); !slices.Equal(after, before) {
				t.Fatal("a run on damaged storage changed the changelog")
			}
		})
	}
}

// TestReplayRefusesUnequalColumns: a state record whose columns differ in
// length (the checksum of its frame is right) fails the next run with an
// error; replay used to index past the shorter column and panic. The
// record decoder's own checks are record's TestDecodeRecordSeeds.
func TestReplayRefusesUnequalColumns(t *testing.T) {
	dir := t.TempDir()
	input, output, storage := filepath.Join(dir, "in"), filepath.Join(dir, "out.csv"), filepath.Join(dir, "storage")
	if err := os.MkdirAll(input, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(input, "a.csv"), []byte("user_id,access_time\nu1,100\nu1,200\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runSessions(t, input, output, storage, false); err != nil {
		t.Fatal(err)
	}
	l, err := wal.Open(filepath.Join(storage, base.LogDir), nil)
	if err != nil {
		t.Fatal(err)
	}
	// record/fuzz_test.go's seed "unequal-columns-state".
	bad, err := msgpack.Marshal(&record.State{Time: 1, Operator: "sessions", Arrangement: "by_instance",
		Deltas: differential.Deltas{Keys: []differential.Key{1, 2}, Rows: []string{"a", "b"}, Diffs: []int64{1, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	commit, err := msgpack.Marshal(&record.Commit{Time: 99})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append([]wal.Record{{Kind: record.KindState, Data: bad}, {Kind: record.KindCommit, Data: commit}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	err = runSessions(t, input, output, storage, false)
	if err == nil || !strings.Contains(err.Error(), "state record") || !strings.Contains(err.Error(), "columns of different lengths") {
		t.Fatalf("run over a state record of unequal columns: %v", err)
	}
}
