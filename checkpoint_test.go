package pwlog_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/internal/model"
	istorage "github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/tool"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/vfs/errorfs"
)

func latestManifest(t *testing.T, storage string) (seq, lsn uint64, runs int) {
	t.Helper()
	b, err := backend.NewFilesystem(filepath.Join(storage, base.CheckpointDir))
	if err != nil {
		t.Fatal(err)
	}
	m, err := compaction.Latest(context.Background(), b)
	if err != nil || m == nil {
		t.Fatalf("latest manifest: %v, %v", m, err)
	}
	return m.Seq, m.LSN, len(m.Runs)
}

// TestBackgroundCompaction: with a tiny CompactBytes an append-mode run
// compacts many times while it commits; the log is folded up to the last
// commit at the end, and a restart from the checkpoint continues exactly.
func TestBackgroundCompaction(t *testing.T) {
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	output := filepath.Join(dir, "changelog.csv")
	os.Mkdir(input, 0o755)
	if _, err := gen.Write(input, gen.Spec{Seed: 11, Rows: 20_000, Users: 300, Files: 10}); err != nil {
		t.Fatal(err)
	}
	p := pwlog.New()
	tutorial.Sessions(p, input, 300).WriteCSV("output", output, pwlog.SinkOptions{Append: true})
	cfg := quietConfig(storage)
	cfg.BatchRows = 500
	cfg.CompactBytes = 1
	if err := p.Run(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	seq, lsn, runs := latestManifest(t, storage)
	if seq < 5 {
		t.Fatalf("%d compactions over 40 commits, want many", seq)
	}
	if runs > 2*12 {
		t.Fatalf("%d live runs after %d compactions: merging is not geometric", runs, seq)
	}
	if walBytes(t, storage) > 64 {
		t.Fatalf("the log keeps %d bytes after the final compaction (LSN %d)", walBytes(t, storage), lsn)
	}
	if _, err := gen.Write(input, gen.Spec{Seed: 12, Rows: 2000, Users: 300, Files: 1, FirstFile: 10}); err != nil {
		t.Fatal(err)
	}
	if err := runSessions(t, input, output, storage, true); err != nil {
		t.Fatal(err)
	}
	acc, err := model.Accesses(input)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := consolidated(t, readSink(t, output)), model.Strings(model.Sessions(acc, 300)); !slices.Equal(got, want) {
		t.Fatalf("changelog consolidates to %d rows, want %d", len(got), len(want))
	}
}

// TestCompactStoppedStorage: Compact on a storage whose last run failed
// folds the log, and the next run continues exactly; Compact refuses a
// locked storage and a directory that is no storage.
func TestCompactStoppedStorage(t *testing.T) {
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	output := filepath.Join(dir, "changelog.csv")
	os.Mkdir(input, 0o755)
	if _, err := gen.Write(input, gen.Spec{Seed: 4, Rows: 5000, Users: 100, Files: 5}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(input, "zz_bad.csv"), []byte("user_id,access_time\nx,y\n"), 0o644)
	p := pwlog.New()
	tutorial.Sessions(p, input, 300).WriteCSV("output", output, pwlog.SinkOptions{Append: true})
	cfg := quietConfig(storage)
	cfg.BatchRows = 700
	if err := p.Run(t.Context(), cfg); err == nil {
		t.Fatal("the bad file was accepted")
	}
	logged := walBytes(t, storage)
	st, err := tool.Compact(t.Context(), storage, &tool.CompactOptions{Logger: quietConfig("").Logger})
	if err != nil {
		t.Fatal(err)
	}
	if st.EntriesFolded == 0 || walBytes(t, storage) >= logged || st.BytesAfter >= st.BytesBefore {
		t.Fatalf("compact folded %d entries, log %d -> %d bytes, storage %d -> %d bytes",
			st.EntriesFolded, logged, walBytes(t, storage), st.BytesBefore, st.BytesAfter)
	}
	os.Remove(filepath.Join(input, "zz_bad.csv"))
	if err := runSessions(t, input, output, storage, true); err != nil {
		t.Fatal(err)
	}
	acc, _ := model.Accesses(input)
	if got, want := consolidated(t, readSink(t, output)), model.Strings(model.Sessions(acc, 300)); !slices.Equal(got, want) {
		t.Fatalf("changelog consolidates to %d rows, want %d", len(got), len(want))
	}
	l, err := istorage.TakeLock(vfs.Default, storage)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tool.Compact(t.Context(), storage, nil); !errors.Is(err, pwlog.ErrLocked) {
		t.Fatalf("compact of a locked storage: %v", err)
	}
	l.Close()
	if _, err := tool.Compact(t.Context(), input, nil); !errors.Is(err, pwlog.ErrFormat) {
		t.Fatalf("compact of a non-storage: %v", err)
	}
}

// TestRemovedLogRefused: a storage whose log was removed behind its
// checkpoint is refused: commits to a restarted log would be skipped.
func TestRemovedLogRefused(t *testing.T) {
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	os.Mkdir(input, 0o755)
	copyFiles(t, "testdata/tutorial/run1", input)
	if err := runSessions(t, input, filepath.Join(dir, "o.csv"), storage, false); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(storage, "wal")); err != nil {
		t.Fatal(err)
	}
	err := runSessions(t, input, filepath.Join(dir, "o.csv"), storage, false)
	if err == nil || !strings.Contains(err.Error(), "the log was removed or replaced") {
		t.Fatalf("got %v", err)
	}
}

// TestCompactionByTime: with CompactBytes out of reach, a tiny
// CompactInterval still compacts while the run commits.
func TestCompactionByTime(t *testing.T) {
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	os.Mkdir(input, 0o755)
	if _, err := gen.Write(input, gen.Spec{Seed: 13, Rows: 5000, Users: 100, Files: 5}); err != nil {
		t.Fatal(err)
	}
	p := pwlog.New()
	tutorial.Sessions(p, input, 300).WriteCSV("output", filepath.Join(dir, "changelog.csv"), pwlog.SinkOptions{Append: true})
	cfg := quietConfig(storage)
	cfg.BatchRows = 250
	cfg.CompactBytes = 1 << 40
	cfg.CompactInterval = time.Nanosecond
	if err := p.Run(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	if seq, _, _ := latestManifest(t, storage); seq < 3 {
		t.Fatalf("%d compactions over 20 commits with a 1ns interval", seq)
	}
}

// A storage whose log was never folded (the first execution's final
// compaction failed) gets its first checkpoint from the next execution,
// even when that one reads nothing new.
func TestFirstCheckpointAfterFailedCompaction(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "input")
	os.Mkdir(input, 0o755)
	copyFiles(t, "testdata/tutorial/run1", input)
	store := filepath.Join(dir, "storage")
	stop := errorfs.NewSticky(errorfs.NewOnIndex(0, syscall.EIO, errorfs.And(errorfs.Kinds(errorfs.OpCreate), errorfs.PathContains("checkpoints"))))
	cfg := quietConfig(store)
	cfg.FS = errorfs.Wrap(vfs.Default, stop)
	p := pwlog.New()
	tutorial.Sessions(p, input, 300).WriteCSV("output", filepath.Join(dir, "out.csv"), pwlog.SinkOptions{Append: true})
	if err := p.Run(context.Background(), cfg); err == nil || !stop.Tripped() {
		t.Fatalf("the first execution should fail at its compaction: %v", err)
	}
	manifests := func() int {
		ms, _ := filepath.Glob(filepath.Join(store, base.CheckpointDir, base.ManifestPrefix+"*"))
		return len(ms)
	}
	if n := manifests(); n != 0 {
		t.Fatalf("%d manifests after the failed compaction", n)
	}
	if err := runSessions(t, input, filepath.Join(dir, "out.csv"), store, true); err != nil {
		t.Fatal(err)
	}
	if n := manifests(); n != 1 {
		t.Fatalf("%d manifests after an execution with nothing new, want 1", n)
	}
}
