package sources

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pwlog/pwlog/differential"
)

// FuzzParseJSONLines reads a fuzzed file through a JSONLinesDir with the
// schema (s str, i int, f float, b bool). Every complete line's verdict
// agrees with encoding/json: a line read as a row is a JSON object whose
// members give the row (json.Decoder with UseNumber); a line refused as
// invalid JSON is one json.Valid refuses, or no object; a line refused
// for a column is an object where that column, the first bad one, is
// missing or of another type. Reading never panics and fails only with
// an *InputError; skipping bad lines, it consumes the whole file but a
// last line without a line end that is blank or not complete JSON yet,
// with the right line count and Sum; one row per Open gives the same
// rows, reports and state; and the file read when only a prefix of it
// was written, then in full, gives the whole file's rows once the
// partial last row read first is retracted. Seeds:
// testdata/fuzz/FuzzParseJSONLines.
func FuzzParseJSONLines(f *testing.F) {
	f.Add([]byte(`{"s":"a","i":1,"f":1.5,"b":true}` + "\n" + `{"b":false,"f":-1e3,"i":-7,"s":"x\"y","z":[1,{"q":null}]}` + "\n"))
	f.Add([]byte("\ufeff{\"s\":null,\"i\":null,\"f\":null,\"b\":null}\r\n\n  \n{\"s\":\"\\u00e9\\ud83d\\ude00\",\"i\":3.0,\"f\":1,\"b\":true}\n{\"s\":\"a\",\"i\":1"))
	f.Add([]byte(`{"s":"a","i":1,"f":1,"b":true}` + "\n" + `{"s":"a","i":1,"f":1,"b":true}x` + "\n" + `[1,2]` + "\n" + `{"s":"a","i":1,"f":1,"b":true}`))
	f.Add([]byte("{\"s\":\"h\xc3\xa9\",\"i\":9223372036854775807,\"f\":1e400,\"b\":tr"))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 2048 {
			return
		}
		checkJSONLinesAgree(t, body)
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "x.jsonl"), body, 0o644); err != nil {
			t.Fatal(err)
		}

		readStrict(t, &JSONLinesDir{Name: "s", Dir: dir, Schema: typedSchema}, 3)

		var reports []string
		skip := &JSONLinesDir{Name: "s", Dir: dir, Schema: typedSchema, OnBadRow: func(e *InputError) {
			if e.Line < 1 || e.Column < 0 || e.Column > len(typedSchema) {
				t.Fatalf("bad position in %v", e)
			}
			reports = append(reports, e.Error())
		}}
		full, states, unfinished, err := readSkipping(skip, nil, 0)
		if err != nil {
			t.Fatalf("skipping mode: %v", err)
		}
		st := states["x.jsonl"]
		checkJSONLinesState(t, body, st, len(full), unfinished)

		fr := &fuzzRead{src: skip, path: filepath.Join(dir, "x.jsonl"), body: body, reports: &reports,
			full: full, fullReports: reports, unfinished: unfinished, st: st}
		fr.check(t, len(body)/2, len(body)-1, len(body)-2, len(body)-7)
	})
}

// FuzzJSONLineAgrees is FuzzParseJSONLines's comparison with
// encoding/json alone, without files: many more lines a second.
func FuzzJSONLineAgrees(f *testing.F) {
	f.Add([]byte(`{"s":"a\u00e9","i":-1,"f":2.5e-3,"b":false,"x":[{},[],"",0,true,null]}`))
	f.Add([]byte(`{"s":"a","i":1,"f":1,"b":tr`))
	f.Add([]byte(`  {"i":1.0,"s":"a","s":null,"b":true,"f":-0}  `))
	f.Fuzz(func(t *testing.T, line []byte) {
		checkJSONLinesAgree(t, line)
	})
}

// checkJSONLinesState checks the state of a full read of body that
// skipped bad lines and gave rows rows.
func checkJSONLinesState(t *testing.T, body []byte, st FileState, rows int, unfinished []string) {
	t.Helper()
	// What is left unread is the last line, without a line end.
	last := bytes.LastIndexByte(body, '\n') + 1
	rest := body[last:]
	if last == 0 {
		rest = bytes.TrimPrefix(rest, []byte(byteOrderMark))
	}
	switch {
	case st.Offset == int64(len(body)):
		if len(unfinished) > 0 {
			t.Fatalf("state %+v read everything, with the unfinished line %q", st, unfinished)
		}
	case st.Offset != int64(last):
		t.Fatalf("state %+v of a file of %d bytes whose last line starts at %d", st, len(body), last)
	case len(unfinished) == 0 && !blank(rest) && !bytes.HasPrefix([]byte(byteOrderMark), body):
		t.Fatalf("state %+v: the last line %q is left unread without a word", st, rest)
	}
	if len(unfinished) > 1 {
		t.Fatalf("unfinished %q: more than one line", unfinished)
	}
	lines := int64(bytes.Count(body[:st.Offset], []byte{'\n'}))
	if st.Offset > 0 && body[st.Offset-1] != '\n' {
		lines++
	}
	if st.Line != lines || st.Rows != int64(rows) || st.Size != int64(len(body)) {
		t.Fatalf("state %+v: want %d lines, %d rows", st, lines, rows)
	}
	if st.Sum != headHash(body[:st.Offset]) || st.Head != headHash(body[:min(headSize, st.Offset)]) {
		t.Fatalf("state %+v: Sum or Head is not the hash of the bytes consumed", st)
	}
	if st.Partial > 0 && (st.Partial >= st.Offset || st.Offset != int64(len(body)) || body[len(body)-1] == '\n' ||
		st.PartialHash != headHash(body[st.Partial:])) {
		t.Fatalf("state %+v: a wrong partial line in a file of %d bytes", st, len(body))
	}
}

// checkJSONLinesAgree checks the parser's verdict on each line of body
// against encoding/json's.
func checkJSONLinesAgree(t *testing.T, body []byte) {
	l := newJSONLine(typedSchema)
	for i, line := range bytes.Split(body, []byte{'\n'}) {
		if i == 0 {
			line = bytes.TrimPrefix(line, []byte(byteOrderMark))
		}
		if blank(line) {
			continue
		}
		row := make(differential.Row, len(typedSchema))
		prob, col, cut := l.parse(line, row)
		what := "line " + strconv.Quote(string(line))
		var raw json.RawMessage
		err := json.Unmarshal(line, &raw)
		braced := bytes.TrimLeft(line, " \t\r")[0] == '{'
		object := err == nil && braced
		if object != json.Valid(line) && braced {
			t.Fatalf("%s: json.Unmarshal says %v, json.Valid %v", what, err, json.Valid(line))
		}
		// A decoder tells input cut short from bad input.
		derr := json.NewDecoder(bytes.NewReader(line)).Decode(&raw)
		if ends := errors.Is(derr, io.ErrUnexpectedEOF); cut != (ends && braced) {
			t.Fatalf("%s: %v, cut short %v; encoding/json: %v", what, prob, cut, derr)
		}
		if prob != nil && errors.Is(prob, ErrBadJSON) {
			if object {
				t.Fatalf("%s: %v, but encoding/json accepts the object", what, prob)
			}
			continue
		}
		if !object {
			t.Fatalf("%s: read (%v), but not a JSON object for encoding/json", what, prob)
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("%s: json: %v", what, err)
		}
		// The first column encoding/json does not give as its type.
		bad := -1
		for j, c := range typedSchema {
			v, ok := m[c.Name]
			if !ok || v != nil && !jsonAgrees(c.Type, v, row[j], prob == nil) {
				bad = j
				break
			}
		}
		switch {
		case prob == nil && bad >= 0:
			t.Fatalf("%s: row %v, but column %d is not right for encoding/json (%v)", what, row, bad, m)
		case prob != nil && errors.Is(prob, ErrBadUTF8):
			if utf8.Valid(line) || bad >= 0 && bad < col {
				t.Fatalf("%s: %v in column %d", what, prob, col)
			}
		case prob != nil && bad != col:
			t.Fatalf("%s: %v in column %d, encoding/json finds column %d bad (%v)", what, prob, col, bad, m)
		}
	}
}

// jsonAgrees tells whether encoding/json's value v (not null) is of the
// column's type and, when read is set, equals the row's value got.
func jsonAgrees(kind differential.Kind, v any, got differential.Value, read bool) bool {
	switch kind {
	case differential.KindString:
		s, ok := v.(string)
		return ok && (!read || got.Kind == kind && got.AsString() == s)
	case differential.KindBool:
		b, ok := v.(bool)
		return ok && (!read || got.Kind == kind && got.AsBool() == b)
	case differential.KindInt:
		n, ok := v.(json.Number)
		if !ok || strings.ContainsAny(string(n), ".eE") {
			return false
		}
		i, err := n.Int64()
		return err == nil && (!read || got.Kind == kind && got.AsInt() == i)
	case differential.KindFloat:
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		f, err := n.Float64()
		return err == nil && (!read || got.Kind == kind && got.AsFloat() == f)
	}
	return false
}
