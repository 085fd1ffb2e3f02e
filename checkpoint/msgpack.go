package checkpoint

import (
	"encoding/binary"
	"fmt"
)

// maxDepth bounds the nesting of msgpack values in a body. Ours nest at
// most four deep (manifest, runs, run, field).
const maxDepth = 16

// skimError is a structural problem of a msgpack body at offset pos.
type skimError struct {
	pos    int
	reason string
}

func skimErr(pos int, format string, args ...any) *skimError {
	return &skimError{pos: pos, reason: fmt.Sprintf(format, args...)}
}

// skim checks that b[pos:] starts with one well-formed msgpack value,
// nested at most maxDepth-depth levels, whose declared lengths and element
// counts all fit in b; it returns the offset just past the value.
//
// github.com/vmihailenco/msgpack/v5 allocates what a length field claims
// before it reads the bytes (a bin32 of 4 GiB, an array32 of 4 billion
// structs); a body that skim accepted cannot make it allocate more than a
// small multiple of the body's size, since every element takes a byte.
func skim(b []byte, pos, depth int) (int, *skimError) {
	if depth >= maxDepth {
		return pos, skimErr(pos, "values nested more than %d deep", maxDepth)
	}
	if pos >= len(b) {
		return pos, skimErr(pos, "value missing at the end of the body")
	}
	start := pos
	c := b[pos]
	pos++
	var n, items uint64 // payload bytes, nested values
	var err *skimError
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
		default:
			return start, skimErr(start, "invalid msgpack code %#x", c)
		}
	}
	if err != nil {
		return start, err
	}
	if n > uint64(len(b)-pos) {
		return start, skimErr(start, "value of %d bytes, %d remain", n, len(b)-pos)
	}
	pos += int(n)
	if items > uint64(len(b)-pos) {
		return start, skimErr(start, "%d nested values cannot fit in the %d bytes that remain", items, len(b)-pos)
	}
	for ; items > 0; items-- {
		if pos, err = skim(b, pos, depth+1); err != nil {
			return start, err
		}
	}
	return pos, nil
}

// readLen reads a big-endian length of size bytes at b[pos:].
func readLen(b []byte, pos, size int) (uint64, int, *skimError) {
	if len(b)-pos < size {
		return 0, pos, skimErr(pos, "length field cut by the end of the body")
	}
	switch size {
	case 1:
		return uint64(b[pos]), pos + 1, nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b[pos:])), pos + 2, nil
	}
	return uint64(binary.BigEndian.Uint32(b[pos:])), pos + 4, nil
}

// mapHeader reads a msgpack map header at b[pos:] and returns the number
// of pairs.
func mapHeader(b []byte, pos int) (int, int, *skimError) {
	if pos >= len(b) {
		return 0, pos, skimErr(pos, "map missing")
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
	return 0, pos, skimErr(pos, "msgpack code %#x where a map should be", c)
}

// strValue returns the payload of a msgpack str at b[pos:end], a value
// skim has checked.
func strValue(b []byte, pos, end int) ([]byte, bool) {
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

// binValue returns the payload of a msgpack bin (or nil, an empty one) at
// b[pos:end], a value skim has checked.
func binValue(b []byte, pos, end int) ([]byte, bool) {
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
