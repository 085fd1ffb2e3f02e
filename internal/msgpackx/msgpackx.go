// Package msgpackx checks the structure of msgpack data before
// github.com/vmihailenco/msgpack/v5 decodes it.
//
// That decoder allocates what a length header claims before it reads the
// bytes: a bin32 of 4 GiB, an array32 of 4 billion structs. Check walks a
// value without allocating and refuses one whose declared lengths and
// element counts do not fit in the bytes it has; since every element of a
// checked value takes at least a byte, decoding it cannot allocate more
// than a small multiple (the size of the largest element type) of its
// length.
package msgpackx

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"

	"github.com/vmihailenco/msgpack/v5"
)

// MaxDepth bounds the nesting of the values Check and Skip accept: a
// scalar at the top is at depth 1.
const MaxDepth = 16

// Error is a structural problem of msgpack data at byte Offset.
type Error struct {
	Offset int
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("msgpack: offset %d: %s", e.Offset, e.Reason) }

func errorf(pos int, format string, args ...any) *Error {
	return &Error{Offset: pos, Reason: fmt.Sprintf(format, args...)}
}

// Check checks that b holds exactly one well-formed msgpack value, nested
// at most MaxDepth deep, whose declared lengths and element counts all fit
// in b. Its error is an *Error.
func Check(b []byte) error {
	end, err := Skip(b, 0)
	if err != nil {
		return err
	}
	if end != len(b) {
		return errorf(end, "%d bytes after the value", len(b)-end)
	}
	return nil
}

// Unmarshal decodes b into v with msgpack.Unmarshal if Check accepts it.
func Unmarshal(b []byte, v any) error {
	if err := Check(b); err != nil {
		return err
	}
	return msgpack.Unmarshal(b, v)
}

// SortedMap is a map that encodes with its keys in increasing order, so
// that equal values always encode to equal bytes: stored records and
// checkpoints are reproducible, and their sizes do not depend on map
// iteration order. It decodes as a plain map.
type SortedMap[V any] map[string]V

// EncodeMsgpack implements msgpack.CustomEncoder.
func (m SortedMap[V]) EncodeMsgpack(enc *msgpack.Encoder) error {
	if m == nil {
		return enc.EncodeNil()
	}
	if err := enc.EncodeMapLen(len(m)); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if err := enc.EncodeString(k); err != nil {
			return err
		}
		if err := enc.Encode(m[k]); err != nil {
			return err
		}
	}
	return nil
}

// Skip checks that b[pos:] starts with one well-formed msgpack value, as
// Check does, and returns the offset just past it.
func Skip(b []byte, pos int) (int, *Error) {
	return skip(b, pos, 0)
}

func skip(b []byte, pos, depth int) (int, *Error) {
	if depth >= MaxDepth {
		return pos, errorf(pos, "values nested more than %d deep", MaxDepth)
	}
	if pos >= len(b) {
		return pos, errorf(pos, "value missing at the end of the data")
	}
	start := pos
	c := b[pos]
	pos++
	var n, items uint64 // payload bytes, nested values
	var err *Error
	switch {
	case c <= 0x7f, c >= 0xe0: // positive and negative fixint
	case c <= 0x8f: // fixmap
		items = 2 * uint64(c&0x0f)
	case c <= 0x9f: // fixarray
		items = uint64(c & 0x0f)
	case c <= 0xbf: // fixstr
		n = uint64(c & 0x1f)
	default:
		switch c {
		case 0xc0, 0xc2, 0xc3: // nil, false, true
		case 0xc4, 0xd9: // bin8, str8
			n, pos, err = readLen(b, pos, 1)
		case 0xc5, 0xda: // bin16, str16
			n, pos, err = readLen(b, pos, 2)
		case 0xc6, 0xdb: // bin32, str32
			n, pos, err = readLen(b, pos, 4)
		case 0xc7: // ext8: length, type, data
			n, pos, err = readLen(b, pos, 1)
			n++
		case 0xc8: // ext16
			n, pos, err = readLen(b, pos, 2)
			n++
		case 0xc9: // ext32
			n, pos, err = readLen(b, pos, 4)
			n++
		case 0xca: // float32
			n = 4
		case 0xcb: // float64
			n = 8
		case 0xcc, 0xd0: // uint8, int8
			n = 1
		case 0xcd, 0xd1:
			n = 2
		case 0xce, 0xd2:
			n = 4
		case 0xcf, 0xd3:
			n = 8
		case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1, 2, 4, 8, 16 with a type byte
			n = 1 + 1<<(c-0xd4)
		case 0xdc: // array16
			items, pos, err = readLen(b, pos, 2)
		case 0xdd: // array32
			items, pos, err = readLen(b, pos, 4)
		case 0xde: // map16
			items, pos, err = readLen(b, pos, 2)
			items *= 2
		case 0xdf: // map32
			items, pos, err = readLen(b, pos, 4)
			items *= 2
		default: // 0xc1
			return start, errorf(start, "invalid msgpack code %#x", c)
		}
	}
	if err != nil {
		return start, err
	}
	if n > uint64(len(b)-pos) {
		return start, errorf(start, "value of %d bytes, %d remain", n, len(b)-pos)
	}
	pos += int(n)
	if items > uint64(len(b)-pos) {
		return start, errorf(start, "%d nested values cannot fit in the %d bytes that remain", items, len(b)-pos)
	}
	for ; items > 0; items-- {
		if pos, err = skip(b, pos, depth+1); err != nil {
			return start, err
		}
	}
	return pos, nil
}

// readLen reads a big-endian length of size bytes at b[pos:].
func readLen(b []byte, pos, size int) (uint64, int, *Error) {
	if len(b)-pos < size {
		return 0, pos, errorf(pos, "length field cut by the end of the data")
	}
	switch size {
	case 1:
		return uint64(b[pos]), pos + 1, nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b[pos:])), pos + 2, nil
	}
	return uint64(binary.BigEndian.Uint32(b[pos:])), pos + 4, nil
}

// MapHeader reads a msgpack map header at b[pos:] and returns the number
// of pairs and the offset of the first key. It does not check the pairs:
// use it on data Check or Skip accepted.
func MapHeader(b []byte, pos int) (int, int, *Error) {
	if pos >= len(b) {
		return 0, pos, errorf(pos, "map missing")
	}
	c := b[pos]
	switch {
	case c >= 0x80 && c <= 0x8f:
		return int(c & 0x0f), pos + 1, nil
	case c == 0xde:
		n, p, err := readLen(b, pos+1, 2)
		return int(n), p, err
	case c == 0xdf:
		n, p, err := readLen(b, pos+1, 4)
		return int(n), p, err
	}
	return 0, pos, errorf(pos, "msgpack code %#x where a map should be", c)
}

// Str returns the payload of the msgpack str at b[pos:end], a value Skip
// accepted (end is what it returned), and false if the value is not a str.
func Str(b []byte, pos, end int) ([]byte, bool) {
	c := b[pos]
	switch {
	case c >= 0xa0 && c <= 0xbf:
		return b[pos+1 : end], true
	case c == 0xd9:
		return b[pos+2 : end], true
	case c == 0xda:
		return b[pos+3 : end], true
	case c == 0xdb:
		return b[pos+5 : end], true
	}
	return nil, false
}

// Bin returns the payload of the msgpack bin at b[pos:end], a value Skip
// accepted, or nil for a msgpack nil (an empty bin), and false if the value
// is neither.
func Bin(b []byte, pos, end int) ([]byte, bool) {
	switch b[pos] {
	case 0xc0:
		return nil, true
	case 0xc4:
		return b[pos+2 : end], true
	case 0xc5:
		return b[pos+3 : end], true
	case 0xc6:
		return b[pos+5 : end], true
	}
	return nil, false
}
