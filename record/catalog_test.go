package record

import (
	"reflect"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/msgpackx"
)

// A catalog written before source directories were recorded decodes
// with Dirs nil, and differs from one that records them, so that the
// engine logs the directories at its next commit.
func TestCatalogWithoutDirsDecodes(t *testing.T) {
	type oldCatalog struct {
		Tables       map[string][]string             `msgpack:"t,omitempty"`
		Arrangements map[string]differential.Columns `msgpack:"a,omitempty"`
	}
	old := oldCatalog{Tables: map[string][]string{"src": {"a", "b"}},
		Arrangements: map[string]differential.Columns{"op/arr": {Group: []string{"a"}, Row: []string{"b"}}}}
	b, err := msgpack.Marshal(&old)
	if err != nil {
		t.Fatal(err)
	}
	var c Catalog
	if err := msgpackx.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.Dirs != nil {
		t.Fatalf("Dirs = %v, want nil", c.Dirs)
	}
	if !reflect.DeepEqual(c.Tables, old.Tables) || !reflect.DeepEqual(c.Arrangements, old.Arrangements) {
		t.Fatalf("decoded %+v, want %+v", c, old)
	}
	withDirs := c
	withDirs.Dirs = map[string]string{"src": "/data/in"}
	if c.Equal(&withDirs) {
		t.Fatal("a catalog without Dirs equals one with them")
	}
	// The same bytes as before when there are no directories.
	again, err := msgpack.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(b) {
		t.Fatalf("a catalog without Dirs encodes to %x, was %x", again, b)
	}
}

// Dirs survive a manifest's Meta.
func TestCatalogDirsRoundTrip(t *testing.T) {
	c := &Catalog{Tables: map[string][]string{"src": {"a"}}, Dirs: map[string]string{"src": "/data/in", "other": "/x"}}
	b, err := EncodeMeta(&Meta{Catalog: c})
	if err != nil {
		t.Fatal(err)
	}
	m, err := DecodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Catalog.Equal(c) || !reflect.DeepEqual(m.Catalog.Dirs, c.Dirs) {
		t.Fatalf("decoded %+v, want %+v", m.Catalog, c)
	}
	moved := &Catalog{Tables: c.Tables, Dirs: map[string]string{"src": "/data/elsewhere", "other": "/x"}}
	if c.Equal(moved) {
		t.Fatal("catalogs with different directories are equal")
	}
}
