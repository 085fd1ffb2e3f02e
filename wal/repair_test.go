package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/internal/base"
)

// The repair harness: one pristine log, many ways to damage a copy of it,
// one check of what Open and Replay make of each (after etcd's
// server/storage/wal/repair_test.go).

const harnessSegSize = 512

// harness is a closed log of committed batches spread over several
// segments, kept in memory so each case starts from a fresh copy.
type harness struct {
	files   map[string][]byte
	segs    []string   // segment names in order
	want    []Record   // every record; LSN i+1 at index i
	commits []uint64   // LSNs of the commit frames
	frames  []rawFrame // the entry of LSN i+1 at index i
}

func harnessOpts(logger bool) (*Options, *logBuf) {
	o := &Options{SegmentSize: harnessSegSize, NoSync: true, Logger: quietLogger()}
	var buf *logBuf
	if logger {
		o.Logger, buf = captureLogger()
	}
	return o, buf
}

// newHarness writes batches until there are at least four segments and the
// tail segment holds two whole batches, the last of several records.
func newHarness(t *testing.T) *harness {
	t.Helper()
	dir := t.TempDir()
	o, _ := harnessOpts(false)
	l := mustOpen(t, dir, o)
	g := &batchGen{rng: rand.New(rand.NewSource(9))}
	h := &harness{}
	for i := 0; ; i++ {
		if i == 200 {
			t.Fatal("the harness log never reached its shape")
		}
		recs := g.batch(4, 60)
		mustAppend(t, l, recs)
		h.want = append(h.want, cloneRecs(recs)...)
		h.commits = append(h.commits, recs[len(recs)-1].LSN)
		h.segs = segNames(t, dir)
		h.frames = rawFrames(t, dir)
		if len(h.segs) < 4 || len(recs) < 2 {
			continue
		}
		tail := h.segs[len(h.segs)-1]
		prev := h.frames[h.commits[len(h.commits)-2]-1]
		if prev.seg == tail && prev.off > 0 {
			break
		}
	}
	mustClose(t, l)
	h.files = map[string][]byte{}
	for _, name := range h.segs {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		h.files[name] = b
	}
	return h
}

func (h *harness) tail() string { return h.segs[len(h.segs)-1] }

func (h *harness) lastCommit() uint64 { return h.commits[len(h.commits)-1] }

// lastBatchStart is the tail offset where the last batch begins.
func (h *harness) lastBatchStart() int {
	return h.frames[h.commits[len(h.commits)-2]-1].end
}

// restore writes a fresh copy of the pristine log.
func (h *harness) restore(t *testing.T) string {
	dir := t.TempDir()
	for name, b := range h.files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// outcome is what a damaged copy must give.
type outcome struct {
	corrupt bool     // Open or Replay fails with ErrCorrupt
	atOpen  bool     // with corrupt: Open itself fails
	inError []string // with corrupt: the error names these files
	first   uint64   // FirstLSN after Open; 0 means 1
	last    uint64   // LastLSN after Open
	cut     bool     // Open cut bytes: a .broken copy exists and one line was logged
	check   func(t *testing.T, dir string)
}

type corruption struct {
	name   string
	damage func(t *testing.T, dir string)
	want   outcome
}

func (h *harness) run(t *testing.T, c corruption) {
	t.Helper()
	dir := h.restore(t)
	c.damage(t, dir)
	o, logs := harnessOpts(true)
	l, err := Open(dir, o)
	if c.want.corrupt {
		if err == nil {
			if c.want.atOpen {
				l.Close()
				t.Fatalf("%s: Open succeeded (LSNs %d..%d), want ErrCorrupt", c.name, l.FirstLSN(), l.LastLSN())
			}
			got, rerr := replayCollect(l, 0)
			l.Close()
			if rerr == nil {
				t.Fatalf("%s: Open and Replay succeeded (%d records), want ErrCorrupt", c.name, len(got))
			}
			// Never a wrong record: what was delivered is a true prefix.
			checkRecords(t, got, h.want[:len(got)])
			err = rerr
		}
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: error %v does not wrap ErrCorrupt", c.name, err)
		}
		var ce *CorruptError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: error %v is not a *CorruptError", c.name, err)
		}
		for _, s := range c.want.inError {
			if !strings.Contains(err.Error(), s) {
				t.Fatalf("%s: error %q does not name %s", c.name, err, s)
			}
		}
		if strings.Contains(logs.String(), "cut the log tail") {
			t.Fatalf("%s: cut bytes before reporting corruption:\n%s", c.name, logs)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: open: %v", c.name, err)
	}
	first := c.want.first
	if first == 0 {
		first = 1
	}
	if l.FirstLSN() != first || l.LastLSN() != c.want.last {
		t.Fatalf("%s: LSNs %d..%d after Open, want %d..%d", c.name, l.FirstLSN(), l.LastLSN(), first, c.want.last)
	}
	checkRecords(t, replayAll(t, l, 0), h.want[first-1:c.want.last])
	broken, _ := filepath.Glob(filepath.Join(dir, "*.broken"))
	cutLines := strings.Count(logs.String(), "cut the log tail")
	if c.want.cut != (len(broken) > 0) || c.want.cut != (cutLines == 1) || cutLines > 1 {
		t.Fatalf("%s: .broken files %v, %d cut lines logged; want cut=%v\n%s", c.name, broken, cutLines, c.want.cut, logs)
	}
	if c.want.check != nil {
		c.want.check(t, dir)
	}
	// Appending continues with the next LSN, and the result reopens.
	next := []Record{{Kind: KindCommit, Data: []byte("after repair")}}
	if lsn := mustAppend(t, l, next); lsn != c.want.last+1 {
		t.Fatalf("%s: append after repair got LSN %d, want %d", c.name, lsn, c.want.last+1)
	}
	mustClose(t, l)
	o, logs = harnessOpts(true)
	l = mustOpen(t, dir, o)
	defer mustClose(t, l)
	want := append(append([]Record(nil), h.want[first-1:c.want.last]...), Record{LSN: c.want.last + 1, Kind: KindCommit, Data: []byte("after repair")})
	checkRecords(t, replayAll(t, l, 0), want)
	if strings.Contains(logs.String(), "cut the log tail") {
		t.Fatalf("%s: the second open cut again:\n%s", c.name, logs)
	}
}

// Damage functions.

func truncateFile(name string, size int) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Truncate(filepath.Join(dir, name), int64(size)); err != nil {
			t.Fatal(err)
		}
	}
}

func appendToFile(name string, b []byte) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
	}
}

func flipBit(name string, off int, bit uint) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[off] ^= 1 << bit
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

func removeFile(name string) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// appendUncommitted appends records without a commit through the API, as
// a batch whose commit never made it.
func appendUncommitted(sizes ...int) func(*testing.T, string) {
	return func(t *testing.T, dir string) {
		o, _ := harnessOpts(false)
		l := mustOpen(t, dir, o)
		rng := rand.New(rand.NewSource(int64(len(sizes))))
		for _, n := range sizes {
			// Random bodies: snappy must not shrink them below the segment size.
			mustAppend(t, l, []Record{{Kind: 2, Data: randomBytes(rng, n)}})
		}
		mustClose(t, l)
	}
}

func TestRepairTornTail(t *testing.T) {
	h := newHarness(t)
	tail := h.files[h.tail()]
	start := h.lastBatchStart()
	prevCommit := h.commits[len(h.commits)-2]
	// Every offset inside the last batch, and the intact file.
	for k := start; k <= len(tail); k++ {
		want := outcome{last: prevCommit, cut: k > start}
		if k == len(tail) {
			want = outcome{last: h.lastCommit()}
		}
		h.run(t, corruption{
			name:   fmt.Sprintf("truncate tail at %d (last batch at %d..%d)", k, start, len(tail)),
			damage: truncateFile(h.tail(), k),
			want:   want,
		})
	}
}

func TestRepairAppendedBytes(t *testing.T) {
	h := newHarness(t)
	tail := h.files[h.tail()]
	lastEntry := tail[h.frames[len(h.frames)-1].off:]
	var cases []corruption
	for _, n := range []int{1, 2, 19, 20, 21, 300, 4096} {
		cases = append(cases, corruption{
			name:   fmt.Sprintf("%d zeros appended", n),
			damage: appendToFile(h.tail(), make([]byte, n)),
			want:   outcome{last: h.lastCommit(), cut: true},
		})
	}
	rng := rand.New(rand.NewSource(10))
	for i := 0; i < 12; i++ {
		cases = append(cases, corruption{
			name:   fmt.Sprintf("garbage %d appended", i),
			damage: appendToFile(h.tail(), randomBytes(rng, 1+rng.Intn(400))),
			want:   outcome{last: h.lastCommit(), cut: true},
		})
	}
	cases = append(cases,
		corruption{
			name:   "last entry appended again",
			damage: appendToFile(h.tail(), lastEntry),
			want:   outcome{last: h.lastCommit(), cut: true},
		},
		corruption{
			name: "a valid frame with a later LSN after garbage",
			damage: appendToFile(h.tail(), append(randomBytes(rng, 30),
				entryOf(EncodeFrame(nil, h.lastCommit()+2, KindCommit, []byte("later")))...)),
			want: outcome{corrupt: true, atOpen: true, inError: []string{h.tail()}},
		},
		corruption{
			name: "a frame with the next LSN but a bad CRC, then zeros",
			damage: appendToFile(h.tail(), append(func() []byte {
				e := entryOf(EncodeFrame(nil, h.lastCommit()+1, KindCommit, []byte("torn")))
				e[len(e)-1] ^= 1
				return e
			}(), make([]byte, 100)...)),
			want: outcome{last: h.lastCommit(), cut: true},
		},
	)
	for _, c := range cases {
		h.run(t, c)
	}
}

// entryOf is the tidwall entry holding frame.
func entryOf(frame []byte) []byte {
	return append(binary.AppendUvarint(nil, uint64(len(frame))), frame...)
}

func TestRepairUncommittedTail(t *testing.T) {
	h := newHarness(t)
	sameSegments := func(t *testing.T, dir string) {
		if got := segNames(t, dir); strings.Join(got, ",") != strings.Join(h.segs, ",") {
			t.Fatalf("segments after repair %v, want %v", got, h.segs)
		}
		for _, name := range h.segs {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, h.files[name]) {
				t.Fatalf("repair left %s different from the committed original", name)
			}
		}
	}
	for _, c := range []corruption{
		{
			name:   "uncommitted records in the tail",
			damage: appendUncommitted(10, 20, 30),
			want:   outcome{last: h.lastCommit(), cut: true, check: sameSegments},
		},
		{
			// The uncommitted records fill new segments: the cut goes back
			// into the old tail and the new segments become .broken.
			name:   "uncommitted records over several new segments",
			damage: appendUncommitted(100, 600, 600, 300, 700, 5),
			want: outcome{last: h.lastCommit(), cut: true, check: func(t *testing.T, dir string) {
				sameSegments(t, dir)
				broken, _ := filepath.Glob(filepath.Join(dir, "*.broken"))
				if len(broken) < 3 {
					t.Fatalf(".broken files %v: want the old tail and the new segments", broken)
				}
			}},
		},
		{
			// A torn write on top: the new tail ends in half a frame.
			name: "uncommitted records in new segments, torn",
			damage: func(t *testing.T, dir string) {
				appendUncommitted(100, 600, 600, 300)(t, dir)
				segs := segNames(t, dir)
				tail := filepath.Join(dir, segs[len(segs)-1])
				fi, _ := os.Stat(tail)
				if err := os.Truncate(tail, fi.Size()-7); err != nil {
					t.Fatal(err)
				}
			},
			want: outcome{last: h.lastCommit(), cut: true, check: sameSegments},
		},
	} {
		h.run(t, c)
	}
}

func TestRepairBitFlipSealed(t *testing.T) {
	h := newHarness(t)
	// Every byte of a middle segment and of the segment before the tail:
	// flips in lengths and headers fail Open, flips in bodies fail Replay.
	for _, name := range []string{h.segs[1], h.segs[len(h.segs)-2]} {
		for off := range h.files[name] {
			h.run(t, corruption{
				name:   fmt.Sprintf("bit flip in sealed %s at %d", name, off),
				damage: flipBit(name, off, uint(off*3)%8),
				want:   outcome{corrupt: true, inError: []string{name}},
			})
		}
	}
}

func TestRepairBitFlipTail(t *testing.T) {
	h := newHarness(t)
	// Every byte of the tail before its last entry: valid frames follow the
	// damage, so it is corruption, not a torn tail.
	name := h.tail()
	lastOff := h.frames[len(h.frames)-1].off
	for off := 0; off < lastOff; off++ {
		h.run(t, corruption{
			name:   fmt.Sprintf("bit flip in the tail at %d", off),
			damage: flipBit(name, off, uint(off*5)%8),
			want:   outcome{corrupt: true, atOpen: true, inError: []string{name}},
		})
	}
	// In the last entry it cannot be told from a torn write: cut.
	for off := lastOff + 1; off < len(h.files[name]); off += 7 {
		h.run(t, corruption{
			name:   fmt.Sprintf("bit flip in the last tail entry at %d", off),
			damage: flipBit(name, off, uint(off*5)%8),
			want:   outcome{last: h.commits[len(h.commits)-2], cut: true},
		})
	}
}

func TestRepairSegments(t *testing.T) {
	h := newHarness(t)
	n := len(h.segs)
	mid := h.segs[1]
	lastEntryOfMid := 0
	for _, f := range h.frames {
		if f.seg == mid {
			lastEntryOfMid = f.off
		}
	}
	for _, c := range []corruption{
		{
			name:   "missing middle segment",
			damage: removeFile(mid),
			want:   outcome{corrupt: true, atOpen: true, inError: []string{h.segs[0], h.segs[2]}},
		},
		{
			name:   "missing segment before the tail",
			damage: removeFile(h.segs[n-2]),
			want:   outcome{corrupt: true, atOpen: true, inError: []string{h.segs[n-3], h.tail()}},
		},
		{
			name:   "sealed segment short by one byte",
			damage: truncateFile(mid, len(h.files[mid])-1),
			want:   outcome{corrupt: true, atOpen: true, inError: []string{mid}},
		},
		{
			name:   "sealed segment short by its last entry",
			damage: truncateFile(mid, lastEntryOfMid),
			want:   outcome{corrupt: true, atOpen: true, inError: []string{mid}},
		},
		{
			name:   "zeros after a sealed segment",
			damage: appendToFile(mid, make([]byte, 16)),
			want:   outcome{corrupt: true, atOpen: true, inError: []string{mid}},
		},
		{
			name: "segments swapped",
			damage: func(t *testing.T, dir string) {
				a, b := filepath.Join(dir, h.segs[1]), filepath.Join(dir, h.segs[2])
				if err := os.WriteFile(a, h.files[h.segs[2]], 0o640); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(b, h.files[h.segs[1]], 0o640); err != nil {
					t.Fatal(err)
				}
			},
			want: outcome{corrupt: true, atOpen: true, inError: []string{h.segs[1]}},
		},
		{
			name: "an empty tail after the last commit is kept",
			damage: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, base.SegmentName(h.lastCommit()+1)), nil)
			},
			want: outcome{last: h.lastCommit(), check: func(t *testing.T, dir string) {
				if got := segNames(t, dir); got[len(got)-1] != base.SegmentName(h.lastCommit()+1) {
					t.Fatalf("segments %v", got)
				}
			}},
		},
	} {
		h.run(t, c)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestRepairInterruptedTruncation: a crash inside tidwall's TruncateFront
// leaves a <lsn>.START file; Open finishes the truncation before checking
// continuity, wherever the crash happened.
func TestRepairInterruptedTruncation(t *testing.T) {
	h := newHarness(t)
	seg1 := mustParse(t, h.segs[1])
	k := seg1 + 2
	if h.frames[k-1].seg != h.segs[1] {
		t.Fatal("harness: segment 1 holds fewer than 3 entries")
	}
	start := h.files[h.segs[1]][h.frames[k-1].off:]
	startName := base.SegmentName(k) + ".START"
	for i, removed := range [][]string{nil, {h.segs[0]}, {h.segs[0], h.segs[1]}} {
		h.run(t, corruption{
			name: fmt.Sprintf("crash %d inside TruncateFront(%d)", i, k),
			damage: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, startName+".TEMP"), start[:10])
				writeFile(t, filepath.Join(dir, startName), start)
				for _, name := range removed {
					removeFile(name)(t, dir)
				}
			},
			want: outcome{first: k, last: h.lastCommit(), check: func(t *testing.T, dir string) {
				if got := segNames(t, dir); got[0] != base.SegmentName(k) || len(got) != len(h.segs)-1 {
					t.Fatalf("segments %v", got)
				}
				if left, _ := filepath.Glob(filepath.Join(dir, "*.START*")); len(left) > 0 {
					t.Fatalf("left over: %v", left)
				}
			}},
		})
	}
}

// TestRepairNothingCommitted: a log whose only records are uncommitted
// opens empty and restarts at LSN 1.
func TestRepairNothingCommitted(t *testing.T) {
	dir := t.TempDir()
	o, _ := harnessOpts(false)
	l := mustOpen(t, dir, o)
	for i := 0; i < 10; i++ {
		mustAppend(t, l, []Record{{Kind: 2, Data: bytes.Repeat([]byte{'n'}, 100)}})
	}
	mustClose(t, l)
	if len(segNames(t, dir)) < 2 {
		t.Fatal("the uncommitted records did not span segments")
	}
	l = mustOpen(t, dir, o)
	if l.FirstLSN() != 1 || l.LastLSN() != 0 {
		t.Fatalf("LSNs %d..%d, want an empty log at 1", l.FirstLSN(), l.LastLSN())
	}
	if got := segNames(t, dir); len(got) != 1 || got[0] != base.SegmentName(1) {
		t.Fatalf("segments %v", got)
	}
	if lsn := mustAppend(t, l, []Record{{Kind: KindCommit, Data: []byte("first")}}); lsn != 1 {
		t.Fatalf("first LSN %d", lsn)
	}
	mustClose(t, l)
}

// TestRepairEmptiedThenUncommitted: after TruncateFront emptied the log,
// uncommitted records are cut and numbering continues where it was.
func TestRepairEmptiedThenUncommitted(t *testing.T) {
	dir := t.TempDir()
	o, _ := harnessOpts(false)
	l := mustOpen(t, dir, o)
	for i := 0; i < 20; i++ {
		mustAppend(t, l, []Record{{Kind: KindCommit, Data: bytes.Repeat([]byte{'c'}, 50)}})
	}
	last := l.LastLSN()
	if err := l.TruncateFront(last + 1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		mustAppend(t, l, []Record{{Kind: 2, Data: bytes.Repeat([]byte{'u'}, 100)}})
	}
	mustClose(t, l)
	l = mustOpen(t, dir, o)
	defer mustClose(t, l)
	if l.FirstLSN() != last+1 || l.LastLSN() != last {
		t.Fatalf("LSNs %d..%d, want an empty log at %d", l.FirstLSN(), l.LastLSN(), last+1)
	}
	if lsn := mustAppend(t, l, []Record{{Kind: KindCommit, Data: []byte("next")}}); lsn != last+1 {
		t.Fatalf("next LSN %d, want %d", lsn, last+1)
	}
}

// addTailSeeds adds the seeds of the fuzz targets that read one segment:
// four frames, two batches; the same torn, with zeros after it, and with a
// bit flipped in a frame. It returns the log.
func addTailSeeds(f *testing.F) []byte {
	var log []byte
	for lsn := uint64(1); lsn <= 4; lsn++ {
		kind := Kind(2)
		if lsn%2 == 0 {
			kind = KindCommit
		}
		log = append(log, entryOf(EncodeFrame(nil, lsn, kind, bytes.Repeat([]byte{byte(lsn)}, int(lsn)*100)))...)
	}
	f.Add(log)
	f.Add(log[:len(log)-3])
	f.Add(append(bytes.Clone(log), make([]byte, 30)...))
	flipped := bytes.Clone(log)
	flipped[40] ^= 4
	f.Add(flipped)
	return log
}

// FuzzScanTail feeds arbitrary bytes to the tail validation of Open: it
// must not panic, and what it reports must be consistent.
func FuzzScanTail(f *testing.F) {
	addTailSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		res := scanSegment([]segment{{start: 1, path: "tail"}}, 0, data)
		if res.problem != nil {
			if !errors.Is(res.problem, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", res.problem)
			}
			return
		}
		if res.end > len(data) || res.commitEnd > res.end || (res.torn == "") != (res.end == len(data)) {
			t.Fatalf("inconsistent scan %+v of %d bytes", res, len(data))
		}
		if res.commitEnd >= 0 && (res.commitLSN == 0 || res.commitLSN >= res.next) {
			t.Fatalf("commit LSN %d with next %d", res.commitLSN, res.next)
		}
	})
}
