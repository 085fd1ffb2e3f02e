package sources

import (
	"strings"
	"testing"
)

// TestSumFromReadBytes: FileState.Sum is kept from the bytes the reader
// parses, not by reading the file again: a plain read with any limit, a
// resumed read and a read with a partial line read again hash every byte
// once, and every state's Sum is right. A row longer than half the read
// buffer is the exception: its bytes are read again.
func TestSumFromReadBytes(t *testing.T) {
	body := bigBody(12000) // about 200 KB: several buffers
	for _, limit := range []int{0, 1, 7, 1000} {
		dir := t.TempDir()
		writeFile(t, dir, "a.csv", body[:len(body)-3]) // a partial last line
		src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
		states := map[string]FileState{}
		r := open(t, src, nil)
		for i := 0; ; i++ {
			_, sts, err := r.Next(limit)
			if err != nil {
				break
			}
			for _, st := range sts {
				if i%101 == 0 {
					checkSum(t, body[:len(body)-3], st)
				}
				states[st.Path] = st
			}
		}
		checkSum(t, body[:len(body)-3], states["a.csv"])
		if r.rehashed != 0 {
			t.Fatalf("limit %d: %d bytes read again for Sum", limit, r.rehashed)
		}
		r.Close()
		writeFile(t, dir, "a.csv", body)
		r = open(t, src, cloneStates(states))
		if got := drain(t, r, limit, states); len(got) != 2 {
			t.Fatalf("limit %d: the completed line gave %v", limit, rowStrings(got))
		}
		checkSum(t, body, states["a.csv"])
		if r.rehashed != 0 {
			t.Fatalf("limit %d, completed line: %d bytes read again for Sum", limit, r.rehashed)
		}
	}

	// A long row: read again, and the Sum is right.
	dir := t.TempDir()
	long := "user_id,access_time\nshort,1\n\"" + strings.Repeat("x", 3*readBufferSize/2) + "\",2\nafter,3\n"
	writeFile(t, dir, "a.csv", long)
	states := map[string]FileState{}
	r := open(t, &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}, nil)
	if got := drain(t, r, 1, states); len(got) != 3 {
		t.Fatalf("rows %d", len(got))
	}
	checkSum(t, long, states["a.csv"])
	if r.rehashed == 0 {
		t.Fatal("a row longer than half the buffer was not read again")
	}
}
