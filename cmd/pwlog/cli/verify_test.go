package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/tool"
)

func TestVerifySound(t *testing.T) {
	dir := storage(t)
	r := run(t, dir, "verify", dir)
	if r.code != ExitOK || r.err != "" {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	golden(t, "verify-sound.txt", r.out)
}

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

// A damaged run and a damaged log frame: verify names both, with file
// and offset, and exits 1.
func TestVerifyDamaged(t *testing.T) {
	dir := storage(t)
	flip(t, filepath.Join(dir, "checkpoints", "runs", "00000000000000000001.run"), 60)
	seg := filepath.Join(dir, "wal", "00000000000000000008")
	flip(t, seg, 200) // inside a frame followed by valid ones: corruption, not a torn tail
	r := run(t, dir, "verify", dir)
	if r.code != ExitDamaged {
		t.Fatalf("exit %d, want 1: %s%s", r.code, r.out, r.err)
	}
	golden(t, "verify-damaged.txt", r.out)
	golden(t, "verify-damaged.stderr", r.err)
	for _, want := range []string{"$DIR/checkpoints/runs/00000000000000000001.run offset", "$DIR/wal/00000000000000000008 offset"} {
		if !strings.Contains(r.out, "problem: "+want) {
			t.Errorf("output does not name %q:\n%s", want, r.out)
		}
	}

	r = run(t, dir, "verify", "--json", dir)
	if r.code != ExitDamaged {
		t.Fatalf("--json: exit %d", r.code)
	}
	golden(t, "verify-damaged.json", r.out)
	var rep struct {
		Sound    bool           `json:"sound"`
		Problems []tool.Problem `json:"problems"`
	}
	if err := json.Unmarshal([]byte(r.out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Sound || len(rep.Problems) != 2 {
		t.Fatalf("report %+v, want 2 problems", rep)
	}
	for _, p := range rep.Problems {
		if p.Offset < 0 || p.File == "" {
			t.Errorf("problem without a place: %+v", p)
		}
	}
	// A pipeline would refuse this storage too.
	if _, err := tool.Inspect(t.Context(), dir, nil); err != nil {
		t.Fatal(err)
	}
}

// A missing run is damage; a torn log tail is not (the next run cuts it,
// as after any crash), but verify says so.
func TestVerifyMissingRunAndTornTail(t *testing.T) {
	dir := storage(t)
	seg := filepath.Join(dir, "wal", "00000000000000000008")
	f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{40, 1, 3, 0, 14, 0, 0})
	f.Close()
	r := run(t, dir, "verify", dir)
	if r.code != ExitOK || !strings.Contains(r.out, "note: the log ends with 7 bytes after its last commit (LSN 13), a torn tail") {
		t.Fatalf("torn tail: exit %d:\n%s", r.code, r.out)
	}
	if err := os.Remove(filepath.Join(dir, "checkpoints", "runs", "00000000000000000002.run")); err != nil {
		t.Fatal(err)
	}
	r = run(t, dir, "verify", dir)
	if r.code != ExitDamaged || !strings.Contains(r.out, "problem: $DIR/checkpoints/runs/00000000000000000002.run: missing: manifest MANIFEST-00000000000000000001 lists it") {
		t.Fatalf("missing run: exit %d:\n%s", r.code, r.out)
	}
}

// Storages verify cannot read exit 2 with a message saying why.
func TestCannotRun(t *testing.T) {
	empty := t.TempDir()
	newer := storage(t)
	if err := os.WriteFile(filepath.Join(newer, "PWLOG"), []byte("pwlog storage format 99\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ dir, want string }{
		{empty, "$DIR is not a pwlog storage: it has no PWLOG marker"},
		{newer, "$DIR has format 99, newer than this build's format 2: use a newer pwlog"},
	} {
		for _, cmd := range []string{"inspect", "dump", "verify", "compact"} {
			r := run(t, c.dir, cmd, c.dir)
			if r.code != ExitCantRun || !strings.Contains(r.err, c.want) {
				t.Errorf("%s on %s: exit %d, stderr %q, want 2 and %q", cmd, c.dir, r.code, r.err, c.want)
			}
		}
	}
	missing := filepath.Join(empty, "nosuch")
	if r := run(t, empty, "verify", missing); r.code != ExitCantRun || !strings.Contains(r.err, "no such file or directory") {
		t.Errorf("verify of a missing directory: exit %d, %q", r.code, r.err)
	}
	if r := run(t, "", "verify"); r.code != ExitCantRun || !strings.Contains(r.err, "accepts 1 arg(s), received 0") {
		t.Errorf("verify without DIR: exit %d, %q", r.code, r.err)
	}
	if r := run(t, "", "nosuch"); r.code != ExitCantRun || !strings.Contains(r.err, `unknown command "nosuch"`) {
		t.Errorf("unknown command: exit %d, %q", r.code, r.err)
	}
}
