package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/bench/measure"
	"github.com/pwlog/pwlog/internal/tutorial"
)

// Every timed pipeline run happens in a child process of its own: its peak
// RSS is its own, and no run inherits another's heap. The parent re-runs
// its own binary with -child and reads one JSON line back.

// childResult is what a child reports.
type childResult struct {
	Seconds float64 `json:"seconds"` // the work alone, without process start
	Rows    int     `json:"rows,omitempty"`
	// PeakRSS is filled in by the parent from the child's rusage (see
	// peakRSS): 0 where the operating system does not report it.
	PeakRSS int64 `json:"-"`
}

func (r childResult) duration() time.Duration { return time.Duration(r.Seconds * float64(time.Second)) }

// spawn runs this binary as a child doing job with args and returns its
// result with its peak RSS.
func spawn(job string, args ...string) childResult { return spawnEnv(nil, job, args...) }

// spawnEnv is spawn with env added to the child's environment.
func spawnEnv(env []string, job string, args ...string) childResult {
	exe, err := os.Executable()
	check(err)
	cmd := exec.Command(exe, append([]string{"-child", job}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		check(fmt.Errorf("child %s %v: %w: %s", job, args, err, errb.String()))
	}
	var r childResult
	check(json.Unmarshal([]byte(out.String()), &r))
	r.PeakRSS = peakRSS(cmd.ProcessState)
	return r
}

// child runs one job: "run INPUT STORAGE INTERVAL" (STORAGE "-" for none)
// or "floor INPUT".
func child(job string, args []string) {
	var r childResult
	switch job {
	case "run":
		storage := args[1]
		if storage == "-" {
			storage = ""
		}
		interval, err := time.ParseDuration(args[2])
		check(err)
		r.Seconds = runPipeline(args[0], storage, interval).Seconds()
	case "floor":
		start := time.Now()
		rows, _, err := measure.Floor(args[0], maxGap)
		check(err)
		r.Seconds, r.Rows = time.Since(start).Seconds(), rows
	default:
		check(fmt.Errorf("unknown child job %q", job))
	}
	check(json.NewEncoder(os.Stdout).Encode(r))
}

const maxGap = 300

// runPipeline runs the tutorial pipeline once, its sink to /dev/null,
// and returns its wall time. A rerun reads a copy of the input directory
// that the storage's first run read (the copy gets the new rows), so the
// source is marked as moved: its offsets carry over.
func runPipeline(input, storage string, interval time.Duration) time.Duration {
	p := pwlog.New()
	tutorial.Sessions(p, input, maxGap, pwlog.FileOptions{Moved: true}).WriteCSV("output", os.DevNull)
	cfg := pwlog.Config{SnapshotInterval: interval, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if storage != "" {
		cfg.Backend = pwlog.Filesystem(storage)
	}
	start := time.Now()
	check(p.Run(context.Background(), cfg))
	return time.Since(start)
}
