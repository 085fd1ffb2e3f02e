// Package sources holds pwlog's sources and sinks: readers of the CSV
// files (CSVDir) or JSON Lines files (JSONLinesDir) in a directory that
// remember, file by file, how far they have read, and a CSV sink whose
// append mode writes every time exactly once across crashes. The two
// directory readers share all but the parsing of a file (fileset.go):
// what follows holds for both, the header aside (JSON Lines files have
// none).
//
// # Source offsets
//
// A source's offset is a set: one FileState per file it has read, keyed by
// the file's path relative to the source directory.
//
//	input/part_one.csv
//	+--------+-------+-------+-------+- - - - - - - - -+
//	| header | row   | row   | row   | appended later  |
//	+--------+-------+-------+-------+- - - - - - - - -+
//	0        |<- Head: FNV-1a of     ^                 ^
//	|          the first             Offset, Line,     Size now
//	|          min(4096, Offset)     Rows
//	|          bytes                 |
//	|<- Sum: FNV-1a of all the ----->|
//	    bytes consumed
//
// On Open, a file with no state is read from its first byte, whatever its
// name or modification time. A known file whose size and modification
// time are those of its state is not even opened when it was read to its
// end. Otherwise its first bytes must still hash to Head and, when its
// size or modification time changed, all the bytes consumed, [0, Offset),
// must still hash to Sum (they are read again for that, once per changed
// file); it is then read on from Offset (or from Partial, below), which
// for a file only touched reads nothing. It is refused with a
// *ChangedFileError when it shrank below Offset or a byte consumed
// changed: a rewrite to the same size is noticed wherever it changes a
// byte. Sum is kept as the bytes are consumed, by every call of Next. A
// state written before Sum existed (0) is checked by its head only, as
// then, and gets the Sum of the file as it is when the file is next read.
// The header is read again from the start of the file on every resume,
// to map the columns, and FileState.Line keeps error line numbers right.
//
// A row's key hashes the source name, the file path and the byte offset
// where the row starts, so it is the same in every execution that reads the row.
//
// # Lines still being written
//
// A file's last line may lack its line end: the file has no final newline,
// or a writer has not finished the line yet. Such a line that parses is
// read, and the file's state remembers where it starts (Partial) and a
// hash of its bytes (PartialHash):
//
//	+--------+-------+-------+----------+- - - - - - - - - - -+
//	| header | row   | row   | bob,10   | 05\nalice,3\n       |
//	+--------+-------+-------+----------+- - - - - - - - - - -+
//	                         ^          ^                     ^
//	                         Partial    Offset: the size      Size now
//	                                    when it was read
//
// Sum covers the partial line too, as every byte up to Offset; PartialHash
// covers it alone. When the file grows and those bytes are unchanged, the
// line is read again from Partial. If it now gives another row
// (bob,1005), Next returns the old row retracted (Diff -1, the same key,
// parsed again from the file's own bytes) just before the new one; if it
// gives the same row (only its line end was added), nothing. This needs no CSVDir option: it
// is how an append is read. A partial line whose bytes changed is a
// *ChangedFileError like any consumed byte.
//
// A last line without a line end that does not parse yet, but could once
// complete, is not consumed and is no error: a last field cut short (an
// int "" or "-", a float "1e", a bool "tr", a string cut inside a UTF-8
// character), fewer fields than the header, a quoted field still open, a
// header that does not match yet. CSVReader.Unfinished lists it (the engine
// logs a warning), OnBadRow does not see it, and it is read once the file
// grows. Bad input that no continuation can mend (too many fields, a bad
// field before the last, a closed quoted field, "1x") is an error as on
// any other line; skipped by OnBadRow, it is a partial line too, read
// (and reported) again if the file grows from it. A file that ends with a
// line end has no partial line: a quoted field still open there is an
// error.
//
// A state written before Partial existed has none: its last row read
// without a line end stays as read, a line end appended later ends it,
// and any other continuation is a *ChangedFileError.
//
// # Sink changelog
//
// A FileSink writes a table's updates as CSV rows: the row's columns, then
// the logical time, then the diff. Strings are always quoted, so a row's
// last physical line always ends in the bare `,time,diff\n`:
//
//	user_id,session_length,time,diff    header
//	"bob",62,1000,1                     time 1000
//	"alice",0,1000,1
//	"alice",0,2000,-1                   time 2000: the last time in the file;
//	"alice",583,2000,1                  <- append recovery cuts here and
//	"bob",578,20                        <- drops this torn line, and the
//	                                       caller re-emits 2000 and later
//
// Times are non-decreasing through the file and the rows of one time reach
// the file in a single write, so a kill leaves at most one torn time, and
// cutting the last time present (complete or not) is always safe.
package sources

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pwlog/pwlog/differential"
)

// CSVDir is a source that reads the CSV files of a directory. Every row of
// every regular *.csv file under Dir is one insert into the source's table.
type CSVDir struct {
	// Name is the source's persistent name; it is part of every row key.
	Name string
	// Dir is the directory whose *.csv files are read, subdirectories included.
	Dir string
	// Schema names and types the columns. A file's header must name each
	// column exactly once, in any order, and nothing else. Types are str,
	// int, float and bool (true, false, True, False, 1, 0).
	Schema differential.Schema
	// OnBadRow, when set, makes bad rows skipped instead of fatal: it is
	// called with each one's *InputError and reading goes on. A bad header
	// stays fatal.
	OnBadRow func(*InputError)
	// Streaming makes the reader take complete lines only: a last line
	// without its line end is left unread (it is no partial line and is
	// not listed by CSVReader.Unfinished) while the file's modification time
	// is less than PartialLineTimeout old, as a writer may still be
	// writing it. Once the file has been quiet that long, the line is read
	// as in static mode (FileState.Partial): if the file then grows from
	// it, its row is retracted and the completed line's row read. The
	// reader itself does not watch the directory: a streaming caller opens
	// a new CSVReader at the states it was given to see what changed.
	Streaming bool
	// PartialLineTimeout is how long, with Streaming, a file must have
	// been quiet before its last line without a line end is read. 0 or
	// negative: such a line is never read while streaming.
	PartialLineTimeout time.Duration
}

// CSVReader reads the rows of a CSVDir that a set of FileStates has not
// consumed yet. Its Next, Counts, Deleted, Unfinished and Close are those
// of every directory source (fileReader). It is not safe for concurrent
// use.
type CSVReader struct {
	fileReader
	src *CSVDir
	c   *cursor // the open file's csv reading, valid while fileReader.of is set
}

// cursor is the csv reading of the open file, positioned after its last
// consumed row.
type cursor struct {
	*openFile
	cr       *csv.Reader
	cols     []column         // by position in the file's rows
	lastEnd  int64            // csv reader offset after the last consumed row
	lastLine int              // csv reader line where the last consumed row starts, or ends when lastRow is nil
	lastRow  differential.Row // the last consumed row: its strings' newlines add to lastLine
	quoted   bool             // the file ends with a closing quote (`"` or `"\r`)
}

// column maps a field of the file's rows to the schema.
type column struct {
	name  string
	index int // in the schema
	kind  differential.Kind
}

// Open lists Dir and prepares to read everything not yet consumed according
// to prev, which it does not modify. Files are read in name order. A known
// file that shrank below its consumed offset, whose first bytes changed,
// or, when its size or modification time changed, whose bytes consumed no
// longer hash to FileState.Sum, makes Open fail with a *ChangedFileError;
// a known file that disappeared is reported by CSVReader.Deleted and
// otherwise ignored. Dir may be a symbolic link to a directory. The
// Reader is a *CSVReader.
func (s *CSVDir) Open(prev map[string]FileState) (Reader, error) {
	return asReader(s.open(prev))
}

// open is Open returning the concrete reader.
func (s *CSVDir) open(prev map[string]FileState) (*CSVReader, error) {
	if err := checkSchema(s.Schema, "CSV"); err != nil {
		return nil, err
	}
	r := &CSVReader{src: s}
	d := fileDir{name: s.Name, dir: s.Dir, ext: ".csv", streaming: s.Streaming, partialLineTimeout: s.PartialLineTimeout}
	if err := r.init(d, r, prev); err != nil {
		return nil, err
	}
	return r, nil
}

// begin reads the open file's header and positions a csv reader at the
// first byte not consumed, or at the partial line read before. It returns
// false for a file with no header yet, or whose unterminated header does
// not parse yet.
func (r *CSVReader) begin(p *planned) (bool, error) {
	of := r.of
	f, size := of.f, of.size
	c := &cursor{openFile: of}
	c.quoted = of.tail[1] == '"' || of.tail[1] == '\r' && of.tail[0] == '"'
	r.c = c

	// The header is always read from the start of the file.
	var hr *csv.Reader
	if p.st.Offset == 0 {
		r.reset(p, 0)
		hr = csv.NewReader(r.br)
	} else {
		hr = csv.NewReader(io.NewSectionReader(f, 0, size))
	}
	hr.FieldsPerRecord = -1
	hr.ReuseRecord = true
	hdr, err := hr.Read()
	// A header not consumed yet that ends the file without a line end
	// may still be being written: if it is not good yet, the file is left
	// for later. (A good one cannot be continued into another good one.)
	growing := p.st.Offset == 0 && !c.endsNL && hr.InputOffset() == size
	var ie *InputError
	switch {
	case errors.Is(err, io.EOF) && p.st.Offset == 0:
		return false, nil
	case errors.Is(err, io.EOF):
		return false, &InputError{File: p.file, Line: 1, Err: &problem{msg: "missing header", mark: ErrBadHeader}}
	case err != nil:
		_, _, err := r.readError(p, &cursor{openFile: of, cr: hr}, hdr, err, size)
		if growing && errors.As(err, &ie) {
			r.unfinished = append(r.unfinished, ie)
			return false, nil
		}
		return false, err
	}
	line, _ := hr.FieldPos(0)
	if c.cols, err = r.mapHeader(p, hdr, int64(line)); err != nil {
		if growing && errors.As(err, &ie) {
			r.unfinished = append(r.unfinished, ie)
			return false, nil
		}
		return false, err
	}
	if p.st.Offset == 0 {
		c.cr = hr
		c.lastEnd = hr.InputOffset()
		c.lastLine = line + newlines(hdr)
		p.st.Offset, p.st.Line = c.lastEnd, int64(c.lastLine)
		p.dirty = true
		return true, nil
	}
	if err := r.resume(p); err != nil {
		return false, err
	}
	c.cr = csv.NewReader(r.br)
	c.cr.FieldsPerRecord = -1
	c.cr.ReuseRecord = true
	return true, nil
}

// rowOf parses the partial line read before, line holding its bytes
// (resume and reread): the row it gave, if it gave one.
func (r *CSVReader) rowOf(line []byte) (differential.Row, bool) {
	cr := csv.NewReader(bytes.NewReader(line))
	cr.FieldsPerRecord = -1
	if rec, err := cr.Read(); err == nil && len(rec) == len(r.c.cols) {
		row := make(differential.Row, len(rec))
		if _, prob := r.c.convert(rec, row); prob == nil {
			return row, true
		}
	}
	return nil, false
}

// mapHeader maps the fields of a file's rows to the schema.
func (r *CSVReader) mapHeader(p *planned, hdr []string, line int64) ([]column, error) {
	schema := r.src.Schema
	cols := make([]column, len(hdr))
	used := make([]bool, len(schema))
	var unknown, dup, missing []string
	for i, name := range hdr {
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff") // a byte order mark
		}
		j := schema.Index(name)
		switch {
		case j < 0:
			unknown = append(unknown, name)
		case used[j]:
			dup = append(dup, name)
		default:
			used[j] = true
			cols[i] = column{name: name, index: j, kind: schema[j].Type}
		}
	}
	for j, u := range used {
		if !u {
			missing = append(missing, schema[j].Name)
		}
	}
	if len(unknown)+len(dup)+len(missing) == 0 {
		return cols, nil
	}
	var b strings.Builder
	b.WriteString("header does not match the schema (")
	b.WriteString(strings.Join(schema.Names(), ", "))
	b.WriteString(")")
	list := func(what string, names []string) {
		if len(names) == 0 {
			return
		}
		b.WriteString(": ")
		b.WriteString(what)
		b.WriteString(" column")
		if len(names) > 1 {
			b.WriteByte('s')
		}
		for i, n := range names {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte(' ')
			b.WriteString(quoteValue(n))
		}
	}
	list("unknown", unknown)
	list("missing", missing)
	list("duplicate", dup)
	return nil, &InputError{File: p.file, Line: line, Err: &problem{msg: b.String(), mark: ErrBadHeader}}
}

// read appends the rows of the open file to us until limit rows or the end
// of the file; done reports the end.
func (r *CSVReader) read(p *planned, us []differential.Update, limit int) (_ []differential.Update, done bool, _ error) {
	c := r.c
	cr := c.cr
	nf := len(c.cols)
	for limit <= 0 || len(us)-r.extra < limit {
		start := cr.InputOffset()
		rec, err := cr.Read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return r.retractOld(us), true, nil
			}
			end, atEOF, ie := r.readError(p, c, rec, err, c.size)
			var in *InputError
			if !errors.As(ie, &in) {
				return nil, false, ie
			}
			var pe *csv.ParseError
			errors.As(err, &pe)
			if atEOF && c.unterminated() {
				// A quoted field still open: the line is being written.
				return r.hold(p, us, in, start, pe.StartLine), true, nil
			}
			if r.src.OnBadRow == nil {
				return nil, false, ie
			}
			r.src.OnBadRow(in)
			us = r.retractOld(us)
			if err := r.skipped(p, end, c.startOf(start, pe.StartLine)); err != nil {
				return nil, false, err
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != nf {
			ie := &InputError{File: p.file, Line: c.baseLine + int64(line), Err: &problem{
				msg:  "expected " + strconv.Itoa(nf) + " fields, got " + strconv.Itoa(len(rec)),
				mark: ErrFieldCount,
			}}
			if len(rec) < nf && c.unterminated() {
				return r.hold(p, us, ie, start, line), true, nil
			}
			if r.src.OnBadRow == nil {
				return nil, false, ie
			}
			r.src.OnBadRow(ie)
			us = r.retractOld(us)
			if err := r.skipped(p, c.baseLine+int64(line+newlines(rec)), c.startOf(start, line)); err != nil {
				return nil, false, err
			}
			continue
		}
		row := r.row(nf)
		if i, prob := c.convert(rec, row); prob != nil {
			fl, _ := cr.FieldPos(i)
			ie := &InputError{File: p.file, Line: c.baseLine + int64(fl), Column: i + 1, Field: c.cols[i].name, Err: prob}
			if i == nf-1 && !c.quoted && c.unterminated() && couldComplete(c.cols[i].kind, rec[i]) {
				// The last field, cut short by the end of the file.
				return r.hold(p, us, ie, start, line), true, nil
			}
			if r.src.OnBadRow == nil {
				return nil, false, ie
			}
			r.src.OnBadRow(ie)
			us = r.retractOld(us)
			if err := r.skipped(p, c.baseLine+int64(line+newlines(rec)), c.startOf(start, line)); err != nil {
				return nil, false, err
			}
			continue
		}
		r.keep(nf)
		// Its key is where the row itself starts, however much of the
		// blank lines before it an earlier read consumed.
		start = c.startOf(start, line)
		us = r.emit(us, limit, c.base+start, row)
		c.lastEnd = cr.InputOffset()
		c.lastLine, c.lastRow = line, row
		p.st.Offset = c.base + c.lastEnd
		p.st.Rows++
		p.dirty = true
		if c.unterminated() {
			if err := r.markPartial(p, c.base+start); err != nil {
				return nil, false, err
			}
		}
	}
	return us, false, nil
}

// startOf returns the csv reader offset where the record starting on
// line begins, the reader having been at offset start before reading it:
// past the blank lines it skipped first.
func (c *cursor) startOf(start int64, line int) int64 {
	if line > c.lastLine+1 {
		c.settleLine()
		if skipped := line - c.lastLine - 1; skipped > 0 {
			start += blankBytes(c.f, c.base+start, skipped)
		}
	}
	return start
}

// unterminated tells whether the record the csv reader read last ends at
// the end of the file without a line end: its line may still be being
// written.
func (c *cursor) unterminated() bool {
	return (!c.endsNL || c.streaming) && c.base+c.cr.InputOffset() == c.size
}

// hold leaves the open file's last line unread: it has no line end and
// does not parse yet, for the reason ie gives. The record starts on line
// (csv reader line), the reader having been at start before it; the blank
// lines before it are consumed. A row read from it before is retracted:
// the line is read as a new one once it is complete.
func (r *CSVReader) hold(p *planned, us []differential.Update, ie *InputError, start int64, line int) []differential.Update {
	c := r.c
	if start = c.startOf(start, line); start > c.lastEnd {
		c.lastEnd = start
		c.lastLine, c.lastRow = line-1, nil
	}
	return r.holdAt(p, us, ie, c.base+start)
}

// skipped records a bad row skipped that starts at start (csv reader
// offset, past blank lines) and ends on line end (absolute).
func (r *CSVReader) skipped(p *planned, end, start int64) error {
	r.consumed(p, end)
	if r.c.unterminated() {
		// Read again, as a whole, if the line goes on.
		return r.markPartial(p, r.c.base+start)
	}
	return nil
}

// couldComplete tells whether s, which does not parse as kind, could be
// the beginning of a field that does: the last field of a line still
// being written. When unsure it says yes: the line then waits.
func couldComplete(kind differential.Kind, s string) bool {
	switch kind {
	case differential.KindString: // invalid UTF-8: a character cut short?
		i := len(s)
		for j := len(s) - 1; j >= 0 && j > len(s)-utf8.UTFMax; j-- {
			if utf8.RuneStart(s[j]) {
				i = j
				break
			}
		}
		return i < len(s) && !utf8.FullRuneInString(s[i:]) && utf8.ValidString(s[:i])
	case differential.KindInt:
		_, err := strconv.ParseInt(s+"0", 10, 64)
		return err == nil
	case differential.KindFloat:
		for _, more := range []string{"0", "p0", "0p0"} {
			if _, err := strconv.ParseFloat(s+more, 64); err == nil {
				return true
			}
		}
		w := s
		if w != "" && (w[0] == '+' || w[0] == '-') {
			w = w[1:]
		}
		w = strings.ToLower(w)
		return strings.HasPrefix("infinity", w) || strings.HasPrefix("nan", w)
	case differential.KindBool:
		for _, w := range []string{"true", "True", "false", "False"} {
			if strings.HasPrefix(w, s) {
				return true
			}
		}
	}
	return false
}

// consumed records a skipped bad row that ends on line end (absolute).
func (r *CSVReader) consumed(p *planned, end int64) {
	c := r.c
	c.lastEnd = c.cr.InputOffset()
	c.lastLine, c.lastRow = int(end-c.baseLine), nil
	p.st.Offset = c.base + c.lastEnd
	p.dirty = true
}

// convert parses the fields of a record into row, in schema order. On bad
// input it returns the field's position and the problem.
func (c *cursor) convert(rec []string, row differential.Row) (int, *problem) {
	for i, s := range rec {
		col := &c.cols[i]
		var v differential.Value
		switch col.kind {
		case differential.KindString:
			if !utf8.ValidString(s) {
				return i, &problem{msg: "invalid UTF-8", mark: ErrBadUTF8}
			}
			v = differential.String(s)
		case differential.KindInt:
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return i, valueProblem("int", s, err)
			}
			v = differential.Int(n)
		case differential.KindFloat:
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return i, valueProblem("float", s, err)
			}
			v = differential.Float(f)
		case differential.KindBool:
			switch s {
			case "true", "True", "1":
				v = differential.Bool(true)
			case "false", "False", "0":
				v = differential.Bool(false)
			default:
				return i, valueProblem("bool", s, nil)
			}
		}
		row[col.index] = v
	}
	return 0, nil
}

func valueProblem(kind, s string, err error) *problem {
	msg := "invalid " + kind + " " + quoteValue(s)
	if errors.Is(err, strconv.ErrRange) {
		msg += " (out of range)"
	}
	return &problem{msg: msg, mark: ErrBadValue, cause: err}
}

// readError turns an error of csv.Reader.Read into an *InputError, or an
// I/O error. rec is the partial record returned with it; end is the size
// of the file. It also returns the line (absolute) where the bytes the csv
// reader consumed end: the rest of the line of the error, first; and
// whether the data ended inside a quoted field.
func (r *CSVReader) readError(p *planned, c *cursor, rec []string, err error, end int64) (int64, bool, error) {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return 0, false, fmt.Errorf("sources: read %s: %w", p.file, err)
	}
	consumedTo := c.baseLine + int64(pe.Line)
	// The partial record holds the fields before the bad one.
	k := len(rec)
	ie := &InputError{File: p.file, Line: c.baseLine + int64(pe.Line), Column: k + 1}
	if k < len(c.cols) {
		ie.Field = c.cols[k].name
	}
	atEOF := false
	if errors.Is(pe.Err, csv.ErrQuote) && c.base+c.cr.InputOffset() == end {
		var extra int64
		atEOF, extra = quoteAtEOF(c.f, c.base, end, pe.Column)
		consumedTo += extra
	}
	if atEOF {
		// Name the line where the unterminated field opens.
		open := pe.StartLine
		if k > 0 {
			l, _ := c.cr.FieldPos(k - 1)
			open = l + strings.Count(rec[k-1], "\n")
		}
		ie.Line = c.baseLine + int64(open)
	}
	ie.Err = quoteProblem(pe, atEOF)
	return consumedTo, atEOF, ie
}

// quoteAtEOF tells, for a csv.ErrQuote at column col of the last line of
// the bytes [start, end) of f, whether the data ended inside a quoted field:
// then col is one past the last line's length (as the csv reader counts it,
// with "\r\n" as one byte), where a stray quote would be inside the line.
// In that case, a last line of a lone "\r" is consumed without being counted
// in the error's line: extra is 1 then.
func quoteAtEOF(f *os.File, start, end int64, col int) (atEOF bool, extra int64) {
	n := min(int64(col)+3, end-start)
	if n <= 0 {
		return false, 0
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, end-n); err != nil {
		return false, 0
	}
	line := b
	if l := len(line); line[l-1] == '\r' {
		// Dropped at the end of the data, with the line it ends when
		// that is all it holds.
		line = line[:l-1]
		if l >= 2 && line[l-2] == '\n' {
			extra = 1
		}
	}
	if l := len(line); l >= 2 && line[l-2] == '\r' && line[l-1] == '\n' {
		line = append(line[:l-2:l-2], '\n')
	}
	i := strings.LastIndexByte(string(line[:max(len(line)-1, 0)]), '\n')
	if i < 0 && end-n > start {
		return false, 0 // the line is longer than col+1 bytes
	}
	if len(line)-(i+1)+1 != col {
		return false, 0
	}
	return true, extra
}

// end records the end of the open file: the trailing blank lines the csv
// reader skipped are consumed, unless the last line is held.
func (r *CSVReader) end(p *planned) error {
	c := r.c
	r.settle(p)
	if c.held {
		return nil // the unfinished last line and any blank lines before it wait
	}
	if end := c.cr.InputOffset(); end > c.lastEnd {
		n, err := countLines(c.f, c.base+c.lastEnd, c.base+end)
		if err != nil {
			return fmt.Errorf("sources: read %s: %w", p.file, err)
		}
		c.lastEnd = end
		p.st.Offset = c.base + end
		p.st.Line += n
		p.dirty = true
	}
	return nil
}

// settle brings p.st.Line up to date with the open file.
func (r *CSVReader) settle(p *planned) {
	c := r.c
	c.settleLine()
	if c.cr != nil && c.lastLine > 0 {
		p.st.Line = c.baseLine + int64(c.lastLine)
	}
}

// settleLine makes c.lastLine the line where the last consumed row ends.
func (c *cursor) settleLine() {
	if c.lastRow != nil {
		for _, v := range c.lastRow {
			if v.Kind == differential.KindString {
				c.lastLine += strings.Count(v.S, "\n")
			}
		}
		c.lastRow = nil
	}
}

// blankBytes returns the length of the n blank lines ("\n" or "\r\n")
// at offset off of f.
func blankBytes(f *os.File, off int64, n int) int64 {
	b := make([]byte, 2*n)
	m, _ := f.ReadAt(b, off)
	b = b[:m]
	i := 0
	for ; n > 0 && i < len(b); n-- {
		switch {
		case b[i] == '\n':
			i++
		case b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n':
			i += 2
		default:
			return int64(i)
		}
	}
	return int64(i)
}

// newlines counts the line breaks inside the fields of a record.
func newlines(rec []string) int {
	n := 0
	for _, s := range rec {
		n += strings.Count(s, "\n")
	}
	return n
}

// countLines counts the lines of the bytes [from, to) of f, which hold
// only line ends (blank lines the csv reader skipped); a last line without
// "\n" (a lone "\r") counts too.
func countLines(f *os.File, from, to int64) (int64, error) {
	var buf [4096]byte
	var n int64
	terminated := true
	for from < to {
		b := buf[:min(int64(len(buf)), to-from)]
		if _, err := f.ReadAt(b, from); err != nil {
			return 0, err
		}
		for _, c := range b {
			if c == '\n' {
				n++
			}
		}
		terminated = b[len(b)-1] == '\n'
		from += int64(len(b))
	}
	if !terminated {
		n++
	}
	return n, nil
}
