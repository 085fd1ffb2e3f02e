package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/clock"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/vfs/errorfs"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the commands' output")

// The fixture is a storage like the demo's after an interrupted run: run 1
// of the tutorial finished (its state is in a checkpoint), run 2
// committed its times to the log but failed before its final compaction
// (every checkpoint write failed), so the log holds them. Logical times
// and file times are pinned, so its bytes are the same in every build.
var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureErr  error
	// fixtureInput is the fixture's source directory, inputPathLen long.
	fixtureInput string
)

const tutorialData = "../../../testdata/tutorial"

// inputPathLen is the length of the fixture's source directory.
const inputPathLen = 160

func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

func sessions(input, output string) *pwlog.Pipeline {
	p := pwlog.New()
	tutorial.Sessions(p, input, 300).WriteCSV("output", output, pwlog.SinkOptions{Append: true})
	return p
}

func buildFixture() (string, error) {
	dir, err := os.MkdirTemp("", "pwlog-cli-fixture")
	if err != nil {
		return "", err
	}
	// The storage records the source's directory: a path of one length
	// wherever the temporary directory is keeps the golden sizes.
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	pad := inputPathLen - len(filepath.Join(real, "input"))
	if pad < 0 {
		return "", fmt.Errorf("the temporary directory %s is too long for the fixture", real)
	}
	fixtureInput = filepath.Join(real, "input"+strings.Repeat("_", pad))
	input, storage := fixtureInput, filepath.Join(dir, "storage")
	output := filepath.Join(dir, "sessions.csv")
	if err := os.Mkdir(input, 0o755); err != nil {
		return "", err
	}
	saved := clock.Now
	defer func() { clock.Now = saved }()
	clock.Now = func() time.Time { return time.UnixMilli(1_700_000_000_000) }
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for run := 1; run <= 2; run++ {
		if err := copyInput(filepath.Join(tutorialData, fmt.Sprintf("run%d", run)), input); err != nil {
			return "", err
		}
		cfg := pwlog.Config{Backend: pwlog.Filesystem(storage), Logger: quiet}
		if run == 2 {
			// Every write under checkpoints/ fails: the final
			// compaction does, after the run's commits.
			cfg.FS = errorfs.Wrap(vfs.Default, errorfs.NewRandom(1, 1, syscall.EIO,
				errorfs.And(errorfs.Mutating, errorfs.PathContains("checkpoints"))))
		}
		err := sessions(input, output).Run(context.Background(), cfg)
		if run == 1 && err != nil {
			return "", err
		}
		if run == 2 && !errors.Is(err, errorfs.ErrInjected) {
			return "", fmt.Errorf("run 2: got %v, want an injected checkpoint failure", err)
		}
	}
	// The lock file holds its last holder's pid and start time.
	if err := os.WriteFile(filepath.Join(storage, "LOCK"), []byte("pid 4242 since 2023-11-14T22:13:20Z\n"), 0o644); err != nil {
		return "", err
	}
	return dir, nil
}

func copyInput(from, to string) error {
	des, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	pinned := time.Date(2023, 11, 14, 0, 0, 0, 0, time.UTC)
	for _, de := range des {
		b, err := os.ReadFile(filepath.Join(from, de.Name()))
		if err != nil {
			return err
		}
		p := filepath.Join(to, de.Name())
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		if err := os.Chtimes(p, pinned, pinned); err != nil {
			return err
		}
	}
	return nil
}

// storage returns a fresh copy of the fixture's storage directory.
func storage(t *testing.T) string {
	t.Helper()
	fixtureOnce.Do(func() { fixtureDir, fixtureErr = buildFixture() })
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	dst := filepath.Join(t.TempDir(), "storage")
	if err := os.CopyFS(dst, os.DirFS(filepath.Join(fixtureDir, "storage"))); err != nil {
		t.Fatal(err)
	}
	return dst
}

// result is what a command printed and its exit status.
type result struct {
	out, err string
	code     int
}

// run runs the pwlog command; every occurrence of dir in its output is
// replaced by $DIR, and of the fixture's source directory (which the
// storage records) by $INPUT.
func run(t *testing.T, dir string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(t.Context(), args, &out, &errb)
	clean := func(s string) string {
		if dir != "" {
			s = strings.ReplaceAll(s, dir, "$DIR")
		}
		if fixtureInput != "" {
			s = strings.ReplaceAll(s, fixtureInput, "$INPUT")
		}
		return s
	}
	return result{out: clean(out.String()), err: clean(errb.String()), code: code}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}
