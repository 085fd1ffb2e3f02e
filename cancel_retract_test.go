package pwlog_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
)

// A streaming execution with Retract, cancelled while a poll's seek
// retracts a deleted file, commits the retraction before it stops: the
// seek took the file out of the offsets, so the final checkpoint must
// not be written without it (the file's rows would stay for good, and a
// changed file read again as new would count twice).
func TestCancelAfterRetract(t *testing.T) {
	tmp := t.TempDir()
	input, storage, sink := filepath.Join(tmp, "in"), filepath.Join(tmp, "storage"), filepath.Join(tmp, "out.csv")
	os.Mkdir(input, 0o755)
	os.WriteFile(filepath.Join(input, "x.csv"), []byte("s,n\ngone,1\n"), 0o644)
	// y.csv: one row, then 40 MB of blank lines, which the seek after a
	// touch hashes again: it holds the seek long enough to cancel inside it.
	y := filepath.Join(input, "y.csv")
	os.WriteFile(y, []byte("s,n\ny,2\n"+strings.Repeat("\n", 40<<20)), 0o644)
	start := func() (context.CancelFunc, chan error) {
		p := propPipeline(input, sink, pwlog.FileOptions{Streaming: true, Retract: true, Poll: true,
			PollInterval: 10 * time.Millisecond, PartialLineTimeout: -1})
		cfg := quietConfig(storage)
		cfg.NoSync = true
		cfg.CompactBytes = -1
		cfg.AutocommitDuration = 10 * time.Millisecond
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx, cfg) }()
		return cancel, done
	}
	cancel, done := start()
	waitFor(t, "both rows", func() bool { got, _ := propSink(sink); return len(got) == 2 })
	os.Remove(filepath.Join(input, "x.csv"))
	later := time.Now().Add(time.Hour)
	os.Chtimes(y, later, later)
	time.Sleep(30 * time.Millisecond) // the next poll's seek is hashing y.csv
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cancel, done = start() // a restart: x.csv is gone, its row must go
	time.Sleep(3 * time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, _ := propSink(sink); len(got) != 1 || got[0] != `"y",2` {
		t.Fatalf("the changelog consolidates to %q, want only y.csv's row", got)
	}
}
