package sources

import (
	"testing"
)

// A streaming reader cuts at the last line end, which may lie inside a
// quoted field holding a line end: the record is held until its quote
// closes, as a static reader holds a last line whose quote is open, and
// then read whole.
func TestStreamingQuotedLineEnd(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.csv", "user_id,access_time\nann,1\n\"bob\nsmith")
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema, Streaming: true, PartialLineTimeout: -1}
	states := map[string]FileState{}
	if got := drain(t, open(t, src, nil), 0, states); len(got) != 1 || got[0].Row[0].S != "ann" {
		t.Fatalf("first read: %v, want the row of ann only", got)
	}
	appendFile(t, dir, "a.csv", "\",2\n")
	got := drain(t, open(t, src, cloneStates(states)), 0, states)
	if len(got) != 1 || got[0].Row[0].S != "bob\nsmith" || got[0].Row[1].I != 2 {
		t.Fatalf("after the quote closed: %v, want the row of \"bob\\nsmith\"", got)
	}
}
