package pwlog_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/storage"
)

// TestChangedPipelineRefused: a restart with a changed operator is
// refused with a message naming it; the unchanged pipeline still runs.
func TestChangedPipelineRefused(t *testing.T) {
	dir := t.TempDir()
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	output := filepath.Join(dir, "out.csv")
	os.Mkdir(input, 0o755)
	copyFiles(t, "testdata/tutorial/run1", input)
	if err := runSessions(t, input, output, storage, false); err != nil {
		t.Fatal(err)
	}
	changed := pwlog.New()
	changed.ReadCSV("accesses", input, pwlog.Schema{{Name: "user_id", Type: pwlog.TypeStr}, {Name: "access_time", Type: pwlog.TypeInt}}).
		WindowBy("sessions", pwlog.Session{Time: "access_time", Instance: []string{"user_id"}, MaxGap: 600}).
		Reduce("session_stats", pwlog.Out("user_id", pwlog.Col("user_id")), pwlog.Out("count", pwlog.Count())).
		WriteCSV("output", output)
	err := changed.Run(t.Context(), quietConfig(storage))
	if !errors.Is(err, pwlog.ErrPipelineChanged) {
		t.Fatalf("got %v, want ErrPipelineChanged", err)
	}
	for _, want := range []string{"operator sessions changed", "max_gap=300", "max_gap=600", "operator session_stats changed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not mention %q", err, want)
		}
	}
	copyFiles(t, "testdata/tutorial/run2", input)
	if err := runSessions(t, input, output, storage, false); err != nil {
		t.Fatalf("the unchanged pipeline: %v", err)
	}
	if got := len(readSink(t, output)); got != 1 {
		t.Fatalf("the unchanged pipeline emitted %d rows, want 1", got)
	}
}

func TestFingerprintDiff(t *testing.T) {
	stored := []string{"source a: csv(x:int)", "operator b: reduce() <- a"}
	if d := storage.FingerprintDiff(stored, stored); d != "" {
		t.Fatalf("equal fingerprints differ: %s", d)
	}
	d := storage.FingerprintDiff(stored, []string{"source a: csv(x:str)", "operator c: reduce() <- a"})
	for _, want := range []string{"source a changed", "operator c is new", "operator b is gone"} {
		if !strings.Contains(d, want) {
			t.Errorf("%q does not mention %q", d, want)
		}
	}
}
