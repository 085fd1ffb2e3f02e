package sources

import (
	"bytes"
	"encoding/base64"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/vfs"
)

// OpenJSONLinesSink opens a JSON Lines sink file at path for a table with
// these columns: each update is one object, {"col":value,...,"time":T,
// "diff":D}. Modes, recovery and hint are those of OpenCSVSink; the file
// has no header line.
func OpenJSONLinesSink(path string, columns []string, appendMode bool, hint int64) (s *FileSink, resume uint64, err error) {
	return OpenJSONLinesSinkFS(vfs.Default, path, columns, appendMode, hint)
}

// OpenJSONLinesSinkFS is OpenJSONLinesSink writing through fsys.
func OpenJSONLinesSinkFS(fsys vfs.FS, path string, columns []string, appendMode bool, hint int64) (s *FileSink, resume uint64, err error) {
	return openFileSink(fsys, path, jsonLinesFormat(columns), len(columns), appendMode, hint)
}

// jsonLinesFormat is the JSON Lines format of a table with these columns.
func jsonLinesFormat(columns []string) *sinkFormat {
	// The key of each column, with what comes before it: `{"a":`, `,"b":`.
	keys := make([][]byte, len(columns)+2)
	for i, c := range slices.Concat(columns, []string{"time", "diff"}) {
		sep := byte(',')
		if i == 0 {
			sep = '{'
		}
		k := appendJSONString([]byte{sep}, c)
		keys[i] = append(k, ':')
	}
	return &sinkFormat{
		appendLine: func(b []byte, row differential.Row, t uint64, diff int64) []byte {
			for i, v := range row {
				b = append(b, keys[i]...)
				b = appendJSONValue(b, v)
			}
			b = append(b, keys[len(row)]...)
			b = strconv.AppendUint(b, t, 10)
			b = append(b, keys[len(row)+1]...)
			b = strconv.AppendInt(b, diff, 10)
			return append(b, "}\n"...)
		},
		parseTail: parseJSONTail,
	}
}

// parseJSONTail returns the time of a JSON Lines sink line: the end of
// the line must be `"time":T,"diff":D}` after a ',' or a '{'. A string
// value cannot end that way: its quotes are escaped.
func parseJSONTail(line []byte, _ bool) (uint64, bool) {
	line, ok := bytes.CutSuffix(line, []byte("}\n"))
	if !ok {
		return 0, false
	}
	i := bytes.LastIndex(line, []byte(`,"diff":`))
	if i < 0 || !isInt(line[i+len(`,"diff":`):]) {
		return 0, false
	}
	line = line[:i]
	j := bytes.LastIndex(line, []byte(`"time":`))
	if j < 1 || (line[j-1] != ',' && line[j-1] != '{') {
		return 0, false
	}
	return parseUint(line[j+len(`"time":`):])
}

// appendJSONValue appends the JSON form of a value.
func appendJSONValue(b []byte, v differential.Value) []byte {
	switch v.Kind {
	case differential.KindNull:
		return append(b, "null"...)
	case differential.KindBool:
		return strconv.AppendBool(b, v.AsBool())
	case differential.KindInt:
		return strconv.AppendInt(b, v.I, 10)
	case differential.KindFloat:
		f := v.AsFloat()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return append(b, "null"...)
		}
		// As Python's repr, as the CSV sink: 1108937.0, 0.5, 1e+16.
		return differential.AppendFloat(b, f)
	case differential.KindTuple:
		elems, err := v.Elems()
		if err != nil {
			return append(b, "null"...)
		}
		b = append(b, '[')
		for i, e := range elems {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONValue(b, e)
		}
		return append(b, ']')
	case differential.KindBytes:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, []byte(v.S))
		return append(b, '"')
	default:
		return appendJSONString(b, v.S)
	}
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}
