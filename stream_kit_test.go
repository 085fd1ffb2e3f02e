// The streaming kit of kill_stream_test.go and crash_stream_test.go: a
// writer that grows the CSV files of a directory while a streaming
// pipeline reads them, some lines in pieces cut inside a field, inside a
// quoted user id or inside a UTF-8 character; the from-scratch sessions of
// what it wrote, formatted as the sink writes them; and the checks of an
// append-mode changelog against them.

package pwlog_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pwlog/pwlog/internal/model"
)

// streamUsers are the writer's user ids: some must be quoted in CSV (a
// comma, double quotes, both, a line end), some have multi-byte UTF-8
// characters.
var streamUsers = []string{"bob", "zoë", "日本", "a,b", `say "hi"`, `x","y`, `ünï, «q»`, "two\nlines"}

// streamHeader is the header of every input file.
const streamHeader = "user_id,access_time\n"

// writerOptions tune a streamWriter.
type writerOptions struct {
	// hold is the longest a line stays unfinished: a line whose first
	// piece is older is finished before anything else is written.
	hold time.Duration
	// pause is the longest sleep between two writes.
	pause time.Duration
	// stall is the chance of a longer sleep, 2 to 4 pauses plus hold/2,
	// after a write that left a half line: it then stays as it is for a
	// while.
	stall float64
	// files is the most files the writer makes.
	files int
}

// streamWriter appends lines of accesses (user_id,access_time) to the CSV
// files of a directory, and makes new files, from a goroutine until
// finish: each step writes the next piece of a file's unfinished line, or
// starts a line in a file, whole or cut into pieces. Several files may
// hold a half line at once. Files are opened with O_APPEND and every
// piece is one write.
type streamWriter struct {
	dir  string
	rng  *rand.Rand
	opts writerOptions

	files []*growingFile
	// by holds the access times, by user, of the lines written whole.
	by     map[string][]int64
	lines  int // lines written whole
	pieces int // lines written in more than one piece

	stop chan struct{}
	done chan struct{}
	err  error
	once sync.Once
}

// growingFile is an input file the writer appends to.
type growingFile struct {
	f     *os.File
	rest  [][]byte  // pieces of the line being written, not written yet
	since time.Time // when the line's first piece was written
	user  string    // the line's access; header for the header line
	at    int64
	head  bool // the line being written is the header
}

// startStreamWriter starts a writer of dir, seeded, and stops it (as
// finish does) when the test ends.
func startStreamWriter(t testing.TB, dir string, seed uint64, opts writerOptions) *streamWriter {
	t.Helper()
	w := &streamWriter{dir: dir, rng: rand.New(rand.NewPCG(seed, 0x57)), opts: opts,
		by: map[string][]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	t.Cleanup(func() { w.finish(t) })
	return w
}

func (w *streamWriter) run() {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			w.err = w.close()
			return
		default:
		}
		half, err := w.step()
		if err != nil {
			w.err = err
			w.close()
			return
		}
		d := time.Duration(w.rng.Int64N(int64(w.opts.pause)) + 1)
		if half && w.rng.Float64() < w.opts.stall {
			d = time.Duration(2+w.rng.IntN(3))*w.opts.pause + w.opts.hold/2
		}
		time.Sleep(d)
	}
}

// step writes one piece and tells whether it left a half line.
func (w *streamWriter) step() (half bool, err error) {
	now := time.Now()
	var g *growingFile
	for _, f := range w.files {
		if len(f.rest) > 0 && now.Sub(f.since) >= w.opts.hold {
			g = f // a line held long enough: finish it first
			break
		}
	}
	if g == nil {
		if len(w.files) == 0 || len(w.files) < w.opts.files && w.rng.IntN(40) == 0 {
			name := filepath.Join(w.dir, fmt.Sprintf("part_%03d.csv", len(w.files)))
			f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return false, err
			}
			g = &growingFile{f: f, head: true, rest: w.cut([]byte(streamHeader))}
			w.files = append(w.files, g)
		} else {
			g = w.files[w.rng.IntN(len(w.files))]
		}
	}
	if len(g.rest) == 0 {
		var line []byte
		g.user, g.at, line = w.line()
		g.head = false
		g.rest = w.cut(line)
	}
	err = w.writePiece(g)
	return len(g.rest) > 0, err
}

// writePiece writes the next piece of g's line.
func (w *streamWriter) writePiece(g *growingFile) error {
	if g.since.IsZero() {
		g.since = time.Now()
	}
	if _, err := g.f.Write(g.rest[0]); err != nil {
		return err
	}
	g.rest = g.rest[1:]
	if len(g.rest) > 0 {
		return nil
	}
	g.since = time.Time{}
	if !g.head {
		w.by[g.user] = append(w.by[g.user], g.at)
		w.lines++
	}
	return nil
}

// line returns a new access line: its user, its time and its bytes. A
// user id is quoted when it must be, and now and then when it need not;
// one line in eight ends in "\r\n".
func (w *streamWriter) line() (user string, at int64, line []byte) {
	user = streamUsers[w.rng.IntN(len(streamUsers))]
	// The range grows with the lines, a few hundred seconds per user's
	// line: sessions split and merge as lines come.
	at = 1701100000 + w.rng.Int64N(20_000+40*int64(w.lines))
	field := user
	if strings.ContainsAny(user, ",\"\n") || w.rng.IntN(8) == 0 {
		field = `"` + strings.ReplaceAll(user, `"`, `""`) + `"`
	}
	eol := "\n"
	if w.rng.IntN(8) == 0 {
		eol = "\r\n"
	}
	return user, at, []byte(field + "," + strconv.FormatInt(at, 10) + eol)
}

// cut returns line whole (one time in three) or cut into two or three
// pieces. A cut falls inside a multi-byte character, inside a quoted
// field, or anywhere (the line end included), by lot.
func (w *streamWriter) cut(line []byte) [][]byte {
	if w.rng.IntN(3) == 0 {
		return [][]byte{line}
	}
	var inRune, inQuote []int
	quoted := false
	for i := 1; i < len(line); i++ {
		if line[i-1] == '"' {
			quoted = !quoted
		}
		if !utf8.RuneStart(line[i]) {
			inRune = append(inRune, i)
		}
		if quoted {
			inQuote = append(inQuote, i)
		}
	}
	var at []int
	for range 1 + w.rng.IntN(2) {
		switch k := w.rng.IntN(3); {
		case k == 0 && len(inRune) > 0:
			at = append(at, inRune[w.rng.IntN(len(inRune))])
		case k == 1 && len(inQuote) > 0:
			at = append(at, inQuote[w.rng.IntN(len(inQuote))])
		default:
			at = append(at, 1+w.rng.IntN(len(line)-1))
		}
	}
	slices.Sort(at)
	at = slices.Compact(at)
	var pieces [][]byte
	from := 0
	for _, i := range at {
		pieces = append(pieces, line[from:i])
		from = i
	}
	pieces = append(pieces, line[from:])
	w.pieces++
	return pieces
}

// close finishes every file's line, each piece a write, writes one more
// line whole, and closes the files. So an execution that starts after
// the writer stopped has a line to read, whatever the execution before
// read: it writes to its sinks.
func (w *streamWriter) close() error {
	var errs []error
	for i, g := range w.files {
		for len(g.rest) > 0 {
			if err := w.writePiece(g); err != nil {
				errs = append(errs, err)
				break
			}
		}
		if i == 0 && len(g.rest) == 0 {
			var line []byte
			g.user, g.at, line = w.line()
			g.rest = [][]byte{line}
			errs = append(errs, w.writePiece(g))
		}
		errs = append(errs, g.f.Close())
	}
	return errors.Join(errs...)
}

// finish stops the writer once every line it began is written whole,
// and fails the test if a write failed.
func (w *streamWriter) finish(t testing.TB) {
	t.Helper()
	w.once.Do(func() { close(w.stop) })
	<-w.done
	if w.err != nil {
		t.Fatalf("the input writer: %v", w.err)
	}
}

// accesses returns the access times by user of every line written, once
// finish returned.
func (w *streamWriter) accesses() map[string][]int64 { return w.by }

// readStreamInput reads the *.csv files of dir with encoding/csv: a
// reference reader of the input, independent of the writer's record and
// of the engine's reader. Every line must be complete.
func readStreamInput(t testing.TB, dir string) map[string][]int64 {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil {
		t.Fatal(err)
	}
	by := map[string][]int64{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Fatalf("%s: the last line is not finished: %q", p, b[bytes.LastIndexByte(b, '\n')+1:])
		}
		r := csv.NewReader(bytes.NewReader(b))
		r.FieldsPerRecord = 2
		for first := true; ; first = false {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if first {
				continue
			}
			at, err := strconv.ParseInt(rec[1], 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			by[rec[0]] = append(by[rec[0]], at)
		}
	}
	return by
}

// sameAccesses tells whether a and b hold the same times per user, in
// any order.
func sameAccesses(a, b map[string][]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for u, ts := range a {
		x, y := slices.Clone(ts), slices.Clone(b[u])
		slices.Sort(x)
		slices.Sort(y)
		if !slices.Equal(x, y) {
			return false
		}
	}
	return true
}

// sessionRows returns the tutorial pipeline's rows computed from scratch
// (internal/model) over the accesses, as the sink writes them (strings
// quoted, inner quotes doubled), sorted.
func sessionRows(by map[string][]int64, maxGap int64) []string {
	var out []string
	for _, s := range model.Sessions(by, maxGap) {
		out = append(out, fmt.Sprintf(`"%s",%d,%d,%d,%d`, strings.ReplaceAll(s.User, `"`, `""`),
			s.Length, s.Start, s.Finish, s.Count))
	}
	slices.Sort(out)
	return out
}

// sessionsHeader is the header of the tutorial pipeline's sink.
const sessionsHeader = "user_id,session_length,session_start,session_finish,count,time,diff"

// changelogProblem checks the bytes of an append-mode changelog of the
// tutorial pipeline: the header; every row parses; times never go back
// (a time emitted again by a later execution would); no row appears twice
// at one time (the rows of one time are consolidated, so a time written
// by two executions would show so, as would a torn row before a
// re-emission); every row's count is 0 or 1. With want non-nil the rows
// must also consolidate to want (else an error wrapping errOtherRows). It
// returns the first problem found.
func changelogProblem(b []byte, want []string) error {
	if len(b) == 0 {
		if len(want) == 0 {
			return nil
		}
		return fmt.Errorf("%w: it is empty", errOtherRows)
	}
	lines, err := parseRows(b)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	count := map[string]int64{}
	for i, l := range lines {
		if i > 0 && l.time < lines[i-1].time {
			return fmt.Errorf("row %d: time %d after time %d: a time emitted twice or out of order", i+1, l.time, lines[i-1].time)
		}
		k := strconv.FormatUint(l.time, 10) + " " + l.row
		if seen[k] {
			return fmt.Errorf("row %d: %s twice at time %d", i+1, l.row, l.time)
		}
		seen[k] = true
		count[l.row] += l.diff
	}
	var got []string
	for row, n := range count {
		switch n {
		case 0:
		case 1:
			got = append(got, row)
		default:
			return fmt.Errorf("row %s has multiplicity %d", row, n)
		}
	}
	if want == nil {
		return nil
	}
	slices.Sort(got)
	if slices.Equal(got, want) {
		return nil
	}
	missing, extra := setDiff(want, got), setDiff(got, want)
	return fmt.Errorf("%w: %d rows, want %d: %d missing %v, %d extra %v", errOtherRows,
		len(got), len(want), len(missing), head(missing, 5), len(extra), head(extra, 5))
}

// errOtherRows is the one problem of changelogProblem that an execution
// still catching up may mend.
var errOtherRows = errors.New("the changelog consolidates to other rows than the from-scratch result")

// changelogRows splits the bytes of a changelog into its rows (the
// header first), each with its line end: a row ends at a line end outside
// double quotes, as a user id may hold one. rest is what follows the last
// complete row.
func changelogRows(b []byte) (rows [][]byte, rest []byte) {
	quoted, start := false, 0
	for i, c := range b {
		switch {
		case c == '"':
			quoted = !quoted
		case c == '\n' && !quoted:
			rows = append(rows, b[start:i+1])
			start = i + 1
		}
	}
	return rows, b[start:]
}

// completeRows returns b up to the end of its last complete row.
func completeRows(b []byte) []byte {
	_, rest := changelogRows(b)
	return b[:len(b)-len(rest)]
}

// parseRows parses a changelog of the tutorial pipeline: its header and
// its rows, a torn row at the end being an error.
func parseRows(b []byte) ([]sinkLine, error) {
	rows, rest := changelogRows(b)
	if len(rest) > 0 {
		return nil, fmt.Errorf("the changelog ends in a torn row %q", rest)
	}
	if len(rows) == 0 {
		return nil, errors.New("the changelog has no header")
	}
	if string(rows[0]) != sessionsHeader+"\n" {
		return nil, fmt.Errorf("the changelog's header is %q", rows[0])
	}
	var out []sinkLine
	for i, r := range rows[1:] {
		l, ok := parseSinkLine(string(r[:len(r)-1]))
		if !ok {
			return nil, fmt.Errorf("changelog row %d: %q", i+1, r)
		}
		out = append(out, l)
	}
	return out, nil
}

// keptRows returns the part of a changelog that a kill or a crash cannot
// have torn, as completeTimes does, rows holding line ends included: the
// rows up to the first that is incomplete or damaged, less the last time
// among them, header included.
func keptRows(b []byte) []byte {
	rows, _ := changelogRows(b)
	var times []uint64
	for i, r := range rows {
		if bytes.IndexByte(r, 0) >= 0 {
			break
		}
		var t uint64 // the header's
		if i > 0 {
			l, ok := parseSinkLine(string(r[:len(r)-1]))
			if !ok {
				break
			}
			t = l.time
		}
		times = append(times, t)
	}
	n := len(times)
	if n < 2 {
		return nil
	}
	for last := times[n-1]; n > 1 && times[n-1] == last; n-- {
	}
	return bytes.Join(rows[:n], nil)
}

// halfLineRows returns how many distinct rows of a changelog, at any
// count, were made from half a line (halfRow): rows read from a partial
// line and retracted once it was finished.
func halfLineRows(b []byte, by map[string][]int64) int {
	lines, _ := parseRows(completeRows(b))
	half := map[string]bool{}
	for _, l := range lines {
		if halfRow(l.row, by) != nil {
			half[l.row] = true
		}
	}
	return len(half)
}

// halfLineProblem checks that each row of a changelog's consolidated
// result (counts summed, non-zero) is a session of whole lines (halfRow).
func halfLineProblem(b []byte, by map[string][]int64) error {
	lines, err := parseRows(b)
	if err != nil {
		return err
	}
	count := map[string]int64{}
	for _, l := range lines {
		count[l.row] += l.diff
	}
	for row, n := range count {
		if n == 0 {
			continue
		}
		if err := halfRow(row, by); err != nil {
			return fmt.Errorf("count %d: %w", n, err)
		}
	}
	return nil
}

// halfRow tells whether a sink row is a session of whole lines: its user
// is one the writer wrote whole, and its start and finish are access
// times the writer wrote whole for that user. A row made from half a line
// (a user id or a time cut short) is not.
func halfRow(row string, by map[string][]int64) error {
	rec, err := csv.NewReader(strings.NewReader(row)).Read()
	if err != nil || len(rec) != 5 {
		return fmt.Errorf("row %s does not parse: %v", row, err)
	}
	ts, ok := by[rec[0]]
	if !ok {
		return fmt.Errorf("row %s: user %q was never written whole", row, rec[0])
	}
	for _, f := range rec[2:4] {
		at, err := strconv.ParseInt(f, 10, 64)
		if err != nil || !slices.Contains(ts, at) {
			return fmt.Errorf("row %s: %s is no access time of %q written whole", row, f, rec[0])
		}
	}
	return nil
}

// setDiff returns the elements of a (sorted) not in b (sorted).
func setDiff(a, b []string) []string {
	var out []string
	for _, s := range a {
		if _, ok := slices.BinarySearch(b, s); !ok {
			out = append(out, s)
		}
	}
	return out
}

func head(ss []string, n int) []string { return ss[:min(n, len(ss))] }

// envInt returns the environment variable name as an int, or def.
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
