package pwlog_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/internal/tutorial"
)

// TestStateManyTimesTheBound runs the sessions pipeline over a state
// several times Config.MemoryLimit: the execution completes with exactly
// the from-scratch sessions, and the state it kept in memory after each
// commit stayed within about the bound, while the same pipeline without
// storage holds the whole state.
func TestStateManyTimesTheBound(t *testing.T) {
	dir := t.TempDir()
	input, storage, output := filepath.Join(dir, "input"), filepath.Join(dir, "storage"), filepath.Join(dir, "out.csv")
	os.Mkdir(input, 0o755)
	if _, err := gen.Write(input, gen.Spec{Seed: 5, Rows: 60_000, Users: 600, Files: 8}); err != nil {
		t.Fatal(err)
	}
	const limit = 512 << 10

	// The whole state, as an execution without storage holds it.
	whole := pwlog.New()
	tutorial.Sessions(whole, input, 300).WriteCSV("output", filepath.Join(dir, "whole.csv"))
	if err := whole.Run(context.Background(), quietConfig("")); err != nil {
		t.Fatal(err)
	}
	_, arrs := pwlog.Arrangements(whole)
	state := int64(0)
	for _, as := range arrs {
		for _, a := range as {
			state += a.MemBytes()
		}
	}
	if state < 5*limit {
		t.Fatalf("the state is %d bytes, not several times the bound of %d", state, limit)
	}

	p := pwlog.New()
	tutorial.Sessions(p, input, 300).WriteCSV("output", output, pwlog.SinkOptions{Append: true})
	h := &captureHandler{}
	cfg := quietConfig(storage)
	cfg.Logger = slog.New(h)
	cfg.MemoryLimit = limit
	cfg.BatchRows = 500
	if err := p.Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	checkChangelog(t, "bounded", output, input)
	var peak, misses int64 = -1, 0
	for _, r := range h.records() {
		if r.msg == "Read the checkpoint in place" {
			peak, misses = r.int("peak_state_bytes"), r.int("block_misses")
		}
	}
	if peak < 0 {
		t.Fatal("the execution logged no peak of its state")
	}
	// After a commit's bound, the state in memory is within the bound:
	// what the checkpoint holds left memory, and changes past it were
	// folded into the checkpoint then and there.
	if peak > limit {
		t.Errorf("the state in memory peaked at %d bytes, the bound is %d (whole state %d)", peak, limit, state)
	}
	if misses == 0 {
		t.Errorf("no group was read back from the checkpoint: the bound dropped nothing")
	}
	t.Logf("whole state %d bytes, peak in memory %d, bound %d, block misses %d", state, peak, limit, misses)
}
