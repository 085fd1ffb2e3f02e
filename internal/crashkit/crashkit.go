// Package crashkit is the crash kit of pwlog's tests (the root package's
// crash, fault, damage and upgrade tests, and package fuzz): copying a
// storage's root directory, counting a run's mutating filesystem
// operations, crashing it at the k-th one and building a crash image
// (vfs.Recorder) or a killed process's directory, and reading what a
// crash leaves of an append-mode CSV changelog.
//
// A pipeline's storage and sinks live under a root directory that a
// vfs.Recorder watches; a run is crashed at its k-th mutating filesystem
// operation (errorfs, sticky: every later operation fails as if the
// machine had stopped); the Recorder's crash image of the root is what
// the next process finds. Inputs live outside the root: they are the
// user's files, durable before any run.
package crashkit

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/vfs/errorfs"
)

// Act is what a crash interrupts: a pipeline run or a compaction of the
// storage under root, writing through fsys.
type Act func(root string, fsys vfs.FS) error

// CountOps runs act on a copy of base and returns how many mutating
// filesystem operations it made: the crash points.
func CountOps(t testing.TB, base string, act Act) int64 {
	t.Helper()
	root := CopyTree(t, base)
	cnt := errorfs.NewCounter(errorfs.Mutating)
	if err := act(root, errorfs.Wrap(vfs.Default, cnt)); err != nil {
		t.Fatalf("run without faults: %v", err)
	}
	return cnt.Count()
}

// Crash runs act (a pipeline run, a compaction) on a copy of base,
// crashing it at the k-th mutating operation, and returns the crash
// image's root, the operation the crash hit (nil if act finished first)
// and what act returned.
func Crash(t testing.TB, base string, k int64, seed uint64, act Act) (img string, hit *errorfs.Op, runErr error) {
	t.Helper()
	return CrashIn(t, CopyTree(t, base), k, seed, act)
}

// CrashIn is Crash on root itself rather than a copy; root is left as
// the crashed run left it (what a killed process leaves), and the crash
// image is a new directory.
func CrashIn(t testing.TB, root string, k int64, seed uint64, act Act) (img string, hit *errorfs.Op, runErr error) {
	t.Helper()
	rec, err := vfs.NewRecorder(root)
	if err != nil {
		t.Fatal(err)
	}
	at := errorfs.NewOnIndex(k, syscall.EIO, errorfs.Mutating)
	runErr = act(root, errorfs.Wrap(rec, errorfs.NewSticky(at)))
	img = filepath.Join(t.TempDir(), "img")
	if err := rec.CrashImage(rand.New(rand.NewPCG(seed, uint64(k))), img); err != nil {
		t.Fatal(err)
	}
	return img, at.Hit(), runErr
}

// Kill runs act on root, stopping it at the k-th mutating operation as
// a killed process stops: that operation and every later one fail, and
// everything written before stays (the operating system has it). It
// returns the operation it stopped at (nil if act finished first) and
// what act returned.
func Kill(root string, k int64, act Act) (hit *errorfs.Op, runErr error) {
	at := errorfs.NewOnIndex(k, syscall.EIO, errorfs.Mutating)
	runErr = act(root, errorfs.Wrap(vfs.Default, errorfs.NewSticky(at)))
	return at.Hit(), runErr
}

// CopyTree copies the directory tree at src (which may be missing: an
// empty tree) into a new temporary directory and returns it.
func CopyTree(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "root")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if src == "" {
		return dst
	}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// Points returns the crash points to try out of n: all of them, or
// with PWLOG_CRASH_STRIDE=s every s-th (and the last).
func Points(n int64) []int64 {
	stride := int64(1)
	if s, err := strconv.ParseInt(os.Getenv("PWLOG_CRASH_STRIDE"), 10, 64); err == nil && s > 1 {
		stride = s
	}
	var ks []int64
	for k := int64(0); k < n; k += stride {
		ks = append(ks, k)
	}
	if ks[len(ks)-1] != n-1 {
		ks = append(ks, n-1)
	}
	return ks
}

// Seeds returns how many crash images to build per crash point:
// PWLOG_CRASH_SEEDS, default 2.
func Seeds() uint64 {
	if s, err := strconv.ParseUint(os.Getenv("PWLOG_CRASH_SEEDS"), 10, 64); err == nil && s > 0 {
		return s
	}
	return 2
}

// DescribeHit names the operation a crash hit.
func DescribeHit(hit *errorfs.Op) string {
	if hit == nil {
		return "no crash"
	}
	return fmt.Sprintf("crash at %s", hit)
}

// ParseLine parses a data line of a CSV sink (no line end): the row's
// columns as written, then the time and the diff.
func ParseLine(line string) (row string, time uint64, diff int64, ok bool) {
	i := strings.LastIndexByte(line, ',')
	j := strings.LastIndexByte(line[:max(i, 0)], ',')
	if i < 0 || j < 0 {
		return "", 0, 0, false
	}
	tm, err1 := strconv.ParseUint(line[j+1:i], 10, 64)
	d, err2 := strconv.ParseInt(line[i+1:], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, 0, false
	}
	return line[:j], tm, d, true
}

// CompleteTimes returns the prefix of a CSV changelog that a crash cannot
// have torn: the lines up to the first that is incomplete or damaged (an
// unwritten sector reads as zeros), less the last time among them, header
// included. It assumes no row holds a line end.
func CompleteTimes(b []byte) []byte {
	var lines [][]byte
	var times []uint64
	for i, l := range bytes.SplitAfter(b, []byte("\n")) {
		if len(l) == 0 || l[len(l)-1] != '\n' || bytes.IndexByte(l, 0) >= 0 {
			break
		}
		var t uint64 // the header's
		if i > 0 {
			_, tm, _, ok := ParseLine(string(l[:len(l)-1]))
			if !ok {
				break
			}
			t = tm
		}
		times = append(times, t)
		lines = append(lines, l)
	}
	if len(lines) < 2 {
		return nil
	}
	n := len(lines)
	last := times[n-1]
	for n > 1 && times[n-1] == last {
		n--
	}
	return bytes.Join(lines[:n], nil)
}

// CheckKept fails unless the changelog after a restart starts with kept,
// what the crashed execution had left in it, and shows where they part.
func CheckKept(t testing.TB, what string, kept, after []byte) {
	t.Helper()
	if bytes.HasPrefix(after, kept) {
		return
	}
	i := 0
	for i < len(kept) && i < len(after) && kept[i] == after[i] {
		i++
	}
	from := bytes.LastIndexByte(kept[:i], '\n') + 1
	t.Fatalf("%s: the changelog lost what the crashed execution had written: at byte %d it left\n%q\nand the recovered changelog has\n%q",
		what, i, kept[from:min(len(kept), i+200)], after[from:min(len(after), i+200)])
}

// CheckpointState reads the whole state of a storage's checkpoint: per
// arrangement, its runs merged; nothing when there is no checkpoint.
func CheckpointState(t testing.TB, storage string) map[compaction.ArrKey]differential.Deltas {
	t.Helper()
	b, err := backend.NewFilesystem(filepath.Join(storage, "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := compaction.Latest(ctx, b)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m == nil {
		return nil
	}
	runs := map[compaction.ArrKey][]differential.Deltas{}
	for _, r := range m.Runs {
		d, err := compaction.LoadRun(ctx, b, r)
		if err != nil {
			t.Fatal(err)
		}
		k := compaction.ArrKey{Operator: r.Operator, Arrangement: r.Arrangement}
		runs[k] = append(runs[k], d)
	}
	out := map[compaction.ArrKey]differential.Deltas{}
	for k, ds := range runs {
		out[k] = checkpoint.Merge(ds...)
	}
	return out
}

// EqualDeltas reports whether two states hold the same entries.
func EqualDeltas(a, b differential.Deltas) bool {
	return slices.Equal(a.Groups, b.Groups) && slices.Equal(a.Keys, b.Keys) &&
		slices.Equal(a.Rows, b.Rows) && slices.Equal(a.Diffs, b.Diffs)
}
