package sources

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/pwlog/pwlog/differential"
)

// keyAt returns the key of a row of src's file path starting at byte off.
func keyAt(src, path string, off int) differential.Key {
	h := differential.NewHasher("csv")
	h.String(src)
	h.String(path)
	h.Uint64(uint64(off))
	return h.Key()
}

// show formats updates as "+row@offset" or "-row@offset": the row's
// values joined by "|", the offset the one its key names (among the
// offsets of a file of size bytes of source "s").
func show(t testing.TB, us []differential.Update, path string, size int) []string {
	t.Helper()
	offsets := map[differential.Key]int{}
	for off := 0; off <= size; off++ {
		offsets[keyAt("s", path, off)] = off
	}
	var out []string
	for _, u := range us {
		off, ok := offsets[u.Key]
		if !ok {
			t.Fatalf("key %d of %v is no row offset", u.Key, u.Row)
		}
		var vals []string
		for _, v := range u.Row {
			vals = append(vals, v.String())
		}
		sign := "+"
		if u.Diff < 0 {
			sign = "-"
		}
		if u.Diff != 1 && u.Diff != -1 {
			t.Fatalf("diff %d", u.Diff)
		}
		out = append(out, sign+strings.Join(vals, "|")+"@"+strconv.Itoa(off))
	}
	return out
}

// partialStep is the file's whole content at one read, and what the read
// gives: the updates (show's format), the unfinished lines (as errors
// after "<file>:"), and the state's Partial (-1: do not check).
type partialStep struct {
	body       string
	updates    []string
	unfinished []string
	partial    int64
}

// runSteps writes each step's body in turn (each a continuation of the
// one before), reads what is new, and checks it; each read is done whole
// and with Next(1). It returns the final states.
func runSteps(t *testing.T, schema differential.Schema, steps []partialStep) map[string]FileState {
	t.Helper()
	states := map[string]FileState{}
	for _, limit := range []int{0, 1} {
		dir := t.TempDir()
		src := &CSVDir{Name: "s", Dir: dir, Schema: schema}
		states = map[string]FileState{}
		var all []differential.Update
		for i, s := range steps {
			path := writeFile(t, dir, "a.csv", s.body)
			later := time.Now().Add(time.Duration(i) * time.Second)
			os.Chtimes(path, later, later)
			r := open(t, src, cloneStates(states))
			got := drain(t, r, limit, states)
			all = append(all, got...)
			if g := show(t, got, "a.csv", len(s.body)); !slices.Equal(g, s.updates) {
				t.Fatalf("limit %d, step %d (%q): updates %q, want %q", limit, i, s.body, g, s.updates)
			}
			var unf []string
			for _, e := range r.Unfinished() {
				unf = append(unf, strings.TrimPrefix(e.Error(), path+":"))
			}
			if !slices.Equal(unf, s.unfinished) {
				t.Fatalf("limit %d, step %d (%q): unfinished %q, want %q", limit, i, s.body, unf, s.unfinished)
			}
			st := states["a.csv"]
			if s.partial >= 0 && st.Partial != s.partial {
				t.Fatalf("limit %d, step %d (%q): state %+v, want Partial %d", limit, i, s.body, st, s.partial)
			}
			if st.Partial > 0 && st.PartialHash != headHash([]byte(s.body[st.Partial:])) {
				t.Fatalf("limit %d, step %d: PartialHash of %+v", limit, i, st)
			}
			// The state is the one a full read of the file gives, and
			// all updates so far add up to the full read's rows.
			whole := map[string]FileState{}
			full := drain(t, open(t, src, nil), 0, whole)
			if w := whole["a.csv"]; st != w {
				t.Fatalf("limit %d, step %d (%q): state %+v, a full read's %+v", limit, i, s.body, st, w)
			}
			if !slices.Equal(net(all), net(full)) {
				t.Fatalf("limit %d, step %d (%q): the updates add up to %v, a full read gives %v", limit, i, s.body, net(all), net(full))
			}
			r.Close()
		}
	}
	return states
}

// TestPartialLineCompleted: a last line without a line end is read; when
// the file grows from it, its row is retracted and the completed line's
// row read under the same key, wherever the line was cut.
func TestPartialLineCompleted(t *testing.T) {
	const h = "user_id,access_time\n"
	const hr = "access_time,user_id\n" // the string last
	cases := []struct {
		name   string
		schema differential.Schema
		steps  []partialStep
	}{
		{"inside a field", accessSchema, []partialStep{
			{body: h + "alice,1\nbob,10", updates: []string{"+alice|1@20", "+bob|10@28"}, partial: 28},
			{body: h + "alice,1\nbob,1005\n", updates: []string{"-bob|10@28", "+bob|1005@28"}, partial: 0},
		}},
		{"only the line end", accessSchema, []partialStep{
			{body: h + "bob,10", updates: []string{"+bob|10@20"}, partial: 20},
			{body: h + "bob,10\r", partial: 20},
			{body: h + "bob,10\r\n", partial: 0},
			{body: h + "bob,10\r\nalice,2\n", updates: []string{"+alice|2@28"}, partial: 0},
		}},
		{"in steps, then more rows", accessSchema, []partialStep{
			{body: h + "bob,1", updates: []string{"+bob|1@20"}, partial: 20},
			{body: h + "bob,10", updates: []string{"-bob|1@20", "+bob|10@20"}, partial: 20},
			{body: h + "bob,1005\nalice,3\ncarol", updates: []string{"-bob|10@20", "+bob|1005@20", "+alice|3@29"},
				unfinished: []string{"4: expected 2 fields, got 1"}, partial: 0},
			{body: h + "bob,1005\nalice,3\ncarol,4", updates: []string{"+carol|4@37"}, partial: 37},
		}},
		{"after blank lines", accessSchema, []partialStep{
			{body: h + "\n\r\nbob,1", updates: []string{"+bob|1@23"}, partial: 23},
			{body: h + "\n\r\nbob,12\n\n", updates: []string{"-bob|1@23", "+bob|12@23"}, partial: 0},
		}},
		{"inside a quoted string", accessSchema, []partialStep{
			{body: hr + "1,\"bo", unfinished: []string{"2: column 2 (user_id): quoted field is not terminated before the end of the file"}, partial: 0},
			{body: hr + "1,\"bob, \"\"jr\"", updates: []string{`+bob, "jr|1@20`}, partial: 20},
			{body: hr + "1,\"bob, \"\"jr\"\"\"", updates: []string{`-bob, "jr|1@20`, `+bob, "jr"|1@20`}, partial: 20},
			{body: hr + "1,\"bob, \"\"jr\"\"\"\"\nand\"\n", updates: []string{`-bob, "jr"|1@20`, "+bob, \"jr\"\"\nand|1@20"}, partial: 0},
		}},
		{"inside a multi-line quoted string", accessSchema, []partialStep{
			{body: hr + "1,\"one\ntw", unfinished: []string{"2: column 2 (user_id): quoted field is not terminated before the end of the file"}, partial: 0},
			{body: hr + "1,\"one\ntwo\"", updates: []string{"+one\ntwo|1@20"}, partial: 20},
			{body: hr + "1,\"one\ntwo\"\r\n2,x\n", updates: []string{"+x|2@33"}, partial: 0},
		}},
		{"inside a UTF-8 character", accessSchema, []partialStep{
			{body: hr + "1,h\xc3", unfinished: []string{"2: column 2 (user_id): invalid UTF-8"}, partial: 0},
			{body: hr + "1,h\xc3\xa9", updates: []string{"+hé|1@20"}, partial: 20},
			{body: hr + "1,h\xc3\xa9\xe2\x82", updates: []string{"-hé|1@20"}, unfinished: []string{"2: column 2 (user_id): invalid UTF-8"}, partial: 0},
			{body: hr + "1,h\xc3\xa9\xe2\x82\xac\n", updates: []string{"+hé€|1@20"}, partial: 0},
		}},
		{"a float", typedSchema, []partialStep{
			{body: "s,i,b,f\nx,1,true,1e", unfinished: []string{`2: column 4 (f): invalid float "1e"`}, partial: 0},
			{body: "s,i,b,f\nx,1,true,1e3", updates: []string{"+x|1|1000.0|True@8"}, partial: 8},
			{body: "s,i,b,f\nx,1,true,1e3\ny,2,false,-In", unfinished: []string{`3: column 4 (f): invalid float "-In"`}, partial: 0},
			{body: "s,i,b,f\nx,1,true,1e3\ny,2,false,-Inf\n", updates: []string{"+y|2|-inf|False@21"}, partial: 0},
		}},
		{"a bool", typedSchema, []partialStep{
			{body: "s,i,f,b\nx,1,1.5,tr", unfinished: []string{`2: column 4 (b): invalid bool "tr"`}, partial: 0},
			{body: "s,i,f,b\nx,1,1.5,true\n", updates: []string{"+x|1|1.5|True@8"}, partial: 0},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runSteps(t, c.schema, c.steps) })
	}
}

// TestPartialLineDoesNotParse: a last line without a line end that does
// not parse yet is left unread, without an error or a report, and read
// once complete; bad input that no continuation can mend is an error as
// on any line.
func TestPartialLineDoesNotParse(t *testing.T) {
	const h = "user_id,access_time\n"
	for _, c := range []struct{ partial, rest, unfinished string }{
		{"bob,", "5\n", `3: column 2 (access_time): invalid int ""`},
		{"bob,-", "5\n", `3: column 2 (access_time): invalid int "-"`},
		{"bob", ",5\n", `3: expected 2 fields, got 1`},
		{"bob,\"", "5\"\n", `3: column 2 (access_time): quoted field is not terminated before the end of the file`},
		{"bob,\"5", "\"\r\n", `3: column 2 (access_time): quoted field is not terminated before the end of the file`},
	} {
		dir := t.TempDir()
		var reported []string
		src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
		skipping := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema, OnBadRow: func(e *InputError) { reported = append(reported, e.Error()) }}
		path := writeFile(t, dir, "a.csv", h+"alice,1\n"+c.partial)
		for _, s := range []*CSVDir{src, skipping} {
			states := map[string]FileState{}
			r := open(t, s, nil)
			got := drain(t, r, 0, states)
			if g := show(t, got, "a.csv", 100); !slices.Equal(g, []string{"+alice|1@20"}) {
				t.Fatalf("%q: %q", c.partial, g)
			}
			unf := r.Unfinished()
			if len(unf) != 1 || unf[0].Error() != path+":"+c.unfinished {
				t.Fatalf("%q: unfinished %v", c.partial, unf)
			}
			if st := states["a.csv"]; st.Offset != 28 || st.Line != 2 || st.Rows != 1 || st.Partial != 0 {
				t.Fatalf("%q: state %+v", c.partial, st)
			}
			if len(reported) > 0 {
				t.Fatalf("%q: reported %q", c.partial, reported)
			}
			appendFile(t, dir, "a.csv", c.rest)
			got = drain(t, open(t, s, cloneStates(states)), 0, states)
			if len(got) != 1 || max(got[0].Row[1].AsInt(), -got[0].Row[1].AsInt()) != 5 || got[0].Key != keyAt("s", "a.csv", 28) || len(reported) > 0 {
				t.Fatalf("%q completed: %v, reported %q", c.partial, rowStrings(got), reported)
			}
			writeFile(t, dir, "a.csv", h+"alice,1\n"+c.partial)
		}
	}

	// A header not complete yet: the file waits, without an error.
	dir := t.TempDir()
	path := writeFile(t, dir, "a.csv", "user_id,acc")
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
	states := map[string]FileState{}
	r := open(t, src, nil)
	if got := drain(t, r, 0, states); len(got) != 0 {
		t.Fatalf("rows %v", rowStrings(got))
	}
	if unf := r.Unfinished(); len(unf) != 1 || !errors.Is(unf[0], ErrBadHeader) || unf[0].File != path {
		t.Fatalf("unfinished %v", unf)
	}
	if st := states["a.csv"]; st.Offset != 0 || st.Rows != 0 {
		t.Fatalf("state %+v", st)
	}
	appendFile(t, dir, "a.csv", "ess_time\nbob,1\n")
	if got := drain(t, open(t, src, cloneStates(states)), 0, states); len(got) != 1 || got[0].Row[0].AsString() != "bob" {
		t.Fatalf("rows %v", rowStrings(got))
	}

	// Bad for good: a continuation cannot mend these.
	for _, body := range []string{h + "bob,1x", h + "bob,1,", h + "b\xffb,1", h + "bob,\"1\"x", h + "bob,\"1x\"", h + "bob,99999999999999999999"} {
		writeFile(t, dir, "a.csv", body)
		_, _, err := open(t, src, nil).Next(0)
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Fatalf("%q: %v, want an *InputError", body, err)
		}
	}
}

// TestPartialLineBadWhenComplete: a partial line whose completed line is
// bad fails the read (nothing returned), or, skipped, only retracts.
func TestPartialLineBadWhenComplete(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.csv", "user_id,access_time\nbob,10")
	var reported []string
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
	skipping := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema, OnBadRow: func(e *InputError) { reported = append(reported, e.Error()) }}
	states := map[string]FileState{}
	drain(t, open(t, src, nil), 0, states)
	appendFile(t, dir, "a.csv", "x\nalice,2\n")
	us, sts, err := open(t, src, cloneStates(states)).Next(0)
	var ie *InputError
	if !errors.As(err, &ie) || ie.Line != 2 || ie.Column != 2 || us != nil || sts != nil {
		t.Fatalf("got %v, %v, %v; want an error on line 2, column 2", us, sts, err)
	}
	got := drain(t, open(t, skipping, cloneStates(states)), 0, states)
	if g := show(t, got, "a.csv", 40); !slices.Equal(g, []string{"-bob|10@20", "+alice|2@28"}) {
		t.Fatalf("skipping: %q", g)
	}
	if len(reported) != 1 || !strings.HasSuffix(reported[0], `:2: column 2 (access_time): invalid int "10x"`) {
		t.Fatalf("reported %q", reported)
	}
	if st := states["a.csv"]; st.Rows != 1 || st.Line != 3 || st.Partial != 0 {
		t.Fatalf("state %+v", st)
	}

	// A bad partial line, skipped, then continued: reported again when
	// complete, nothing to retract.
	reported = nil
	writeFile(t, dir, "a.csv", "user_id,access_time\nbob,1x")
	states = map[string]FileState{}
	if got := drain(t, open(t, skipping, nil), 0, states); len(got) != 0 || len(reported) != 1 || states["a.csv"].Partial != 20 {
		t.Fatalf("rows %v, reported %q, state %+v", rowStrings(got), reported, states["a.csv"])
	}
	appendFile(t, dir, "a.csv", "5\ncarol,3\n")
	got = drain(t, open(t, skipping, cloneStates(states)), 0, states)
	if g := show(t, got, "a.csv", 40); !slices.Equal(g, []string{"+carol|3@28"}) || len(reported) != 2 {
		t.Fatalf("rows %q, reported %q", g, reported)
	}
	if st := states["a.csv"]; st.Rows != 1 || st.Line != 3 || st.Partial != 0 {
		t.Fatalf("state %+v", st)
	}
}

// TestPartialLineChanged: a file that grew but whose partial line changed
// (not a pure append) is a *ChangedFileError, also beyond the first 4 KiB
// that FileState.Head covers, and also at the same size.
func TestPartialLineChanged(t *testing.T) {
	var long strings.Builder
	long.WriteString("user_id,access_time\n")
	for i := 0; long.Len() < 5000; i++ {
		long.WriteString("u" + strconv.Itoa(i) + "," + strconv.Itoa(i) + "\n")
	}
	for _, prefix := range []string{"user_id,access_time\n", long.String()} {
		for _, after := range []string{"bob,20\n", "bob,2", "bob,20", "bob,1", "BOB,10\n"} {
			dir := t.TempDir()
			path := writeFile(t, dir, "a.csv", prefix+"bob,10")
			src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
			states := map[string]FileState{}
			drain(t, open(t, src, nil), 0, states)
			writeFile(t, dir, "a.csv", prefix+after)
			later := time.Now().Add(time.Hour)
			os.Chtimes(path, later, later)
			_, err := src.Open(states)
			var ce *ChangedFileError
			if !errors.As(err, &ce) || ce.Path != "a.csv" {
				t.Fatalf("prefix %d bytes, %q: %v, want a ChangedFileError", len(prefix), after, err)
			}
		}
	}
}

// TestOldStateWithoutPartial: a state written before FileState.Partial
// existed decodes with Partial 0 and behaves as then: a line end appended
// ends its last row, a continuation is a *ChangedFileError. A state
// without a partial line encodes as before.
func TestOldStateWithoutPartial(t *testing.T) {
	type oldFileState struct {
		Path    string `msgpack:"p"`
		Size    int64  `msgpack:"s"`
		ModTime int64  `msgpack:"m"`
		Head    uint64 `msgpack:"h"`
		Offset  int64  `msgpack:"o"`
		Line    int64  `msgpack:"l"`
		Rows    int64  `msgpack:"r"`
	}
	dir := t.TempDir()
	body := "user_id,access_time\nbob,10"
	writeFile(t, dir, "a.csv", body)
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
	states := map[string]FileState{}
	drain(t, open(t, src, nil), 0, states)
	st := states["a.csv"]
	old := oldFileState{Path: st.Path, Size: st.Size, ModTime: st.ModTime, Head: st.Head, Offset: st.Offset, Line: st.Line, Rows: st.Rows}
	b, err := msgpack.Marshal(&old)
	if err != nil {
		t.Fatal(err)
	}
	var decoded FileState
	if err := msgpack.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	want := st
	want.Partial, want.PartialHash, want.Sum = 0, 0, 0
	if decoded != want {
		t.Fatalf("decoded %+v, want %+v", decoded, want)
	}
	if again, err := msgpack.Marshal(&decoded); err != nil || !bytes.Equal(again, b) {
		t.Fatalf("a state without Partial encodes as %x, before %x (%v)", again, b, err)
	}
	if st.Partial != 20 {
		t.Fatalf("new state %+v, want Partial 20", st)
	}

	// A line end appended: the old row stays, the rest is read.
	prev := map[string]FileState{"a.csv": decoded}
	appendFile(t, dir, "a.csv", "\r\nalice,2\n")
	got := drain(t, open(t, src, cloneStates(prev)), 0, prev)
	if g := show(t, got, "a.csv", 40); !slices.Equal(g, []string{"+alice|2@28"}) {
		t.Fatalf("after a line end: %q", g)
	}
	// A continuation: changed, as before.
	writeFile(t, dir, "a.csv", body+"5\n")
	var ce *ChangedFileError
	if _, err := src.Open(map[string]FileState{"a.csv": decoded}); !errors.As(err, &ce) {
		t.Fatalf("continued: %v, want a ChangedFileError", err)
	}
	// The same continuation from the new state: retracted and read again.
	got = drain(t, open(t, src, map[string]FileState{"a.csv": st}), 0, map[string]FileState{})
	if g := show(t, got, "a.csv", 40); !slices.Equal(g, []string{"-bob|10@20", "+bob|105@20"}) {
		t.Fatalf("from the new state: %q", g)
	}
}

// TestPartialLineLimit: the retraction and the completed line's row come
// in the same call, one over the limit, and the file's updates are
// counted together.
func TestPartialLineLimit(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.csv", "user_id,access_time\nbob,10")
	writeFile(t, dir, "b.csv", "user_id,access_time\ncarol,1\n")
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
	states := map[string]FileState{}
	drain(t, open(t, src, nil), 0, states)
	appendFile(t, dir, "a.csv", "5\ndave,4\n")
	appendFile(t, dir, "b.csv", "erin,2\n")
	r := open(t, src, cloneStates(states))
	defer r.Close()
	us, sts, err := r.Next(1)
	if err != nil {
		t.Fatal(err)
	}
	if g := show(t, us, "a.csv", 40); !slices.Equal(g, []string{"-bob|10@20", "+bob|105@20"}) || len(sts) != 1 || !slices.Equal(r.Counts(), []int{2}) {
		t.Fatalf("Next(1): %q, states %+v, counts %v", g, sts, r.Counts())
	}
	if sts[0].Rows != 1 || sts[0].Partial != 0 || sts[0].Offset != int64(len("user_id,access_time\nbob,105\n")) {
		t.Fatalf("state %+v", sts[0])
	}
	us, sts, err = r.Next(0)
	if err != nil || len(us) != 2 || !slices.Equal(r.Counts(), []int{1, 1}) || len(sts) != 2 {
		t.Fatalf("Next(0): %v, %+v, counts %v, %v", rowStrings(us), sts, r.Counts(), err)
	}
}
