package main

import (
	"encoding/xml"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary serve as the report's child process.
func TestMain(m *testing.M) {
	flag.Parse()
	if *childJob != "" {
		child(*childJob, flag.Args())
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The whole report on a tiny data set: every section and figure is there
// with a number, and the chart is well-formed SVG with both panels.
func TestReportSmoke(t *testing.T) {
	*rows, *users, *files, *repeats, *reruns, *every, *probes, *second = 20_000, 200, 10, 1, 2, 1, 5, 80_000
	*memLimit = 1 << 20 // small enough that the 80,000-row run drops groups
	*orderRows, *customerRows = 5_000, 500
	*revenueBin = buildRevenue(t)
	r := &report{dir: t.TempDir()}
	r.run()
	out := r.out.String()
	for _, want := range []string{
		"| in-memory Go, no pwlog (the floor) | ", "| pipeline, fsync every commit | ", "| pipeline, 100 ms snapshot interval | ",
		"| rerun after adding 0.1% rows (20) | ", "| restart, nothing new, state of 80000 rows", "| the same restart with GOGC=400 (default 100) | ",
		"| restart after 2 reruns | ", "| our commit path, fsync per batch (writes ", "| raw tidwall/wal WriteBatch, sync per batch (writes ",
		"| disk: 4 KiB append + fdatasync (5 calls) | ", "| our commit of a 4 KiB record, fsync (5 commits) | ", "| pebble: updates/s (Merge, Sync per batch) | ",
		"| pwlog: restart as the engine does it now ", "| pwlog: decode the checkpoint whole into arrangements, ", "| pebble: open (",
		"| storage after the full run (compacted) | ", "| peak RSS: fsync every commit | ",
		"| throughput, fsync every commit, against before the checkpoint was read in place | ", "| not below 116k rows/s | ",
		"| ≤ 2% of the full run | ", "| ≤ 50 ms | ", "| flat (≈1x) | ", "| its output against the from-scratch sessions (the floor's) | equal | completes, output equal | ",
		"| its peak RSS | ", "| peak RSS: rerun after adding 0.1% rows (20) | ", "| ≤ 64 MiB | ",
		"| block cache hit rate in the rerun: hits / (hits + misses) | ", "| bytes read by the rerun / storage before it | ",
		"| full run, persistence off | ", "| rerun after 0.1% new orders (5) | ", "| rerun after rewriting the customers file, 5 customers (1%) moved | ",
		"| peak RSS: rerun after 1% of the customers moved | ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report has no %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "NaN") || strings.Contains(out, "Inf") || strings.Contains(out, "n/a") || strings.Contains(out, "not logged") {
		t.Errorf("a figure is not a number:\n%s", out)
	}
	var doc struct {
		Groups []struct {
			Polylines []struct{} `xml:"polyline"`
		} `xml:"g"`
	}
	if err := xml.Unmarshal([]byte(r.svg), &doc); err != nil {
		t.Fatalf("chart: %v", err)
	}
	if len(doc.Groups) != 2 || len(doc.Groups[0].Polylines) != 2 || len(doc.Groups[1].Polylines) != 2 {
		t.Fatalf("chart: %d panels %+v, want 2 with 2 lines each", len(doc.Groups), doc.Groups)
	}
}

// buildRevenue builds examples/revenue for the report to run.
func buildRevenue(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "revenue")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/pwlog/pwlog/examples/revenue").CombinedOutput(); err != nil {
		t.Fatalf("build examples/revenue: %v\n%s", err, out)
	}
	return bin
}
