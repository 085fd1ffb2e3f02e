package sources

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/pwlog/pwlog/differential"
)

// jsonLine parses the lines of a JSON Lines file into rows of a schema.
// Its scanner checks the syntax of a line as encoding/json does (json.Valid
// accepts exactly the lines it accepts, but for the whole line having to
// be one object), and tells a line cut short, which a continuation could
// make valid, from one that no continuation can.
type jsonLine struct {
	schema differential.Schema
	index  map[string]int // schema column by name
	// per column, for the line being parsed: where its value is (the
	// last member with its name wins) and the value, or its problem.
	found []bool
	vals  []differential.Value
	probs []*problem

	b     []byte // the line
	i     int    // the scanner's position in b
	depth int
}

// jsonMaxDepth is how deep objects and arrays may nest: encoding/json's
// limit.
const jsonMaxDepth = 10000

// jsonError is a syntax error in a line: at byte at (0-based), what, and
// whether the line ended before the syntax was complete (cut short).
type jsonError struct {
	at  int
	msg string
	cut bool
}

func newJSONLine(schema differential.Schema) *jsonLine {
	l := &jsonLine{schema: schema, index: make(map[string]int, len(schema)),
		found: make([]bool, len(schema)), vals: make([]differential.Value, len(schema)), probs: make([]*problem, len(schema))}
	for i, c := range schema {
		l.index[c.Name] = i
	}
	return l
}

// parse parses line (without its line end) into row, in schema order. On
// bad input it returns the problem and the schema column it concerns (-1:
// the whole line); cut reports a line that is not complete JSON yet but
// could be once continued.
func (l *jsonLine) parse(line []byte, row differential.Row) (prob *problem, col int, cut bool) {
	clear(l.found)
	clear(l.probs)
	l.b, l.i, l.depth = line, 0, 0
	if e := l.top(); e != nil {
		msg := "invalid JSON: " + e.msg
		if e.at < len(line) {
			msg += " at byte " + strconv.Itoa(e.at+1)
		}
		return &problem{msg: msg, mark: ErrBadJSON}, -1, e.cut
	}
	for j := range l.schema {
		switch {
		case !l.found[j]:
			return &problem{msg: "missing from the object", mark: ErrMissingField}, j, false
		case l.probs[j] != nil:
			return l.probs[j], j, false
		}
		row[j] = l.vals[j]
	}
	return nil, 0, false
}

// top scans the line: one object, with whitespace around it.
func (l *jsonLine) top() *jsonError {
	l.space()
	if l.i == len(l.b) {
		return l.cut()
	}
	if l.b[l.i] != '{' {
		return &jsonError{at: l.i, msg: "a line must be an object, not " + l.what()}
	}
	if e := l.object(true); e != nil {
		return e
	}
	l.space()
	if l.i < len(l.b) {
		return &jsonError{at: l.i, msg: "unexpected " + quoteByte(l.b[l.i]) + " after the object"}
	}
	return nil
}

// what names the value starting at l.i, for an error.
func (l *jsonLine) what() string {
	switch c := l.b[l.i]; {
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == '-' || c >= '0' && c <= '9':
		return "a number"
	case c == 't' || c == 'f':
		return "a bool"
	case c == 'n':
		return "null"
	default:
		return quoteByte(c)
	}
}

func (l *jsonLine) cut() *jsonError {
	return &jsonError{at: len(l.b), msg: "unexpected end of line", cut: true}
}

func (l *jsonLine) unexpected(what string) *jsonError {
	return &jsonError{at: l.i, msg: "unexpected " + quoteByte(l.b[l.i]) + " " + what}
}

// quoteByte quotes a byte for an error message.
func quoteByte(c byte) string {
	if c < utf8.RuneSelf {
		return strconv.QuoteRune(rune(c))
	}
	return "byte 0x" + strconv.FormatUint(uint64(c), 16)
}

func (l *jsonLine) space() {
	for l.i < len(l.b) {
		switch l.b[l.i] {
		case ' ', '\t', '\r', '\n':
			l.i++
		default:
			return
		}
	}
}

// object scans an object at l.i ('{'); the top one's members that name a
// schema column are converted.
func (l *jsonLine) object(top bool) *jsonError {
	return l.elements('}', "after a member's value", func() *jsonError {
		if l.b[l.i] != '"' {
			return l.unexpected("looking for a member's name")
		}
		raw, escaped, e := l.str()
		if e != nil {
			return e
		}
		l.space()
		if l.i == len(l.b) {
			return l.cut()
		}
		if l.b[l.i] != ':' {
			return l.unexpected("after a member's name")
		}
		l.i++
		l.space()
		if l.i == len(l.b) {
			return l.cut()
		}
		if top {
			if col := l.column(raw, escaped); col >= 0 {
				return l.convert(col)
			}
		}
		return l.value()
	})
}

// array scans an array at l.i ('[').
func (l *jsonLine) array() *jsonError {
	return l.elements(']', "after an array element", l.value)
}

// elements scans the elements of the object or array that opens at l.i,
// up to closing, the byte that closes it, each with elem, which starts at the
// element's first byte; after names the place of a byte that is neither
// a comma nor closing, for the error.
func (l *jsonLine) elements(closing byte, after string, elem func() *jsonError) *jsonError {
	if l.depth++; l.depth > jsonMaxDepth {
		return &jsonError{at: l.i, msg: "nested too deep"}
	}
	l.i++
	l.space()
	if l.i == len(l.b) {
		return l.cut()
	}
	if l.b[l.i] == closing {
		l.i++
		l.depth--
		return nil
	}
	for {
		if e := elem(); e != nil {
			return e
		}
		l.space()
		if l.i == len(l.b) {
			return l.cut()
		}
		switch l.b[l.i] {
		case ',':
			l.i++
			l.space()
			if l.i == len(l.b) {
				return l.cut()
			}
		case closing:
			l.i++
			l.depth--
			return nil
		default:
			return l.unexpected(after)
		}
	}
}

// value scans any value at l.i (not at the end of the line).
func (l *jsonLine) value() *jsonError {
	switch c := l.b[l.i]; {
	case c == '{':
		return l.object(false)
	case c == '[':
		return l.array()
	case c == '"':
		_, _, e := l.str()
		return e
	case c == '-' || c >= '0' && c <= '9':
		_, _, e := l.number()
		return e
	case c == 't':
		return l.literal("true")
	case c == 'f':
		return l.literal("false")
	case c == 'n':
		return l.literal("null")
	}
	return l.unexpected("looking for a value")
}

// literal scans the literal word at l.i.
func (l *jsonLine) literal(word string) *jsonError {
	for k := 0; k < len(word); k++ {
		if l.i == len(l.b) {
			return l.cut()
		}
		if l.b[l.i] != word[k] {
			return l.unexpected("in literal " + word)
		}
		l.i++
	}
	return nil
}

// str scans a string at l.i ('"') and returns it with its quotes, and
// whether it has escapes.
func (l *jsonLine) str() (raw []byte, escaped bool, _ *jsonError) {
	start := l.i
	l.i++
	for {
		if l.i == len(l.b) {
			return nil, false, l.cut()
		}
		switch c := l.b[l.i]; {
		case c == '"':
			l.i++
			return l.b[start:l.i], escaped, nil
		case c == '\\':
			escaped = true
			l.i++
			if l.i == len(l.b) {
				return nil, false, l.cut()
			}
			switch l.b[l.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				l.i++
			case 'u':
				l.i++
				for range 4 {
					if l.i == len(l.b) {
						return nil, false, l.cut()
					}
					if !isHex(l.b[l.i]) {
						return nil, false, l.unexpected("in a \\u escape")
					}
					l.i++
				}
			default:
				return nil, false, l.unexpected("in an escape")
			}
		case c < 0x20:
			return nil, false, l.unexpected("in a string (control characters must be escaped)")
		default:
			l.i++
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number scans a number at l.i, and tells whether it is an integer (no
// fraction, no exponent).
func (l *jsonLine) number() (raw []byte, integer bool, _ *jsonError) {
	start := l.i
	digits := func() *jsonError {
		if l.i == len(l.b) {
			return l.cut()
		}
		if c := l.b[l.i]; c < '0' || c > '9' {
			return l.unexpected("in a number")
		}
		for l.i < len(l.b) && l.b[l.i] >= '0' && l.b[l.i] <= '9' {
			l.i++
		}
		return nil
	}
	if l.b[l.i] == '-' {
		l.i++
	}
	if l.i < len(l.b) && l.b[l.i] == '0' {
		l.i++
	} else if e := digits(); e != nil {
		return nil, false, e
	}
	integer = true
	if l.i < len(l.b) && l.b[l.i] == '.' {
		integer = false
		l.i++
		if e := digits(); e != nil {
			return nil, false, e
		}
	}
	if l.i < len(l.b) && (l.b[l.i] == 'e' || l.b[l.i] == 'E') {
		integer = false
		l.i++
		if l.i < len(l.b) && (l.b[l.i] == '+' || l.b[l.i] == '-') {
			l.i++
		}
		if e := digits(); e != nil {
			return nil, false, e
		}
	}
	return l.b[start:l.i], integer, nil
}

// column returns the schema column a member's name (raw, quoted) names,
// or -1.
func (l *jsonLine) column(raw []byte, escaped bool) int {
	var j int
	var ok bool
	if !escaped {
		j, ok = l.index[string(raw[1:len(raw)-1])]
	} else {
		var name string
		if json.Unmarshal(raw, &name) == nil {
			j, ok = l.index[name]
		}
	}
	if !ok {
		return -1
	}
	return j
}

// convert scans the value at l.i of the member naming column j and
// converts it to the column's type. A value of another type is no syntax
// error: it is recorded as the column's problem and scanning goes on.
func (l *jsonLine) convert(j int) *jsonError {
	kind := l.schema[j].Type
	var v differential.Value
	var prob *problem
	switch c := l.b[l.i]; {
	case c == 'n':
		if e := l.literal("null"); e != nil {
			return e
		}
	case c == '"':
		raw, escaped, e := l.str()
		if e != nil {
			return e
		}
		switch {
		case kind != differential.KindString:
			prob = wrongType(kind, "string "+quoteValue(string(raw[1:len(raw)-1])))
		case !utf8.Valid(raw):
			prob = &problem{msg: "invalid UTF-8", mark: ErrBadUTF8}
		case !escaped:
			v = differential.String(string(raw[1 : len(raw)-1]))
		default:
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				prob = &problem{msg: "invalid string " + quoteValue(string(raw)), mark: ErrBadValue, cause: err}
			}
			v = differential.String(s)
		}
	case c == '-' || c >= '0' && c <= '9':
		raw, integer, e := l.number()
		if e != nil {
			return e
		}
		s := string(raw)
		switch kind {
		case differential.KindInt:
			if !integer {
				prob = &problem{msg: "invalid int " + s + " (not an integer)", mark: ErrBadValue}
				break
			}
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				prob = &problem{msg: "invalid int " + s + " (out of range)", mark: ErrBadValue, cause: err}
			}
			v = differential.Int(n)
		case differential.KindFloat:
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				prob = &problem{msg: "invalid float " + s + " (out of range)", mark: ErrBadValue, cause: err}
			}
			v = differential.Float(f)
		default:
			prob = wrongType(kind, "number "+s)
		}
	case c == 't' || c == 'f':
		word := "true"
		if c == 'f' {
			word = "false"
		}
		if e := l.literal(word); e != nil {
			return e
		}
		if kind != differential.KindBool {
			prob = wrongType(kind, word)
		}
		v = differential.Bool(c == 't')
	case c == '{' || c == '[':
		what := "an object"
		if c == '[' {
			what = "an array"
		}
		if e := l.value(); e != nil {
			return e
		}
		prob = wrongType(kind, what)
	default:
		return l.unexpected("looking for a value")
	}
	l.found[j], l.vals[j], l.probs[j] = true, v, prob
	return nil
}

// wrongType is the problem of a value of another JSON type than the
// column's.
func wrongType(kind differential.Kind, got string) *problem {
	return &problem{msg: "expected " + kind.String() + ", got " + got, mark: ErrBadValue}
}

// Marks of bad input particular to JSON Lines; see errors.go for the
// others.
var (
	// ErrBadJSON marks a line that is not one JSON object.
	ErrBadJSON = errors.New("sources: a line is not a JSON object")
	// ErrMissingField marks an object without a member for a column of the
	// schema.
	ErrMissingField = errors.New("sources: a column of the schema is missing from the object")
)
