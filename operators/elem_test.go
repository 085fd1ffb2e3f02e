package operators

import (
	"testing"

	"github.com/pwlog/pwlog/differential"
)

// TestColumnKeepsTupleElem: a tuple column taken as it is, by Select or
// Rename, keeps its element type, so Flatten can follow.
func TestColumnKeepsTupleElem(t *testing.T) {
	in := differential.Schema{{Name: "id", Type: differential.KindInt}, {Name: "tags", Type: differential.KindTuple, Elem: differential.KindString}}
	sel, err := NewSelect("s", in, []Output{{Name: "t", Expr: Col("tags")}, {Name: "id", Expr: Col("id")}})
	if err != nil {
		t.Fatal(err)
	}
	ren, err := NewRename("r", in, map[string]string{"tags": "labels"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []differential.Schema{sel.Schema(), ren.Schema()} {
		for _, c := range s {
			if c.Type == differential.KindTuple && c.Elem != differential.KindString {
				t.Fatalf("%v: tuple column %q has element %s, want str", s, c.Name, c.Elem)
			}
		}
	}
	if _, err := NewFlatten("f", ren.Schema(), "labels"); err != nil {
		t.Fatalf("flatten after rename: %v", err)
	}
}
