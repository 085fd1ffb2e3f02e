package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/tool"

	"github.com/pwlog/pwlog/vfs"
)

func TestCompact(t *testing.T) {
	dir := storage(t)
	before, err := tool.Inspect(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, dir, "compact", dir)
	if r.code != ExitOK || r.err != "" {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	golden(t, "compact.txt", r.out)
	after, err := tool.Inspect(t.Context(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The log's time is folded into a new checkpoint, the log is empty,
	// and nothing the sources read or the clock is lost.
	if after.Checkpoint == nil || after.Checkpoint.Seq != before.Checkpoint.Seq+1 || after.Checkpoint.LSN != before.WAL.LastCommitLSN {
		t.Fatalf("checkpoint after compact: %+v (log was %+v)", after.Checkpoint, before.WAL)
	}
	if after.WAL.LastLSN >= after.WAL.FirstLSN || after.Clock != before.Clock || after.Sources[0].Rows != before.Sources[0].Rows {
		t.Errorf("after compact: log %+v, clock %d, sources %+v", after.WAL, after.Clock, after.Sources)
	}
	if !strings.Contains(r.out, "$DIR: "+itoa(uint64(before.Bytes))+" -> "+itoa(uint64(after.Bytes))+" bytes") {
		t.Errorf("compact does not print N -> M bytes of the storage:\n%s", r.out)
	}
	if r := run(t, dir, "verify", dir); r.code != ExitOK {
		t.Errorf("verify after compact: exit %d\n%s", r.code, r.out)
	}

	var liveBytes int64
	for _, a := range after.Checkpoint.Arrangements {
		liveBytes += a.Bytes
	}
	first := compactJSON{Dir: "$DIR", Compacted: true, BytesBefore: before.Bytes, BytesAfter: after.Bytes,
		FoldedLSN: after.Checkpoint.LSN, Manifest: after.Checkpoint.Seq, LiveRuns: after.Checkpoint.Runs, LiveBytes: liveBytes}

	// Again: nothing to fold. The checkpoint in force is described as it
	// stands: its manifest and live runs, not zeros.
	r = run(t, dir, "compact", "--json", dir)
	var st compactJSON
	if err := json.Unmarshal([]byte(r.out), &st); err != nil || r.code != ExitOK {
		t.Fatalf("exit %d, %v: %s", r.code, err, r.out)
	}
	want := compactJSON{Dir: "$DIR", BytesBefore: after.Bytes, BytesAfter: after.Bytes, FoldedLSN: after.Checkpoint.LSN,
		Manifest: after.Checkpoint.Seq, LiveRuns: after.Checkpoint.Runs, LiveBytes: liveBytes}
	if st != want {
		t.Errorf("second compact --json:\n got %+v\nwant %+v", st, want)
	}
	r = run(t, dir, "compact", dir)
	wantText := "$DIR: " + itoa(uint64(after.Bytes)) + " -> " + itoa(uint64(after.Bytes)) + " bytes (2.6 KiB -> 2.6 KiB)\n" +
		"nothing to fold: manifest 2 covers the log up to LSN 13; 4 live runs, 958 B; 0 files deleted\n"
	if r.code != ExitOK || r.out != wantText {
		t.Errorf("second compact: exit %d\n%s\nwant\n%s", r.code, r.out, wantText)
	}

	// The first compact's JSON, on a fresh copy: what it folded.
	dir = storage(t)
	r = run(t, dir, "compact", "--json", dir)
	if err := json.Unmarshal([]byte(strings.ReplaceAll(r.out, dir, "$DIR")), &st); err != nil || r.code != ExitOK {
		t.Fatalf("exit %d, %v: %s", r.code, err, r.out)
	}
	first.EntriesFolded, first.RunsWritten, first.RunsMerged, first.FilesDeleted = st.EntriesFolded, st.RunsWritten, st.RunsMerged, st.FilesDeleted
	if st != first || st.EntriesFolded == 0 || st.RunsWritten == 0 {
		t.Errorf("compact --json:\n got %+v\nwant %+v", st, first)
	}
}

// compact takes the storage's lock: it refuses, naming the holder, while
// a pipeline has the storage open, and changes nothing.
func TestCompactRefusesLockedStorage(t *testing.T) {
	dir := storage(t)
	lock, err := vfs.Default.Lock(filepath.Join(dir, "LOCK"))
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	was := snapshot(t, dir)
	r := run(t, dir, "compact", dir)
	if r.code != ExitLocked || r.err != "pwlog: storage is locked: $DIR is in use by process 4242 since 2023-11-14T22:13:20Z\n" {
		t.Fatalf("exit %d, stderr %q", r.code, r.err)
	}
	if snapshot(t, dir) != was {
		t.Fatal("a refused compact changed the storage")
	}
}

// format1 returns a copy of the storage of format 1 in the repository's
// testdata (testdata/format1/README.md).
func format1(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "storage")
	if err := os.CopyFS(dst, os.DirFS("../../../testdata/format1/storage")); err != nil {
		t.Fatal(err)
	}
	return dst
}

// compact upgrades a storage of format 1 and says so; inspect tells the
// format before, and a second compact has nothing to upgrade.
func TestCompactUpgrades(t *testing.T) {
	dir := format1(t)
	if r := run(t, dir, "inspect", dir); r.code != ExitOK ||
		!strings.Contains(r.out, "\nformat      1, older than this build's 2: a pipeline refuses it, pwlog compact upgrades it\n") {
		t.Fatalf("inspect: exit %d\n%s", r.code, r.out)
	}
	r := run(t, dir, "compact", dir)
	lines := strings.Split(r.out, "\n")
	if r.code != ExitOK || len(lines) < 3 || lines[1] != "upgraded the storage from format 1 to format 2: 4 checkpoint runs of format 1 rewritten" ||
		!strings.HasPrefix(lines[2], "folded the log up to LSN ") {
		t.Fatalf("compact: exit %d, stderr %q\n%s", r.code, r.err, r.out)
	}
	if r := run(t, dir, "inspect", dir); r.code != ExitOK || !strings.Contains(r.out, "\nformat      2\n") {
		t.Fatalf("inspect after the upgrade: exit %d\n%s", r.code, r.out)
	}
	if r := run(t, dir, "compact", dir); r.code != ExitOK || strings.Contains(r.out, "upgraded") {
		t.Fatalf("second compact: exit %d\n%s", r.code, r.out)
	}

	dir = format1(t)
	r = run(t, dir, "compact", "--json", dir)
	var st compactJSON
	if err := json.Unmarshal([]byte(r.out), &st); err != nil || r.code != ExitOK || !st.Upgraded || st.RunsUpgraded != 4 || !st.Compacted {
		t.Fatalf("compact --json: exit %d, %v: %s", r.code, err, r.out)
	}
}
