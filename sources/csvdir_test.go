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

var typedSchema = differential.Schema{
	{Name: "s", Type: differential.KindString},
	{Name: "i", Type: differential.KindInt},
	{Name: "f", Type: differential.KindFloat},
	{Name: "b", Type: differential.KindBool},
}

// TestHeaderMappingAndTypes: the header maps file columns to the schema in
// any order, every type parses, and quoted strings come back exactly.
func TestHeaderMappingAndTypes(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "x.csv", "b,f,s,i\n"+
		"true,1.5,plain,1\n"+
		"True,-2e3,\"with, comma\",-7\n"+
		"1,0,\"say \"\"hi\"\"\",9223372036854775807\n"+
		"false,1e-300,\"two\nlines\",0\n"+
		"False,+Inf,\"\",-9223372036854775808\n"+
		"0,3,\"crlf\r\ninside\",42\r\n"+
		"0,4,héllo,5")
	r := open(t, &CSVDir{Name: "src", Dir: dir, Schema: typedSchema}, nil)
	defer r.Close()
	got := drain(t, r, 0, map[string]FileState{})
	row := func(s string, i int64, f float64, b bool) differential.Row {
		return differential.Row{differential.String(s), differential.Int(i), differential.Float(f), differential.Bool(b)}
	}
	want := []differential.Row{
		row("plain", 1, 1.5, true),
		row("with, comma", -7, -2000, true),
		row(`say "hi"`, math.MaxInt64, 0, true),
		row("two\nlines", 0, 1e-300, false),
		row("", math.MinInt64, math.Inf(1), false),
		row("crlf\ninside", 42, 3, false),
		row("héllo", 5, 4, false),
	}
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d: %v", len(got), len(want), rowStrings(got))
	}
	for i := range want {
		if !got[i].Row.Equal(want[i]) || got[i].Diff != 1 || got[i].Time != 0 {
			t.Errorf("row %d: got %v diff %d time %d, want %v", i, got[i].Row, got[i].Diff, got[i].Time, want[i])
		}
	}
}

// TestByteOrderMark: a UTF-8 byte order mark before the header is ignored.
func TestByteOrderMark(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "x.csv", "\ufeffuser_id,access_time\nbob,1\n")
	got := drain(t, open(t, &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}, nil), 0, map[string]FileState{})
	if len(got) != 1 || got[0].Row[0].AsString() != "bob" {
		t.Fatalf("rows %v", rowStrings(got))
	}
}

// TestKeys: keys are stable across Opens and unique across rows and files,
// even for equal rows and equal files.
func TestKeys(t *testing.T) {
	dir := t.TempDir()
	body := "user_id,access_time\nbob,1\nbob,1\nalice,2\n"
	writeFile(t, dir, "a.csv", body)
	writeFile(t, dir, "b.csv", body)
	src := &CSVDir{Name: "access", Dir: dir, Schema: accessSchema}
	first := drain(t, open(t, src, nil), 0, map[string]FileState{})
	second := drain(t, open(t, src, nil), 1, map[string]FileState{})
	if !slices.Equal(rowStrings(first), rowStrings(second)) {
		t.Fatalf("keys differ between Opens:\n%v\n%v", rowStrings(first), rowStrings(second))
	}
	keys := map[differential.Key]bool{}
	for _, u := range first {
		if keys[u.Key] {
			t.Fatalf("duplicate key %d in %v", u.Key, rowStrings(first))
		}
		keys[u.Key] = true
	}
	if len(keys) != 6 {
		t.Fatalf("got %d keys, want 6", len(keys))
	}
	// The key is the documented hash of name, path and row offset.
	h := differential.NewHasher("csv")
	h.String("access")
	h.String("b.csv")
	h.Uint64(uint64(len("user_id,access_time\nbob,1\n")))
	if first[4].Key != h.Key() {
		t.Fatalf("key of b.csv's second row: %d, want %d", first[4].Key, h.Key())
	}
	// Another source name gives other keys.
	other := drain(t, open(t, &CSVDir{Name: "other", Dir: dir, Schema: accessSchema}, nil), 0, map[string]FileState{})
	if other[0].Key == first[0].Key {
		t.Fatal("the source name is not part of the key")
	}
}

// makeDir writes files of n rows each, some with multi-line strings, and
// returns the directory.
func makeDir(t *testing.T, counts ...int) string {
	dir := t.TempDir()
	for f, n := range counts {
		var b strings.Builder
		b.WriteString("access_time,user_id\n")
		for i := 0; i < n; i++ {
			user := "u" + strconv.Itoa(i)
			if i%3 == 1 {
				user = "\"multi\nline " + strconv.Itoa(i) + "\""
			}
			if i%4 == 2 {
				b.WriteString("\n") // blank lines are skipped
			}
			b.WriteString(strconv.Itoa(f*1000+i) + "," + user + "\n")
		}
		writeFile(t, dir, "f"+strconv.Itoa(f)+".csv", b.String())
	}
	return dir
}

// TestResumeUnion: stopping after any number of rows and reopening with the
// returned states reads exactly the rest: the union equals a full read.
func TestResumeUnion(t *testing.T) {
	dir := makeDir(t, 5, 0, 7, 3)
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
	fullStates := map[string]FileState{}
	full := drain(t, open(t, src, nil), 0, fullStates)
	if len(full) != 15 {
		t.Fatalf("full read: %d rows, want 15", len(full))
	}
	for k := 1; k <= len(full); k++ {
		states := map[string]FileState{}
		r := open(t, src, nil)
		first, sts, err := r.Next(k)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		if len(first) != k {
			t.Fatalf("Next(%d): %d rows", k, len(first))
		}
		for _, st := range sts {
			states[st.Path] = st
		}
		rest := drain(t, open(t, src, cloneStates(states)), 2, states)
		got := append(first, rest...)
		if !slices.Equal(rowStrings(got), rowStrings(full)) {
			t.Fatalf("k=%d: resumed read differs:\n%v\nwant\n%v", k, rowStrings(got), rowStrings(full))
		}
		for p, st := range fullStates {
			if states[p] != st {
				t.Fatalf("k=%d: state of %s: %+v, want %+v", k, p, states[p], st)
			}
		}
	}
	// Everything read: a third Open reads nothing and opens nothing.
	r := open(t, src, fullStates)
	if us, sts, err := r.Next(10); !errors.Is(err, io.EOF) {
		t.Fatalf("after a full read: %d rows, %v, %v", len(us), sts, err)
	}
	if len(r.opened) != 0 {
		t.Fatalf("opened %v, want nothing", r.opened)
	}
}

// TestNextMaxAcrossFiles: limit counts rows across files, and the state of a
// file read in part resumes exactly there.
func TestNextMaxAcrossFiles(t *testing.T) {
	dir := makeDir(t, 3, 4, 5)
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
	r := open(t, src, nil)
	us, sts, err := r.Next(5)
	if err != nil || len(us) != 5 {
		t.Fatalf("Next(5): %d rows, %v", len(us), err)
	}
	if len(sts) != 2 || sts[0].Path != "f0.csv" || sts[1].Path != "f1.csv" {
		t.Fatalf("states: %+v", sts)
	}
	f0, _ := os.Stat(filepath.Join(dir, "f0.csv"))
	if sts[0].Offset != f0.Size() || sts[0].Rows != 3 || sts[0].Size != f0.Size() {
		t.Fatalf("f0 state %+v, want fully read (%d bytes, 3 rows)", sts[0], f0.Size())
	}
	if sts[1].Rows != 2 || sts[1].Offset >= sts[1].Size {
		t.Fatalf("f1 state %+v, want 2 rows read", sts[1])
	}
	// f1's second row spans two lines: header, u0, "multi\nline 1".
	if sts[1].Line != 4 {
		t.Fatalf("f1 state Line %d, want 4", sts[1].Line)
	}
	r.Close()
	prev := map[string]FileState{}
	for _, st := range sts {
		prev[st.Path] = st
	}
	r = open(t, src, prev)
	rest := drain(t, r, 0, prev)
	if len(rest) != 7 || rest[0].Row[1].AsInt() != 1002 {
		t.Fatalf("rest: %v", rowStrings(rest))
	}
	if slices.Contains(r.opened, "f0.csv") {
		t.Fatalf("f0.csv was read to its end but opened again: %v", r.opened)
	}
}

// TestLateOlderFile: a file that arrives later with an older modification
// time and a name sorting first is read.
func TestLateOlderFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "m.csv", "user_id,access_time\nbob,1\n")
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
	states := map[string]FileState{}
	if got := drain(t, open(t, src, nil), 0, states); len(got) != 1 {
		t.Fatalf("first read: %v", rowStrings(got))
	}
	p := writeFile(t, dir, "a.csv", "user_id,access_time\nalice,2\n")
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	got := drain(t, open(t, src, cloneStates(states)), 0, states)
	if len(got) != 1 || got[0].Row[0].AsString() != "alice" {
		t.Fatalf("late file: %v", rowStrings(got))
	}
	if st := states["a.csv"]; st.ModTime != old.UnixNano() || st.Rows != 1 {
		t.Fatalf("late file state %+v", st)
	}
}

// TestAppendedLines: lines appended to a known file are read, the old
// ones are not, and unchanged files are not opened at all.
func TestAppendedLines(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.csv", "user_id,access_time\nbob,1\n")
	writeFile(t, dir, "b.csv", "user_id,access_time\ncarol,3\n")
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
	states := map[string]FileState{}
	drain(t, open(t, src, nil), 0, states)
	appendFile(t, dir, "a.csv", "alice,2\ndave,4\n")
	r := open(t, src, cloneStates(states))
	got := drain(t, r, 0, states)
	if !slices.Equal(r.opened, []string{"a.csv", "a.csv"}) { // head check, then read
		t.Fatalf("opened %v, want a.csv only", r.opened)
	}
	if len(got) != 2 || got[0].Row[0].AsString() != "alice" || got[1].Row[0].AsString() != "dave" {
		t.Fatalf("appended rows: %v", rowStrings(got))
	}
	if st := states["a.csv"]; st.Rows != 3 || st.Line != 4 {
		t.Fatalf("a.csv state %+v, want 3 rows, 4 lines", st)
	}
	// The keys of appended rows are those of a full read.
	full := drain(t, open(t, src, nil), 0, map[string]FileState{})
	if full[1].Key != got[0].Key || full[2].Key != got[1].Key {
		t.Fatal("keys of appended rows differ from a full read's")
	}
}

// TestUnterminatedLastRow: a last line without a newline is a row; a
// newline appended later ends it, and a continuation replaces the row
// (partial_test.go has the details).
func TestUnterminatedLastRow(t *testing.T) {
	for _, nl := range []string{"\n", "\r\n"} {
		dir := t.TempDir()
		writeFile(t, dir, "a.csv", "user_id,access_time\nbob,1")
		src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
		states := map[string]FileState{}
		got := drain(t, open(t, src, nil), 0, states)
		if len(got) != 1 || got[0].Row[1].AsInt() != 1 || states["a.csv"].Line != 2 {
			t.Fatalf("rows %v, state %+v", rowStrings(got), states["a.csv"])
		}
		appendFile(t, dir, "a.csv", nl+"alice,2"+nl+"carol,x"+nl)
		_, _, err := open(t, src, cloneStates(states)).Next(0)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Line != 4 || ie.Column != 2 {
			t.Fatalf("after the newline: %v, want an error on line 4 column 2", err)
		}
		writeFile(t, dir, "a.csv", "user_id,access_time\nbob,1"+nl+"alice,2"+nl)
		got = drain(t, open(t, src, cloneStates(states)), 0, states)
		if len(got) != 1 || got[0].Row[0].AsString() != "alice" {
			t.Fatalf("after the newline: %v", rowStrings(got))
		}
		if st := states["a.csv"]; st.Line != 3 || st.Rows != 2 {
			t.Fatalf("state %+v, want 3 lines and 2 rows", st)
		}
		// The row's key is the one a full read of the file gives it.
		if full := drain(t, open(t, src, nil), 0, map[string]FileState{}); full[1].Key != got[0].Key {
			t.Fatal("the key of the row after the newline differs from a full read's")
		}
	}
	// The last row continued: retracted, and the completed one read.
	dir := t.TempDir()
	writeFile(t, dir, "a.csv", "user_id,access_time\nbob,1")
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
	states := map[string]FileState{}
	first := drain(t, open(t, src, nil), 0, states)
	appendFile(t, dir, "a.csv", "2\n")
	got := drain(t, open(t, src, cloneStates(states)), 0, states)
	if len(got) != 2 || got[0].Diff != -1 || !got[0].Row.Equal(first[0].Row) || got[0].Key != first[0].Key ||
		got[1].Diff != 1 || got[1].Row[1].AsInt() != 12 || got[1].Key != first[0].Key {
		t.Fatalf("continued last row: %v after %v", rowStrings(got), rowStrings(first))
	}
}

// TestBlankAndEmptyFiles: an empty file is known without being opened
// again; trailing blank lines are consumed; a header-only file is known.
func TestBlankAndEmptyFiles(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "empty.csv", "")
	writeFile(t, dir, "blank.csv", "\n\r\n\n")
	writeFile(t, dir, "header.csv", "user_id,access_time")
	writeFile(t, dir, "trail.csv", "\nuser_id,access_time\r\n\nbob,1\n\n\r\n\r")
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
	states := map[string]FileState{}
	got := drain(t, open(t, src, nil), 0, states)
	if len(got) != 1 {
		t.Fatalf("rows %v", rowStrings(got))
	}
	if len(states) != 4 {
		t.Fatalf("states %+v, want all four files", states)
	}
	if st := states["trail.csv"]; st.Offset != st.Size || st.Line != 7 || st.Rows != 1 {
		t.Fatalf("trail.csv state %+v, want all 7 lines consumed", st)
	}
	if st := states["header.csv"]; st.Offset != st.Size || st.Line != 1 {
		t.Fatalf("header.csv state %+v", st)
	}
	r := open(t, src, cloneStates(states))
	if _, _, err := r.Next(0); !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	// Only the blank file, which has no header yet, is looked at again.
	if !slices.Equal(r.opened, []string{"blank.csv", "blank.csv"}) {
		t.Fatalf("opened %v", r.opened)
	}
	appendFile(t, dir, "empty.csv", "user_id,access_time\nalice,2\n")
	appendFile(t, dir, "header.csv", "\ncarol,3\n")
	appendFile(t, dir, "trail.csv", "\ndave,x\n")
	r = open(t, src, cloneStates(states))
	_, _, err := r.Next(0)
	var ie *InputError
	if !errors.As(err, &ie) || ie.Line != 8 || !strings.HasSuffix(ie.File, "trail.csv") {
		t.Fatalf("got %v, want an error on trail.csv:8 (after the others' rows)", err)
	}
	os.Remove(filepath.Join(dir, "trail.csv"))
	got = drain(t, open(t, src, cloneStates(states)), 0, states)
	if len(got) != 2 || got[0].Row[0].AsString() != "alice" || got[1].Row[0].AsString() != "carol" {
		t.Fatalf("rows %v", rowStrings(got))
	}
}

// TestChangedFile: a known file rewritten or truncated is refused.
func TestChangedFile(t *testing.T) {
	cases := []struct {
		name, after string
	}{
		{"truncated", "user_id,access_time\n"},
		{"rewritten head", "user_id,access_time\nBOB,1\nalice,2\n"},
		{"header rewritten", "access_time,user_id\n1,bob\n2,alice\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "sub/a.csv", "user_id,access_time\nbob,1\n")
			src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
			states := map[string]FileState{}
			drain(t, open(t, src, nil), 0, states)
			writeFile(t, dir, "sub/a.csv", c.after)
			_, err := src.Open(states)
			var ce *ChangedFileError
			if !errors.As(err, &ce) || ce.Path != "sub/a.csv" || ce.File != filepath.Join(dir, "sub", "a.csv") {
				t.Fatalf("got %v, want a ChangedFileError for sub/a.csv", err)
			}
			if !strings.Contains(err.Error(), "a.csv was modified after it was read (") {
				t.Fatalf("message: %v", err)
			}
		})
	}
}

// TestDeleted: a known file that is gone is reported and otherwise ignored.
func TestDeleted(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.csv", "user_id,access_time\nbob,1\n")
	writeFile(t, dir, "b.csv", "user_id,access_time\nalice,2\n")
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
	states := map[string]FileState{}
	drain(t, open(t, src, nil), 0, states)
	if err := os.Remove(filepath.Join(dir, "a.csv")); err != nil {
		t.Fatal(err)
	}
	before := cloneStates(states)
	r := open(t, src, states)
	if got := r.Deleted(); !slices.Equal(got, []string{"a.csv"}) {
		t.Fatalf("Deleted() = %v", got)
	}
	if _, _, err := r.Next(0); !errors.Is(err, io.EOF) {
		t.Fatalf("Next: %v", err)
	}
	if len(states) != len(before) || states["a.csv"] != before["a.csv"] {
		t.Fatal("Open modified prev")
	}
}

// TestListing: only regular *.csv files count, in subdirectories too, in
// name order.
func TestListing(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "b.csv", "user_id,access_time\nb,1\n")
	writeFile(t, dir, "a/z.csv", "user_id,access_time\naz,1\n")
	writeFile(t, dir, "a.csv", "user_id,access_time\na,1\n")
	writeFile(t, dir, "notes.txt", "not csv")
	writeFile(t, dir, "c.csv.tmp", "not csv")
	if err := os.Mkdir(filepath.Join(dir, "d.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "b.csv"), filepath.Join(dir, "link.csv")); err != nil {
		t.Fatal(err)
	}
	os.Symlink(filepath.Join(dir, "missing"), filepath.Join(dir, "dangling.csv"))
	got := drain(t, open(t, &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}, nil), 0, map[string]FileState{})
	var users []string
	for _, u := range got {
		users = append(users, u.Row[0].AsString())
	}
	if want := []string{"a", "az", "b", "b"}; !slices.Equal(users, want) {
		t.Fatalf("rows from %v, want %v", users, want)
	}
}

// TestSchemaChecks: schemas the reader cannot fill are refused by Open.
func TestSchemaChecks(t *testing.T) {
	dir := t.TempDir()
	for _, s := range []differential.Schema{
		nil,
		{{Name: "a", Type: differential.KindString}, {Name: "a", Type: differential.KindInt}},
		{{Name: "a", Type: differential.KindBytes}},
	} {
		if _, err := (&CSVDir{Name: "s", Dir: dir, Schema: s}).Open(nil); err == nil {
			t.Errorf("schema %v: no error", s)
		}
	}
	if _, err := (&CSVDir{Name: "s", Dir: filepath.Join(dir, "missing"), Schema: accessSchema}).Open(nil); err == nil {
		t.Error("missing directory: no error")
	}
}

// TestRoundTripThroughSink: what the sink writes, the reader reads back.
func TestRoundTripThroughSink(t *testing.T) {
	dir := t.TempDir()
	s, _, err := OpenCSVSink(filepath.Join(dir, "out.csv"), typedSchema.Names(), false, 0)
	if err != nil {
		t.Fatal(err)
	}
	rows := []differential.Row{
		{differential.String("a \"quoted\", text\nwith lines"), differential.Int(-3), differential.Float(0.1), differential.Bool(true)},
		{differential.String(""), differential.Int(0), differential.Float(1e300), differential.Bool(false)},
		{differential.String("ünï"), differential.Int(7), differential.Float(2), differential.Bool(false)},
	}
	var us []differential.Update
	for i, r := range rows {
		us = append(us, differential.Update{Row: r, Diff: int64(1 - 2*(i%2))})
	}
	if err := s.Write(12, us); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	schema := append(slices.Clone(typedSchema), differential.Column{Name: "time", Type: differential.KindInt}, differential.Column{Name: "diff", Type: differential.KindInt})
	got := drain(t, open(t, &CSVDir{Name: "back", Dir: dir, Schema: schema}, nil), 0, map[string]FileState{})
	if len(got) != len(rows) {
		t.Fatalf("read back %d rows", len(got))
	}
	for i, u := range got {
		want := append(slices.Clone(rows[i]), differential.Int(12), differential.Int(us[i].Diff))
		if !u.Row.Equal(want) {
			t.Errorf("row %d: %v, want %v", i, u.Row, want)
		}
	}
}

// benchDir writes n rows in the tutorial's shape.
func benchDir(b *testing.B, n int) (string, int64) {
	dir := b.TempDir()
	buf := []byte("user_id,access_time\n")
	for i := 0; i < n; i++ {
		buf = append(buf, "user"...)
		buf = strconv.AppendInt(buf, int64(i%1000), 10)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, 1701102730+int64(i), 10)
		buf = append(buf, '\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "big.csv"), buf, 0o644); err != nil {
		b.Fatal(err)
	}
	return dir, int64(len(buf))
}

// BenchmarkNext reads a million tutorial-shaped rows.
func BenchmarkNext(b *testing.B) {
	const n = 1_000_000
	dir, size := benchDir(b, n)
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
	for _, limit := range []int{1000, 100_000} {
		b.Run("limit="+strconv.Itoa(limit), func(b *testing.B) { benchRead(b, src, n, limit, size) })
	}
}

// benchRead reads src, n rows of size bytes, with Next(limit) until its
// end, as many times as b asks.
func benchRead(b *testing.B, src Source, n, limit int, size int64) {
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		r, err := src.Open(nil)
		if err != nil {
			b.Fatal(err)
		}
		rows := 0
		for {
			us, _, err := r.Next(limit)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			rows += len(us)
		}
		r.Close()
		if rows != n {
			b.Fatalf("%d rows", rows)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
