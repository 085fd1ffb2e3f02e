package pwlog

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/internal/gen"
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
			p := sessionsPipeline(input, output, true)
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
