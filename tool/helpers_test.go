package tool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/vfs/errorfs"
)

// The storages of these tests are the tutorial's (testdata/tutorial):
// runs of the sessions pipeline over the input files of run1, run2, ...,
// each run adding its files to the input directory, as the CLI tests'
// fixture is built.
const tutorialData = "../testdata/tutorial"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fixture describes a storage to build.
type fixture struct {
	// runs is how many of the tutorial's runs to make.
	runs int
	// interrupted makes every checkpoint write of the last run fail: its
	// commits stay in the log, as after a run stopped before its final
	// compaction.
	interrupted bool
	// retract makes the source a retracting one: it keeps state.
	retract bool
	// keepInputs runs the pipeline with pwlog.Config.KeepInputs: the
	// storage keeps the source's rows and the sink's table.
	keepInputs bool
}

// build runs the tutorial's pipeline as f says and returns the storage
// directory.
func (f fixture) build(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	if err := os.Mkdir(input, 0o755); err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= f.runs; run++ {
		if err := os.CopyFS(input, os.DirFS(filepath.Join(tutorialData, fmt.Sprintf("run%d", run)))); err != nil {
			t.Fatal(err)
		}
		cfg := f.config(pwlog.Config{Backend: pwlog.Filesystem(storage), Logger: quiet})
		last := run == f.runs
		if last && f.interrupted {
			cfg.FS = errorfs.Wrap(vfs.Default, errorfs.NewRandom(1, 1, syscall.EIO,
				errorfs.And(errorfs.Mutating, errorfs.PathContains("checkpoints"))))
		}
		p := pwlog.New()
		var opts []pwlog.FileOptions
		if f.retract {
			opts = append(opts, pwlog.FileOptions{Retract: true})
		}
		tutorial.Sessions(p, input, 300, opts...).WriteCSV("output", filepath.Join(dir, "sessions.csv"), pwlog.SinkOptions{Append: true})
		err := p.Run(context.Background(), cfg)
		if last && f.interrupted {
			if !errors.Is(err, errorfs.ErrInjected) {
				t.Fatalf("run %d: got %v, want an injected checkpoint failure", run, err)
			}
		} else if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	return storage
}

// interrupted is the CLI tests' fixture: run 1 finished, run 2's time is
// in the log after the checkpoint.
func interrupted(t *testing.T) string { return fixture{runs: 2, interrupted: true}.build(t) }

// finished is a storage after three runs that finished: its log is
// empty, everything is in the checkpoint.
func finished(t *testing.T) string { return fixture{runs: 3}.build(t) }

// flip inverts the bits of one byte of a file.
func flip(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// only returns the one file matching pattern under dir.
func only(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(m) != 1 {
		t.Fatalf("%s: %v, %v; want one file", pattern, m, err)
	}
	return m[0]
}

// snapshot lists every file under dir with its content.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	return snapshotBut(t, dir, "")
}

// snapshotBut lists every file under dir but skip with its content.
func snapshotBut(t *testing.T, dir, skip string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == filepath.Join(dir, skip) {
			return err
		}
		data, err := os.ReadFile(p)
		b.WriteString(p + " " + string(data) + "\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// dumpAll returns every entry Dump delivers.
func dumpAll(t *testing.T, dir string, o *DumpOptions) ([]*DumpEntry, DumpSummary, error) {
	t.Helper()
	var out []*DumpEntry
	sum, err := Dump(t.Context(), dir, o, func(e *DumpEntry) error {
		out = append(out, e)
		return nil
	})
	return out, sum, err
}
