package sources

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// bigBody returns a file of the access schema of more than 4 KiB: the
// header and n rows "uNNNN,1700000NNNN\n".
func bigBody(n int) string {
	var b strings.Builder
	b.WriteString("user_id,access_time\n")
	for i := range n {
		fmt.Fprintf(&b, "u%04d,17000%05d\n", i, i)
	}
	return b.String()
}

// touch sets a file's modification time d after the one in st.
func touch(t testing.TB, path string, st FileState, d time.Duration) {
	t.Helper()
	later := time.Unix(0, st.ModTime).Add(d)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
}

// checkSum checks a state's Sum and PartialHash against the file's bytes.
func checkSum(t testing.TB, body string, st FileState) {
	t.Helper()
	if st.Sum != headHash([]byte(body[:st.Offset])) {
		t.Fatalf("state %+v: Sum is not the hash of the %d bytes consumed", st, st.Offset)
	}
	if st.Partial > 0 && st.PartialHash != headHash([]byte(body[st.Partial:st.Offset])) {
		t.Fatalf("state %+v: PartialHash is not the hash of %q", st, body[st.Partial:st.Offset])
	}
}

// TestRewriteAfterHead: a file rewritten to the same size, with a new
// modification time, whose only change is a byte after the first 4 KiB is
// a *ChangedFileError; so is one that also grew.
func TestRewriteAfterHead(t *testing.T) {
	body := bigBody(600)
	if len(body) < 2*headSize {
		t.Fatalf("body of %d bytes", len(body))
	}
	for _, grow := range []string{"", "u9999,1\n"} {
		dir := t.TempDir()
		path := writeFile(t, dir, "a.csv", body)
		src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
		states := map[string]FileState{}
		drain(t, open(t, src, nil), 0, states)
		checkSum(t, body, states["a.csv"])

		i := strings.LastIndex(body[:headSize+100], "u0") + 1 // a user id digit after 4 KiB
		if i <= headSize {
			t.Fatalf("no row after 4 KiB: %d", i)
		}
		changed := body[:i] + "9" + body[i+1:] + grow
		writeFile(t, dir, "a.csv", changed)
		touch(t, path, states["a.csv"], time.Second)
		_, err := src.Open(cloneStates(states))
		var ce *ChangedFileError
		if !errors.As(err, &ce) || ce.Path != "a.csv" || !strings.Contains(ce.Reason, "bytes consumed differ") {
			t.Fatalf("grow %q: %v, want a ChangedFileError for the bytes consumed", grow, err)
		}
	}
}

// TestTouchNotReread: a file whose modification time changed but whose
// bytes consumed did not is not read again: Next returns its new state and
// no rows, and the next Open does not open it. Rows appended after the
// touch are read, and only they.
func TestTouchNotReread(t *testing.T) {
	body := bigBody(300)
	dir := t.TempDir()
	path := writeFile(t, dir, "a.csv", body)
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
	states := map[string]FileState{}
	drain(t, open(t, src, nil), 0, states)
	first := states["a.csv"]

	touch(t, path, first, time.Second)
	r := open(t, src, cloneStates(states))
	if got := drain(t, r, 0, states); len(got) != 0 {
		t.Fatalf("touched: %d rows read again", len(got))
	}
	st := states["a.csv"]
	if st.ModTime == first.ModTime || st.Sum != first.Sum || st.Offset != first.Offset || st.Rows != first.Rows {
		t.Fatalf("touched: state %+v, before %+v", st, first)
	}
	r = open(t, src, cloneStates(states))
	if len(r.opened) != 0 {
		t.Fatalf("after the touch's state: opened %v", r.opened)
	}
	r.Close()

	// Appended after a touch: only the new rows.
	touch(t, path, st, 2*time.Second)
	appendFile(t, dir, "a.csv", "late,5\n")
	got := drain(t, open(t, src, cloneStates(states)), 0, states)
	if g := show(t, got, "a.csv", len(body)+10); !slices.Equal(g, []string{"+late|5@" + itoa(int64(len(body)))}) {
		t.Fatalf("appended after a touch: %q", g)
	}
	checkSum(t, body+"late,5\n", states["a.csv"])
}

// TestSumAcrossCalls: Sum is the hash of the bytes consumed in every
// state Next returns, with small limits, partial lines, the retraction of
// a completed partial line, blank lines, a line left unread, and across
// Opens.
func TestSumAcrossCalls(t *testing.T) {
	steps := []string{
		"user_id,access_time\r\na,1\n\nb,2\nc,3",
		"0\n\n\nd,4\ne,5\nf,",
		"6\r\ng,\"7\"\nh,8",
		"\n",
		"i,9\n\n",
	}
	for _, limit := range []int{1, 2, 0} {
		dir := t.TempDir()
		src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
		states := map[string]FileState{}
		body := ""
		for i, step := range steps {
			body += step
			writeFile(t, dir, "a.csv", body)
			r := open(t, src, cloneStates(states))
			for {
				_, sts, err := r.Next(limit)
				if err != nil {
					break
				}
				for _, st := range sts {
					checkSum(t, body, st)
					states[st.Path] = st
				}
			}
			r.Close()
			st := states["a.csv"]
			checkSum(t, body, st)
			if i == 1 && st.Offset == int64(len(body)) {
				t.Fatalf("limit %d: the unfinished line f, was consumed: %+v", limit, st)
			}
		}
		if st := states["a.csv"]; st.Offset != int64(len(body)) || st.Rows != 9 {
			t.Fatalf("limit %d: final state %+v", limit, st)
		}
	}
}

// TestOldStateWithoutSum: a state written before FileState.Sum existed
// (Sum 0) is checked by its head only, as then; the state read on from it
// gets the Sum of the file as it is, and later rewrites after the head
// are noticed.
func TestOldStateWithoutSum(t *testing.T) {
	body := bigBody(300)
	dir := t.TempDir()
	path := writeFile(t, dir, "a.csv", body)
	src := &CSVDir{Name: "s", Dir: dir, Schema: accessSchema}
	states := map[string]FileState{}
	drain(t, open(t, src, nil), 0, states)
	old := states["a.csv"]
	old.Sum = 0

	// A change in the first 4 KiB is still noticed.
	i := strings.Index(body, "u0") + 1
	writeFile(t, dir, "a.csv", body[:i]+"9"+body[i+1:])
	touch(t, path, old, time.Second)
	var ce *ChangedFileError
	if _, err := src.Open(map[string]FileState{"a.csv": old}); !errors.As(err, &ce) {
		t.Fatalf("head changed: %v, want a ChangedFileError", err)
	}

	// After them, not: as before Sum.
	i = strings.LastIndex(body, "u0") + 1
	body = body[:i] + "9" + body[i+1:]
	writeFile(t, dir, "a.csv", body)
	touch(t, path, old, 2*time.Second)
	states = map[string]FileState{"a.csv": old}
	if got := drain(t, open(t, src, cloneStates(states)), 0, states); len(got) != 0 {
		t.Fatalf("old state: %d rows", len(got))
	}
	st := states["a.csv"]
	checkSum(t, body, st)
	if st.Offset != old.Offset || st.Rows != old.Rows {
		t.Fatalf("old state %+v read on as %+v", old, st)
	}

	// From the new state, the same rewrite is noticed.
	i = strings.LastIndex(body, "u0") + 1
	writeFile(t, dir, "a.csv", body[:i]+"8"+body[i+1:])
	touch(t, path, st, time.Second)
	if _, err := src.Open(cloneStates(states)); !errors.As(err, &ce) {
		t.Fatalf("rewritten after the upgrade: %v, want a ChangedFileError", err)
	}
}

// TestSymlinkDir: a source directory that is a symbolic link to a
// directory is read as the directory, with the same paths.
func TestSymlinkDir(t *testing.T) {
	base := t.TempDir()
	in := filepath.Join(base, "in")
	writeFile(t, in, "a.csv", "user_id,access_time\nbob,1\n")
	writeFile(t, in, "sub/b.csv", "user_id,access_time\nalice,2\n")
	link := filepath.Join(base, "link")
	if err := os.Symlink("in", link); err != nil {
		t.Skipf("no symbolic links: %v", err)
	}
	real := map[string]FileState{}
	want := drain(t, open(t, &CSVDir{Name: "s", Dir: in, Schema: accessSchema}, nil), 0, real)
	linked := map[string]FileState{}
	got := drain(t, open(t, &CSVDir{Name: "s", Dir: link, Schema: accessSchema}, nil), 0, linked)
	if len(got) != 2 || !slices.Equal(rowStrings(got), rowStrings(want)) {
		t.Fatalf("through the link:\n%v\nthe directory:\n%v", rowStrings(got), rowStrings(want))
	}
	if len(linked) != 2 || linked["a.csv"] != real["a.csv"] || linked["sub/b.csv"] != real["sub/b.csv"] {
		t.Fatalf("states through the link %+v, the directory %+v", linked, real)
	}
	// And a link to a link.
	link2 := filepath.Join(base, "link2")
	if err := os.Symlink(link, link2); err != nil {
		t.Fatal(err)
	}
	again := map[string]FileState{}
	if got := drain(t, open(t, &CSVDir{Name: "s", Dir: link2, Schema: accessSchema}, nil), 0, again); len(got) != 2 || len(again) != 2 {
		t.Fatalf("through two links: %v, %+v", rowStrings(got), again)
	}
}
