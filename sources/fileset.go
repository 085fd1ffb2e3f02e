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
	"slices"
	"strconv"
	"time"

	"github.com/pwlog/pwlog/differential"
)

// fileDir is what a directory source (CSVDir, JSONLinesDir) tells the
// reader they share: which files to read and how.
type fileDir struct {
	name               string // the source's persistent name, part of every row key
	dir                string
	ext                string // the suffix of the files read: ".csv", ".jsonl"
	streaming          bool
	partialLineTimeout time.Duration
}

// fileFormat is what a fileReader leaves to the format of its files. The
// open file is the fileReader's of.
type fileFormat interface {
	// begin prepares to read the open file: it reads what precedes the
	// rows (a header) and calls fileReader.resume. false: the file has
	// nothing to read yet (no complete header).
	begin(p *planned) (bool, error)
	// read appends the rows of the open file to us until limit rows or
	// the end of the file; done reports the end.
	read(p *planned, us []differential.Update, limit int) (_ []differential.Update, done bool, _ error)
	// rowOf parses again the partial line read before (FileState.Partial),
	// line holding its bytes: the row it gave, or false when it gave
	// none (a bad row, skipped).
	rowOf(line []byte) (differential.Row, bool)
	// settle brings p.st.Line up to date with the open file.
	settle(p *planned)
	// end records what follows the last row of the open file (blank
	// lines) once read reported its end, and settles p.st.Line.
	end(p *planned) error
}

// fileReader is the part of a directory source's reader that does not
// depend on the format of its files: the plan of what to read, the file
// states with their Head, Sum and partial line, the Next loop, Counts,
// Deleted and Unfinished. CSVReader and JSONLinesReader embed it. It is not
// safe for concurrent use.
type fileReader struct {
	dir        fileDir
	format     fileFormat
	plan       []planned // files with something to read, in name order
	cur        int       // index in plan of the file being read
	of         *openFile // the open file, nil between files
	deleted    []string
	unfinished []*InputError // last lines left unread because they do not parse yet
	counts     []int         // updates per state returned by the last Next
	extra      int           // retractions among the updates of the current Next
	opened     []string      // paths opened, in order: lets tests see what was touched
	rehashed   int64         // bytes read again from files to bring Sum up to date: lets tests see it is rare
	br         *bufio.Reader // reads the open file, through sr
	sr         sumReader
	head       []byte               // the first min(headSize, size) bytes of the open file
	hashBuf    []byte               // reads the bytes FileState.Sum is checked or brought up to date with
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
	// headLen is how many bytes st.Head covers: min(headSize, st.Offset)
	// when it was last computed.
	headLen int64
}

// openFile is the file being read.
type openFile struct {
	f        *os.File
	key      differential.Hasher // seeded with the source name and the file's path
	base     int64               // file offset where the format's reading starts (after a header)
	baseLine int64               // lines before base
	size     int64               // the end of what is read: the file's size as listed, or its last line end
	tail     [2]byte             // the last bytes before size (zeros when there are fewer)
	endsNL   bool                // the byte before size is '\n'
	// streaming is set for a streaming reader: a quoted field still open
	// at size (its cut at the last line end, or the file's end once the
	// file was quiet for PartialLineTimeout) is being written, even after
	// a line end inside it.
	streaming bool
	// retract is the row read before from the line at FileState.Partial,
	// which is read again now that the file grew: it is retracted unless
	// the completed line gives the same row. nil when there is none.
	retract *differential.Update
	held    bool // the file's last line is left unread: it has no line end and does not parse yet
}

// errReaderClosed is returned by Next after Close.
var errReaderClosed = errors.New("sources: reader is closed")

const (
	readBufferSize = 64 << 10
	slabRows       = 512
)

// init lists the directory and plans the reading of everything prev has
// not consumed, which it does not modify. A known file that shrank below
// its consumed offset, whose first bytes changed, or, when its size or
// modification time changed, whose bytes consumed no longer hash to
// FileState.Sum, is a *ChangedFileError; a known file that disappeared,
// even between the listing and its opening, is listed by Deleted. A file
// deleted after init, before Next reaches it, is skipped: Next returns no
// state for it.
func (r *fileReader) init(d fileDir, format fileFormat, prev map[string]FileState) error {
	files, err := listFiles(d.dir, d.ext)
	if err != nil {
		return fmt.Errorf("sources: list the directory: %w", err)
	}
	r.dir, r.format = d, format
	r.br = bufio.NewReaderSize(nil, readBufferSize)
	r.head = make([]byte, 0, headSize)
	seen := make(map[string]bool, len(files))
	for _, lf := range files {
		seen[lf.path] = true
		p := planned{file: filepath.Join(d.dir, filepath.FromSlash(lf.path))}
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
			return &ChangedFileError{File: p.file, Path: lf.path,
				Reason: "its size " + strconv.FormatInt(lf.size, 10) + " is below the " + strconv.FormatInt(old.Offset, 10) + " bytes consumed"}
		}
		p.st = old
		p.st.Path = lf.path
		p.dirty = lf.size != old.Size || lf.modTime != old.ModTime
		p.st.Size, p.st.ModTime = lf.size, lf.modTime
		p.headLen = min(headSize, old.Offset)
		if err := r.checkKnown(&p, p.dirty); errors.Is(err, fs.ErrNotExist) {
			// Deleted since the directory was listed.
			r.deleted = append(r.deleted, lf.path)
			continue
		} else if err != nil {
			return err
		}
		r.plan = append(r.plan, p)
	}
	for path := range prev {
		if !seen[path] {
			r.deleted = append(r.deleted, path)
		}
	}
	slices.Sort(r.deleted)
	return nil
}

// asReader returns a directory source's reader as a Reader: nil, not a
// nil pointer in an interface, with an error.
func asReader[R Reader](r R, err error) (Reader, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}

// checkSchema refuses schemas a directory source cannot fill; what names
// the format ("CSV") in the error.
func checkSchema(schema differential.Schema, what string) error {
	if len(schema) == 0 {
		return errors.New("sources: empty schema")
	}
	for i, c := range schema {
		if schema.Index(c.Name) != i {
			return fmt.Errorf("sources: duplicate column %q", c.Name)
		}
		switch c.Type {
		case differential.KindString, differential.KindInt, differential.KindFloat, differential.KindBool:
		default:
			return fmt.Errorf("sources: column %q: type %s cannot be read from %s", c.Name, c.Type, what)
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
func (r *fileReader) checkKnown(p *planned, touched bool) error {
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

// hashBuffer returns the buffer the consumed bytes are hashed through
// when they are read from the file again.
func (r *fileReader) hashBuffer() []byte {
	if r.hashBuf == nil {
		r.hashBuf = make([]byte, readBufferSize)
	}
	return r.hashBuf
}

// sumTo brings p.st.Sum up to p.st.Offset: from the bytes r.sr keeps when
// it has them, else by reading again the bytes of the open file it does
// not cover yet.
func (r *fileReader) sumTo(p *planned, f *os.File) error {
	if p.sumAt >= p.st.Offset || r.sr.p == p && r.sr.hash() {
		return nil
	}
	h, err := hashOn(f, p.st.Sum, p.sumAt, p.st.Offset, r.hashBuffer())
	if err != nil {
		return fmt.Errorf("sources: read %s: %w", p.file, err)
	}
	r.rehashed += p.st.Offset - p.sumAt
	p.st.Sum, p.sumAt = h, p.st.Offset
	return nil
}

// settle brings p.st.Line, p.st.Head and p.st.Sum up to date with the
// open file.
func (r *fileReader) settle(p *planned) error {
	r.format.settle(p)
	return r.settleSums(p)
}

// settleSums brings p.st.Head and p.st.Sum up to date with p.st.Offset.
func (r *fileReader) settleSums(p *planned) error {
	if n := min(int64(len(r.head)), p.st.Offset); n != p.headLen {
		p.st.Head = headHash(r.head[:n])
		p.headLen = n
	}
	return r.sumTo(p, r.of.f)
}

// open opens a file of the plan and notes it.
func (r *fileReader) open(p *planned) (*os.File, error) {
	r.opened = append(r.opened, p.st.Path)
	f, err := os.Open(p.file)
	if err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	return f, nil
}

// changed returns a *ChangedFileError in place of err, the error of
// reading p's file, when the file shrank below its listed size or went
// since Open listed it: a writer rewrote or truncated it meanwhile, and
// what failed was reading bytes that are no longer there. Other errors
// are returned as they are.
func (r *fileReader) changed(p *planned, err error) error {
	var ce *ChangedFileError
	if errors.As(err, &ce) {
		return err
	}
	fi, serr := os.Stat(p.file)
	switch {
	case serr != nil && errors.Is(serr, fs.ErrNotExist):
		return &ChangedFileError{File: p.file, Path: p.st.Path, Reason: "it went while being read"}
	case serr == nil && fi.Size() < p.st.Size:
		return &ChangedFileError{File: p.file, Path: p.st.Path,
			Reason: fmt.Sprintf("it shrank from %d to %d bytes while being read", p.st.Size, fi.Size())}
	}
	return err
}

// Deleted returns the paths of known files that are gone from the
// directory, sorted. The slice belongs to the reader.
func (r *fileReader) Deleted() []string { return r.deleted }

// Unfinished returns the last lines left unread so far because they have
// no line end yet and do not parse yet (for CSV: a field cut short, a
// quoted field still open, fewer fields than the header, a header that
// does not match yet; for JSON Lines: an object not closed yet): each as
// the *InputError it would be were the line complete. Such a line is read
// once the file grows; bad input that no continuation can make good is an
// error as on any other line. The slice belongs to the reader.
func (r *fileReader) Unfinished() []*InputError { return r.unfinished }

// Counts returns, for each state the last call of Next returned, in the
// same order, how many of its updates came from that file: a file's
// updates are contiguous and in the order of the states. The slice belongs
// to the reader.
func (r *fileReader) Counts() []int { return r.counts }

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
// Bad input stops reading with an *InputError (unless the source's
// OnBadRow is set), and then Next returns no rows and no states: the rows
// of the call before the bad one are dropped, and states returned by
// earlier calls stay the last good ones. The error is sticky.
func (r *fileReader) Next(limit int) ([]differential.Update, []FileState, error) {
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
		if r.of == nil {
			if p.skip == 0 && p.st.Offset >= p.st.Size {
				r.cur++ // empty, or nothing beyond what was consumed
				continue
			}
			if err := r.start(p); err != nil {
				return r.fail(r.changed(p, err))
			}
			if r.of == nil {
				r.cur++ // nothing to read yet (no header yet)
				continue
			}
		}
		var done bool
		var err error
		before := len(us)
		us, done, err = r.format.read(p, us, limit)
		if err != nil {
			return r.fail(r.changed(p, err))
		}
		p.n += len(us) - before
		if done {
			if err := r.finish(p); err != nil {
				return r.fail(r.changed(p, err))
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
		if i == r.cur && r.of != nil {
			if err := r.settle(p); err != nil {
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

// drop closes the open file, if any.
func (r *fileReader) drop() error {
	if r.of == nil {
		return nil
	}
	err := r.of.f.Close()
	r.of = nil
	r.sr.reset(nil, 0, 0, nil)
	return err
}

// fail makes err sticky and closes the open file.
func (r *fileReader) fail(err error) ([]differential.Update, []FileState, error) {
	r.err = err
	r.drop()
	return nil, nil, err
}

// Close closes the open file, if any. Next fails after Close.
func (r *fileReader) Close() error {
	if r.err == nil {
		r.err = errReaderClosed
	}
	return r.drop()
}

// start opens p's file and has the format position its reading at the
// first byte not consumed, or at the partial line read before. It leaves
// r.of nil for a file with nothing to read yet.
func (r *fileReader) start(p *planned) error {
	f, err := r.open(p)
	if errors.Is(err, fs.ErrNotExist) {
		// Deleted since init listed it: nothing is read from it and its
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
			r.of = nil
			r.sr.reset(nil, 0, 0, nil)
		}
	}()
	size := p.st.Size
	linesOnly := r.dir.streaming && (r.dir.partialLineTimeout <= 0 || time.Since(time.Unix(0, p.st.ModTime)) < r.dir.partialLineTimeout)
	if linesOnly {
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
	// Row keys: CSVDir's from the start, for every directory source.
	of := &openFile{f: f, key: differential.NewHasher("csv"), size: size}
	of.key.String(r.dir.name)
	of.key.String(p.st.Path)
	if n := min(2, size); n > 0 {
		if _, err := f.ReadAt(of.tail[2-n:], size-n); err != nil {
			return fmt.Errorf("sources: read %s: %w", p.file, err)
		}
	}
	of.endsNL = of.tail[1] == '\n'
	of.streaming = r.dir.streaming
	r.of = of
	if ok, err = r.format.begin(p); err != nil || !ok {
		ok = false
		return err
	}
	return nil
}

// reset makes r.br read the open file from the offset from to its end.
func (r *fileReader) reset(p *planned, from int64) {
	r.sr.reset(r.of.f, from, r.of.size, p)
	r.br.Reset(&r.sr)
}

// resume makes r.br read the open file from the first byte not consumed,
// past the line end that p.skip tells of, or from the partial line read
// before (see reread). It sets r.of.base and r.of.baseLine.
func (r *fileReader) resume(p *planned) error {
	of := r.of
	of.base = p.st.Offset + p.skip
	of.baseLine = p.st.Line
	if p.st.Partial > 0 {
		if err := r.reread(p); err != nil {
			return err
		}
	}
	r.reset(p, p.st.Offset)
	if p.skip > 0 {
		// The newline ends the row read last; it starts no line.
		if _, err := r.br.Discard(int(p.skip)); err != nil {
			return fmt.Errorf("sources: read %s: %w", p.file, err)
		}
		p.st.Offset = of.base
		p.skip = 0
		p.dirty = true
	}
	return nil
}

// reread positions the open file at the row read before from the line at
// p.st.Partial, which had no line end, now that the file grew (checkKnown
// checked that the line's bytes are those read): the state goes back to
// before that line, and r.of.retract holds the row it gave, parsed again
// from the file (none when it was a bad row, skipped).
func (r *fileReader) reread(p *planned) error {
	of := r.of
	old := make([]byte, p.st.Offset-p.st.Partial)
	if _, err := of.f.ReadAt(old, p.st.Partial); err != nil {
		return fmt.Errorf("sources: read %s: %w", p.file, err)
	}
	of.base = p.st.Partial
	of.baseLine = p.st.Line - int64(bytes.Count(old, []byte{'\n'})) - 1
	if row, ok := r.format.rowOf(old); ok {
		k := of.key
		k.Uint64(uint64(p.st.Partial))
		of.retract = &differential.Update{Key: k.Key(), Row: row, Diff: -1}
		p.st.Rows--
	}
	p.st.Offset, p.st.Line = of.base, of.baseLine
	p.st.Sum, p.sumAt = p.partialSum, of.base
	p.st.Partial, p.st.PartialHash = 0, 0
	p.dirty = true
	return nil
}

// finish records the end of the open file and closes it.
func (r *fileReader) finish(p *planned) error {
	defer r.drop()
	if err := r.format.end(p); err != nil {
		return err
	}
	return r.settleSums(p)
}

// row returns a row of n values, cut from r.slab. keep must be called
// once the row is kept.
func (r *fileReader) row(n int) differential.Row {
	if len(r.slab) < n {
		r.slab = make([]differential.Value, slabRows*n)
	}
	return differential.Row(r.slab[:n:n])
}

// keep takes the row last returned by row out of the slab.
func (r *fileReader) keep(n int) { r.slab = r.slab[n:] }

// emit appends to us the row read from the line that starts at file
// offset off, after the retraction of the row a partial line read before
// gave (r.of.retract), or instead of the row when it is the same.
func (r *fileReader) emit(us []differential.Update, limit int, off int64, row differential.Row) []differential.Update {
	of := r.of
	k := of.key
	k.Uint64(uint64(off))
	u := differential.Update{Key: k.Key(), Row: row, Diff: 1}
	if old := of.retract; old != nil {
		of.retract = nil
		if old.Key == u.Key && old.Row.Equal(row) {
			return us // the line only got its line end
		}
		us = append(us, *old)
		r.extra++
	}
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
	return append(us, u)
}

// retractOld appends the retraction of the row read before from a partial
// line that is read again, if there is one.
func (r *fileReader) retractOld(us []differential.Update) []differential.Update {
	if of := r.of; of.retract != nil {
		us = append(us, *of.retract)
		of.retract = nil
		r.extra++
	}
	return us
}

// holdAt leaves the open file's last line unread from file offset off,
// where it starts: it has no line end and does not parse yet, for the
// reason ie gives. The bytes before off (blank lines) are consumed. A row
// read from the line before is retracted: the line is read as a new one
// once it is complete.
func (r *fileReader) holdAt(p *planned, us []differential.Update, ie *InputError, off int64) []differential.Update {
	r.of.held = true
	r.unfinished = append(r.unfinished, ie)
	if off > p.st.Offset {
		p.st.Offset = off
		p.dirty = true
	}
	return r.retractOld(us)
}

// markPartial records that the row consumed last, which starts at from,
// ends the file without a line end. A row at the very start of the file
// (a format without a header) cannot be recorded, Partial 0 meaning none:
// its state is then as one written before Partial existed.
func (r *fileReader) markPartial(p *planned, from int64) error {
	if from == 0 {
		return nil
	}
	h, err := hashRange(r.of.f, from, p.st.Offset)
	if err != nil {
		return fmt.Errorf("sources: read %s: %w", p.file, err)
	}
	p.st.Partial, p.st.PartialHash = from, h
	return nil
}

// sumReader hands the bytes [at, end) of the open file to the buffered
// reader (fileReader.br) a format parses, and keeps those not consumed
// yet: FileState.Sum is brought up to date from them as the rows are
// consumed, each byte hashed once, instead of being read from the file a
// second time. What it reads ahead is not hashed until consumed.
type sumReader struct {
	f     io.ReaderAt
	p     *planned // whose Sum it keeps: the Sum of [0, p.sumAt)
	buf   []byte   // the file's bytes [at, at+len(buf))
	at    int64
	given int   // buf[:given] was handed to the buffered reader
	end   int64 // where reading stops
}

// reset starts reading f at from, for p's state; a nil f stops it.
func (s *sumReader) reset(f io.ReaderAt, from, end int64, p *planned) {
	if s.buf == nil && f != nil {
		s.buf = make([]byte, 0, readBufferSize)
	}
	s.f, s.p, s.at, s.end = f, p, from, end
	s.buf, s.given = s.buf[:0], 0
}

// Read hands over the bytes read from the file and not handed yet,
// reading more when there are none.
func (s *sumReader) Read(b []byte) (int, error) {
	if s.given == len(s.buf) {
		if err := s.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(b, s.buf[s.given:])
	s.given += n
	return n, nil
}

// fill reads the next bytes of the file, after hashing the bytes consumed
// so far and dropping them. It keeps the bytes handed over but not yet
// consumed (a row the format is still reading), unless they fill half
// the buffer: the Sum of a row that long is read from the file again.
func (s *sumReader) fill() error {
	next := s.at + int64(len(s.buf))
	if next >= s.end || s.f == nil {
		return io.EOF
	}
	s.hash()
	keep := 0
	if k := s.p.sumAt - s.at; k >= 0 && k < int64(len(s.buf)) && int64(len(s.buf))-k <= int64(cap(s.buf)/2) {
		keep = len(s.buf) - int(k)
	}
	copy(s.buf[:keep], s.buf[len(s.buf)-keep:])
	s.at, s.given = next-int64(keep), keep
	n, err := s.f.ReadAt(s.buf[keep:keep+int(min(int64(cap(s.buf)-keep), s.end-next))], next)
	s.buf = s.buf[:keep+n]
	if n == 0 {
		if err == nil {
			err = io.EOF
		}
		return err
	}
	return nil
}

// hash brings s.p's Sum up to its Offset from the bytes kept; false when
// they do not cover [sumAt, Offset).
func (s *sumReader) hash() bool {
	p := s.p
	if p.sumAt >= p.st.Offset {
		return true
	}
	from, to := p.sumAt-s.at, p.st.Offset-s.at
	if from < 0 || to > int64(len(s.buf)) {
		return false
	}
	p.st.Sum = fnvAdd(p.st.Sum, s.buf[from:to])
	p.sumAt = p.st.Offset
	return true
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
