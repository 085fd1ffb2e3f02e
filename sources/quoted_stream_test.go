package sources

import (
	"testing"
	"time"
)

// A streaming reader cuts at the last line end, which may lie inside a
// quoted field holding a line end: the record is held until its quote
// closes, as a static reader holds a last line whose quote is open, and
// then read whole.
func TestStreamingQuotedLineEnd(t *testing.T) {
	for _, timeout := range []time.Duration{-1, time.Nanosecond} {
		streamingQuotedLineEnd(t, timeout)
	}
}

// streamingQuotedLineEnd runs TestStreamingQuotedLineEnd with a
// PartialLineTimeout: -1 cuts at the last line end; a nanosecond reads
// to the file's end, which a line end inside the quote ends.
func streamingQuotedLineEnd(t *testing.T, timeout time.Duration) {
	dir := t.TempDir()
	writeFile(t, dir, "a.csv", "user_id,access_time\nann,1\n\"bob\n")
	time.Sleep(time.Millisecond)
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema, Streaming: true, PartialLineTimeout: timeout}
	states := map[string]FileState{}
	if got := drain(t, open(t, src, nil), 0, states); len(got) != 1 || got[0].Row[0].S != "ann" {
		t.Fatalf("first read: %v, want the row of ann only", got)
	}
	appendFile(t, dir, "a.csv", "smith\",2\n")
	got := drain(t, open(t, src, cloneStates(states)), 0, states)
	if len(got) != 1 || got[0].Row[0].S != "bob\nsmith" || got[0].Row[1].I != 2 {
		t.Fatalf("after the quote closed: %v, want the row of \"bob\\nsmith\"", got)
	}
}
