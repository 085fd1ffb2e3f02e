package sources

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/pwlog/pwlog/vfs"

	"github.com/pwlog/pwlog/differential"
)

// ErrSinkHeader marks a sink file, reopened in append mode, whose header
// is not the one of the table being written.
var ErrSinkHeader = errors.New("sources: sink file header does not match the table")

// errSinkClosed is returned by the methods of a closed FileSink.
var errSinkClosed = errors.New("sources: sink is closed")

// FileSink writes a table's updates to a changelog file, one line per
// update: the row's columns, then time, then diff. Its format is CSV
// (OpenCSVSink) or JSON Lines (OpenJSONLinesSink).
//
// CSV: strings are always double-quoted (inner quotes doubled), ints and
// floats bare (floats as Python's repr: 1108937.0, 0.5, 1e+16, 1e-05, nan,
// inf), bools True/False, null empty, a tuple as the quoted text of
// differential.AppendTuple: "(1, ""a"")".
// The header line is the column names, then `time,diff`.
//
// JSON Lines: one object per line, the columns by name in schema order,
// then "time" and "diff"; no header line. Floats are written as CSV's;
// those JSON cannot hold (NaN, infinities) are null, bytes are base64
// strings, tuples arrays.
//
// Write only buffers; Flush writes, Sync makes durable. A write or sync
// error is sticky: the sink refuses everything after it. It is not safe
// for concurrent use.
type FileSink struct {
	path  string
	f     vfs.File
	fs    vfs.FS
	ncols int
	form  *sinkFormat
	buf   []byte // formatted rows of whole times not yet written
	off   int64  // bytes in the file after the last flushed time
	last  uint64 // the last time written, when wrote
	wrote bool
	cut   int64 // where recovery cuts the file before the first write, or -1
	// cutTorn: the cut removes only a torn tail, no complete time, so
	// Close applies it even when nothing was written.
	cutTorn bool
	found   uint64 // the last time in the file at open, 0 if none
	err     error  // sticky
	// special is set for a sink that is not a regular file (/dev/null, a
	// pipe): it has nothing to fsync.
	special bool
}

// sinkFormat is how a FileSink writes its lines and finds the time of
// one again when it recovers the file.
type sinkFormat struct {
	header []byte
	// appendLine appends the line of one update.
	appendLine func(b []byte, row differential.Row, t uint64, diff int64) []byte
	// parseTail returns the time of a complete line (its end, at least
	// tailKeep bytes of it, with its '\n'); bare is set when the line is
	// whole and the table has no columns.
	parseTail func(line []byte, bare bool) (uint64, bool)
	// quotedLines: a quoted string may hold a line end, so a line end
	// inside quotes does not end a line.
	quotedLines bool
}

// csvFormat is the CSV format of a table with these columns.
func csvFormat(columns []string) *sinkFormat {
	return &sinkFormat{header: sinkHeader(columns), appendLine: appendCSVLine, parseTail: parseTail, quotedLines: true}
}

// appendCSVLine appends the CSV line of one update.
func appendCSVLine(b []byte, row differential.Row, t uint64, diff int64) []byte {
	for _, v := range row {
		b = appendValue(b, v)
		b = append(b, ',')
	}
	b = strconv.AppendUint(b, t, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, diff, 10)
	return append(b, '\n')
}

// sinkHeader returns the header line of a table with these columns.
func sinkHeader(columns []string) []byte {
	var b []byte
	for _, c := range columns {
		b = appendHeaderName(b, c)
		b = append(b, ',')
	}
	return append(b, "time,diff\n"...)
}

// appendHeaderName appends a column name, quoted only when it must be.
func appendHeaderName(b []byte, name string) []byte {
	if name == "" || bytes.ContainsAny([]byte(name), ",\"\r\n") {
		return appendQuoted(b, name)
	}
	return append(b, name...)
}

// appendQuoted appends s between double quotes, doubling the quotes in it.
func appendQuoted(b []byte, s string) []byte {
	b = append(b, '"')
	for {
		i := indexQuote(s)
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '"')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '"')
}

func indexQuote(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			return i
		}
	}
	return -1
}

// appendValue appends the CSV form of a value.
func appendValue(b []byte, v differential.Value) []byte {
	switch v.Kind {
	case differential.KindNull:
		return b
	case differential.KindBool:
		if v.AsBool() {
			return append(b, "True"...)
		}
		return append(b, "False"...)
	case differential.KindInt:
		return strconv.AppendInt(b, v.I, 10)
	case differential.KindFloat:
		return differential.AppendFloat(b, v.AsFloat())
	case differential.KindTuple:
		return appendQuoted(b, string(differential.AppendTuple(nil, v)))
	default:
		return appendQuoted(b, v.S)
	}
}

// OpenCSVSink opens the sink file at path for a table with these columns.
//
// Fresh mode (appendMode false) creates or truncates the file and writes
// the header: each execution gets a fresh file with only its own updates; resume
// is 0.
//
// Append mode keeps one changelog across executions. An existing file is
// recovered: its header must be the expected one (else an error wrapping
// ErrSinkHeader), the file is fsynced, and resume is the last time present,
// M: the file holds every time below M and the caller must write every time
// from M on again. M's rows and any torn tail after them are cut from the
// file, but lazily: the first Flush with data truncates the file there and
// fsyncs it before writing. So an execution that fails before writing leaves the
// file as it found it, and one killed before its first write is recovered
// the same way next time. Only a cut that removes nothing but a torn tail
// after the last complete time is also applied by Close. A header-only file resumes at 0. A missing file,
// an empty one, or one holding a torn header (no longer than the header,
// each byte the header's or zero, zeros after it: what a crash leaves of a
// header whose size but not all of whose data reached the disk) gets the
// header and resume 0: the header is written to a temporary file (the
// path with sinkTempSuffix), fsynced and renamed over the path, then the
// directory is fsynced, so that a crash leaves the path as it was or
// holding the whole header, never a torn header of other bytes. (A path
// that is a symbolic link or not a regular file is written in place.)
//
// hint, when not 0, is an offset at which a complete time ends, from a
// previous Offset made durable: recovery then reads only what follows it.
// If nothing follows, nothing is cut and resume is that time plus one. A
// hint beyond the end of the file, or not at the end of a row, is ignored.
func OpenCSVSink(path string, columns []string, appendMode bool, hint int64) (s *FileSink, resume uint64, err error) {
	return OpenCSVSinkFS(vfs.Default, path, columns, appendMode, hint)
}

// OpenCSVSinkFS is OpenCSVSink writing through fsys.
func OpenCSVSinkFS(fsys vfs.FS, path string, columns []string, appendMode bool, hint int64) (s *FileSink, resume uint64, err error) {
	return openFileSink(fsys, path, csvFormat(columns), len(columns), appendMode, hint)
}

// openFileSink opens the sink file at path in format form (see
// OpenCSVSink).
func openFileSink(fsys vfs.FS, path string, form *sinkFormat, ncols int, appendMode bool, hint int64) (s *FileSink, resume uint64, err error) {
	header := form.header
	_, statErr := fsys.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	s = &FileSink{path: path, fs: fsys, ncols: ncols, form: form, cut: -1}
	if !appendMode {
		if s.f, err = fsys.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644); err != nil {
			return nil, 0, fmt.Errorf("sources: sink: %w", err)
		}
		if fi, err := s.f.Stat(); err == nil && !fi.Mode().IsRegular() {
			s.special = true
		}
		if err := s.writeHeader(header, created); err != nil {
			s.f.Close()
			return nil, 0, err
		}
		return s, 0, nil
	}
	f, err := fsys.OpenFile(path, os.O_RDWR, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		err = s.create(header, created)
	case err == nil:
		s.f = f
		resume, err = s.recover(header, hint, created)
	default:
		return nil, 0, fmt.Errorf("sources: sink: %w", err)
	}
	if err != nil {
		if s.f != nil {
			s.f.Close()
		}
		return nil, 0, err
	}
	return s, resume, nil
}

// sinkTempSuffix names, after the sink's path, the temporary file in
// which an append-mode sink's header is made durable before it takes the
// path's name.
const sinkTempSuffix = ".pwlog-tmp"

// create makes the file at s.path hold the header and nothing else, and
// opens it (s.f) positioned after the header. A file already open as s.f
// is closed first. The header is made durable under a temporary name and
// renamed over the path: a file's name may reach the disk before its data
// does, so a file created under the path and written there could be left
// by a crash with a header of zeros or of stale bytes, which recovery
// could not tell from another table's file.
func (s *FileSink) create(header []byte, created bool) error {
	if s.f != nil {
		err := s.f.Close()
		s.f = nil
		if err != nil {
			return fmt.Errorf("sources: sink %s: %w", s.path, err)
		}
	}
	fi, err := s.fs.Lstat(s.path)
	switch {
	case err == nil && !fi.Mode().IsRegular():
		// A symbolic link (perhaps dangling) or a device: renaming would
		// replace it, so the header is written through it, in place.
		f, err := s.fs.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return fmt.Errorf("sources: sink: %w", err)
		}
		s.f = f
		return s.writeHeader(header, created)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("sources: sink: %w", err)
	}
	tmp := s.path + sinkTempSuffix
	f, err := s.fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("sources: sink: %w", err)
	}
	_, err = f.Write(header)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = s.fs.Rename(tmp, s.path)
	}
	if err == nil {
		err = s.fs.SyncDir(filepath.Dir(s.path))
	}
	if err != nil {
		return fmt.Errorf("sources: sink %s: header: %w", s.path, err)
	}
	if f, err = s.fs.OpenFile(s.path, os.O_RDWR, 0); err != nil {
		return fmt.Errorf("sources: sink: %w", err)
	}
	s.f = f
	if _, err := s.f.Seek(int64(len(header)), io.SeekStart); err != nil {
		return fmt.Errorf("sources: sink %s: %w", s.path, err)
	}
	s.off = int64(len(header))
	return nil
}

// removeTemp removes the temporary file of create that a crash after its
// rename may have left beside the sink's file.
func (s *FileSink) removeTemp() error {
	tmp := s.path + sinkTempSuffix
	if fi, err := s.fs.Lstat(tmp); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	if err := s.fs.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sources: sink %s: %w", s.path, err)
	}
	return nil
}

// tornHeader reports whether got, the first bytes of a file of size bytes
// (all of them, when size is not larger than header), can be what a crash
// left of header with nothing written after it: each byte of got is the
// header's or zero, and if the file is longer than the header, the rest
// is zeros. Such a file holds no row.
func (s *FileSink) tornHeader(got, header []byte, size int64) (bool, error) {
	for i, c := range got {
		if c != 0 && c != header[i] {
			return false, nil
		}
	}
	buf := make([]byte, 64<<10)
	for off := int64(len(got)); off < size; {
		n, err := s.f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if bytes.ContainsFunc(buf[:n], func(r rune) bool { return r != 0 }) {
			return false, nil
		}
		if n == 0 && err != nil {
			return false, fmt.Errorf("sources: sink %s: %w", s.path, err)
		}
		off += int64(n)
	}
	return true, nil
}

// LastTime returns the last time an append-mode file held when it was
// opened (its rows perhaps torn), 0 if it held none.
func (s *FileSink) LastTime() uint64 { return s.found }

// writeHeader writes the header at the start of an empty file.
func (s *FileSink) writeHeader(header []byte, created bool) error {
	if _, err := s.f.Write(header); err != nil {
		return fmt.Errorf("sources: sink %s: write header: %w", s.path, err)
	}
	s.off = int64(len(header))
	// The header is durable before any row, and before the file's name is
	// made durable; its name may reach the disk before its data all the
	// same (see create).
	if err := s.syncFile(); err != nil {
		return err
	}
	if created {
		if err := s.fs.SyncDir(filepath.Dir(s.path)); err != nil {
			return fmt.Errorf("sources: sink %s: %w", s.path, err)
		}
	}
	return nil
}

// recover finds where the last time of an append-mode file starts (or its
// torn tail, after a hint) and positions the sink there; the cut itself
// waits for the first write.
func (s *FileSink) recover(header []byte, hint int64, created bool) (uint64, error) {
	info, err := s.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("sources: sink %s: %w", s.path, err)
	}
	size := info.Size()
	hlen := int64(len(header))
	got := make([]byte, min(hlen, size))
	if _, err := s.f.ReadAt(got, 0); err != nil {
		return 0, fmt.Errorf("sources: sink %s: %w", s.path, err)
	}
	if !bytes.Equal(got, header) {
		torn, err := s.tornHeader(got, header, size)
		if err != nil {
			return 0, err
		}
		if torn {
			// Empty, or a torn header: no row to keep.
			return 0, s.create(header, created)
		}
		first := got
		if i := bytes.IndexByte(first, '\n'); i >= 0 {
			first = first[:i]
		}
		return 0, fmt.Errorf("%w: %s starts with %q, want %q", ErrSinkHeader, s.path, first, header[:len(header)-1])
	}
	if err := s.removeTemp(); err != nil {
		return 0, err
	}

	var resume uint64
	var cut int64
	done := false
	if hint > hlen && hint <= size {
		if t, ok := s.timeBefore(hint, hlen); ok {
			sc, err := s.scan(hint, size)
			if err != nil {
				return 0, err
			}
			switch {
			case !sc.any:
				resume, cut, done = t+1, sc.end, true
				s.found = t
			case sc.first > t:
				resume, cut, done = sc.last, sc.lastFrom, true
				s.found = sc.last
			}
			// Otherwise the times after the hint do not follow it: scan all.
		}
	}
	if !done {
		sc, err := s.scan(hlen, size)
		if err != nil {
			return 0, err
		}
		resume, cut = 0, sc.end
		if sc.any {
			resume, cut = sc.last, sc.lastFrom
			s.found = sc.last
		}
	}
	if cut < size {
		s.cut = cut // applied by the first write: see OpenCSVSink
		// Nothing but a torn tail after the last complete time.
		s.cutTorn = resume == 0 || resume == s.found+1
	}
	if err := s.syncFile(); err != nil {
		return 0, err
	}
	if _, err := s.f.Seek(cut, io.SeekStart); err != nil {
		return 0, fmt.Errorf("sources: sink %s: %w", s.path, err)
	}
	s.off = cut
	return resume, nil
}

func (s *FileSink) syncFile() error {
	if s.special {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		return fmt.Errorf("sources: sink %s: sync: %w", s.path, err)
	}
	return nil
}

// scanned is what a scan of a changelog found.
type scanned struct {
	any      bool
	first    uint64 // the time of the first good row
	last     uint64 // the time of the last good row
	lastFrom int64  // where the first row of time last starts
	end      int64  // where the last good row ends: the rest is torn
}

// tailKeep is how many bytes of a line's end the scan keeps: enough for
// `,time,diff\n` with 20-digit numbers.
const tailKeep = 64

// scan reads the rows of the file from offset from (a row start) to size.
// A row's end is a newline outside quotes; its time is the next-to-last
// field of its last line. The first row that does not parse, or whose
// time goes back, ends the good part: it can only be a torn write.
func (s *FileSink) scan(from, size int64) (scanned, error) {
	sc := scanned{end: from}
	br := bufio.NewReaderSize(io.NewSectionReader(s.f, from, size-from), 64<<10)
	pos, start := from, from
	inQuote, firstLine, trimmed := false, true, false
	tail := make([]byte, 0, 2*tailKeep)
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			if s.form.quotedLines && bytes.Count(chunk, []byte{'"'})%2 == 1 {
				inQuote = !inQuote
			}
			pos += int64(len(chunk))
			if len(chunk) >= tailKeep {
				tail = append(tail[:0], chunk[len(chunk)-tailKeep:]...)
				trimmed = true
			} else {
				tail = append(tail, chunk...)
				if len(tail) > tailKeep {
					tail = append(tail[:0], tail[len(tail)-tailKeep:]...)
					trimmed = true
				}
			}
			// A line with an unwritten sector is torn even if it ends
			// like a row: the zeros may hide whole rows of this time.
			if vfs.ZeroSector(chunk, pos-int64(len(chunk))) {
				return sc, nil
			}
			if chunk[len(chunk)-1] == '\n' {
				if !inQuote {
					t, ok := s.form.parseTail(tail, s.ncols == 0 && firstLine && !trimmed)
					if !ok || (sc.any && t < sc.last) {
						return sc, nil
					}
					if !sc.any {
						sc.first = t
					}
					if !sc.any || t != sc.last {
						sc.last, sc.lastFrom = t, start
					}
					sc.any = true
					sc.end, start = pos, pos
					firstLine = true
				} else {
					firstLine = false
				}
				tail, trimmed = tail[:0], false
			}
		}
		switch {
		case err == nil || errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return sc, nil
		default:
			return sc, fmt.Errorf("sources: sink %s: %w", s.path, err)
		}
	}
}

// timeBefore reads the time of the row that ends at offset end, if a row
// ends there.
func (s *FileSink) timeBefore(end, floor int64) (uint64, bool) {
	from := max(floor, end-tailKeep)
	b := make([]byte, end-from)
	if _, err := s.f.ReadAt(b, from); err != nil || len(b) == 0 || b[len(b)-1] != '\n' {
		return 0, false
	}
	i := bytes.LastIndexByte(b[:len(b)-1], '\n')
	whole := i >= 0 || from == floor
	return s.form.parseTail(b[i+1:], s.ncols == 0 && whole)
}

// parseTail parses the time of a row from the end of its last line, which
// ends in ",time,diff\n" (or "time,diff\n" for a row without columns, when
// bare is set and line holds the whole row).
func parseTail(line []byte, bare bool) (uint64, bool) {
	if len(line) == 0 || line[len(line)-1] != '\n' {
		return 0, false
	}
	line = line[:len(line)-1]
	i := bytes.LastIndexByte(line, ',')
	if i < 0 || !isInt(line[i+1:]) {
		return 0, false
	}
	line = line[:i]
	if j := bytes.LastIndexByte(line, ','); j >= 0 {
		line = line[j+1:]
	} else if !bare {
		return 0, false
	}
	return parseUint(line)
}

// isInt reports whether b is a decimal int64 with an optional sign.
func isInt(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	_, ok := parseUint(b)
	return ok
}

// parseUint parses a decimal uint64 without allocating.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// Write formats the rows of time t into the sink's buffer; nothing reaches
// the file before Flush. Every row must have one value per column. Times
// must not go back; all the rows of a time should come in one call, so
// that they reach the file in one write.
func (s *FileSink) Write(t uint64, us []differential.Update) error {
	if s.err != nil {
		return s.err
	}
	if s.wrote && t < s.last {
		return fmt.Errorf("sources: sink %s: time %d written after time %d", s.path, t, s.last)
	}
	for _, u := range us {
		if len(u.Row) != s.ncols {
			return fmt.Errorf("sources: sink %s: row of %d values for %d columns", s.path, len(u.Row), s.ncols)
		}
	}
	b := s.buf
	for _, u := range us {
		b = s.form.appendLine(b, u.Row, t, u.Diff)
	}
	s.buf = b
	if len(us) > 0 {
		s.last, s.wrote = t, true
	}
	return nil
}

// Flush writes the buffered times to the file in one write.
func (s *FileSink) Flush() error {
	if s.err != nil {
		return s.err
	}
	if len(s.buf) == 0 {
		return nil
	}
	// Cut durably before writing over the cut part.
	if err := s.applyCut(); err != nil {
		return err
	}
	n, err := s.f.Write(s.buf)
	s.off += int64(n)
	if err != nil {
		s.err = fmt.Errorf("sources: sink %s: write: %w", s.path, err)
		return s.err
	}
	if cap(s.buf) > 4<<20 {
		s.buf = nil
	} else {
		s.buf = s.buf[:0]
	}
	return nil
}

// applyCut applies recovery's cut, if one waits, and fsyncs it.
func (s *FileSink) applyCut() error {
	if s.err != nil || s.cut < 0 {
		return s.err
	}
	if err := s.f.Truncate(s.cut); err != nil {
		s.err = fmt.Errorf("sources: sink %s: cut at %d: %w", s.path, s.cut, err)
		return s.err
	}
	if err := s.f.Sync(); err != nil {
		s.err = fmt.Errorf("sources: sink %s: sync: %w", s.path, err)
		return s.err
	}
	s.cut = -1
	return nil
}

// Offset returns the bytes in the file after the last flushed time (after
// recovery's cut, even before the first write applies it): once synced, a
// valid hint for OpenCSVSink.
func (s *FileSink) Offset() int64 { return s.off }

// Sync flushes, then fsyncs the file: when it returns, every time written
// is durable.
func (s *FileSink) Sync() error {
	if err := s.Flush(); err != nil {
		return err
	}
	if s.special {
		return nil
	}
	if err := s.f.Sync(); err != nil {
		s.err = fmt.Errorf("sources: sink %s: sync: %w", s.path, err)
		return s.err
	}
	return nil
}

// Close syncs and closes the file. Closing twice is harmless.
func (s *FileSink) Close() error {
	if s.f == nil {
		return nil
	}
	// A file that got nothing to write loses its torn tail too; a cut
	// that would remove complete rows waits for a write (a file refused
	// as ahead of the storage keeps them).
	var err error
	if s.cutTorn {
		err = s.applyCut()
	}
	if err == nil {
		err = s.Sync()
	}
	if cerr := s.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("sources: sink %s: close: %w", s.path, cerr)
	}
	s.f = nil
	if s.err == nil {
		s.err = errSinkClosed
	}
	return err
}
