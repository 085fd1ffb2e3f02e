package sources

// A property test of the Reader alone: files grow by whole lines and by
// pieces cut at any byte, new files appear, and readers are opened at the
// states committed so far and read with a limit, some abandoned after a
// few calls as by a crash. The rows and retractions committed always net
// to exactly the rows of the files' complete lines (and of an
// unterminated last line that parses, unless streaming), each once, under
// the key of the byte where its line starts.
//
//	RAPID_CHECKS=2000 go test -run TestReaderProperty ./sources/

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog/differential"
)

// propSchema is the schema of the property test's files.
var propSchema = differential.Schema{
	{Name: "s", Type: differential.KindString},
	{Name: "n", Type: differential.KindInt},
}

// propLine is a line a writer means to write, its line end included; row
// is false for the header and blank lines.
type propLine struct {
	text string
	row  bool
	s    string
	n    int64
}

// propFile is a file: the lines its writer means to write, the header
// first, of which the first written bytes are on disk.
type propFile struct {
	lines    []propLine
	written  int
	strFirst bool
	crlf     bool
}

func (f *propFile) planned() string {
	var b strings.Builder
	for _, l := range f.lines {
		b.WriteString(l.text)
	}
	return b.String()
}

func (f *propFile) eol() string {
	if f.crlf {
		return "\r\n"
	}
	return "\n"
}

// propRunes make strings that need quoting and that a cut at any byte
// cuts inside a character.
var propRunes = []rune{'a', 'z', ' ', ',', '"', 'é', '日', '😀'}

func (f *propFile) drawLine(t *rapid.T) propLine {
	if rapid.IntRange(0, 11).Draw(t, "blank") == 0 {
		return propLine{text: f.eol()}
	}
	l := propLine{row: true, s: string(rapid.SliceOfN(rapid.SampledFrom(propRunes), 0, 4).Draw(t, "s")),
		n: rapid.Int64Range(-9999, 9999).Draw(t, "n")}
	s := l.s
	if rapid.Bool().Draw(t, "quote") || strings.ContainsAny(s, ",\"") {
		s = `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	n := strconv.FormatInt(l.n, 10)
	if f.strFirst {
		l.text = s + "," + n + f.eol()
	} else {
		l.text = n + "," + s + f.eol()
	}
	return l
}

// want returns the rows the file holds as "key|s|n" strings: its
// complete lines' once the header is complete, and with partial the
// row of an unterminated last line that parses.
func (f *propFile) want(src, path string, partial bool) []string {
	var out []string
	off := 0
	for i, l := range f.lines {
		end := off + len(l.text)
		if end > f.written {
			if i > 0 && off < f.written && partial {
				if s, n, ok := f.parse(l.text[:f.written-off]); ok {
					out = append(out, propKey(src, path, off, s, n))
				}
			}
			break
		}
		if i > 0 && l.row {
			out = append(out, propKey(src, path, off, l.s, l.n))
		}
		off = end
	}
	return out
}

// parse parses an unterminated line as a row, if it is one.
func (f *propFile) parse(text string) (string, int64, bool) {
	cr := csv.NewReader(strings.NewReader(text))
	cr.FieldsPerRecord = -1
	rec, err := cr.Read()
	if err != nil || len(rec) != 2 {
		return "", 0, false
	}
	s, n := rec[0], rec[1]
	if !f.strFirst {
		s, n = n, s
	}
	v, err := strconv.ParseInt(n, 10, 64)
	if err != nil || !utf8.ValidString(s) {
		return "", 0, false
	}
	return s, v, true
}

// propKey is a row as the test compares it: the key of the byte where
// its line starts, and its values.
func propKey(src, path string, off int, s string, n int64) string {
	k := differential.NewHasher("csv")
	k.String(src)
	k.String(path)
	k.Uint64(uint64(off))
	return fmt.Sprintf("%d|%q|%d", k.Key(), s, n)
}

// TestReaderProperty: random appends of whole lines and of pieces (cut
// inside a field, a quoted string, a UTF-8 character, a "\r\n"), blank
// lines and new files, read in static mode, in streaming mode
// (PartialLineTimeout negative), or in streaming mode with every file
// quiet for longer than the timeout (read as in static mode), with
// Next's limit 1, 2 or none, some readers abandoned after a few calls:
// the updates of the calls whose states were kept net to the rows of the
// files, each once under its line's key, and a streaming reader whose
// files are not quiet reports no unfinished line.
func TestReaderProperty(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		mode := rapid.SampledFrom([]string{"static", "streaming", "quiet"}).Draw(rt, "mode")
		src := &CSVDir{Name: "p", Dir: dir, Schema: propSchema}
		mtime := time.Now()
		switch mode {
		case "streaming":
			src.Streaming, src.PartialLineTimeout = true, -1
		case "quiet":
			src.Streaming, src.PartialLineTimeout = true, time.Hour
			mtime = mtime.Add(-24 * time.Hour)
		}
		files := map[string]*propFile{}
		states := map[string]FileState{}
		net := map[string]int64{}
		touch := func(path string) {
			// Each version of a file gets its own modification time.
			mtime = mtime.Add(time.Millisecond)
			if err := os.Chtimes(path, mtime, mtime); err != nil {
				rt.Fatal(err)
			}
		}
		grow := func(name string, to int) {
			f := files[name]
			if to <= f.written {
				return
			}
			p := filepath.Join(dir, filepath.FromSlash(name))
			h, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
			if err != nil {
				rt.Fatal(err)
			}
			if _, err := h.WriteString(f.planned()[f.written:to]); err != nil {
				rt.Fatal(err)
			}
			if err := h.Close(); err != nil {
				rt.Fatal(err)
			}
			f.written = to
			touch(p)
		}
		pick := func(t *rapid.T) string {
			if len(files) == 0 {
				t.Skip("no file")
			}
			return rapid.SampledFrom(slices.Sorted(maps.Keys(files))).Draw(t, "file")
		}
		read := func(t *rapid.T, all bool) {
			r, err := src.open(maps.Clone(states))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer r.Close()
			limit := rapid.SampledFrom([]int{1, 2, 0}).Draw(t, "limit")
			calls := -1 // all
			if !all && rapid.Bool().Draw(t, "abandon") {
				calls = rapid.IntRange(0, 3).Draw(t, "calls")
			}
			for ; calls != 0; calls-- {
				us, sts, err := r.Next(limit)
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("Next: %v", err)
				}
				for _, u := range us {
					net[fmt.Sprintf("%d|%q|%d", u.Key, u.Row[0].S, u.Row[1].I)] += u.Diff
				}
				for _, st := range sts {
					states[st.Path] = st
				}
			}
			if mode == "streaming" && len(r.Unfinished()) > 0 {
				t.Fatalf("a streaming reader reports unfinished lines: %v", r.Unfinished())
			}
		}
		check := func(t *rapid.T) {
			read(t, true)
			var want, got []string
			for _, name := range slices.Sorted(maps.Keys(files)) {
				want = append(want, files[name].want(src.Name, name, mode != "streaming")...)
			}
			for k, n := range net {
				if n < 0 || n > 1 {
					t.Fatalf("%s has multiplicity %d", k, n)
				}
				if n == 1 {
					got = append(got, k)
				}
			}
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				var b strings.Builder
				for _, name := range slices.Sorted(maps.Keys(files)) {
					f := files[name]
					fmt.Fprintf(&b, "  %s: %q\n", name, f.planned()[:f.written])
				}
				t.Fatalf("the rows read net to\n%q\nwant\n%q\nfiles:\n%s", got, want, b.String())
			}
		}
		rt.Repeat(map[string]func(*rapid.T){
			"newFile": func(t *rapid.T) {
				if len(files) >= 3 {
					t.Skip("enough files")
				}
				name := fmt.Sprintf("f%d.csv", len(files))
				if rapid.IntRange(0, 3).Draw(t, "sub") == 0 {
					name = "sub/" + name
					if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				f := &propFile{strFirst: rapid.Bool().Draw(t, "strFirst"), crlf: rapid.IntRange(0, 3).Draw(t, "crlf") == 0}
				header := "n,s"
				if f.strFirst {
					header = "s,n"
				}
				f.lines = []propLine{{text: header + f.eol()}}
				for range rapid.IntRange(0, 3).Draw(t, "lines") {
					f.lines = append(f.lines, f.drawLine(t))
				}
				files[name] = f
				total := len(f.planned())
				grow(name, rapid.IntRange(0, total).Draw(t, "written"))
				if f.written == 0 {
					p := filepath.Join(dir, filepath.FromSlash(name))
					if err := os.WriteFile(p, nil, 0o644); err != nil {
						t.Fatal(err)
					}
					touch(p)
				}
			},
			"appendLines": func(t *rapid.T) {
				name := pick(t)
				f := files[name]
				for range rapid.IntRange(1, 3).Draw(t, "lines") {
					f.lines = append(f.lines, f.drawLine(t))
				}
				grow(name, len(f.planned()))
			},
			"appendPiece": func(t *rapid.T) {
				name := pick(t)
				f := files[name]
				if f.written == len(f.planned()) {
					f.lines = append(f.lines, f.drawLine(t))
				}
				grow(name, rapid.IntRange(f.written, len(f.planned())).Draw(t, "to"))
			},
			"read":  func(t *rapid.T) { read(t, false) },
			"check": check,
		})
		check(rt)
	})
}
