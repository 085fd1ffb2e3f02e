package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/golang/snappy"
)

const (
	// frameVersion is the format version written in byte 0 of every frame.
	frameVersion = 1
	// headerSize is the size of the fixed frame header.
	headerSize = 20
	// flagSnappy marks a body stored snappy-compressed.
	flagSnappy = 1 << 0
	// compressMin is the smallest body Append tries to compress.
	compressMin = 256
	// maxSnappyRatio bounds decoded/encoded size of a snappy block.
	maxSnappyRatio = 22

	// MaxRecordSize is the largest record body, uncompressed, that Append
	// accepts and that DecodeFrame decompresses. It bounds what a hostile
	// frame can make the decoder allocate.
	MaxRecordSize = 64 << 20
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// header is the decoded fixed part of a frame.
type header struct {
	kind  Kind
	flags byte
	lsn   uint64
	n     uint32 // stored body length
	crc   uint32
}

// frameError is a structural problem of one frame, before the place (file,
// offset) is known.
func frameError(format string, args ...any) *CorruptError {
	return &CorruptError{Offset: -1, Reason: fmt.Sprintf(format, args...)}
}

// encodeBody returns the stored form of body and its flags: snappy when the
// body is at least compressMin bytes and compression saves at least 1/8.
// The returned payload is body itself when it is stored as is.
func encodeBody(body []byte) (flags byte, payload []byte) {
	if len(body) < compressMin {
		return 0, body
	}
	c := snappy.Encode(nil, body)
	if len(body)-len(c) < len(body)/8 {
		return 0, body
	}
	return flagSnappy, c
}

// appendFrame appends the frame of an already encoded payload to dst.
func appendFrame(dst []byte, lsn uint64, kind Kind, flags byte, payload []byte) []byte {
	off := len(dst)
	dst = append(dst, frameVersion, byte(kind), flags, 0)
	dst = binary.LittleEndian.AppendUint64(dst, lsn)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(payload)))
	crc := crc32.Update(0, crcTable, dst[off:off+16])
	crc = crc32.Update(crc, crcTable, payload)
	dst = binary.LittleEndian.AppendUint32(dst, crc)
	return append(dst, payload...)
}

// EncodeFrame appends to dst the frame of one record and returns the
// extended slice. A body of at least 256 bytes is stored snappy-compressed
// when that saves at least 1/8 of it. body is not retained. A body longer
// than MaxRecordSize makes a frame that DecodeFrame refuses when compressed;
// Append refuses such bodies up front.
func EncodeFrame(dst []byte, lsn uint64, kind Kind, body []byte) []byte {
	flags, payload := encodeBody(body)
	return appendFrame(dst, lsn, kind, flags, payload)
}

// parseHeader checks the fixed part of a frame: size, version, reserved
// byte and flags. It does not look at the body or the CRC.
func parseHeader(b []byte) (header, *CorruptError) {
	if len(b) < headerSize {
		if len(b) == 0 {
			return header{}, frameError("zero-length entry")
		}
		return header{}, frameError("entry of %d bytes is shorter than a frame header", len(b))
	}
	if b[0] != frameVersion {
		return header{}, frameError("frame version %d, want %d", b[0], frameVersion)
	}
	if b[3] != 0 {
		return header{}, frameError("reserved byte is %#x", b[3])
	}
	if b[2]&^flagSnappy != 0 {
		return header{}, frameError("unknown flags %#x", b[2])
	}
	return header{
		kind:  Kind(b[1]),
		flags: b[2],
		lsn:   binary.LittleEndian.Uint64(b[4:12]),
		n:     binary.LittleEndian.Uint32(b[12:16]),
		crc:   binary.LittleEndian.Uint32(b[16:20]),
	}, nil
}

// checkFrame validates a whole frame (one tidwall entry): header, that the
// body fills the entry exactly, and, when crc is set, the CRC. It returns
// the stored payload, a subslice of b.
func checkFrame(b []byte, crc bool) (header, []byte, *CorruptError) {
	h, err := parseHeader(b)
	if err != nil {
		return h, nil, err
	}
	if uint64(h.n) != uint64(len(b)-headerSize) {
		return h, nil, frameError("frame body length %d, entry holds %d", h.n, len(b)-headerSize)
	}
	payload := b[headerSize:]
	if !crc {
		return h, payload, nil
	}
	sum := crc32.Update(0, crcTable, b[:16])
	sum = crc32.Update(sum, crcTable, payload)
	if sum != h.crc {
		return h, nil, frameError("CRC mismatch (stored %#08x, computed %#08x)", h.crc, sum)
	}
	return h, payload, nil
}

// decodeBody returns the uncompressed body of a checked frame. A compressed
// body is decoded into dst when it is large enough, else into a new slice.
func decodeBody(dst []byte, flags byte, payload []byte) ([]byte, *CorruptError) {
	if flags&flagSnappy == 0 {
		return payload, nil
	}
	n, err := snappy.DecodedLen(payload)
	if err != nil {
		return nil, frameError("snappy body: %v", err)
	}
	if n > MaxRecordSize {
		return nil, frameError("snappy body decodes to %d bytes, more than %d", n, MaxRecordSize)
	}
	// A snappy element expands at most 64/3 times (a 3-byte copy of 64
	// bytes), so a larger claim is a lie; refusing it keeps a small hostile
	// frame from making the decoder allocate up to MaxRecordSize.
	if n > maxSnappyRatio*len(payload) {
		return nil, frameError("snappy body of %d bytes claims %d decoded bytes", len(payload), n)
	}
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	body, err := snappy.Decode(dst[:n], payload)
	if err != nil {
		return nil, frameError("snappy body: %v", err)
	}
	return body, nil
}

// DecodeFrame decodes one frame, the whole of b (a tidwall entry). It
// checks the version, the length and the CRC, and returns the body
// uncompressed. The body aliases b when it was stored uncompressed and is a
// new slice otherwise. Structural problems return an error wrapping
// ErrCorrupt. DecodeFrame does not know which LSN b should hold: the
// caller compares.
func DecodeFrame(b []byte) (lsn uint64, kind Kind, body []byte, err error) {
	h, payload, cerr := checkFrame(b, true)
	if cerr != nil {
		return 0, 0, nil, cerr
	}
	body, cerr = decodeBody(nil, h.flags, payload)
	if cerr != nil {
		return 0, 0, nil, cerr
	}
	return h.lsn, h.kind, body, nil
}
