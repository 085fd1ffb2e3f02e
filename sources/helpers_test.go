package sources

import (
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/differential"
)

// accessSchema is the tutorial's input schema.
var accessSchema = differential.Schema{
	{Name: "user_id", Type: differential.KindString},
	{Name: "access_time", Type: differential.KindInt},
}

func writeFile(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func appendFile(t testing.TB, dir, name, body string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(body); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func open(t testing.TB, src *CSVDir, prev map[string]FileState) *CSVReader {
	t.Helper()
	r, err := src.open(prev)
	return opened(t, r, err)
}

// opened returns the reader an open returned, failing on its error.
func opened[R dirReader](t testing.TB, r R, err error) R {
	t.Helper()
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r
}

// dirReader is a directory source's reader: a *CSVReader or a
// *JSONLinesReader.
type dirReader interface {
	Reader
	Partitioned
	Unfinished() []*InputError
}

// drain reads r to its end with Next(limit) and returns the rows and the
// final state of every file, merged over the calls as the engine does.
func drain(t testing.TB, r dirReader, limit int, states map[string]FileState) []differential.Update {
	t.Helper()
	var all []differential.Update
	for {
		us, sts, err := r.Next(limit)
		if errors.Is(err, io.EOF) {
			if len(us) != 0 || len(sts) != 0 {
				t.Fatalf("Next returned %d rows and %d states with io.EOF", len(us), len(sts))
			}
			return all
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if n := inserts(us); limit > 0 && n > limit {
			t.Fatalf("Next(%d) returned %d rows", limit, n)
		}
		checkStates(t, sts)
		checkCounts(t, r, us, sts)
		for _, st := range sts {
			states[st.Path] = st
		}
		all = append(all, us...)
	}
}

// inserts counts the updates with a positive diff.
func inserts(us []differential.Update) int {
	n := 0
	for _, u := range us {
		if u.Diff > 0 {
			n++
		}
	}
	return n
}

// checkCounts checks that CSVReader.Counts accounts for every update of a
// call, one count per state, and that a retraction comes first among its
// file's updates.
func checkCounts(t testing.TB, r dirReader, us []differential.Update, sts []FileState) {
	t.Helper()
	counts := r.Counts()
	if len(counts) != len(sts) {
		t.Fatalf("Counts() = %v for %d states", counts, len(sts))
	}
	i := 0
	for _, n := range counts {
		for j := i; j < i+n && j < len(us); j++ {
			if us[j].Diff < 0 && j != i {
				t.Fatalf("retraction at %d of its file's updates: %v", j-i, rowStrings(us[i:i+n]))
			}
		}
		i += n
	}
	if i != len(us) {
		t.Fatalf("Counts() = %v for %d updates", counts, len(us))
	}
}

// net sums the diffs of equal updates (key and row) and returns the
// non-zero ones, sorted, as rowStrings with the summed diff.
func net(us []differential.Update) []string {
	sum := map[string]int64{}
	for _, u := range us {
		v := u
		v.Diff = 0
		sum[rowStrings([]differential.Update{v})[0]] += u.Diff
	}
	var out []string
	for s, d := range sum {
		if d != 0 {
			out = append(out, strings.TrimSuffix(s, "|d0")+"|d"+itoa(d))
		}
	}
	slices.Sort(out)
	return out
}

// checkStates checks that a call returns at most one state per file.
func checkStates(t testing.TB, sts []FileState) {
	t.Helper()
	seen := map[string]bool{}
	for _, st := range sts {
		if seen[st.Path] {
			t.Fatalf("two states for %s in one call: %+v", st.Path, sts)
		}
		seen[st.Path] = true
	}
}

// rowStrings formats updates for comparison: key, row, time, diff.
func rowStrings(us []differential.Update) []string {
	out := make([]string, len(us))
	for i, u := range us {
		var b strings.Builder
		b.WriteString(itoa(int64(u.Key)))
		for _, v := range u.Row {
			b.WriteString("|")
			b.WriteString(v.Kind.String())
			b.WriteString(":")
			b.WriteString(v.String())
		}
		b.WriteString("|t")
		b.WriteString(itoa(int64(u.Time)))
		b.WriteString("|d")
		b.WriteString(itoa(u.Diff))
		out[i] = b.String()
	}
	return out
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func cloneStates(m map[string]FileState) map[string]FileState { return maps.Clone(m) }
