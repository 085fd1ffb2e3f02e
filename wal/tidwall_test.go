package wal

// The tests of this file drive github.com/tidwall/wal itself, not the Log.
// Package wal copies some of tidwall's rules instead of calling them: the
// segment names (segmentName, parseSegmentName), the uvarint entry framing
// (entryLen, entrySize), the segment rollover rule (tailState.apply), the
// START/END recovery of an interrupted truncation (planTruncate), and the
// fsync of a segment before the next one starts (checkSealed's premise
// that a sealed segment is never torn). Each copy names the tidwall
// version it mirrors, tidwallVersion; each test here fails when tidwall
// stops following the rule the copy assumes, so that an upgrade of tidwall
// cannot silently make the copies wrong. TestSegmentRollover checks the
// Log's use of the rollover rule.

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/vfs"
	tidwal "github.com/tidwall/wal"
)

// tidwallVersion is the tidwall/wal version whose rules the package
// mirrors, as its comments name it.
const tidwallVersion = "v1.2.1"

// TestTidwallVersion fails when go.mod requires another tidwall/wal than
// the one the mirrored rules were checked against: check the rules named
// in this file's comment against the new version, then update
// tidwallVersion and the comments that name it.
func TestTidwallVersion(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 && f[0] == "github.com/tidwall/wal" {
			if f[1] != tidwallVersion {
				t.Fatalf("go.mod requires tidwall/wal %s; the package mirrors the rules of %s", f[1], tidwallVersion)
			}
			return
		}
	}
	t.Fatal("go.mod does not require github.com/tidwall/wal")
}

// twOpen opens a tidwall log in dir the way the tests here need it.
func twOpen(t *testing.T, dir string, segSize int) *tidwal.Log {
	t.Helper()
	tw, err := tidwal.Open(dir, &tidwal.Options{NoSync: true, SegmentSize: segSize, AllowEmpty: true})
	if err != nil {
		t.Fatalf("tidwall open %s: %v", dir, err)
	}
	return tw
}

func twWrite(t *testing.T, tw *tidwal.Log, first uint64, entries ...[]byte) {
	t.Helper()
	var b tidwal.Batch
	for i, e := range entries {
		b.Write(first+uint64(i), e)
	}
	if err := tw.WriteBatch(&b); err != nil {
		t.Fatalf("tidwall write at %d: %v", first, err)
	}
}

// segmentFiles maps the segment files of dir, by parseSegmentName, to
// their contents.
func segmentFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	segs, err := listSegments(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, s := range segs {
		b, err := os.ReadFile(s.path)
		if err != nil {
			t.Fatal(err)
		}
		m[filepath.Base(s.path)] = string(b)
	}
	return m
}

// TestTidwallEntries checks the segment names and the entry framing that
// package wal parses against the files tidwall writes: a segment is named
// by the index of its first entry, every file tidwall writes is a segment
// to parseSegmentName, and an entry is a uvarint length and that many
// bytes (entryLen, entrySize), whose cut-off last entry tidwall's Open
// refuses as entryLen does.
func TestTidwallEntries(t *testing.T) {
	dir := t.TempDir()
	tw := twOpen(t, dir, 1000)
	rng := rand.New(rand.NewSource(14))
	// Lengths around every uvarint width up to four bytes.
	var want [][]byte
	for _, n := range []int{0, 1, 127, 128, 500, 16383, 16384, 1<<21 - 1, 1 << 21, 3, 999, 1000} {
		want = append(want, randomBytes(rng, n))
	}
	for i := 0; i < 60; i++ {
		want = append(want, randomBytes(rng, rng.Intn(300)))
	}
	for i := 0; i < len(want); {
		n := min(1+rng.Intn(4), len(want)-i)
		twWrite(t, tw, uint64(i+1), want[i:i+n]...)
		i += n
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	// Names tidwall does not load as segments, and neither does package
	// wal; as segments they would change its first or last index.
	for _, name := range []string{"00000000000000000000", "1800000000000000000x", "18000000000000000000x"} {
		writeFile(t, filepath.Join(dir, name), nil)
	}

	segs, err := listSegments(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 5 || len(segs) != len(des)-3 {
		t.Fatalf("%d segments of %d files", len(segs), len(des))
	}
	lsn := uint64(1)
	for _, s := range segs {
		if s.start != lsn {
			t.Fatalf("segment %s holds LSNs from %d", filepath.Base(s.path), lsn)
		}
		data, err := os.ReadFile(s.path)
		if err != nil {
			t.Fatal(err)
		}
		it := newFrameIter(s, data)
		for it.next(lengthOnly) {
			n, m := entryLen(data[it.cur.off:])
			if got := data[it.cur.off+m : it.cur.off+it.cur.size]; !bytes.Equal(got, want[it.cur.lsn-1]) {
				t.Fatalf("entry %d: %d bytes, tidwall wrote %d", it.cur.lsn, len(got), len(want[it.cur.lsn-1]))
			}
			if entrySize(n) != it.cur.size {
				t.Fatalf("entry %d of %d bytes takes %d bytes, entrySize says %d", it.cur.lsn, n, it.cur.size, entrySize(n))
			}
		}
		if it.err != nil || it.off != len(data) {
			t.Fatalf("segment %s: stopped at %d of %d: %v", filepath.Base(s.path), it.off, len(data), it.err)
		}
		lsn = it.lsn
	}
	if lsn != uint64(len(want))+1 {
		t.Fatalf("the segments hold LSNs up to %d, tidwall wrote %d", lsn-1, len(want))
	}
	tw = twOpen(t, dir, 1000)
	first, err1 := tw.FirstIndex()
	last, err2 := tw.LastIndex()
	if err := errors.Join(err1, err2, tw.Close()); err != nil || first != 1 || last != uint64(len(want)) {
		t.Fatalf("tidwall reopened: %d..%d, %v", first, last, err)
	}

	// A last entry cut short: entryLen refuses it, and so does tidwall's
	// Open, which is why repair cuts it first.
	dir = t.TempDir()
	tw = twOpen(t, dir, 1000)
	twWrite(t, tw, 1, want[:3]...)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	s := segment{start: 1, path: filepath.Join(dir, base.SegmentName(1))}
	data, err := os.ReadFile(s.path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, s.path, data[:len(data)-1])
	it := newFrameIter(s, data[:len(data)-1])
	for it.next(lengthOnly) {
	}
	if it.err == nil || it.lsn != 3 {
		t.Fatalf("cut-off entry: stopped at LSN %d: %v", it.lsn, it.err)
	}
	if _, err := tidwal.Open(dir, &tidwal.Options{NoSync: true, AllowEmpty: true}); !errors.Is(err, tidwal.ErrCorrupt) {
		t.Fatalf("tidwall opened a log with a cut-off entry: %v", err)
	}
}

// TestTidwallRollover writes batches through tidwall and checks its
// segment files after each against tailState.apply, reopening now and
// then with another SegmentSize so that tails at and above the size
// occur before a batch.
func TestTidwallRollover(t *testing.T) {
	dir := t.TempDir()
	segSize := 300
	tw := twOpen(t, dir, segSize)
	rng := rand.New(rand.NewSource(15))
	tail := tailState{start: 1}
	last := uint64(0)
	nsegs := 1
	// Entries of 21, 50, 100, 150, 300 and 722 bytes: tails of exactly
	// SegmentSize occur.
	bodies := []int{20, 49, 99, 148, 298, 720}
	var exactAfter, exactBefore, overBefore int
	for i := 0; i < 200; i++ {
		if i%6 == 5 {
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			switch r := rng.Intn(3); {
			case r == 0 && tail.bytes >= 100:
				segSize = tail.bytes
			case r == 1 && tail.bytes > 1:
				segSize = tail.bytes / 2
			default:
				segSize = []int{100, 150, 300}[rng.Intn(3)]
			}
			tw = twOpen(t, dir, segSize)
		}
		var entries [][]byte
		var sizes []int
		for range 1 + rng.Intn(3) {
			e := randomBytes(rng, bodies[rng.Intn(len(bodies))])
			entries = append(entries, e)
			sizes = append(sizes, entrySize(len(e)))
		}
		// Count the boundary cases the rule decides.
		switch {
		case tail.bytes > segSize:
			overBefore++
		case tail.bytes == segSize && sizes[0] < segSize:
			exactBefore++
		}
		for k, b := 0, tail.bytes; k < len(sizes); k++ {
			if b > segSize {
				b = 0
			}
			if b += sizes[k]; b == segSize {
				exactAfter++
			}
		}
		nsegs += tail.apply(last, sizes, segSize)
		twWrite(t, tw, last+1, entries...)
		last += uint64(len(entries))

		segs, err := listSegments(vfs.Default, dir)
		if err != nil {
			t.Fatal(err)
		}
		s := segs[len(segs)-1]
		fi, err := os.Stat(s.path)
		if err != nil {
			t.Fatal(err)
		}
		if len(segs) != nsegs || s.start != tail.start || int(fi.Size()) != tail.bytes {
			t.Fatalf("batch %d (SegmentSize %d, entries %v): tidwall has %d segments, the last %s of %d bytes; the rule says %d, %s of %d bytes",
				i, segSize, sizes, len(segs), filepath.Base(s.path), fi.Size(), nsegs, base.SegmentName(tail.start), tail.bytes)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d segments; boundaries: %d exact after an entry, %d exact before a batch, %d over before a batch",
		nsegs, exactAfter, exactBefore, overBefore)
	if nsegs < 50 || exactAfter == 0 || exactBefore == 0 || overBefore == 0 {
		t.Fatal("the test does not exercise every case of the rule")
	}
}

// TestTidwallTruncateRecovery makes tidwall's own TruncateFront and
// TruncateBack stop part way, leaving the files a crash there leaves, and
// checks that finishTruncate (planTruncate) completes each as tidwall's
// Open does: the same segment files with the same contents. A non-empty
// directory where tidwall removes a segment or renames its .START file
// stops it there.
func TestTidwallTruncateRecovery(t *testing.T) {
	// Segments 1, 5, 9, 13, 17 of four entries each and 21 of two.
	src := t.TempDir()
	tw := twOpen(t, src, 100)
	for i := uint64(1); i <= 22; i++ {
		twWrite(t, tw, i, bytes.Repeat([]byte{byte(i)}, 24))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(segmentFiles(t, src)); got != 6 {
		t.Fatalf("%d segments", got)
	}
	type crash struct {
		name  string
		front bool   // TruncateFront, else TruncateBack
		lsn   uint64 // the argument
		block uint64 // the name, as an LSN, where tidwall stops
		more  func(t *testing.T, dir string)
	}
	removeSeg := func(lsn uint64) func(*testing.T, string) { return removeFile(base.SegmentName(lsn)) }
	crashes := []crash{
		{name: "front, nothing removed", front: true, lsn: 10, block: 1},
		{name: "front, one removed", front: true, lsn: 10, block: 5},
		{name: "front, all but the kept one removed", front: true, lsn: 10, block: 9},
		{name: "front, all removed, not renamed", front: true, lsn: 10, block: 10},
		{name: "front at a segment start", front: true, lsn: 9, block: 5},
		{name: "front, with a .START.TEMP", front: true, lsn: 10, block: 5, more: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, base.SegmentName(12)+".START.TEMP"), []byte("part"))
		}},
		{name: "back, nothing removed", lsn: 10, block: 9},
		{name: "back, one removed", lsn: 10, block: 13},
		{name: "back, all but the last removed", lsn: 10, block: 21},
		{name: "back, all removed, not renamed", lsn: 10, block: 21, more: removeSeg(21)},
		{name: "back at a segment end", lsn: 8, block: 13},
	}
	for _, c := range crashes {
		t.Run(c.name, func(t *testing.T) {
			img := copyDir(t, src)
			tw := twOpen(t, img, 100)
			// The segment to truncate, read now, is cached: tidwall does
			// not read its file again.
			if _, err := tw.Read(c.lsn); err != nil {
				t.Fatal(err)
			}
			blocked := filepath.Join(img, base.SegmentName(c.block))
			saved, _ := os.ReadFile(blocked)
			if err := os.RemoveAll(blocked); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(blocked, 0o750); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(blocked, "x"), nil)
			var err error
			if c.front {
				err = tw.TruncateFront(c.lsn)
			} else {
				err = tw.TruncateBack(c.lsn)
			}
			if err == nil {
				t.Fatalf("tidwall's truncation did not stop at %s", base.SegmentName(c.block))
			}
			tw.Close()
			if err := os.RemoveAll(blocked); err != nil {
				t.Fatal(err)
			}
			if saved != nil {
				writeFile(t, blocked, saved)
			}
			if c.more != nil {
				c.more(t, img)
			}

			des, err := os.ReadDir(img)
			if err != nil {
				t.Fatal(err)
			}
			plan, perr := planTruncate(img, des)
			if perr != nil || len(plan.steps) != 1 {
				t.Fatalf("plan %+v, %v", plan, perr)
			}
			planned := map[string]string{}
			for _, s := range plan.segs {
				b, err := os.ReadFile(s.path)
				if err != nil {
					t.Fatal(err)
				}
				planned[base.SegmentName(s.start)] = string(b)
			}

			theirs := copyDir(t, img)
			tw = twOpen(t, theirs, 100)
			first, err1 := tw.FirstIndex()
			last, err2 := tw.LastIndex()
			if err := errors.Join(err1, err2, tw.Close()); err != nil {
				t.Fatal(err)
			}
			if c.front && first != c.lsn || !c.front && last != c.lsn {
				t.Fatalf("tidwall's Open completed the truncation to %d..%d", first, last)
			}
			ours := copyDir(t, img)
			if err := finishTruncate(ours, &Options{FS: vfs.Default, NoSync: true, Logger: quietLogger()}); err != nil {
				t.Fatal(err)
			}
			want := segmentFiles(t, theirs)
			for name, files := range map[string]map[string]string{"finishTruncate": segmentFiles(t, ours), "planTruncate": planned} {
				if !maps.Equal(files, want) {
					t.Fatalf("%s leads to segments %v, tidwall's Open to %v",
						name, slices.Sorted(maps.Keys(files)), slices.Sorted(maps.Keys(want)))
				}
			}
			if left := snapshot(t, ours); len(left) != len(want) {
				t.Fatalf("finishTruncate left %v", slices.Sorted(maps.Keys(left)))
			}
		})
	}

	t.Run("front and back", func(t *testing.T) {
		img := copyDir(t, src)
		writeFile(t, filepath.Join(img, base.SegmentName(10)+".START"), nil)
		writeFile(t, filepath.Join(img, base.SegmentName(13)+".END"), nil)
		if _, err := tidwal.Open(img, &tidwal.Options{NoSync: true, AllowEmpty: true}); !errors.Is(err, tidwal.ErrCorrupt) {
			t.Fatalf("tidwall's Open: %v", err)
		}
		des, err := os.ReadDir(img)
		if err != nil {
			t.Fatal(err)
		}
		if _, perr := planTruncate(img, des); perr == nil {
			t.Fatal("planTruncate accepted interrupted truncations of both ends")
		}
	})
}

// TestTidwallSyncsSealedSegments: tidwall fsyncs the tail segment before
// it creates the next one, and on Close, even with NoSync; checkSealed
// counts on it (a sealed segment is never torn). The tail segment here is
// a link to /dev/null, whose fsync fails, so that the fsync shows.
func TestTidwallSyncsSealedSegments(t *testing.T) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	serr := f.Sync()
	f.Close()
	if !errors.Is(serr, syscall.EINVAL) {
		t.Skipf("fsync of %s does not fail here (%v): the test cannot see fsyncs", os.DevNull, serr)
	}
	dir := t.TempDir()
	if err := os.Symlink(os.DevNull, filepath.Join(dir, base.SegmentName(1))); err != nil {
		t.Skip(err)
	}
	tw := twOpen(t, dir, 100)
	// Inside the segment, with NoSync: no fsync.
	twWrite(t, tw, 1, make([]byte, 10))
	// Past the segment size: an fsync, then the next segment.
	var b tidwal.Batch
	b.Write(2, make([]byte, 100))
	if err := tw.WriteBatch(&b); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("a write that starts a segment: %v, want the fsync's EINVAL", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, base.SegmentName(3))); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("tidwall created the next segment before the fsync of the last (%v)", err)
	}
	if err := tw.Close(); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("Close: %v, want the fsync's EINVAL", err)
	}
}
