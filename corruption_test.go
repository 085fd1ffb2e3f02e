package pwlog

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/wal"
)

// TestDamagedLogIsReported flips a bit in the middle of the committed log:
// the next run must fail with the wal's named corruption error and leave
// the changelog as it was, never emit wrong rows.
func TestDamagedLogIsReported(t *testing.T) {
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	output := filepath.Join(dir, "out.csv")
	os.Mkdir(input, 0o755)
	if _, err := gen.Write(input, gen.Spec{Seed: 3, Rows: 2000, Users: 30, Files: 4}); err != nil {
		t.Fatal(err)
	}
	p := sessionsPipeline(input, output, true)
	cfg := quietConfig(storage)
	cfg.BatchRows = 300 // several commits
	if err := p.Run(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	before := signed(readSink(t, output))
	segs, _ := filepath.Glob(filepath.Join(storage, "wal", "0*"))
	if len(segs) != 1 {
		t.Fatalf("segments: %v", segs)
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/3] ^= 0x10
	if err := os.WriteFile(segs[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
	copyFiles(t, "testdata/tutorial/run1", input)
	err = runSessions(t, input, output, storage, true)
	if !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("run on a damaged log: %v, want wal.ErrCorrupt", err)
	}
	if after := signed(readSink(t, output)); !slices.Equal(after, before) {
		t.Fatal("a run on a damaged log changed the changelog")
	}
}
