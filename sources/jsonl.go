package sources

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pwlog/pwlog/differential"
)

// JSONLinesDir is a source that reads the JSON Lines files of a directory:
// every line of every regular *.jsonl file under Dir is one JSON object,
// one insert into the source's table. It keeps the same offsets as CSVDir
// (FileState: Head, Sum, Partial, with the same meanings) and gives rows
// the same keys (the source's name, the file's path, the byte offset of
// the row's line), and treats changed files and lines still being written
// as CSVDir does (see the package documentation); only the format differs:
//
//   - A line is one JSON object (RFC 8259, as encoding/json reads it),
//     with whitespace around it allowed. A line of whitespace only is
//     blank and skipped. A UTF-8 byte order mark at the start of a file
//     is ignored. There is no header.
//   - Each column of the Schema is the object's member of that name
//     (exactly, case included); other members, of any type, are ignored.
//     When a name appears twice, the last member counts, as with
//     encoding/json. A column without a member is bad input
//     (ErrMissingField), and JSON null is a null value in any column.
//   - str takes a JSON string only (escapes decoded; invalid UTF-8 is
//     ErrBadUTF8); int a JSON number written as an integer, without
//     fraction or exponent, in the int64 range (3.0 and 1e3 are not
//     ints); float any JSON number (out of the float64 range is an
//     error); bool true or false. Any other JSON type is ErrBadValue.
//   - Bad input is an *InputError naming the file and the line; for a
//     column's value, Column is the column's position in the Schema
//     (1-based) and Field its name. A line that is not one JSON object is
//     ErrBadJSON, with the byte of the line where it goes wrong.
//   - A last line without a line end is read when it is a complete
//     object, and remembered (FileState.Partial): a later read of the
//     grown file reads the line again. One that is not complete JSON yet
//     (an object not closed, a string, number or literal cut short) is
//     left unread and listed by JSONLinesReader.Unfinished until the
//     file grows; a complete object that is bad (a wrong type, a missing
//     column, something after it) is bad input as on any line. A file's
//     first line read without its line end is remembered as by a state
//     written before Partial existed (Partial cannot be 0): a line end
//     appended later ends it, anything else appended to it (even
//     whitespace) is a *ChangedFileError. A complete object cannot be
//     continued into another one anyway.
type JSONLinesDir struct {
	Name   string              // the source's persistent name, part of every row key
	Dir    string              // read with its subdirectories: every *.jsonl file
	Schema differential.Schema // the columns: str, int, float or bool
	// OnBadRow, when set, is given each bad line's *InputError, and the
	// line is skipped; by default a bad line stops the reading.
	OnBadRow func(*InputError)
	// Streaming and PartialLineTimeout are CSVDir's: with Streaming, a
	// last line without its line end waits until the file has been
	// quiet for PartialLineTimeout (never, when it is not positive).
	Streaming          bool
	PartialLineTimeout time.Duration
}

// JSONLinesReader reads the rows of a JSONLinesDir that a set of
// FileStates has not consumed yet. Its Next, Counts, Deleted, Unfinished
// and Close are those of every directory source, as CSVReader's. It is
// not safe for concurrent use.
type JSONLinesReader struct {
	fileReader
	src  *JSONLinesDir
	line *jsonLine
	pos  int64  // file offset of the next byte fileReader.br hands over
	long []byte // a line longer than fileReader.br's buffer
}

// Open lists Dir and prepares to read everything not yet consumed
// according to prev, which it does not modify, as CSVDir.Open does. The
// Reader is a *JSONLinesReader.
func (s *JSONLinesDir) Open(prev map[string]FileState) (Reader, error) {
	return asReader(s.open(prev))
}

// open is Open returning the concrete reader.
func (s *JSONLinesDir) open(prev map[string]FileState) (*JSONLinesReader, error) {
	if err := checkSchema(s.Schema, "JSON Lines"); err != nil {
		return nil, err
	}
	r := &JSONLinesReader{src: s, line: newJSONLine(s.Schema)}
	d := fileDir{name: s.Name, dir: s.Dir, ext: ".jsonl", streaming: s.Streaming, partialLineTimeout: s.PartialLineTimeout}
	if err := r.init(d, r, prev); err != nil {
		return nil, err
	}
	return r, nil
}

// begin positions the reading of the open file at the first byte not
// consumed, or at the partial line read before.
func (r *JSONLinesReader) begin(p *planned) (bool, error) {
	if err := r.resume(p); err != nil {
		return false, err
	}
	r.pos = r.of.base
	return true, nil
}

// byteOrderMark is UTF-8's, which a file may start with.
const byteOrderMark = "\ufeff"

// read appends the rows of the open file to us until limit rows or the end
// of the file; done reports the end. Every line read is consumed as it is
// read, but a last line without a line end that is blank or not complete
// JSON yet.
func (r *JSONLinesReader) read(p *planned, us []differential.Update, limit int) (_ []differential.Update, done bool, _ error) {
	nf := len(r.src.Schema)
	for limit <= 0 || len(us)-r.extra < limit {
		start := r.pos
		line, err := r.next()
		if err != nil {
			return nil, false, fmt.Errorf("sources: read %s: %w", p.file, err)
		}
		if len(line) == 0 {
			return r.retractOld(us), true, nil
		}
		r.pos += int64(len(line))
		terminated := line[len(line)-1] == '\n'
		body := line
		if terminated {
			body = body[:len(body)-1]
		}
		if start == 0 {
			if !terminated && len(body) < len(byteOrderMark) && bytes.HasPrefix([]byte(byteOrderMark), body) {
				body = nil // the start of a byte order mark: waits as a blank line
			}
			body = bytes.TrimPrefix(body, []byte(byteOrderMark))
		}
		if blank(body) {
			if !terminated {
				// It may become a line: left unread.
				return r.retractOld(us), true, nil
			}
			r.consumed(p)
			continue
		}
		row := r.row(nf)
		prob, col, cut := r.line.parse(body, row)
		if prob != nil {
			ie := &InputError{File: p.file, Line: p.st.Line + 1, Err: prob}
			if col >= 0 {
				ie.Column, ie.Field = col+1, r.src.Schema[col].Name
			}
			if cut && !terminated {
				// The line is being written.
				return r.holdAt(p, us, ie, start), true, nil
			}
			if r.src.OnBadRow == nil {
				return nil, false, ie
			}
			r.src.OnBadRow(ie)
			us = r.retractOld(us)
			r.consumed(p)
			if !terminated {
				// Read again, as a whole, if the line goes on.
				if err := r.markPartial(p, start); err != nil {
					return nil, false, err
				}
			}
			continue
		}
		r.keep(nf)
		us = r.emit(us, limit, start, row)
		r.consumed(p)
		p.st.Rows++
		if !terminated {
			if err := r.markPartial(p, start); err != nil {
				return nil, false, err
			}
		}
	}
	return us, false, nil
}

// consumed records the line read last as consumed.
func (r *JSONLinesReader) consumed(p *planned) {
	p.st.Offset = r.pos
	p.st.Line++
	p.dirty = true
}

// next returns the next line of the open file with its line end, or what
// is left of the file when it has none; nothing at the end of the file.
// The bytes are valid until the next call.
func (r *JSONLinesReader) next() ([]byte, error) {
	b, err := r.br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		r.long = append(r.long[:0], b...)
		for errors.Is(err, bufio.ErrBufferFull) {
			b, err = r.br.ReadSlice('\n')
			r.long = append(r.long, b...)
		}
		b = r.long
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

// blank tells whether a line holds only JSON whitespace.
func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// rowOf parses the partial line read before (resume and reread): the row
// it gave, if it gave one.
func (r *JSONLinesReader) rowOf(line []byte) (differential.Row, bool) {
	row := make(differential.Row, len(r.src.Schema))
	if prob, _, _ := r.line.parse(line, row); prob != nil {
		return nil, false
	}
	return row, true
}

// settle has nothing to do: FileState.Line is counted as lines are read.
func (r *JSONLinesReader) settle(*planned) {}

// end has nothing to do: blank lines are consumed as they are read.
func (r *JSONLinesReader) end(*planned) error { return nil }
