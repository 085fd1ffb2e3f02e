package sources

import (
	"encoding/csv"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/differential"
)

// TestBadInput: every kind of bad input gives an *InputError with the
// exact file, line and column, and the mark of its kind.
func TestBadInput(t *testing.T) {
	const h = "user_id,access_time\n"
	cases := []struct {
		name   string
		schema differential.Schema
		body   string
		want   string // after "<dir>/x.csv:"
		mark   error
	}{
		{"too many fields", nil, h + "bob,1\nbob,2,3\n", `3: expected 2 fields, got 3`, ErrFieldCount},
		{"too few fields", nil, h + "bob,1\nbob\n", `3: expected 2 fields, got 1`, ErrFieldCount},
		{"not an int", nil, h + "alice,1\nbob,abc\n", `3: column 2 (access_time): invalid int "abc"`, ErrBadValue},
		{"empty int", nil, h + "bob,\n", `2: column 2 (access_time): invalid int ""`, ErrBadValue},
		{"int out of range", nil, h + "bob,9223372036854775808\n", `2: column 2 (access_time): invalid int "9223372036854775808" (out of range)`, ErrBadValue},
		{"reordered header", nil, "access_time,user_id\n1,bob\nzz,bob\n", `3: column 1 (access_time): invalid int "zz"`, ErrBadValue},
		{"not a float", typedSchema, "s,i,f,b\nx,1,1.5,true\nx,1,1.5.2,true\n", `3: column 3 (f): invalid float "1.5.2"`, ErrBadValue},
		{"not a bool", typedSchema, "s,i,f,b\nx,1,1.5,yes\n", `2: column 4 (b): invalid bool "yes"`, ErrBadValue},
		{"long value cut", nil, h + "bob," + strings.Repeat("9", 100) + "x\n", `2: column 2 (access_time): invalid int "` + strings.Repeat("9", 64) + `"... (out of range)`, ErrBadValue},
		{"value after a multi-line string", nil, h + "\"a\nb\",1\n\"c\nd\",x\n", `5: column 2 (access_time): invalid int "x"`, ErrBadValue},
		{"bare quote", nil, h + "bob,1\nbob,12\"3\n", `3: column 2 (access_time): bare " in unquoted field (quote the field and double the quotes inside it)`, ErrBadQuote},
		{"stray quote", nil, h + "\"bo\"b,1\n", `2: column 1 (user_id): extraneous " in quoted field (quotes inside a quoted field must be doubled)`, ErrBadQuote},
		{"stray quote on the last line", nil, h + "\"bo\"b,1", `2: column 1 (user_id): extraneous " in quoted field (quotes inside a quoted field must be doubled)`, ErrBadQuote},
		{"stray quote on a short last line", nil, h + "x,1\n\"a\"b", `3: column 1 (user_id): extraneous " in quoted field (quotes inside a quoted field must be doubled)`, ErrBadQuote},
		{"unterminated quote", nil, h + "bob,1\n\"alice,2\ncarol,3\n", `3: column 1 (user_id): quoted field is not terminated before the end of the file`, ErrBadQuote},
		{"unterminated quote crlf", nil, h + "bob,1\r\n\"alice,2\r\ncarol,3\r\n", `3: column 1 (user_id): quoted field is not terminated before the end of the file`, ErrBadQuote},
		{"unterminated quote closed at the end", nil, h + "bob,\"1\n", `2: column 2 (access_time): quoted field is not terminated before the end of the file`, ErrBadQuote},
		{"stray quote, no newline", nil, h + "bob,\"1\"2", `2: column 2 (access_time): extraneous " in quoted field (quotes inside a quoted field must be doubled)`, ErrBadQuote},
		{"bad int, no newline", nil, h + "bob,1x", `2: column 2 (access_time): invalid int "1x"`, ErrBadValue},
		{"bad first field, no newline", nil, h + "b\xffb,", `2: column 1 (user_id): invalid UTF-8`, ErrBadUTF8},
		{"too many fields, no newline", nil, h + "bob,1,", `2: expected 2 fields, got 3`, ErrFieldCount},
		{"quoted bad int, no newline", nil, h + "bob,\"\"", `2: column 2 (access_time): invalid int ""`, ErrBadValue},
		{"unterminated second field", nil, h + "\"a\nb\",\"12\n34\n", `3: column 2 (access_time): quoted field is not terminated before the end of the file`, ErrBadQuote},
		{"invalid UTF-8", nil, h + "bob,1\nb\xffb,2\n", `3: column 1 (user_id): invalid UTF-8`, ErrBadUTF8},
		{"unknown header column", nil, "user_id,access_time,extra\n", `1: header does not match the schema (user_id, access_time): unknown column "extra"`, ErrBadHeader},
		{"missing header column", nil, "\n\nuser_id\nbob\n", `3: header does not match the schema (user_id, access_time): missing column "access_time"`, ErrBadHeader},
		{"no header", nil, "bob,1701102730\n", `1: header does not match the schema (user_id, access_time): unknown columns "bob", "1701102730": missing columns "user_id", "access_time"`, ErrBadHeader},
		{"duplicate header column", nil, "user_id,access_time,user_id\n", `1: header does not match the schema (user_id, access_time): duplicate column "user_id"`, ErrBadHeader},
		{"broken header quoting", nil, "user_id,\"access_time\n", `1: column 2: quoted field is not terminated before the end of the file`, ErrBadQuote},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			schema := c.schema
			if schema == nil {
				schema = accessSchema
			}
			dir := t.TempDir()
			writeFile(t, dir, "x.csv", c.body)
			r := open(t, &CSVDir{Name: "s", Dir: dir, Schema: schema}, nil)
			defer r.Close()
			us, sts, err := r.Next(100)
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("got %v, want an *InputError", err)
			}
			if want := filepath.Join(dir, "x.csv") + ":" + c.want; err.Error() != want {
				t.Fatalf("got  %s\nwant %s", err, want)
			}
			if !errors.Is(err, c.mark) {
				t.Fatalf("%v does not wrap %v", err, c.mark)
			}
			if us != nil || sts != nil {
				t.Fatalf("rows %v and states %v returned with the error", us, sts)
			}
			if _, _, again := r.Next(100); again != err {
				t.Fatalf("the error is not sticky: %v", again)
			}
		})
	}
}

// TestQuoteErrorsWrapParseError: the csv.ParseError stays reachable.
func TestQuoteErrorsWrapParseError(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "x.csv", "user_id,access_time\nbob,1\"\n")
	_, _, err := open(t, &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}, nil).Next(0)
	var pe *csv.ParseError
	if !errors.As(err, &pe) || !errors.Is(err, csv.ErrBareQuote) {
		t.Fatalf("%v: no csv.ParseError inside", err)
	}
}

// TestBadInputAfterResume: line numbers stay right when reading resumes
// from an offset, with multi-line strings and blank lines before it.
func TestBadInputAfterResume(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "x.csv", "\nuser_id,access_time\n\"a\nb\",1\n\nc,2\n\"d\n\ne\",3\nf,4\n\n\"g\nh\",oops\n")
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
	for _, limit := range []int{1, 2, 3, 4} {
		r := open(t, src, nil)
		_, sts, err := r.Next(limit)
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		states := map[string]FileState{"x.csv": sts[0]}
		_, _, err = open(t, src, states).Next(0)
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Fatalf("limit %d: %v", limit, err)
		}
		if want := filepath.Join(dir, "x.csv") + `:13: column 2 (access_time): invalid int "oops"`; err.Error() != want {
			t.Fatalf("limit %d: got %s, want %s", limit, err, want)
		}
	}
}

// TestOnBadRow: bad rows are reported and skipped; good rows, states and
// later line numbers are as if the bad rows were not there.
func TestOnBadRow(t *testing.T) {
	dir := t.TempDir()
	body := "user_id,access_time\n" +
		"a,1\n" +
		"b,x\n" + // 3: bad int
		"c,3,3\n" + // 4: field count
		"\"d\ne\",y\n" + // 5-6: bad int on line 6
		"f,6\"\n" + // 7: bare quote
		"g\xff,7\n" + // 8: UTF-8
		"h,8\n" +
		"\"i,9\n" // 10: unterminated
	writeFile(t, dir, "x.csv", body)
	var reported []string
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema, OnBadRow: func(e *InputError) {
		reported = append(reported, strconv.FormatInt(e.Line, 10)+":"+strconv.Itoa(e.Column))
	}}
	states := map[string]FileState{}
	got := drain(t, open(t, src, nil), 0, states)
	var users []string
	for _, u := range got {
		users = append(users, u.Row[0].AsString())
	}
	if !slices.Equal(users, []string{"a", "h"}) {
		t.Fatalf("rows %v", users)
	}
	if want := []string{"3:2", "4:0", "6:2", "7:2", "8:1", "10:1"}; !slices.Equal(reported, want) {
		t.Fatalf("reported %v, want %v", reported, want)
	}
	if st := states["x.csv"]; st.Rows != 2 || st.Line != 10 || st.Offset != int64(len(body)) {
		t.Fatalf("state %+v", st)
	}
	// Row by row with a reopen after each call: the same rows and reports.
	reported = nil
	states = map[string]FileState{}
	var again []differential.Update
	for {
		us, sts, err := open(t, src, cloneStates(states)).Next(1)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range sts {
			states[st.Path] = st
		}
		again = append(again, us...)
	}
	if !slices.Equal(rowStrings(again), rowStrings(got)) {
		t.Fatalf("row by row: %v, want %v", rowStrings(again), rowStrings(got))
	}
	if want := []string{"3:2", "4:0", "6:2", "7:2", "8:1", "10:1"}; !slices.Equal(reported, want) {
		t.Fatalf("row by row reported %v, want %v", reported, want)
	}
}

// TestInputErrorFormat covers the shapes of the message.
func TestInputErrorFormat(t *testing.T) {
	base := errors.New("boom")
	for _, c := range []struct {
		e    InputError
		want string
	}{
		{InputError{File: "input/part_one.csv", Line: 3, Column: 2, Field: "access_time", Err: base}, "input/part_one.csv:3: column 2 (access_time): boom"},
		{InputError{File: "a.csv", Line: 4, Column: 2, Err: base}, "a.csv:4: column 2: boom"},
		{InputError{File: "a.csv", Line: 4, Err: base}, "a.csv:4: boom"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
		if !errors.Is(&c.e, base) {
			t.Errorf("%v does not unwrap", c.e.Error())
		}
	}
}
