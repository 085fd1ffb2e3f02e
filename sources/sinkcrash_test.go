package sources

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/vfs"
)

// TestSinkRecoveryTornHeader: a crash while a new changelog's header was
// not yet durable, with the file's name and size durable but not its
// data, leaves bytes of the header or zeros in their place (what
// TestCrashStateMachine found: 39 zero bytes where the header was being
// written). No row can follow such a header, so recovery writes the
// header again and resumes at 0. A damaged header with a row after it,
// or one holding bytes that are neither the header's nor zeros, is not
// torn: it is refused and left as it is.
func TestSinkRecoveryTornHeader(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	h := sessionHeader
	hlen := len(h)
	zeros := func(n int) string { return strings.Repeat("\x00", n) }
	torn := map[string]string{
		"the crash image's 39 zeros":  zeros(39),
		"zeros as long as the header": zeros(hlen),
		"a prefix, then zeros":        h[:20] + zeros(25),
		"a prefix, zeros to its end":  h[:30] + zeros(hlen-30),
		"a zero for the newline":      h[:hlen-1] + zeros(1),
		"zeros inside":                h[:8] + zeros(10) + h[18:],
		"zeros beyond the header":     h[:12] + zeros(hlen-12) + zeros(700),
	}
	for what, body := range torn {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		s, resume := openSink(t, path, true, 0)
		if resume != 0 || s.Offset() != int64(hlen) {
			t.Fatalf("%s: resume %d, Offset %d; want 0, %d", what, resume, s.Offset(), hlen)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got := readString(t, path); got != h {
			t.Fatalf("%s: recovery left %q, want the header", what, got)
		}
		// Recovered once, the file is a header-only changelog.
		resume, kept := reopen(t, path, 0)
		if resume != 0 || kept != h {
			t.Fatalf("%s: resume %d, kept %q; want 0, the header", what, resume, kept)
		}
	}

	row := `"a",1,2,3,4,1,1` + "\n"
	refused := map[string]string{
		"zeros, then a row":          zeros(hlen) + row,
		"a prefix and zeros, a row":  h[:20] + zeros(hlen-20) + row,
		"a short foreign header":     "a,time,diff\n",
		"a foreign byte among zeros": zeros(10) + "x" + zeros(10),
	}
	for what, body := range refused {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := OpenCSVSink(path, sessionColumns, true, 0)
		if !errors.Is(err, ErrSinkHeader) {
			t.Fatalf("%s: %v, want ErrSinkHeader", what, err)
		}
		if got := readString(t, path); got != body {
			t.Fatalf("%s: the refused file was changed to %q", what, got)
		}
	}
}

// TestSinkRecoveryZeroTail: a crash that kept the size of appended rows
// but not their data leaves zeros after the last complete row. They are
// a torn tail: cut, with the last time before them, and the times after
// it written again, with or without a hint.
func TestSinkRecoveryZeroTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.csv")
	full, ends := changelog(t, path, 3)
	for _, n := range []int{1, 100, vfs.SectorSize, 3 * vfs.SectorSize} {
		zeros := strings.Repeat("\x00", n)
		cases := []struct {
			what       string
			body       string
			hint       int64
			wantResume uint64
			wantKept   string
		}{
			{"after the header", full[:ends[0]] + zeros, 0, 0, full[:ends[0]]},
			{"after time 2", full[:ends[2]] + zeros, 0, 2, full[:ends[1]]},
			{"after a torn row", full[:ends[2]+5] + zeros, 0, 2, full[:ends[1]]},
			{"after time 2, hinted", full[:ends[2]] + zeros, ends[2], 3, full[:ends[2]]},
			{"after time 3, hinted at 2", full + zeros, ends[2], 3, full[:ends[2]]},
		}
		for _, c := range cases {
			if err := os.WriteFile(path, []byte(c.body), 0o644); err != nil {
				t.Fatal(err)
			}
			resume, kept := reopen(t, path, c.hint)
			if resume != c.wantResume || kept != c.wantKept {
				t.Fatalf("%d zeros %s: resume %d, kept %q; want %d, %q",
					n, c.what, resume, kept, c.wantResume, c.wantKept)
			}
		}
	}
}
