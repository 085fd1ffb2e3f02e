package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/vfs"
)

// snapshot maps every entry of dir to its content ("dir" for a
// directory); nil when dir does not exist.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	snap := map[string]string{}
	for _, de := range des {
		if de.IsDir() {
			snap[de.Name()] = "dir"
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			t.Fatal(err)
		}
		snap[de.Name()] = string(b)
	}
	return snap
}

// readOnlyFS fails the test on any call that could change the files.
type readOnlyFS struct {
	vfs.FS
	t *testing.T
}

func (f readOnlyFS) refuse(op, name string) error {
	f.t.Errorf("Scan called %s %s", op, name)
	return fs.ErrPermission
}

func (f readOnlyFS) OpenFile(name string, flag int, perm fs.FileMode) (vfs.File, error) {
	if flag != os.O_RDONLY {
		return nil, f.refuse(fmt.Sprintf("OpenFile(%#x)", flag), name)
	}
	return f.FS.OpenFile(name, flag, perm)
}
func (f readOnlyFS) Rename(oldname, newname string) error   { return f.refuse("Rename", oldname) }
func (f readOnlyFS) Link(oldname, newname string) error     { return f.refuse("Link", oldname) }
func (f readOnlyFS) Remove(name string) error               { return f.refuse("Remove", name) }
func (f readOnlyFS) Mkdir(name string, _ fs.FileMode) error { return f.refuse("Mkdir", name) }
func (f readOnlyFS) SyncDir(name string) error              { return f.refuse("SyncDir", name) }
func (f readOnlyFS) Lock(name string) (vfs.File, error)     { return nil, f.refuse("Lock", name) }

// scanned is what one Scan gave.
type scanned struct {
	info     Info
	entries  []Entry // Data copied
	progress [][2]int64
}

// records returns the delivered records; committed only those.
func (s *scanned) records(committed bool) []Record {
	var recs []Record
	for _, e := range s.entries {
		if e.Committed || !committed {
			recs = append(recs, e.Record)
		}
	}
	return recs
}

func (s *scanned) lsns() []uint64 {
	var lsns []uint64
	for _, e := range s.entries {
		lsns = append(lsns, e.LSN)
	}
	return lsns
}

// scanChecked scans dir and checks what holds for any log: nothing
// changed, every entry is the frame at its place, LSNs increase,
// Committed agrees with LastCommitLSN, Progress ends at its total.
func scanChecked(t *testing.T, dir string) *scanned {
	t.Helper()
	before := snapshot(t, dir)
	s := &scanned{}
	info, err := Scan(dir, &ScanOptions{FS: readOnlyFS{vfs.Default, t}, Progress: func(done, total int64) {
		s.progress = append(s.progress, [2]int64{done, total})
	}}, func(e Entry) error {
		e.Data = bytes.Clone(e.Data)
		s.entries = append(s.entries, e)
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", dir, err)
	}
	s.info = info
	if after := snapshot(t, dir); !maps.Equal(before, after) {
		t.Fatalf("Scan changed %s:\nbefore %v\nafter  %v", dir, slices.Sorted(maps.Keys(before)), slices.Sorted(maps.Keys(after)))
	}
	files := map[string][]byte{}
	for i, e := range s.entries {
		if i > 0 && e.LSN <= s.entries[i-1].LSN {
			t.Fatalf("LSN %d delivered after %d", e.LSN, s.entries[i-1].LSN)
		}
		if e.Committed != (e.LSN <= info.LastCommitLSN) {
			t.Fatalf("LSN %d: Committed %v with LastCommitLSN %d", e.LSN, e.Committed, info.LastCommitLSN)
		}
		b, ok := files[e.File]
		if !ok {
			if b, err = os.ReadFile(e.File); err != nil {
				t.Fatal(err)
			}
			files[e.File] = b
		}
		n, m := entryLen(b[e.Offset:])
		if m <= 0 || m+n != e.Size {
			t.Fatalf("LSN %d: entry at %s offset %d is not %d bytes", e.LSN, e.File, e.Offset, e.Size)
		}
		lsn, kind, body, err := DecodeFrame(b[e.Offset+int64(m) : e.Offset+int64(e.Size)])
		if err != nil || lsn != e.LSN || kind != e.Kind || !bytes.Equal(body, e.Data) {
			t.Fatalf("LSN %d: the entry at %s offset %d decodes to LSN %d (%v)", e.LSN, e.File, e.Offset, lsn, err)
		}
	}
	if len(s.progress) < max(len(info.Segments), 1) {
		t.Fatalf("%d Progress calls for %d segments", len(s.progress), len(info.Segments))
	}
	for i, p := range s.progress {
		if p[1] != info.Bytes || p[0] > p[1] || (i > 0 && p[0] < s.progress[i-1][0]) {
			t.Fatalf("Progress calls %v for %d bytes", s.progress, info.Bytes)
		}
	}
	if last := s.progress[len(s.progress)-1]; last[0] != last[1] {
		t.Fatalf("the last Progress call is %v", last)
	}
	return s
}

// segmentBytes is the size of every segment file of dir.
func segmentBytes(t *testing.T, dir string) int64 {
	t.Helper()
	segs, err := listSegments(vfs.Default, dir)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, s := range segs {
		fi, err := os.Stat(s.path)
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	return total
}

// checkOpenAgrees opens dir after a Scan without problems: Open keeps
// exactly the committed entries and cuts exactly TailBytes.
func checkOpenAgrees(t *testing.T, dir string, s *scanned) {
	t.Helper()
	if len(s.info.Problems) > 0 {
		t.Fatalf("problems: %v", s.info.Problems)
	}
	before := segmentBytes(t, dir)
	o, _ := harnessOpts(false)
	l := mustOpen(t, dir, o)
	defer mustClose(t, l)
	last := s.info.LastCommitLSN
	if last == 0 {
		last = s.info.FirstLSN - 1
	}
	if l.FirstLSN() != s.info.FirstLSN || l.LastLSN() != last {
		t.Fatalf("Open: LSNs %d..%d, Scan: first %d, last commit %d", l.FirstLSN(), l.LastLSN(), s.info.FirstLSN, s.info.LastCommitLSN)
	}
	if cut := before - segmentBytes(t, dir); cut != s.info.TailBytes {
		t.Fatalf("Open cut %d bytes, Scan said %d", cut, s.info.TailBytes)
	}
	checkRecords(t, replayAll(t, l, 1), s.records(true))
}

func TestScanHealthy(t *testing.T) {
	dir := t.TempDir()
	o := &Options{SegmentSize: 700, NoSync: true, Logger: quietLogger()}
	l := mustOpen(t, dir, o)
	g := &batchGen{rng: rand.New(rand.NewSource(11))}
	large := bytes.Repeat([]byte("a compressible body, stored snappy-compressed\n"), 40)
	for i := 0; i < 40; i++ {
		recs := g.batch(4, 100)
		if i == 20 {
			recs = append([]Record{{Kind: 3, Data: large}}, recs...)
		}
		mustAppend(t, l, recs)
	}
	mustClose(t, l)
	if n := len(segNames(t, dir)); n < 5 {
		t.Fatalf("only %d segments", n)
	}

	s := scanChecked(t, dir)
	info := s.info
	if len(info.Problems) > 0 || info.TailBytes != 0 || info.TailDamage != "" || len(info.Interrupted) > 0 || len(info.Broken) > 0 {
		t.Fatalf("healthy log: %+v", info)
	}
	abs, _ := filepath.Abs(dir)
	if info.Dir != abs {
		t.Fatalf("Dir %q, want %q", info.Dir, abs)
	}
	var total int64
	for i, sg := range info.Segments {
		fi, err := os.Stat(sg.Path)
		if err != nil {
			t.Fatal(err)
		}
		if sg.Bytes != fi.Size() || filepath.Base(sg.Path) != base.SegmentName(sg.FirstLSN) {
			t.Fatalf("segment %+v, file of %d bytes", sg, fi.Size())
		}
		if i > 0 && sg.FirstLSN != info.Segments[i-1].LastLSN+1 || sg.LastLSN < sg.FirstLSN {
			t.Fatalf("segments not continuous: %+v", info.Segments)
		}
		total += sg.Bytes
	}
	if len(info.Segments) != len(segNames(t, dir)) || info.Bytes != total || info.Bytes != segmentBytes(t, dir) {
		t.Fatalf("%d segments, %d bytes; the directory holds %v, %d bytes", len(info.Segments), info.Bytes, segNames(t, dir), segmentBytes(t, dir))
	}
	if info.FirstLSN != info.Segments[0].FirstLSN || info.LastLSN != info.Segments[len(info.Segments)-1].LastLSN || info.LastCommitLSN != info.LastLSN {
		t.Fatalf("info %+v", info)
	}
	for _, e := range s.entries {
		if !e.Committed {
			t.Fatalf("LSN %d not committed", e.LSN)
		}
	}
	compressed := slices.ContainsFunc(rawFrames(t, dir), func(f rawFrame) bool { return f.frame[2]&flagSnappy != 0 })
	if !compressed {
		t.Fatal("no snappy frame in the log")
	}

	l = mustOpen(t, dir, o)
	if l.FirstLSN() != info.FirstLSN || l.LastLSN() != info.LastLSN {
		t.Fatalf("Open: LSNs %d..%d, Scan: %d..%d", l.FirstLSN(), l.LastLSN(), info.FirstLSN, info.LastLSN)
	}
	checkRecords(t, s.records(false), replayAll(t, l, 1))
	mustClose(t, l)

	// fn may be nil; an error from fn comes back as is.
	if again, err := Scan(dir, nil, nil); err != nil || !slices.Equal(again.Segments, info.Segments) || again.LastLSN != info.LastLSN {
		t.Fatalf("Scan without fn: %+v, %v", again, err)
	}
	stop := errors.New("stop")
	calls := 0
	if _, err := Scan(dir, nil, func(Entry) error { calls++; return stop }); err != stop || calls != 1 {
		t.Fatalf("Scan with a failing fn: %v after %d calls", err, calls)
	}
}

func TestScanEmptyAndMissing(t *testing.T) {
	dir := t.TempDir()
	s := scanChecked(t, dir)
	if s.info.FirstLSN != 1 || s.info.LastLSN != 0 || len(s.info.Segments) != 0 || len(s.entries) != 0 {
		t.Fatalf("empty directory: %+v", s.info)
	}

	missing := filepath.Join(dir, "missing")
	if _, err := Scan(missing, &ScanOptions{FS: readOnlyFS{vfs.Default, t}}, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Scan of a missing directory: %v", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Scan created %s", missing)
	}

	// A log emptied by TruncateFront keeps its numbering.
	o, _ := harnessOpts(false)
	l := mustOpen(t, dir, o)
	for i := 0; i < 10; i++ {
		mustAppend(t, l, []Record{{Kind: KindCommit, Data: bytes.Repeat([]byte{'e'}, 100)}})
	}
	if err := l.TruncateFront(11); err != nil {
		t.Fatal(err)
	}
	mustClose(t, l)
	s = scanChecked(t, dir)
	if s.info.FirstLSN != 11 || s.info.LastLSN != 10 || s.info.LastCommitLSN != 0 || len(s.entries) != 0 || len(s.info.Problems) > 0 {
		t.Fatalf("emptied log: %+v", s.info)
	}
	checkOpenAgrees(t, dir, s)
}

func TestScanUncommitted(t *testing.T) {
	h := newHarness(t)
	for _, sizes := range [][]int{{10, 20, 30}, {100, 600, 600, 300, 700, 5}} {
		t.Run(fmt.Sprint(sizes), func(t *testing.T) {
			dir := h.restore(t)
			appendUncommitted(sizes...)(t, dir)
			s := scanChecked(t, dir)
			info := s.info
			if info.LastCommitLSN != h.lastCommit() || info.LastLSN != h.lastCommit()+uint64(len(sizes)) {
				t.Fatalf("last commit %d, last %d; want %d, %d", info.LastCommitLSN, info.LastLSN, h.lastCommit(), h.lastCommit()+uint64(len(sizes)))
			}
			if info.TailBytes <= 0 || info.TailDamage != "" || len(info.Problems) > 0 {
				t.Fatalf("tail bytes %d, damage %q, problems %v", info.TailBytes, info.TailDamage, info.Problems)
			}
			if len(s.entries) != int(info.LastLSN) {
				t.Fatalf("%d entries for LSNs 1..%d", len(s.entries), info.LastLSN)
			}
			checkRecords(t, s.records(true), h.want)
			for _, e := range s.entries[len(h.want):] {
				if e.Committed || e.Kind != 2 {
					t.Fatalf("uncommitted LSN %d: %+v", e.LSN, e)
				}
			}
			checkOpenAgrees(t, dir, s)
		})
	}
}

func TestScanTornTail(t *testing.T) {
	h := newHarness(t)
	tail := h.files[h.tail()]
	boundary := map[int]bool{}
	for _, f := range h.frames {
		if f.seg == h.tail() {
			boundary[f.end] = true
		}
	}
	check := func(t *testing.T, dir string, torn bool, wantCommit uint64) {
		t.Helper()
		s := scanChecked(t, dir)
		if (s.info.TailDamage != "") != torn || len(s.info.Problems) > 0 || s.info.LastCommitLSN != wantCommit {
			t.Fatalf("damage %q, problems %v, last commit %d (want %d)", s.info.TailDamage, s.info.Problems, s.info.LastCommitLSN, wantCommit)
		}
		if torn && !strings.Contains(s.info.TailDamage, h.tail()) {
			t.Fatalf("damage %q does not name %s", s.info.TailDamage, h.tail())
		}
		checkRecords(t, s.records(false), h.want[:s.info.LastLSN])
		checkOpenAgrees(t, dir, s)
	}
	prevCommit := h.commits[len(h.commits)-2]
	var cuts []int
	for k := h.lastBatchStart() + 1; k < len(tail); k++ {
		if k%3 == 0 || boundary[k] {
			cuts = append(cuts, k)
		}
	}
	if !slices.ContainsFunc(cuts, func(k int) bool { return boundary[k] }) {
		t.Fatal("the last batch holds one entry")
	}
	for _, k := range cuts {
		dir := h.restore(t)
		truncateFile(h.tail(), k)(t, dir)
		t.Run(fmt.Sprintf("truncated at %d", k), func(t *testing.T) { check(t, dir, !boundary[k], prevCommit) })
	}
	for _, extra := range [][]byte{make([]byte, 30), {0x7f, 1, 2}} {
		dir := h.restore(t)
		appendToFile(h.tail(), extra)(t, dir)
		t.Run(fmt.Sprintf("%d bytes appended", len(extra)), func(t *testing.T) { check(t, dir, true, h.lastCommit()) })
	}
}

// TestScanUnwrittenSector: a zero sector in the tail is torn, cut like
// Open cuts it; the same sector of garbage is a problem Open refuses.
func TestScanUnwrittenSector(t *testing.T) {
	dir := t.TempDir()
	o := &Options{NoSync: true, Logger: quietLogger()}
	l := mustOpen(t, dir, o)
	g := &batchGen{rng: rand.New(rand.NewSource(3))}
	for l.LastLSN() < 200 {
		mustAppend(t, l, g.batch(4, 100))
	}
	mustClose(t, l)
	seg := filepath.Join(dir, segNames(t, dir)[0])
	pristine, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	for _, fill := range []byte{0x00, 0xa5} {
		b := bytes.Clone(pristine)
		copy(b[vfs.SectorSize:2*vfs.SectorSize], bytes.Repeat([]byte{fill}, vfs.SectorSize))
		writeFile(t, seg, b)
		s := scanChecked(t, dir)
		if fill == 0 {
			if !strings.Contains(s.info.TailDamage, "zero") || len(s.info.Problems) > 0 || s.info.LastLSN >= 200 {
				t.Fatalf("zero sector: %+v", s.info)
			}
			checkOpenAgrees(t, dir, s)
			continue
		}
		if len(s.info.Problems) != 1 || s.info.TailDamage != "" || s.info.Problems[0].File != seg {
			t.Fatalf("garbage sector: %+v", s.info)
		}
		if p := s.info.Problems[0]; p.Offset >= 2*vfs.SectorSize || p.LSN != s.info.LastLSN+1 {
			t.Fatalf("problem %v, last LSN %d", p, s.info.LastLSN)
		}
		if _, err := Open(dir, o); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open = %v, want ErrCorrupt", err)
		}
	}
}

func TestScanProblems(t *testing.T) {
	h := newHarness(t)
	path := func(dir, name string) string { abs, _ := filepath.Abs(filepath.Join(dir, name)); return abs }
	// The second entry of segment i and its LSN.
	second := func(i int) (rawFrame, uint64) {
		for j, f := range h.frames {
			if f.seg == h.segs[i] && f.off > 0 {
				return f, uint64(j + 1)
			}
		}
		t.Fatalf("segment %s holds one entry", h.segs[i])
		return rawFrame{}, 0
	}
	inSeg := func(i int, lsn uint64) bool { return h.frames[lsn-1].seg == h.segs[i] }

	t.Run("bit flips in two sealed segments", func(t *testing.T) {
		dir := h.restore(t)
		// A body byte of segment 0 (the CRC fails: Replay refuses) and
		// the LSN in a header of segment 2 (Open refuses).
		f0, lsn0 := second(0)
		flipBit(h.segs[0], f0.end-1, 2)(t, dir)
		f2, lsn2 := second(2)
		flipBit(h.segs[2], f2.end-len(f2.frame)+4, 0)(t, dir)

		s := scanChecked(t, dir)
		ps := s.info.Problems
		if len(ps) != 2 || s.info.TailDamage != "" {
			t.Fatalf("problems %v, damage %q", ps, s.info.TailDamage)
		}
		for i, want := range []struct {
			seg int
			f   rawFrame
			lsn uint64
		}{{0, f0, lsn0}, {2, f2, lsn2}} {
			p := ps[i]
			if p.File != path(dir, h.segs[want.seg]) || p.Offset != int64(want.f.off) || p.LSN != want.lsn || !errors.Is(p, ErrCorrupt) {
				t.Fatalf("problem %d: %v, want %s offset %d LSN %d", i, p, h.segs[want.seg], want.f.off, want.lsn)
			}
		}
		// Everything but the damaged frames and the rest of their segments.
		var want []Record
		for _, r := range h.want {
			if (inSeg(0, r.LSN) && r.LSN >= lsn0) || (inSeg(2, r.LSN) && r.LSN >= lsn2) {
				continue
			}
			want = append(want, r)
		}
		checkRecords(t, s.records(false), want)
		if s.info.LastCommitLSN != h.lastCommit() || s.info.LastLSN != h.lastCommit() {
			t.Fatalf("info %+v", s.info)
		}
		if s.info.Segments[0].LastLSN != lsn0-1 || s.info.Segments[2].LastLSN != lsn2-1 || s.info.Segments[1].LastLSN != s.info.Segments[2].FirstLSN-1 {
			t.Fatalf("segments %+v", s.info.Segments)
		}
		o, _ := harnessOpts(false)
		if _, err := Open(dir, o); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open = %v, want ErrCorrupt", err)
		}
	})

	t.Run("missing segment", func(t *testing.T) {
		dir := h.restore(t)
		removeFile(h.segs[1])(t, dir)
		s := scanChecked(t, dir)
		ps := s.info.Problems
		if len(ps) != 1 || ps[0].File != path(dir, h.segs[0]) || !strings.Contains(ps[0].Error(), h.segs[2]) {
			t.Fatalf("problems %v", ps)
		}
		var want []Record
		for _, r := range h.want {
			if !inSeg(1, r.LSN) {
				want = append(want, r)
			}
		}
		checkRecords(t, s.records(false), want)
		o, _ := harnessOpts(false)
		if _, err := Open(dir, o); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open = %v, want ErrCorrupt", err)
		}
	})

	t.Run("overlapping segments", func(t *testing.T) {
		// A stray segment named after the second entry of segment 1,
		// holding the rest of it: segment 1 goes on past its start.
		dir := h.restore(t)
		f, lsn := second(1)
		writeFile(t, filepath.Join(dir, base.SegmentName(lsn)), h.files[h.segs[1]][f.off:])
		s := scanChecked(t, dir)
		ps := s.info.Problems
		if len(ps) != 1 || ps[0].File != path(dir, h.segs[1]) || ps[0].Offset != int64(f.off) || ps[0].LSN != lsn {
			t.Fatalf("problems %v", ps)
		}
		checkRecords(t, s.records(false), h.want)
		o, _ := harnessOpts(false)
		if _, err := Open(dir, o); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open = %v, want ErrCorrupt", err)
		}
	})

	t.Run("segments swapped", func(t *testing.T) {
		dir := h.restore(t)
		writeFile(t, filepath.Join(dir, h.segs[1]), h.files[h.segs[2]])
		writeFile(t, filepath.Join(dir, h.segs[2]), h.files[h.segs[1]])
		s := scanChecked(t, dir)
		ps := s.info.Problems
		if len(ps) != 2 || ps[0].File != path(dir, h.segs[1]) || ps[1].File != path(dir, h.segs[2]) || ps[0].Offset != 0 || ps[1].Offset != 0 {
			t.Fatalf("problems %v", ps)
		}
		var want []Record
		for _, r := range h.want {
			if !inSeg(1, r.LSN) && !inSeg(2, r.LSN) {
				want = append(want, r)
			}
		}
		checkRecords(t, s.records(false), want)
	})

	t.Run("damage in the tail before valid frames", func(t *testing.T) {
		dir := h.restore(t)
		n := len(h.segs) - 1
		f, lsn := second(n)
		flipBit(h.segs[n], f.end-len(f.frame)+4, 0)(t, dir)
		s := scanChecked(t, dir)
		ps := s.info.Problems
		if len(ps) != 1 || ps[0].File != path(dir, h.tail()) || ps[0].Offset != int64(f.off) || ps[0].LSN != lsn || s.info.TailDamage != "" {
			t.Fatalf("problems %v, damage %q", ps, s.info.TailDamage)
		}
		checkRecords(t, s.records(false), h.want[:lsn-1])
		o, _ := harnessOpts(false)
		if _, err := Open(dir, o); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open = %v, want ErrCorrupt", err)
		}
	})
}

// stageKeep leaves dir the way a crash right after stageStart(k) leaves
// it: the KEEP file is complete, tidwall's truncation not begun.
func stageKeep(t *testing.T, l *Log, k uint64) {
	t.Helper()
	l.wmu.Lock()
	l.syncMu.Lock()
	err := l.stageStart(k, l.LastLSN())
	l.syncMu.Unlock()
	l.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
}

func TestScanInterruptedTruncation(t *testing.T) {
	// A log whose segments hold several entries each.
	src := t.TempDir()
	o, _ := harnessOpts(false)
	l := mustOpen(t, src, o)
	g := &batchGen{rng: rand.New(rand.NewSource(12))}
	var all []Record
	for len(segNames(t, src)) < 5 {
		recs := g.batch(3, 60)
		mustAppend(t, l, recs)
		all = append(all, cloneRecs(recs)...)
	}
	segs := segNames(t, src)
	k := mustParse(t, segs[2]) + 1 // inside the third segment
	if mustParse(t, segs[3]) <= k {
		t.Fatal("the third segment holds one entry")
	}
	stageKeep(t, l, k)
	mustClose(t, l)
	keepName := base.SegmentName(k) + base.KeepSuffix
	keep, err := os.ReadFile(filepath.Join(src, keepName))
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name   string
		damage func(t *testing.T, dir string)
	}{
		{"KEEP only", func(t *testing.T, dir string) {}},
		{"KEEP, a KEEP.tmp and a START.TEMP", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, base.SegmentName(k+5)+base.KeepSuffix+base.TempSuffix), keep[:3])
			writeFile(t, filepath.Join(dir, base.SegmentName(k)+".START.TEMP"), keep[:7])
		}},
		{"KEEP, START, first segment removed", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, base.SegmentName(k)+".START"), keep)
			removeFile(segs[0])(t, dir)
		}},
		{"KEEP, older segments removed", func(t *testing.T, dir string) {
			for _, name := range segs[:3] {
				removeFile(name)(t, dir)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := copyDir(t, src)
			c.damage(t, dir)
			s := scanChecked(t, dir)
			info := s.info
			if len(info.Problems) > 0 || info.FirstLSN != k || info.LastLSN != uint64(len(all)) {
				t.Fatalf("info %+v", info)
			}
			if sg := info.Segments[0]; sg.FirstLSN != k || filepath.Base(sg.Path) != keepName || sg.Bytes != int64(len(keep)) {
				t.Fatalf("first segment %+v", sg)
			}
			wantInterrupted := []string{filepath.Join(info.Dir, keepName)}
			if _, err := os.Stat(filepath.Join(dir, base.SegmentName(k)+".START")); err == nil {
				wantInterrupted = append(wantInterrupted, filepath.Join(info.Dir, base.SegmentName(k)+".START"))
			}
			if !slices.Equal(info.Interrupted, wantInterrupted) {
				t.Fatalf("interrupted %v, want %v", info.Interrupted, wantInterrupted)
			}
			for i := 1; i < len(info.Segments); i++ {
				if info.Segments[i].FirstLSN != info.Segments[i-1].LastLSN+1 {
					t.Fatalf("segments not continuous: %+v", info.Segments)
				}
			}
			checkRecords(t, s.records(false), all[k-1:])

			l := mustOpen(t, dir, o)
			if got := replayAll(t, l, 1); !slices.Equal(lsnsOf(got), s.lsns()) {
				t.Fatalf("Open+Replay LSNs %v, Scan %v", lsnsOf(got), s.lsns())
			}
			mustClose(t, l)
			after := scanChecked(t, dir)
			if len(after.info.Interrupted) > 0 || after.info.Segments[0].Path != filepath.Join(after.info.Dir, base.SegmentName(k)) {
				t.Fatalf("after Open: %+v", after.info)
			}
			for _, name := range info.Interrupted {
				if _, err := os.Stat(name); !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("Open left %s (%v)", name, err)
				}
			}
			var want []string
			for _, sg := range info.Segments {
				want = append(want, base.SegmentName(sg.FirstLSN))
			}
			if got := segNames(t, dir); !slices.Equal(got, want) {
				t.Fatalf("segments after Open %v, Scan saw %v", got, want)
			}
		})
	}

	t.Run("START and END", func(t *testing.T) {
		dir := copyDir(t, src)
		writeFile(t, filepath.Join(dir, base.SegmentName(k)+".START"), keep)
		writeFile(t, filepath.Join(dir, base.SegmentName(k+1)+".END"), keep)
		s := scanChecked(t, dir)
		if len(s.info.Problems) != 1 || !strings.Contains(s.info.Problems[0].Reason, "both ends") {
			t.Fatalf("problems %v", s.info.Problems)
		}
		if _, err := Open(dir, o); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open = %v, want ErrCorrupt", err)
		}
	})
}

func lsnsOf(recs []Record) []uint64 {
	var lsns []uint64
	for _, r := range recs {
		lsns = append(lsns, r.LSN)
	}
	return lsns
}

// TestScanUndecodableBody: a frame whose CRC holds over a snappy body that
// does not decode is kept by Open and refused by Replay: a problem.
func TestScanUndecodableBody(t *testing.T) {
	dir := t.TempDir()
	var seg []byte
	seg = append(seg, entryOf(EncodeFrame(nil, 1, KindCommit, []byte("one")))...)
	bad := len(seg)
	seg = append(seg, entryOf(appendFrame(nil, 2, KindCommit, flagSnappy, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}))...)
	seg = append(seg, entryOf(EncodeFrame(nil, 3, KindCommit, []byte("three")))...)
	writeFile(t, filepath.Join(dir, base.SegmentName(1)), seg)
	s := scanChecked(t, dir)
	ps := s.info.Problems
	if len(ps) != 1 || ps[0].Offset != int64(bad) || ps[0].LSN != 2 || !strings.Contains(ps[0].Reason, "snappy") {
		t.Fatalf("problems %v", ps)
	}
	if !slices.Equal(s.lsns(), []uint64{1}) || s.info.LastLSN != 1 {
		t.Fatalf("delivered %v, info %+v", s.lsns(), s.info)
	}
	o, _ := harnessOpts(false)
	l := mustOpen(t, dir, o)
	defer mustClose(t, l)
	if _, err := replayCollect(l, 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Replay = %v, want ErrCorrupt", err)
	}
}

// FuzzScan scans a log of one segment holding arbitrary bytes: Scan must
// not fail or panic, and must agree with Open and Replay: no problem, and
// Open keeps the committed entries and cuts TailBytes; a problem, and Open
// or Replay refuses the log.
func FuzzScan(f *testing.F) {
	log := addTailSeeds(f)
	f.Add(append(bytes.Clone(log), entryOf(appendFrame(nil, 5, KindCommit, flagSnappy, []byte{0xff, 0xff}))...))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, base.SegmentName(1)), data)
		s := scanChecked(t, dir)
		o, _ := harnessOpts(false)
		if len(s.info.Problems) == 0 {
			checkOpenAgrees(t, dir, s)
			return
		}
		for _, p := range s.info.Problems {
			if p.File == "" || p.Offset < 0 || p.Offset > int64(len(data)) || p.LSN == 0 {
				t.Fatalf("problem without a place: %v", p)
			}
		}
		l, err := Open(dir, o)
		if err == nil {
			_, err = replayCollect(l, 1)
			l.Close()
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Scan found %v; Open and Replay: %v", s.info.Problems, err)
		}
	})
}
