package checkpoint

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"github.com/golang/snappy"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/pwlog/pwlog/differential"
)

// DefaultBlockSize is the size of a run's blocks before compression when
// WriterOptions.BlockSize is zero: big enough that a block's index entry
// and checksum cost little, small enough that reading one group reads
// little else (Pebble's default is 4 KiB).
const DefaultBlockSize = 8 << 10

// WriterOptions tune a RunWriter.
type WriterOptions struct {
	// BlockSize is the size a block reaches, before compression, before
	// the next entry starts a new one. Default DefaultBlockSize; tests
	// use a few bytes so that every group spans blocks.
	BlockSize int
	// Groups is about how many distinct groups the run will hold (an
	// upper bound is fine); it sizes the run's filter, which lets a
	// lookup of a group the run does not hold read no block. Zero: no
	// filter.
	Groups int
}

// RunWriter writes a run in format 2, entry by entry, to an io.Writer:
// blocks as they fill, then the filter, the index and the footer. Entries
// must come sorted by (group, key, row), none twice, none with a zero
// diff; Add refuses others with an error wrapping ErrInvalid.
type RunWriter struct {
	w    io.Writer
	meta RunMeta
	opts WriterOptions
	off  int64
	crc  uint32 // CRC-32C of everything written, for RunMeta.CRC
	err  error

	cur       differential.Deltas // the block being filled
	lastGroup string              // the last entry written, for the order check
	lastKey   differential.Key
	lastRow   string
	curBytes  int
	blocks    []blockHandle
	n         int64
	groups    int64
	filter    *bloom
	payload   []byte
	comp      []byte
}

// blockHandle is a block's entry in a run's index.
type blockHandle struct {
	off     int64 // of the compressed payload in the file
	length  int64 // of the compressed payload, without its 4-byte checksum
	entries int
	first   string // group of the first entry
	last    string // group of the last entry
}

// NewRunWriter starts a run of the arrangement meta names, written to w.
// Bytes, CRC and Entries of meta are set by Finish.
func NewRunWriter(w io.Writer, meta RunMeta, opts WriterOptions) *RunWriter {
	if opts.BlockSize <= 0 {
		opts.BlockSize = DefaultBlockSize
	}
	rw := &RunWriter{w: w, meta: meta, opts: opts}
	if opts.Groups > 0 {
		rw.filter = newBloom(opts.Groups)
	}
	var h [headerSize]byte
	copy(h[:], magicRun)
	binary.LittleEndian.PutUint16(h[offVersion:], runVersion)
	binary.LittleEndian.PutUint32(h[offCRC:], crc32.Checksum(h[:offCRC], crcTable))
	rw.write(h[:])
	return rw
}

func (w *RunWriter) write(b []byte) {
	if w.err != nil {
		return
	}
	if _, err := w.w.Write(b); err != nil {
		w.err = fmt.Errorf("checkpoint: write run %s: %w", w.meta.Name, err)
		return
	}
	w.crc = crc32.Update(w.crc, crcTable, b)
	w.off += int64(len(b))
}

// Add appends one entry.
func (w *RunWriter) Add(group string, key differential.Key, row string, diff int64) error {
	if w.err != nil {
		return w.err
	}
	if diff == 0 {
		return fmt.Errorf("%w: run %s: entry %d: zero diff", ErrInvalid, w.meta.Name, w.n)
	}
	if i := w.cur.Len() - 1; i >= 0 || w.n > 0 {
		var pg, pr string
		var pk differential.Key
		if i >= 0 {
			pg, pk, pr = w.cur.Groups[i], w.cur.Keys[i], w.cur.Rows[i]
		} else {
			pg, pk, pr = w.lastGroup, w.lastKey, w.lastRow
		}
		c := strings.Compare(pg, group)
		if c == 0 {
			c = compareKeyRow(pk, pr, key, row)
		}
		if c >= 0 {
			reason := "not sorted after the entry before"
			if c == 0 {
				reason = "same (group, key, row) as the entry before"
			}
			return fmt.Errorf("%w: run %s: entry %d: %s", ErrInvalid, w.meta.Name, w.n, reason)
		}
		if pg != group {
			w.groups++
			w.addToFilter(group)
		}
	} else {
		w.groups++
		w.addToFilter(group)
	}
	w.cur.Groups = append(w.cur.Groups, group)
	w.cur.Keys = append(w.cur.Keys, key)
	w.cur.Rows = append(w.cur.Rows, row)
	w.cur.Diffs = append(w.cur.Diffs, diff)
	w.curBytes += len(group) + len(row) + 12
	w.n++
	if w.curBytes >= w.opts.BlockSize {
		w.flush()
	}
	return w.err
}

func (w *RunWriter) addToFilter(group string) {
	if w.filter != nil {
		w.filter.add(group)
	}
}

// flush writes the block being filled.
func (w *RunWriter) flush() {
	n := w.cur.Len()
	if n == 0 {
		return
	}
	w.payload = appendBlock(w.payload[:0], &w.cur, 0, n)
	w.comp = snappy.Encode(w.comp[:cap(w.comp)], w.payload)
	h := blockHandle{off: w.off, length: int64(len(w.comp)), entries: n, first: w.cur.Groups[0], last: w.cur.Groups[n-1]}
	w.write(w.comp)
	var t [4]byte
	binary.LittleEndian.PutUint32(t[:], crc32.Checksum(w.comp, crcTable))
	w.write(t[:])
	w.blocks = append(w.blocks, h)
	w.lastGroup, w.lastKey, w.lastRow = w.cur.Groups[n-1], w.cur.Keys[n-1], w.cur.Rows[n-1]
	w.cur.Groups, w.cur.Keys, w.cur.Rows, w.cur.Diffs = w.cur.Groups[:0], w.cur.Keys[:0], w.cur.Rows[:0], w.cur.Diffs[:0]
	w.curBytes = 0
}

// Finish writes the rest of the run and returns its meta: the one given
// to NewRunWriter with Entries, Bytes and CRC (of the whole file) set.
// The writer is done after it.
func (w *RunWriter) Finish() (RunMeta, error) {
	w.flush()
	var fOff, fLen int64
	var fCRC uint32
	k := 0
	if w.filter != nil && w.n > 0 {
		fOff, fLen, fCRC, k = w.off, int64(len(w.filter.bits)), crc32.Checksum(w.filter.bits, crcTable), w.filter.k
		w.write(w.filter.bits)
	}
	meta := w.meta
	meta.Entries, meta.Bytes, meta.CRC = w.n, 0, 0
	mb, err := msgpack.Marshal(&meta)
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("checkpoint: encode run %s: %w", w.meta.Name, err)
	}
	idx := binary.AppendUvarint(nil, uint64(len(mb)))
	idx = append(idx, mb...)
	idx = binary.AppendUvarint(idx, uint64(w.n))
	idx = binary.AppendUvarint(idx, uint64(w.groups))
	idx = binary.AppendUvarint(idx, uint64(len(w.blocks)))
	for _, h := range w.blocks {
		idx = binary.AppendUvarint(idx, uint64(h.off))
		idx = binary.AppendUvarint(idx, uint64(h.length))
		idx = binary.AppendUvarint(idx, uint64(h.entries))
		idx = binary.AppendUvarint(idx, uint64(len(h.first)))
		idx = append(idx, h.first...)
		idx = binary.AppendUvarint(idx, uint64(len(h.last)))
		idx = append(idx, h.last...)
	}
	idx = binary.AppendUvarint(idx, uint64(fOff))
	idx = binary.AppendUvarint(idx, uint64(fLen))
	idx = binary.AppendUvarint(idx, uint64(k))
	idx = binary.LittleEndian.AppendUint32(idx, fCRC)
	ci := snappy.Encode(nil, idx)
	var f [footerSize]byte
	binary.LittleEndian.PutUint64(f[0:], uint64(w.off))
	binary.LittleEndian.PutUint32(f[8:], uint32(len(ci)))
	binary.LittleEndian.PutUint32(f[12:], crc32.Checksum(ci, crcTable))
	copy(f[16:], magicFooter)
	w.write(ci)
	w.write(f[:])
	if w.err != nil {
		return meta, w.err
	}
	meta.Bytes, meta.CRC = w.off, w.crc
	return meta, nil
}
