package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	randv2 "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/vfs/errorfs"
)

// keepFixture is a log directory left by a crash inside TruncateFront(k)
// right after stageStart: the KEEP file is durable, nothing else began.
type keepFixture struct {
	dir  string
	o    *Options
	k    uint64
	all  []Record // every record appended, LSN i+1 at index i
	segs []string // the segments before the truncation
	g    *batchGen
}

// newKeepFixture writes batches until the log has four segments and
// stages the truncation to k, chosen by at from the segments and the last
// LSN.
func newKeepFixture(t *testing.T, at func(segs []string, last uint64) uint64) *keepFixture {
	t.Helper()
	f := &keepFixture{dir: t.TempDir(), o: &Options{SegmentSize: 256, Logger: quietLogger()},
		g: &batchGen{rng: rand.New(rand.NewSource(21))}}
	l := mustOpen(t, f.dir, f.o)
	for len(segNames(t, f.dir)) < 4 {
		recs := f.g.batch(3, 60)
		mustAppend(t, l, recs)
		f.all = append(f.all, cloneRecs(recs)...)
	}
	f.segs = segNames(t, f.dir)
	f.k = at(f.segs, l.LastLSN())
	stageKeep(t, l, f.k)
	mustClose(t, l)
	return f
}

func (f *keepFixture) keepName() string { return base.SegmentName(f.k) + base.KeepSuffix }

// older returns the segments tidwall's truncation to k removes: those
// starting at or before k (it renames its START file over the one that
// starts at k).
func (f *keepFixture) older(t *testing.T) []string {
	var out []string
	for _, name := range f.segs {
		if mustParse(t, name) <= f.k {
			out = append(out, name)
		}
	}
	return out
}

// checkLater opens dir, checks that it holds the records from k on and
// no KEEP file, then appends until a new segment starts, empties the log
// (TruncateFront past the last LSN, as the engine does once a checkpoint
// covers it), appends again and reopens: whatever the first Open left
// must not come back.
func (f *keepFixture) checkLater(t *testing.T, dir string) {
	t.Helper()
	l, err := Open(dir, f.o)
	if err != nil {
		t.Fatalf("Open: %v (files %v)", err, names(t, dir))
	}
	if l.FirstLSN() != f.k || l.LastLSN() != uint64(len(f.all)) {
		mustClose(t, l)
		t.Fatalf("Open: first %d last %d, want %d %d (files %v)", l.FirstLSN(), l.LastLSN(), f.k, len(f.all), names(t, dir))
	}
	checkRecords(t, replayAll(t, l, 0), f.all[f.k-1:])
	if left, _ := filepath.Glob(filepath.Join(dir, "*"+base.KeepSuffix+"*")); len(left) > 0 {
		t.Errorf("Open left %v", left)
	}
	g := &batchGen{rng: rand.New(rand.NewSource(22)), seq: 1000}
	start := len(segNames(t, dir))
	for len(segNames(t, dir)) < start+2 {
		mustAppend(t, l, g.batch(3, 60))
	}
	last := l.LastLSN()
	if err := l.TruncateFront(last + 1); err != nil {
		t.Fatal(err)
	}
	tail := g.batch(2, 60)
	mustAppend(t, l, tail)
	mustClose(t, l)
	l, err = Open(dir, f.o)
	if err != nil {
		t.Fatalf("reopen after the log was emptied at %d: %v (files %v)", last+1, err, names(t, dir))
	}
	defer mustClose(t, l)
	if l.FirstLSN() != last+1 {
		t.Fatalf("reopen: first %d, want %d", l.FirstLSN(), last+1)
	}
	checkRecords(t, replayAll(t, l, 0), tail)
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

// keepPoints are the truncations the tests stage: inside the second
// segment, and past the last LSN (emptying the log, an empty KEEP file).
var keepPoints = []struct {
	name string
	at   func(segs []string, last uint64) uint64
}{
	{"inside a segment", func(segs []string, _ uint64) uint64 {
		s, _ := base.ParseSegmentName(segs[1])
		return s + 1
	}},
	{"emptying the log", func(_ []string, last uint64) uint64 { return last + 1 }},
}

// TestFinishTruncateAfterCrashedRename: Open finishes an interrupted
// front truncation by giving the KEEP file's content the segment's name.
// When that was a rename, a crash before the directory fsync could keep
// both names, as two links of one file (vfs.Recorder's crash images); the
// next Open's rename of one onto the other did nothing (rename(2) on two
// links of one file), so the KEEP file stayed a name of the first
// segment, grew with it, outlived its removal by a later truncation, and
// the Open after that applied it again: "segment holds LSNs 4..9 but the
// next segment 00000000000000000016 starts at 16" (TestCrashStateMachine).
func TestFinishTruncateAfterCrashedRename(t *testing.T) {
	for _, p := range keepPoints {
		t.Run(p.name, func(t *testing.T) {
			f := newKeepFixture(t, p.at)
			dir := copyDir(t, f.dir)
			// What tidwall's truncation and the crashed Open left: the
			// older segments gone, the segment and the KEEP file one file.
			for _, name := range f.older(t) {
				removeFile(name)(t, dir)
			}
			seg := filepath.Join(dir, base.SegmentName(f.k))
			if err := os.Remove(seg); err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			if err := os.Link(filepath.Join(dir, f.keepName()), seg); err != nil {
				t.Fatal(err)
			}
			f.checkLater(t, dir)
		})
	}
}

// TestFinishTruncateCrashImages crashes the Open that finishes an
// interrupted front truncation at each of its mutating operations and
// builds crash images (vfs.Recorder, which keeps what was synced and a
// random part of the rest: a name changed since the last directory fsync
// may keep its old or its new binding, independently of the others).
// Every image must open with the records from the truncation point on,
// and leave no KEEP file to be applied again later.
func TestFinishTruncateCrashImages(t *testing.T) {
	const seeds = 12
	for _, p := range keepPoints {
		for _, v := range []struct {
			name   string
			damage func(t *testing.T, f *keepFixture, dir string)
		}{
			{"tidwall's truncation not begun", func(*testing.T, *keepFixture, string) {}},
			{"tidwall's truncation done", func(t *testing.T, f *keepFixture, dir string) {
				for _, name := range f.older(t) {
					removeFile(name)(t, dir)
				}
				keep, err := os.ReadFile(filepath.Join(dir, f.keepName()))
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(dir, base.SegmentName(f.k)), keep)
			}},
		} {
			t.Run(p.name+"/"+v.name, func(t *testing.T) {
				f := newKeepFixture(t, p.at)
				staged := copyDir(t, f.dir)
				v.damage(t, f, staged)
				cnt := errorfs.NewCounter(errorfs.Mutating)
				o := *f.o
				o.FS = errorfs.Wrap(vfs.Default, cnt)
				l, err := Open(copyDir(t, staged), &o)
				if err != nil {
					t.Fatal(err)
				}
				n := cnt.Count()
				mustClose(t, l)
				for k := int64(0); k < n; k++ {
					for seed := uint64(0); seed < seeds; seed++ {
						t.Run(fmt.Sprintf("op%d/seed%d", k, seed), func(t *testing.T) {
							root := copyDir(t, staged)
							rec, err := vfs.NewRecorder(root)
							if err != nil {
								t.Fatal(err)
							}
							at := errorfs.NewOnIndex(k, syscall.EIO, errorfs.Mutating)
							o := *f.o
							o.FS = errorfs.Wrap(rec, errorfs.NewSticky(at))
							if l, err := Open(root, &o); err == nil {
								_ = l.Close()
							}
							img := filepath.Join(t.TempDir(), "img")
							if err := rec.CrashImage(randv2.New(randv2.NewPCG(seed, uint64(k))), img); err != nil {
								t.Fatal(err)
							}
							before := names(t, img)
							f.checkLater(t, img)
							if t.Failed() {
								t.Logf("crash at %v; the image held %v", at.Hit(), before)
							}
						})
					}
				}
			})
		}
	}
}

// TestRepairRenameLeftBothNames: a tail repair renames a segment after
// the last commit to <segment>.broken; a crash before the directory fsync
// can keep both names as two links of one file, and the next Open's
// rename of one onto the other does nothing (rename(2)). The segment must
// still go.
func TestRepairRenameLeftBothNames(t *testing.T) {
	dir := t.TempDir()
	o, _ := harnessOpts(false)
	o.SegmentSize = 256
	l := mustOpen(t, dir, o)
	g := &batchGen{rng: rand.New(rand.NewSource(23))}
	var want []Record
	for len(segNames(t, dir)) < 2 {
		recs := g.batch(3, 60)
		mustAppend(t, l, recs)
		want = append(want, cloneRecs(recs)...)
	}
	// Uncommitted records that fill whole segments.
	for i := 0; len(segNames(t, dir)) < 5; i++ {
		mustAppend(t, l, []Record{{Kind: 2, Data: fmt.Appendf(nil, "uncommitted %d", i)}})
	}
	segs := segNames(t, dir)
	mustClose(t, l)
	// The last segment that holds some of them (tidwall may have started
	// an empty one after it).
	last := segs[len(segs)-1]
	if fi, err := os.Stat(filepath.Join(dir, last)); err != nil || fi.Size() == 0 {
		last = segs[len(segs)-2]
	}
	if err := os.Link(filepath.Join(dir, last), filepath.Join(dir, last+base.BrokenSuffix)); err != nil {
		t.Fatal(err)
	}
	l = mustOpen(t, dir, o)
	defer mustClose(t, l)
	if l.LastLSN() != uint64(len(want)) {
		t.Fatalf("LastLSN %d, want %d", l.LastLSN(), len(want))
	}
	if got := segNames(t, dir); slices.Contains(got, last) {
		t.Fatalf("segments after Open %v still hold %s", got, last)
	}
	checkRecords(t, replayAll(t, l, 0), want)
}
