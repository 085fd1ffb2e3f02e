package pwlog_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
)

// TestStreamFileVanishes: a streaming source over a directory whose files
// are deleted as they are written, as a rotating log's are, goes on: a file
// the source lists and then opens (a new file, or a known one that grew)
// may be deleted in between, and is then skipped, or retracted as a
// deleted file, rather than failing the execution with "no such file or
// directory". A writer creates, appends to and deletes files as fast as it
// can for 2 s; the execution must go on until it is cancelled.
func TestStreamFileVanishes(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 2 s")
	}
	input := t.TempDir()
	out := filepath.Join(t.TempDir(), "out.csv")
	p := pwlog.New()
	p.ReadCSV("in", input, pwlog.Schema{{Name: "k", Type: pwlog.TypeStr}}, pwlog.FileOptions{Streaming: true, Retract: true}).
		WriteCSV("out", out, pwlog.SinkOptions{Append: true})
	cfg := quietConfig(t.TempDir())
	cfg.AutocommitDuration = time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, cfg) }()
	deadline := time.Now().Add(2 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		select {
		case err := <-done:
			t.Fatalf("the streaming execution failed after %d files: %v", i, err)
		default:
		}
		name := filepath.Join(input, "f"+strconv.Itoa(i)+".csv")
		if err := os.WriteFile(name, []byte("k\nv"+strconv.Itoa(i)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(i%3) * time.Millisecond)
		appendTo(t, input, filepath.Base(name), "w\n")
		time.Sleep(time.Duration(i%2) * time.Millisecond)
		if err := os.Remove(name); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("after cancel: %v", err)
	}
}
