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

// TestDamagedStorageIsReported flips a bit in the committed log, in the
// index of a checkpoint run (read when a restart opens the run) and in the
// first block of every run (read when the next run's rows touch a group
// it holds: the new rows touch every user): the next run must fail with
// the named corruption error and leave the changelog as it was, never
// emit wrong rows.
func TestDamagedStorageIsReported(t *testing.T) {
	for _, c := range []struct {
		name    string
		pattern string
		at      func(n int) int // the byte flipped in a file of n bytes
		every   bool            // in every file of pattern, not the first
		want    error
	}{
		{"wal", "wal/0*", func(n int) int { return n / 3 }, false, wal.ErrCorrupt},
		{"checkpoint index", "checkpoints/runs/*.run", func(n int) int { return n - 30 }, false, checkpoint.ErrCorrupt},
		{"checkpoint block", "checkpoints/runs/*.run", func(int) int { return 30 }, true, checkpoint.ErrCorrupt},
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
			if c.name != "wal" && err != nil {
				t.Fatal(err)
			}
			before := signed(readSink(t, output))
			if len(before) == 0 {
				t.Fatal("nothing was emitted")
			}
			flipByteAt(t, filepath.Join(storage, c.pattern), c.at, c.every)
			os.Remove(filepath.Join(input, "zz_bad.csv"))
			if _, err := gen.Write(input, gen.Spec{Seed: 4, Rows: 300, Users: 30, Files: 1, FirstFile: 4}); err != nil {
				t.Fatal(err)
			}
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

// flipByteAt flips a bit of byte at(n) of the first file with data
// matching pattern, or of every one.
func flipByteAt(t *testing.T, pattern string, at func(n int) int, every bool) {
	t.Helper()
	paths, _ := filepath.Glob(pattern)
	flipped := 0
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || len(b) <= 64 {
			continue
		}
		b[at(len(b))] ^= 0x10
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		flipped++
		if !every {
			break
		}
	}
	if flipped == 0 {
		t.Fatalf("no file with data matches %s: %v", pattern, paths)
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
