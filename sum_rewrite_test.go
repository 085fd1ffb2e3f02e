package pwlog_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pwlog/pwlog/internal/model"
	"github.com/pwlog/pwlog/sources"
)

// TestSameSizeRewriteAfterHead: a file rewritten to the same size, with a
// new modification time, that differs only after its first 4 KiB fails a
// run naming it, and is retracted and read again by a source with
// FileOptions.Retract; a file only touched changes nothing.
func TestSameSizeRewriteAfterHead(t *testing.T) {
	var b strings.Builder
	b.WriteString("user_id,access_time\n")
	for i := range 400 {
		fmt.Fprintf(&b, "u%d,%d\n", i%7, 1701100000+i*97)
	}
	body := b.String()
	i := strings.Index(body[5000:], "\nu3,") + 5000 + 2 // a user id after 4 KiB
	rewritten := body[:i] + "4" + body[i+1:]

	for _, retract := range []bool{false, true} {
		dir := t.TempDir()
		input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
		output := filepath.Join(dir, "out.csv")
		path := filepath.Join(input, "a.csv")
		os.Mkdir(input, 0o755)
		os.WriteFile(path, []byte(body), 0o644)
		run := func() error {
			if retract {
				return retractingPipeline(input, output, false).Run(t.Context(), quietConfig(storage))
			}
			return runSessions(t, input, output, storage, false)
		}
		setTime := func(d time.Duration) {
			when := time.Now().Add(d)
			if err := os.Chtimes(path, when, when); err != nil {
				t.Fatal(err)
			}
		}
		if err := run(); err != nil {
			t.Fatal(err)
		}
		before := currentSessions(t, input)

		// Touched: nothing read again, nothing emitted.
		setTime(time.Hour)
		if err := run(); err != nil {
			t.Fatalf("retract %v, touched: %v", retract, err)
		}
		if got := readSink(t, output); len(got) != 0 {
			t.Fatalf("retract %v, touched: emitted %v", retract, signed(got))
		}

		os.WriteFile(path, []byte(rewritten), 0o644)
		setTime(2 * time.Hour)
		err := run()
		if !retract {
			var ce *sources.ChangedFileError
			if !errors.As(err, &ce) || ce.Path != "a.csv" {
				t.Fatalf("rewritten: %v, want a ChangedFileError for a.csv", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("rewritten, retracting: %v", err)
		}
		after := currentSessions(t, input)
		if slices.Equal(before, after) {
			t.Fatal("the rewrite changes no session")
		}
		if got, want := signed(readSink(t, output)), model.Diff(before, after); !slices.Equal(got, want) {
			t.Fatalf("rewritten, retracting: emitted %v, want %v", got, want)
		}
	}
}
