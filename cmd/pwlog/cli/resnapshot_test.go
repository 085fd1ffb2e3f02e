package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/tool"
	"github.com/pwlog/pwlog/vfs"
)

// keptStorage returns the storage of two runs of the tutorial's pipeline
// that keeps its inputs (pwlog.Config.KeepInputs), and its sink's file.
func keptStorage(t *testing.T) (dir, output string) {
	t.Helper()
	tmp := t.TempDir()
	input, dir, output := filepath.Join(tmp, "input"), filepath.Join(tmp, "storage"), filepath.Join(tmp, "sessions.csv")
	if err := os.Mkdir(input, 0o755); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for run := 1; run <= 2; run++ {
		if err := copyInput(filepath.Join(tutorialData, fmt.Sprintf("run%d", run)), input); err != nil {
			t.Fatal(err)
		}
		cfg := pwlog.Config{Backend: pwlog.Filesystem(dir), Logger: quiet, KeepInputs: true}
		if err := sessions(input, output).Run(t.Context(), cfg); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	return dir, output
}

// resnapshot records the re-snapshot and says so; inspect shows it
// pending, and the storage's kept inputs and sink tables; a second
// resnapshot writes nothing and says so.
func TestResnapshot(t *testing.T) {
	dir, output := keptStorage(t)
	file, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}
	before, err := tool.Inspect(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	pending := fmt.Sprintf("\n  output: re-snapshot pending: the next execution writes its whole table as of time %d into a new file\n", before.Clock)
	r := run(t, dir, "inspect", dir)
	if r.code != ExitOK || strings.Contains(r.out, "re-snapshot pending") ||
		!strings.Contains(r.out, "\nkept inputs (the rows each source committed, by time)\n  SOURCE    ENTRIES  ") ||
		!strings.Contains(r.out, "\nsink tables (each sink's current table)\n  SINK    ENTRIES  ") {
		t.Fatalf("inspect before: exit %d\n%s", r.code, r.out)
	}
	if len(before.KeptInputs) != 1 || len(before.SinkTables) != 1 {
		t.Fatalf("kept inputs %+v, sink tables %+v", before.KeptInputs, before.SinkTables)
	}
	for _, k := range []tool.KeptInfo{before.KeptInputs[0], before.SinkTables[0]} {
		line := regexp.MustCompile(`\n  ` + k.Name + ` +` + count(k.Entries) + ` +` + regexp.QuoteMeta(size(k.Bytes)) + `\n`)
		if !line.MatchString(r.out) {
			t.Errorf("inspect does not list %s with %d entries, %d bytes:\n%s", k.Name, k.Entries, k.Bytes, r.out)
		}
	}

	r = run(t, dir, "resnapshot", dir, "output")
	want := fmt.Sprintf("$DIR: the next execution writes the whole table of sink output, as of time %d, into a new file (commit at LSN %d)\n",
		before.Clock, before.WAL.LastCommitLSN+1)
	if r.code != ExitOK || r.err != "" || r.out != want {
		t.Fatalf("resnapshot: exit %d, stderr %q\n%s\nwant\n%s", r.code, r.err, r.out, want)
	}
	if r := run(t, dir, "inspect", dir); r.code != ExitOK || !strings.Contains(r.out, pending) {
		t.Errorf("inspect after: exit %d, no %q\n%s", r.code, pending, r.out)
	}
	r = run(t, dir, "inspect", "--json", dir)
	var info tool.StorageInfo
	if err := json.Unmarshal([]byte(r.out), &info); err != nil || len(info.Sinks) != 1 || !info.Sinks[0].Resnapshot ||
		len(info.SinkTables) != 1 || len(info.KeptInputs) != 1 {
		t.Errorf("inspect --json: %v\n%s", err, r.out)
	}
	if r := run(t, dir, "verify", dir); r.code != ExitOK {
		t.Errorf("verify: exit %d\n%s", r.code, r.out)
	}
	if got, err := os.ReadFile(output); err != nil || string(got) != string(file) {
		t.Errorf("resnapshot changed the sink's file: %v", err)
	}

	r = run(t, dir, "resnapshot", dir, "output")
	if r.code != ExitOK || r.out != "$DIR: a re-snapshot of sink output is pending already: nothing written\n" {
		t.Errorf("second resnapshot: exit %d, stderr %q\n%s", r.code, r.err, r.out)
	}
	r = run(t, dir, "resnapshot", "--json", dir, "output")
	var res resnapshotJSON
	ack := before.Committed.Acks["output"]
	wantJSON := resnapshotJSON{Dir: "$DIR", ResnapshotResult: tool.ResnapshotResult{Sink: "output", Time: before.Clock,
		Ack: record.SinkAck{Time: ack.Time, Offset: ack.Offset, Resnapshot: true}, AlreadyPending: true}}
	if err := json.Unmarshal([]byte(r.out), &res); err != nil || r.code != ExitOK || res != wantJSON {
		t.Errorf("resnapshot --json: exit %d, %v: %s\nwant %+v", r.code, err, r.out, wantJSON)
	}
}

// resnapshot refuses, with the exit status of the table and a message
// saying why, and writes nothing.
func TestResnapshotRefuses(t *testing.T) {
	kept, _ := keptStorage(t)
	plain := storage(t)
	damaged := storage(t)
	flip(t, filepath.Join(damaged, "wal", "00000000000000000008"), 200)
	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stderr string // a part of it
	}{
		{"unknown sink", []string{kept, "nosuch"}, ExitCantRun, `pwlog: $DIR has no sink "nosuch"; its sinks are: output` + "\n"},
		{"a source", []string{kept, "accesses"}, ExitCantRun, `pwlog: $DIR has no sink "accesses"; its sinks are: output` + "\n"},
		{"no sink tables", []string{plain, "output"}, ExitCantRun, `keeps no table of sink "output"`},
		{"damaged", []string{damaged, "output"}, ExitDamaged, "CRC mismatch"},
		{"not a storage", []string{t.TempDir(), "output"}, ExitCantRun, "is not a pwlog storage"},
		{"one argument", []string{kept}, ExitCantRun, "accepts 2 arg(s), received 1"},
	} {
		dir := c.args[0]
		was := snapshotBut(t, dir, "LOCK")
		r := run(t, dir, append([]string{"resnapshot"}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.err, c.stderr) || r.out != "" {
			t.Errorf("%s: exit %d, stderr %q, stdout %q; want %d and %q", c.name, r.code, r.err, r.out, c.code, c.stderr)
		}
		if c.name != "damaged" && snapshotBut(t, dir, "LOCK") != was {
			t.Errorf("%s: a refused resnapshot changed the storage", c.name)
		}
	}
	if r := run(t, plain, "resnapshot", plain, "output"); !strings.Contains(r.err, "KeepInputs") || !strings.Contains(r.err, "-keep-inputs") {
		t.Errorf("no sink tables: the message does not say how to keep them: %q", r.err)
	}

	lock, err := vfs.Default.Lock(filepath.Join(kept, "LOCK"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if r := run(t, kept, "resnapshot", kept, "output"); r.code != ExitLocked || !strings.HasPrefix(r.err, "pwlog: storage is locked: $DIR is in use by ") {
		t.Errorf("locked: exit %d, stderr %q", r.code, r.err)
	}
}

// resnapshot's help says when to use it, what the next execution does,
// and what storage it needs.
func TestResnapshotHelp(t *testing.T) {
	r := run(t, "", "resnapshot", "--help")
	for _, s := range []string{"resnapshot STORAGE SINK", "deleted or rotated", "append-mode changelog",
		"whole current table", "last committed time", "KeepInputs", "-keep-inputs", "inputs, selective or udf-cache",
		"Exit status: 0 when"} {
		if !strings.Contains(strings.Join(strings.Fields(r.out), " "), s) {
			t.Errorf("resnapshot --help does not say %q:\n%s", s, r.out)
		}
	}
	if r := run(t, "", "--help"); !strings.Contains(r.out, "resnapshot") {
		t.Errorf("pwlog --help does not list resnapshot:\n%s", r.out)
	}
}
