package measure

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/tool"
	"github.com/pwlog/pwlog/wal"
	tidwal "github.com/tidwall/wal"
)

const (
	testRows  = 20_000
	testBatch = 4096 // several logical times, so sessions change across them
)

// testData writes a small seeded data set and returns its directory.
func testData(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if _, err := gen.Write(dir, gen.Spec{Seed: 1, Rows: testRows, Users: 200, Files: 10}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testStream returns the stream of a small data set.
func testStream(t *testing.T) *Stream {
	t.Helper()
	s, err := NewStream(testData(t), testBatch)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runPipeline runs the tutorial pipeline with pwlog over input, persisted
// in storage unless it is "", and returns the live sessions its sink
// emitted: +1 rows minus -1 rows.
func runPipeline(t *testing.T, input, storage string, batchRows int) int {
	t.Helper()
	out := filepath.Join(t.TempDir(), "sessions.csv")
	p := pwlog.New()
	tutorial.Sessions(p, input, 300).WriteCSV("output", out)
	cfg := pwlog.Config{BatchRows: batchRows, Logger: quiet()}
	if storage != "" {
		cfg.Backend = pwlog.Filesystem(storage)
	}
	if err := p.Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	live := 0
	for _, l := range lines[1:] {
		switch diff := string(l[bytes.LastIndexByte(l, ',')+1:]); diff {
		case "1":
			live++
		case "-1":
			live--
		default:
			t.Fatalf("sink row %q: diff %q", l, diff)
		}
	}
	return live
}

func TestFloorAgreesWithPwlog(t *testing.T) {
	input := testData(t)
	rows, sessions, err := Floor(input, 300)
	if err != nil {
		t.Fatal(err)
	}
	if rows != testRows {
		t.Errorf("Floor read %d rows, want %d", rows, testRows)
	}
	if want := runPipeline(t, input, "", 0); sessions != want || sessions == 0 {
		t.Errorf("Floor found %d sessions, the pipeline emits %d", sessions, want)
	}
}

func TestStreamIsTheEngines(t *testing.T) {
	input := testData(t)
	s, err := NewStream(input, testBatch)
	if err != nil {
		t.Fatal(err)
	}
	if s.Rows != testRows || len(s.Batches) != (testRows+testBatch-1)/testBatch {
		t.Errorf("stream: %d rows in %d batches", s.Rows, len(s.Batches))
	}
	n := 0
	for _, b := range s.Batches {
		for _, st := range b.States {
			n += st.Deltas.Len()
		}
	}
	if s.Updates <= 0 || s.Updates != n {
		t.Errorf("Updates = %d, the deltas hold %d", s.Updates, n)
	}
	arrs, err := s.apply()
	if err != nil {
		t.Fatal(err)
	}

	// The engine's checkpoint after a persistent run with the same batches.
	storage := filepath.Join(t.TempDir(), "storage")
	runPipeline(t, input, storage, testBatch)
	info, err := tool.Inspect(context.Background(), storage, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Checkpoint == nil || len(info.Checkpoint.Arrangements) != len(arrs) {
		t.Fatalf("checkpoint %+v, want %d arrangements", info.Checkpoint, len(arrs))
	}
	for _, ai := range info.Checkpoint.Arrangements {
		a := arrs[compaction.ArrKey{Operator: ai.Operator, Arrangement: ai.Arrangement}]
		if a == nil || int64(a.Len()) != ai.Entries {
			t.Errorf("%s/%s: checkpoint holds %d entries, the stream leaves %v", ai.Operator, ai.Arrangement, ai.Entries, a)
		}
	}
	// Not only the counts: the same entries.
	loaded, err := freshArrangements()
	if err != nil {
		t.Fatal(err)
	}
	if err := loadCheckpoint(context.Background(), filepath.Join(storage, "checkpoints"), loaded); err != nil {
		t.Fatal(err)
	}
	for k, a := range arrs {
		if !reflect.DeepEqual(a.Snapshot(), loaded[k].Snapshot()) {
			t.Errorf("%s/%s: the checkpoint's entries differ from the stream's", k.Operator, k.Arrangement)
		}
	}
}

func TestWALCompare(t *testing.T) {
	s := testStream(t)
	for _, sync := range []bool{false, true} {
		dir := t.TempDir()
		r, err := WALCompare(dir, s, sync)
		if err != nil {
			t.Fatal(err)
		}
		if r.Ours <= 0 || r.Raw <= 0 || r.Bytes <= 0 || r.Batches != len(s.Batches) {
			t.Errorf("sync %v: %+v", sync, r)
		}
		if ours, raw := walBodies(t, dir); ours != r.Bytes || raw != r.Bytes {
			t.Errorf("sync %v: bodies of %d bytes in ours, %d in raw, want %d in both", sync, ours, raw, r.Bytes)
		}
		// The raw log holds every body as is; ours compresses the
		// stream's columns.
		if r.RawDisk < r.Bytes || r.OursDisk <= 0 || r.OursDisk >= r.RawDisk {
			t.Errorf("sync %v: on disk ours %d, raw %d, bodies %d", sync, r.OursDisk, r.RawDisk, r.Bytes)
		}
	}
}

// walBodies sums the bodies in the two logs WALCompare left in dir.
func walBodies(t *testing.T, dir string) (ours, raw int64) {
	t.Helper()
	o, _ := filepath.Glob(filepath.Join(dir, "pwlog-wal-*"))
	r, _ := filepath.Glob(filepath.Join(dir, "tidwall-*"))
	if len(o) != 1 || len(r) != 1 {
		t.Fatalf("logs in %s: %v %v", dir, o, r)
	}
	log, err := wal.Open(o[0], &wal.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if err := log.Replay(1, func(rec wal.Record) error { ours += int64(len(rec.Data)); return nil }); err != nil {
		t.Fatal(err)
	}
	tw, err := tidwal.Open(r[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tw.Close()
	last, err := tw.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= last; i++ {
		data, err := tw.Read(i)
		if err != nil {
			t.Fatal(err)
		}
		raw += int64(len(data))
	}
	return ours, raw
}

func TestPeers(t *testing.T) {
	s := testStream(t)
	arrs, err := s.apply()
	if err != nil {
		t.Fatal(err)
	}
	want := entries(arrs)
	pb, err := Pebble(t.TempDir(), s)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := Pwlog(t.TempDir(), s)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]PeerResult{"pebble": pb, "pwlog": pw} {
		if r.Entries != want || r.Write <= 0 || r.Restart <= 0 || r.Open <= 0 || r.Bytes <= 0 {
			t.Errorf("%s: %+v, want %d entries", name, r, want)
		}
	}
}

func TestFsyncProbe(t *testing.T) {
	dir := t.TempDir()
	lat, err := FsyncProbe(dir, 5, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if len(lat) != 5 {
		t.Fatalf("%d latencies, want 5", len(lat))
	}
	for i, d := range lat {
		if d <= 0 {
			t.Errorf("latency %d: %v", i, d)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the probe left %d files", len(left))
	}
}

func TestCommitProbe(t *testing.T) {
	dir := t.TempDir()
	lat, err := CommitProbe(dir, 5, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if len(lat) != 5 || slices.Min(lat) <= 0 {
		t.Fatalf("latencies %v", lat)
	}
	if des, _ := os.ReadDir(dir); len(des) != 0 {
		t.Fatalf("left %d files behind", len(des))
	}
}
