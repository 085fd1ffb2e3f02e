package record

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/pwlog/pwlog/sources"
)

// A commit record's maps are encoded in key order: equal records give
// equal bytes, whatever the map iteration order, and decode back equal.
func TestCommitRecordEncodingIsReproducible(t *testing.T) {
	c := &Commit{Time: 7, Sources: map[string][]sources.FileState{},
		Removed: map[string][]string{}, Acks: map[string]SinkAck{}}
	for i := range 40 {
		name := fmt.Sprintf("s%02d", i)
		c.Sources[name] = []sources.FileState{{Path: name + ".csv", Offset: int64(i)}}
		c.Removed[name] = []string{name + ".old"}
		c.Acks[name] = SinkAck{Time: uint64(i), Offset: int64(i)}
	}
	first, err := Encode(KindCommit, c)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		r, err := Encode(KindCommit, c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r.Data, first.Data) {
			t.Fatal("two encodings of one commit record differ")
		}
	}
	v, err := Decode(KindCommit, first.Data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, c) {
		t.Fatalf("decoded %+v, want %+v", v, c)
	}
}
