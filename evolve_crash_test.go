package pwlog_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/crashkit"
	"github.com/pwlog/pwlog/internal/model"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/tool"
	"github.com/pwlog/pwlog/vfs"
)

// TestCrashDuringChange crashes the run that changes the session
// window's gap from 300 to 600, with kept inputs, at every mutating
// filesystem operation, and checks that the next run with gap 600
// recovers: verify finds no damage in the image, what the crashed run
// put in the changelog stays, no time comes twice, and the changelog
// consolidates to the sessions of gap 600 over all the input.
func TestCrashDuringChange(t *testing.T) {
	// The change's records are cut into many: a restart reads a time's
	// rows back from all of them.
	defer pwlog.SetRecordChunk(200)()
	tmp := t.TempDir()
	input, done := filepath.Join(tmp, "in"), filepath.Join(tmp, "done")
	writeInput(t, input, 3, 2, 0, 12)
	run := func(gap int64) crashkit.Act {
		return func(root string, fsys vfs.FS) error {
			p := pwlog.New()
			tutorial.Sessions(p, input, gap).WriteCSV("output", filepath.Join(root, "out.csv"), pwlog.SinkOptions{Append: true})
			cfg := quietConfig(filepath.Join(root, "storage"))
			cfg.FS, cfg.BatchRows, cfg.CompactBytes, cfg.KeepInputs = fsys, 8, -1, true
			return p.Run(context.Background(), cfg)
		}
	}
	if err := run(300)(done, vfs.Default); err != nil {
		t.Fatal(err)
	}
	writeInput(t, input, 4, 2, 2, 12)
	acc, err := model.Accesses(input)
	if err != nil {
		t.Fatal(err)
	}
	want := consolidatedSigned(signedLines(model.Diff(nil, model.Strings(model.Sessions(acc, 600)))))
	if slices.Equal(want, consolidatedSigned(signedLines(model.Diff(nil, model.Strings(model.Sessions(acc, 300)))))) {
		t.Fatal("gap 600 gives the sessions of gap 300 on this input: the test proves nothing")
	}
	change := run(600)
	n := crashkit.CountOps(t, done, change)
	for _, k := range crashkit.Points(n) {
		for seed := range crashkit.Seeds() {
			img, hit, _ := crashkit.Crash(t, done, k, seed, change)
			what := fmt.Sprintf("k=%d/%d seed=%d (%s)", k, n, seed, crashkit.DescribeHit(hit))
			if rep, err := tool.Verify(context.Background(), filepath.Join(img, "storage"), nil); err != nil || !rep.Sound() {
				t.Fatalf("%s: verify on the crash image: %v %v", what, err, rep)
			}
			out := filepath.Join(img, "out.csv")
			before, _ := os.ReadFile(out)
			kept := crashkit.CompleteTimes(before)
			if err := change(img, vfs.Default); err != nil {
				t.Fatalf("%s: the run after the crash: %v", what, err)
			}
			after, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			crashkit.CheckKept(t, what, kept, after)
			lines := readSink(t, out)
			for i := 1; i < len(lines); i++ {
				if lines[i].time < lines[i-1].time {
					t.Fatalf("%s: time %d after time %d", what, lines[i].time, lines[i-1].time)
				}
			}
			if got := consolidatedSigned(lines); !slices.Equal(got, want) {
				t.Fatalf("%s: the changelog consolidates to\n%v\nwant\n%v", what, got, want)
			}
		}
	}
}
