package tool

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/internal/clock"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/objlog"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/vfs/errorfs"
	"github.com/pwlog/pwlog/wal"
)

// The storages in an object store of these tests are kept in a
// backend.Mem, named by this URL.
const storeURL = "s3://bucket/prefix"

// named gives a backend the name a pipeline reports it by.
type namedBackend struct {
	backend.Backend
	name string
}

func (n namedBackend) String() string { return n.name }

// errInjected fails the checkpoint runs an interrupted run writes.
var errInjected = errors.New("injected checkpoint failure")

// store is a storage in an object store, built by running the tutorial's
// pipeline on a Mem as a fixture says (the runs build makes), with the
// sink's file and the source's directory of those runs.
type store struct {
	mem    *backend.Mem
	output string
	input  string
}

// opts returns read options of the store.
func (s *store) opts() *ReadOptions { return &ReadOptions{Backend: s.mem} }

// config returns the configuration of a run on the store.
func (s *store) config() pwlog.Config {
	return pwlog.Config{Backend: namedBackend{s.mem, storeURL}, Logger: quiet}
}

// config returns the configuration of a run of f on a storage: cfg with
// what f asks for.
func (f fixture) config(cfg pwlog.Config) pwlog.Config {
	cfg.KeepInputs = f.keepInputs
	return cfg
}

// run runs the tutorial's pipeline on input with cfg, its sink writing
// to output.
func (f fixture) run(input, output string, cfg pwlog.Config) error {
	p := pwlog.New()
	var opts []pwlog.FileOptions
	if f.retract {
		opts = append(opts, pwlog.FileOptions{Retract: true})
	}
	tutorial.Sessions(p, input, 300, opts...).WriteCSV("output", output, pwlog.SinkOptions{Append: true})
	return p.Run(context.Background(), cfg)
}

// failCheckpoints makes every write of a checkpoint run of mem fail, as
// build's interrupted runs fail theirs: the run takes the storage (it
// republishes the manifest in force) and commits, and its final
// compaction fails.
func failCheckpoints(mem *backend.Mem) {
	mem.SetFail(func(op, name string) error {
		if strings.HasPrefix(name, base.CheckpointDir+"/"+base.RunPrefix) && (op == "put" || op == "create") {
			return errInjected
		}
		return nil
	})
}

// buildStore runs the tutorial's pipeline as f says on a Mem.
func (f fixture) buildStore(t *testing.T) *store {
	t.Helper()
	_, s := f.buildBoth(t, false)
	return s
}

// buildBoth runs the tutorial's pipeline as f says on a Mem and, with
// directory set, on a storage directory too (whose path it returns),
// reading the same files, with the logical times and the files' times
// pinned: the two storages commit the same.
func (f fixture) buildBoth(t *testing.T, directory bool) (string, *store) {
	t.Helper()
	// The engine caches the checkpoint of a storage in an object store in
	// the user's cache directory.
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	saved := clock.Now
	defer func() { clock.Now = saved }()
	now := time.UnixMilli(1_700_000_000_000)
	clock.Now = func() time.Time { return now }
	tmp := t.TempDir()
	s := &store{mem: backend.NewMem(), output: filepath.Join(tmp, "sessions.csv"), input: filepath.Join(tmp, "input")}
	storageDir := ""
	if directory {
		storageDir = filepath.Join(tmp, "storage")
	}
	if err := os.Mkdir(s.input, 0o755); err != nil {
		t.Fatal(err)
	}
	for run := 1; run <= f.runs; run++ {
		from := filepath.Join(tutorialData, fmt.Sprintf("run%d", run))
		if err := os.CopyFS(s.input, os.DirFS(from)); err != nil {
			t.Fatal(err)
		}
		des, err := os.ReadDir(from)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range des {
			if err := os.Chtimes(filepath.Join(s.input, de.Name()), now, now); err != nil {
				t.Fatal(err)
			}
		}
		interrupted := run == f.runs && f.interrupted
		check := func(what string, err error) {
			t.Helper()
			if interrupted {
				if !errors.Is(err, errInjected) && !errors.Is(err, errorfs.ErrInjected) {
					t.Fatalf("run %d, %s: got %v, want an injected checkpoint failure", run, what, err)
				}
			} else if err != nil {
				t.Fatalf("run %d, %s: %v", run, what, err)
			}
		}
		if directory {
			cfg := pwlog.Config{Backend: pwlog.Filesystem(storageDir), Logger: quiet}
			if interrupted {
				cfg.FS = errorfs.Wrap(vfs.Default, errorfs.NewRandom(1, 1, syscall.EIO,
					errorfs.And(errorfs.Mutating, errorfs.PathContains("checkpoints"))))
			}
			check("directory", f.run(s.input, filepath.Join(tmp, "sessions-dir.csv"), f.config(cfg)))
		}
		if interrupted {
			failCheckpoints(s.mem)
		}
		err = f.run(s.input, s.output, f.config(s.config()))
		s.mem.SetFail(nil)
		check("object store", err)
	}
	return storageDir, s
}

// objects returns the names of the store's objects under prefix.
func (s *store) objects(prefix string) []string {
	var out []string
	for n := range s.mem.Objects() {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// flipObject inverts the bits of one byte of an object.
func (s *store) flipObject(t *testing.T, name string, off int) {
	t.Helper()
	b, err := s.mem.Get(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0xff
	if err := s.mem.Put(t.Context(), name, b); err != nil {
		t.Fatal(err)
	}
}

// lastLogObject returns the name of the last log object holding records.
func (s *store) lastLogObject(t *testing.T) string {
	t.Helper()
	var last string
	_, err := objlog.Scan(t.Context(), backend.Sub(s.mem, base.LogDir), func(e objlog.Entry) error {
		last = base.LogDir + "/" + e.Object
		return nil
	})
	if err != nil || last == "" {
		t.Fatalf("no log object with records: %v", err)
	}
	return last
}

// rows returns what Dump delivers of the storage after its checkpoint
// (and of its checkpoint's runs), without the places, which differ
// between a directory and an object store.
func rows(t *testing.T, dir string, o *DumpOptions) []DumpEntry {
	t.Helper()
	es, sum, err := dumpAll(t, dir, o)
	if err != nil {
		t.Fatal(err)
	}
	var out []DumpEntry
	for _, e := range es {
		if e.Kind != KindRun && e.LSN <= sum.ManifestLSN {
			continue
		}
		c := *e
		c.File, c.Offset = "", 0
		out = append(out, c)
	}
	return out
}

// A storage in an object store reads as the same pipeline's storage in a
// directory: the same committed state, checkpoint, sources and sinks, the
// same records after the checkpoint and the same checkpoint rows.
func TestObjectStoreAgreesWithDirectory(t *testing.T) {
	for _, f := range []fixture{{runs: 2, interrupted: true}, {runs: 3}, {runs: 2, retract: true, interrupted: true}} {
		t.Run(fmt.Sprintf("runs=%d,interrupted=%v,retract=%v", f.runs, f.interrupted, f.retract), func(t *testing.T) {
			dir, s := f.buildBoth(t, true)
			want, err := Inspect(t.Context(), dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Inspect(t.Context(), storeURL, s.opts())
			if err != nil {
				t.Fatal(err)
			}
			if got.Dir != storeURL || got.Format != FormatVersion || len(got.Problems) != 0 || got.Lock.Held {
				t.Errorf("inspect: dir %q, format %d, problems %q, lock %+v", got.Dir, got.Format, got.Problems, got.Lock)
			}
			if !reflect.DeepEqual(got.Committed, want.Committed) || got.Clock != want.Clock ||
				!reflect.DeepEqual(got.Pipeline, want.Pipeline) || !reflect.DeepEqual(got.Catalog, want.Catalog) {
				t.Errorf("committed: object store %+v, directory %+v", got.Committed, want.Committed)
			}
			// The sources record their directory: another one here.
			for i := range got.Sources {
				got.Sources[i].Dir = ""
			}
			for i := range want.Sources {
				want.Sources[i].Dir = ""
			}
			if !reflect.DeepEqual(got.Sources, want.Sources) || !reflect.DeepEqual(got.Sinks, want.Sinks) || !reflect.DeepEqual(got.UDFCaches, want.UDFCaches) {
				t.Errorf("sources, sinks: object store %+v %+v, directory %+v %+v", got.Sources, got.Sinks, want.Sources, want.Sinks)
			}
			// The manifests' numbers differ: a writer of an object store
			// republishes the manifest in force when it takes the storage.
			if g, w := got.Checkpoint, want.Checkpoint; g == nil || w == nil || g.LSN != w.LSN ||
				g.Clock != w.Clock || g.Runs != w.Runs || !reflect.DeepEqual(g.Arrangements, w.Arrangements) {
				t.Errorf("checkpoint: object store %+v, directory %+v", g, w)
			}
			if got.WAL.LastCommitLSN != want.WAL.LastCommitLSN || got.WAL.LastLSN != want.WAL.LastLSN || got.WAL.Times != want.WAL.Times ||
				got.WAL.FirstTime != want.WAL.FirstTime || got.WAL.LastTime != want.WAL.LastTime || got.WAL.Uncommitted != nil {
				t.Errorf("log: object store %+v, directory %+v", got.WAL, want.WAL)
			}
			// Segments are the log's objects; the storage's bytes are its
			// objects' but the lease's.
			var logBytes, segBytes int64
			for _, n := range s.objects(base.LogDir + "/") {
				logBytes += int64(len(s.mem.Objects()[n]))
			}
			for _, sg := range got.WAL.Segments {
				if _, ok := objlog.ParseObjectName(sg.Path); !ok {
					t.Errorf("segment %q is not a log object's name", sg.Path)
				}
				segBytes += sg.Bytes
			}
			var all int64
			for n, b := range s.mem.Objects() {
				if n != objlog.LeaseName {
					all += int64(len(b))
				}
			}
			if segBytes != logBytes || got.WAL.Bytes != logBytes || got.Bytes != all {
				t.Errorf("bytes: storage %d, log %d, segments %d; the objects hold %d, the log's %d", got.Bytes, got.WAL.Bytes, segBytes, all, logBytes)
			}

			if g, w := rows(t, storeURL, &DumpOptions{ReadOptions: *s.opts(), Checkpoint: true}), rows(t, dir, &DumpOptions{Checkpoint: true}); !reflect.DeepEqual(g, w) {
				t.Errorf("dump: object store %d entries, directory %d", len(g), len(w))
			}
			_, sum, err := dumpAll(t, storeURL, &DumpOptions{ReadOptions: *s.opts(), Kinds: []wal.Kind{record.KindInput}})
			if err != nil || sum.Folded() != (want.WAL.Times == 0) {
				t.Errorf("dump: summary %+v, %v; the directory's log has %d times", sum, err, want.WAL.Times)
			}

			rep, err := Verify(t.Context(), storeURL, s.opts())
			if err != nil || !rep.Sound() || rep.Dir != storeURL || !reflect.DeepEqual(rep.Committed, want.Committed) {
				t.Fatalf("verify: %+v, %v", rep, err)
			}
			var progress [][2]int64
			o := s.opts()
			o.Progress = func(done, total int64) { progress = append(progress, [2]int64{done, total}) }
			rep2, err := Verify(t.Context(), storeURL, o)
			if n := len(progress); err != nil || n == 0 || progress[n-1] != [2]int64{rep2.Bytes, rep2.Bytes} || rep2.Bytes != rep.Bytes {
				t.Errorf("verify's progress: %v; %d bytes checked, %d without progress, %v", progress, rep2.Bytes, rep.Bytes, err)
			}
		})
	}
}

// Verify names damage in an object store by the object's URL: a log
// object, a run, a missing run; Inspect and Dump meet the log's.
func TestObjectStoreDamage(t *testing.T) {
	f := fixture{runs: 2, interrupted: true}
	s := f.buildStore(t)
	logObj := s.lastLogObject(t)
	s.flipObject(t, logObj, 40)
	rep, err := Verify(t.Context(), storeURL, s.opts())
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) == 0 || rep.Problems[0].File != storeURL+"/"+logObj || rep.Problems[0].Offset < 0 {
		t.Errorf("damaged log object %s: %+v", logObj, rep.Problems)
	}
	info, err := Inspect(t.Context(), storeURL, s.opts())
	if err != nil || len(info.Problems) == 0 || !strings.Contains(info.Problems[0], storeURL+"/"+logObj) {
		t.Errorf("inspect of a damaged log object: %v, %v", info, err)
	}
	_, _, err = dumpAll(t, storeURL, &DumpOptions{ReadOptions: *s.opts()})
	var we *wal.CorruptError
	if !errors.As(err, &we) || !IsDamage(err) || we.File != storeURL+"/"+logObj {
		t.Errorf("dump of a damaged log object: %v", err)
	}
	if _, err := Compact(t.Context(), storeURL, &CompactOptions{Backend: s.mem, Logger: quiet}); !IsDamage(err) || !strings.Contains(err.Error(), storeURL+"/"+logObj) {
		t.Errorf("compact of a damaged log object: %v", err)
	}

	s = f.buildStore(t)
	runs := s.objects(base.CheckpointDir + "/runs/")
	s.flipObject(t, runs[0], 30)
	if err := s.mem.Delete(t.Context(), runs[1]); err != nil {
		t.Fatal(err)
	}
	rep, err = Verify(t.Context(), storeURL, s.opts())
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, p := range rep.Problems {
		files = append(files, p.File)
	}
	if want := []string{storeURL + "/" + runs[0], storeURL + "/" + runs[1]}; !slices.Equal(files, want) ||
		!strings.HasPrefix(rep.Problems[1].Message, "missing: manifest MANIFEST-") {
		t.Errorf("damaged and missing runs: %+v; want problems in %q", rep.Problems, want)
	}
	if _, _, err := dumpAll(t, storeURL, &DumpOptions{ReadOptions: *s.opts(), Checkpoint: true}); !errors.Is(err, backend.ErrNotExist) {
		t.Errorf("dump --checkpoint of a missing run: %v", err)
	}
}

// The marker of a storage in an object store is checked as a directory's.
func TestObjectStoreMarker(t *testing.T) {
	mem := backend.NewMem()
	if _, err := Inspect(t.Context(), storeURL, &ReadOptions{Backend: mem}); !errors.Is(err, ErrFormat) || IsDamage(err) ||
		err.Error() != "pwlog: unsupported storage: s3://bucket/prefix is not a pwlog storage: it has no PWLOG marker" {
		t.Errorf("empty: %v", err)
	}

	s := fixture{runs: 1}.buildStore(t)
	if err := s.mem.Delete(t.Context(), base.Marker); err != nil {
		t.Fatal(err)
	}
	_, err := Inspect(t.Context(), storeURL, s.opts())
	var me *MarkerError
	if !errors.As(err, &me) || !me.Missing ||
		err.Error() != "pwlog: the format marker PWLOG is damaged: s3://bucket/prefix/PWLOG is missing, but s3://bucket/prefix holds a wal/ or checkpoints/" {
		t.Errorf("missing marker: %v", err)
	}
	rep, err := Verify(t.Context(), storeURL, s.opts())
	if err != nil || len(rep.Problems) != 1 || rep.Problems[0].File != storeURL+"/PWLOG" {
		t.Errorf("verify, missing marker: %+v, %v", rep, err)
	}
	if _, err := Compact(t.Context(), storeURL, &CompactOptions{Backend: s.mem, Logger: quiet}); !errors.As(err, &me) {
		t.Errorf("compact, missing marker: %v", err)
	}

	// No storage in an object store is of format 1: compact upgrades none.
	if err := s.mem.Put(t.Context(), base.Marker, []byte("pwlog storage format 1\n")); err != nil {
		t.Fatal(err)
	}
	was := s.mem.Objects()
	_, err = Compact(t.Context(), storeURL, &CompactOptions{Backend: s.mem, Logger: quiet})
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "s3://bucket/prefix has format 1") {
		t.Errorf("compact, format 1: %v", err)
	}
	if !maps.EqualFunc(was, s.mem.Objects(), slices.Equal) {
		t.Error("a refused compact changed the storage")
	}

	// A URL the tools do not know.
	if _, err := Inspect(t.Context(), "gs://bucket/prefix", nil); err == nil || !strings.Contains(err.Error(), `unknown scheme "gs"`) {
		t.Errorf("gs://: %v", err)
	}
}

// Compact on an object store folds the log into the checkpoint, deletes
// the log objects it folded, and keeps what the storage commits: a run
// after it restores the same state and emits nothing new.
func TestObjectStoreCompact(t *testing.T) {
	f := fixture{runs: 2, interrupted: true}
	s := f.buildStore(t)
	before, err := Inspect(t.Context(), storeURL, s.opts())
	if err != nil {
		t.Fatal(err)
	}
	logBefore := s.objects(base.LogDir + "/")
	st, err := Compact(t.Context(), storeURL, &CompactOptions{Backend: s.mem, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	after, err := Inspect(t.Context(), storeURL, s.opts())
	if err != nil {
		t.Fatal(err)
	}
	c := after.Checkpoint
	if !st.Compacted || st.Seq != before.Checkpoint.Seq+1 || c.Seq != st.Seq || st.FoldedLSN != before.WAL.LastCommitLSN || c.LSN != st.FoldedLSN {
		t.Fatalf("stats %+v; checkpoint after %+v, log before %+v", st, c, before.WAL)
	}
	if st.BytesBefore != before.Bytes || st.BytesAfter != after.Bytes || st.EntriesFolded == 0 {
		t.Errorf("stats %+v; bytes %d -> %d", st, before.Bytes, after.Bytes)
	}
	checkLive(t, st, c)
	if !reflect.DeepEqual(st.Committed, before.Committed) {
		t.Errorf("committed: compact %+v, inspect %+v", st.Committed, before.Committed)
	}
	// Only the newest log object stays: an empty one, which numbers the
	// next.
	logAfter := s.objects(base.LogDir + "/")
	if len(logAfter) != 1 || slices.Contains(logBefore, logAfter[0]) || after.WAL.LastLSN >= after.WAL.FirstLSN || after.WAL.LastLSN != st.FoldedLSN {
		t.Errorf("log objects %q -> %q; log after %+v", logBefore, logAfter, after.WAL)
	}
	if after.Lock.Held || len(s.objects(objlog.LeaseName)) != 0 {
		t.Errorf("compact left the lease: %+v", after.Lock)
	}
	if rep, err := Verify(t.Context(), storeURL, s.opts()); err != nil || !rep.Sound() {
		t.Errorf("verify after compact: %+v, %v", rep, err)
	}
	if after.Clock != before.Clock || !reflect.DeepEqual(after.Sources, before.Sources) {
		t.Errorf("after: clock %d, sources %+v", after.Clock, after.Sources)
	}

	// Again: nothing to fold. Opening the log placed another empty
	// object after the last, and the truncation at the checkpoint's LSN
	// deleted the one before it: one empty object stays, the newest.
	st2, err := Compact(t.Context(), storeURL, &CompactOptions{Backend: s.mem, Logger: quiet})
	logAgain := s.objects(base.LogDir + "/")
	if err != nil || len(logAgain) != 1 || logAgain[0] == logAfter[0] {
		t.Fatalf("second compact: log objects %q -> %q, %v", logAfter, logAgain, err)
	}
	if st2.Compacted || st2.Seq != c.Seq || st2.FoldedLSN != c.LSN || st2.BytesBefore != after.Bytes || st2.BytesAfter != after.Bytes {
		t.Errorf("second compact: %+v", st2)
	}

	// The pipeline again, on the same input: it restores what compact
	// kept, and emits nothing new.
	out, err := os.ReadFile(s.output)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.run(s.input, s.output, s.config()); err != nil {
		t.Fatal(err)
	}
	if again, err := os.ReadFile(s.output); err != nil || string(again) != string(out) {
		t.Errorf("the run after compact changed its sink's file: %d bytes -> %d, %v", len(out), len(again), err)
	}
	rerun, err := Inspect(t.Context(), storeURL, s.opts())
	if err != nil {
		t.Fatal(err)
	}
	if rerun.Clock != before.Clock || !reflect.DeepEqual(rerun.Sources, before.Sources) || !reflect.DeepEqual(rerun.Committed.Entries, before.Committed.Entries) ||
		!reflect.DeepEqual(rerun.Committed.Acks, before.Committed.Acks) {
		t.Errorf("after the run: %+v; before compact %+v", rerun.Committed, before.Committed)
	}
}

// A storage whose run finished keeps its last log object, folded: Compact
// has nothing to fold and deletes it behind the empty object it places.
func TestObjectStoreCompactFinished(t *testing.T) {
	s := fixture{runs: 3}.buildStore(t)
	before := s.objects(base.LogDir + "/")
	st, err := Compact(t.Context(), storeURL, &CompactOptions{Backend: s.mem, Logger: quiet})
	after := s.objects(base.LogDir + "/")
	if err != nil || st.Compacted || len(before) != 1 || len(after) != 1 || after[0] == before[0] {
		t.Fatalf("compact: %+v, %v; log objects %q -> %q", st, err, before, after)
	}
	info, err := Inspect(t.Context(), storeURL, s.opts())
	if err != nil || info.WAL.LastLSN >= info.WAL.FirstLSN || info.WAL.LastLSN != st.FoldedLSN || st.BytesAfter != info.Bytes {
		t.Errorf("inspect after compact: %+v, %v; stats %+v", info, err, st)
	}
	if rep, err := Verify(t.Context(), storeURL, s.opts()); err != nil || !rep.Sound() || rep.Records != 0 {
		t.Errorf("verify after compact: %+v, %v", rep, err)
	}
}

// While a writer holds the lease, Compact refuses (ErrLocked, naming the
// holder) and changes nothing, and Inspect names the holder.
func TestObjectStoreLease(t *testing.T) {
	s := fixture{runs: 2, interrupted: true}.buildStore(t)
	lease, err := objlog.AcquireLease(t.Context(), s.mem, &objlog.LeaseOptions{Duration: time.Minute, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Close()
	host, _ := os.Hostname()
	holder := fmt.Sprintf("host %s pid %d epoch %d", host, os.Getpid(), lease.Epoch())
	info, err := Inspect(t.Context(), storeURL, s.opts())
	if err != nil || !info.Lock.Held || info.Lock.Holder != holder {
		t.Errorf("inspect: lock %+v, %v; want held by %s", info.Lock, err, holder)
	}
	was := s.mem.Objects()
	_, err = Compact(t.Context(), storeURL, &CompactOptions{Backend: s.mem, Logger: quiet})
	if !errors.Is(err, ErrLocked) || !errors.Is(err, objlog.ErrLeaseHeld) ||
		!strings.HasPrefix(err.Error(), "pwlog: storage is locked: s3://bucket/prefix is in use: ") || !strings.Contains(err.Error(), holder) {
		t.Errorf("compact while the lease is held: %v", err)
	}
	if !maps.EqualFunc(was, s.mem.Objects(), slices.Equal) {
		t.Error("a refused compact changed the storage")
	}
	if err := lease.Close(); err != nil {
		t.Fatal(err)
	}
	if info, err := Inspect(t.Context(), storeURL, s.opts()); err != nil || info.Lock.Held {
		t.Errorf("inspect after the lease was let go: lock %+v, %v", info.Lock, err)
	}
	if _, err := Compact(t.Context(), storeURL, &CompactOptions{Backend: s.mem, Logger: quiet}); err != nil {
		t.Errorf("compact after the lease was let go: %v", err)
	}
}

// A lease that does not decode is still a holder.
func TestProbeLeaseUnreadable(t *testing.T) {
	mem := backend.NewMem()
	if err := mem.Put(t.Context(), objlog.LeaseName, []byte("{")); err != nil {
		t.Fatal(err)
	}
	if l := probeLease(t.Context(), mem); !l.Held || !strings.Contains(l.Holder, "does not decode") {
		t.Errorf("%+v", l)
	}
}
