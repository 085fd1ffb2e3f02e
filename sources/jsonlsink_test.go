package sources

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/differential"
)

// Every line a JSON Lines sink writes is a JSON object that gives back
// the row's values, the time and the diff.
func TestJSONLinesSinkValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	cols := []string{"s", "i", "f", "b", "n", "raw", `we"ird`}
	tricky := "quote \" back \\ nl \n tab \t nul \x00 bell \x07 é 日本 bad \xff end"
	rows := []differential.Row{
		{differential.String(tricky), differential.Int(-42), differential.Float(1108937), differential.Bool(true), differential.Null(), differential.Bytes([]byte{0, 1, 255}), differential.String(`,"time":5,"diff":1}`)},
		{differential.String(""), differential.Int(math.MaxInt64), differential.Float(0.25), differential.Bool(false), differential.Null(), differential.Bytes(nil), differential.String("x")},
		{differential.String("a"), differential.Int(0), differential.Float(math.NaN()), differential.Bool(false), differential.Null(), differential.Bytes(nil), differential.String("y")},
		{differential.String("b"), differential.Int(0), differential.Float(1e300), differential.Bool(false), differential.Null(), differential.Bytes(nil), differential.String("z")},
	}
	s, _, err := OpenJSONLinesSink(path, cols, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	var us []differential.Update
	for i, r := range rows {
		us = append(us, differential.Update{Row: r, Diff: int64(1 - 2*(i%2))})
	}
	if err := s.Write(1234567, us); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != len(rows) {
		t.Fatalf("%d lines for %d rows:\n%s", len(lines), len(rows), b)
	}
	if !strings.Contains(lines[0], `"f":1108937.0`) {
		t.Errorf("float 1108937 written as %s, want 1108937.0", lines[0])
	}
	if !strings.Contains(lines[2], `"f":null`) || !strings.Contains(lines[3], `"f":1e+300`) {
		t.Errorf("NaN and 1e300 written as %s and %s", lines[2], lines[3])
	}
	for i, l := range lines {
		d := json.NewDecoder(strings.NewReader(l))
		d.UseNumber()
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatalf("line %d is not JSON: %v\n%s", i, err, l)
		}
		want := map[string]any{"time": json.Number("1234567"), "diff": json.Number(map[bool]string{true: "1", false: "-1"}[i%2 == 0])}
		r := rows[i]
		want["s"] = strings.ToValidUTF8(r[0].AsString(), "\uFFFD")
		want["i"] = json.Number(differential.Int(r[1].AsInt()).String())
		want["b"] = r[3].AsBool()
		want["n"] = nil
		want[`we"ird`] = r[6].AsString()
		for k, v := range want {
			if m[k] != v {
				t.Errorf("line %d: %s = %#v, want %#v", i, k, m[k], v)
			}
		}
		if n, ok := m["f"].(json.Number); ok {
			if f, _ := n.Float64(); f != r[2].AsFloat() {
				t.Errorf("line %d: f = %v, want %v", i, n, r[2].AsFloat())
			}
		} else if !math.IsNaN(r[2].AsFloat()) {
			t.Errorf("line %d: f = %v, want %v", i, m["f"], r[2].AsFloat())
		}
		if raw, _ := m["raw"].(string); raw == "" && len(r[5].S) > 0 {
			t.Errorf("line %d: bytes written as %v", i, m["raw"])
		}
	}

	// Recovery finds the time past a string that ends like a time.
	s, resume, err := OpenJSONLinesSink(path, cols, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if resume != 1234567 || s.LastTime() != 1234567 {
		t.Fatalf("reopened: resume %d, last %d; want 1234567", resume, s.LastTime())
	}
}

// parseJSONTail takes the time of a sink line and nothing else.
func TestParseJSONTail(t *testing.T) {
	for line, want := range map[string]int64{
		`{"a":1,"time":12,"diff":1}` + "\n":                          12,
		`{"time":7,"diff":-1}` + "\n":                                7,
		`{"a":"\",\"time\":9,\"diff\":1}","time":3,"diff":1}` + "\n": 3,
		`{"a":1,"time":12,"diff":1}`:                                 -1, // no line end
		`{"a":1,"time":12,"diff":x}` + "\n":                          -1,
		`{"a":1,"time":-2,"diff":1}` + "\n":                          -1,
		`{"a":1,"xtime":12,"diff":1}` + "\n":                         -1,
		`{"a":1,"time":12,"diff":1} ` + "\n":                         -1,
	} {
		got, ok := parseJSONTail([]byte(line), false)
		if !ok && want != -1 || ok && int64(got) != want {
			t.Errorf("parseJSONTail(%q) = %d, %v; want %d", line, got, ok, want)
		}
	}
}

// A torn last time is cut and written again, as for CSV.
func TestJSONLinesSinkRecovery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s, _, err := OpenJSONLinesSink(path, sessionColumns, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	for tm := 1; tm <= 3; tm++ {
		s.Write(uint64(tm), timeRows(tm))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	full, _ := os.ReadFile(path)
	for cut := 0; cut < len(full); cut++ {
		if err := os.WriteFile(path, full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		s, resume, err := OpenJSONLinesSink(path, sessionColumns, true, 0)
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		for tm := max(int(resume), 1); tm <= 3; tm++ {
			s.Write(uint64(tm), timeRows(tm))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, full) {
			t.Fatalf("cut at %d, resume %d: file\n%s\nwant\n%s", cut, resume, got, full)
		}
	}
}
