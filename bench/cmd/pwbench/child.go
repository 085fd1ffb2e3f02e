package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
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
	// Opened and InPlace are the attributes of the engine's log lines
	// "Opened the checkpoint" and "Read the checkpoint in place" in a
	// run (nil if it logged none).
	Opened  *openedLine  `json:"opened,omitempty"`
	InPlace *inPlaceLine `json:"in_place,omitempty"`
	// Check is what job "verify" found.
	Check *measure.ChangelogCheck `json:"check,omitempty"`
	// HWM is the child's own peak resident set size in bytes, as it
	// reads it at its end (ownPeakRSS); 0 where it cannot.
	HWM int64 `json:"hwm,omitempty"`
	// PeakRSS is HWM, or where there is none, what the parent finds in
	// the child's rusage (see peakRSS): 0 where the operating system
	// reports neither.
	PeakRSS int64 `json:"-"`
}

// openedLine is the engine's "Opened the checkpoint", logged at restart.
type openedLine struct {
	Manifest, LSN, Clock uint64
	Runs                 int64
	Entries              int64
	Duration             time.Duration
}

// inPlaceLine is the engine's "Read the checkpoint in place", logged at
// the end of every persistent execution: its block cache's hits and
// misses, and the bytes it read from the run files.
type inPlaceLine struct {
	BlockHits, BlockMisses, BytesRead int64
}

// hitRate is hits / (hits + misses), NaN when there was no lookup.
func (l inPlaceLine) hitRate() float64 {
	return float64(l.BlockHits) / float64(l.BlockHits+l.BlockMisses)
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
	// A child's rusage holds at least the parent's resident set at the
	// fork (Linux carries the peak of the memory the child was cloned
	// with across its exec): a child smaller than this process would be
	// reported at this process's size. Its own high-water mark is its own.
	r.PeakRSS = r.HWM
	if r.PeakRSS == 0 {
		r.PeakRSS = peakRSS(cmd.ProcessState)
	}
	return r
}

// child runs one job:
//   - "run INPUT STORAGE INTERVAL [MEMORY [OUTPUT]]": the pipeline once;
//     STORAGE "-" for none; MEMORY the bytes of Config.MemoryLimit, 0 for
//     the default; OUTPUT an append-mode CSV changelog, "null" for
//     /dev/null, "-" (the default) for the run's own file: beside a
//     persistent run's storage (changelogPath, append mode), a temporary
//     one for a run without storage;
//   - "floor INPUT": the floor;
//   - "verify INPUT CHANGELOG": the changelog consolidated and compared
//     with the floor's sessions.
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
		var memory int64
		if len(args) > 3 {
			memory, err = strconv.ParseInt(args[3], 10, 64)
			check(err)
		}
		output := "-"
		if len(args) > 4 {
			output = args[4]
		}
		logs := &captureHandler{}
		r.Seconds = runPipeline(args[0], storage, interval, memory, output, slog.New(logs)).Seconds()
		r.Opened, r.InPlace = logs.opened, logs.inPlace
	case "verify":
		start := time.Now()
		_, want, err := measure.FloorSessions(args[0], maxGap)
		check(err)
		c, err := measure.CompareChangelog(args[1], want)
		check(err)
		r.Seconds, r.Check = time.Since(start).Seconds(), &c
	case "floor":
		start := time.Now()
		rows, _, err := measure.Floor(args[0], maxGap)
		check(err)
		r.Seconds, r.Rows = time.Since(start).Seconds(), rows
	default:
		check(fmt.Errorf("unknown child job %q", job))
	}
	r.HWM = ownPeakRSS()
	check(json.NewEncoder(os.Stdout).Encode(r))
}

const maxGap = 300

// runPipeline runs the tutorial pipeline once and returns its wall time.
// Its sink writes where output says (see child): by default a file, so
// that runs with and without persistence write the same bytes, and a
// persistent run may fold its state early (an append-mode sink). A rerun reads a copy of the input directory that the
// storage's first run read (the copy gets the new rows), so the source is
// marked as moved: its offsets carry over.
func runPipeline(input, storage string, interval time.Duration, memory int64, output string, logger *slog.Logger) time.Duration {
	p := pwlog.New()
	t := tutorial.Sessions(p, input, maxGap, pwlog.FileOptions{Moved: true})
	switch {
	case output == "null":
		t.WriteCSV("output", os.DevNull)
	case output == "-" && storage == "":
		// The same rows into a file as a persistent run's changelog.
		f, err := os.CreateTemp("", "pwbench-off-*.csv")
		check(err)
		check(f.Close())
		defer os.Remove(f.Name())
		t.WriteCSV("output", f.Name())
	case output == "-":
		// An exactly-once changelog beside the storage (changelogPath),
		// as a user of a persistent pipeline writes it.
		t.WriteCSV("output", changelogPath(storage), pwlog.SinkOptions{Append: true})
	default:
		t.WriteCSV("output", output, pwlog.SinkOptions{Append: true})
	}
	cfg := pwlog.Config{SnapshotInterval: interval, MemoryLimit: memory, Logger: logger}
	if storage != "" {
		cfg.Backend = pwlog.Filesystem(storage)
	}
	start := time.Now()
	check(p.Run(context.Background(), cfg))
	return time.Since(start)
}

// changelogPath is where a persistent run writes its changelog by
// default: beside its storage directory, as storage.csv.
func changelogPath(storage string) string { return storage + ".csv" }

// captureHandler is a slog.Handler that keeps the attributes of the
// engine's "Opened the checkpoint" and "Read the checkpoint in place"
// lines (the last of each) and drops every other record.
type captureHandler struct {
	mu      sync.Mutex
	opened  *openedLine
	inPlace *inPlaceLine
}

func (h *captureHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h *captureHandler) WithGroup(string) slog.Handler                { return h }

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	attrs := map[string]slog.Value{}
	r.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.Resolve()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	switch r.Message {
	case "Opened the checkpoint":
		h.opened = &openedLine{
			Manifest: uint64(intAttr(attrs["manifest"])), LSN: uint64(intAttr(attrs["lsn"])), Clock: uint64(intAttr(attrs["clock"])),
			Runs: intAttr(attrs["runs"]), Entries: intAttr(attrs["entries"]), Duration: time.Duration(intAttr(attrs["duration"])),
		}
	case "Read the checkpoint in place":
		h.inPlace = &inPlaceLine{BlockHits: intAttr(attrs["block_hits"]), BlockMisses: intAttr(attrs["block_misses"]), BytesRead: intAttr(attrs["bytes_read"])}
	}
	return nil
}

// intAttr returns an integer or duration attribute's value (a duration in
// nanoseconds), -1 for one missing or of another kind: a renamed
// attribute shows as an impossible figure, not as 0.
func intAttr(v slog.Value) int64 {
	switch v.Kind() {
	case slog.KindInt64:
		return v.Int64()
	case slog.KindUint64:
		return int64(v.Uint64())
	case slog.KindDuration:
		return int64(v.Duration())
	}
	return -1
}
