package fuzz

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
)

// source is a generated directory source and the model's copy of its
// files: CSV (no nulls: the CSV source reads none) or JSON Lines (any
// column may hold nulls), with Retract or not.
type source struct {
	name    string
	dir     string
	jsonl   bool
	retract bool
	cols    []colInfo
	files   []*inFile
	seq     int // files made so far
}

// inFile is an input file: its rows in order.
type inFile struct {
	path  string
	lines []inLine
}

// inLine is a row of an input file with its arrival: the execution that
// committed it, -1 while none has.
type inLine struct {
	vals differential.Row
	arr  int
}

var kinds = []differential.Kind{differential.KindInt, differential.KindString, differential.KindBool, differential.KindFloat}

func genSource(t *rapid.T, name, dir string) *source {
	s := &source{name: name, dir: dir,
		jsonl:   rapid.Bool().Draw(t, name+"JSONLines"),
		retract: rapid.Bool().Draw(t, name+"Retract")}
	n := rapid.IntRange(1, 4).Draw(t, name+"Columns")
	for i := range n {
		k := differential.KindInt // the first: a time for windows
		if i > 0 {
			k = rapid.SampledFrom(kinds).Draw(t, name+"Kind")
		}
		s.cols = append(s.cols, colInfo{name: fmt.Sprintf("%s_%d", name, i), kind: k, exact: true,
			null: s.jsonl && rapid.IntRange(0, 2).Draw(t, name+"Nullable") == 0})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *source) String() string {
	f := "csv"
	if s.jsonl {
		f = "jsonlines"
	}
	if s.retract {
		f += ", retract"
	}
	return fmt.Sprintf("source(%s) %s", f, colNames(s.cols))
}

func (s *source) info() *tinfo { return &tinfo{cols: s.cols, arrival: true, appendOnly: !s.retract} }

func (s *source) schema() pwlog.Schema {
	var out pwlog.Schema
	for _, c := range s.cols {
		out = append(out, pwlog.Column{Name: c.name, Type: c.kind})
	}
	return out
}

func (s *source) build(p *pwlog.Pipeline) *pwlog.Table {
	o := pwlog.FileOptions{Retract: s.retract}
	if s.jsonl {
		return p.ReadJSONLines(s.name, s.dir, s.schema(), o)
	}
	return p.ReadCSV(s.name, s.dir, s.schema(), o)
}

// rows returns the model's rows of the source: every line of every file.
func (s *source) rows() []mrow {
	var out []mrow
	for _, f := range s.files {
		for _, l := range f.lines {
			out = append(out, mrow(l))
		}
	}
	return out
}

// genValue draws a value of column c: small ints, strings and floats
// (multiples of 0.25, so sums are exact in any order) that repeat, so
// groups, joins and windows meet.
func genValue(t *rapid.T, c colInfo) differential.Value {
	if c.null && rapid.IntRange(0, 4).Draw(t, "null") == 0 {
		return differential.Null()
	}
	switch c.kind {
	case differential.KindInt:
		return differential.Int(rapid.Int64Range(-3, 12).Draw(t, "int"))
	case differential.KindFloat:
		return differential.Float(float64(rapid.IntRange(-8, 16).Draw(t, "quarters")) / 4)
	case differential.KindBool:
		return differential.Bool(rapid.Bool().Draw(t, "bool"))
	}
	return differential.String(rapid.SampledFrom([]string{"", "a", "b", "ab", "B", "a,b", `q"t`}).Draw(t, "str"))
}

func (s *source) genLines(t *rapid.T, max int) []inLine {
	var out []inLine
	for range rapid.IntRange(0, max).Draw(t, "rows") {
		row := make(differential.Row, len(s.cols))
		for i, c := range s.cols {
			row[i] = genValue(t, c)
		}
		out = append(out, inLine{vals: row, arr: -1})
	}
	return out
}

// header returns the file's first line: CSV's header, nothing for JSON
// Lines.
func (s *source) header() string {
	if s.jsonl {
		return ""
	}
	var names []string
	for _, c := range s.cols {
		names = append(names, c.name)
	}
	return strings.Join(names, ",") + "\n"
}

// line formats a row as a line of the source's files.
func (s *source) line(r differential.Row) string {
	var b strings.Builder
	if s.jsonl {
		b.WriteByte('{')
	}
	for i, v := range r {
		if i > 0 {
			b.WriteByte(',')
		}
		if s.jsonl {
			k, _ := json.Marshal(s.cols[i].name)
			b.Write(k)
			b.WriteByte(':')
		}
		switch v.Kind {
		case differential.KindNull:
			b.WriteString("null")
		case differential.KindString:
			if s.jsonl {
				q, _ := json.Marshal(v.AsString())
				b.Write(q)
			} else {
				b.WriteString(`"` + strings.ReplaceAll(v.AsString(), `"`, `""`) + `"`)
			}
		case differential.KindInt:
			b.WriteString(strconv.FormatInt(v.AsInt(), 10))
		case differential.KindFloat:
			b.WriteString(strconv.FormatFloat(v.AsFloat(), 'g', -1, 64))
		case differential.KindBool:
			b.WriteString(strconv.FormatBool(v.AsBool()))
		}
	}
	if s.jsonl {
		b.WriteByte('}')
	}
	b.WriteByte('\n')
	return b.String()
}

func (s *source) render(lines []inLine) []byte {
	var b bytes.Buffer
	b.WriteString(s.header())
	for _, l := range lines {
		b.WriteString(s.line(l.vals))
	}
	return b.Bytes()
}

func (s *source) ext() string {
	if s.jsonl {
		return ".jsonl"
	}
	return ".csv"
}

// addFile writes a new file of a few rows.
func (s *source) addFile(t *rapid.T) {
	f := &inFile{path: filepath.Join(s.dir, fmt.Sprintf("part_%03d%s", s.seq, s.ext())), lines: s.genLines(t, 8)}
	s.seq++
	if err := os.WriteFile(f.path, s.render(f.lines), 0o644); err != nil {
		t.Fatal(err)
	}
	s.files = append(s.files, f)
}

// appendRows appends rows to a file.
func (s *source) appendRows(t *rapid.T) {
	if len(s.files) == 0 {
		t.Skip("no file to append to")
	}
	f := s.files[rapid.IntRange(0, len(s.files)-1).Draw(t, "file")]
	lines := s.genLines(t, 5)
	w, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write(s.render(lines)[len(s.header()):]); err != nil {
		t.Fatal(err)
	}
	f.lines = append(f.lines, lines...)
}

// rewrite replaces a file's rows (a source with Retract).
func (s *source) rewrite(t *rapid.T) {
	if len(s.files) == 0 || !s.retract {
		t.Skip("no file to rewrite")
	}
	f := s.files[rapid.IntRange(0, len(s.files)-1).Draw(t, "file")]
	lines := s.genLines(t, 8)
	// The source retracts the old rows and inserts the new ones in one
	// logical time: a row at the same byte offset with the same values
	// has the same key and cancels out, so it keeps its arrival.
	old := map[string]int{}
	off := len(s.header())
	for _, l := range f.lines {
		text := s.line(l.vals)
		old[fmt.Sprint(off, text)] = l.arr
		off += len(text)
	}
	off = len(s.header())
	for i, l := range lines {
		text := s.line(l.vals)
		if arr, ok := old[fmt.Sprint(off, text)]; ok {
			lines[i].arr = arr
		}
		off += len(text)
	}
	if err := os.WriteFile(f.path, s.render(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	f.lines = lines
}

// remove deletes a file (a source with Retract).
func (s *source) remove(t *rapid.T) {
	if len(s.files) == 0 || !s.retract {
		t.Skip("no file to delete")
	}
	i := rapid.IntRange(0, len(s.files)-1).Draw(t, "file")
	if err := os.Remove(s.files[i].path); err != nil {
		t.Fatal(err)
	}
	s.files = append(s.files[:i], s.files[i+1:]...)
}

// committed marks every row not committed yet as committed by execution
// run.
func (s *source) committed(run int) {
	for _, f := range s.files {
		for i := range f.lines {
			if f.lines[i].arr < 0 {
				f.lines[i].arr = run
			}
		}
	}
}
