package differential_test

import (
	"testing"

	"github.com/pwlog/pwlog/differential"
)

type emptyBase struct{}

func (emptyBase) Lookup(string, func(differential.Key, string, int64)) error { return nil }
func (emptyBase) Scan(func(string, differential.Key, string, int64)) error   { return nil }

// TestUpdateBlindEntries: an entry added blind and later retracted with
// Update leaves Len at 0 (it went to -1 when blind changes were not
// counted, and Snapshot and Full then panicked).
func TestUpdateBlindEntries(t *testing.T) {
	a := differential.NewArrangement("left", nil)
	a.Track()
	a.Rebase(emptyBase{}, 0, 0)
	a.UpdateBlind("g", 1, "row", 1)       // counted by its sign
	if _, err := a.Get("g"); err != nil { // the group comes into memory whole
		t.Fatal(err)
	}
	a.Update("g", 1, "row", -1) // counted: entries 0 -> -1
	if a.Len() != 0 {
		t.Errorf("Len = %d after inserting and retracting one entry, want 0", a.Len())
	}
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Full panicked: %v", r)
		}
	}()
	if _, err := a.Full(); err != nil {
		t.Fatal(err)
	}
}
