package sources

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/vfs"
)

// TestSinkRecoveryUnwrittenSector: a crash left an aligned sector of
// zeros inside time 2's rows, and rows of time 3 after it, whose lines
// end like rows. Recovery must resume at time 2 (rewriting it whole), not
// take the damaged line for a row of time 3 and skip the rest of time 2.
func TestSinkRecoveryUnwrittenSector(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	s, _ := openSink(t, path, true, 0)
	for tm := uint64(1); tm <= 3; tm++ {
		var us []differential.Update
		for i := range 100 {
			us = append(us, differential.Update{Row: session("user", int64(i), 1701100000, 1701100000+int64(i), 1), Diff: 1})
		}
		write(t, s, tm, us...)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	third := len(b) / 3 // time 2's rows span the middle third
	// A hole swallowing an even number of quotes leaves the lines after
	// it parsing as rows; an odd number would hide them in a quoted field.
	sector := (third + vfs.SectorSize) / vfs.SectorSize * vfs.SectorSize
	for bytes.Count(b[sector:sector+vfs.SectorSize], []byte{'"'})%2 == 1 {
		sector += vfs.SectorSize
	}
	if sector+vfs.SectorSize > 2*third {
		t.Fatalf("rows too short for the test: %d bytes", len(b))
	}
	copy(b[sector:], make([]byte, vfs.SectorSize))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s, resume := openSink(t, path, true, 0)
	defer s.Close()
	if resume != 2 {
		t.Fatalf("resume = %d, want 2: the time holding the hole is rewritten", resume)
	}
	if s.LastTime() != 2 {
		t.Fatalf("LastTime = %d, want 2: nothing after the hole counts", s.LastTime())
	}
	if bytes.Contains(b[:sector], []byte(",3,1\n")) {
		t.Fatal("time 3 starts before the hole: the test does not test")
	}
}
