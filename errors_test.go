package pwlog_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/vfs/errorfs"
)

// checkWrappedOnce checks that err is wrapped once with each context: it
// starts with "pwlog: ", says "pwlog:" once, names each of once exactly
// once, and holds each of want.
func checkWrappedOnce(t *testing.T, what string, err error, once []string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "pwlog: ") || strings.Count(msg, "pwlog:") != 1 {
		t.Errorf("%s: %q: want one \"pwlog:\" prefix", what, msg)
	}
	for _, s := range once {
		if n := strings.Count(msg, s); n != 1 {
			t.Errorf("%s: %q names %q %d times, want once", what, msg, s, n)
		}
	}
	for _, s := range want {
		if !strings.Contains(msg, s) {
			t.Errorf("%s: %q does not say %q", what, msg, s)
		}
	}
}

// Errors of the engine carry each context once: the phase, the source,
// the package that failed.
func TestErrorsWrappedOnce(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "input")
	os.Mkdir(input, 0o755)
	copyFiles(t, "testdata/tutorial/run1", input)

	// A source whose directory is gone.
	err := runSessions(t, filepath.Join(dir, "nowhere"), filepath.Join(dir, "a.csv"), filepath.Join(dir, "s1"), false)
	checkWrappedOnce(t, "missing input", err, []string{`source "accesses"`, "nowhere"})

	// A run whose final compaction fails leaves its whole log, pipeline
	// record included; a changed pipeline is refused while replaying it.
	stop := errorfs.NewSticky(errorfs.NewOnIndex(0, syscall.EIO, errorfs.And(errorfs.Kinds(errorfs.OpCreate), errorfs.PathContains("checkpoints"))))
	cfg := quietConfig(filepath.Join(dir, "s2"))
	cfg.FS = errorfs.Wrap(vfs.Default, stop)
	p := pwlog.New()
	tutorial.Sessions(p, input, 300).WriteCSV("output", filepath.Join(dir, "b.csv"))
	err = p.Run(t.Context(), cfg)
	checkWrappedOnce(t, "failed compaction", err, []string{"compaction:"})
	changed := pwlog.New()
	tutorial.Sessions(changed, input, 600).WriteCSV("output", filepath.Join(dir, "b.csv"))
	err = changed.Run(t.Context(), quietConfig(filepath.Join(dir, "s2")))
	checkWrappedOnce(t, "changed pipeline in the log", err, []string{"pipeline differs"}, "max_gap=600")
	if !errors.Is(err, pwlog.ErrPipelineChanged) {
		t.Errorf("changed pipeline in the log: %v is not ErrPipelineChanged", err)
	}

	// A consumed file rewritten, without Retract: the error says what
	// would handle it.
	if err := runSessions(t, input, filepath.Join(dir, "c.csv"), filepath.Join(dir, "s3"), false); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(input, "part_two.csv"), []byte("user_id,access_time\nbob,1\n"), 0o644)
	err = runSessions(t, input, filepath.Join(dir, "c.csv"), filepath.Join(dir, "s3"), false)
	checkWrappedOnce(t, "rewritten file", err, []string{`source "accesses"`}, "part_two.csv", "FileOptions{Retract: true}")
}

// Config.Backend takes any backend.Backend: a storage in an object store
// whose prefix holds objects but no format marker is not a pwlog storage
// (or one whose marker was lost), and is refused, saying so, before
// anything is written.
func TestObjectStoreWithoutMarkerRefused(t *testing.T) {
	dir := t.TempDir()
	p := pwlog.New()
	tutorial.Sessions(p, "testdata/tutorial/run1", 300).WriteCSV("output", filepath.Join(dir, "out.csv"))
	cfg := quietConfig("")
	m := backend.NewMem()
	if err := m.Put(t.Context(), "someone/else.txt", []byte("x")); err != nil {
		t.Fatal(err)
	}
	cfg.Backend, cfg.CacheDir = m, filepath.Join(dir, "cache")
	err := p.Run(t.Context(), cfg)
	checkWrappedOnce(t, "mem backend", err, []string{"*backend.Mem"}, "marker")
	if !errors.Is(err, pwlog.ErrFormat) {
		t.Errorf("err %v, want ErrFormat", err)
	}
	if _, serr := os.Stat(filepath.Join(dir, "out.csv")); serr == nil {
		t.Error("the refused run wrote its sink")
	}
	if got := m.Objects(); len(got) != 1 {
		t.Errorf("the refused run wrote objects: %d", len(got))
	}
}
