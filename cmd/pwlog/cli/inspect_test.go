package cli

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/tool"

	"github.com/pwlog/pwlog/vfs"
)

func TestInspect(t *testing.T) {
	dir := storage(t)
	r := run(t, dir, "inspect", dir)
	if r.code != 0 || r.err != "" {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	golden(t, "inspect.txt", r.out)

	r = run(t, dir, "inspect", "--json", dir)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	golden(t, "inspect.json", r.out)
	var info tool.StorageInfo
	if err := json.Unmarshal([]byte(r.out), &info); err != nil {
		t.Fatal(err)
	}
	// What the fixture is: run 1 checkpointed, run 2's time in the log.
	if info.Checkpoint == nil || info.Checkpoint.Runs == 0 {
		t.Fatalf("no checkpoint: %+v", info.Checkpoint)
	}
	if info.WAL.Times != 1 || info.WAL.LastCommitLSN <= info.Checkpoint.LSN || info.WAL.Uncommitted != nil {
		t.Errorf("log after the checkpoint: %+v, want 1 committed time and no tail", info.WAL)
	}
	if len(info.Sources) != 1 || info.Sources[0].Rows != 12 || len(info.Sources[0].Files) != 3 {
		t.Errorf("sources: %+v, want accesses with 12 rows from 3 files", info.Sources)
	}
	// Run 2 acknowledged its time before its compaction failed.
	if len(info.Sinks) != 1 || info.Sinks[0].Pending != 0 || info.Sinks[0].LastTime != info.Clock || info.Sinks[0].AckTime != info.Clock {
		t.Errorf("sinks: %+v, want output acknowledged up to the clock %d", info.Sinks, info.Clock)
	}
	if info.Lock.Held || len(info.Problems) > 0 {
		t.Errorf("lock %+v, problems %v", info.Lock, info.Problems)
	}
	if !strings.HasPrefix(info.Catalog.Tables["output"][0], "user_id") {
		t.Errorf("catalog: %+v", info.Catalog)
	}
}

// Inspect changes nothing, and sees a process holding the lock.
func TestInspectReadsOnly(t *testing.T) {
	dir := storage(t)
	before := snapshot(t, dir)
	for _, args := range [][]string{{"inspect", dir}, {"dump", "--checkpoint", dir}, {"verify", dir}} {
		if r := run(t, dir, args...); r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.err)
		}
		if after := snapshot(t, dir); after != before {
			t.Fatalf("%v changed the storage:\n%s\nwas\n%s", args, after, before)
		}
	}
	lock, err := vfs.Default.Lock(filepath.Join(dir, "LOCK"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	r := run(t, dir, "inspect", dir)
	if !strings.Contains(r.out, "lock        held by process 4242 since 2023-11-14T22:13:20Z") {
		t.Errorf("inspect of a locked storage:\n%s", r.out)
	}
}

// snapshot lists every file under dir with its size and content.
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

// TestInspectUDFCaches: inspect lists the caches of user-defined
// functions, per operator and function, in text and in JSON.
func TestInspectUDFCaches(t *testing.T) {
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "in"), filepath.Join(dir, "st")
	if err := os.Mkdir(input, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(input, "a.csv"), []byte("name\nann\nbob\nann\ncy\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	shout := pwlog.UDF("shout", pwlog.TypeStr, func(args []pwlog.Value) (pwlog.Value, error) {
		return differential.String(strings.ToUpper(args[0].AsString())), nil
	}, pwlog.UDFOptions{Cache: true})
	p := pwlog.New()
	p.ReadCSV("names", input, pwlog.Schema{{Name: "name", Type: pwlog.TypeStr}}).
		Select("shouted", pwlog.Out("loud", shout.Call(pwlog.Col("name")))).
		WriteCSV("out", filepath.Join(dir, "out.csv"))
	cfg := pwlog.Config{Backend: pwlog.Filesystem(storage), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := p.Run(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	r := run(t, storage, "inspect", storage)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	i := strings.Index(r.out, "\nudf caches\n")
	if i < 0 {
		t.Fatalf("no udf caches section:\n%s", r.out)
	}
	lines := strings.Split(r.out[i+1:], "\n")
	if len(lines) < 3 || strings.Fields(lines[1])[0] != "OPERATOR" {
		t.Fatalf("udf caches section:\n%s", r.out[i:])
	}
	if f := strings.Fields(lines[2]); len(f) < 4 || f[0] != "shouted" || f[1] != "shout" || f[2] != "3" {
		t.Fatalf("udf caches row %q, want shouted, shout, 3 entries", lines[2])
	}
	r = run(t, storage, "inspect", "--json", storage)
	var info tool.StorageInfo
	if err := json.Unmarshal([]byte(r.out), &info); err != nil {
		t.Fatal(err)
	}
	if len(info.UDFCaches) != 1 || info.UDFCaches[0] != (tool.UDFCacheInfo{Operator: "shouted", Function: "shout", Entries: 3, Bytes: info.UDFCaches[0].Bytes}) || info.UDFCaches[0].Bytes <= 0 {
		t.Fatalf("udf_caches %+v", info.UDFCaches)
	}
	// The cache's records dump with their columns: the argument, the result.
	r = run(t, storage, "dump", "--checkpoint", storage)
	if r.code != 0 || !strings.Contains(r.out, "udf_cache:shout") || !strings.Contains(r.out, `"ANN"`) {
		t.Fatalf("dump: exit %d, %s\n%s", r.code, r.err, r.out)
	}
}
