// Command sessions is the persistence tutorial's pipeline: it reads user
// accesses (CSV files with header user_id,access_time) from a directory,
// groups each user's accesses into sessions (consecutive accesses closer
// than -max-gap seconds) and writes one row per session with its length,
// start, finish and number of accesses.
//
// With -storage it is persistent: run it, add files to the input
// directory, run it again, and it emits only the new deltas.
//
// With -mode streaming it keeps watching the input directory, reading
// new files and appended lines (complete lines only) and committing what
// arrives at most every -autocommit-duration, until SIGINT or SIGTERM:
// it then finishes the current time, syncs and acknowledges the output,
// logs what it committed and exits 0.
//
// With -keep-inputs the storage also keeps the consumed input rows and
// the sink's table, so the pipeline may change between runs: a run with
// another -max-gap rebuilds the session window from the kept inputs and
// emits, at one logical time, exactly the difference the change makes to
// the sessions. Without them such a run is refused. -persistence-mode,
// -snapshot-access, -continue-after-replay, -speedrun-replay and
// -resnapshot set the Config fields of the same names (README,
// "Persistence modes, replay and a changing pipeline").
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pwlog/pwlog"
)

func main() {
	input := flag.String("input", "", "directory of CSV files with header user_id,access_time")
	output := flag.String("output", "sessions.csv", "CSV file the sessions' deltas are written to")
	storage := flag.String("storage", "", "persistent storage: a directory, s3://BUCKET/PREFIX (AWS_* environment) or azure://CONTAINER/PREFIX (AZURE_STORAGE_CONNECTION_STRING); without it the run is not persistent")
	appendMode := flag.Bool("append", false, "keep one changelog in -output across runs, exactly once (needs -storage)")
	maxGap := flag.Int64("max-gap", 300, "largest gap in seconds, exclusive, between two accesses of one session")
	interval := flag.Duration("snapshot-interval", 0, "durability window of group commit (0: fsync every commit)")
	mode := flag.String("mode", "static", "static: read the input and stop; streaming: keep watching it until SIGINT or SIGTERM")
	autocommit := flag.Duration("autocommit-duration", 100*time.Millisecond, "streaming: the shortest time between two commits of arriving rows")
	memoryLimit := flag.Int64("memory-limit", 0, "bytes of state kept in memory; the rest is read from the checkpoint (0: 64 MiB, or a quarter of GOMEMLIMIT)")
	blockSize := flag.Int("block-size", 0, "bytes of a checkpoint block before compression (0: 8 KiB)")
	keepInputs := flag.Bool("keep-inputs", false, "keep the consumed input rows and the sink's table in the storage, in addition to state, so that a changed pipeline (another -max-gap) is rebuilt instead of refused")
	access := flag.String("snapshot-access", "full", "how the run uses the storage: full (read and write), record (start from nothing, replace what it holds), replay (read, write nothing) or offsets-only (keep offsets only)")
	continueAfterReplay := flag.Bool("continue-after-replay", true, "false: write the sink's table as of the last committed time to -output and stop, reading no input and writing nothing to the storage")
	persistence := flag.String("persistence-mode", "state", "what the storage keeps: state (operator state), inputs (the input rows; state recomputed at restart), selective (the input rows of the source accesses only) or udf-cache (no state; the input is read from its start every run)")
	speedrun := flag.Bool("speedrun-replay", false, "feed the kept inputs again time by time and write the changelog they give, at their original times, to -output; reads no input, writes nothing to the storage")
	resnapshot := flag.String("resnapshot", "", "the name of a sink (this program's is \"output\") whose file was deleted or rotated: it gets its whole table, then its deltas")
	flag.Parse()
	if *mode != "static" && *mode != "streaming" {
		fmt.Fprintf(os.Stderr, "sessions: -mode is static or streaming, not %q\n", *mode)
		flag.Usage()
		os.Exit(2)
	}
	if *input == "" {
		fmt.Fprintln(os.Stderr, "sessions: -input is required")
		flag.Usage()
		os.Exit(2)
	}
	acc, err := pwlog.ParseSnapshotAccess(*access)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sessions: -snapshot-access:", err)
		flag.Usage()
		os.Exit(2)
	}
	pm, err := pwlog.ParsePersistenceMode(*persistence)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sessions: -persistence-mode:", err)
		flag.Usage()
		os.Exit(2)
	}
	cfg := pwlog.Config{
		Mode:               pm,
		Access:             acc,
		KeepInputs:         *keepInputs,
		StopAfterReplay:    !*continueAfterReplay,
		SpeedrunReplay:     *speedrun,
		SnapshotInterval:   *interval,
		AutocommitDuration: *autocommit,
		MemoryLimit:        *memoryLimit,
		BlockSize:          *blockSize,
		Logger:             slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	if pm == pwlog.PersistSelective {
		cfg.Persist = []string{source}
	}
	if *resnapshot != "" {
		cfg.Resnapshot = []string{*resnapshot}
	}
	if err := run(*input, *output, *storage, *appendMode, *maxGap, *mode == "streaming", cfg); err != nil {
		// A refused change of the pipeline names -keep-inputs.
		fmt.Fprintln(os.Stderr, "sessions:", err)
		os.Exit(1)
	}
}

// source is the name of the pipeline's source, which -persistence-mode
// selective keeps.
const source = "accesses"

func run(input, output, storage string, appendMode bool, maxGap int64, streaming bool, cfg pwlog.Config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	p := pwlog.New()
	events := p.ReadCSV(source, input, pwlog.Schema{
		{Name: "user_id", Type: pwlog.TypeStr},
		{Name: "access_time", Type: pwlog.TypeInt},
	}, pwlog.FileOptions{Streaming: streaming})
	sessions := events.
		WindowBy("sessions", pwlog.Session{Time: "access_time", Instance: []string{"user_id"}, MaxGap: maxGap}).
		Reduce("session_stats",
			pwlog.Out("user_id", pwlog.Col("user_id")),
			pwlog.Out("session_length", pwlog.Sub(pwlog.Max("access_time"), pwlog.Min("access_time"))),
			pwlog.Out("session_start", pwlog.Min("access_time")),
			pwlog.Out("session_finish", pwlog.Max("access_time")),
			pwlog.Out("count", pwlog.Count()),
		)
	sessions.WriteCSV("output", output, pwlog.SinkOptions{Append: appendMode})

	if storage != "" {
		b, err := pwlog.Storage(storage)
		if err != nil {
			return err
		}
		cfg.Backend = b
	}
	err := p.Run(ctx, cfg)
	if errors.Is(err, context.Canceled) {
		return errors.New("interrupted; every committed time is kept")
	}
	return err
}
