package sources

import (
	"encoding/csv"
	"errors"
	"strconv"
	"strings"
)

// Marks of bad input. Every *InputError wraps exactly one of them, so that
// errors.Is can tell the cases apart whatever the wrapping.
var (
	// ErrFieldCount marks a row whose number of fields differs from the header's.
	ErrFieldCount = errors.New("sources: wrong number of fields")
	// ErrBadValue marks a field that does not parse as its column's type.
	ErrBadValue = errors.New("sources: value does not parse as its column's type")
	// ErrBadQuote marks broken CSV quoting: a bare quote in an unquoted
	// field, a stray quote in a quoted one, or a quoted field never closed.
	ErrBadQuote = errors.New("sources: broken quoting")
	// ErrBadUTF8 marks a string field that is not valid UTF-8.
	ErrBadUTF8 = errors.New("sources: invalid UTF-8")
	// ErrBadHeader marks a header line that does not name the schema's columns.
	ErrBadHeader = errors.New("sources: header does not match the schema")
)

// InputError is bad input in a source file: the file, the place and what
// is wrong. Reading stops at the first one unless CSVDir.OnBadRow is set.
type InputError struct {
	File   string // path as given: the source directory joined with the file's name
	Line   int64  // 1-based
	Column int    // 1-based position of the field in the file's rows, 0 when the whole row is at fault
	Field  string // the column's name where known
	Err    error  // what is wrong; wraps one of the Err* marks of this package
}

// Error formats the error as `file:line: column c (name): what`, or
// `file:line: what` for an error of the whole row.
func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	b.WriteByte(':')
	b.WriteString(strconv.FormatInt(e.Line, 10))
	b.WriteString(": ")
	if e.Column > 0 {
		b.WriteString("column ")
		b.WriteString(strconv.Itoa(e.Column))
		if e.Field != "" {
			b.WriteString(" (")
			b.WriteString(e.Field)
			b.WriteByte(')')
		}
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause, which wraps one of the Err* marks.
func (e *InputError) Unwrap() error { return e.Err }

// problem is the cause of an InputError: a message for people, the mark
// that says which case it is, and the underlying error if there is one
// (a *csv.ParseError for broken quoting).
type problem struct {
	msg   string
	mark  error
	cause error
}

func (p *problem) Error() string { return p.msg }

func (p *problem) Unwrap() []error {
	if p.cause != nil {
		return []error{p.mark, p.cause}
	}
	return []error{p.mark}
}

// ChangedFileError reports a file that changed in its consumed part since
// it was read: it shrank below the bytes consumed, its first bytes differ,
// a byte consumed differs (FileState.Sum, checked when the file's size or
// modification time changed), its partial last line (FileState.Partial)
// was rewritten rather than continued, or, in a state from before Partial
// existed, its last row read without a line end was continued. Its rows
// were committed as they were; reading on would mix two versions of the
// file.
type ChangedFileError struct {
	File   string // path as given: the source directory joined with the file's name
	Path   string // the file's name relative to the source directory, as in FileState
	Reason string // what was noticed
}

func (e *ChangedFileError) Error() string {
	return e.File + " was modified after it was read (" + e.Reason + ")"
}

// quoteValue quotes a field for an error message, cutting long ones.
func quoteValue(s string) string {
	const maxQuoted = 64
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}

// quoteProblem translates a csv.ParseError. atEOF tells that the reader
// reached the end of the data inside a quoted field.
func quoteProblem(pe *csv.ParseError, atEOF bool) *problem {
	msg := pe.Err.Error()
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		msg = `bare " in unquoted field (quote the field and double the quotes inside it)`
	case errors.Is(pe.Err, csv.ErrQuote) && atEOF:
		msg = `quoted field is not terminated before the end of the file`
	case errors.Is(pe.Err, csv.ErrQuote):
		msg = `extraneous " in quoted field (quotes inside a quoted field must be doubled)`
	}
	return &problem{msg: msg, mark: ErrBadQuote, cause: pe}
}
