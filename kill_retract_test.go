package pwlog_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/crashkit"
	"github.com/pwlog/pwlog/vfs"
)

// TestDeletedFileRetractedAfterKill: a file of a Retract source is deleted while another source, earlier in
// the pipeline, has more new rows than BatchRows: an execution killed
// after its first commit, then one run to completion, must still retract
// the deleted file's rows.
func TestDeletedFileRetractedAfterKill(t *testing.T) {
	for k := int64(0); ; k++ {
		dir := t.TempDir()
		a, b, root := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "root")
		for _, d := range []string{a, b, root} {
			os.MkdirAll(d, 0o755)
		}
		os.WriteFile(filepath.Join(b, "old.csv"), []byte("y\n1\n"), 0o644)
		run := func(root string, fsys vfs.FS) error {
			p := pwlog.New()
			p.ReadCSV("a", a, pwlog.Schema{{Name: "x", Type: pwlog.TypeInt}})
			p.ReadCSV("b", b, pwlog.Schema{{Name: "y", Type: pwlog.TypeInt}}, pwlog.FileOptions{Retract: true}).
				GroupBy().Reduce("count", pwlog.Out("n", pwlog.Count())).
				WriteCSV("out", filepath.Join(root, "out.csv"), pwlog.SinkOptions{Append: true})
			cfg := quietConfig(filepath.Join(root, "storage"))
			cfg.FS = fsys
			cfg.BatchRows = 1
			return p.Run(context.Background(), cfg)
		}
		if err := run(root, vfs.Default); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(b, "old.csv"))
		os.WriteFile(filepath.Join(a, "new.csv"), []byte("x\n1\n2\n"), 0o644)
		hit, _ := crashkit.Kill(root, k, run)
		if hit == nil {
			break
		}
		if err := run(root, vfs.Default); err != nil {
			t.Fatalf("k=%d: %v", k, err)
		}
		if got := consolidatedSigned(readSink(t, filepath.Join(root, "out.csv"))); len(got) != 0 {
			t.Fatalf("killed at %s (k=%d): the changelog consolidates to %v, want nothing: the deleted file's rows were never retracted",
				crashkit.DescribeHit(hit), k, got)
		}
	}
}
