package wal

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/pwlog/pwlog/vfs"
)

// TestRepairUnwrittenSector: a machine crash can leave a sector of the
// unsynced tail unwritten (zeros) while later sectors were written. Open
// treats that as a torn tail and cuts at the last commit before the hole;
// the same sector holding non-zero garbage is corruption.
func TestRepairUnwrittenSector(t *testing.T) {
	for _, c := range []struct {
		name    string
		fill    byte
		corrupt bool
	}{
		{"zeros", 0x00, false},
		{"garbage", 0xa5, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			o := &Options{NoSync: true, Logger: quietLogger()}
			l := mustOpen(t, dir, o)
			g := &batchGen{rng: rand.New(rand.NewSource(3))}
			var want []Record
			for len(want) < 200 {
				recs := g.batch(4, 100)
				mustAppend(t, l, recs)
				want = append(want, cloneRecs(recs)...)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			seg := filepath.Join(dir, segNames(t, dir)[0])
			b, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) < 3*vfs.SectorSize {
				t.Fatalf("segment of %d bytes is too small", len(b))
			}
			copy(b[vfs.SectorSize:2*vfs.SectorSize], bytes.Repeat([]byte{c.fill}, vfs.SectorSize))
			writeFile(t, seg, b)
			l, err = Open(dir, o)
			if c.corrupt {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open = %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer l.Close()
			got := replayAll(t, l, 1)
			if len(got) == 0 || len(got) >= len(want) {
				t.Fatalf("replayed %d of %d records; want a cut before the hole", len(got), len(want))
			}
			for i, r := range got {
				if r.LSN != want[i].LSN || !bytes.Equal(r.Data, want[i].Data) {
					t.Fatalf("record %d differs after the cut", i)
				}
			}
			if got[len(got)-1].Kind != KindCommit {
				t.Fatalf("the log ends in a %v record, want a commit", got[len(got)-1].Kind)
			}
			if st, err := os.Stat(seg); err != nil || st.Size() > vfs.SectorSize {
				t.Fatalf("the segment keeps %v bytes, want at most the %d before the hole (%v)", st.Size(), vfs.SectorSize, err)
			}
		})
	}
}
