package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/golang/snappy"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/msgpackx"
)

// ErrOldFormat marks a run of format 1, one snappy block without an
// index, which this build decodes whole (DecodeRun) but does not read in
// place: `pwlog compact` rewrites a storage's runs in format 2.
var ErrOldFormat = errors.New("checkpoint: run of format 1 (no block index): run `pwlog compact` on the storage to upgrade it")

var runIDs atomic.Uint64

// Run is an open run of format 2, read in place: opening reads its
// header, footer and index; a lookup reads the filter once and the
// blocks that may hold the group, through the cache. It is safe for
// concurrent use.
type Run struct {
	name   string
	r      io.ReaderAt
	size   int64
	id     uint64
	cache  *Cache
	meta   RunMeta
	groups int64
	blocks []blockHandle

	filterOff, filterLen int64
	filterK              int
	filterCRC            uint32
	filterOnce           sync.Once
	filter               []byte
	filterErr            error
}

// OpenRun opens the run file name of size bytes read through r, caching
// its blocks in cache (nil: a cache of its own that keeps nothing). It
// checks the header, the footer and the index; blocks are checked as
// they are read. Damage is a *CorruptError naming the file; a run of
// format 1 is ErrOldFormat, of a newer format ErrVersion.
func OpenRun(name string, r io.ReaderAt, size int64, cache *Cache) (*Run, error) {
	if cache == nil {
		cache = NewCache(0)
	}
	run := &Run{name: name, r: r, size: size, id: runIDs.Add(1), cache: cache}
	// The header first: a run of a newer format, whose header is the same,
	// may have no footer.
	if size < headerSize {
		return nil, run.corrupt(size, "file of %d bytes ends inside the %d-byte header", size, headerSize)
	}
	var h [headerSize]byte
	if err := run.readAt(h[:], 0); err != nil {
		return nil, err
	}
	if m := string(h[:len(magicRun)]); m != magicRun {
		if m == magicManifest {
			return nil, run.corrupt(0, "file is a manifest, not a run")
		}
		return nil, run.corrupt(0, "bad magic %q, want %q", m, magicRun)
	}
	// A run of format 1 has its checksum over the whole file: it is told
	// by its version alone. Any other version is believed only once the
	// header's checksum holds, so that a damaged version field is
	// corruption, not a file of a newer format.
	v := binary.LittleEndian.Uint16(h[offVersion:])
	if v == 1 {
		return nil, fmt.Errorf("%s: %w", name, ErrOldFormat)
	}
	if got := crc32.Checksum(h[:offCRC], crcTable); binary.LittleEndian.Uint32(h[offCRC:]) != got {
		return nil, run.corrupt(offCRC, "header CRC mismatch (stored %#08x, computed %#08x)", binary.LittleEndian.Uint32(h[offCRC:]), got)
	}
	switch {
	case v > runVersion:
		return nil, &versionError{object: name, version: v, reads: runVersion}
	case v != runVersion:
		return nil, run.corrupt(offVersion, "format version %d", v)
	}
	if f := binary.LittleEndian.Uint16(h[offFlags:]); f != 0 {
		return nil, run.corrupt(offFlags, "unknown flags %#x", f)
	}
	if l := binary.LittleEndian.Uint64(h[offLength:]); l != 0 {
		return nil, run.corrupt(offLength, "reserved length field holds %d", l)
	}
	if size < headerSize+footerSize {
		return nil, run.corrupt(size, "file of %d bytes is shorter than a header and a footer", size)
	}
	var f [footerSize]byte
	fpos := size - footerSize
	if err := run.readAt(f[:], fpos); err != nil {
		return nil, err
	}
	if string(f[16:]) != magicFooter {
		return nil, run.corrupt(fpos+16, "bad footer magic %q, want %q", f[16:], magicFooter)
	}
	iOff, iLen, iCRC := int64(binary.LittleEndian.Uint64(f[0:])), int64(binary.LittleEndian.Uint32(f[8:])), binary.LittleEndian.Uint32(f[12:])
	if iOff < headerSize || iOff > fpos || iLen != fpos-iOff {
		return nil, run.corrupt(fpos, "footer places the index at %d (%d bytes) in a file of %d bytes", iOff, iLen, size)
	}
	ci := make([]byte, iLen)
	if err := run.readAt(ci, iOff); err != nil {
		return nil, err
	}
	if got := crc32.Checksum(ci, crcTable); got != iCRC {
		return nil, run.corrupt(iOff, "index CRC mismatch (stored %#08x, computed %#08x)", iCRC, got)
	}
	n, err := snappy.DecodedLen(ci)
	if err != nil || n > maxSnappyRatio*len(ci)+64 {
		return nil, run.corrupt(iOff, "index: snappy length: %v", err)
	}
	idx, err := snappy.Decode(make([]byte, n), ci)
	if err != nil {
		return nil, run.corrupt(iOff, "index: snappy: %v", err)
	}
	if reason := run.parseIndex(idx, iOff); reason != "" {
		return nil, run.corrupt(iOff, "index: %s", reason)
	}
	return run, nil
}

// parseIndex reads the index (see the package doc) into run.
func (run *Run) parseIndex(p []byte, end int64) string {
	pos := 0
	uv := func() (uint64, bool) {
		v, k := binary.Uvarint(p[pos:])
		if k <= 0 {
			return 0, false
		}
		pos += k
		return v, true
	}
	str := func() (string, bool) {
		l, ok := uv()
		if !ok || l > uint64(len(p)-pos) {
			return "", false
		}
		s := string(p[pos : pos+int(l)])
		pos += int(l)
		return s, true
	}
	mb, ok := str()
	if !ok {
		return "bad metadata length"
	}
	// msgpackx checks the declared lengths first: msgpack allocates up to
	// a megabyte for a length before it finds the bytes missing.
	if err := msgpackx.Unmarshal([]byte(mb), &run.meta); err != nil {
		return fmt.Sprintf("metadata: %v", err)
	}
	n, ok1 := uv()
	g, ok2 := uv()
	nb, ok3 := uv()
	if !ok1 || !ok2 || !ok3 || nb > uint64(len(p)) || g > n || (n > 0) != (nb > 0) {
		return "bad counts"
	}
	if run.meta.Entries != int64(n) {
		return fmt.Sprintf("metadata says %d entries, the index %d", run.meta.Entries, n)
	}
	run.groups = int64(g)
	run.blocks = make([]blockHandle, 0, nb)
	next, total := int64(headerSize), uint64(0)
	for i := range int(nb) {
		off, ok1 := uv()
		length, ok2 := uv()
		entries, ok3 := uv()
		first, ok4 := str()
		last, ok5 := str()
		if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
			return fmt.Sprintf("block %d: bad entry", i)
		}
		// A block's entries take at least 10 bytes each once decoded, and
		// it decodes to at most maxSnappyRatio times its size and 64 bytes
		// (see Run.block): bound the count by the block's length, so that
		// what a decoder allocates for the entries follows the file's size.
		if int64(off) != next || length == 0 || length > uint64(end) || int64(off)+int64(length)+4 > end ||
			entries == 0 || entries > n-total || entries > (maxSnappyRatio*length+64)/10 || last < first {
			return fmt.Sprintf("block %d: at %d, %d bytes, %d entries, groups %q to %q", i, off, length, entries, first, last)
		}
		if i > 0 && first < run.blocks[i-1].last {
			return fmt.Sprintf("block %d starts at group %q, before the last of block %d", i, first, i-1)
		}
		run.blocks = append(run.blocks, blockHandle{off: int64(off), length: int64(length), entries: int(entries), first: first, last: last})
		next = int64(off) + int64(length) + 4
		total += entries
	}
	if total != n {
		return fmt.Sprintf("blocks hold %d entries, the run %d", total, n)
	}
	fOff, ok1 := uv()
	fLen, ok2 := uv()
	k, ok3 := uv()
	if !ok1 || !ok2 || !ok3 || len(p)-pos != 4 {
		return "bad filter entry"
	}
	run.filterCRC = binary.LittleEndian.Uint32(p[pos:])
	// The filter holds at most the 1<<31 bits newBloom makes, so that
	// its bit count fits mayHold's uint32.
	if fLen > 0 && (int64(fOff) != next || int64(fOff)+int64(fLen) != end || fLen > 1<<28 || k == 0 || k > 30) {
		return fmt.Sprintf("filter at %d, %d bytes, %d probes", fOff, fLen, k)
	}
	if fLen == 0 && next != end {
		return fmt.Sprintf("%d bytes between the last block and the index", end-next)
	}
	run.filterOff, run.filterLen, run.filterK = int64(fOff), int64(fLen), int(k)
	return ""
}

func (run *Run) corrupt(off int64, format string, args ...any) error {
	return &CorruptError{Object: run.name, Offset: off, Reason: fmt.Sprintf(format, args...)}
}

func (run *Run) readAt(p []byte, off int64) error {
	n, err := run.r.ReadAt(p, off)
	run.cache.bytesRead.Add(int64(n))
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		return run.corrupt(off+int64(n), "file ends %d bytes into a read of %d", n, len(p))
	}
	return fmt.Errorf("checkpoint: read run %s: %w", run.name, err)
}

// Name returns the run's object name.
func (run *Run) Name() string { return run.name }

// Meta returns the run's metadata as stored in it (Bytes and CRC zero).
func (run *Run) Meta() RunMeta { return run.meta }

// Groups returns the number of distinct groups of the run.
func (run *Run) Groups() int64 { return run.groups }

// Blocks returns the number of blocks of the run.
func (run *Run) Blocks() int { return len(run.blocks) }

// Close drops the run's blocks from the cache. It does not close the
// reader the run was opened on.
func (run *Run) Close() { run.cache.drop(run.id) }

// mayHold reports whether the run may hold group, reading the filter on
// first use.
func (run *Run) mayHold(group string) (bool, error) {
	if run.filterLen == 0 {
		return true, nil
	}
	run.filterOnce.Do(func() {
		b := make([]byte, run.filterLen)
		if err := run.readAt(b, run.filterOff); err != nil {
			run.filterErr = err
			return
		}
		if got := crc32.Checksum(b, crcTable); got != run.filterCRC {
			run.filterErr = run.corrupt(run.filterOff, "filter CRC mismatch (stored %#08x, computed %#08x)", run.filterCRC, got)
			return
		}
		run.filter = b
	})
	if run.filterErr != nil {
		return false, run.filterErr
	}
	return mayHold(run.filter, run.filterK, group), nil
}

// Lookup calls fn for each entry of group, in (key, row) order. The
// strings passed to fn are shared with a cached block: fn copies what it
// keeps. It returns whether the run holds the group.
func (run *Run) Lookup(group string, fn func(key differential.Key, row string, diff int64)) (bool, error) {
	if ok, err := run.mayHold(group); !ok || err != nil {
		return false, err
	}
	// The blocks holding group are consecutive: from the first whose
	// last group is not before it, while their first group is not after it.
	lo, hi := 0, len(run.blocks)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if run.blocks[m].last < group {
			lo = m + 1
		} else {
			hi = m
		}
	}
	found := false
	for i := lo; i < len(run.blocks) && run.blocks[i].first <= group; i++ {
		b, err := run.block(i, true)
		if err != nil {
			return found, err
		}
		s, e := b.find(group)
		for j := s; j < e; j++ {
			fn(b.keys[j], b.rows[j], b.diffs[j])
		}
		found = found || e > s
	}
	return found, nil
}

// block returns block i, from the cache when cached.
func (run *Run) block(i int, cache bool) (*block, error) {
	k := cacheKey{run: run.id, block: i}
	if cache {
		if b := run.cache.get(k); b != nil {
			return b, nil
		}
	}
	h := run.blocks[i]
	buf := make([]byte, h.length+4)
	if err := run.readAt(buf, h.off); err != nil {
		return nil, err
	}
	c := buf[:h.length]
	if stored, got := binary.LittleEndian.Uint32(buf[h.length:]), crc32.Checksum(c, crcTable); stored != got {
		return nil, run.corrupt(h.off, "block %d: CRC mismatch (stored %#08x, computed %#08x)", i, stored, got)
	}
	n, err := snappy.DecodedLen(c)
	if err != nil || n > maxSnappyRatio*len(c)+64 {
		return nil, run.corrupt(h.off, "block %d: snappy length: %v", i, err)
	}
	p, err := snappy.Decode(make([]byte, n), c)
	if err != nil {
		return nil, run.corrupt(h.off, "block %d: snappy: %v", i, err)
	}
	b, reason := decodeBlock(p)
	if reason != "" {
		return nil, run.corrupt(h.off, "block %d: %s", i, reason)
	}
	if b.len() != h.entries || b.groups[0] != h.first || b.groups[len(b.groups)-1] != h.last {
		return nil, run.corrupt(h.off, "block %d holds %d entries of groups %q to %q, the index says %d of %q to %q",
			i, b.len(), b.groups[0], b.groups[len(b.groups)-1], h.entries, h.first, h.last)
	}
	if cache {
		run.cache.put(k, b)
	}
	return b, nil
}

// Entry is one entry of a run: Diff copies of (Key, Row) under Group.
type Entry struct {
	Group string
	Key   differential.Key
	Row   string
	Diff  int64
}

// Iterator goes through sorted entries. Next returns false at the end or
// at an error, which Err then returns.
type Iterator interface {
	Next() (Entry, bool)
	Err() error
}

// Iter returns an iterator over all of the run's entries, sorted; it
// reads each block once, around the cache, and checks the order across
// blocks.
func (run *Run) Iter() Iterator { return &runIter{run: run} }

type runIter struct {
	run  *Run
	bi   int
	b    *block
	e    int
	gi   int // group of entry e in b
	prev Entry
	any  bool
	err  error
}

func (it *runIter) Next() (Entry, bool) {
	for it.err == nil {
		if it.b != nil && it.e < it.b.len() {
			b, e := it.b, it.e
			it.e++
			for int(b.starts[it.gi+1]) <= e {
				it.gi++
			}
			x := Entry{Group: b.groups[it.gi], Key: b.keys[e], Row: b.rows[e], Diff: b.diffs[e]}
			if it.any && e == 0 {
				c := strings.Compare(it.prev.Group, x.Group)
				if c == 0 {
					c = compareKeyRow(it.prev.Key, it.prev.Row, x.Key, x.Row)
				}
				if c >= 0 {
					it.err = it.run.corrupt(it.run.blocks[it.bi-1].off, "block %d does not start after the end of block %d", it.bi-1, it.bi-2)
					return Entry{}, false
				}
			}
			it.prev, it.any = x, true
			return x, true
		}
		if it.bi == len(it.run.blocks) {
			return Entry{}, false
		}
		it.b, it.err = it.run.block(it.bi, false)
		it.bi++
		it.e, it.gi = 0, 0
	}
	return Entry{}, false
}

func (it *runIter) Err() error { return it.err }

// DeltasIter returns an iterator over d, which must be sorted and
// consolidated (as SortDeltas and Merge return them).
func DeltasIter(d *differential.Deltas) Iterator { return &deltasIter{d: d} }

type deltasIter struct {
	d *differential.Deltas
	i int
}

func (it *deltasIter) Next() (Entry, bool) {
	if it.i >= it.d.Len() {
		return Entry{}, false
	}
	i := it.i
	it.i++
	return Entry{Group: it.d.Groups[i], Key: it.d.Keys[i], Row: it.d.Rows[i], Diff: it.d.Diffs[i]}, true
}

func (it *deltasIter) Err() error { return nil }
