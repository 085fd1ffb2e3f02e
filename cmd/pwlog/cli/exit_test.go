package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/vfs"
)

// Every command exits with the status of the table in pwlog --help, for
// the same situation.
func TestExitCodes(t *testing.T) {
	commands := []string{"inspect", "dump", "verify", "compact"}
	type want struct {
		code   int
		stderr string // a part of it
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the DIR argument
		want  map[string]want                       // by command; "" for every command
	}{
		{"sound", func(t *testing.T, dir string) string { return dir },
			map[string]want{"": {ExitOK, ""}}},
		{"missing directory", func(t *testing.T, dir string) string { return filepath.Join(dir, "nosuch") },
			map[string]want{"": {ExitCantRun, "nosuch: no such file or directory"}}},
		{"not a directory", func(t *testing.T, dir string) string { return filepath.Join(dir, "PWLOG") },
			map[string]want{"": {ExitCantRun, "$DIR/PWLOG is not a directory"}}},
		{"not a storage", func(t *testing.T, dir string) string { return t.TempDir() },
			map[string]want{"": {ExitCantRun, "is not a pwlog storage: it has no PWLOG marker"}}},
		{"newer format", func(t *testing.T, dir string) string {
			write(t, filepath.Join(dir, "PWLOG"), "pwlog storage format 99\n")
			return dir
		}, map[string]want{"": {ExitCantRun, "$DIR has format 99, newer than this build's format 2: use a newer pwlog"}}},
		{"damaged marker", func(t *testing.T, dir string) string {
			flip(t, filepath.Join(dir, "PWLOG"), 3)
			return dir
		}, map[string]want{
			"":       {ExitDamaged, `pwlog: the format marker PWLOG is damaged: $DIR/PWLOG holds "pwl\x90g storage format 2\n", not "pwlog storage format N\n"`},
			"verify": {ExitDamaged, "pwlog: $DIR is damaged: 1 problem\n"},
		}},
		{"missing marker", func(t *testing.T, dir string) string {
			if err := os.Remove(filepath.Join(dir, "PWLOG")); err != nil {
				t.Fatal(err)
			}
			return dir
		}, map[string]want{
			"":       {ExitDamaged, "pwlog: the format marker PWLOG is damaged: $DIR/PWLOG is missing, but $DIR holds a wal/ or checkpoints/"},
			"verify": {ExitDamaged, "pwlog: $DIR is damaged: 1 problem\n"},
		}},
		{"damaged log", func(t *testing.T, dir string) string {
			flip(t, filepath.Join(dir, "wal", "00000000000000000008"), 200)
			return dir
		}, map[string]want{
			"":        {ExitDamaged, "CRC mismatch"},
			"inspect": {ExitDamaged, "pwlog: $DIR is damaged: 1 problem (pwlog verify checks everything)\n"},
			"verify":  {ExitDamaged, "pwlog: $DIR is damaged: 1 problem\n"},
		}},
		{"damaged manifest", func(t *testing.T, dir string) string {
			flip(t, filepath.Join(dir, "checkpoints", "MANIFEST-00000000000000000001"), 40)
			return dir
		}, map[string]want{
			"":        {ExitDamaged, "CRC mismatch"},
			"inspect": {ExitDamaged, "pwlog: $DIR is damaged: 1 problem (pwlog verify checks everything)\n"},
			"dump":    {ExitDamaged, "pwlog: checkpoint: corrupt: $DIR/checkpoints/MANIFEST-00000000000000000001 at offset 20: CRC mismatch"}, // after the log's records
			"verify":  {ExitDamaged, "pwlog: $DIR is damaged: 1 problem\n"},
		}},
	}
	for _, c := range cases {
		for _, cmd := range commands {
			dir := storage(t)
			arg := c.setup(t, dir)
			w, ok := c.want[cmd]
			if !ok {
				w = c.want[""]
			}
			r := run(t, dir, cmd, arg)
			if r.code != w.code || !strings.Contains(r.err, w.stderr) || (w.code == ExitOK) != (r.err == "") {
				t.Errorf("%s: %s: exit %d, stderr %q; want %d and %q", c.name, cmd, r.code, r.err, w.code, w.stderr)
			}
		}
	}

	// Locked: only compact takes the lock; the others read a running
	// pipeline's storage.
	dir := storage(t)
	lock, err := vfs.Default.Lock(filepath.Join(dir, "LOCK"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	for _, cmd := range commands {
		want := ExitOK
		if cmd == "compact" {
			want = ExitLocked
		}
		if r := run(t, dir, cmd, dir); r.code != want {
			t.Errorf("locked: %s: exit %d, want %d: %s", cmd, r.code, want, r.err)
		}
	}

	// Bad usage.
	for _, args := range [][]string{{"verify"}, {"nosuch"}, {"dump", "--nosuch", dir}, {"inspect", dir, dir},
		{"dump", "--kind", "nosuch", dir}, {"dump", "--source", "nosuch", dir}} {
		if r := run(t, dir, args...); r.code != ExitCantRun {
			t.Errorf("%v: exit %d, want %d: %s", args, r.code, ExitCantRun, r.err)
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A damaged format marker does not hide the storage from verify: it says
// the marker is damaged, checks the log and checkpoints, and finds them
// sound.
func TestVerifyDamagedMarker(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, marker string)
		want   string
	}{
		{"flipped", func(t *testing.T, m string) { flip(t, m, 0) }, `problem: $DIR/PWLOG: the format marker PWLOG is damaged: it holds "\x8fwlog storage format 2\n", not "pwlog storage format N\n"; the log and checkpoints were checked as format 2`},
		{"truncated", func(t *testing.T, m string) { write(t, m, "pwlog stor") }, `problem: $DIR/PWLOG: the format marker PWLOG is damaged: it holds "pwlog stor", not "pwlog storage format N\n"; the log and checkpoints were checked as format 2`},
		{"deleted", func(t *testing.T, m string) {
			if err := os.Remove(m); err != nil {
				t.Fatal(err)
			}
		}, "problem: $DIR/PWLOG: the format marker PWLOG is damaged: it is missing, but $DIR holds a wal/ or checkpoints/; the log and checkpoints were checked as format 2"},
	} {
		dir := storage(t)
		c.damage(t, filepath.Join(dir, "PWLOG"))
		r := run(t, dir, "verify", dir)
		want := c.want + "\n$DIR: DAMAGED: 1 problem (6 log records, 1 manifest, 2 runs, 1.3 KiB checked)\n"
		if r.code != ExitDamaged || r.out != want {
			t.Errorf("%s: exit %d:\n%s\nwant\n%s", c.name, r.code, r.out, want)
		}
	}
}

// pwlog --help and each command's help give the exit statuses.
func TestHelpExitCodes(t *testing.T) {
	r := run(t, "", "--help")
	if r.code != ExitOK || !strings.Contains(r.out, exitCodes) {
		t.Errorf("pwlog --help: exit %d, no exit status table:\n%s", r.code, r.out)
	}
	for _, cmd := range []string{"inspect", "dump", "verify", "compact", "resnapshot"} {
		r := run(t, "", cmd, "--help")
		if r.code != ExitOK || !strings.Contains(r.out, "Exit status: 0 when") {
			t.Errorf("pwlog %s --help: exit %d, no exit status:\n%s", cmd, r.code, r.out)
		}
	}
}
