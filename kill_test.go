// Kill tests: the built examples/sessions (go build, once per test binary;
// TestMain removes it) killed with SIGKILL at random moments and
// restarted, and two processes on one storage. They prove what the
// in-process crash tests cannot: a real process death, the storage lock
// of the operating system. -short skips them.

package pwlog_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/internal/model"
	"github.com/pwlog/pwlog/tool"
)

// TestKillLoop runs the built examples/sessions in append mode, killing
// it with SIGKILL at random moments and restarting it until a run
// completes, over several rounds of added files. The changelog must end
// equal to the from-scratch result, with every row exactly once and times
// in order (a time emitted twice would break both).
func TestKillLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a binary")
	}
	dir := t.TempDir()
	bin := buildSessions(t)
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	output := filepath.Join(dir, "changelog.csv")
	os.Mkdir(input, 0o755)
	rng := rand.New(rand.NewPCG(42, 1))
	kills := 0
	for round := 0; round < 3; round++ {
		if _, err := gen.Write(input, gen.Spec{Seed: uint64(round), Rows: 100_000, Users: 2000, Files: 4, FirstFile: 4 * round}); err != nil {
			t.Fatal(err)
		}
		interval := "0"
		if round == 1 {
			interval = "20ms"
		}
		args := []string{"-input", input, "-output", output, "-storage", storage, "-append", "-snapshot-interval", interval}
		if round == 2 {
			// Tiny state: blocks of a few entries, a memory bound of a
			// byte; groups are read from the checkpoint's runs.
			args = append(args, "-memory-limit", "1", "-block-size", "64")
		}
		kills += killUntilDone(t, rng, bin, args, storage)
	}
	checkKilledChangelog(t, kills, output, input)
}

// checkKilledChangelog checks the changelog the kill loops leave: times
// in order, and consolidated it is the from-scratch sessions of input,
// every row exactly once.
func checkKilledChangelog(t *testing.T, kills int, output, input string) {
	t.Helper()
	if kills < 3 {
		t.Fatalf("only %d runs were killed: the test proved too little", kills)
	}
	lines := readSink(t, output)
	for i := 1; i < len(lines); i++ {
		if lines[i].time < lines[i-1].time {
			t.Fatalf("line %d: time %d after %d", i+2, lines[i].time, lines[i-1].time)
		}
	}
	acc, err := model.Accesses(input)
	if err != nil {
		t.Fatal(err)
	}
	want := model.Strings(model.Sessions(acc, 300))
	if got := consolidated(t, lines); !slices.Equal(got, want) {
		t.Fatalf("after %d kills the changelog consolidates to %d rows, want %d", kills, len(got), len(want))
	}
	t.Logf("%d kills, %d changelog lines, %d sessions", kills, len(lines), len(want))
}

// killUntilDone runs bin with args in append mode on storage, killing it
// with SIGKILL at random moments and starting it again, until a run
// completes; it returns the number of runs killed. Every third kill, the
// crashed run's storage is compacted by tool.Compact first: that must
// keep the rows its changelog still lacks.
func killUntilDone(t *testing.T, rng *rand.Rand, bin string, args []string, storage string) (kills int) {
	t.Helper()
	for attempt := 0; ; attempt++ {
		if attempt > 50 {
			t.Fatalf("%s: no run completed in 50 attempts", filepath.Base(bin))
		}
		cmd := exec.Command(bin, args...)
		if u := storeOf(storage); u != nil {
			cmd.Env = append(os.Environ(), u.env...)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// Kill the first attempts at random moments, then let a run
		// finish now and then.
		delay := time.Duration(rng.IntN(400)) * time.Millisecond
		if attempt >= 4 && rng.IntN(3) == 0 {
			delay = time.Minute
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("attempt %d: %v\n%s", attempt, err, stderr.Bytes())
			}
			return kills
		case <-time.After(delay):
			cmd.Process.Signal(syscall.SIGKILL)
			if err := <-done; err == nil {
				return kills // it finished just before the signal
			}
			kills++
			if kills%3 == 0 {
				opts := &tool.CompactOptions{Logger: quietConfig("").Logger}
				if u := storeOf(storage); u != nil {
					opts.Backend = u.b
				}
				if _, err := tool.Compact(t.Context(), storage, opts); err != nil {
					t.Fatalf("compact after a kill: %v", err)
				}
			}
		}
	}
}

var builds sync.Map // example name -> *built

type built struct {
	once sync.Once
	path string
	err  error
}

// buildExample builds examples/<name>, or the command at a path with a
// slash (cmd/pwlog), once per test binary.
func buildExample(t *testing.T, name string) string {
	t.Helper()
	v, _ := builds.LoadOrStore(name, &built{})
	b := v.(*built)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "pwlog-bin")
		if err != nil {
			b.err = err
			return
		}
		binDirs.Store(dir, true)
		pkg := "./examples/" + name
		if strings.Contains(name, "/") {
			pkg = "./" + name
		}
		b.path = filepath.Join(dir, filepath.Base(name))
		if out, err := exec.Command("go", "build", "-o", b.path, pkg).CombinedOutput(); err != nil {
			b.err = fmt.Errorf("build: %v\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// binDirs holds the directories buildExample made, for TestMain to remove.
var binDirs sync.Map

// buildSessions builds examples/sessions once per test binary.
func buildSessions(t *testing.T) string { return buildExample(t, "sessions") }

// TestSecondProcessRefused starts two processes on one storage: while the
// first runs, the second exits with status 1 naming the first's pid.
func TestSecondProcessRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := buildSessions(t)
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	os.Mkdir(input, 0o755)
	if _, err := gen.Write(input, gen.Spec{Seed: 9, Rows: 400_000, Users: 5000, Files: 4}); err != nil {
		t.Fatal(err)
	}
	first := exec.Command(bin, "-input", input, "-output", filepath.Join(dir, "a.csv"), "-storage", storage)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Wait()
	defer first.Process.Kill()
	// Wait until the first process holds the lock.
	lock := filepath.Join(storage, "LOCK")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile(lock); bytes.HasPrefix(b, []byte("pid ")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first process never took the lock")
		}
	}
	second := exec.Command(bin, "-input", input, "-output", filepath.Join(dir, "b.csv"), "-storage", storage)
	var stderr bytes.Buffer
	second.Stderr = &stderr
	err := second.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("second process: %v, want exit status 1", err)
	}
	if want := "in use by process " + strconv.Itoa(first.Process.Pid); !strings.Contains(stderr.String(), want) {
		t.Fatalf("second process said %q, want it to contain %q", stderr.String(), want)
	}
}

// TestKilledFreshRun: in the default mode each run writes a fresh file;
// after runs killed with SIGKILL, the next finished run's file holds every
// delta since the last finished run, so nothing committed is lost.
func TestKilledFreshRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a binary")
	}
	bin := buildSessions(t)
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	output := filepath.Join(dir, "sessions.csv")
	os.Mkdir(input, 0o755)
	if _, err := gen.Write(input, gen.Spec{Seed: 5, Rows: 300_000, Users: 3000, Files: 6}); err != nil {
		t.Fatal(err)
	}
	// Kill runs until at least two were killed, the last after committing
	// something: its file has rows, which sinks write only once committed.
	killed := 0
	committed := func() bool {
		b, _ := os.ReadFile(output)
		return bytes.Count(b, []byte("\n")) > 1
	}
	for delay := 150 * time.Millisecond; killed < 2 || !committed(); delay += 100 * time.Millisecond {
		cmd := exec.Command(bin, "-input", input, "-output", output, "-storage", storage)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		cmd.Process.Signal(syscall.SIGKILL)
		if err := cmd.Wait(); err == nil {
			t.Skip("runs finish before they can be killed on this machine")
		}
		killed++
	}
	out, err := exec.Command(bin, "-input", input, "-output", output, "-storage", storage).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !bytes.Contains(out, []byte("Re-emitted committed rows")) {
		// The last kill came after that run acknowledged its file (during
		// its final compaction): nothing was left to re-emit.
		t.Logf("the finished run re-emitted nothing:\n%s", out)
	}
	acc, err := model.Accesses(input)
	if err != nil {
		t.Fatal(err)
	}
	want := model.Strings(model.Sessions(acc, 300))
	if got := consolidated(t, readSink(t, output)); !slices.Equal(got, want) {
		t.Fatalf("the finished run's file consolidates to %d rows, want %d", len(got), len(want))
	}
}
