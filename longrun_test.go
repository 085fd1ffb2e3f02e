//go:build linux

package pwlog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/clock"
	"github.com/pwlog/pwlog/internal/tutorial"
)

// TestLongRun: an hour of simulated input, fast-forwarded, through a
// streaming pipeline that runs the whole time: the storage's bytes and the
// work a restart would do stay flat while the input keeps growing.
//
// The workload has to be one whose state is bounded: the session window
// and the reduce keep every input row of a group in their arrangements,
// so their state grows with the input unless rows leave it. Here a writer
// keeps a rotating log, as a log shipper keeps the last few minutes:
// every simulated second it appends RowsPerSec accesses (user_id drawn
// from Users ids, the bounded key space; access_time the simulated
// second) to its current file, starts a new file every FileEvery and
// then deletes the file Keep files before (5 rows a second of 200 users,
// a file every 10 s, 30 files kept: the last 5 minutes). The pipeline is
// the tutorial's (sessions with max gap 300 s, then the reduce) over a
// streaming source with Retract, into an append-mode sink: a deleted
// file's rows are retracted, so the live state holds about 5 minutes of
// rows while the input read grows by the hour. What could still grow is
// history: the log, the checkpoint's runs (an old run holds rows a newer
// run retracts until the two merge) and the manifest's offsets (a
// deleted file's leave with it). Background compaction must keep those
// bounded.
//
// The pipeline runs in a child process (this test binary), with the
// engine's logical clock (internal/clock) fast-forwarded Speed times, and
// AutocommitDuration and CompactInterval (their defaults, 100 ms and
// 1 min) divided by Speed, so that an hour passes in 3600/Speed seconds
// (30 s) with about as many commits and compactions per simulated minute
// as in real time, as long as the machine keeps up (under -race on a
// busy machine, commits are fewer and larger). Once in every SizeEvery of
// simulated time, at a random instant of it, the parent freezes the
// child (SIGSTOP), measures its storage directory's bytes and lets it go
// on (SIGCONT). Once in every RestartEvery, at a random one of those
// instants, it also copies the storage, the sink and the input while the
// child is frozen and the writer waits: the copy is what a crash of the
// process at that instant would leave. It restarts the pipeline on the
// copy and records what the restart logged: the checkpoint's runs and
// entries the checkpoint holds ("Opened the checkpoint"), the log records, times and
// state deltas replayed after it ("Reached the end of the snapshot").
// The pipeline itself never stops until the end. The random instants keep
// the measurements out of step with the file rotation and with
// compaction, whose periods are close to theirs.
//
// A single measurement swings with where it falls in the cycles of
// compaction and run merging (the log holds up to a compaction interval
// of commits; a copy may catch a compaction that has written its runs but
// not yet truncated the log or deleted the old runs), so the test
// compares means over quarters of the run, never time: in the last
// quarter, the mean storage bytes, the mean log bytes and the mean of the
// entries a restart loads plus the state deltas it replays are each at
// most 1.5x the second quarter's (over 60, 60 and 15 measurements a
// quarter). The second quarter, not the first: the first holds the 5
// minutes in which the state fills. The input written grows about 2x
// from the second quarter's end to the last measurement, so flat is not
// vacuous (with background compaction off, each of the three grows 2.3x
// to 2.5x). The log records replayed are logged, not compared: how many
// commits a compaction interval holds depends on how fast the machine is
// at the time. At the end the sink's changelog consolidates to the
// sessions of the files still there.
//
// PWLOG_LONGRUN=4h simulates 4 hours instead of one (at the same speed:
// 2 minutes of wall time); BenchmarkStreamLongRun times the restarts.
func TestLongRun(t *testing.T) {
	if os.Getenv(longRunChildEnv) != "" {
		longRunChild(t)
		return
	}
	if testing.Short() {
		t.Skip("runs for 30 s")
	}
	spec := defaultLongRun()
	if d, err := time.ParseDuration(os.Getenv("PWLOG_LONGRUN")); err == nil && d > 0 {
		spec.Sim = d
	}
	res := runLong(t, spec)
	for _, s := range res.Restarts {
		t.Logf("%s", s)
	}
	q := spec.Sim / 4
	secondSizes, lastSizes := quarters(res.Sizes, q, spec.Sim)
	second, last := quarters(res.Restarts, q, spec.Sim)
	if len(second) < 4 || len(last) < 4 {
		t.Fatalf("%d and %d restarts in the second and last quarters; want at least 4", len(second), len(last))
	}
	end := res.Sizes[len(res.Sizes)-1]
	if grown := float64(end.InputRows) / float64(secondSizes[len(secondSizes)-1].InputRows); grown < 1.8 {
		t.Fatalf("the input grew %.1fx from the second quarter's end to the last measurement; want about 2x", grown)
	}
	flat := func(what string, second, last []longRunSample, f func(longRunSample) int64) {
		t.Helper()
		a, b := stats(second, f), stats(last, f)
		t.Logf("%s: second quarter %s; last quarter %s", what, a, b)
		if float64(b.mean) > 1.5*float64(a.mean) {
			t.Errorf("%s: the last quarter's mean, %d, is more than 1.5x the second quarter's, %d: it grows with the input",
				what, b.mean, a.mean)
		}
	}
	flat("storage bytes", secondSizes, lastSizes, func(s longRunSample) int64 { return s.StorageBytes })
	flat("log bytes", secondSizes, lastSizes, func(s longRunSample) int64 { return s.LogBytes })
	flat("entries a restart loads plus state deltas it replays", second, last, func(s longRunSample) int64 { return s.Entries + s.StateDeltas })
	a, b := stats(second, func(s longRunSample) int64 { return s.Replayed }), stats(last, func(s longRunSample) int64 { return s.Replayed })
	t.Logf("log records a restart replays: second quarter %s; last quarter %s", a, b)
}

// quarters returns the samples of the second quarter (of length q) of a
// run of length sim, and those of its last.
func quarters(ss []longRunSample, q, sim time.Duration) (second, last []longRunSample) {
	for _, s := range ss {
		if s.At >= q && s.At < 2*q {
			second = append(second, s)
		}
		if s.At >= sim-q {
			last = append(last, s)
		}
	}
	return second, last
}

// sampleStats is the median, mean and largest of a measure.
type sampleStats struct{ median, mean, max int64 }

func (s sampleStats) String() string {
	return fmt.Sprintf("median %d, mean %d, max %d", s.median, s.mean, s.max)
}

func stats(ss []longRunSample, f func(longRunSample) int64) sampleStats {
	if len(ss) == 0 {
		return sampleStats{}
	}
	v := make([]int64, len(ss))
	var sum int64
	for i, s := range ss {
		v[i] = f(s)
		sum += v[i]
	}
	slices.Sort(v)
	return sampleStats{median: v[len(v)/2], mean: sum / int64(len(v)), max: v[len(v)-1]}
}

// longRunSpec is a long run's workload and schedule (TestLongRun).
type longRunSpec struct {
	Sim        time.Duration // simulated time the writer covers
	Speed      float64       // simulated time per wall time
	Users      int           // the key space: distinct user_id values
	RowsPerSec int           // rows appended per simulated second
	FileEvery  time.Duration // the writer starts a new file this often
	Keep       int           // files kept: file f's start deletes file f-Keep
	// SizeEvery: the storage's bytes are measured once in each
	// SizeEvery of simulated time, at a random instant; RestartEvery (a
	// multiple) those measurements also copy the storage and restart it.
	SizeEvery, RestartEvery time.Duration
	Seed                    uint64
	// KeepEvery keeps the copies of the restarts that end a KeepEvery of
	// simulated time (in longRunResult.Kept) instead of removing them once
	// measured. 0: none.
	KeepEvery time.Duration
}

func defaultLongRun() longRunSpec {
	return longRunSpec{Sim: time.Hour, Speed: 120, Users: 200, RowsPerSec: 5, FileEvery: 10 * time.Second, Keep: 30,
		SizeEvery: 15 * time.Second, RestartEvery: time.Minute, Seed: 1}
}

// longRunSample is one measurement of a long run.
type longRunSample struct {
	At           time.Duration // simulated time
	InputRows    int64         // rows written so far
	LiveRows     int64         // rows in the files not yet deleted
	StorageBytes int64         // the storage directory but its LOCK
	LogBytes     int64         // of which the log's segments
	// What the restart on the copy logged, if there was one.
	restartWork
}

func (s longRunSample) String() string {
	return fmt.Sprintf("%8v: input %7d rows (%5d live); storage %7d B (log %6d B); restart: %2d runs, %6d entries, %4d records (%3d times, %5d state deltas) replayed, %v",
		s.At, s.InputRows, s.LiveRows, s.StorageBytes, s.LogBytes, s.Runs, s.Entries, s.Replayed, s.Times, s.StateDeltas, s.Took.Round(time.Millisecond))
}

// restartWork is what a restart's recovery logged.
type restartWork struct {
	Runs        int64         // checkpoint runs loaded
	Entries     int64         // entries loaded from them
	Replayed    int64         // log records replayed after the checkpoint
	Times       int64         // committed times among them
	StateDeltas int64         // state deltas among them
	Took        time.Duration // from Run until the sources were sought
}

// longRunResult is what runLong measured and kept.
type longRunResult struct {
	Sizes    []longRunSample // every measurement, restartWork empty
	Restarts []longRunSample // the measurements with a restart
	Kept     []snapshot      // the copies kept (longRunSpec.KeepEvery)
	Input    string          // the input directory, as the run left it
}

const longRunChildEnv = "PWLOG_LONGRUN_CHILD"

// longRunChildConfig is what the parent tells the child.
type longRunChildConfig struct {
	Input, Output, Storage string
	WallBase               int64 // unix nanoseconds: the simulation's start in wall time
	SimBase                int64 // unix milliseconds: the simulation's start in simulated time
	Speed                  float64
}

// simStart is the simulated time at which a long run starts.
var simStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// longRunPipeline adds the long run's pipeline to p.
func longRunPipeline(p *pwlog.Pipeline, input, output string) {
	tutorial.Sessions(p, input, 300, pwlog.FileOptions{Streaming: true, Retract: true}).
		WriteCSV("output", output, pwlog.SinkOptions{Append: true})
}

// longRunChild runs the long run's pipeline until SIGTERM or its
// parent's end, its logical clock fast-forwarded, logging JSON to stderr.
func longRunChild(t *testing.T) {
	var cfg longRunChildConfig
	if err := json.Unmarshal([]byte(os.Getenv(longRunChildEnv)), &cfg); err != nil {
		t.Fatal(err)
	}
	wallBase, simBase := time.Unix(0, cfg.WallBase), time.UnixMilli(cfg.SimBase)
	clock.Now = func() time.Time {
		return simBase.Add(time.Duration(float64(time.Since(wallBase)) * cfg.Speed))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	// A parent that died (a test timeout) leaves no pipeline behind.
	go func() {
		for parent := os.Getppid(); os.Getppid() == parent; {
			time.Sleep(time.Second)
		}
		stop()
	}()
	p := pwlog.New()
	longRunPipeline(p, cfg.Input, cfg.Output)
	scaled := func(d time.Duration) time.Duration { return time.Duration(float64(d) / cfg.Speed) }
	c := pwlog.Config{
		Backend:            pwlog.Filesystem(cfg.Storage),
		AutocommitDuration: scaled(100 * time.Millisecond),
		CompactInterval:    scaled(time.Minute),
		Logger:             slog.New(slog.NewJSONHandler(os.Stderr, nil)),
	}
	err := p.Run(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
}

// runLong runs spec's long run and returns its measurements.
func runLong(tb testing.TB, spec longRunSpec) longRunResult {
	tb.Helper()
	dir := tb.TempDir()
	input, storage, output := filepath.Join(dir, "input"), filepath.Join(dir, "storage"), filepath.Join(dir, "out", "sessions.csv")
	for _, d := range []string{input, filepath.Dir(output)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	// The writer's first file is there before the child starts.
	w := &longRunWriter{spec: spec, input: input, rng: rand.New(rand.NewPCG(spec.Seed, 0))}
	if err := w.step(0); err != nil {
		tb.Fatal(err)
	}
	// The simulated clock starts a second from now, the child's start
	// waited for (an execution's logical times before it are simulated
	// times before simStart).
	wallBase := time.Now().Add(time.Second)
	cfg, err := json.Marshal(longRunChildConfig{Input: input, Output: output, Storage: storage,
		WallBase: wallBase.UnixNano(), SimBase: simStart.UnixMilli(), Speed: spec.Speed})
	if err != nil {
		tb.Fatal(err)
	}
	childLog := filepath.Join(dir, "child.log")
	logf, err := os.Create(childLog)
	if err != nil {
		tb.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLongRun$", "-test.bench=^$", "-test.timeout=0")
	cmd.Env = append(os.Environ(), longRunChildEnv+"="+string(cfg))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() { cmd.Process.Kill() })
	fail := func(format string, args ...any) {
		tb.Helper()
		cmd.Process.Kill()
		b, _ := os.ReadFile(childLog)
		if len(b) > 8000 {
			b = b[len(b)-8000:]
		}
		tb.Fatalf("%s\nthe child's log ends:\n%s", fmt.Sprintf(format, args...), b)
	}
	// The child has opened the storage once it logs its recovery's last
	// phase.
	for ready := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(childLog); strings.Contains(string(b), "Seek the data source to the frontier") {
			break
		}
		select {
		case err := <-exited:
			fail("the pipeline exited at its start: %v", err)
		default:
		}
		if time.Now().After(ready) {
			fail("the pipeline did not start within a minute")
		}
	}
	// wallAt is when simulated time d comes.
	wallAt := func(d time.Duration) time.Time {
		return wallBase.Add(time.Duration(float64(d) / spec.Speed))
	}

	// The writer appends on the simulated clock.
	seconds := int(spec.Sim / time.Second)
	wrote := make(chan error, 1)
	go func() {
		for s := 1; s < seconds; s++ {
			time.Sleep(time.Until(wallAt(time.Duration(s) * time.Second)))
			if err := w.step(s); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()

	// Copies are taken on schedule and restarted one after the other.
	type taken struct {
		longRunSample
		snap snapshot
		keep bool
	}
	copies := make(chan taken, 1000)
	res := longRunResult{Input: input}
	var measureErr error
	measured := make(chan struct{})
	go func() {
		defer close(measured)
		for c := range copies {
			snap := c.snap
			if c.keep {
				res.Kept = append(res.Kept, snap)
				// A kept copy stays as the child left it: restart a copy of it.
				var err error
				if snap, err = snap.copyTo(filepath.Join(filepath.Dir(snap.Storage), "restart")); err != nil {
					measureErr = err
					continue
				}
			}
			work, err := restartOn(snap, true)
			if err != nil && measureErr == nil {
				measureErr = fmt.Errorf("restart at %v: %w", c.At, err)
			}
			c.restartWork = work
			if !c.keep {
				os.RemoveAll(filepath.Dir(snap.Storage))
			}
			res.Restarts = append(res.Restarts, c.longRunSample)
		}
	}()
	copiesDir := filepath.Join(dir, "copies")
	live := snapshot{Storage: storage, Output: output, Input: input}
	jitter := rand.New(rand.NewPCG(spec.Seed, 1))
	slots := int(spec.Sim / spec.SizeEvery)
	perRestart := int(spec.RestartEvery / spec.SizeEvery)
	restartSlot := 0
	for i := range slots {
		if i%perRestart == 0 {
			restartSlot = i + jitter.IntN(perRestart)
		}
		at := time.Duration(i)*spec.SizeEvery + time.Duration(jitter.Int64N(int64(spec.SizeEvery/time.Millisecond)))*time.Millisecond
		time.Sleep(time.Until(wallAt(at)))
		select {
		case err := <-exited:
			fail("the pipeline exited at %v: %v", at, err)
		default:
		}
		restart := i == restartSlot
		end := time.Duration(i/perRestart+1) * spec.RestartEvery
		c := taken{keep: restart && spec.KeepEvery > 0 && end%spec.KeepEvery == 0}
		// The child frozen and the writer held, the copy is of one
		// instant.
		w.mu.Lock()
		err := freeze(cmd.Process.Pid)
		if err == nil {
			c.At, c.InputRows, c.LiveRows = at, w.total, w.live
			if restart {
				c.snap, err = live.copyTo(filepath.Join(copiesDir, strconv.Itoa(i)))
			} else {
				c.StorageBytes, c.LogBytes, err = storageBytes(storage)
			}
			if err2 := syscall.Kill(cmd.Process.Pid, syscall.SIGCONT); err2 != nil && err == nil {
				err = err2
			}
		}
		w.mu.Unlock()
		if err == nil && restart {
			c.StorageBytes, c.LogBytes, err = storageBytes(c.snap.Storage)
		}
		if err != nil {
			fail("measure at %v: %v", at, err)
		}
		res.Sizes = append(res.Sizes, c.longRunSample)
		if restart {
			c.snap.At = at
			copies <- c
		}
	}
	close(copies)
	if err := <-wrote; err != nil {
		fail("writer: %v", err)
	}
	<-measured
	if measureErr != nil {
		fail("%v", measureErr)
	}

	// Every row written reaches the sink; SIGTERM then ends the run as a
	// finished one.
	deadline := time.Now().Add(time.Minute)
	for !consolidates(tb, output, input) {
		if time.Now().After(deadline) {
			fail("the sink does not consolidate to the sessions of the input a minute after the last write")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		fail("%v", err)
	}
	select {
	case err := <-exited:
		if err != nil {
			fail("after SIGTERM: %v", err)
		}
	case <-time.After(time.Minute):
		fail("no exit a minute after SIGTERM")
	}
	checkChangelog(tb, "after the long run", output, input)
	return res
}

// consolidates tells whether the changelog at output consolidates to the
// from-scratch result over input (checkChangelog).
func consolidates(tb testing.TB, output, input string) (ok bool) {
	ft := &fakeT{TB: tb}
	defer func() {
		if r := recover(); r != nil && r != any(ft) {
			panic(r)
		}
		ok = !ft.failed
	}()
	checkChangelog(ft, "", output, input)
	return true
}

// longRunWriter writes a long run's input.
type longRunWriter struct {
	spec  longRunSpec
	input string
	rng   *rand.Rand

	mu          sync.Mutex // held by each step
	total, live int64      // rows written, rows in the files kept
	perFile     []int64    // rows by file
}

// fileOf names file m.
func (w *longRunWriter) fileOf(m int) string {
	return filepath.Join(w.input, fmt.Sprintf("access-%05d.csv", m))
}

// step writes simulated second s: a new file (and the deletion of the
// oldest kept one) when one is due, then the second's rows.
func (w *longRunWriter) step(s int) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	every := int(w.spec.FileEvery / time.Second)
	m := s / every
	var b strings.Builder
	if s%every == 0 {
		b.WriteString("user_id,access_time\n")
		w.perFile = append(w.perFile, 0)
		if old := m - w.spec.Keep; old >= 0 {
			if err := os.Remove(w.fileOf(old)); err != nil {
				return err
			}
			w.live -= w.perFile[old]
		}
	}
	t := simStart.Unix() + int64(s)
	for range w.spec.RowsPerSec {
		fmt.Fprintf(&b, "u%04d,%d\n", w.rng.IntN(w.spec.Users), t)
	}
	f, err := os.OpenFile(w.fileOf(m), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return err
	}
	n := int64(w.spec.RowsPerSec)
	w.perFile[m] += n
	w.total += n
	w.live += n
	return f.Close()
}

// freeze stops process pid (SIGSTOP) and waits until every thread of it
// is stopped.
func freeze(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("freeze: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		stopped, err := allStopped(pid)
		if err != nil {
			return fmt.Errorf("freeze: %w", err)
		}
		if stopped {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("freeze: the process does not stop")
		}
		time.Sleep(time.Millisecond)
	}
}

// allStopped tells whether every thread of process pid is stopped, from
// /proc/PID/task/*/stat.
func allStopped(pid int) (bool, error) {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false, err
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // a thread that exited
		}
		if err != nil {
			return false, err
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) {
			return false, fmt.Errorf("cannot parse %q", b)
		}
		switch b[i+2] {
		case 'T', 't':
		case 'Z', 'X':
			return false, errors.New("the process exited")
		default:
			return false, nil
		}
	}
	return true, nil
}

// snapshot is a long run's storage directory, sink and input directory,
// or a copy of them.
type snapshot struct {
	At                     time.Duration // when the copy was taken
	Storage, Output, Input string
}

// copyTo copies the snapshot into root (root/storage, root/input, the
// sink beside them) and returns the copy.
func (s snapshot) copyTo(root string) (snapshot, error) {
	c := snapshot{At: s.At, Storage: filepath.Join(root, "storage"), Output: filepath.Join(root, filepath.Base(s.Output)),
		Input: filepath.Join(root, "input")}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return c, err
	}
	for _, d := range [][2]string{{s.Storage, c.Storage}, {s.Input, c.Input}} {
		if err := os.CopyFS(d[1], os.DirFS(d[0])); err != nil {
			return c, err
		}
	}
	b, err := os.ReadFile(s.Output)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	return c, os.WriteFile(c.Output, b, 0o644)
}

// storageBytes returns the bytes of the storage directory but its LOCK,
// and those of its log.
func storageBytes(storage string) (total, log int64, err error) {
	if total, err = treeBytes(storage, "LOCK"); err != nil {
		return 0, 0, err
	}
	log, err = treeBytes(filepath.Join(storage, "wal"), "")
	return total, log, err
}

// treeBytes returns the sizes of the regular files under dir, but those
// named skip, summed.
func treeBytes(dir, skip string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || d.Name() == skip {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	return n, err
}

// restartOn restarts the long run's pipeline on a copy and returns what
// its recovery logged and how long it took. The restart is that of the
// pipeline with its source static (FileOptions.Streaming is not part of
// the storage's fingerprint; recovery is the same) and reading the copy
// of the input (FileOptions.Moved), and its context is cancelled once
// recovery has sought the source: Run then returns, having read nothing,
// without the final compaction of an execution that finishes. noSync
// skips the log's fsyncs (Config.NoSync); the sink's recovery fsyncs the
// sink all the same, so the time of a restart on a copy not made durable
// (syncTree) includes writing the whole copied sink to disk.
func restartOn(snap snapshot, noSync bool) (restartWork, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h := &captureHandler{on: map[string]func(){"Seek the data source to the frontier": cancel}}
	p := pwlog.New()
	tutorial.Sessions(p, snap.Input, 300, pwlog.FileOptions{Retract: true, Moved: true}).
		WriteCSV("output", snap.Output, pwlog.SinkOptions{Append: true})
	start := time.Now()
	err := p.Run(ctx, pwlog.Config{Backend: pwlog.Filesystem(snap.Storage), NoSync: noSync, Logger: slog.New(h)})
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	var w restartWork
	for _, r := range h.records() {
		switch r.msg {
		case "Opened the checkpoint":
			w.Runs, w.Entries = r.int("runs"), r.int("entries")
		case "Reached the end of the snapshot":
			w.Replayed, w.Times, w.StateDeltas = r.int("entries"), r.int("times"), r.int("state_deltas")
		case "Seek the data source to the frontier":
			w.Took = r.at.Sub(start)
		}
	}
	if err == nil && w.Took == 0 {
		err = errors.New("the restart logged no seek of the source")
	}
	return w, err
}

// captureHandler is a slog.Handler that keeps every record with its
// attributes.
type captureHandler struct {
	on   map[string]func() // called, by message, after the record is kept
	mu   sync.Mutex
	recs []capturedRecord
}

type capturedRecord struct {
	at    time.Time
	msg   string
	attrs map[string]slog.Value
}

// int returns attribute k as an integer; 0 when it is missing.
func (r capturedRecord) int(k string) int64 {
	v, ok := r.attrs[k]
	if !ok {
		return 0
	}
	switch v.Kind() {
	case slog.KindInt64:
		return v.Int64()
	case slog.KindUint64:
		return int64(v.Uint64())
	}
	return 0
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	c := capturedRecord{at: time.Now(), msg: r.Message, attrs: map[string]slog.Value{}}
	r.Attrs(func(a slog.Attr) bool {
		c.attrs[a.Key] = a.Value.Resolve()
		return true
	})
	h.mu.Lock()
	h.recs = append(h.recs, c)
	h.mu.Unlock()
	if f := h.on[r.Message]; f != nil {
		f()
	}
	return nil
}

func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

func (h *captureHandler) records() []capturedRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]capturedRecord(nil), h.recs...)
}

// BenchmarkStreamLongRun: restart time and storage along TestLongRun's
// hour of streaming (figure "restarts along the long run" of
// BENCHMARKS.md). It runs the long run once (30 s; b.N is not used) and
// keeps the copies taken in the last minute of each sixth of it (at a
// random instant of that minute: about the 10, 20, ... 60 minute
// points). Each copy is made durable (every file and directory fsynced,
// as the running pipeline had made its storage and, at its last
// compaction, its sink), then restarted 5 times, every time on a fresh
// durable copy, in this process, with fsync on. restart-ms@Nm is the
// median time from Run until the source is sought; -v logs the rest:
// the spread, the storage's and the sink's bytes, what the restart loaded
// and replayed. storage-KiB-qN is the median storage bytes over the
// quarter's 60 measurements. PWLOG_LONGRUN=4h runs 4 simulated hours
// (2 minutes).
func BenchmarkStreamLongRun(b *testing.B) {
	spec := defaultLongRun()
	if d, err := time.ParseDuration(os.Getenv("PWLOG_LONGRUN")); err == nil && d > 0 {
		spec.Sim = d
	}
	spec.KeepEvery = spec.Sim / 6
	res := runLong(b, spec)
	q := spec.Sim / 4
	for i := range 4 {
		var sizes []int64
		for _, s := range res.Sizes {
			if s.At >= time.Duration(i)*q && s.At < time.Duration(i+1)*q {
				sizes = append(sizes, s.StorageBytes)
			}
		}
		slices.Sort(sizes)
		b.ReportMetric(float64(sizes[len(sizes)/2])/1024, fmt.Sprintf("storage-KiB-q%d", i+1))
	}
	const restarts = 5
	for _, k := range res.Kept {
		var took []time.Duration
		var work restartWork
		for i := range restarts {
			root := filepath.Join(b.TempDir(), strconv.Itoa(i))
			c, err := k.copyTo(root)
			if err == nil {
				err = syncTree(root)
			}
			if err != nil {
				b.Fatal(err)
			}
			if work, err = restartOn(c, false); err != nil {
				b.Fatal(err)
			}
			took = append(took, work.Took)
		}
		slices.Sort(took)
		bytes, log, err := storageBytes(k.Storage)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%8v: restart %v (min %v, max %v); storage %d B (log %d B); sink %d B; %d runs, %d entries loaded, %d records (%d times, %d state deltas) replayed",
			k.At.Round(time.Second), took[restarts/2].Round(time.Microsecond), took[0].Round(time.Microsecond), took[restarts-1].Round(time.Microsecond),
			bytes, log, fileSize(k.Output), work.Runs, work.Entries, work.Replayed, work.Times, work.StateDeltas)
		b.ReportMetric(ms(took[restarts/2]), fmt.Sprintf("restart-ms@%dm", (k.At+time.Minute-1)/time.Minute))
	}
}

// syncTree fsyncs every file and directory under root, and root.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() && !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = f.Sync()
		return errors.Join(err, f.Close())
	})
}
