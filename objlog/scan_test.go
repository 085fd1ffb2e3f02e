package objlog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/wal"
)

// damagedLog writes a fence (id 1) and five objects of three records
// (ids 2..6, LSNs 1..15) and returns the Mem.
func damagedLog(t *testing.T) *backend.Mem {
	t.Helper()
	m := backend.NewMem()
	l := mustOpen(t, m, opts(0, 1))
	for i := range 5 {
		if _, err := l.Append(batch(fmt.Sprint(i), 3)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return m
}

// flip changes one byte of object id at off (from the end when negative).
func flip(t *testing.T, m *backend.Mem, id uint64, off int) {
	t.Helper()
	data := m.Objects()[ObjectName(id)]
	if off < 0 {
		off += len(data)
	}
	data[off] ^= 0x40
	if err := m.Put(context.Background(), ObjectName(id), data); err != nil {
		t.Fatal(err)
	}
}

// frameOffset returns the offset of record i's frame in an object of
// batch records.
func frameOffset(m *backend.Mem, id uint64, i int) int {
	data := m.Objects()[ObjectName(id)]
	h, _ := parseHeader("", data)
	it := newFrameIter("", data, h)
	for it.next() {
		if i == 0 {
			return it.pos
		}
		i--
	}
	return -1
}

func TestReplayNamesDamage(t *testing.T) {
	cases := []struct {
		name    string
		damage  func(t *testing.T, m *backend.Mem)
		object  uint64
		lsn     uint64
		reason  string
		records int // delivered before the error
	}{
		{"frame body", func(t *testing.T, m *backend.Mem) { flip(t, m, 4, frameOffset(m, 4, 1)+21) }, 4, 8, "CRC mismatch", 6},
		{"frame LSN", func(t *testing.T, m *backend.Mem) { flip(t, m, 4, frameOffset(m, 4, 2)+4) }, 4, 9, "CRC mismatch", 6},
		{"header", func(t *testing.T, m *backend.Mem) { flip(t, m, 3, 17) }, 3, 0, "header CRC", 3},
		{"trailer", func(t *testing.T, m *backend.Mem) { flip(t, m, 5, -1) }, 5, 13, "trailer CRC", 9},
		{"truncated", func(t *testing.T, m *backend.Mem) {
			data := m.Objects()[ObjectName(5)]
			m.Put(context.Background(), ObjectName(5), data[:len(data)-9])
		}, 5, 12, "", 9},
		{"missing object", func(t *testing.T, m *backend.Mem) { m.Delete(context.Background(), ObjectName(4)) }, 5, 7, "00000000000000000004.log is missing", 6},
		{"LSN gap", func(t *testing.T, m *backend.Mem) {
			// Object 4 replaced by one holding LSNs 8..10.
			obj := make([]byte, headerSize)
			for i := range 3 {
				obj = wal.EncodeFrame(obj, uint64(8+i), wal.KindCommit, nil)
			}
			m.Put(context.Background(), ObjectName(4), sealObject(obj, objHeader{epoch: 1, first: 8, count: 3}))
		}, 4, 7, "starts at LSN 8, want 7", 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := damagedLog(t)
			// The Log is opened before the damage: Open reads only the
			// first and last objects.
			l := mustOpen(t, m, opts(0, 2))
			defer l.Close()
			c.damage(t, m)
			n := 0
			err := l.Replay(0, func(wal.Record) error { n++; return nil })
			ce, ok := errors.AsType[*wal.CorruptError](err)
			if !ok || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Replay: %v", err)
			}
			if ce.File != ObjectName(c.object) || ce.LSN != c.lsn || !strings.Contains(ce.Reason, c.reason) {
				t.Fatalf("Replay: %v; want object %d LSN %d reason %q", err, c.object, c.lsn, c.reason)
			}
			if n != c.records {
				t.Fatalf("fn saw %d records before the damage, want %d", n, c.records)
			}
			// Scan reports the same, and reads on.
			var seen []string
			info, err := Scan(context.Background(), m, func(e Entry) error {
				seen = append(seen, fmt.Sprintf("%s:%d", e.Object, e.LSN))
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(info.Problems) == 0 || info.Problems[0].File != ce.File {
				t.Fatalf("Scan problems %v, Replay's %v", info.Problems, err)
			}
			if last := seen[len(seen)-1]; last != ObjectName(6)+":15" {
				t.Fatalf("Scan stopped at %s", last)
			}
		})
	}
}

func TestOpenRefusesDamage(t *testing.T) {
	m := damagedLog(t)
	flip(t, m, 6, frameOffset(m, 6, 0)+25)
	_, err := Open(context.Background(), m, opts(0, 2))
	if ce, ok := errors.AsType[*wal.CorruptError](err); !ok || ce.File != ObjectName(6) {
		t.Fatalf("Open with a damaged last object: %v", err)
	}
	m = damagedLog(t)
	m.Delete(context.Background(), ObjectName(3))
	if _, err := Open(context.Background(), m, opts(0, 2)); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "00000000000000000003.log is missing") {
		t.Fatalf("Open with a missing object: %v", err)
	}
}

// TestScan checks Info and Entry on a log with several problems, each
// reported, and the valid records of damaged objects delivered.
func TestScan(t *testing.T) {
	m := damagedLog(t)
	off := frameOffset(m, 3, 1)
	flip(t, m, 3, off+22) // record LSN 5
	m.Delete(context.Background(), ObjectName(5))
	flip(t, m, 6, -2) // trailer
	var entries []Entry
	info, err := Scan(context.Background(), m, func(e Entry) error {
		e.Data = append([]byte(nil), e.Data...)
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("wal: corrupt: 00000000000000000003.log offset %d lsn 5: CRC mismatch", off),
		"wal: corrupt: 00000000000000000006.log offset -1 lsn 10: object 00000000000000000005.log is missing",
		"wal: corrupt: 00000000000000000006.log offset 101 lsn 16: trailer CRC mismatch",
	}
	if len(info.Problems) != len(want) {
		t.Fatalf("problems: %v", info.Problems)
	}
	for i, p := range info.Problems {
		if !strings.HasPrefix(p.Error(), want[i]) {
			t.Errorf("problem %d: %v, want %s", i, p, want[i])
		}
	}
	if !info.Objects[2].Damaged || info.Objects[2].Records != 1 || info.Objects[2].LastLSN != 4 {
		t.Errorf("damaged object: %+v", info.Objects[2])
	}
	last := info.Objects[len(info.Objects)-1]
	if !last.Damaged || last.Records != 3 || last.FirstLSN != 13 || last.LastLSN != 15 || last.Epoch != 1 {
		t.Errorf("last object: %+v", last)
	}
	if len(info.Objects) != 5 || info.FirstLSN != 1 || info.LastLSN != 15 || info.Records != 10 || info.Epoch != 1 {
		t.Errorf("info: %+v", info)
	}
	var bytes int64
	for _, o := range info.Objects {
		bytes += o.Bytes
	}
	if bytes != info.Bytes {
		t.Errorf("Bytes %d, objects sum to %d", info.Bytes, bytes)
	}
	// 3 + 1 + 3 + 3 valid records, with their objects.
	if len(entries) != 10 || entries[0].Object != ObjectName(2) || entries[3].Object != ObjectName(3) || entries[4].Object != ObjectName(4) {
		t.Fatalf("entries: %d, %+v", len(entries), entries[:5])
	}
	data := m.Objects()[entries[4].Object]
	if lsn, _, body, err := wal.DecodeFrame(data[entries[4].Offset : entries[4].Offset+int64(entries[4].Size)]); err != nil || lsn != entries[4].LSN || string(body) != string(entries[4].Data) {
		t.Fatalf("entry offset/size do not frame its record: %v", err)
	}
	// An error from fn stops the scan.
	stop := errors.New("stop")
	if _, err := Scan(context.Background(), m, func(Entry) error { return stop }); err != stop {
		t.Fatalf("Scan with a failing fn: %v", err)
	}
	// An empty store.
	info, err = Scan(context.Background(), backend.NewMem(), nil)
	if err != nil || info.FirstLSN != 1 || info.LastLSN != 0 || len(info.Objects) != 0 {
		t.Fatalf("empty: %+v %v", info, err)
	}
}
