package pwlog_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/sources"
	"github.com/pwlog/pwlog/tool"
)

// partialRun runs the tutorial pipeline in append mode on input, with a
// logger writing to logs.
func partialRun(t *testing.T, input, output, storage string, retract bool, batch int, logs *bytes.Buffer) error {
	t.Helper()
	p := pwlog.New()
	var opts []pwlog.FileOptions
	if retract {
		opts = append(opts, pwlog.FileOptions{Retract: true})
	}
	tutorial.Sessions(p, input, 300, opts...).WriteCSV("output", output, pwlog.SinkOptions{Append: true})
	cfg := quietConfig(storage)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	cfg.BatchRows = batch
	return p.Run(t.Context(), cfg)
}

// TestPartialLastLine is issue 12: a file whose last line is still being
// written (no newline yet) is read as it is; once the line is complete,
// the next run retracts the row read from it and reads the completed
// one, with or without FileOptions.Retract. A last line that does not
// parse yet waits, with a warning and no error. The changelog always
// consolidates to the from-scratch result over what was readable.
func TestPartialLastLine(t *testing.T) {
	const base = "user_id,access_time\nalice,1701103040\nalice,1701103331\n"
	steps := []struct {
		name, body string
		waits      bool // the last line does not parse yet
	}{
		{"cut inside a field", base + "alice,17011036", false},
		{"completed, and a line that does not parse yet", base + "alice,1701103618\nbob,", true},
		{"now a partial line that parses", base + "alice,1701103618\nbob,170", false},
		{"cut again", base + "alice,1701103618\nbob,1701104", false},
		{"only the line end missing", base + "alice,1701103618\nbob,1701104640", false},
		{"completed", base + "alice,1701103618\nbob,1701104640\n", false},
		{"a new partial line", base + "alice,1701103618\nbob,1701104640\nbob,1701104931", false},
		{"completed with more lines", base + "alice,1701103618\nbob,1701104640\nbob,1701104931\r\nbob,1701105218\n", false},
	}
	for _, retract := range []bool{false, true} {
		for _, batch := range []int{1, 2, 0} {
			t.Run(fmt.Sprintf("retract=%v/batch=%d", retract, batch), func(t *testing.T) {
				dir := t.TempDir()
				input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
				view := filepath.Join(dir, "view") // what a run can read: complete lines, and a partial one that parses
				output := filepath.Join(dir, "changelog.csv")
				for _, d := range []string{input, view} {
					os.Mkdir(d, 0o755)
					copyFiles(t, "testdata/tutorial/run1", d)
				}
				for _, s := range steps {
					for _, d := range []string{input, view} {
						body := s.body
						if d == view && s.waits {
							body = body[:strings.LastIndexByte(body, '\n')+1]
						}
						if err := os.WriteFile(filepath.Join(d, "part_two.csv"), []byte(body), 0o644); err != nil {
							t.Fatal(err)
						}
					}
					var logs bytes.Buffer
					if err := partialRun(t, input, output, storage, retract, batch, &logs); err != nil {
						t.Fatalf("%s: %v", s.name, err)
					}
					warned := strings.Contains(logs.String(), "has no line end yet and does not parse yet") &&
						strings.Contains(logs.String(), "part_two.csv:5: column 2 (access_time)")
					if warned != s.waits {
						t.Fatalf("%s: warned %v, want %v; the log:\n%s", s.name, warned, s.waits, logs.String())
					}
					checkChangelog(t, s.name, output, view)
				}
				if retract {
					// The source's rows by file are right: a rewrite
					// retracts exactly what the file gave.
					for _, d := range []string{input, view} {
						os.WriteFile(filepath.Join(d, "part_two.csv"), []byte("user_id,access_time\nalice,1701103040\n"), 0o644)
					}
					var logs bytes.Buffer
					if err := partialRun(t, input, output, storage, retract, batch, &logs); err != nil {
						t.Fatalf("rewrite: %v", err)
					}
					checkChangelog(t, "rewrite", output, view)
				}
				rep, err := tool.Verify(t.Context(), storage, nil)
				if err != nil || !rep.Sound() {
					t.Fatalf("verify: %v, %v", err, rep)
				}
			})
		}
	}
}

// TestPartialLastLineRewritten: a partial last line that is rewritten
// rather than continued is a change: without FileOptions.Retract it fails
// the run naming the file; with it, the file's rows are retracted and it
// is read again.
func TestPartialLastLineRewritten(t *testing.T) {
	for _, retract := range []bool{false, true} {
		dir := t.TempDir()
		input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
		output := filepath.Join(dir, "changelog.csv")
		os.Mkdir(input, 0o755)
		copyFiles(t, "testdata/tutorial/run1", input)
		const base = "user_id,access_time\nalice,1701103040\nalice,1701103331\n"
		path := filepath.Join(input, "part_two.csv")
		os.WriteFile(path, []byte(base+"alice,17011036"), 0o644)
		var logs bytes.Buffer
		if err := partialRun(t, input, output, storage, retract, 0, &logs); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(path, []byte(base+"alice,17011099\n"), 0o644)
		err := partialRun(t, input, output, storage, retract, 0, &logs)
		if !retract {
			var ce *sources.ChangedFileError
			if !errors.As(err, &ce) || ce.Path != "part_two.csv" {
				t.Fatalf("got %v, want a ChangedFileError for part_two.csv", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		checkChangelog(t, "rewritten", output, input)
	}
}
