package pwlog_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/tool"
)

// TestStreamingIdleAppendsNothing: a streaming pipeline whose input does
// not change appends nothing to its log and writes nothing to its sink,
// over more than two of a watched source's safety polls (1 s each), and
// over many polls of a source that polls. TestStreamingQuiet watches the
// clock for a shorter while; BenchmarkStreamIdleCPU measures the CPU.
func TestStreamingIdleAppendsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 2.5 s")
	}
	for _, c := range []struct {
		name string
		opts pwlog.FileOptions
	}{
		{"watched", pwlog.FileOptions{Streaming: true}},
		{"polling", pwlog.FileOptions{Streaming: true, Poll: true, PollInterval: 20 * time.Millisecond}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			input, storage := t.TempDir(), t.TempDir()
			out := filepath.Join(t.TempDir(), "out.csv")
			appendTo(t, input, "a.csv", "k\nfirst\n")
			p := pwlog.New()
			p.ReadCSV("in", input, pwlog.Schema{{Name: "k", Type: pwlog.TypeStr}}, c.opts).
				WriteCSV("out", out, pwlog.SinkOptions{Append: true})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx, quietConfig(storage)) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			}()
			sinkHas(t, out, "first", 20*time.Second)
			type state struct {
				lsn       uint64
				log, sink int64
			}
			now := func() state {
				info, err := tool.Inspect(context.Background(), storage, nil)
				if err != nil {
					t.Fatal(err)
				}
				fi, err := os.Stat(out)
				if err != nil {
					t.Fatal(err)
				}
				return state{lsn: info.WAL.LastLSN, log: info.WAL.Bytes, sink: fi.Size()}
			}
			before := now()
			time.Sleep(2500 * time.Millisecond)
			if after := now(); after != before {
				t.Fatalf("an idle streaming pipeline wrote: log at LSN %d, %d bytes, sink %d bytes; then LSN %d, %d bytes, sink %d bytes",
					before.lsn, before.log, before.sink, after.lsn, after.log, after.sink)
			}
		})
	}
}
