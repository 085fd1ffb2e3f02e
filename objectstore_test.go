package pwlog_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/internal/model"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/objlog"
)

// TestTutorialOnObjectStores runs the tutorial's four runs with the
// storage, log included, in each object store. Runs 3 and 4 start with
// an empty cache directory, as on another machine: they resume from the
// object store alone and emit only their own rows.
func TestTutorialOnObjectStores(t *testing.T) {
	eachObjectStore(t, func(t *testing.T, s objectStore, loc string, env []string) {
		tutorialRuns(t, loc, func(run int) {
			if run >= 3 {
				freshCache(t, loc)
			}
		})
	})
}

// runSessionsOn runs the tutorial pipeline once in append mode on b.
func runSessionsOn(t *testing.T, input, output string, b backend.Backend, cache string) error {
	t.Helper()
	p := pwlog.New()
	tutorial.Sessions(p, input, 300).WriteCSV("output", output, pwlog.SinkOptions{Append: true})
	cfg := quietConfig("")
	cfg.Backend, cfg.CacheDir = b, cache
	return p.Run(context.Background(), cfg)
}

// TestObjectStoreCrashBetweenRequests crashes the second of three runs of
// the tutorial, in append mode on an object store, at its requests:
// before the request takes effect, and after (its answer lost). On Mem it
// crashes at every request the run makes, on the real servers at a few
// spread over the run. The run after the crash must leave one changelog
// holding every row exactly once: nothing committed lost, nothing emitted
// twice.
func TestObjectStoreCrashBetweenRequests(t *testing.T) {
	want := expectedTutorial(t)
	var all []string
	for run := 1; run <= 3; run++ {
		all = append(all, want[run]...)
	}
	final := consolidated(t, signedLines(all))
	for _, s := range objectStores {
		t.Run(s.name, func(t *testing.T) {
			// scenario runs the tutorial's three runs on a new storage,
			// the second through crash, and returns the second's error.
			scenario := func(crash func(b backend.Backend) backend.Backend) (err2 error) {
				_, _, b := s.open(t)
				dir := t.TempDir()
				input, output, cache := filepath.Join(dir, "input"), filepath.Join(dir, "changelog.csv"), filepath.Join(dir, "cache")
				os.Mkdir(input, 0o755)
				copyFiles(t, "testdata/tutorial/run1", input)
				if err := runSessionsOn(t, input, output, b, cache); err != nil {
					t.Fatalf("run 1: %v", err)
				}
				copyFiles(t, "testdata/tutorial/run2", input)
				err2 = runSessionsOn(t, input, output, crash(b), cache)
				buryLease(t, b)
				copyFiles(t, "testdata/tutorial/run3", input)
				if err := runSessionsOn(t, input, output, b, cache); err != nil {
					t.Fatalf("run 3, after the crash of run 2 (%v): %v", err2, err)
				}
				lines := readSink(t, output)
				for i := 1; i < len(lines); i++ {
					if lines[i].time < lines[i-1].time {
						t.Fatalf("line %d: time %d after %d", i+2, lines[i].time, lines[i-1].time)
					}
				}
				if got := consolidated(t, lines); !slices.Equal(got, final) {
					t.Fatalf("after the crash of run 2 (%v) the changelog consolidates to %v, want %v", err2, got, final)
				}
				return err2
			}
			// A clean second run, to count its requests.
			var counted *backend.Counted
			scenario(func(b backend.Backend) backend.Backend { counted = backend.Count(b); return counted })
			total := counted.Counts().Requests()
			if total < 10 {
				t.Fatalf("the second run made %d requests: too few to test", total)
			}
			points := []int64{}
			for k := int64(1); k <= total; k++ {
				points = append(points, k)
			}
			if s.remote {
				points = []int64{1, total / 3, 2 * total / 3, total}
			}
			crashed := 0
			for _, k := range points {
				for _, after := range []bool{false, true} {
					err := scenario(func(b backend.Backend) backend.Backend { return &crashing{Backend: b, k: k, after: after} })
					if errors.Is(err, errCrashed) {
						crashed++
					}
				}
			}
			if crashed < len(points) {
				t.Fatalf("only %d of %d crash points stopped the run", crashed, 2*len(points))
			}
			t.Logf("%d requests, %d crash points", total, crashed)
		})
	}
}

// faulty passes requests on to a backend with faults drawn at random:
// a transient failure before the request takes effect, or after it (a
// duplicated request once retried: the answer was lost), and delays.
type faulty struct {
	backend.Backend
	mu     sync.Mutex
	rng    *rand.Rand
	faults int
}

func (f *faulty) do(fn func() error) error {
	// 10% fail before taking effect, 5% after: Retry's 8 attempts all
	// fail once in 4 million requests or so.
	f.mu.Lock()
	r, delay := f.rng.IntN(20), time.Duration(f.rng.IntN(3))*time.Millisecond
	f.mu.Unlock()
	time.Sleep(delay)
	switch r {
	case 0, 1:
		f.mu.Lock()
		f.faults++
		f.mu.Unlock()
		return fmt.Errorf("503 SlowDown: %w", backend.ErrTransient)
	case 2:
		fn()
		f.mu.Lock()
		f.faults++
		f.mu.Unlock()
		return fmt.Errorf("connection reset after the request: %w", backend.ErrTransient)
	}
	return fn()
}

func (f *faulty) Put(ctx context.Context, name string, data []byte) error {
	return f.do(func() error { return f.Backend.Put(ctx, name, data) })
}

func (f *faulty) Create(ctx context.Context, name string, data []byte) error {
	return f.do(func() error { return f.Backend.Create(ctx, name, data) })
}

func (f *faulty) Get(ctx context.Context, name string) (data []byte, err error) {
	err = f.do(func() error { data, err = f.Backend.Get(ctx, name); return err })
	return data, err
}

func (f *faulty) List(ctx context.Context, prefix string) (names []string, err error) {
	err = f.do(func() error { names, err = f.Backend.List(ctx, prefix); return err })
	return names, err
}

func (f *faulty) Delete(ctx context.Context, name string) error {
	return f.do(func() error { return f.Backend.Delete(ctx, name) })
}

// TestObjectStoreFaults runs the tutorial in append mode on an object
// store whose requests fail now and then (before or after taking
// effect) and are slow: retries cure every fault, and the changelog holds
// every row exactly once.
func TestObjectStoreFaults(t *testing.T) {
	want := expectedTutorial(t)
	eachObjectStore(t, func(t *testing.T, s objectStore, loc string, env []string) {
		seeds := uint64(3)
		if s.remote {
			seeds = 1
		}
		b := storeOf(loc).b
		for seed := uint64(1); seed <= seeds; seed++ {
			if seed > 1 {
				_, _, b = s.open(t)
			}
			faultyRuns(t, want, seed, b)
		}
	})
}

// faultyRuns runs the tutorial's four runs in append mode on b behind
// random faults.
func faultyRuns(t *testing.T, want map[int][]string, seed uint64, b backend.Backend) {
	dir := t.TempDir()
	input, output, cache := filepath.Join(dir, "input"), filepath.Join(dir, "changelog.csv"), filepath.Join(dir, "cache")
	os.Mkdir(input, 0o755)
	f := &faulty{Backend: b, rng: rand.New(rand.NewPCG(seed, 15))}
	var all []string
	for run := 1; run <= 4; run++ {
		if run < 4 {
			copyFiles(t, fmt.Sprintf("testdata/tutorial/run%d", run), input)
		}
		if err := runSessionsOn(t, input, output, f, cache); err != nil {
			t.Fatalf("seed %d run %d: %v", seed, run, err)
		}
		all = append(all, want[run]...)
		slices.Sort(all)
		if got := signed(readSink(t, output)); !slices.Equal(got, all) {
			t.Fatalf("seed %d: after run %d the changelog holds %v, want %v", seed, run, got, all)
		}
	}
	if f.faults < 5 {
		t.Fatalf("seed %d: only %d faults: the test proved too little", seed, f.faults)
	}
	t.Logf("seed %d: %d faults", seed, f.faults)
}

// streamSessions starts the tutorial pipeline streaming on b in append
// mode; stop ends it and returns Run's error, ended returns it once Run
// returned by itself (nil, false while it runs).
func streamSessions(t *testing.T, input, output string, b backend.Backend, cache string) (stop func() error, ended func(time.Duration) (error, bool)) {
	t.Helper()
	p := pwlog.New()
	tutorial.Sessions(p, input, 300, pwlog.FileOptions{Streaming: true, PollInterval: 10 * time.Millisecond}).
		WriteCSV("output", output, pwlog.SinkOptions{Append: true})
	cfg := quietConfig("")
	cfg.Backend, cfg.CacheDir = b, cache
	cfg.AutocommitDuration = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, cfg) }()
	var err error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	ended = func(wait time.Duration) (error, bool) {
		if stopped {
			return err, true
		}
		select {
		case err = <-done:
			stopped = true
			cancel()
			return err, true
		case <-time.After(wait):
			return nil, false
		}
	}
	t.Cleanup(func() { stop() })
	return stop, ended
}

// readSinkFile returns the complete rows of a sink file, none when it
// is missing.
func readSinkFile(path string) []sinkLine {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	lines, _ := parseRows(completeRows(b))
	return lines
}

// TestObjectStoreSecondWriterRefused: while a pipeline runs on a storage
// in an object store, a second one on the same storage is refused at
// once, naming the holder, and commits nothing.
func TestObjectStoreSecondWriterRefused(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "input")
	os.Mkdir(input, 0o755)
	copyFiles(t, "testdata/tutorial/run1", input)
	m := backend.NewMem()
	stop, _ := streamSessions(t, input, filepath.Join(dir, "a.csv"), m, filepath.Join(dir, "cache-a"))
	waitFor(t, "the first writer's rows", func() bool { return len(readSinkFile(filepath.Join(dir, "a.csv"))) > 0 })
	before := m.Objects()
	err := runSessionsOn(t, input, filepath.Join(dir, "b.csv"), m, filepath.Join(dir, "cache-b"))
	if !errors.Is(err, objlog.ErrLeaseHeld) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second writer: %v, want ErrLeaseHeld naming pid %d", err, os.Getpid())
	}
	t.Logf("the second writer: %v", err)
	for name, data := range m.Objects() {
		if old, ok := before[name]; strings.HasPrefix(name, "wal/") && (!ok || !bytes.Equal(old, data)) {
			t.Fatalf("the refused writer wrote %s", name)
		}
	}
	if err := stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("first writer: %v", err)
	}
}

// TestObjectStoreSupersededWriterStops: a writer whose log a newer writer
// has fenced (a newer epoch's object at its next id) stops at its next
// commit with ErrFenced; it emits none of that commit's rows and writes
// over none of the newer writer's objects.
func TestObjectStoreSupersededWriterStops(t *testing.T) {
	dir := t.TempDir()
	input, output := filepath.Join(dir, "input"), filepath.Join(dir, "a.csv")
	os.Mkdir(input, 0o755)
	copyFiles(t, "testdata/tutorial/run1", input)
	m := backend.NewMem()
	_, ended := streamSessions(t, input, output, m, filepath.Join(dir, "cache"))
	waitFor(t, "the first writer's rows", func() bool { return len(readSinkFile(output)) > 0 })
	emitted := len(readSinkFile(output))

	// A newer writer takes the log over: its epoch's fence takes the
	// first writer's next object id.
	newer, err := objlog.Open(context.Background(), backend.Sub(m, "wal"), &objlog.Options{Epoch: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	defer newer.Close()
	fenced := map[string][]byte{}
	for name, data := range m.Objects() {
		if strings.HasPrefix(name, "wal/") {
			fenced[name] = data
		}
	}
	copyFiles(t, "testdata/tutorial/run2", input)
	err, ok := ended(20 * time.Second)
	if !ok {
		t.Fatal("the superseded writer went on committing")
	}
	if !errors.Is(err, objlog.ErrFenced) {
		t.Fatalf("the superseded writer ended with %v, want ErrFenced", err)
	}
	t.Logf("the superseded writer: %v", err)
	if n := len(readSinkFile(output)); n != emitted {
		t.Fatalf("the superseded writer emitted %d rows after it was fenced", n-emitted)
	}
	for name, data := range m.Objects() {
		if old, ok := fenced[name]; strings.HasPrefix(name, "wal/") && (!ok || !bytes.Equal(old, data)) {
			t.Fatalf("the superseded writer wrote %s after it was fenced", name)
		}
	}
}

// TestObjectStoreTwoProcesses: two processes of the example on one
// storage in an object store. While the first streams, the second is
// refused, naming the first's pid. Once the first is killed, a restart
// on the same host takes the storage over at once (no lease wait) and
// the changelog ends with every row exactly once.
func TestObjectStoreTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a binary")
	}
	bin := buildSessions(t)
	eachRemoteStore(t, func(t *testing.T, s objectStore, loc string, env []string) {
		dir := t.TempDir()
		input, output := filepath.Join(dir, "input"), filepath.Join(dir, "changelog.csv")
		os.Mkdir(input, 0o755)
		if _, err := gen.Write(input, gen.Spec{Seed: 5, Rows: 20_000, Users: 500, Files: 2}); err != nil {
			t.Fatal(err)
		}
		args := []string{"-input", input, "-output", output, "-storage", loc, "-append"}
		first := exec.Command(bin, append(args, "-mode", "streaming", "-autocommit-duration", "10ms")...)
		first.Env = append(os.Environ(), env...)
		var firstErr bytes.Buffer
		first.Stderr = &firstErr
		if err := first.Start(); err != nil {
			t.Fatal(err)
		}
		defer first.Process.Kill()
		waitFor(t, "the first process's rows", func() bool { return len(readSinkFile(output)) > 0 })

		second := exec.Command(bin, args...)
		second.Env = first.Env
		var stderr bytes.Buffer
		second.Stderr = &stderr
		err := second.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("second process: %v, want exit status 1\n%s", err, stderr.Bytes())
		}
		if want := fmt.Sprintf("pid %d", first.Process.Pid); !strings.Contains(stderr.String(), want) {
			t.Fatalf("second process said %q, want it to name the holder (%q)", stderr.String(), want)
		}

		// Kill the holder: a restart takes over at once.
		first.Process.Signal(syscall.SIGKILL)
		first.Wait()
		if _, err := gen.Write(input, gen.Spec{Seed: 6, Rows: 5_000, Users: 500, Files: 1, FirstFile: 2}); err != nil {
			t.Fatal(err)
		}
		third := exec.Command(bin, args...)
		third.Env = first.Env
		third.Stderr = &stderr
		start := time.Now()
		if err := third.Run(); err != nil {
			t.Fatalf("restart after the kill: %v\n%s", err, stderr.Bytes())
		}
		t.Logf("%s: the restart after the kill took %v (lease duration 5s)", s.name, time.Since(start).Round(time.Millisecond))
		acc, err := model.Accesses(input)
		if err != nil {
			t.Fatal(err)
		}
		want := model.Strings(model.Sessions(acc, 300))
		if got := consolidated(t, readSink(t, output)); !slices.Equal(got, want) {
			t.Fatalf("the changelog consolidates to %d rows, want %d", len(got), len(want))
		}
	})
}

// TestObjectStoreRerunsLeaveNoObjects: reruns with nothing new leave the
// storage's objects as they were, but the newest fence in the log: the
// log does not grow with restarts.
func TestObjectStoreRerunsLeaveNoObjects(t *testing.T) {
	dir := t.TempDir()
	input, output := filepath.Join(dir, "input"), filepath.Join(dir, "changelog.csv")
	os.Mkdir(input, 0o755)
	copyFiles(t, "testdata/tutorial/run1", input)
	m := backend.NewMem()
	count := func() (logs, all int) {
		for name := range m.Objects() {
			if strings.HasPrefix(name, "wal/") {
				logs++
			}
			all++
		}
		return logs, all
	}
	var logs, all int
	for run := 0; run < 10; run++ {
		if err := runSessionsOn(t, input, output, m, filepath.Join(dir, "cache")); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		l, a := count()
		if run > 0 && (l != logs || a != all) {
			t.Fatalf("rerun %d with nothing new: %d objects (%d in the log), the run before left %d (%d)", run, a, l, all, logs)
		}
		logs, all = l, a
	}
	if logs != 1 {
		t.Fatalf("%d log objects after the reruns, want 1 (the newest fence)", logs)
	}
}

// TestCLIOnObjectStores runs the example, then the pwlog commands, as
// processes on a storage in each real object store, addressed by its URL
// with the SDKs' environment.
func TestCLIOnObjectStores(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs binaries")
	}
	sessions, cli := buildSessions(t), buildExample(t, "cmd/pwlog")
	eachRemoteStore(t, func(t *testing.T, s objectStore, loc string, env []string) {
		dir := t.TempDir()
		input := filepath.Join(dir, "input")
		os.Mkdir(input, 0o755)
		copyFiles(t, "testdata/tutorial/run1", input)
		run := func(bin string, args ...string) (string, int) {
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), env...)
			cmd.Env = append(cmd.Env, "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				t.Fatal(err)
			}
			return string(out), cmd.ProcessState.ExitCode()
		}
		if out, code := run(sessions, "-input", input, "-output", filepath.Join(dir, "out.csv"), "-storage", loc, "-append"); code != 0 {
			t.Fatalf("sessions: exit %d\n%s", code, out)
		}
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"inspect", loc}, "storage     " + loc + "\n"},
			{[]string{"inspect", loc}, "lease       free"},
			{[]string{"verify", loc}, loc + ": sound"},
			{[]string{"dump", "--checkpoint", loc}, "operator sessions"},
			{[]string{"compact", loc}, loc + ": "},
		} {
			out, code := run(cli, c.args...)
			if code != 0 || !strings.Contains(out, c.want) {
				t.Fatalf("pwlog %s: exit %d, want %q in\n%s", strings.Join(c.args, " "), code, c.want, out)
			}
		}
		// A bucket that does not exist: a permanent error naming it.
		bad := strings.Replace(loc, "://", "://no-such-", 1)
		if out, code := run(cli, "inspect", bad); code == 0 || !strings.Contains(out, strings.TrimSuffix(bad, "/pipeline")) {
			t.Fatalf("pwlog inspect %s: exit %d\n%s", bad, code, out)
		}
	})
}
