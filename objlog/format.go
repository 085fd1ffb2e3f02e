package objlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/pwlog/pwlog/wal"
)

const (
	// magic starts every log object.
	magic = "PWOL"
	// formatVersion is the object format version, byte 4 of the header.
	formatVersion = 1
	// headerSize is the size of the fixed object header.
	headerSize = 32
	// trailerSize is the size of the trailer CRC.
	trailerSize = 4
	// frameHeaderSize is the size of a wal frame's fixed header; its body
	// length is the u32le at bytes [12,16).
	frameHeaderSize = 20

	// idDigits is the number of decimal digits of an object id in a name.
	idDigits = 20
	// objectSuffix ends every log object's name.
	objectSuffix = ".log"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ObjectName returns the name of log object id: id in 20 zero-padded
// decimal digits and ".log", so that names sort as ids do.
func ObjectName(id uint64) string { return fmt.Sprintf("%020d%s", id, objectSuffix) }

// ParseObjectName returns the id of a log object's name, and false for a
// name that is not one (ObjectName's form, id at least 1).
func ParseObjectName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, objectSuffix)
	if !ok || len(digits) != idDigits {
		return 0, false
	}
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || id == 0 {
		return 0, false
	}
	return id, true
}

// objHeader is the decoded header of a log object.
type objHeader struct {
	epoch uint64
	first uint64 // LSN of the first record; for an empty object the LSN the next record takes
	count uint32 // records in the object
}

// last returns the LSN of the object's last record, first-1 when it holds
// none.
func (h objHeader) last() uint64 { return h.first + uint64(h.count) - 1 }

// putHeader writes h into b[:headerSize].
func putHeader(b []byte, h objHeader) {
	copy(b[0:4], magic)
	b[4] = formatVersion
	b[5], b[6], b[7] = 0, 0, 0
	binary.LittleEndian.PutUint64(b[8:16], h.epoch)
	binary.LittleEndian.PutUint64(b[16:24], h.first)
	binary.LittleEndian.PutUint32(b[24:28], h.count)
	binary.LittleEndian.PutUint32(b[28:32], crc32.Checksum(b[:28], crcTable))
}

// sealObject completes an object whose frames follow headerSize reserved
// bytes in buf: it writes the header and appends the trailer CRC.
func sealObject(buf []byte, h objHeader) []byte {
	putHeader(buf, h)
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, crcTable))
}

// encodeEmpty returns an object without records: a fence, or a test's.
func encodeEmpty(epoch, next uint64) []byte {
	return sealObject(make([]byte, headerSize, headerSize+trailerSize), objHeader{epoch: epoch, first: next})
}

// corruptf returns the damage of object name at byte off for lsn.
func corruptf(name string, off int, lsn uint64, format string, args ...any) *wal.CorruptError {
	return &wal.CorruptError{File: name, Offset: int64(off), LSN: lsn, Reason: fmt.Sprintf(format, args...)}
}

// parseHeader checks and decodes the header at the start of b, which may
// be the header alone or the whole object.
func parseHeader(name string, b []byte) (objHeader, *wal.CorruptError) {
	if len(b) < headerSize {
		return objHeader{}, corruptf(name, 0, 0, "object of %d bytes is shorter than a header", len(b))
	}
	if sum := crc32.Checksum(b[:28], crcTable); sum != binary.LittleEndian.Uint32(b[28:32]) {
		return objHeader{}, corruptf(name, 0, 0, "header CRC mismatch (stored %#08x, computed %#08x)",
			binary.LittleEndian.Uint32(b[28:32]), sum)
	}
	if string(b[0:4]) != magic {
		return objHeader{}, corruptf(name, 0, 0, "bad magic %q", b[0:4])
	}
	if b[4] != formatVersion {
		return objHeader{}, corruptf(name, 0, 0, "format version %d, want %d", b[4], formatVersion)
	}
	if b[5]|b[6]|b[7] != 0 {
		return objHeader{}, corruptf(name, 0, 0, "reserved header bytes are not zero")
	}
	h := objHeader{
		epoch: binary.LittleEndian.Uint64(b[8:16]),
		first: binary.LittleEndian.Uint64(b[16:24]),
		count: binary.LittleEndian.Uint32(b[24:28]),
	}
	if h.first == 0 {
		return objHeader{}, corruptf(name, 0, 0, "first LSN is 0")
	}
	if h.first+uint64(h.count) < h.first {
		return objHeader{}, corruptf(name, 0, h.first, "%d records from LSN %d overflow", h.count, h.first)
	}
	return h, nil
}

// frameIter walks the frames of a whole object after its header was
// parsed.
type frameIter struct {
	name string
	b    []byte // the object without its trailer
	h    objHeader
	off  int    // offset of the next frame
	i    uint32 // frames decoded
	err  *wal.CorruptError
	// The current frame.
	rec wal.Record
	pos int // its offset
	n   int // its size
}

func newFrameIter(name string, b []byte, h objHeader) *frameIter {
	it := &frameIter{name: name, h: h, off: headerSize}
	if len(b) < headerSize+trailerSize {
		it.b = b
		it.err = corruptf(name, len(b), h.first, "object of %d bytes has no trailer", len(b))
		return it
	}
	it.b = b[:len(b)-trailerSize]
	return it
}

// next decodes the next frame into it.rec; false at the end or on damage
// (then it.err is set).
func (it *frameIter) next() bool {
	if it.err != nil {
		return false
	}
	lsn := it.h.first + uint64(it.i)
	if it.i == it.h.count {
		if it.off != len(it.b) {
			it.err = corruptf(it.name, it.off, lsn, "%d bytes after the last of %d records", len(it.b)-it.off, it.h.count)
		}
		return false
	}
	rest := it.b[it.off:]
	if len(rest) < frameHeaderSize {
		it.err = corruptf(it.name, it.off, lsn, "object ends inside record %d of %d", it.i+1, it.h.count)
		return false
	}
	n := frameHeaderSize + int(binary.LittleEndian.Uint32(rest[12:16]))
	if n < frameHeaderSize || n > len(rest) {
		it.err = corruptf(it.name, it.off, lsn, "frame length runs past the end of the object")
		return false
	}
	got, kind, body, err := wal.DecodeFrame(rest[:n])
	if err != nil {
		reason := err.Error()
		if ce, ok := errors.AsType[*wal.CorruptError](err); ok {
			reason = ce.Reason
		}
		it.err = corruptf(it.name, it.off, lsn, "%s", reason)
		return false
	}
	if got != lsn {
		it.err = corruptf(it.name, it.off, lsn, "frame holds LSN %d, want %d", got, lsn)
		return false
	}
	it.rec = wal.Record{LSN: lsn, Kind: kind, Data: body}
	it.pos, it.n = it.off, n
	it.off += n
	it.i++
	return true
}

// checkTrailer compares the trailer CRC of the whole object b.
func checkTrailer(name string, b []byte, h objHeader) *wal.CorruptError {
	if len(b) < headerSize+trailerSize {
		return corruptf(name, len(b), h.first, "object of %d bytes has no trailer", len(b))
	}
	end := len(b) - trailerSize
	stored := binary.LittleEndian.Uint32(b[end:])
	if sum := crc32.Checksum(b[:end], crcTable); sum != stored {
		return corruptf(name, end, h.last()+1, "trailer CRC mismatch (stored %#08x, computed %#08x)", stored, sum)
	}
	return nil
}

// checkObject validates the whole object b: header, every frame (CRC,
// LSN, lengths) and the trailer. The first damage found is returned.
func checkObject(name string, b []byte) (objHeader, *wal.CorruptError) {
	h, cerr := parseHeader(name, b)
	if cerr != nil {
		return h, cerr
	}
	it := newFrameIter(name, b, h)
	for it.next() {
	}
	if it.err != nil {
		return h, it.err
	}
	return h, checkTrailer(name, b, h)
}
