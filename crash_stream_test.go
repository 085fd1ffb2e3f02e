package pwlog_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/crashkit"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/vfs/errorfs"
)

// TestCrashStreaming records streaming executions with vfs.Recorder (the
// crash kit of crash_kit_test.go: storage and changelog under a root)
// while a writer grows the input files in pieces (stream_kit_test.go),
// and builds crash images at recorded mutating operations: an image
// taken just before operation k is what a machine crash there leaves,
// synced data kept and a random part of the rest. From each image it
// restarts the pipeline, static or streaming, and checks that the
// restart recovers: nothing the crashed execution had written to the
// changelog (but its last time) is lost, times are in order with no row
// twice at one time, and the changelog consolidates exactly to the
// from-scratch sessions of the input, with no row made from half a line.
//
// The source reads its files through package os, not through the
// Recorder: its input lives outside the root, as the user's files, which
// a crash of the pipeline's machine does not roll back. So the input
// grows during the recorded execution and goes on growing between the
// image and the restart: the writer finishes every line first, and each
// restart reads more than the crashed execution had seen, as a process
// started after a crash would.
//
// Each round is two streaming executions, the second a restart of the
// first, with its own settings: group commit or not, background
// compaction after nearly every commit, a short PartialLineTimeout (half
// lines read as partial rows, then retracted when finished).
//
// PWLOG_STREAM_CRASH_ROUNDS sets the rounds (default 4),
// PWLOG_STREAM_CRASH_IMAGES the restarts per round (default 24),
// PWLOG_STREAM_SEED the seed.
func TestCrashStreaming(t *testing.T) {
	rounds := envInt("PWLOG_STREAM_CRASH_ROUNDS", 4)
	restarts := envInt("PWLOG_STREAM_CRASH_IMAGES", 24)
	seed := uint64(envInt("PWLOG_STREAM_SEED", 1))
	// The settings of the rounds, in turn: group commit in three of four
	// (a sink written before its time is durable shows only there).
	settings := []streamCrashRound{
		{interval: 0, compactBytes: 1, partial: 40 * time.Millisecond},
		{interval: 3 * time.Millisecond, compactBytes: -1, partial: 40 * time.Millisecond},
		{interval: 3 * time.Millisecond, compactBytes: 0, batch: 5},
		{interval: 2 * time.Millisecond, compactBytes: 1},
	}
	for round := range rounds {
		s := settings[round%len(settings)]
		s.seed = seed + uint64(round)
		t.Run(fmt.Sprintf("round%d-seed%d", round, s.seed), func(t *testing.T) { s.test(t, restarts) })
	}
}

// streamCrashRound is one round of TestCrashStreaming.
type streamCrashRound struct {
	seed         uint64
	interval     time.Duration // Config.SnapshotInterval
	compactBytes int64         // Config.CompactBytes (1: compact after nearly every commit)
	partial      time.Duration // FileOptions.PartialLineTimeout (0: the default, 3 s)
	batch        int           // Config.BatchRows (0: the default)
}

func (s streamCrashRound) test(t *testing.T, restarts int) {
	tmp := t.TempDir()
	input, root := filepath.Join(tmp, "input"), filepath.Join(tmp, "root")
	for _, d := range []string{input, root} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := vfs.NewRecorder(root)
	if err != nil {
		t.Fatal(err)
	}
	im := &imager{rec: rec, dir: filepath.Join(tmp, "images"), seed: s.seed,
		rng: rand.New(rand.NewPCG(s.seed, 0x1b)), p: 0.4}
	fsys := errorfs.Wrap(rec, im)
	w := startStreamWriter(t, input, s.seed, writerOptions{hold: 300 * time.Millisecond, pause: 8 * time.Millisecond, stall: 0.2, files: 4})
	for exec := range 2 {
		im.setExec(exec)
		r := s.start(input, root, fsys, true)
		time.Sleep(time.Duration(600+rand.N(600)) * time.Millisecond)
		r.cancel()
		if err := <-r.done; err != nil {
			t.Fatalf("execution %d: %v", exec, err)
		}
	}
	w.finish(t)
	if err := im.failed(); err != nil {
		t.Fatalf("crash image: %v", err)
	}
	by := w.accesses()
	if got := readStreamInput(t, input); !sameAccesses(got, by) {
		t.Fatal("the input files hold other accesses than the writer wrote")
	}
	want := sessionRows(by, 300)
	// The recorded executions themselves, and a static one after them,
	// end at the from-scratch result.
	half := halfLineRows(s.checkRecovers(t, crashkit.CopyTree(t, root), input, want, by, false, "no crash"), by)

	shots := pickShots(im.shots, restarts, rand.New(rand.NewPCG(s.seed, 0x2c)))
	for i, sh := range shots {
		what := fmt.Sprintf("execution %d, image before operation %d/%d (%s)", sh.exec, sh.k, im.n, sh.op)
		s.checkRecovers(t, sh.dir, input, want, by, i%3 == 1, what)
	}
	t.Logf("%d operations, %d images, %d restarts; %d lines written (%d in pieces) in %d files, %d rows of half lines retracted, %d sessions",
		im.n, len(im.shots), len(shots), w.lines, w.pieces, len(w.files), half, len(want))
}

// start starts an execution of the tutorial pipeline, append mode, with
// its storage and changelog under root, streaming or static.
func (s streamCrashRound) start(input, root string, fsys vfs.FS, streaming bool) *streamRun {
	p := pwlog.New()
	tutorial.Sessions(p, input, 300, pwlog.FileOptions{Streaming: streaming, PollInterval: 10 * time.Millisecond, PartialLineTimeout: s.partial}).
		WriteCSV("output", filepath.Join(root, "out.csv"), pwlog.SinkOptions{Append: true})
	cfg := quietConfig(filepath.Join(root, "storage"))
	cfg.FS = fsys
	cfg.AutocommitDuration = 15 * time.Millisecond
	cfg.SnapshotInterval = s.interval
	cfg.CompactBytes = s.compactBytes
	cfg.BatchRows = s.batch
	ctx, cancel := context.WithCancel(context.Background())
	r := &streamRun{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx, cfg) }()
	return r
}

// checkRecovers restarts the pipeline on the crash image img, static or
// streaming (stopped once it caught up), over the finished input, and
// checks the changelog: what the crashed execution left but its last
// time is kept, and it is a sound changelog of the sessions want. It
// returns the changelog.
func (s streamCrashRound) checkRecovers(t *testing.T, img, input string, want []string, by map[string][]int64, streaming bool, what string) []byte {
	t.Helper()
	out := filepath.Join(img, "out.csv")
	before, _ := os.ReadFile(out)
	kept := keptRows(before)
	checkImage(t, img, crashSetup{input: input}, what)
	mode := "static"
	if streaming {
		mode = "streaming"
	}
	what += ", " + mode + " restart"
	r := s.start(input, img, vfs.Default, streaming)
	if streaming {
		// Wait until the changelog is right, then stop. Until the restart
		// first writes to it, it may end as the crash left it: torn, even
		// in garbage where the file's size reached the disk and its data
		// did not (the sink cuts that tail at its first write).
		var problem error
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			b, _ := os.ReadFile(out)
			if problem = changelogProblem(completeRows(b), want); problem == nil {
				break
			}
			select {
			case err := <-r.done:
				t.Fatalf("%s: the execution ended before it caught up (%v): %v", what, problem, err)
			default:
			}
			if time.Now().After(deadline) {
				r.cancel()
				<-r.done
				t.Fatalf("%s: not caught up after 20 s: %v", what, problem)
			}
		}
		r.cancel()
	}
	if err := <-r.done; err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	after, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	crashkit.CheckKept(t, what, kept, after)
	if err := halfLineProblem(after, by); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := changelogProblem(after, want); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return after
}

// pickShots returns n of the shots, in operation order: half of them (or
// as many as there are) taken just before an fsync, where the most
// written data is not durable yet, the others at random.
func pickShots(shots []shot, n int, rng *rand.Rand) []shot {
	if len(shots) <= n {
		return shots
	}
	shots = slices.Clone(shots)
	rng.Shuffle(len(shots), func(i, j int) { shots[i], shots[j] = shots[j], shots[i] })
	// Stable: the shuffled order stays within each group.
	slices.SortStableFunc(shots, func(a, b shot) int {
		return cmp.Compare(syncRank(a.op), syncRank(b.op))
	})
	syncs := 0
	for syncs < len(shots) && syncRank(shots[syncs].op) == 0 {
		syncs++
	}
	picked := slices.Clone(shots[:min(syncs, n/2)])
	rest := shots[len(picked):]
	rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	picked = append(picked, rest[:n-len(picked)]...)
	slices.SortFunc(picked, func(a, b shot) int { return a.k - b.k })
	return picked
}

// syncRank is 0 for an fsync, 1 for any other operation.
func syncRank(op errorfs.Op) int {
	if op.Kind == errorfs.OpSync || op.Kind == errorfs.OpSyncDir {
		return 0
	}
	return 1
}

// imager is an errorfs.Injector that fails nothing: before some of the
// mutating operations (each with chance p) it writes a crash image of its
// Recorder's root, what a machine crash just before that operation could
// leave. One recorded execution gives many crash points this way; the
// operations after an image do not change it, as they would not have
// happened.
type imager struct {
	rec  *vfs.Recorder
	dir  string
	seed uint64
	p    float64

	mu    sync.Mutex
	rng   *rand.Rand
	n     int // mutating operations so far
	exec  int // the recorded execution
	shots []shot
	err   error
}

// shot is a crash image: where it is and before which operation.
type shot struct {
	dir  string
	k    int
	exec int
	op   errorfs.Op
}

func (im *imager) setExec(exec int) {
	im.mu.Lock()
	defer im.mu.Unlock()
	im.exec = exec
}

func (im *imager) failed() error {
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.err
}

// MaybeError implements errorfs.Injector.
func (im *imager) MaybeError(op errorfs.Op) syscall.Errno {
	if !op.Kind.Mutates() {
		return 0
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	k := im.n
	im.n++
	if im.err != nil || im.rng.Float64() >= im.p {
		return 0
	}
	dir := filepath.Join(im.dir, fmt.Sprintf("%05d", k))
	if err := im.rec.CrashImage(rand.New(rand.NewPCG(im.seed, uint64(k))), dir); err != nil {
		im.err = fmt.Errorf("before operation %d (%s): %w", k, op, err)
		return 0
	}
	im.shots = append(im.shots, shot{dir: dir, k: k, exec: im.exec, op: op})
	return 0
}
