package sources

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/differential"
)

// Floats are written as Python's repr and tuples as text (CSV) or arrays
// (JSON Lines), and a CSV changelog ending in a tuple is recovered.
func TestSinksWriteTuplesAndFloats(t *testing.T) {
	dir := t.TempDir()
	cols := []string{"t", "f"}
	tup := differential.Tuple(differential.Int(1), differential.String(`a,"b"`), differential.Null(),
		differential.Float(0.5), differential.Tuple(differential.Bool(true)))
	rows := []differential.Update{
		{Row: differential.Row{tup, differential.Float(1e16)}, Diff: 1},
		{Row: differential.Row{differential.Tuple(), differential.Float(1e-5)}, Diff: -1},
		{Row: differential.Row{differential.Null(), differential.Float(math.Inf(1))}, Diff: 1},
	}

	csvPath := filepath.Join(dir, "out.csv")
	s, _, err := OpenCSVSink(csvPath, cols, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(7, rows); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := "t,f,time,diff\n" +
		`"(1, ""a,\""b\"""", None, 0.5, (True,))",1e+16,7,1` + "\n" +
		`"()",1e-05,7,-1` + "\n" +
		",inf,7,1\n"
	if got := readString(t, csvPath); got != want {
		t.Fatalf("CSV:\n%s\nwant\n%s", got, want)
	}
	// Recovery finds the last time after the quoted tuples.
	s, resume, err := OpenCSVSink(csvPath, cols, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	if resume != 7 {
		t.Fatalf("resume %d, want 7", resume)
	}
	s.Close()

	jsonPath := filepath.Join(dir, "out.jsonl")
	j, _, err := OpenJSONLinesSink(jsonPath, cols, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Write(7, rows); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	got := readString(t, jsonPath)
	wantJSON := `{"t":[1,"a,\"b\"",null,0.5,[true]],"f":1e+16,"time":7,"diff":1}` + "\n" +
		`{"t":[],"f":1e-05,"time":7,"diff":-1}` + "\n" +
		`{"t":null,"f":null,"time":7,"diff":1}` + "\n"
	if got != wantJSON {
		t.Fatalf("JSON Lines:\n%s\nwant\n%s", got, wantJSON)
	}
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if !json.Valid([]byte(l)) {
			t.Fatalf("not JSON: %s", l)
		}
	}
}
