package operators

import (
	"testing"

	"github.com/pwlog/pwlog/differential"
)

// Different configurations over one input schema must not describe
// themselves alike: the fingerprint would accept a changed pipeline.
func TestDescribeNamesNeverCollide(t *testing.T) {
	in := differential.Schema{
		{Name: "1", Type: differential.KindInt}, // a CSV header "1" (a year, a sensor id...)
		{Name: "a", Type: differential.KindInt},
		{Name: "b", Type: differential.KindInt},
		{Name: "a,b", Type: differential.KindInt},
	}
	s1, err1 := NewSelect("s", in, []Output{{"x", Col("1")}})
	s2, err2 := NewSelect("s", in, []Output{{"x", Lit(1)}})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if s1.Describe() == s2.Describe() {
		t.Errorf("Select x=Col(\"1\") and x=Lit(1) both describe as %q", s1.Describe())
	}
	r1, err1 := NewReduce("r", in, []string{"a,b"}, []Output{{"n", Count()}})
	r2, err2 := NewReduce("r", in, []string{"a", "b"}, []Output{{"n", Count()}})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if r1.Describe() == r2.Describe() {
		t.Errorf("Reduce by [\"a,b\"] and by [\"a\", \"b\"] both describe as %q", r1.Describe())
	}
}

// TestIdent: plain names are written as they are (the fingerprints of
// storages written before stay the same), others between backquotes.
func TestIdent(t *testing.T) {
	for name, want := range map[string]string{
		"user_id": "user_id", "_pw_window_start": "_pw_window_start", "a1": "a1",
		"1": "`1`", "a,b": "`a,b`", "null": "`null`", "x`y": "`x``y`", "": "``", "é": "`é`", "a b": "`a b`",
	} {
		if got := ident(name); got != want {
			t.Errorf("ident(%q) = %s, want %s", name, got, want)
		}
	}
}
