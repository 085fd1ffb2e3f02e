package sources

import (
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pwlog/pwlog/differential"
)

// openJSON opens a JSONLinesDir's reader at prev.
func openJSON(t testing.TB, src *JSONLinesDir, prev map[string]FileState) *JSONLinesReader {
	t.Helper()
	r, err := src.open(prev)
	return opened(t, r, err)
}

// jsonAccess is an access line of the tutorial's schema.
func jsonAccess(user string, at int64) string {
	return `{"user_id":` + strconv.Quote(user) + `,"access_time":` + itoa(at) + "}\n"
}

// TestJSONLinesTypes: every type, nulls, members in any order, others
// ignored whatever their type, escapes and non-ASCII text, duplicate
// names (the last counts), blank lines, CRLF line ends and a byte order
// mark.
func TestJSONLinesTypes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "x.jsonl", "\ufeff"+
		`{"s":"plain","i":1,"f":1.5,"b":true}`+"\n"+
		`  {"b":false, "f":-2e3, "i":-7, "s":"with \"quotes\", \\ and \/"}  `+"\r\n"+
		"\n   \t\r\n"+
		`{"s":"h\u00e9llo \ud83d\ude00 \n\t","i":9223372036854775807,"f":0,"b":false,"x":{"deep":[1,{"a":null}]},"y":[],"z":"ignored"}`+"\n"+
		`{"s":null,"i":null,"f":null,"b":null}`+"\n"+
		`{"s":"héllo € 😀","i":-9223372036854775808,"f":1E-300,"b":true,"i":5}`+"\n"+
		`{"s":"","i":0,"f":-0,"b":true,"s":"last"}`)
	r := openJSON(t, &JSONLinesDir{Name: "src", Dir: dir, Schema: typedSchema}, nil)
	defer r.Close()
	states := map[string]FileState{}
	got := drain(t, r, 0, states)
	row := func(s string, i int64, f float64, b bool) differential.Row {
		return differential.Row{differential.String(s), differential.Int(i), differential.Float(f), differential.Bool(b)}
	}
	want := []differential.Row{
		row("plain", 1, 1.5, true),
		row(`with "quotes", \ and /`, -7, -2000, false),
		row("héllo 😀 \n\t", math.MaxInt64, 0, false),
		{differential.Null(), differential.Null(), differential.Null(), differential.Null()},
		row("héllo € 😀", 5, 1e-300, true),
		row("last", 0, math.Copysign(0, -1), true),
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d: %v", len(got), len(want), rowStrings(got))
	}
	for i := range want {
		if !got[i].Row.Equal(want[i]) || got[i].Diff != 1 || got[i].Time != 0 {
			t.Errorf("row %d: got %v diff %d time %d, want %v", i, got[i].Row, got[i].Diff, got[i].Time, want[i])
		}
	}
	body, _ := os.ReadFile(filepath.Join(dir, "x.jsonl"))
	st := states["x.jsonl"]
	if st.Offset != int64(len(body)) || st.Line != 8 || st.Rows != 6 || st.Partial == 0 {
		t.Fatalf("state %+v", st)
	}
	checkSum(t, string(body), st)
}

// TestJSONLinesBadInput: each kind of bad line is an *InputError naming
// the file, the line and, for a column's value, the column; skipped, the
// lines after it are read.
func TestJSONLinesBadInput(t *testing.T) {
	good := `{"s":"a","i":1,"f":1,"b":true}` + "\n"
	for _, c := range []struct {
		line, want string
		mark       error
	}{
		{`{"s":"a","f":1,"b":true}`, `column 2 (i): missing from the object`, ErrMissingField},
		{`{"s":"a","i":"1","f":1,"b":true}`, `column 2 (i): expected int, got string "1"`, ErrBadValue},
		{`{"s":"a","i":3.0,"f":1,"b":true}`, `column 2 (i): invalid int 3.0 (not an integer)`, ErrBadValue},
		{`{"s":"a","i":1e3,"f":1,"b":true}`, `column 2 (i): invalid int 1e3 (not an integer)`, ErrBadValue},
		{`{"s":"a","i":9223372036854775808,"f":1,"b":true}`, `column 2 (i): invalid int 9223372036854775808 (out of range)`, ErrBadValue},
		{`{"s":"a","i":true,"f":1,"b":true}`, `column 2 (i): expected int, got true`, ErrBadValue},
		{`{"s":1,"i":1,"f":1,"b":true}`, `column 1 (s): expected str, got number 1`, ErrBadValue},
		{`{"s":["a"],"i":1,"f":1,"b":true}`, `column 1 (s): expected str, got an array`, ErrBadValue},
		{"{\"s\":\"a\xffb\",\"i\":1,\"f\":1,\"b\":true}", `column 1 (s): invalid UTF-8`, ErrBadUTF8},
		{`{"s":"a","i":1,"f":"1.5","b":true}`, `column 3 (f): expected float, got string "1.5"`, ErrBadValue},
		{`{"s":"a","i":1,"f":1e400,"b":true}`, `column 3 (f): invalid float 1e400 (out of range)`, ErrBadValue},
		{`{"s":"a","i":1,"f":1,"b":"true"}`, `column 4 (b): expected bool, got string "true"`, ErrBadValue},
		{`{"s":"a","i":1,"f":1,"b":{}}`, `column 4 (b): expected bool, got an object`, ErrBadValue},
		{`{"s":"a","i":1,"f":1,"b":true}x`, `invalid JSON: unexpected 'x' after the object at byte 31`, ErrBadJSON},
		{`{"s":"a","i":1,"f":1,"b":true}{}`, `invalid JSON: unexpected '{' after the object at byte 31`, ErrBadJSON},
		{`["s","a"]`, `invalid JSON: a line must be an object, not an array at byte 1`, ErrBadJSON},
		{`"s"`, `invalid JSON: a line must be an object, not a string at byte 1`, ErrBadJSON},
		{`{"s":"a",}`, `invalid JSON: unexpected '}' looking for a member's name at byte 10`, ErrBadJSON},
		{`{"s":"a\q"}`, `invalid JSON: unexpected 'q' in an escape at byte 9`, ErrBadJSON},
		{"{\"s\":\"a\tb\"}", `invalid JSON: unexpected '\t' in a string (control characters must be escaped) at byte 8`, ErrBadJSON},
		{`{"s":01}`, `invalid JSON: unexpected '1' after a member's value at byte 7`, ErrBadJSON},
		{`{"s":nul}`, `invalid JSON: unexpected '}' in literal null at byte 9`, ErrBadJSON},
		{`{"s":"a"`, `invalid JSON: unexpected end of line`, ErrBadJSON},
	} {
		dir := t.TempDir()
		path := writeFile(t, dir, "a.jsonl", good+"\n"+c.line+"\n"+good)
		_, _, err := openJSON(t, &JSONLinesDir{Name: "s", Dir: dir, Schema: typedSchema}, nil).Next(0)
		var ie *InputError
		if !errors.As(err, &ie) || err.Error() != path+":3: "+c.want || !errors.Is(err, c.mark) {
			t.Errorf("%s: got %v, want %s:3: %s", c.line, err, path, c.want)
			continue
		}
		if ie.Line != 3 || ie.File != path {
			t.Errorf("%s: %+v", c.line, ie)
		}
		var reported []string
		skipping := &JSONLinesDir{Name: "s", Dir: dir, Schema: typedSchema, OnBadRow: func(e *InputError) { reported = append(reported, e.Error()) }}
		states := map[string]FileState{}
		if got := drain(t, openJSON(t, skipping, nil), 0, states); len(got) != 2 || len(reported) != 1 {
			t.Errorf("%s skipped: rows %v, reported %q", c.line, rowStrings(got), reported)
		}
		if st := states["a.jsonl"]; st.Line != 4 || st.Rows != 2 || st.Offset != st.Size {
			t.Errorf("%s skipped: state %+v", c.line, st)
		}
	}
}

// TestJSONLinesKeys: a row's key is CSVDir's: the source's name, the
// file's path and the offset where the row's line starts; the same from
// any position a read resumes at.
func TestJSONLinesKeys(t *testing.T) {
	dir := t.TempDir()
	a, b := jsonAccess("bob", 1), jsonAccess("alice", 2)
	body := a + "\n  " + b + b
	writeFile(t, dir, "sub/a.jsonl", body)
	src := &JSONLinesDir{Name: "s", Dir: dir, Schema: accessSchema}
	all := drain(t, openJSON(t, src, nil), 0, map[string]FileState{})
	want := []string{"+bob|1@0", "+alice|2@" + strconv.Itoa(len(a)+1), "+alice|2@" + strconv.Itoa(len(a)+1+2+len(b))}
	if g := show(t, all, "sub/a.jsonl", len(body)); !slices.Equal(g, want) {
		t.Fatalf("keys %q, want %q", g, want)
	}
	for k := 1; k <= 3; k++ {
		r := openJSON(t, src, nil)
		first, sts, err := r.Next(k)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		states := map[string]FileState{}
		for _, st := range sts {
			states[st.Path] = st
		}
		rest := drain(t, openJSON(t, src, cloneStates(states)), 1, states)
		if got := append(first, rest...); !slices.Equal(rowStrings(got), rowStrings(all)) {
			t.Fatalf("resumed after %d: %v, want %v", k, rowStrings(got), rowStrings(all))
		}
	}
}

// jsonStep is a JSON Lines file's whole content at one read and what the
// read gives: updates in show's format, the unfinished lines (errors after
// "<file>:") and the state's Partial.
type jsonStep struct {
	body       string
	updates    []string
	unfinished []string
	partial    int64
}

// writeStep writes body as the file a.jsonl of dir, modified i seconds
// from now, and returns its path.
func writeStep(t *testing.T, dir string, i int, body string) string {
	path := writeFile(t, dir, "a.jsonl", body)
	later := time.Now().Add(time.Duration(i) * time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	return path
}

// readJSONSteps writes each step's body over a.jsonl in turn, reads what
// is new with Next(limit), and checks it against the step and against a
// read of the whole file from scratch: the same state, and the updates so
// far add up to its rows.
func readJSONSteps(t *testing.T, steps []jsonStep) {
	t.Helper()
	for _, limit := range []int{0, 1} {
		dir := t.TempDir()
		src := &JSONLinesDir{Name: "s", Dir: dir, Schema: accessSchema}
		states := map[string]FileState{}
		var all []differential.Update
		for i, s := range steps {
			path := writeStep(t, dir, i, s.body)
			r := openJSON(t, src, cloneStates(states))
			got := drain(t, r, limit, states)
			r.Close()
			all = append(all, got...)
			what := "limit " + strconv.Itoa(limit) + ", step " + strconv.Itoa(i) + " " + strconv.Quote(s.body)
			if g := show(t, got, "a.jsonl", len(s.body)); !slices.Equal(g, s.updates) {
				t.Fatalf("%s: updates %q, want %q", what, g, s.updates)
			}
			unf := unfinishedStrings(r)
			for j := range unf {
				unf[j] = strings.TrimPrefix(unf[j], path+":")
			}
			if !slices.Equal(unf, s.unfinished) {
				t.Fatalf("%s: unfinished %q, want %q", what, unf, s.unfinished)
			}
			st := states["a.jsonl"]
			checkSum(t, s.body, st)
			if st.Partial != s.partial {
				t.Fatalf("%s: state %+v, want Partial %d", what, st, s.partial)
			}
			whole := map[string]FileState{}
			full := drain(t, openJSON(t, src, nil), 0, whole)
			if w := whole["a.jsonl"]; st != w {
				t.Fatalf("%s: state %+v, a full read's %+v", what, st, w)
			}
			if !slices.Equal(net(all), net(full)) {
				t.Fatalf("%s: the updates add up to %v, a full read gives %v", what, net(all), net(full))
			}
		}
	}
}

// TestJSONLinesPartialLine: a last line without a line end is read when it
// is a complete object, and read again when the file grows; one not
// complete yet waits, wherever it is cut; a file's first line has no
// Partial.
func TestJSONLinesPartialLine(t *testing.T) {
	a := jsonAccess("alice", 1)
	n := int64(len(a))
	at := func(i int64) string { return "@" + itoa(i) }
	cut := []string{"2: invalid JSON: unexpected end of line"}
	cases := map[string][]jsonStep{
		"complete, then its line end, then more": {
			{body: a + `{"user_id":"bob","access_time":10}`, updates: []string{"+alice|1@0", "+bob|10" + at(n)}, partial: n},
			{body: a + `{"user_id":"bob","access_time":10}  `, partial: n},
			{body: a + `{"user_id":"bob","access_time":10}  ` + "\r\n" + a, updates: []string{"+alice|1" + at(n+38)}},
		},
		"cut in a number, a string, an escape, a literal": {
			{body: a + `{"user_id":"bob","access_time":1`, updates: []string{"+alice|1@0"}, unfinished: cut},
			{body: a + `{"user_id":"bob","access_time":10`, unfinished: cut},
			{body: a + `{"user_id":"bob","access_time":10,"x":"h\u00`, unfinished: cut},
			{body: a + `{"user_id":"bob","access_time":10,"x":"h\u00e9\`, unfinished: cut},
			{body: a + `{"user_id":"bob","access_time":10,"x":"h\u00e9\n","y":tr`, unfinished: cut},
			{body: a + `{"user_id":"bob","access_time":10,"x":"h\u00e9\n","y":true}`, updates: []string{"+bob|10" + at(n)}, partial: n},
			{body: a + `{"user_id":"bob","access_time":10,"x":"h\u00e9\n","y":true}` + "\n", partial: 0},
		},
		"cut inside a UTF-8 character, after blank lines": {
			{body: a + "\n \n{\"user_id\":\"b\xc3", updates: []string{"+alice|1@0"}, unfinished: []string{"4: invalid JSON: unexpected end of line"}},
			{body: a + "\n \n{\"user_id\":\"b\xc3\xa9\",\"access_time\":5}", updates: []string{"+bé|5" + at(n+3)}, partial: n + 3},
		},
		"bad when complete, skipped": {
			{body: a + `{"user_id":"bob","access_time":"10"}`, updates: []string{"+alice|1@0"}, partial: n},
			{body: a + `{"user_id":"bob","access_time":"10"}` + "\n" + a, updates: []string{"+alice|1" + at(n+37)}},
		},
		"the first line": {
			{body: `{"user_id":"bob"`, unfinished: []string{"1: invalid JSON: unexpected end of line"}},
			{body: `{"user_id":"bob","access_time":2}`, updates: []string{"+bob|2@0"}},
			{body: `{"user_id":"bob","access_time":2}` + "\n" + a, updates: []string{"+alice|1@34"}},
		},
		"a byte order mark cut short": {
			{body: "\xef\xbb"},
			{body: "\ufeff" + a, updates: []string{"+alice|1@0"}},
		},
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			if name == "bad when complete, skipped" {
				readJSONStepsSkipping(t, steps)
				return
			}
			readJSONSteps(t, steps)
		})
	}
}

// readJSONStepsSkipping is readJSONSteps for steps with a bad line, read
// with OnBadRow: the line is reported at each read that reaches it.
func readJSONStepsSkipping(t *testing.T, steps []jsonStep) {
	t.Helper()
	dir := t.TempDir()
	var reported []string
	src := &JSONLinesDir{Name: "s", Dir: dir, Schema: accessSchema, OnBadRow: func(e *InputError) { reported = append(reported, e.Error()) }}
	states := map[string]FileState{}
	for i, s := range steps {
		writeStep(t, dir, i, s.body)
		got := drain(t, openJSON(t, src, cloneStates(states)), 0, states)
		if g := show(t, got, "a.jsonl", len(s.body)); !slices.Equal(g, s.updates) {
			t.Fatalf("step %d: updates %q, want %q", i, g, s.updates)
		}
		if st := states["a.jsonl"]; st.Partial != s.partial || len(reported) != i+1 {
			t.Fatalf("step %d: state %+v, reported %q", i, st, reported)
		}
		checkSum(t, s.body, states["a.jsonl"])
	}
}

// TestJSONLinesPartialLineRewritten: a partial line that changed rather
// than grew, or a first line continued by more than its line end, is a
// *ChangedFileError.
func TestJSONLinesPartialLineRewritten(t *testing.T) {
	a := jsonAccess("alice", 1)
	for _, c := range []struct{ before, after string }{
		{a + `{"user_id":"bob","access_time":10}`, a + `{"user_id":"bob","access_time":11}` + "\n"},
		{a + `{"user_id":"bob","access_time":10}`, a + `{"user_id":"bob","access_time":10` + "\n"},
		{`{"user_id":"bob","access_time":10}`, `{"user_id":"bob","access_time":10} ` + "\n"},
	} {
		dir := t.TempDir()
		path := writeFile(t, dir, "a.jsonl", c.before)
		src := &JSONLinesDir{Name: "s", Dir: dir, Schema: accessSchema}
		states := map[string]FileState{}
		drain(t, openJSON(t, src, nil), 0, states)
		writeFile(t, dir, "a.jsonl", c.after)
		touch(t, path, states["a.jsonl"], time.Second)
		var ce *ChangedFileError
		if _, err := src.Open(states); !errors.As(err, &ce) || ce.Path != "a.jsonl" {
			t.Fatalf("%q after %q: %v, want a ChangedFileError", c.after, c.before, err)
		}
	}
}

// TestJSONLinesChangedFile: the changed-file rules are CSVDir's: a file
// rewritten (in its first 4 KiB or after them, at the same size or not)
// or truncated is a *ChangedFileError; one only touched is not read again
// and lines appended after the touch are.
func TestJSONLinesChangedFile(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 3*headSize; i++ {
		b.WriteString(jsonAccess("u"+itoa(int64(i%10)), int64(i)))
	}
	body := b.String()
	late := strings.LastIndex(body, `"u`) + 2 // a user digit after the head
	for name, after := range map[string]string{
		"truncated":         body[:len(body)/2],
		"head rewritten":    strings.Replace(body, "u0", "u9", 1),
		"rewritten after":   body[:late] + "x" + body[late+1:],
		"rewritten, longer": body[:late] + "x" + body[late+1:] + jsonAccess("late", 1),
	} {
		dir := t.TempDir()
		path := writeFile(t, dir, "a.jsonl", body)
		src := &JSONLinesDir{Name: "s", Dir: dir, Schema: accessSchema}
		states := map[string]FileState{}
		drain(t, openJSON(t, src, nil), 0, states)
		writeFile(t, dir, "a.jsonl", after)
		touch(t, path, states["a.jsonl"], time.Second)
		var ce *ChangedFileError
		if _, err := src.Open(cloneStates(states)); !errors.As(err, &ce) || ce.Path != "a.jsonl" {
			t.Fatalf("%s: %v, want a ChangedFileError", name, err)
		}
	}

	dir := t.TempDir()
	path := writeFile(t, dir, "a.jsonl", body)
	src := &JSONLinesDir{Name: "s", Dir: dir, Schema: accessSchema}
	states := map[string]FileState{}
	drain(t, openJSON(t, src, nil), 0, states)
	touch(t, path, states["a.jsonl"], time.Second)
	if got := drain(t, openJSON(t, src, cloneStates(states)), 0, states); len(got) != 0 {
		t.Fatalf("touched: %d rows read again", len(got))
	}
	if r := openJSON(t, src, cloneStates(states)); len(r.opened) != 0 {
		t.Fatalf("after the touch's state: opened %v", r.opened)
	}
	appendFile(t, dir, "a.jsonl", jsonAccess("late", 5))
	got := drain(t, openJSON(t, src, cloneStates(states)), 0, states)
	if g := show(t, got, "a.jsonl", len(body)+1); !slices.Equal(g, []string{"+late|5@" + strconv.Itoa(len(body))}) {
		t.Fatalf("appended after a touch: %q", g)
	}
	checkSum(t, body+jsonAccess("late", 5), states["a.jsonl"])
}

// TestJSONLinesFiles: only regular *.jsonl files are read, subdirectories
// and a linked directory included, in path order; Counts tells each
// file's updates, a completed partial line's retraction among them, and
// Deleted the files gone.
func TestJSONLinesFiles(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "in")
	writeFile(t, dir, "b.jsonl", jsonAccess("b", 1)+`{"user_id":"b","access_time":2}`)
	writeFile(t, dir, "a/z.jsonl", jsonAccess("az", 1))
	writeFile(t, dir, "a.jsonl", jsonAccess("a", 1))
	writeFile(t, dir, "c.json", jsonAccess("no", 1))
	writeFile(t, dir, "d.jsonl.tmp", jsonAccess("no", 1))
	writeFile(t, dir, "e.csv", "user_id,access_time\nno,1\n")
	link := filepath.Join(base, "link")
	if err := os.Symlink("in", link); err != nil {
		t.Skipf("no symbolic links: %v", err)
	}
	src := &JSONLinesDir{Name: "s", Dir: link, Schema: accessSchema}
	states := map[string]FileState{}
	r := openJSON(t, src, nil)
	us, sts, err := r.Next(3)
	if err != nil || len(us) != 3 || !slices.Equal(r.Counts(), []int{1, 1, 1}) || sts[2].Path != "b.jsonl" {
		t.Fatalf("Next(3): %v, %+v, counts %v, %v", rowStrings(us), sts, r.Counts(), err)
	}
	for _, st := range sts {
		states[st.Path] = st
	}
	us = drain(t, r, 0, states)
	if len(us) != 1 || us[0].Row[0].AsString() != "b" || len(states) != 3 {
		t.Fatalf("rest: %v, states %+v", rowStrings(us), states)
	}

	appendFile(t, dir, "b.jsonl", "\n")
	appendFile(t, dir, "a.jsonl", jsonAccess("a", 2))
	os.Remove(filepath.Join(dir, "a", "z.jsonl"))
	writeFile(t, dir, "b.jsonl", jsonAccess("b", 1)+`{"user_id":"b","access_time":2, "more": 1}`)
	touch(t, filepath.Join(dir, "b.jsonl"), states["b.jsonl"], time.Second)
	if _, err := src.Open(cloneStates(states)); err == nil {
		t.Fatal("a partial line rewritten: no error")
	}
	writeFile(t, dir, "b.jsonl", jsonAccess("b", 1)+`{"user_id":"b","access_time":2}  `+"\n"+jsonAccess("b", 3))
	r = openJSON(t, src, cloneStates(states))
	if !slices.Equal(r.Deleted(), []string{"a/z.jsonl"}) {
		t.Fatalf("Deleted() = %v", r.Deleted())
	}
	us, sts, err = r.Next(0)
	if err != nil || len(us) != 2 || len(sts) != 2 || !slices.Equal(r.Counts(), []int{1, 1}) {
		t.Fatalf("after appends: %v, %+v, counts %v, %v", rowStrings(us), sts, r.Counts(), err)
	}
	if _, _, err := r.Next(0); !errors.Is(err, io.EOF) {
		t.Fatalf("at the end: %v", err)
	}
}

// TestJSONLinesStreaming: a streaming reader takes complete lines only
// until the file has been quiet for PartialLineTimeout; it then reads a
// last line without a line end, retracted when the line goes on.
func TestJSONLinesStreaming(t *testing.T) {
	dir := t.TempDir()
	src := &JSONLinesDir{Name: "s", Dir: dir, Schema: accessSchema, Streaming: true, PartialLineTimeout: time.Minute}
	a := jsonAccess("alice", 1)
	path := writeFile(t, dir, "a.jsonl", a+`{"user_id":"bob","access_time":10}`)
	states := map[string]FileState{}
	r := openJSON(t, src, nil)
	if us := drain(t, r, 0, states); len(us) != 1 || len(r.Unfinished()) != 0 {
		t.Fatalf("fresh: %v, unfinished %v", rowStrings(us), r.Unfinished())
	}
	if st := states["a.jsonl"]; st.Offset != int64(len(a)) || st.Partial != 0 {
		t.Fatalf("state %+v", st)
	}
	old := time.Now().Add(-2 * time.Minute)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	us := drain(t, openJSON(t, src, cloneStates(states)), 0, states)
	if len(us) != 1 || us[0].Row[1].AsInt() != 10 || states["a.jsonl"].Partial != int64(len(a)) {
		t.Fatalf("quiet partial line: %v, state %+v", rowStrings(us), states["a.jsonl"])
	}
	writeFile(t, dir, "a.jsonl", a+`{"user_id":"bob","access_time":10} `+"\n"+`{"user_id":"carol"`)
	us = drain(t, openJSON(t, src, cloneStates(states)), 0, states)
	if len(us) != 0 || states["a.jsonl"].Partial != 0 {
		t.Fatalf("completed line: %v, state %+v", rowStrings(us), states["a.jsonl"])
	}
	appendFile(t, dir, "a.jsonl", `,"access_time":3}`+"\n")
	us = drain(t, openJSON(t, src, cloneStates(states)), 0, states)
	if len(us) != 1 || us[0].Row[0].AsString() != "carol" {
		t.Fatalf("completed line: %v", rowStrings(us))
	}
}

// TestJSONLinesSchemaChecks: schemas the reader cannot fill are refused.
func TestJSONLinesSchemaChecks(t *testing.T) {
	dir := t.TempDir()
	for _, s := range []differential.Schema{nil, {{Name: "a", Type: differential.KindBytes}}} {
		if _, err := (&JSONLinesDir{Name: "s", Dir: dir, Schema: s}).Open(nil); err == nil {
			t.Errorf("schema %v: no error", s)
		}
	}
}

// BenchmarkNextJSONLines reads a million tutorial-shaped lines.
func BenchmarkNextJSONLines(b *testing.B) {
	const n = 1_000_000
	dir := b.TempDir()
	var buf []byte
	for i := range n {
		buf = append(buf, `{"user_id":"user`...)
		buf = strconv.AppendInt(buf, int64(i%1000), 10)
		buf = append(buf, `","access_time":`...)
		buf = strconv.AppendInt(buf, 1701102730+int64(i), 10)
		buf = append(buf, "}\n"...)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.jsonl"), buf, 0o644); err != nil {
		b.Fatal(err)
	}
	src := &JSONLinesDir{Name: "s", Dir: dir, Schema: accessSchema}
	benchRead(b, src, n, 1000, int64(len(buf)))
}
