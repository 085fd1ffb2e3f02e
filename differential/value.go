// Package differential holds pwlog's data model: values, rows, keys, updates
// (key, row, time, diff), consolidation and arrangements. It imports nothing
// of pwlog's own.
//
// Rows are persisted in a compact binary encoding, one tag byte per value:
//
//	+-----+----------------------------------+
//	| tag | payload                          |
//	+-----+----------------------------------+
//	|  0  | (null)                           |
//	|  1  | (false)                          |
//	|  2  | (true)                           |
//	|  3  | int64, zigzag uvarint            |
//	|  4  | float64, 8 bytes little endian   |
//	|  5  | string: uvarint length, bytes    |
//	|  6  | bytes:  uvarint length, bytes    |
//	|  7  | tuple:  uvarint length, then the |
//	|     | elements' row encoding           |
//	+-----+----------------------------------+
//
// The encoding is persisted in the WAL and in checkpoints: tags may be added,
// never changed.
package differential

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Kind is the type of a Value.
type Kind uint8

// The value kinds. Their numbers are persisted.
const (
	KindNull Kind = iota
	KindBool
	KindInt
	KindFloat
	KindString
	KindBytes
	// KindTuple is an ordered list of values (the Tuple reducers make
	// them): its payload, in Value.S, is the row encoding of its
	// elements, so equal tuples are equal Values.
	KindTuple
)

// String returns the kind's schema name ("int", "str", ...).
func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindBool:
		return "bool"
	case KindInt:
		return "int"
	case KindFloat:
		return "float"
	case KindString:
		return "str"
	case KindBytes:
		return "bytes"
	case KindTuple:
		return "tuple"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one typed value. The zero Value is null. Values are small and
// passed by value; S holds the payload of strings and bytes (of a tuple,
// its elements' row encoding), I holds ints, bools (0/1) and the bits of
// floats.
type Value struct {
	S    string
	I    int64
	Kind Kind
}

// Null returns the null value.
func Null() Value { return Value{} }

// Bool returns a bool value.
func Bool(b bool) Value {
	if b {
		return Value{Kind: KindBool, I: 1}
	}
	return Value{Kind: KindBool}
}

// Int returns an int value.
func Int(i int64) Value { return Value{Kind: KindInt, I: i} }

// Float returns a float value.
func Float(f float64) Value { return Value{Kind: KindFloat, I: int64(math.Float64bits(f))} }

// String returns a string value.
func String(s string) Value { return Value{Kind: KindString, S: s} }

// Bytes returns a bytes value; b is copied.
func Bytes(b []byte) Value { return Value{Kind: KindBytes, S: string(b)} }

// Tuple returns a tuple of the values vs, in order.
func Tuple(vs ...Value) Value {
	return Value{Kind: KindTuple, S: string(AppendRow(make([]byte, 0, 8*len(vs)), vs))}
}

// Elems returns the elements of a tuple. It fails for a value of another
// kind (null included).
func (v Value) Elems() ([]Value, error) {
	if v.Kind != KindTuple {
		return nil, fmt.Errorf("differential: a %s value is not a tuple", v.Kind)
	}
	return DecodeRow(nil, []byte(v.S))
}

// AsBool returns the value of a bool.
func (v Value) AsBool() bool { return v.I != 0 }

// AsInt returns the value of an int.
func (v Value) AsInt() int64 { return v.I }

// AsFloat returns the value of a float.
func (v Value) AsFloat() float64 { return math.Float64frombits(uint64(v.I)) }

// AsString returns the payload of a string or bytes value (of a tuple:
// its elements' row encoding).
func (v Value) AsString() string { return v.S }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.Kind == KindNull }

// Compare orders values: first by kind, then by payload. Ints and floats
// compare numerically with each other; tuples compare element by element
// (CompareRows), a shorter tuple first on a common prefix.
func Compare(a, b Value) int {
	if a.Kind != b.Kind {
		if a.Kind == KindInt && b.Kind == KindFloat {
			c, _ := CompareIntFloat(a.I, b.AsFloat())
			return c
		}
		if a.Kind == KindFloat && b.Kind == KindInt {
			c, _ := CompareIntFloat(b.I, a.AsFloat())
			return -c
		}
		if a.Kind < b.Kind {
			return -1
		}
		return 1
	}
	switch a.Kind {
	case KindNull:
		return 0
	case KindBool, KindInt:
		switch {
		case a.I < b.I:
			return -1
		case a.I > b.I:
			return 1
		}
		return 0
	case KindFloat:
		return cmpFloat(a.AsFloat(), b.AsFloat())
	case KindTuple:
		if a.S == b.S {
			return 0
		}
		ea, errA := a.Elems()
		eb, errB := b.Elems()
		if errA == nil && errB == nil {
			if c := CompareRows(ea, eb); c != 0 {
				return c
			}
		}
		// Equal elements in other encodings (-0.0 and 0.0), or a tuple
		// built by hand from a bad encoding: order by the bytes.
		return strings.Compare(a.S, b.S)
	default:
		switch {
		case a.S < b.S:
			return -1
		case a.S > b.S:
			return 1
		}
		return 0
	}
}

// CompareIntFloat compares an int with a float exactly, as numbers
// (no rounding of the int to a float: 2^53+1 > 2^53 as a float); ok is
// false when f is NaN, which is unordered.
func CompareIntFloat(i int64, f float64) (c int, ok bool) {
	switch {
	case math.IsNaN(f):
		return 0, false
	case f >= 1<<63:
		return -1, true
	case f < -(1 << 63):
		return 1, true
	}
	t := math.Trunc(f)
	if c := cmp.Compare(i, int64(t)); c != 0 {
		return c, true
	}
	// Equal integer parts: the fraction decides.
	switch frac := f - t; {
	case frac > 0:
		return -1, true
	case frac < 0:
		return 1, true
	}
	return 0, true
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// String formats the value for people and CSV output: strings unquoted,
// null empty, bools True and False, floats as Python's repr (FormatFloat),
// tuples as FormatTuple.
func (v Value) String() string {
	switch v.Kind {
	case KindNull:
		return ""
	case KindBool:
		if v.I != 0 {
			return "True"
		}
		return "False"
	case KindInt:
		return strconv.FormatInt(v.I, 10)
	case KindFloat:
		return string(AppendFloat(nil, v.AsFloat()))
	case KindTuple:
		return string(AppendTuple(nil, v))
	default:
		return v.S
	}
}

// AppendFloat appends f as Python's repr writes it: the shortest decimal
// that reads back as f, in positional form with at least one digit after
// the point (1108937.0, 0.5, 0.0001) unless its decimal exponent is below
// -4 or at least 16, then in exponent form with a signed exponent of at
// least two digits (1e+16, 1.5e-05); nan, inf and -inf.
func AppendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "nan"...)
	case math.IsInf(f, 1):
		return append(dst, "inf"...)
	case math.IsInf(f, -1):
		return append(dst, "-inf"...)
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, 'e', -1, 64)
	e := bytes.LastIndexByte(dst[start:], 'e')
	exp, _ := strconv.Atoi(string(dst[start+e+1:]))
	if exp < -4 || exp >= 16 {
		// Go writes the exponent as Python does: e+16, e-05.
		return dst
	}
	dst = strconv.AppendFloat(dst[:start], f, 'f', -1, 64)
	if bytes.IndexByte(dst[start:], '.') < 0 {
		dst = append(dst, ".0"...)
	}
	return dst
}

// AppendTuple appends the text of a tuple, as Python writes one with
// double quotes: (1, 2.5, "a", None, True), a single element with a
// trailing comma, (7,), and () when empty. Strings are quoted as Go's
// strconv.Quote, bytes as b"...", null as None, floats as AppendFloat,
// nested tuples alike. A tuple whose payload does not decode is written
// as <bad tuple>.
func AppendTuple(dst []byte, v Value) []byte {
	elems, err := v.Elems()
	if err != nil {
		return append(dst, "<bad tuple>"...)
	}
	dst = append(dst, '(')
	for i, e := range elems {
		if i > 0 {
			dst = append(dst, ", "...)
		}
		switch e.Kind {
		case KindNull:
			dst = append(dst, "None"...)
		case KindString:
			dst = strconv.AppendQuote(dst, e.S)
		case KindBytes:
			dst = append(dst, 'b')
			dst = strconv.AppendQuote(dst, e.S)
		case KindTuple:
			dst = AppendTuple(dst, e)
		default:
			dst = append(dst, e.String()...)
		}
	}
	if len(elems) == 1 {
		dst = append(dst, ',')
	}
	return append(dst, ')')
}

// Row is a slice of values following a schema.
type Row []Value

// Equal reports whether two rows hold equal values of equal kinds.
func (r Row) Equal(o Row) bool {
	if len(r) != len(o) {
		return false
	}
	for i := range r {
		if r[i] != o[i] {
			return false
		}
	}
	return true
}

// ErrBadRow marks a row encoding that cannot be decoded.
var ErrBadRow = errors.New("differential: bad row encoding")

const (
	tagNull byte = iota
	tagFalse
	tagTrue
	tagInt
	tagFloat
	tagString
	tagBytes
	tagTuple
)

// maxTupleDepth bounds the nesting of tuples in an encoding: decoding
// checks every level, so a hostile input of nested tuples would cost
// quadratic time without a bound.
const maxTupleDepth = 32

// AppendValue appends the encoding of v to dst.
func AppendValue(dst []byte, v Value) []byte {
	switch v.Kind {
	case KindNull:
		return append(dst, tagNull)
	case KindBool:
		if v.I != 0 {
			return append(dst, tagTrue)
		}
		return append(dst, tagFalse)
	case KindInt:
		dst = append(dst, tagInt)
		return binary.AppendVarint(dst, v.I)
	case KindFloat:
		dst = append(dst, tagFloat)
		return binary.LittleEndian.AppendUint64(dst, uint64(v.I))
	case KindString:
		dst = append(dst, tagString)
	case KindTuple:
		dst = append(dst, tagTuple)
	default:
		dst = append(dst, tagBytes)
	}
	dst = binary.AppendUvarint(dst, uint64(len(v.S)))
	return append(dst, v.S...)
}

// AppendRow appends the encoding of every value of r to dst.
func AppendRow(dst []byte, r Row) []byte {
	for _, v := range r {
		dst = AppendValue(dst, v)
	}
	return dst
}

// EncodeRow returns the encoding of r in a new slice.
func EncodeRow(r Row) []byte { return AppendRow(make([]byte, 0, 8*len(r)), r) }

// DecodeValue decodes one value from b and returns it with the bytes used.
// A tuple's elements are checked to decode too.
func DecodeValue(b []byte) (Value, int, error) { return decodeValue(b, 0) }

func decodeValue(b []byte, depth int) (Value, int, error) {
	if len(b) == 0 {
		return Value{}, 0, fmt.Errorf("%w: empty input", ErrBadRow)
	}
	switch b[0] {
	case tagNull:
		return Value{}, 1, nil
	case tagFalse:
		return Bool(false), 1, nil
	case tagTrue:
		return Bool(true), 1, nil
	case tagInt:
		i, n := binary.Varint(b[1:])
		if n <= 0 || !minimal(b[1:], n) {
			return Value{}, 0, fmt.Errorf("%w: bad int", ErrBadRow)
		}
		return Int(i), 1 + n, nil
	case tagFloat:
		if len(b) < 9 {
			return Value{}, 0, fmt.Errorf("%w: short float", ErrBadRow)
		}
		return Value{Kind: KindFloat, I: int64(binary.LittleEndian.Uint64(b[1:]))}, 9, nil
	case tagString, tagBytes, tagTuple:
		l, n := binary.Uvarint(b[1:])
		if n <= 0 || !minimal(b[1:], n) || l > uint64(len(b)-1-n) {
			return Value{}, 0, fmt.Errorf("%w: bad length", ErrBadRow)
		}
		k := KindString
		switch b[0] {
		case tagBytes:
			k = KindBytes
		case tagTuple:
			k = KindTuple
		}
		start := 1 + n
		payload := b[start : start+int(l)]
		if k == KindTuple {
			if depth >= maxTupleDepth {
				return Value{}, 0, fmt.Errorf("%w: tuples nested deeper than %d", ErrBadRow, maxTupleDepth)
			}
			for p := payload; len(p) > 0; {
				_, m, err := decodeValue(p, depth+1)
				if err != nil {
					return Value{}, 0, err
				}
				p = p[m:]
			}
		}
		return Value{Kind: k, S: string(payload)}, start + int(l), nil
	}
	return Value{}, 0, fmt.Errorf("%w: unknown tag %d", ErrBadRow, b[0])
}

// minimal reports whether the n-byte varint at the start of b is in its
// shortest form (no trailing zero group): each value has one encoding,
// so decoding and encoding again give the same bytes.
func minimal(b []byte, n int) bool { return n == 1 || b[n-1] != 0 }

// DecodeRow decodes a whole row encoding, appending its values to dst.
func DecodeRow(dst Row, b []byte) (Row, error) {
	for len(b) > 0 {
		v, n, err := DecodeValue(b)
		if err != nil {
			return dst, err
		}
		dst = append(dst, v)
		b = b[n:]
	}
	return dst, nil
}

// Column is one column of a schema.
type Column struct {
	Name string
	Type Kind
	// Elem is the kind of the elements of a tuple column, KindNull when
	// unknown or when the column is not a tuple.
	Elem Kind
}

// Schema is an ordered list of columns.
type Schema []Column

// Index returns the position of the named column, or -1.
func (s Schema) Index(name string) int {
	for i, c := range s {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// Check tells why row does not fit the schema: a value count other than
// the columns', or a value neither null nor of its column's type.
func (s Schema) Check(row Row) error {
	if len(row) != len(s) {
		return fmt.Errorf("%d values for %d columns", len(row), len(s))
	}
	for j, v := range row {
		if v.Kind != KindNull && v.Kind != s[j].Type {
			return fmt.Errorf("column %q: a %s value in a %s column", s[j].Name, v.Kind, s[j].Type)
		}
	}
	return nil
}

// Names returns the column names in order.
func (s Schema) Names() []string {
	out := make([]string, len(s))
	for i, c := range s {
		out[i] = c.Name
	}
	return out
}
