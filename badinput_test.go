package pwlog_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/sources"
	"github.com/pwlog/pwlog/vfs"
)

// TestBadInput: a bad row fails the run with an error naming file, line
// and column; what was committed before stays; once the file is fixed,
// the next run continues correctly.
func TestBadInput(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"fields", "user_id,access_time\nbob,1701104640,7\n", "bad.csv:2"},
		{"int", "user_id,access_time\nbob,1701104640\nbob,17011x4931\n", "bad.csv:3: column 2 (access_time)"},
		{"quote", "user_id,access_time\n\"bob,1701104640\n", "bad.csv:2"},
		{"utf8", "user_id,access_time\nb\xffb,1701104640\n", "bad.csv:2: column 1 (user_id)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
			output := filepath.Join(dir, "out.csv")
			os.Mkdir(input, 0o755)
			copyFiles(t, "testdata/tutorial/run1", input)
			if err := runSessions(t, input, output, storage, true); err != nil {
				t.Fatal(err)
			}
			first := signed(readSink(t, output))
			bad := filepath.Join(input, "bad.csv")
			if err := os.WriteFile(bad, []byte(c.body), 0o644); err != nil {
				t.Fatal(err)
			}
			err := runSessions(t, input, output, storage, true)
			var ie *sources.InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got error %v, want an InputError containing %q", err, c.want)
			}
			if got := signed(readSink(t, output)); !slices.Equal(got, first) {
				t.Fatalf("the failed run changed the output: %v, want %v", got, first)
			}
			// Fix the file: the next run continues with part_three's rows.
			if err := os.Remove(bad); err != nil {
				t.Fatal(err)
			}
			copyFiles(t, "testdata/tutorial/run2", input)
			if err := runSessions(t, input, output, storage, true); err != nil {
				t.Fatal(err)
			}
			want := append(first, `+"bob",578,1701104640,1701105218,3`)
			slices.Sort(want)
			if got := signed(readSink(t, output)); !slices.Equal(got, want) {
				t.Fatalf("after the fix: %v, want %v", got, want)
			}
		})
	}
}

// TestStorageLock: a second holder of a storage directory is refused with
// the pid of the first.
func TestStorageLock(t *testing.T) {
	dir := t.TempDir()
	l, err := storage.TakeLock(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = storage.TakeLock(vfs.Default, dir)
	if !errors.Is(err, pwlog.ErrLocked) || !strings.Contains(err.Error(), "process "+itoa(int64(os.Getpid()))) {
		t.Fatalf("second lock: %v, want ErrLocked naming pid %d", err, os.Getpid())
	}
	input := filepath.Join(dir, "in")
	os.Mkdir(input, 0o755)
	if err := runSessions(t, input, filepath.Join(dir, "o.csv"), dir, false); !errors.Is(err, pwlog.ErrLocked) {
		t.Fatalf("a run on a locked storage: %v, want ErrLocked", err)
	}
	l.Close()
	if err := runSessions(t, input, filepath.Join(dir, "o.csv"), dir, false); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
}

// TestDuplicateName: a persistent name used twice is an error.
func TestDuplicateName(t *testing.T) {
	p := pwlog.New()
	a := p.ReadCSV("x", t.TempDir(), pwlog.Schema{{Name: "k", Type: pwlog.TypeStr}})
	a.GroupBy("k").Reduce("x", pwlog.Out("k", pwlog.Col("k")))
	err := p.Run(t.Context(), quietConfig(""))
	if err == nil || !strings.Contains(err.Error(), `name "x" is used twice`) {
		t.Fatalf("got %v", err)
	}
}
