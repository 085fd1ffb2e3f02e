package pwlog_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/tutorial"
)

// TestStreamingGroupCommitReachesSink: with a positive SnapshotInterval
// (group commit), the rows of the last commit before the input goes
// quiet reach the sink once their fsync is done, without waiting for
// another commit or the end of the execution.
func TestStreamingGroupCommitReachesSink(t *testing.T) {
	input := t.TempDir()
	out := filepath.Join(t.TempDir(), "sessions.csv")
	appendTo(t, input, "a.csv", "user_id,access_time\nbob,100\n")
	p := pwlog.New()
	tutorial.Sessions(p, input, 300, pwlog.FileOptions{Streaming: true, PollInterval: 10 * time.Millisecond}).
		WriteCSV("output", out, pwlog.SinkOptions{Append: true})
	cfg := quietConfig(t.TempDir())
	cfg.AutocommitDuration = 20 * time.Millisecond
	cfg.SnapshotInterval = 5 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	r := &streamRun{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx, cfg) }()
	defer r.stop(t)
	sinkHas(t, out, `"bob",0,100,100,1`, 3*time.Second)
}
