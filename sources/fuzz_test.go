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
// bad rows consumes the whole file with the right line count; and reading
// one row per Open, resuming from the states, gives the same rows, keys,
// reported errors and states as one read. Seeds: testdata/fuzz/FuzzParseCSV.
func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("user_id,access_time\nalice,1701102730\nbob,1701102743\n"))
	f.Add([]byte("access_time,user_id\r\n1,\"a \"\"q\"\"\nb\"\r\n\n2,x"))
	f.Add([]byte("user_id,access_time\n\"bob,1\nb\xffb,2\nc,3,4\nd,\"5\"\"\n"))
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

		// Fatal mode: an *InputError or success.
		strict := &CSVDir{Name: "s", Dir: dir, Schema: schema}
		r, err := strict.Open(nil)
		if err != nil {
			t.Fatal(err)
		}
		for err == nil {
			_, _, err = r.Next(7)
		}
		var ie *InputError
		if !errors.Is(err, io.EOF) && !errors.As(err, &ie) {
			t.Fatalf("error %v (%T) is not an *InputError", err, err)
		}

		// Skipping mode, all at once.
		var reports []string
		skip := &CSVDir{Name: "s", Dir: dir, Schema: schema, OnBadRow: func(e *InputError) {
			if e.Line < 1 || e.Column < 0 || e.Column > 2 && !errors.Is(e, ErrBadQuote) {
				t.Fatalf("bad position in %v", e)
			}
			reports = append(reports, e.Error())
		}}
		full, states, err := readSkipping(skip, nil, 0)
		if err != nil {
			if !errors.As(err, &ie) || !errors.Is(err, ErrBadHeader) && !errors.Is(err, ErrBadQuote) {
				t.Fatalf("skipping mode: %v", err)
			}
			return // a bad header stays fatal
		}
		if st, ok := states["x.csv"]; !ok {
			t.Fatal("no state for x.csv")
		} else if st.Offset != 0 {
			// The file had a header: everything is consumed.
			lines := int64(bytes.Count(body, []byte{'\n'}))
			if body[len(body)-1] != '\n' {
				lines++
			}
			if st.Offset != int64(len(body)) || st.Line != lines || st.Rows != int64(len(full)) {
				t.Fatalf("state %+v after a full read of %d bytes, %d lines, %d rows", st, len(body), lines, len(full))
			}
		}
		keys := map[differential.Key]bool{}
		for _, u := range full {
			if keys[u.Key] {
				t.Fatalf("duplicate key in %v", rowStrings(full))
			}
			keys[u.Key] = true
		}

		// Skipping mode, one row per Open.
		fullReports := reports
		reports = nil
		prev := map[string]FileState{}
		var again []differential.Update
		for i := 0; ; i++ {
			us, sts, err := readOnce(skip, prev)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("row by row: %v", err)
			}
			if i > len(body)+2 {
				t.Fatal("row by row does not end")
			}
			again = append(again, us...)
			for _, st := range sts {
				prev[st.Path] = st
			}
		}
		if !slices.Equal(rowStrings(again), rowStrings(full)) {
			t.Fatalf("row by row:\n%v\nat once:\n%v", rowStrings(again), rowStrings(full))
		}
		if !slices.Equal(reports, fullReports) {
			t.Fatalf("row by row reports:\n%q\nat once:\n%q", reports, fullReports)
		}
		if prev["x.csv"] != states["x.csv"] {
			t.Fatalf("row by row state %+v, at once %+v", prev["x.csv"], states["x.csv"])
		}

		// The file written in two halves, read after each: when no read
		// finds bad input and the second Open accepts the grown file, the
		// halves' rows are the whole file's.
		if len(fullReports) > 0 {
			return
		}
		half := len(body) / 2
		if err := os.WriteFile(filepath.Join(dir, "x.csv"), body[:half], 0o644); err != nil {
			t.Fatal(err)
		}
		reports = nil
		first, states1, err := readSkipping(skip, nil, 0)
		if err != nil || len(reports) > 0 {
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "x.csv"), body, 0o644); err != nil {
			t.Fatal(err)
		}
		second, states2, err := readSkipping(skip, states1, 0)
		var ce *ChangedFileError
		if errors.As(err, &ce) {
			return
		}
		if err != nil && !errors.As(err, &ie) {
			t.Fatalf("second half: %v", err)
		}
		if err != nil || len(reports) > 0 {
			t.Fatalf("second half: %v, reports %q, while the whole file reads clean", err, reports)
		}
		if got := append(first, second...); !slices.Equal(rowStrings(got), rowStrings(full)) {
			t.Fatalf("in halves:\n%v\nwhole:\n%v", rowStrings(got), rowStrings(full))
		}
		st := states1["x.csv"]
		if s2, ok := states2["x.csv"]; ok {
			st = s2
		}
		want := states["x.csv"]
		if st.Offset != want.Offset || st.Line != want.Line || st.Rows != want.Rows || st.Head != want.Head {
			t.Fatalf("in halves state %+v, whole %+v", st, want)
		}
	})
}

// readSkipping reads a source to its end with Next(limit).
func readSkipping(src *CSVDir, prev map[string]FileState, limit int) ([]differential.Update, map[string]FileState, error) {
	r, err := src.Open(prev)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	states := map[string]FileState{}
	var all []differential.Update
	for {
		us, sts, err := r.Next(limit)
		if errors.Is(err, io.EOF) {
			return all, states, nil
		}
		if err != nil {
			return nil, nil, err
		}
		all = append(all, us...)
		for _, st := range sts {
			states[st.Path] = st
		}
	}
}

// readOnce opens the source from prev and makes one call of Next(1).
func readOnce(src *CSVDir, prev map[string]FileState) ([]differential.Update, []FileState, error) {
	r, err := src.Open(prev)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	return r.Next(1)
}
