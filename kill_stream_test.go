package pwlog_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/tool"
)

// TestKillStreaming runs the built examples/sessions in streaming mode,
// append, while a writer in the test grows its input: lines appended to
// the files and new files, some lines in pieces with sleeps between them,
// cut inside a field, inside a quoted user id (commas, double quotes) or
// inside a multi-byte character. It kills the process with SIGKILL at
// random moments, from its start to well after it caught up, some while
// it stops on SIGTERM, and restarts it; now and then the restart is a
// static execution (which reads a half line as a partial row, retracted
// once the line is finished) or comes after tool.Compact of the stopped
// storage. After each kill, the changelog the killed execution left (all but its last,
// possibly torn, time) must still be there. At the end the writer
// finishes every line, a last streaming execution catches up, and
// SIGTERM stops it: it exits 0 and logs what it committed. The changelog
// must then consolidate exactly to the from-scratch sessions of every
// line written, with times in order, no row twice at one time, and no
// row made from half a line.
//
// The example reads with the default PartialLineTimeout (3 s): the
// writer finishes every line well within it (writerOptions.hold).
//
// PWLOG_STREAM_KILLS sets the number of kills (default 20);
// PWLOG_STREAM_SEED the seed of the input and of the kill moments.
func TestKillStreaming(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a binary")
	}
	bin := buildSessions(t)
	seed := uint64(envInt("PWLOG_STREAM_SEED", 1))
	kills := envInt("PWLOG_STREAM_KILLS", 20)
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	output := filepath.Join(dir, "changelog.csv")
	if err := os.Mkdir(input, 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 0x6b))
	w := startStreamWriter(t, input, seed, writerOptions{hold: 300 * time.Millisecond, pause: 15 * time.Millisecond, stall: 0.05, files: 6})

	start := func(mode string) (*exec.Cmd, *bytes.Buffer, chan error) {
		interval := []string{"0", "0", "2ms", "30ms"}[rng.IntN(4)]
		cmd := exec.Command(bin, "-input", input, "-output", output, "-storage", storage, "-append",
			"-mode", mode, "-autocommit-duration", "20ms", "-snapshot-interval", interval)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		return cmd, &stderr, done
	}

	var kept []byte // what the last execution left, but its last time
	killed, finished, terminated, compacted := 0, 0, 0, 0
	for run := 0; killed < kills; run++ {
		if run > 3*kills {
			t.Fatalf("%d executions, only %d killed", run, killed)
		}
		mode := "streaming"
		if rng.IntN(6) == 0 {
			mode = "static"
		}
		cmd, stderr, done := start(mode)
		// Kill at random moments: a quarter during the start (recovery),
		// the others once it has been running a while.
		delay := time.Duration(100+rng.IntN(1400)) * time.Millisecond
		if rng.IntN(4) == 0 {
			delay = time.Duration(rng.IntN(100)) * time.Millisecond
		}
		select {
		case err := <-done:
			if mode == "streaming" || err != nil {
				t.Fatalf("execution %d (%s) ended by itself: %v\n%s", run, mode, err, stderr)
			}
			finished++
		case <-time.After(delay):
			// Now and then SIGTERM first, and SIGKILL while the execution
			// stops (its last drain, acknowledgement, compaction).
			var err error
			stopped := false
			if mode == "streaming" && rng.IntN(5) == 0 {
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case err = <-done:
					var exit *exec.ExitError
					switch {
					case err == nil:
						terminated++
					case errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGTERM &&
						!strings.Contains(stderr.String(), "Opened the storage"):
						// SIGTERM came before the example installed its
						// handler (it had not opened the storage yet): the
						// signal's default action killed it.
						killed++
					default:
						t.Fatalf("execution %d (%s) after SIGTERM: %v, want exit status 0\n%s", run, mode, err, stderr)
					}
					stopped = true
				case <-time.After(time.Duration(rng.IntN(300)) * time.Millisecond):
				}
			}
			if stopped {
				break
			}
			cmd.Process.Signal(syscall.SIGKILL)
			err = <-done
			var exit *exec.ExitError
			switch {
			case err == nil && mode == "static":
				finished++ // it finished just before the signal
			case err == nil:
				terminated++ // it stopped on SIGTERM just before SIGKILL
			case errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL:
				killed++
			default:
				t.Fatalf("execution %d (%s): %v, want killed by SIGKILL\n%s", run, mode, err, stderr)
			}
		}
		b, err := os.ReadFile(output)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, kept) {
			t.Fatalf("execution %d (%s) lost what the one before had written: %d bytes kept, the changelog now has %d\n%s",
				run, mode, len(kept), len(b), stderr)
		}
		kept = keptRows(b)
		if len(kept) > 0 {
			if err := changelogProblem(kept, nil); err != nil {
				t.Fatalf("after execution %d (%s): %v", run, mode, err)
			}
		}
		// Compacting a killed execution's storage must keep the rows its
		// changelog still lacks.
		if rng.IntN(5) == 0 {
			if _, err := tool.Compact(t.Context(), storage, &tool.CompactOptions{Logger: quietConfig("").Logger}); err != nil {
				t.Fatalf("compact after execution %d: %v", run, err)
			}
			compacted++
		}
	}

	// The last execution catches up with every line, finished meanwhile.
	cmd, stderr, done := start("streaming")
	time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
	w.finish(t)
	by := w.accesses()
	if got := readStreamInput(t, input); !sameAccesses(got, by) {
		t.Fatalf("the input files hold other accesses than the writer wrote")
	}
	want := sessionRows(by, 300)
	var problem error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(output)
		if problem = changelogProblem(completeRows(b), want); problem == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the last execution ended by itself (%v) before it caught up: %v\n%s", err, problem, stderr)
		default:
		}
		if !errors.Is(problem, errOtherRows) || time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			t.Fatalf("while the last execution catches up: %v\n%s", problem, stderr)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the last execution after SIGTERM: %v, want exit status 0\n%s", err, stderr)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the last execution did not stop on SIGTERM\n%s", stderr)
	}
	m := regexp.MustCompile(`msg="Run stopped[^"]*".* last_time=(\d+)`).FindSubmatch(stderr.Bytes())
	if m == nil {
		t.Fatalf("the last execution logged no line of what it committed:\n%s", stderr)
	}
	lastTime, _ := strconv.ParseUint(string(m[1]), 10, 64)

	b, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, kept) {
		t.Fatal("the last execution lost what the one before had written")
	}
	if err := halfLineProblem(b, by); err != nil {
		t.Fatalf("after %d kills: %v", killed, err)
	}
	if err := changelogProblem(b, want); err != nil {
		t.Fatalf("after %d kills: %v", killed, err)
	}
	lines, err := parseRows(b)
	if err != nil {
		t.Fatal(err)
	}
	if last := lines[len(lines)-1].time; last > lastTime {
		t.Fatalf("the changelog holds time %d, after the last time committed (%d) the execution logged", last, lastTime)
	}
	if rep, err := tool.Verify(t.Context(), storage, nil); err != nil || !rep.Sound() {
		t.Fatalf("verify: %v %v", err, rep)
	}
	// The same pipeline run once, static and not persistent, over the
	// final input: the reference of the model and of the sink's format.
	fresh := filepath.Join(dir, "fresh.csv")
	p := pwlog.New()
	tutorial.Sessions(p, input, 300).WriteCSV("output", fresh)
	if err := p.Run(context.Background(), quietConfig("")); err != nil {
		t.Fatal(err)
	}
	fb, err := os.ReadFile(fresh)
	if err != nil {
		t.Fatal(err)
	}
	fl, err := parseRows(fb)
	if err != nil {
		t.Fatalf("a from-scratch run of the pipeline: %v", err)
	}
	if got := consolidatedSigned(fl); !slices.Equal(got, withCount(want)) {
		t.Fatalf("a from-scratch run of the pipeline gives %d rows, the model %d", len(got), len(want))
	}
	times := map[uint64]bool{}
	for _, l := range lines {
		times[l.time] = true
	}
	t.Logf("%d kills, %d static executions finished, %d stopped by SIGTERM, %d compactions; %d lines written (%d in pieces), %d files; changelog: %d lines, %d times, %d rows of half lines retracted, %d sessions",
		killed, finished, terminated, compacted, w.lines, w.pieces, len(w.files), len(lines), len(times), halfLineRows(b, by), len(want))
}

// withCount returns rows as consolidatedSigned writes rows of count 1.
func withCount(rows []string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r + "=1"
	}
	slices.Sort(out)
	return out
}
