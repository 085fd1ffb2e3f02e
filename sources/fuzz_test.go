package sources

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pwlog/pwlog/differential"
)

// FuzzParseCSV reads a fuzzed file through a CSVDir with schema (str, int).
// It must never panic; every error it returns is an *InputError; skipping
// bad rows consumes the whole file with the right line count, but for a
// last line without a line end that does not parse yet; reading one row
// per Open, resuming from the states, gives the same rows, keys, reported
// errors and states as one read; and the file read when only a prefix of
// it was written, then again in full, gives the whole file's rows once
// the partial last row read first is retracted. Every state's Sum is the
// hash of the bytes it consumed. Seeds:
// testdata/fuzz/FuzzParseCSV.
func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("user_id,access_time\nalice,1701102730\nbob,1701102743\n"))
	f.Add([]byte("access_time,user_id\r\n1,\"a \"\"q\"\"\nb\"\r\n\n2,x"))
	f.Add([]byte("user_id,access_time\n\"bob,1\nb\xffb,2\nc,3,4\nd,\"5\"\"\n"))
	f.Add([]byte("access_time,user_id\n1,h\xc3\xa9llo \xe2\x82\xac\n2,\"multi\nline\""))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 2048 {
			return
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "x.csv"), body, 0o644); err != nil {
			t.Fatal(err)
		}
		schema := differential.Schema{
			{Name: "user_id", Type: differential.KindString},
			{Name: "access_time", Type: differential.KindInt},
		}

		readStrict(t, &CSVDir{Name: "s", Dir: dir, Schema: schema}, 7)

		// Skipping mode, all at once.
		var reports []string
		skip := &CSVDir{Name: "s", Dir: dir, Schema: schema, OnBadRow: func(e *InputError) {
			if e.Line < 1 || e.Column < 0 || e.Column > 2 && !errors.Is(e, ErrBadQuote) {
				t.Fatalf("bad position in %v", e)
			}
			reports = append(reports, e.Error())
		}}
		full, states, unfinished, err := readSkipping(skip, nil, 0)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) || !errors.Is(err, ErrBadHeader) && !errors.Is(err, ErrBadQuote) {
				t.Fatalf("skipping mode: %v", err)
			}
			return // a bad header stays fatal
		}
		if len(unfinished) > 1 {
			t.Fatalf("unfinished %q: more than one line", unfinished)
		}
		if len(unfinished) > 0 && (len(body) == 0 || body[len(body)-1] == '\n') {
			t.Fatalf("unfinished %q in a file that ends with a line end", unfinished)
		}
		st, ok := states["x.csv"]
		switch {
		case !ok:
			t.Fatal("no state for x.csv")
		case len(unfinished) > 0 && st.Offset != 0:
			// The last line waits, at the start of a line.
			if st.Offset >= int64(len(body)) || body[st.Offset-1] != '\n' || st.Partial != 0 || st.Rows != int64(len(full)) {
				t.Fatalf("state %+v with the unfinished line %q", st, unfinished)
			}
		case st.Offset != 0:
			// The file had a header: everything is consumed.
			lines := int64(bytes.Count(body, []byte{'\n'}))
			if body[len(body)-1] != '\n' {
				lines++
			}
			if st.Offset != int64(len(body)) || st.Line != lines || st.Rows != int64(len(full)) {
				t.Fatalf("state %+v after a full read of %d bytes, %d lines, %d rows", st, len(body), lines, len(full))
			}
		}
		if st.Sum != headHash(body[:st.Offset]) {
			t.Fatalf("state %+v: Sum is not the hash of the %d bytes consumed", st, st.Offset)
		}
		switch {
		case st.Partial == 0:
		case body[len(body)-1] == '\n' || st.Partial >= st.Offset || st.Offset != int64(len(body)):
			t.Fatalf("state %+v: a partial line in a file of %d bytes", st, len(body))
		case st.PartialHash != headHash(body[st.Partial:]):
			t.Fatalf("state %+v: the partial line's hash is not that of %q", st, body[st.Partial:])
		}

		// Keys; skipping mode, one row per Open; then the file written up
		// to a cut, and in full.
		fr := &fuzzRead{src: skip, path: filepath.Join(dir, "x.csv"), body: body, reports: &reports,
			full: full, fullReports: reports, unfinished: unfinished, st: states["x.csv"]}
		fr.check(t, len(body)/2, len(body)-1, len(body)-2, len(body)-3)
	})
}

// fuzzRead is a fuzzed file, path, and what a read of it at once
// through src, a directory source with OnBadRow, gave: the rows, the bad
// rows reported (OnBadRow appends them to *reports), the unfinished
// lines and the file's state.
type fuzzRead struct {
	src         Source
	path        string
	body        []byte
	reports     *[]string
	full        []differential.Update
	fullReports []string
	unfinished  []string
	st          FileState
}

// check checks that the read gave every row once, with a key of its
// own, then rowByRow, then prefixes with cuts.
func (f *fuzzRead) check(t *testing.T, cuts ...int) {
	t.Helper()
	keys := map[differential.Key]bool{}
	for _, u := range f.full {
		if keys[u.Key] || u.Diff != 1 {
			t.Fatalf("duplicate key or a retraction in %v", rowStrings(f.full))
		}
		keys[u.Key] = true
	}
	f.rowByRow(t)
	f.prefixes(t, cuts...)
}

// rowByRow checks that reading the file one row per Open, resuming from
// the states, gives the same rows, keys, reported errors, unfinished
// lines and state as one read, and that every state's Sum is the hash of
// the bytes it consumed.
func (f *fuzzRead) rowByRow(t *testing.T) {
	t.Helper()
	*f.reports = nil
	prev := map[string]FileState{}
	var again []differential.Update
	var lastUnfinished []string
	for i := 0; ; i++ {
		us, sts, unf, err := readOnce(f.src, prev)
		if errors.Is(err, io.EOF) {
			lastUnfinished = unf
			break
		}
		if err != nil {
			t.Fatalf("row by row: %v", err)
		}
		if i > len(f.body)+2 {
			t.Fatal("row by row does not end")
		}
		again = append(again, us...)
		for _, st := range sts {
			if st.Sum != headHash(f.body[:st.Offset]) {
				t.Fatalf("row by row: state %+v: Sum is not the hash of the %d bytes consumed", st, st.Offset)
			}
			prev[st.Path] = st
		}
	}
	if !slices.Equal(rowStrings(again), rowStrings(f.full)) {
		t.Fatalf("row by row:\n%v\nat once:\n%v", rowStrings(again), rowStrings(f.full))
	}
	if !slices.Equal(*f.reports, f.fullReports) {
		t.Fatalf("row by row reports:\n%q\nat once:\n%q", *f.reports, f.fullReports)
	}
	if !slices.Equal(lastUnfinished, f.unfinished) {
		t.Fatalf("row by row unfinished %q, at once %q", lastUnfinished, f.unfinished)
	}
	if prev[f.st.Path] != f.st {
		t.Fatalf("row by row state %+v, at once %+v", prev[f.st.Path], f.st)
	}
}

// prefixes writes the file up to each cut, reads it, then writes it in
// full and reads on: when no read finds bad input and the second Open
// accepts the grown file, the two reads' updates add up to the whole
// file's rows, and the state is the whole file's. It does nothing for a
// file with bad rows.
func (f *fuzzRead) prefixes(t *testing.T, cuts ...int) {
	t.Helper()
	if len(f.fullReports) > 0 {
		return
	}
	tried := map[int]bool{}
	for _, cut := range cuts {
		if cut <= 0 || tried[cut] {
			continue
		}
		tried[cut] = true
		if err := os.WriteFile(f.path, f.body[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		*f.reports = nil
		first, states1, _, err := readSkipping(f.src, nil, 0)
		if err != nil || len(*f.reports) > 0 {
			continue
		}
		if st := states1[f.st.Path]; st.Sum != headHash(f.body[:st.Offset]) {
			t.Fatalf("cut %d: state %+v: Sum is not the hash of the %d bytes consumed", cut, st, st.Offset)
		}
		if err := os.WriteFile(f.path, f.body, 0o644); err != nil {
			t.Fatal(err)
		}
		second, states2, unfinished2, err := readSkipping(f.src, states1, 0)
		var ce *ChangedFileError
		if errors.As(err, &ce) {
			// Only a state without a partial line refuses to go on: its
			// last line (a lone "\r", a CSV header, a JSON Lines file's
			// first line) was continued.
			if st := states1[f.st.Path]; st.Partial != 0 {
				t.Fatalf("cut %d: %v after state %+v", cut, err, st)
			}
			continue
		}
		if err != nil || len(*f.reports) > 0 {
			t.Fatalf("cut %d: %v, reports %q, while the whole file reads clean", cut, err, *f.reports)
		}
		if got := append(first, second...); !slices.Equal(net(got), net(f.full)) {
			t.Fatalf("cut %d:\n%v\nadd up to\n%v\nwhole:\n%v", cut, rowStrings(got), net(got), net(f.full))
		}
		if !slices.Equal(unfinished2, f.unfinished) {
			t.Fatalf("cut %d: unfinished %q, whole %q", cut, unfinished2, f.unfinished)
		}
		st := states1[f.st.Path]
		if s2, ok := states2[f.st.Path]; ok {
			st = s2
		}
		want := f.st
		st.ModTime, want.ModTime = 0, 0
		if st != want {
			t.Fatalf("cut %d: state %+v, whole %+v", cut, st, want)
		}
	}
}

// readStrict reads src, without OnBadRow, with Next(limit) until it
// fails: with io.EOF or an *InputError.
func readStrict(t *testing.T, src Source, limit int) {
	t.Helper()
	r, err := src.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for err == nil {
		_, _, err = r.Next(limit)
	}
	var ie *InputError
	if !errors.Is(err, io.EOF) && !errors.As(err, &ie) {
		t.Fatalf("error %v (%T) is not an *InputError", err, err)
	}
}

// readSkipping reads a source to its end with Next(limit); it also returns
// the unfinished lines, as errors.
func readSkipping(src Source, prev map[string]FileState, limit int) ([]differential.Update, map[string]FileState, []string, error) {
	r, err := openDir(src, prev)
	if err != nil {
		return nil, nil, nil, err
	}
	defer r.Close()
	states := map[string]FileState{}
	var all []differential.Update
	for {
		us, sts, err := r.Next(limit)
		if errors.Is(err, io.EOF) {
			return all, states, unfinishedStrings(r), nil
		}
		if err != nil {
			return nil, nil, nil, err
		}
		all = append(all, us...)
		for _, st := range sts {
			states[st.Path] = st
		}
	}
}

// readOnce opens the source from prev and makes one call of Next(1).
func readOnce(src Source, prev map[string]FileState) ([]differential.Update, []FileState, []string, error) {
	r, err := openDir(src, prev)
	if err != nil {
		return nil, nil, nil, err
	}
	defer r.Close()
	us, sts, err := r.Next(1)
	return us, sts, unfinishedStrings(r), err
}

// openDir opens a directory source's reader.
func openDir(src Source, prev map[string]FileState) (dirReader, error) {
	r, err := src.Open(prev)
	if err != nil {
		return nil, err
	}
	return r.(dirReader), nil
}

func unfinishedStrings(r dirReader) []string {
	var out []string
	for _, e := range r.Unfinished() {
		out = append(out, e.Error())
	}
	return out
}
