package pwlog_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/tool"
)

// runSessionsOpts runs the tutorial pipeline in append mode with the
// source's options.
func runSessionsOpts(input, output, storage string, opts ...pwlog.FileOptions) error {
	p := pwlog.New()
	tutorial.Sessions(p, input, 300, opts...).WriteCSV("output", output, pwlog.SinkOptions{Append: true})
	return p.Run(context.Background(), quietConfig(storage))
}

// storedDir returns the directory the storage recorded for the tutorial's
// source, as pwlog inspect shows it.
func storedDir(t *testing.T, storage string) string {
	t.Helper()
	info, err := tool.Inspect(context.Background(), storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range info.Sources {
		if s.Name == "accesses" {
			if info.Catalog == nil || info.Catalog.Dirs["accesses"] != s.Dir {
				t.Fatalf("inspect: source dir %q, catalog %+v", s.Dir, info.Catalog)
			}
			return s.Dir
		}
	}
	t.Fatalf("inspect: no source accesses in %+v", info.Sources)
	return ""
}

// verifySound fails the test when pwlog verify finds damage.
func verifySound(t *testing.T, storage string) {
	t.Helper()
	rep, err := tool.Verify(context.Background(), storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) > 0 {
		t.Fatalf("verify: %+v", rep.Problems)
	}
}

func realPath(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(r)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// TestSourceDirMoved: the storage remembers the source's directory. A
// run reading files of the same names from another directory is refused
// with ErrSourceMoved naming both; the same directory by a relative path
// or a symbolic link is not a move; FileOptions.Moved accepts the new
// directory, whose files the source goes on reading where it stopped,
// and records it.
func TestSourceDirMoved(t *testing.T) {
	tmp := t.TempDir()
	a, b := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	storage, output := filepath.Join(tmp, "storage"), filepath.Join(tmp, "out.csv")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := filepath.Abs("testdata/tutorial")
	if err != nil {
		t.Fatal(err)
	}
	copyFiles(t, filepath.Join(data, "run1"), a)
	if err := runSessionsOpts(a, output, storage); err != nil {
		t.Fatal(err)
	}
	if got, want := storedDir(t, storage), realPath(t, a); got != want {
		t.Fatalf("recorded %q, want %q", got, want)
	}
	before, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}

	// Another directory whose files share the names read: refused.
	copyFiles(t, filepath.Join(data, "run1"), b)
	copyFiles(t, filepath.Join(data, "run2"), b)
	err = runSessionsOpts(b, output, storage)
	if !errors.Is(err, pwlog.ErrSourceMoved) {
		t.Fatalf("run on another directory: got %v, want ErrSourceMoved", err)
	}
	checkWrappedOnce(t, "run on another directory", err, []string{`"accesses"`, realPath(t, a), realPath(t, b)}, "FileOptions{Moved: true}")
	if after, _ := os.ReadFile(output); string(after) != string(before) {
		t.Fatal("the refused run wrote to the sink")
	}
	if got, want := storedDir(t, storage), realPath(t, a); got != want {
		t.Fatalf("after the refused run, recorded %q, want %q", got, want)
	}

	// The same directory by a relative path and by a symbolic link.
	copyFiles(t, filepath.Join(data, "run2"), a)
	t.Chdir(tmp)
	if err := runSessionsOpts("a", output, storage); err != nil {
		t.Fatalf("run on a relative path: %v", err)
	}
	link := filepath.Join(tmp, "link")
	if err := os.Symlink(a, link); err != nil {
		t.Skipf("no symbolic links: %v", err)
	}
	copyFiles(t, filepath.Join(data, "run3"), a)
	if err := runSessionsOpts(link, output, storage); err != nil {
		t.Fatalf("run through a symbolic link: %v", err)
	}
	checkChangelog(t, "after the runs on a", output, a)
	if got, want := storedDir(t, storage), realPath(t, a); got != want {
		t.Fatalf("recorded %q, want %q", got, want)
	}

	// The files move to b, which then holds what a holds: Moved accepts
	// it, reads nothing again, and records b.
	copyFiles(t, filepath.Join(data, "run3"), b)
	if err := runSessionsOpts(b, output, storage, pwlog.FileOptions{Moved: true}); err != nil {
		t.Fatalf("run on b with Moved: %v", err)
	}
	checkChangelog(t, "after the move", output, b)
	if got, want := storedDir(t, storage), realPath(t, b); got != want {
		t.Fatalf("after the move, recorded %q, want %q", got, want)
	}
	verifySound(t, storage)

	// b is now the source's directory: no option needed, and new files
	// are read; a is another directory now.
	if err := os.WriteFile(filepath.Join(b, "late.csv"), []byte("user_id,access_time\nlate,1700009000\nlate,1700009100\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runSessionsOpts(b, output, storage); err != nil {
		t.Fatalf("run on b after the move: %v", err)
	}
	checkChangelog(t, "after the run on b", output, b)
	if err := runSessionsOpts(a, output, storage); !errors.Is(err, pwlog.ErrSourceMoved) {
		t.Fatalf("run on a after the move: got %v, want ErrSourceMoved", err)
	}
}

// TestSourceDirMovedWithNewRows: a run with Moved that reads new rows
// records the new directory with its commit.
func TestSourceDirMovedWithNewRows(t *testing.T) {
	tmp := t.TempDir()
	a, b := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	storage, output := filepath.Join(tmp, "storage"), filepath.Join(tmp, "out.csv")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyFiles(t, "testdata/tutorial/run1", a)
	if err := runSessionsOpts(a, output, storage); err != nil {
		t.Fatal(err)
	}
	copyFiles(t, "testdata/tutorial/run1", b)
	copyFiles(t, "testdata/tutorial/run2", b)
	if err := runSessionsOpts(b, output, storage, pwlog.FileOptions{Moved: true}); err != nil {
		t.Fatal(err)
	}
	checkChangelog(t, "after the move", output, b)
	if got, want := storedDir(t, storage), realPath(t, b); got != want {
		t.Fatalf("recorded %q, want %q", got, want)
	}
	if err := runSessionsOpts(b, output, storage); err != nil {
		t.Fatal(err)
	}
}

// TestSourceDirRecordedForOldStorage: a storage written before source
// directories were recorded is not refused; its next execution records
// them, even when it reads nothing new.
func TestSourceDirRecordedForOldStorage(t *testing.T) {
	tmp := t.TempDir()
	a := filepath.Join(tmp, "a")
	storage, output := filepath.Join(tmp, "storage"), filepath.Join(tmp, "out.csv")
	if err := os.Mkdir(a, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFiles(t, "testdata/tutorial/run1", a)
	p := pwlog.New()
	tutorial.Sessions(p, a, 300).WriteCSV("output", output, pwlog.SinkOptions{Append: true})
	if err := pwlog.RunWithoutDirs(p, quietConfig(storage)); err != nil {
		t.Fatal(err)
	}
	if got := storedDir(t, storage); got != "" {
		t.Fatalf("the old storage records %q", got)
	}
	if err := runSessionsOpts(a, output, storage); err != nil {
		t.Fatalf("run on the old storage: %v", err)
	}
	if got, want := storedDir(t, storage), realPath(t, a); got != want {
		t.Fatalf("recorded %q, want %q", got, want)
	}
	checkChangelog(t, "after the run on the old storage", output, a)
	verifySound(t, storage)
	b := filepath.Join(tmp, "b")
	if err := os.Mkdir(b, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFiles(t, "testdata/tutorial/run1", b)
	if err := runSessionsOpts(b, output, storage); !errors.Is(err, pwlog.ErrSourceMoved) {
		t.Fatalf("run on another directory: got %v, want ErrSourceMoved", err)
	}
}
