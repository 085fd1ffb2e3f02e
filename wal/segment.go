package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/vfs"
)

// segment is one segment file, named by the LSN of its first entry.
type segment struct {
	start uint64
	path  string
}

// Segment names are base.SegmentName and base.ParseSegmentName. They
// mirror tidwall/wal v1.2.1, which names a segment by the index of its
// first entry in 20 decimal digits and loads as a segment any 20-byte name
// that parses as a non-zero index (TestTidwallEntries).

// listSegments returns the segment files of dir in LSN order.
func listSegments(fsys vfs.FS, dir string) ([]segment, error) {
	des, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: list segments: %w", err)
	}
	var segs []segment
	for _, de := range des {
		if de.IsDir() {
			continue
		}
		if v, ok := base.ParseSegmentName(de.Name()); ok {
			segs = append(segs, segment{start: v, path: filepath.Join(dir, de.Name())})
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].start < segs[j].start })
	return segs, nil
}

// findSegment returns the index in segs of the segment that holds lsn if
// any does: the last one starting at or before it; -1 when none does.
func findSegment(segs []segment, lsn uint64) int {
	return sort.Search(len(segs), func(i int) bool { return segs[i].start > lsn }) - 1
}

// entryLen decodes the uvarint length at the start of the tidwall entry b.
// It returns the frame length n and the size m of the uvarint; m <= 0 when
// the length is truncated, overflows or runs past the end of b. This is
// the entry framing of tidwall/wal v1.2.1's binary format, a uvarint length
// and that many bytes, which its Open also refuses when the length runs
// past the end of the last segment (TestTidwallEntries).
func entryLen(b []byte) (n, m int) {
	v, m := binary.Uvarint(b)
	if m <= 0 {
		return 0, 0
	}
	if v > uint64(len(b)-m) {
		return 0, 0
	}
	return int(v), m
}

// entrySize is the size in a segment of the tidwall entry of an n-byte frame.
func entrySize(n int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(n)) + n
}

// frameCheck is how much of an entry frameIter checks.
type frameCheck uint8

const (
	// lengthOnly checks that the entry's uvarint length fits in the segment.
	lengthOnly frameCheck = iota
	// headerOnly also checks the frame header (parseHeader), that the body
	// fills the entry exactly and that the frame holds the expected LSN.
	headerOnly
	// wholeFrame also checks the CRC.
	wholeFrame
)

// frameIter walks the tidwall entries of one segment's bytes, in order,
// each expected to hold the LSN after the one before. It is the one parser
// of segments: Replay, stageStart, checkSealed, scanSegment (for findCut
// and Scan) and Scan's delivery all step through entries with it.
type frameIter struct {
	seg  segment
	data []byte
	off  int    // offset of the next entry: after the last valid one
	lsn  uint64 // LSN the next entry must hold
	// err is the damage next stopped at, placed at seg's file, off and
	// lsn; nil while next has not failed.
	err *CorruptError
	// cur is the entry the last successful next stepped over.
	cur entry
	// scratch holds decoded bodies; reset keeps it.
	scratch []byte
}

// entry is one tidwall entry of a segment, as frameIter checked it.
type entry struct {
	off     int    // offset of the entry in the segment
	size    int    // bytes of the entry: uvarint length and frame
	lsn     uint64 // LSN it holds
	hdr     header // the frame header; zero when only the length was checked
	payload []byte // the stored body, a subslice of the segment's bytes
}

// newFrameIter returns an iterator at the first entry of data, the bytes
// of segment s.
func newFrameIter(s segment, data []byte) frameIter {
	return frameIter{seg: s, data: data, lsn: s.start}
}

// reset moves the iterator to the first entry of data, the bytes of
// segment s, keeping its scratch buffer.
func (it *frameIter) reset(s segment, data []byte) {
	*it = frameIter{seg: s, data: data, lsn: s.start, scratch: it.scratch}
}

// next checks the entry at off as check says and steps over it: it
// returns true with cur describing the entry and off and lsn after it. It
// returns false, leaving off and lsn at the entry, at the end of data and
// at damage, which it records in err.
func (it *frameIter) next(check frameCheck) bool {
	if it.err != nil || it.off >= len(it.data) {
		return false
	}
	b := it.data[it.off:]
	n, m := entryLen(b)
	var h header
	var payload []byte
	var cerr *CorruptError
	switch {
	case m <= 0:
		cerr = frameError("entry length runs past the end of the file")
	case check >= headerOnly:
		h, payload, cerr = checkFrame(b[m:m+n], check == wholeFrame)
		if cerr == nil && h.lsn != it.lsn {
			cerr = frameError("frame holds LSN %d", h.lsn)
		}
	}
	if cerr != nil {
		it.err = cerr.at(it.seg.path, it.off, it.lsn)
		return false
	}
	it.cur = entry{off: it.off, size: m + n, lsn: it.lsn, hdr: h, payload: payload}
	it.off += m + n
	it.lsn++
	return true
}

// body returns the body of the current entry, checked at headerOnly or
// wholeFrame, uncompressed: its payload, or the payload decoded into the
// scratch buffer, valid until the next call. A body that does not decode
// is damage placed at the entry.
func (it *frameIter) body() ([]byte, *CorruptError) {
	body, cerr := decodeBody(it.scratch, it.cur.hdr.flags, it.cur.payload)
	if cerr != nil {
		return nil, cerr.at(it.seg.path, it.cur.off, it.cur.lsn)
	}
	if it.cur.hdr.flags&flagSnappy != 0 {
		it.scratch = body
	}
	return body, nil
}

// tailState mirrors tidwall/wal's tail segment: its first LSN and its size,
// which tidwall keeps in memory as the segment's buffer (after an Open, the
// size of the file).
type tailState struct {
	start uint64
	bytes int
}

// apply plays tidwall's segment rule for a batch whose entries have the
// given sizes, following LSN last: before the batch, a tail of more than
// segSize bytes starts a new segment; after each entry, a tail of at least
// segSize bytes starts a new segment after it. It returns how many segment
// files the batch creates. The rule is tidwall/wal v1.2.1's WriteBatch
// (TestTidwallRollover).
func (t *tailState) apply(last uint64, sizes []int, segSize int) (created int) {
	if t.bytes > segSize {
		*t = tailState{start: last + 1}
		created++
	}
	for i, n := range sizes {
		t.bytes += n
		if t.bytes >= segSize {
			*t = tailState{start: last + uint64(i) + 2}
			created++
		}
	}
	return created
}

// loadTail sets the tail mirror from the directory.
func (l *Log) loadTail() error {
	segs, err := listSegments(l.opts.FS, l.dir)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return fmt.Errorf("wal: %s holds no segment", l.dir)
	}
	s := segs[len(segs)-1]
	fi, err := l.opts.FS.Stat(s.path)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	l.tail = tailState{start: s.start, bytes: int(fi.Size())}
	return nil
}

// readFile reads the file at path into buf, growing it as needed.
func readFile(fsys vfs.FS, path string, buf []byte) ([]byte, error) {
	f, err := vfs.Open(fsys, path)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return buf, err
	}
	size := int(fi.Size())
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	if _, err := io.ReadFull(f, buf); err != nil {
		return buf[:0], fmt.Errorf("read %s: %w", path, err)
	}
	return buf, nil
}

// ensureDir creates dir and its missing parents and fsyncs the parent of
// each directory it created.
func ensureDir(fsys vfs.FS, dir string, noSync bool) error {
	var created []string
	for p := dir; ; {
		_, err := fsys.Stat(p)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		created = append(created, p)
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	if len(created) == 0 {
		return nil
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := fsys.Mkdir(created[i], 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	if noSync {
		return nil
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := fsys.SyncDir(filepath.Dir(created[i])); err != nil {
			return err
		}
	}
	return nil
}
