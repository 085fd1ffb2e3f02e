// Package sources holds pwlog's sources and sinks: a reader of the CSV
// files in a directory that remembers, file by file, how far it has read,
// and a CSV sink whose append mode writes every time exactly once across
// crashes.
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
// header that does not match yet. Reader.Unfinished lists it (the engine
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
// A CSVSink writes a table's updates as CSV rows: the row's columns, then
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
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
	// not listed by Reader.Unfinished) while the file's modification time
	// is less than PartialLineTimeout old, as a writer may still be
	// writing it. Once the file has been quiet that long, the line is read
	// as in static mode (FileState.Partial): if the file then grows from
	// it, its row is retracted and the completed line's row read. The
	// reader itself does not watch the directory: a streaming caller opens
	// a new Reader at the states it was given to see what changed.
	Streaming bool
	// PartialLineTimeout is how long, with Streaming, a file must have
	// been quiet before its last line without a line end is read. 0 or
	// negative: such a line is never read while streaming.
	PartialLineTimeout time.Duration
}

// Reader reads the rows of a CSVDir that a set of FileStates has not
// consumed yet. It is not safe for concurrent use.
type Reader struct {
	src        *CSVDir
	plan       []planned // files with something to read, in name order
	cur        int       // index in plan of the file being read
	c          *cursor   // the open file, nil between files
	deleted    []string
	unfinished []*InputError // last lines left unread because they do not parse yet
	counts     []int         // updates per state returned by the last Next
	extra      int           // retractions among the updates of the current Next
	opened     []string      // paths opened, in order: lets tests see what was touched
	br         *bufio.Reader
	head       []byte               // the first min(headSize, size) bytes of the open file
	hashBuf    []byte               // reads the bytes FileState.Sum is brought up to date with
	slab       []differential.Value // rows are cut from it, to allocate them in bulk
	err        error                // sticky: the error that stopped reading
}

// planned is a file to read and its state so far.
type planned struct {
	st    FileState
	file  string // Dir joined with st.Path
	skip  int64  // bytes at Offset that end an unterminated last row read earlier (states without Partial)
	dirty bool   // st changed since Next last returned it
	n     int    // updates from the file since Next last returned its state
	// st.Sum is the hash of the bytes [0, sumAt); Next brings it up to
	// st.Offset before it returns the state.
	sumAt int64
	// partialSum is the hash of the bytes [0, st.Partial), where reading
	// goes on when st.Partial > 0.
	partialSum uint64
}

// cursor is an open file positioned after its last consumed row.
type cursor struct {
	f        *os.File
	cr       *csv.Reader
	base     int64               // file offset of the csv reader's first byte
	baseLine int64               // lines before the csv reader's first line
	cols     []column            // by position in the file's rows
	key      differential.Hasher // seeded with the source name and the file's path
	lastEnd  int64               // csv reader offset after the last consumed row
	lastLine int                 // csv reader line where the last consumed row starts, or ends when lastRow is nil
	lastRow  differential.Row    // the last consumed row: its strings' newlines add to lastLine
	size     int64               // the file's size as listed: the end of what is read
	endsNL   bool                // the file's last byte is '\n'
	quoted   bool                // the file ends with a closing quote (`"` or `"\r`)
	// retract is the row read before from the line at FileState.Partial,
	// which is read again now that the file grew: read retracts it unless
	// the completed line gives the same row. nil when there is none.
	retract *differential.Update
	held    bool // the file's last line is left unread: it has no line end and does not parse yet
}

// column maps a field of the file's rows to the schema.
type column struct {
	name  string
	index int // in the schema
	kind  differential.Kind
}

// errReaderClosed is returned by Next after Close.
var errReaderClosed = errors.New("sources: reader is closed")

const (
	readBufferSize = 64 << 10
	slabRows       = 512
)

// Open lists Dir and prepares to read everything not yet consumed according
// to prev, which it does not modify. Files are read in name order. A known
// file that shrank below its consumed offset, whose first bytes changed,
// or, when its size or modification time changed, whose bytes consumed no
// longer hash to FileState.Sum, makes Open fail with a *ChangedFileError;
// a known file that disappeared is reported by Reader.Deleted and
// otherwise ignored, even when it goes between the listing and its
// opening. A file deleted after Open, before Next reaches it, is skipped:
// Next returns no state for it. Dir may be a symbolic link to a directory.
func (s *CSVDir) Open(prev map[string]FileState) (*Reader, error) {
	if err := s.checkSchema(); err != nil {
		return nil, err
	}
	files, err := listCSV(s.Dir)
	if err != nil {
		return nil, fmt.Errorf("sources: list the directory: %w", err)
	}
	r := &Reader{src: s, br: bufio.NewReaderSize(nil, readBufferSize), head: make([]byte, 0, headSize)}
	seen := make(map[string]bool, len(files))
	for _, lf := range files {
		seen[lf.path] = true
		p := planned{file: filepath.Join(s.Dir, filepath.FromSlash(lf.path))}
		old, known := prev[lf.path]
		if !known {
			p.st = FileState{Path: lf.path, Size: lf.size, ModTime: lf.modTime, Head: headHash(nil), Sum: headHash(nil)}
			p.dirty = true
			r.plan = append(r.plan, p)
			continue
		}
		if lf.size == old.Size && old.Offset == lf.size && lf.modTime == old.ModTime {
			continue // read to its end and untouched: not even opened
		}
		if lf.size < old.Offset {
			return nil, &ChangedFileError{File: p.file, Path: lf.path,
				Reason: "its size " + strconv.FormatInt(lf.size, 10) + " is below the " + strconv.FormatInt(old.Offset, 10) + " bytes consumed"}
		}
		p.st = old
		p.st.Path = lf.path
		p.dirty = lf.size != old.Size || lf.modTime != old.ModTime
		p.st.Size, p.st.ModTime = lf.size, lf.modTime
		if err := r.checkKnown(&p, p.dirty); errors.Is(err, fs.ErrNotExist) {
			// Deleted since the directory was listed.
			r.deleted = append(r.deleted, lf.path)
			continue
		} else if err != nil {
			return nil, err
		}
		r.plan = append(r.plan, p)
	}
	for path := range prev {
		if !seen[path] {
			r.deleted = append(r.deleted, path)
		}
	}
	slices.Sort(r.deleted)
	return r, nil
}

// checkSchema refuses schemas the reader cannot fill.
func (s *CSVDir) checkSchema() error {
	if len(s.Schema) == 0 {
		return errors.New("sources: empty schema")
	}
	for i, c := range s.Schema {
		if s.Schema.Index(c.Name) != i {
			return fmt.Errorf("sources: duplicate column %q", c.Name)
		}
		switch c.Type {
		case differential.KindString, differential.KindInt, differential.KindFloat, differential.KindBool:
		default:
			return fmt.Errorf("sources: column %q: type %s cannot be read from CSV", c.Name, c.Type)
		}
	}
	return nil
}

// checkKnown verifies that a known file that grew still starts with the
// bytes it was read with, and that its last row read, if it had no line
// end, was continued rather than changed. When the file's size or
// modification time changed (touched), all the bytes consumed must still
// hash to FileState.Sum. For a state without Partial it refuses any
// continuation but a line end, and sets p.skip past it. It sets p.sumAt
// and, with Partial, p.partialSum; a state without Sum gets one, of the
// file as it is.
func (r *Reader) checkKnown(p *planned, touched bool) error {
	f, err := r.open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	changed := func(reason string) error {
		return &ChangedFileError{File: p.file, Path: p.st.Path, Reason: reason}
	}
	head := make([]byte, min(headSize, p.st.Offset))
	if _, err := f.ReadAt(head, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return changed("it shrank while being opened")
		}
		return fmt.Errorf("sources: read %s: %w", p.file, err)
	}
	if headHash(head) != p.st.Head {
		return changed("its first " + strconv.Itoa(len(head)) + " bytes differ from those read")
	}
	hash := func(h uint64, from, to int64) (uint64, error) {
		h, err := hashOn(f, h, from, to, r.hashBuffer())
		if errors.Is(err, io.EOF) {
			return 0, changed("it shrank while being opened")
		} else if err != nil {
			return 0, fmt.Errorf("sources: read %s: %w", p.file, err)
		}
		return h, nil
	}
	// checkSum compares the hash of the bytes consumed with Sum, or makes
	// it Sum for a state without one.
	checkSum := func(sum uint64) error {
		if p.st.Sum == 0 {
			p.st.Sum = sum
		} else if sum != p.st.Sum {
			return changed("its " + strconv.FormatInt(p.st.Offset, 10) + " bytes consumed differ from those read")
		}
		p.sumAt = p.st.Offset
		return nil
	}
	if p.st.Partial > 0 {
		if p.st.Partial >= p.st.Offset {
			return changed("its state's partial line starts at byte " + strconv.FormatInt(p.st.Partial, 10) + ", not before the " + strconv.FormatInt(p.st.Offset, 10) + " bytes consumed")
		}
		// Reading goes on from Partial, whose Sum is needed: the bytes
		// consumed are hashed in any case.
		before, err := hash(fnvOffset, 0, p.st.Partial)
		if err != nil {
			return err
		}
		h, err := hashRange(f, p.st.Partial, p.st.Offset)
		if errors.Is(err, io.EOF) {
			return changed("it shrank while being opened")
		} else if err != nil {
			return fmt.Errorf("sources: read %s: %w", p.file, err)
		}
		if h != p.st.PartialHash {
			return changed("its last line, read without a line end, was rewritten rather than continued")
		}
		sum, err := hash(before, p.st.Partial, p.st.Offset)
		if err != nil {
			return err
		}
		p.partialSum = before
		return checkSum(sum) // read again from Partial
	}
	if sum := p.st.Sum; p.st.Offset == 0 || !touched && sum != 0 {
		// Untouched: read on from Offset (a read with a limit, or a
		// last line left unread, stopped there).
		if sum == 0 {
			p.st.Sum = fnvOffset
		}
		p.sumAt = p.st.Offset
	} else {
		h, err := hash(fnvOffset, 0, p.st.Offset)
		if err != nil {
			return err
		}
		if err := checkSum(h); err != nil {
			return err
		}
	}
	if p.st.Offset == 0 || p.st.Offset >= p.st.Size {
		return nil
	}
	var b [3]byte
	n := min(3, p.st.Size-p.st.Offset+1)
	if _, err := f.ReadAt(b[:n], p.st.Offset-1); err != nil {
		if errors.Is(err, io.EOF) {
			return changed("it shrank while being opened")
		}
		return fmt.Errorf("sources: read %s: %w", p.file, err)
	}
	switch {
	case b[0] == '\n':
	case b[1] == '\n':
		p.skip = 1
	case b[0] != '\r' && b[1] == '\r' && (n == 2 || b[2] == '\n'):
		// After a '\r' the reader dropped, another would join the row.
		p.skip = n - 1
	default:
		return changed("its last row, read without a newline, was continued")
	}
	return nil
}

// hashBuffer returns the buffer the consumed bytes are hashed through.
func (r *Reader) hashBuffer() []byte {
	if r.hashBuf == nil {
		r.hashBuf = make([]byte, readBufferSize)
	}
	return r.hashBuf
}

// sumTo brings p.st.Sum up to p.st.Offset, reading the bytes of the open
// file it does not cover yet.
func (r *Reader) sumTo(p *planned, f *os.File) error {
	if p.sumAt >= p.st.Offset {
		return nil
	}
	h, err := hashOn(f, p.st.Sum, p.sumAt, p.st.Offset, r.hashBuffer())
	if err != nil {
		return fmt.Errorf("sources: read %s: %w", p.file, err)
	}
	p.st.Sum, p.sumAt = h, p.st.Offset
	return nil
}

// open opens a file of the plan and notes it.
func (r *Reader) open(p *planned) (*os.File, error) {
	r.opened = append(r.opened, p.st.Path)
	f, err := os.Open(p.file)
	if err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	return f, nil
}

// Deleted returns the paths of known files that are gone from the
// directory, sorted. The slice belongs to the Reader.
func (r *Reader) Deleted() []string { return r.deleted }

// Unfinished returns the last lines left unread so far because they have
// no line end yet and do not parse yet (a field cut short, a quoted field
// still open, fewer fields than the header, a header that does not match
// yet): each as the *InputError it would be were the line complete. Such a
// line is read once the file grows; bad input that no continuation can
// make good is an error as on any other line. The slice belongs to the
// Reader.
func (r *Reader) Unfinished() []*InputError { return r.unfinished }

// Counts returns, for each state the last call of Next returned, in the
// same order, how many of its updates came from that file: a file's
// updates are contiguous and in the order of the states. The slice belongs
// to the Reader.
func (r *Reader) Counts() []int { return r.counts }

// Next reads at most limit rows, across files (limit <= 0: no limit). It
// returns them as inserts (Diff +1, Time 0) with their keys, and the new
// state of every file it advanced, one entry per file, final after this
// call; the caller owns both slices. Once everything is read it returns
// io.EOF and nothing else.
//
// A row read from a last line without a line end (FileState.Partial) is
// read again when the file grew: when the completed line gives another
// row, the old one is retracted (Diff -1, the same key) just before the
// new one, in the same call, and on top of limit; a completed line that
// gives no row (bad, skipped) only retracts. Counts tells which file each
// update came from.
//
// Bad input stops reading with an *InputError (unless CSVDir.OnBadRow is
// set), and then Next returns no rows and no states: the rows of the call
// before the bad one are dropped, and states returned by earlier calls stay
// the last good ones. The error is sticky.
func (r *Reader) Next(limit int) ([]differential.Update, []FileState, error) {
	r.counts = nil
	if r.err != nil {
		return nil, nil, r.err
	}
	first := r.cur
	r.extra = 0
	var us []differential.Update
	if limit > 0 {
		us = make([]differential.Update, 0, min(limit, 4096))
	}
	for r.cur < len(r.plan) && (limit <= 0 || len(us)-r.extra < limit) {
		p := &r.plan[r.cur]
		if r.c == nil {
			if p.skip == 0 && p.st.Offset >= p.st.Size {
				r.cur++ // empty, or nothing beyond what was consumed
				continue
			}
			if err := r.start(p); err != nil {
				return r.fail(err)
			}
			if r.c == nil {
				r.cur++ // blank so far: no header yet
				continue
			}
		}
		var done bool
		var err error
		before := len(us)
		us, done, err = r.read(p, us, limit)
		if err != nil {
			return r.fail(err)
		}
		p.n += len(us) - before
		if done {
			if err := r.finish(p); err != nil {
				return r.fail(err)
			}
			r.cur++
		}
	}
	var states []FileState
	for i := first; i <= r.cur && i < len(r.plan); i++ {
		p := &r.plan[i]
		if !p.dirty && p.n == 0 {
			continue
		}
		if i == r.cur && r.c != nil {
			if err := r.settle(p, r.c); err != nil {
				return r.fail(err)
			}
		}
		states = append(states, p.st)
		r.counts = append(r.counts, p.n)
		p.dirty, p.n = false, 0
	}
	if len(us) == 0 {
		if len(states) == 0 {
			r.counts = nil
			return nil, nil, io.EOF
		}
		us = nil
	}
	return us, states, nil
}

// fail makes err sticky and closes the open file.
func (r *Reader) fail(err error) ([]differential.Update, []FileState, error) {
	r.err = err
	if r.c != nil {
		r.c.f.Close()
		r.c = nil
	}
	return nil, nil, err
}

// Close closes the open file, if any. Next fails after Close.
func (r *Reader) Close() error {
	if r.err == nil {
		r.err = errReaderClosed
	}
	if r.c == nil {
		return nil
	}
	err := r.c.f.Close()
	r.c = nil
	return err
}

// start opens p's file, reads its header and positions a csv reader at the
// first byte not consumed, or at the partial line read before. It leaves
// r.c nil for a file with no header yet, or whose unterminated header does
// not parse yet.
func (r *Reader) start(p *planned) error {
	f, err := r.open(p)
	if errors.Is(err, fs.ErrNotExist) {
		// Deleted since Open listed it: nothing is read from it and its
		// state stays as it was; the next Open reports a known file as
		// deleted.
		p.dirty = false
		return nil
	} else if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	size := p.st.Size
	if r.src.Streaming && (r.src.PartialLineTimeout <= 0 || time.Since(time.Unix(0, p.st.ModTime)) < r.src.PartialLineTimeout) {
		// Complete lines only: the end of what is read is the last line end.
		if size, err = lastLineEnd(f, size); err != nil {
			return fmt.Errorf("sources: read %s: %w", p.file, err)
		}
		if p.st.Offset > 0 && size <= p.st.Offset {
			return nil // nothing complete beyond what was consumed
		}
	}
	r.head = r.head[:min(headSize, size)]
	if _, err := f.ReadAt(r.head, 0); err != nil {
		return fmt.Errorf("sources: read %s: %w", p.file, err)
	}
	c := &cursor{f: f, key: differential.NewHasher("csv"), size: size}
	c.key.String(r.src.Name)
	c.key.String(p.st.Path)
	var tail [2]byte
	if n := min(2, size); n > 0 {
		if _, err := f.ReadAt(tail[2-n:], size-n); err != nil {
			return fmt.Errorf("sources: read %s: %w", p.file, err)
		}
	}
	c.endsNL = tail[1] == '\n'
	c.quoted = tail[1] == '"' || tail[1] == '\r' && tail[0] == '"'

	// The header is always read from the start of the file.
	var hr *csv.Reader
	if p.st.Offset == 0 {
		r.br.Reset(io.NewSectionReader(f, 0, size))
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
		return nil
	case errors.Is(err, io.EOF):
		return &InputError{File: p.file, Line: 1, Err: &problem{msg: "missing header", mark: ErrBadHeader}}
	case err != nil:
		_, _, err := r.readError(p, &cursor{f: f, cr: hr}, hdr, err, size)
		if growing && errors.As(err, &ie) {
			r.unfinished = append(r.unfinished, ie)
			return nil
		}
		return err
	}
	line, _ := hr.FieldPos(0)
	if c.cols, err = r.mapHeader(p, hdr, int64(line)); err != nil {
		if growing && errors.As(err, &ie) {
			r.unfinished = append(r.unfinished, ie)
			return nil
		}
		return err
	}
	if p.st.Offset == 0 {
		c.cr = hr
		c.lastEnd = hr.InputOffset()
		c.lastLine = line + newlines(hdr)
		p.st.Offset, p.st.Line = c.lastEnd, int64(c.lastLine)
		p.dirty = true
	} else {
		c.base = p.st.Offset + p.skip
		c.baseLine = p.st.Line
		if p.st.Partial > 0 {
			if err := r.reread(p, c); err != nil {
				return err
			}
		}
		r.br.Reset(io.NewSectionReader(f, c.base, size-c.base))
		c.cr = csv.NewReader(r.br)
		c.cr.FieldsPerRecord = -1
		c.cr.ReuseRecord = true
		if p.skip > 0 {
			// The newline ends the row read last; it starts no line.
			p.st.Offset = c.base
			p.skip = 0
			p.dirty = true
		}
	}
	ok = true
	r.c = c
	return nil
}

// reread positions c at the row read before from the line at
// p.st.Partial, which had no line end, now that the file grew (checkKnown
// checked that the line's bytes are those read): the state goes back to
// before that line, and c.retract holds the row it gave, parsed again
// from the file (none when it was a bad row, skipped).
func (r *Reader) reread(p *planned, c *cursor) error {
	old := make([]byte, p.st.Offset-p.st.Partial)
	if _, err := c.f.ReadAt(old, p.st.Partial); err != nil {
		return fmt.Errorf("sources: read %s: %w", p.file, err)
	}
	c.base = p.st.Partial
	c.baseLine = p.st.Line - int64(bytes.Count(old, []byte{'\n'})) - 1
	cr := csv.NewReader(bytes.NewReader(old))
	cr.FieldsPerRecord = -1
	if rec, err := cr.Read(); err == nil && len(rec) == len(c.cols) {
		row := make(differential.Row, len(rec))
		if _, prob := c.convert(rec, row); prob == nil {
			k := c.key
			k.Uint64(uint64(p.st.Partial))
			c.retract = &differential.Update{Key: k.Key(), Row: row, Diff: -1}
			p.st.Rows--
		}
	}
	p.st.Offset, p.st.Line = c.base, c.baseLine
	p.st.Sum, p.sumAt = p.partialSum, c.base
	p.st.Partial, p.st.PartialHash = 0, 0
	p.dirty = true
	return nil
}

// mapHeader maps the fields of a file's rows to the schema.
func (r *Reader) mapHeader(p *planned, hdr []string, line int64) ([]column, error) {
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
func (r *Reader) read(p *planned, us []differential.Update, limit int) (_ []differential.Update, done bool, _ error) {
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
		if len(r.slab) < nf {
			r.slab = make([]differential.Value, slabRows*nf)
		}
		row := differential.Row(r.slab[:nf:nf])
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
		r.slab = r.slab[nf:]
		// Its key is where the row itself starts, however much of the
		// blank lines before it an earlier read consumed.
		start = c.startOf(start, line)
		k := c.key
		k.Uint64(uint64(c.base + start))
		u := differential.Update{Key: k.Key(), Row: row, Diff: 1}
		emit := true
		if old := c.retract; old != nil {
			c.retract = nil
			if old.Key == u.Key && old.Row.Equal(row) {
				emit = false // the line only got its line end
			} else {
				us = append(us, *old)
				r.extra++
			}
		}
		if emit {
			if len(us) == cap(us) {
				// Double, not append's 1.25: a large limit must not cost many copies.
				n := 2 * cap(us)
				if n < 256 {
					n = 256
				}
				if limit > 0 && n > limit+r.extra {
					n = limit + r.extra
				}
				us = append(make([]differential.Update, 0, n), us...)
			}
			us = append(us, u)
		}
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
	return !c.endsNL && c.base+c.cr.InputOffset() == c.size
}

// retractOld appends the retraction of the row read before from a partial
// line that is read again, if there is one.
func (r *Reader) retractOld(us []differential.Update) []differential.Update {
	if c := r.c; c.retract != nil {
		us = append(us, *c.retract)
		c.retract = nil
		r.extra++
	}
	return us
}

// hold leaves the open file's last line unread: it has no line end and
// does not parse yet, for the reason ie gives. The record starts on line
// (csv reader line), the reader having been at start before it; the blank
// lines before it are consumed. A row read from it before is retracted:
// the line is read as a new one once it is complete.
func (r *Reader) hold(p *planned, us []differential.Update, ie *InputError, start int64, line int) []differential.Update {
	c := r.c
	c.held = true
	r.unfinished = append(r.unfinished, ie)
	if start = c.startOf(start, line); start > c.lastEnd {
		c.lastEnd = start
		c.lastLine, c.lastRow = line-1, nil
		p.st.Offset = c.base + start
		p.dirty = true
	}
	return r.retractOld(us)
}

// skipped records a bad row skipped that starts at start (csv reader
// offset, past blank lines) and ends on line end (absolute).
func (r *Reader) skipped(p *planned, end, start int64) error {
	r.consumed(p, end)
	if r.c.unterminated() {
		// Read again, as a whole, if the line goes on.
		return r.markPartial(p, r.c.base+start)
	}
	return nil
}

// markPartial records that the row consumed last, which starts at from,
// ends the file without a line end.
func (r *Reader) markPartial(p *planned, from int64) error {
	h, err := hashRange(r.c.f, from, p.st.Offset)
	if err != nil {
		return fmt.Errorf("sources: read %s: %w", p.file, err)
	}
	p.st.Partial, p.st.PartialHash = from, h
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
func (r *Reader) consumed(p *planned, end int64) {
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
func (r *Reader) readError(p *planned, c *cursor, rec []string, err error, end int64) (int64, bool, error) {
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

// finish records the end of the open file, trailing blank lines included,
// and closes it.
func (r *Reader) finish(p *planned) error {
	c := r.c
	r.c = nil
	defer c.f.Close()
	if err := r.settle(p, c); err != nil {
		return err
	}
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
		p.st.Head = headHash(r.head[:min(int64(len(r.head)), p.st.Offset)])
		p.dirty = true
		if err := r.sumTo(p, c.f); err != nil {
			return err
		}
	}
	return nil
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

// settle brings p.st.Line, p.st.Head and p.st.Sum up to date with the
// open file.
func (r *Reader) settle(p *planned, c *cursor) error {
	c.settleLine()
	if c.cr != nil && c.lastLine > 0 {
		p.st.Line = c.baseLine + int64(c.lastLine)
	}
	p.st.Head = headHash(r.head[:min(int64(len(r.head)), p.st.Offset)])
	return r.sumTo(p, c.f)
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

// lastLineEnd returns the offset just after the last '\n' among the first
// size bytes of f, or 0 when there is none.
func lastLineEnd(f *os.File, size int64) (int64, error) {
	var buf [4096]byte
	for end := size; end > 0; {
		n := min(end, int64(len(buf)))
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return end - n + int64(i) + 1, nil
		}
		end -= n
	}
	return 0, nil
}
