package sources

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/vfs/errorfs"
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

// TestSinkCrashAtEveryOperation: an append-mode sink is opened on a
// missing file, an empty one, a torn header or a changelog with a torn
// tail, and writes times 1 to 3 (time 3 flushed, not synced); the machine
// crashes at each of its mutating filesystem operations, and each crash
// leaves one of many images (vfs.MemFS.CrashClone: names not yet synced
// kept or lost, unsynced data kept in part, with sizes that reached the
// disk before their data). Recovery from every image must succeed and,
// with the times from resume on written again, give exactly the complete
// changelog; and no temporary file is left behind.
func TestSinkCrashAtEveryOperation(t *testing.T) {
	h := sessionHeader
	crashEveryOperation(t, func(fsys vfs.FS) (*FileSink, uint64, error) {
		return OpenCSVSinkFS(fsys, "/out/out.csv", sessionColumns, true, 0)
	}, func(full string) map[string]*string {
		firstRow := strings.Index(full[len(h):], "\n") + len(h) + 1
		return map[string]*string{
			"missing":    nil,
			"empty":      ptr(""),
			"torn":       ptr(h[:10]),
			"zeros":      ptr(strings.Repeat("\x00", 39)),
			"torn tail":  ptr(full[:firstRow+3]),
			"zeros tail": ptr(full[:firstRow] + strings.Repeat("\x00", 40)),
		}
	})
}

// TestJSONLinesSinkCrashAtEveryOperation is TestSinkCrashAtEveryOperation
// for a JSON Lines sink.
func TestJSONLinesSinkCrashAtEveryOperation(t *testing.T) {
	crashEveryOperation(t, func(fsys vfs.FS) (*FileSink, uint64, error) {
		return OpenJSONLinesSinkFS(fsys, "/out/out.csv", sessionColumns, true, 0)
	}, func(full string) map[string]*string {
		firstRow := strings.Index(full, "\n") + 1
		return map[string]*string{
			"missing":    nil,
			"empty":      ptr(""),
			"torn tail":  ptr(full[:firstRow+3]),
			"zeros tail": ptr(full[:firstRow] + strings.Repeat("\x00", 40)),
		}
	})
}

// crashEveryOperation runs the crash test of TestSinkCrashAtEveryOperation
// on the sink open opens at /out/out.csv, from each of the files starts
// makes from the complete changelog.
func crashEveryOperation(t *testing.T, open func(vfs.FS) (*FileSink, uint64, error), starts func(full string) map[string]*string) {
	const path = "/out/out.csv"
	times := 3
	var full string
	{
		// The complete changelog, from a sink on a MemFS without crashes.
		m := vfs.NewMem()
		if err := m.Mkdir("/out", 0o755); err != nil {
			t.Fatal(err)
		}
		s, _, err := open(m)
		if err != nil {
			t.Fatal(err)
		}
		for tm := 1; tm <= times; tm++ {
			if err := s.Write(uint64(tm), timeRows(tm)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		full = string(memRead(t, m, path))
	}
	// act opens the sink and writes times 1 to 3 as an execution does: a
	// time is synced before the next is written, the last only flushed.
	act := func(fsys vfs.FS) error {
		s, resume, err := open(fsys)
		if err != nil {
			return err
		}
		defer s.f.Close() // no Close: it would sync time 3
		for tm := max(int(resume), 1); tm <= times; tm++ {
			if err := s.Write(uint64(tm), timeRows(tm)); err != nil {
				return err
			}
			sync := s.Sync
			if tm == times {
				sync = s.Flush
			}
			if err := sync(); err != nil {
				return err
			}
		}
		return nil
	}
	seeds := 64
	if testing.Short() {
		seeds = 8
	}
	for what, start := range starts(full) {
		setup := func() *vfs.MemFS {
			m := vfs.NewMem()
			if err := m.Mkdir("/out", 0o755); err != nil {
				t.Fatal(err)
			}
			if start != nil {
				memWrite(t, m, path, *start)
			}
			m.SyncAll()
			return m
		}
		cnt := errorfs.NewCounter(errorfs.Mutating)
		if err := act(errorfs.Wrap(setup(), cnt)); err != nil {
			t.Fatalf("%s: without a crash: %v", what, err)
		}
		n := cnt.Count()
		for k := range n {
			m := setup()
			at := errorfs.NewOnIndex(k, syscall.EIO, errorfs.Mutating)
			if err := act(errorfs.Wrap(m, errorfs.NewSticky(at))); err == nil {
				t.Fatalf("%s k=%d/%d: no crash", what, k, n)
			}
			for seed := range seeds {
				img := m.CrashClone(rand.New(rand.NewPCG(uint64(seed), uint64(k))))
				before := memRead(t, img, path)
				name := fmt.Sprintf("%s k=%d/%d (%s) seed=%d, file %q", what, k, n, at.Hit(), seed, before)
				s, resume, err := open(img)
				if err != nil {
					t.Fatalf("%s: recovery: %v", name, err)
				}
				for tm := max(int(resume), 1); tm <= times; tm++ {
					if err := s.Write(uint64(tm), timeRows(tm)); err != nil {
						t.Fatal(err)
					}
				}
				if err := s.Close(); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if got := string(memRead(t, img, path)); got != full {
					t.Fatalf("%s: resume %d, file\n%q\nwant\n%q", name, resume, got, full)
				}
				if ents, _ := img.ReadDir("/out"); len(ents) != 1 {
					t.Fatalf("%s: the directory holds %v", name, ents)
				}
			}
		}
	}
}

func ptr[T any](v T) *T { return &v }

// memRead returns the bytes of the file at path in m, nil if it is
// missing.
func memRead(t *testing.T, m *vfs.MemFS, path string) []byte {
	t.Helper()
	f, err := m.OpenFile(path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil && len(b) > 0 {
		t.Fatal(err)
	}
	return b
}

func memWrite(t *testing.T, m *vfs.MemFS, path, body string) {
	t.Helper()
	f, err := m.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// A torn tail after the last acknowledged time is cut when the sink
// closes, even if nothing was written; complete rows after the hint wait
// for a write.
func TestSinkCloseCutsTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	full, ends := changelog(t, path, 3)
	for _, c := range []struct {
		body string
		hint int64
		want string
	}{
		{full + `"bob",0,1`, int64(len(full)), full},
		{full[:ends[2]+5], ends[2], full[:ends[2]]},
		{full, ends[1], full}, // time 3 complete after the hint: kept
	} {
		if err := os.WriteFile(path, []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		s, _, err := OpenCSVSink(path, sessionColumns, true, c.hint)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); string(got) != c.want {
			t.Fatalf("hint %d: after Close the file holds\n%q\nwant\n%q", c.hint, got, c.want)
		}
	}
}
