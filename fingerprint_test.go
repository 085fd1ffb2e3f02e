package pwlog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	changed := New()
	changed.ReadCSV("accesses", input, Schema{{Name: "user_id", Type: TypeStr}, {Name: "access_time", Type: TypeInt}}).
		WindowBy("sessions", Session{Time: "access_time", Instance: []string{"user_id"}, MaxGap: 600}).
		Reduce("session_stats", Out("user_id", Col("user_id")), Out("count", Count())).
		WriteCSV("output", output)
	err := changed.Run(t.Context(), quietConfig(storage))
	if !errors.Is(err, ErrPipelineChanged) {
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
	if d := fingerprintDiff(stored, stored); d != "" {
		t.Fatalf("equal fingerprints differ: %s", d)
	}
	d := fingerprintDiff(stored, []string{"source a: csv(x:str)", "operator c: reduce() <- a"})
	for _, want := range []string{"source a changed", "operator c is new", "operator b is gone"} {
		if !strings.Contains(d, want) {
			t.Errorf("%q does not mention %q", d, want)
		}
	}
}
