package sources

import (
	"encoding/csv"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/differential"
)

var sessionColumns = []string{"user_id", "session_length", "session_start", "session_finish", "count"}

const sessionHeader = "user_id,session_length,session_start,session_finish,count,time,diff\n"

func session(user string, length, start, finish, count int64) differential.Row {
	return differential.Row{differential.String(user), differential.Int(length), differential.Int(start), differential.Int(finish), differential.Int(count)}
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func openSink(t *testing.T, path string, appendMode bool, hint int64) (*FileSink, uint64) {
	t.Helper()
	s, resume, err := OpenCSVSink(path, sessionColumns, appendMode, hint)
	if err != nil {
		t.Fatalf("OpenCSVSink: %v", err)
	}
	return s, resume
}

func write(t *testing.T, s *FileSink, tm uint64, us ...differential.Update) {
	t.Helper()
	if err := s.Write(tm, us); err != nil {
		t.Fatal(err)
	}
}

// TestSinkFormat: the tutorial's row shape, and every kind of value.
func TestSinkFormat(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.csv")
	s, resume := openSink(t, path, false, 0)
	if resume != 0 {
		t.Fatalf("fresh resume %d", resume)
	}
	write(t, s, 1701200000000,
		differential.Update{Row: session("bob", 62, 1701102743, 1701102805, 3), Diff: 1},
		differential.Update{Row: session(`say "hi", ok`, 0, -1, 0, 1), Diff: -1})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := sessionHeader +
		`"bob",62,1701102743,1701102805,3,1701200000000,1` + "\n" +
		`"say ""hi"", ok",0,-1,0,1,1701200000000,-1` + "\n"
	if got := readString(t, path); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}

	cols := []string{"n", "b", "f", "s", "x", "with,comma"}
	s, _, err := OpenCSVSink(path, cols, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, 5, differential.Update{Diff: 2, Row: differential.Row{
		differential.Null(), differential.Bool(true), differential.Float(0.5), differential.String("a\nb"), differential.Bytes([]byte("raw")), differential.Float(1e21)}})
	write(t, s, 5, differential.Update{Diff: 1, Row: differential.Row{
		differential.Int(3), differential.Bool(false), differential.Float(2), differential.String(""), differential.Float(math.Inf(-1)), differential.Float(math.NaN())}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want = "n,b,f,s,x,\"with,comma\",time,diff\n" +
		",True,0.5,\"a\nb\",\"raw\",1e+21,5,2\n" +
		"3,False,2.0,\"\",-inf,nan,5,1\n"
	if got := readString(t, path); got != want {
		t.Fatalf("got\n%q\nwant\n%q", got, want)
	}
}

// TestSinkFresh: fresh mode truncates what a previous run wrote.
func TestSinkFresh(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	for run := uint64(1); run <= 2; run++ {
		s, _ := openSink(t, path, false, 0)
		write(t, s, run, differential.Update{Row: session("u"+strconv.FormatUint(run, 10), 0, 0, 0, 1), Diff: 1})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := readString(t, path), sessionHeader+`"u2",0,0,0,1,2,1`+"\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestSinkWriteChecks: wrong row widths and times going back are refused.
func TestSinkWriteChecks(t *testing.T) {
	s, _ := openSink(t, filepath.Join(t.TempDir(), "out.csv"), false, 0)
	defer s.Close()
	if err := s.Write(1, []differential.Update{{Row: differential.Row{differential.Int(1)}, Diff: 1}}); err == nil {
		t.Fatal("a row of 1 value for 5 columns was accepted")
	}
	write(t, s, 5, differential.Update{Row: session("a", 0, 0, 0, 1), Diff: 1})
	if err := s.Write(4, []differential.Update{{Row: session("a", 0, 0, 0, 1), Diff: 1}}); err == nil {
		t.Fatal("time 4 after time 5 was accepted")
	}
}

// changelog writes times 1..n (time i has i rows, some multi-line) to a
// fresh append-mode sink and returns the file's bytes and each time's end.
func changelog(t *testing.T, path string, n int) (string, []int64) {
	t.Helper()
	os.Remove(path)
	s, resume := openSink(t, path, true, 0)
	if resume != 0 {
		t.Fatalf("new file resume %d", resume)
	}
	ends := []int64{s.Offset()}
	for tm := 1; tm <= n; tm++ {
		write(t, s, uint64(tm), timeRows(tm)...)
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		ends = append(ends, s.Offset())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	body := readString(t, path)
	if int64(len(body)) != ends[n] {
		t.Fatalf("file has %d bytes, Offset said %d", len(body), ends[n])
	}
	return body, ends
}

func timeRows(tm int) []differential.Update {
	var us []differential.Update
	for i := 0; i < tm; i++ {
		user := "u" + strconv.Itoa(i)
		if i%2 == 1 {
			user = "multi\n\"line\",\n" + user
		}
		us = append(us, differential.Update{Row: session(user, int64(tm*10+i), 1, 2, 3), Diff: int64(1 - 2*(i%2))})
	}
	return us
}

// TestSinkAppendCrashAtEveryByte: whatever prefix of the changelog a crash
// leaves, recovery plus re-emitting every time from resume on rebuilds the
// file exactly: nothing lost, nothing twice.
func TestSinkAppendCrashAtEveryByte(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	full, ends := changelog(t, path, 4)
	// The model: where each row ends and its time, by encoding/csv.
	type row struct {
		end  int64
		time uint64
	}
	var rows []row
	cr := csv.NewReader(strings.NewReader(full))
	if _, err := cr.Read(); err != nil {
		t.Fatal(err)
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tm, _ := strconv.ParseUint(rec[len(rec)-2], 10, 64)
		rows = append(rows, row{cr.InputOffset(), tm})
	}
	for cut := 0; cut <= len(full); cut++ {
		for _, withHint := range []bool{false, true} {
			if err := os.WriteFile(path, []byte(full[:cut]), 0o644); err != nil {
				t.Fatal(err)
			}
			complete, lastPresent := 0, uint64(0)
			for tm := 1; tm < len(ends); tm++ {
				if ends[tm] <= int64(cut) {
					complete = tm
				}
			}
			for _, r := range rows {
				if r.end <= int64(cut) {
					lastPresent = r.time
				}
			}
			// The hint a commit would have recorded: the end of the last
			// complete time.
			var hint int64
			wantResume := lastPresent
			if withHint && complete > 0 {
				hint = ends[complete]
				wantResume = uint64(complete) + 1
			}
			s, resume := openSink(t, path, true, hint)
			if resume != wantResume {
				t.Fatalf("cut %d hint %d: resume %d, want %d", cut, hint, resume, wantResume)
			}
			// The sink writes where time resume starts in the full file.
			if resume > 0 && s.Offset() != ends[resume-1] || resume == 0 && s.Offset() != ends[0] {
				t.Fatalf("cut %d: Offset %d with resume %d, time ends %v", cut, s.Offset(), resume, ends)
			}
			for tm := max(int(resume), 1); tm < len(ends); tm++ {
				write(t, s, uint64(tm), timeRows(tm)...)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if got := readString(t, path); got != full {
				t.Fatalf("cut %d hint %d resume %d: file\n%q\nwant\n%q", cut, hint, resume, got, full)
			}
		}
	}
}

// reopen recovers path in append mode twice: once without writing, which
// must leave the file as it was but for a torn tail after the last
// complete time (exactly what the write then cuts), then writing one
// marker row at time resume, to see where the file was cut. It returns
// resume and what the file kept before the marker.
func reopen(t *testing.T, path string, hint int64) (uint64, string) {
	t.Helper()
	before, err := os.ReadFile(path)
	existed := err == nil
	s, resume := openSink(t, path, true, hint)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	after := readString(t, path)
	changed := existed && len(before) >= len(sessionHeader) && after != string(before)
	s, again := openSink(t, path, true, hint)
	if again != resume {
		t.Fatalf("second recovery: resume %d, first %d", again, resume)
	}
	off := s.Offset()
	write(t, s, resume, differential.Update{Row: session("marker", 0, 0, 0, 0), Diff: 1})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := readString(t, path)
	marker := `"marker",0,0,0,0,` + strconv.FormatUint(resume, 10) + ",1\n"
	kept, ok := strings.CutSuffix(got, marker)
	if !ok || int64(len(kept)) != off {
		t.Fatalf("file after the marker (Offset %d): %q", off, got)
	}
	if changed && (kept != after || !strings.HasPrefix(string(before), after)) {
		t.Fatalf("recovery without a write changed the file:\n%q\nto\n%q, but a write keeps\n%q", before, after, kept)
	}
	return resume, kept
}

// TestSinkAppendRecovery: the cases by name.
func TestSinkAppendRecovery(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.csv")
	full, ends := changelog(t, path, 3)
	check := func(what string, body string, wantResume uint64, wantKept string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		resume, kept := reopen(t, path, 0)
		if resume != wantResume || kept != wantKept {
			t.Fatalf("%s: resume %d, kept %q; want %d, %q", what, resume, kept, wantResume, wantKept)
		}
	}
	// Complete file: the last time is cut all the same.
	check("complete file", full, 3, full[:ends[2]])
	// A torn last line without '\n' is cut with its time.
	check("torn line", full[:ends[2]]+`"torn",1,2`, 2, full[:ends[1]])
	// A torn multi-line string (its newline inside quotes) is cut.
	check("torn string", full[:ends[1]]+"\"multi\n\"\"line,1,1\n", 1, full[:ends[0]])
	// A time going back ends the good part.
	check("time going back", full[:ends[2]]+full[ends[0]:ends[1]], 2, full[:ends[1]])
	// Garbage between rows ends the good part.
	check("garbage", full[:ends[1]]+"garbage\n"+full[ends[1]:], 1, full[:ends[0]])
	// Header only, empty, torn header: the header, resume 0.
	check("header only", sessionHeader, 0, sessionHeader)
	check("empty", "", 0, sessionHeader)
	check("torn header", sessionHeader[:10], 0, sessionHeader)
	os.Remove(path)
	if resume, kept := reopen(t, path, 0); resume != 0 || kept != sessionHeader {
		t.Fatalf("missing file: resume %d, kept %q", resume, kept)
	}

	// Another header: an error naming the file, and the file untouched.
	os.WriteFile(path, []byte("user_id,count,time,diff\n\"a\",1,1,1\n"), 0o644)
	_, _, err := OpenCSVSink(path, sessionColumns, true, 0)
	if !errors.Is(err, ErrSinkHeader) || !strings.Contains(err.Error(), path) {
		t.Fatalf("header mismatch: %v", err)
	}
	if readString(t, path) != "user_id,count,time,diff\n\"a\",1,1,1\n" {
		t.Fatal("a file with another header was modified")
	}
}

// TestSinkHint: a hint lets recovery start there; a bad hint falls back to
// a full scan.
func TestSinkHint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.csv")
	full, ends := changelog(t, path, 3)
	check := func(what string, body string, hint int64, wantResume uint64, wantKept string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		resume, kept := reopen(t, path, hint)
		if resume != wantResume || kept != wantKept {
			t.Fatalf("%s: resume %d, kept %q; want %d, %q", what, resume, kept, wantResume, wantKept)
		}
	}
	// Nothing after the hint: nothing is cut, resume is the next time.
	check("hint at the end", full, ends[3], 4, full)
	// A torn line after the hint: cut, resume is the next time.
	check("torn after the hint", full+`"x",1`, ends[3], 4, full)
	// Rows after the hint: the last time is cut.
	check("hint at time 1", full, ends[1], 3, full[:ends[2]])
	// Proof that the hint is where scanning starts: garbage before it is
	// not seen (a full scan would stop there).
	withGarbage := full[:ends[1]] + "garbage\n" + full[ends[1]:]
	shift := int64(len("garbage\n"))
	check("hint after garbage", withGarbage, ends[2]+shift, 3, withGarbage[:ends[2]+shift])
	// A hint beyond the end of the file, or not at a row end, is ignored.
	check("hint beyond the end", full, ends[3]+1, 3, full[:ends[2]])
	check("hint inside a row", full, ends[2]-3, 3, full[:ends[2]])
	// A hint followed by a time that is not later is not trusted.
	check("hint before a repeated time", full[:ends[2]]+full[ends[1]:ends[2]], ends[2], 2, full[:ends[1]])
}

// TestSinkStickyAndClose: after Close, writes fail and Close is harmless.
func TestSinkStickyAndClose(t *testing.T) {
	s, _ := openSink(t, filepath.Join(t.TempDir(), "out.csv"), true, 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Write(1, nil); err == nil {
		t.Fatal("Write after Close")
	}
}

// TestSinkZeroColumns: a table without columns still recovers.
func TestSinkZeroColumns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	s, _, err := OpenCSVSink(path, nil, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Write(1, []differential.Update{{Diff: 1}})
	s.Write(2, []differential.Update{{Diff: 1}, {Diff: -1}})
	s.Close()
	if got := readString(t, path); got != "time,diff\n1,1\n2,1\n2,-1\n" {
		t.Fatalf("file %q", got)
	}
	s, resume, err := OpenCSVSink(path, nil, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Write(resume, []differential.Update{{Diff: 5}})
	s.Close()
	if resume != 2 || readString(t, path) != "time,diff\n1,1\n2,5\n" {
		t.Fatalf("resume %d, file %q", resume, readString(t, path))
	}
}

// BenchmarkSinkWrite formats and writes tutorial-shaped rows.
func BenchmarkSinkWrite(b *testing.B) {
	path := filepath.Join(b.TempDir(), "out.csv")
	s, _, err := OpenCSVSink(path, sessionColumns, false, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	us := make([]differential.Update, 1000)
	for i := range us {
		us[i] = differential.Update{Row: session("user"+strconv.Itoa(i), 62, 1701102743, 1701102805, 3), Diff: 1}
	}
	b.ReportAllocs()
	tm := uint64(0)
	for b.Loop() {
		tm++
		if err := s.Write(tm, us); err != nil {
			b.Fatal(err)
		}
		if err := s.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(us))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// TestSinkToDevNull: a fresh-mode sink on a file that cannot be fsynced
// (a device) works; there is nothing to make durable.
func TestSinkToDevNull(t *testing.T) {
	s, _, err := OpenCSVSink(os.DevNull, []string{"a"}, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(1, []differential.Update{{Row: differential.Row{differential.Int(1)}, Diff: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close of a /dev/null sink: %v", err)
	}
}
