package pwlog_test

// Property tests of the CSV directory source through whole executions:
// any interleaving of appends, lines written in pieces, new files and
// (with FileOptions.Retract) rewrites, truncations and deletions, across
// restarts, leaves a changelog that consolidates to exactly the rows of
// the final complete lines (and, in static mode, of an unterminated last
// line that parses). The model (propFile) knows each file as the lines
// its writer means to write and how many of their bytes are on disk.
//
// By default the tests run few sequences; RAPID_CHECKS or -rapid.checks
// runs as many as asked:
//
//	RAPID_CHECKS=500 go test -run 'TestCSVSource' -rapid.seed=N .

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/sources"
)

// propChecks makes rapid run n sequences in this test unless
// RAPID_CHECKS or -rapid.checks asks for a number.
func propChecks(t *testing.T, n int) {
	if _, ok := os.LookupEnv("RAPID_CHECKS"); ok {
		return
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	f := flag.Lookup("rapid.checks")
	if set || f == nil {
		return
	}
	old := f.Value.String()
	if err := f.Value.Set(strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Value.Set(old) })
}

// propSchema is the source's schema: a string that often needs quoting
// and an int.
var propSchema = pwlog.Schema{{Name: "s", Type: pwlog.TypeStr}, {Name: "n", Type: pwlog.TypeInt}}

// propRow is a row of the source.
type propRow struct {
	s string
	n int64
}

func (r propRow) String() string { return strconv.Quote(r.s) + "," + strconv.FormatInt(r.n, 10) }

// propLine is one line a writer means to write, its line end included.
type propLine struct {
	text string
	row  *propRow // nil for the header and blank lines
}

// propFile is the model of an input file: the lines its writer means to
// write, the header first, of which the first written bytes are on disk.
type propFile struct {
	name     string // relative to the input directory, slash separated
	lines    []propLine
	written  int
	strFirst bool // the header is s,n; else n,s
	crlf     bool // lines end in "\r\n"
	quoteAll bool // every string is quoted, not only those that need it
	// consumed is how many bytes a finished execution has read for sure:
	// its complete lines then.
	consumed int
}

func (f *propFile) planned() string {
	var b strings.Builder
	for _, l := range f.lines {
		b.WriteString(l.text)
	}
	return b.String()
}

func (f *propFile) content() string { return f.planned()[:f.written] }

// completeEnd returns the end of the last complete line on disk.
func (f *propFile) completeEnd() int {
	end, off := 0, 0
	for _, l := range f.lines {
		off += len(l.text)
		if off > f.written {
			break
		}
		end = off
	}
	return end
}

// rows returns the rows a reader must have taken from the file: those of
// its complete lines once the header is complete and, with partial, the
// row of an unterminated last line that parses.
func (f *propFile) rows(partial bool) []propRow {
	var out []propRow
	off := 0
	for i, l := range f.lines {
		end := off + len(l.text)
		if end <= f.written {
			if i > 0 && l.row != nil {
				out = append(out, *l.row)
			}
			off = end
			continue
		}
		if i > 0 && off < f.written && partial {
			if r, ok := f.parsePartial(l.text[:f.written-off]); ok {
				out = append(out, r)
			}
		}
		break
	}
	return out
}

// parsePartial parses the beginning of a line as a row, if it is one:
// two fields, valid UTF-8 in s, an int in n.
func (f *propFile) parsePartial(text string) (propRow, bool) {
	cr := csv.NewReader(strings.NewReader(text))
	cr.FieldsPerRecord = -1
	rec, err := cr.Read()
	if err != nil || len(rec) != 2 {
		return propRow{}, false
	}
	if _, err := cr.Read(); err != io.EOF {
		return propRow{}, false
	}
	s, n := rec[0], rec[1]
	if !f.strFirst {
		s, n = n, s
	}
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil || !utf8.ValidString(s) {
		return propRow{}, false
	}
	return propRow{s: s, n: v}, true
}

func (f *propFile) eol() string {
	if f.crlf {
		return "\r\n"
	}
	return "\n"
}

func (f *propFile) header() propLine {
	if f.strFirst {
		return propLine{text: "s,n" + f.eol()}
	}
	return propLine{text: "n,s" + f.eol()}
}

// encode makes the line of a row.
func (f *propFile) encode(r propRow, quoteInt bool) propLine {
	s := r.s
	if f.quoteAll || strings.ContainsAny(s, ",\"\r\n") {
		s = `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	n := strconv.FormatInt(r.n, 10)
	if quoteInt {
		n = `"` + n + `"`
	}
	text := s + "," + n
	if !f.strFirst {
		text = n + "," + s
	}
	return propLine{text: text + f.eol(), row: &r}
}

// propRunes are the characters of the string column: quoting ones and
// multi-byte ones, so that a line cut at any byte is cut inside a field,
// inside a quoted string, inside a character.
var propRunes = []rune{'a', 'b', 'z', ' ', ',', '"', 'é', '日', '本', '😀'}

func drawRow(t *rapid.T) propRow {
	rs := rapid.SliceOfN(rapid.SampledFrom(propRunes), 0, 4).Draw(t, "s")
	n := rapid.OneOf(rapid.Int64Range(-999, 999), rapid.Int64Range(-1<<40, 1<<40)).Draw(t, "n")
	return propRow{s: string(rs), n: n}
}

// drawLine draws a row's line, or now and then a blank line.
func (f *propFile) drawLine(t *rapid.T) propLine {
	if rapid.IntRange(0, 15).Draw(t, "blank") == 0 {
		return propLine{text: f.eol()}
	}
	return f.encode(drawRow(t), rapid.IntRange(0, 7).Draw(t, "quoteInt") == 0)
}

// drawLines draws a few lines or, now and then, 4 to 8 KiB of them:
// enough to take a file past the first 4 KiB, where FileState.Head no
// longer looks. Those come from a seeded generator, not one draw each.
func (f *propFile) drawLines(t *rapid.T, min int) []propLine {
	if rapid.IntRange(0, 5).Draw(t, "bulk") == 0 {
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "bulkSeed"), 0))
		bytes := rapid.IntRange(4<<10, 8<<10).Draw(t, "bulkBytes")
		var out []propLine
		for n := 0; n < bytes; {
			var l propLine
			if rng.IntN(16) == 0 {
				l = propLine{text: f.eol()}
			} else {
				rs := make([]rune, rng.IntN(6))
				for i := range rs {
					rs[i] = propRunes[rng.IntN(len(propRunes))]
				}
				l = f.encode(propRow{s: string(rs), n: rng.Int64N(2_000_001) - 1_000_000}, rng.IntN(8) == 0)
			}
			out = append(out, l)
			n += len(l.text)
		}
		return out
	}
	out := make([]propLine, rapid.IntRange(min, 4).Draw(t, "lines"))
	for i := range out {
		out[i] = f.drawLine(t)
	}
	return out
}

// drawCut draws how many bytes of a file of total bytes a writer has
// written, beyond from: all of them, or a cut anywhere.
func drawCut(t *rapid.T, from, total int) int {
	if from >= total || rapid.Bool().Draw(t, "whole") {
		return total
	}
	return rapid.IntRange(from, total).Draw(t, "cut")
}

// propDir is the model of the input directory and the directory itself.
type propDir struct {
	t       interface{ Fatal(...any) } // the rapid.T of the sequence
	dir     string
	files   map[string]*propFile
	gone    []string // names deleted, for a new file to take again
	next    int
	mtime   time.Time
	partial bool // a reader takes an unterminated last line that parses
}

func newPropDir(t *rapid.T, dir string, partial bool) *propDir {
	return &propDir{t: t, dir: dir, files: map[string]*propFile{}, mtime: time.Now(), partial: partial}
}

// touch gives a file a modification time none of its earlier versions
// had: a rewrite to the same size is noticed by it (and the bytes'
// hash), and a filesystem's coarse clock must not hide one.
func (d *propDir) touch(path string) {
	d.mtime = d.mtime.Add(time.Millisecond)
	if now := time.Now(); now.After(d.mtime) {
		d.mtime = now
	}
	if err := os.Chtimes(path, d.mtime, d.mtime); err != nil {
		d.t.Fatal(err)
	}
}

func (d *propDir) path(f *propFile) string { return filepath.Join(d.dir, filepath.FromSlash(f.name)) }

// write writes the whole file in place.
func (d *propDir) write(f *propFile) {
	p := d.path(f)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(f.content()), 0o644); err != nil {
		d.t.Fatal(err)
	}
	d.touch(p)
}

// grow appends the planned bytes up to to.
func (d *propDir) grow(f *propFile, to int) {
	if to <= f.written {
		return
	}
	p := d.path(f)
	h, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := h.WriteString(f.planned()[f.written:to]); err != nil {
		d.t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		d.t.Fatal(err)
	}
	f.written = to
	d.touch(p)
}

// pick draws one of the files, nil when there is none.
func (d *propDir) pick(t *rapid.T) *propFile {
	if len(d.files) == 0 {
		return nil
	}
	names := slices.Sorted(maps.Keys(d.files))
	return d.files[rapid.SampledFrom(names).Draw(t, "file")]
}

// newFile adds a file, in a subdirectory now and then, or under the name
// of a deleted one: its header and some lines, all written or cut at any
// byte (the header too).
func (d *propDir) newFile(t *rapid.T) {
	if len(d.files) >= 4 {
		return
	}
	var name string
	if len(d.gone) > 0 && rapid.Bool().Draw(t, "reuse") {
		i := rapid.IntRange(0, len(d.gone)-1).Draw(t, "gone")
		name = d.gone[i]
		d.gone = slices.Delete(d.gone, i, i+1)
	} else {
		name = fmt.Sprintf("f%d.csv", d.next)
		if rapid.IntRange(0, 3).Draw(t, "sub") == 0 {
			name = "sub/" + name
		}
		d.next++
	}
	f := &propFile{name: name, strFirst: rapid.Bool().Draw(t, "strFirst"),
		crlf: rapid.IntRange(0, 3).Draw(t, "crlf") == 0, quoteAll: rapid.Bool().Draw(t, "quoteAll")}
	f.lines = append([]propLine{f.header()}, f.drawLines(t, 0)...)
	f.written = drawCut(t, 0, len(f.planned()))
	d.files[name] = f
	d.write(f)
}

// appendLines appends complete lines, finishing the last one first.
func (d *propDir) appendLines(t *rapid.T) {
	if f := d.pick(t); f != nil {
		f.lines = append(f.lines, f.drawLines(t, 1)...)
		d.grow(f, len(f.planned()))
	}
}

// appendPiece writes a piece of a line: the rest of the last line cut
// short, or of a new one, leaving the line unterminated.
func (d *propDir) appendPiece(t *rapid.T) {
	f := d.pick(t)
	if f == nil {
		return
	}
	total := len(f.planned())
	if f.written == total {
		f.lines = append(f.lines, f.encode(drawRow(t), rapid.IntRange(0, 7).Draw(t, "quoteInt") == 0))
		total = len(f.planned())
	}
	if f.written+1 <= total-1 {
		d.grow(f, rapid.IntRange(f.written+1, total-1).Draw(t, "piece"))
	}
}

// finishLine writes the rest of the last line.
func (d *propDir) finishLine(t *rapid.T) {
	if f := d.pick(t); f != nil {
		d.grow(f, len(f.planned()))
	}
}

// rewriteSameSize changes a file without changing its size: a number of
// one line (often past the first 4 KiB in a long file) to another of as
// many digits, or the columns' order.
func (d *propDir) rewriteSameSize(t *rapid.T) {
	f := d.pick(t)
	if f == nil {
		return
	}
	if rapid.IntRange(0, 3).Draw(t, "swapColumns") == 0 {
		// Every line changes, keeping its length.
		f.strFirst = !f.strFirst
		for i, l := range f.lines {
			switch {
			case i == 0:
				f.lines[0] = f.header()
			case l.row != nil:
				f.lines[i] = f.swapped(l)
			}
		}
		d.write(f)
		return
	}
	if i, ok := d.drawWrittenRow(t, f, len(f.planned())); ok {
		f.lines[i] = f.otherNumber(t, f.lines[i])
		d.write(f)
	}
}

// swapped returns a row's line with its two fields in the other order,
// the file's strFirst being the new order already.
func (f *propFile) swapped(l propLine) propLine {
	text := strings.TrimSuffix(l.text, f.eol())
	// The int field has no comma: it is the first or the last field.
	var s, n string
	if f.strFirst { // it was n,s
		i := strings.IndexByte(text, ',')
		n, s = text[:i], text[i+1:]
	} else { // it was s,n
		i := strings.LastIndexByte(text, ',')
		s, n = text[:i], text[i+1:]
	}
	if f.strFirst {
		return propLine{text: s + "," + n + f.eol(), row: l.row}
	}
	return propLine{text: n + "," + s + f.eol(), row: l.row}
}

// otherNumber returns a row's line with another number of as many
// characters: one digit changed, never to a leading zero.
func (f *propFile) otherNumber(t *rapid.T, l propLine) propLine {
	num := strconv.FormatInt(l.row.n, 10)
	digits := []byte(num)
	i := rapid.IntRange(0, len(digits)-1).Draw(t, "digit")
	if digits[i] == '-' {
		i++
	}
	lo := byte('0')
	if (i == 0 || digits[0] == '-' && i == 1) && (len(digits) > 1) {
		lo = '1'
	}
	d := byte(rapid.IntRange(int(lo), '8').Draw(t, "to"))
	if d >= digits[i] {
		d++
	}
	digits[i] = d
	r := *l.row
	r.n, _ = strconv.ParseInt(string(digits), 10, 64)
	// The line's only digits are its number's.
	return propLine{text: strings.Replace(l.text, num, string(digits), 1), row: &r}
}

// drawWrittenRow draws a row line that lies entirely in the first end
// bytes of what is written; half the time one past the first 4 KiB when
// there is one.
func (d *propDir) drawWrittenRow(t *rapid.T, f *propFile, end int) (int, bool) {
	var idx, late []int
	off := 0
	for i, l := range f.lines {
		start := off
		off += len(l.text)
		if off > min(end, f.written) {
			break
		}
		if l.row != nil {
			idx = append(idx, i)
			if start >= 4096 {
				late = append(late, i)
			}
		}
	}
	if len(late) > 0 && rapid.Bool().Draw(t, "late") {
		idx = late
	}
	if len(idx) == 0 {
		return 0, false
	}
	return idx[rapid.IntRange(0, len(idx)-1).Draw(t, "line")], true
}

// rewrite changes a file's size: drops a line or writes another file in
// its place.
func (d *propDir) rewrite(t *rapid.T) {
	f := d.pick(t)
	if f == nil {
		return
	}
	if i, ok := d.drawWrittenRow(t, f, f.written); ok && rapid.Bool().Draw(t, "dropLine") {
		f.written -= len(f.lines[i].text)
		f.lines = slices.Delete(f.lines, i, i+1)
		d.write(f)
		return
	}
	f.strFirst = rapid.Bool().Draw(t, "strFirst")
	f.crlf = rapid.IntRange(0, 3).Draw(t, "crlf") == 0
	f.lines = append([]propLine{f.header()}, f.drawLines(t, 0)...)
	f.written = drawCut(t, 0, len(f.planned()))
	d.write(f)
}

// truncate cuts a file at any byte; the writer may finish the line cut.
func (d *propDir) truncate(t *rapid.T) {
	f := d.pick(t)
	if f == nil || f.written == 0 {
		return
	}
	f.written = rapid.IntRange(0, f.written-1).Draw(t, "truncate")
	off := 0
	for i, l := range f.lines {
		if i > 0 && off >= f.written {
			f.lines = f.lines[:i]
			break
		}
		off += len(l.text)
	}
	d.write(f)
}

func (d *propDir) remove(t *rapid.T) {
	f := d.pick(t)
	if f == nil {
		return
	}
	if err := os.Remove(d.path(f)); err != nil {
		t.Fatal(err)
	}
	delete(d.files, f.name)
	d.gone = append(d.gone, f.name)
}

// want returns the rows every file holds now, as sorted strings.
func (d *propDir) want() []string {
	var out []string
	for _, f := range d.files {
		for _, r := range f.rows(d.partial) {
			out = append(out, r.String())
		}
	}
	slices.Sort(out)
	return out
}

// describe lists the files as they are, for a failure.
func (d *propDir) describe() string {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(d.files)) {
		c := d.files[name].content()
		if len(c) > 400 {
			c = c[:100] + fmt.Sprintf("... (%d bytes) ...", len(c)) + c[len(c)-200:]
		}
		fmt.Fprintf(&b, "  %s: %q\n", name, c)
	}
	return b.String()
}

// propSink reads the changelog: the rows with their summed diffs, as
// sorted strings, a row repeated by its multiplicity; an error for a
// negative multiplicity or times out of order.
func propSink(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	cr := csv.NewReader(strings.NewReader(string(b)))
	cr.FieldsPerRecord = 4
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("the changelog does not parse: %w", err)
	}
	if len(recs) == 0 || !slices.Equal(recs[0], []string{"s", "n", "time", "diff"}) {
		return nil, fmt.Errorf("the changelog's header is %q", recs)
	}
	sum := map[string]int64{}
	var last uint64
	for _, rec := range recs[1:] {
		n, err1 := strconv.ParseInt(rec[1], 10, 64)
		tm, err2 := strconv.ParseUint(rec[2], 10, 64)
		diff, err3 := strconv.ParseInt(rec[3], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, fmt.Errorf("changelog line %q: %w", rec, err)
		}
		if tm < last {
			return nil, fmt.Errorf("changelog: time %d after time %d", tm, last)
		}
		last = tm
		sum[propRow{s: rec[0], n: n}.String()] += diff
	}
	var out []string
	for row, n := range sum {
		if n < 0 {
			return nil, fmt.Errorf("changelog: row %s has multiplicity %d", row, n)
		}
		for ; n > 0; n-- {
			out = append(out, row)
		}
	}
	slices.Sort(out)
	return out, nil
}

// propDiff tells what got has too much and too little against want, both
// sorted.
func propDiff(got, want []string) string {
	var extra, missing []string
	i, j := 0, 0
	for i < len(got) || j < len(want) {
		switch {
		case j == len(want) || i < len(got) && got[i] < want[j]:
			extra = append(extra, got[i])
			i++
		case i == len(got) || want[j] < got[i]:
			missing = append(missing, want[j])
			j++
		default:
			i++
			j++
		}
	}
	return fmt.Sprintf("%d rows, want %d; extra %q, missing %q", len(got), len(want), extra, missing)
}

// propPipeline copies the source to an append-mode sink.
func propPipeline(input, sink string, opts pwlog.FileOptions) *pwlog.Pipeline {
	p := pwlog.New()
	p.ReadCSV("in", input, propSchema, opts).WriteCSV("out", sink, pwlog.SinkOptions{Append: true})
	return p
}

// TestCSVSourceStaticProperty: random interleavings of appends, lines
// written in pieces (cut inside a field, a quoted string, a UTF-8
// character, between "\r" and "\n"), blank lines, new files and, with
// Retract, rewrites (to the same size or not, past the first 4 KiB),
// truncations and deletions, with a static execution over a persistent
// storage now and then; after every execution the changelog consolidates
// to the rows of the complete lines of the files present, plus the row of
// an unterminated last line that parses. Without Retract, a rewrite of a
// consumed byte fails the execution naming the file, and once the file is
// restored the storage goes on.
func TestCSVSourceStaticProperty(t *testing.T) {
	propChecks(t, 40)
	executions, sequences := 0, 0
	rapid.Check(t, func(rt *rapid.T) {
		sequences++
		tmp := t.TempDir()
		input, storage, sink := filepath.Join(tmp, "in"), filepath.Join(tmp, "storage"), filepath.Join(tmp, "out.csv")
		if err := os.Mkdir(input, 0o755); err != nil {
			rt.Fatal(err)
		}
		d := newPropDir(rt, input, true)
		retract := rapid.Bool().Draw(rt, "retract")
		batch := rapid.SampledFrom([]int{1, 5, 0}).Draw(rt, "batchRows")
		compact := rapid.SampledFrom([]int64{-1, 1, 0}).Draw(rt, "compactBytes")
		execution := func() error {
			cfg := quietConfig(storage)
			cfg.NoSync = true
			cfg.BatchRows, cfg.CompactBytes = batch, compact
			return propPipeline(input, sink, pwlog.FileOptions{Retract: retract}).Run(context.Background(), cfg)
		}
		runs := 0
		run := func(rt *rapid.T) {
			runs++
			executions++
			if err := execution(); err != nil {
				rt.Fatalf("execution %d: %v\nfiles:\n%s", runs, err, d.describe())
			}
			got, err := propSink(sink)
			if err != nil {
				rt.Fatalf("execution %d: %v", runs, err)
			}
			if want := d.want(); !slices.Equal(got, want) {
				rt.Fatalf("execution %d: the changelog consolidates to %s\nfiles:\n%s", runs, propDiff(got, want), d.describe())
			}
			for _, f := range d.files {
				f.consumed = f.completeEnd()
			}
		}
		actions := map[string]func(*rapid.T){
			"newFile":     d.newFile,
			"appendLines": d.appendLines,
			"appendPiece": d.appendPiece,
			"finishLine":  d.finishLine,
			"run":         run,
		}
		if retract {
			actions["rewriteSameSize"] = d.rewriteSameSize
			actions["rewrite"] = d.rewrite
			actions["truncate"] = d.truncate
			actions["delete"] = d.remove
		} else {
			actions["rewriteRefused"] = func(rt *rapid.T) {
				f := d.pick(rt)
				if f == nil {
					return
				}
				i, ok := d.drawWrittenRow(rt, f, f.consumed)
				if !ok {
					return
				}
				before := f.lines[i]
				f.lines[i] = f.otherNumber(rt, before)
				d.write(f)
				err := execution()
				var ce *sources.ChangedFileError
				if !errors.As(err, &ce) || ce.Path != f.name || !strings.Contains(err.Error(), filepath.FromSlash(f.name)) {
					rt.Fatalf("a rewrite without Retract: got %v, want a ChangedFileError naming %s", err, f.name)
				}
				f.lines[i] = before
				d.write(f)
				run(rt)
			}
		}
		rt.Repeat(actions)
		run(rt)
	})
	t.Logf("%d executions over %d sequences", executions, sequences)
}

// TestCSVSourceStreamingProperty: the same interleavings, but for
// rewrites and deletions, while a streaming execution runs
// (FileOptions.Streaming, PartialLineTimeout negative: a line without its
// line end is never read), stopped and started again now and then, at
// any moment. At every settle step the sink comes, within a deadline, to
// consolidate to the rows of the complete lines of the files present;
// and once the files stop changing, a last execution leaves a changelog
// that consolidates to exactly those rows.
func TestCSVSourceStreamingProperty(t *testing.T) {
	propChecks(t, 20)
	streamingProperty(t, false)
}

// TestCSVSourceStreamingRetractProperty is TestCSVSourceStreamingProperty
// with FileOptions.Retract, and files rewritten in place (to the same size
// or not), truncated and deleted while the execution runs.
func TestCSVSourceStreamingRetractProperty(t *testing.T) {
	propChecks(t, 20)
	streamingProperty(t, true)
}

func streamingProperty(t *testing.T, retract bool) {
	executions, settles, sequences := 0, 0, 0
	rapid.Check(t, func(rt *rapid.T) {
		sequences++
		tmp := t.TempDir()
		input, storage, sink := filepath.Join(tmp, "in"), filepath.Join(tmp, "storage"), filepath.Join(tmp, "out.csv")
		if err := os.Mkdir(input, 0o755); err != nil {
			rt.Fatal(err)
		}
		d := newPropDir(rt, input, false)
		poll := rapid.Bool().Draw(rt, "poll")
		batch := rapid.SampledFrom([]int{3, 0}).Draw(rt, "batchRows")
		var cur *streamRun
		start := func() {
			executions++
			p := propPipeline(input, sink, pwlog.FileOptions{Streaming: true, Retract: retract,
				PartialLineTimeout: -1, Poll: poll, PollInterval: 10 * time.Millisecond})
			cfg := quietConfig(storage)
			cfg.NoSync = true
			cfg.BatchRows = batch
			cfg.AutocommitDuration = 10 * time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			r := &streamRun{cancel: cancel, done: make(chan error, 1)}
			go func() { r.done <- p.Run(ctx, cfg) }()
			cur = r
		}
		// stop ends the execution; it must return nil.
		stop := func() error {
			r := cur
			if r == nil {
				return nil
			}
			cur = nil
			r.cancel()
			select {
			case err := <-r.done:
				return err
			case <-time.After(30 * time.Second):
				return errors.New("the streaming execution did not return after cancel")
			}
		}
		rt.Cleanup(func() { stop() })
		// settle waits for the sink to show the complete lines.
		settle := func(rt *rapid.T) {
			settles++
			deadline := time.Now().Add(10 * time.Second)
			for {
				got, err := propSink(sink)
				want := d.want()
				if err == nil && slices.Equal(got, want) {
					return
				}
				select {
				case err := <-cur.done:
					cur = nil
					rt.Fatalf("the streaming execution stopped: %v\nfiles:\n%s", err, d.describe())
				default:
				}
				if time.Now().After(deadline) {
					if err != nil {
						rt.Fatalf("the sink did not settle: %v\nfiles:\n%s", err, d.describe())
					}
					rt.Fatalf("the sink did not settle: it consolidates to %s\nfiles:\n%s", propDiff(got, want), d.describe())
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		start()
		actions := map[string]func(*rapid.T){
			"newFile":     d.newFile,
			"appendLines": d.appendLines,
			"appendPiece": d.appendPiece,
			"finishLine":  d.finishLine,
			"settle":      settle,
			"restart": func(rt *rapid.T) {
				if err := stop(); err != nil {
					rt.Fatalf("stop: %v", err)
				}
				start()
			},
		}
		if retract {
			actions["rewriteSameSize"] = d.rewriteSameSize
			actions["rewrite"] = d.rewrite
			actions["truncate"] = d.truncate
			actions["delete"] = d.remove
		}
		rt.Repeat(actions)
		// A settle may pass before the execution has seen the last
		// change (a sink that goes through the state the files now
		// describe on its way elsewhere), and a cancelled execution
		// ends without looking again: the last execution starts with
		// nothing left to change, so it sees every file as it is now.
		if err := stop(); err != nil {
			rt.Fatalf("stop: %v", err)
		}
		start()
		settle(rt)
		if err := stop(); err != nil {
			rt.Fatalf("stop: %v", err)
		}
		got, err := propSink(sink)
		if err != nil {
			rt.Fatal(err)
		}
		if want := d.want(); !slices.Equal(got, want) {
			rt.Fatalf("after the last execution the changelog consolidates to %s\nfiles:\n%s", propDiff(got, want), d.describe())
		}
	})
	t.Logf("%d executions, %d settles over %d sequences", executions, settles, sequences)
}
