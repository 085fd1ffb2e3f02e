package checkpoint

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"

	"github.com/pwlog/pwlog/differential"
)

// genWideDeltas draws deltas from wide domains: long rows and large diffs
// reach the multi-byte varints of the format.
func genWideDeltas() *rapid.Generator[differential.Deltas] {
	return rapid.Custom(func(t *rapid.T) differential.Deltas {
		n := rapid.IntRange(0, 200).Draw(t, "n")
		groups := rapid.SampledFrom([]string{
			"", "g", strings.Repeat("long group ", 20),
			rapid.String().Draw(t, "g1"), rapid.String().Draw(t, "g2"),
		})
		var d differential.Deltas
		for range n {
			d.Groups = append(d.Groups, groups.Draw(t, "group"))
			d.Keys = append(d.Keys, differential.Key(rapid.Uint64().Draw(t, "key")))
			d.Rows = append(d.Rows, string(rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "row")))
			d.Diffs = append(d.Diffs, rapid.Int64().Draw(t, "diff"))
		}
		return d
	})
}

// roundTrip encodes d under meta, decodes it and checks that the result
// equals d and that the returned meta describes the file.
func roundTrip(t tester, meta RunMeta, d differential.Deltas) []byte {
	t.Helper()
	b := mustEncodeRun(t, meta, d)
	got, gd, err := DecodeRun(meta.Name, b)
	if err != nil {
		t.Fatalf("DecodeRun: %v", err)
	}
	if msg := diffDeltas(gd, d); msg != "" {
		t.Fatalf("decoded run: %s", msg)
	}
	want := meta
	want.Entries, want.Bytes, want.CRC = int64(d.Len()), int64(len(b)), Checksum(b)
	if got != want {
		t.Fatalf("decoded meta %+v, want %+v", got, want)
	}
	return b
}

func TestRunRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := SortDeltas(genWideDeltas().Draw(t, "deltas"))
		meta := RunMeta{
			Name:        RunName(rapid.Uint64().Draw(t, "id")),
			Operator:    rapid.String().Draw(t, "operator"),
			Arrangement: rapid.String().Draw(t, "arrangement"),
			Level:       rapid.IntRange(0, 40).Draw(t, "level"),
			MinLSN:      rapid.Uint64().Draw(t, "lo"),
			MaxLSN:      rapid.Uint64().Draw(t, "hi"),
			// The caller's Bytes, CRC and Entries are not stored.
			Bytes: 12345, CRC: 99, Entries: -3,
		}
		roundTrip(t, meta, d)
	})
}

func TestRunRoundTripSmallDomains(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		d := SortDeltas(genDeltas(60).Draw(t, "deltas"))
		roundTrip(t, RunMeta{Name: "r"}, d)
	})
}

func TestRunRoundTripTutorialShape(t *testing.T) {
	d := tutorialDeltas(20_000, 500, 1)
	roundTrip(t, RunMeta{Name: RunName(1), Operator: "sessions", Arrangement: "by_user"}, d)
}

func TestRunEmpty(t *testing.T) {
	for _, d := range []differential.Deltas{{}, {Groups: []string{}, Keys: []differential.Key{}, Rows: []string{}, Diffs: []int64{}}} {
		b := roundTrip(t, RunMeta{Name: RunName(0)}, d)
		if _, gd, _ := DecodeRun("x", b); gd.Len() != 0 {
			t.Fatalf("empty run decodes to %d entries", gd.Len())
		}
	}
}

func TestRunHugeSingleGroup(t *testing.T) {
	const n = 100_000
	group := strings.Repeat("one group ", 10)
	d := differential.Deltas{}
	for i := range n {
		d.Groups = append(d.Groups, group)
		d.Keys = append(d.Keys, differential.Key(i/2))
		d.Rows = append(d.Rows, []string{"a", "b"}[i%2])
		d.Diffs = append(d.Diffs, int64(i%5+1))
	}
	b := roundTrip(t, RunMeta{Name: "huge"}, d)
	// The group name is stored once, not once per entry.
	raw, err := snappy.Decode(nil, b[headerSize:])
	if err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(string(raw), group); c != 1 {
		t.Fatalf("the group name appears %d times in the body", c)
	}
}

func TestEncodeRunRefuses(t *testing.T) {
	k := func(ks ...differential.Key) []differential.Key { return ks }
	cases := map[string]differential.Deltas{
		"keys unsorted":   {Groups: []string{"g", "g"}, Keys: k(2, 1), Rows: []string{"r", "r"}, Diffs: []int64{1, 1}},
		"rows unsorted":   {Groups: []string{"g", "g"}, Keys: k(1, 1), Rows: []string{"s", "r"}, Diffs: []int64{1, 1}},
		"groups unsorted": {Groups: []string{"h", "g"}, Keys: k(1, 2), Rows: []string{"r", "r"}, Diffs: []int64{1, 1}},
		"key order is unsigned": {Groups: []string{"g", "g"}, Keys: k(1<<63, 1), Rows: []string{"r", "r"},
			Diffs: []int64{1, 1}},
		"duplicate":     {Groups: []string{"g", "g"}, Keys: k(1, 1), Rows: []string{"r", "r"}, Diffs: []int64{1, 1}},
		"zero diff":     {Groups: []string{"g"}, Keys: k(1), Rows: []string{"r"}, Diffs: []int64{0}},
		"ragged":        {Groups: []string{"g", "g"}, Keys: k(1, 2), Rows: []string{"r", "r"}, Diffs: []int64{1}},
		"ragged groups": {Groups: []string{"g"}, Keys: k(1, 2), Rows: []string{"r", "r"}, Diffs: []int64{1, 1}},
	}
	for name, d := range cases {
		b, err := EncodeRun(RunMeta{Name: "bad"}, d)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: EncodeRun returned %d bytes and error %v, want ErrInvalid", name, len(b), err)
		}
	}
}

func TestRunVersionFromFuture(t *testing.T) {
	meta, d := smallRun()
	b := mustEncodeRun(t, meta, d)
	future := rawFile(magicRun, formatVersion+1, b[headerSize:])
	_, _, err := DecodeRun("future", future)
	if !errors.Is(err, ErrVersion) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("version %d: error %v, want ErrVersion only", formatVersion+1, err)
	}
	_, _, err = DecodeRun("zero", rawFile(magicRun, 0, b[headerSize:]))
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("version 0: error %v, want ErrCorrupt", err)
	}
}

func TestRunWrongKind(t *testing.T) {
	mb, err := EncodeManifest(smallManifest())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = DecodeRun("m", mb)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "is a manifest") {
		t.Fatalf("DecodeRun of a manifest: %v", err)
	}
	meta, d := smallRun()
	_, err = DecodeManifest("r", mustEncodeRun(t, meta, d))
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "is a run") {
		t.Fatalf("DecodeManifest of a run: %v", err)
	}
}

// TestDecodeRunChecksBody hands the decoder bodies with a valid checksum
// that break the format's invariants, as a buggy or hostile writer would.
func TestDecodeRunChecksBody(t *testing.T) {
	meta, d := smallRun()
	marshal := func(body runBody) []byte {
		raw, err := msgpack.Marshal(&body)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	withDeltas := func(f func(d *differential.Deltas)) []byte {
		dd := cloneDeltas(d)
		f(&dd)
		return marshal(buildRunBody(meta, dd))
	}
	withBody := func(f func(b *runBody)) []byte {
		body := buildRunBody(meta, d)
		f(&body)
		return marshal(body)
	}
	cases := map[string][]byte{
		"zero diff":         withDeltas(func(d *differential.Deltas) { d.Diffs[2] = 0 }),
		"duplicate":         withDeltas(func(d *differential.Deltas) { d.Rows[3] = d.Rows[2] }),
		"keys unsorted":     withDeltas(func(d *differential.Deltas) { d.Keys[1], d.Keys[3] = d.Keys[3], d.Keys[1] }),
		"groups unsorted":   withDeltas(func(d *differential.Deltas) { d.Groups[4], d.Groups[5] = "a", "a" }),
		"group split":       withDeltas(func(d *differential.Deltas) { d.Groups[2] = "alicf"; d.Groups[3] = "alice" }),
		"meta entries":      withBody(func(b *runBody) { b.Meta.Entries++ }),
		"n too large":       withBody(func(b *runBody) { b.N++ }),
		"n negative":        withBody(func(b *runBody) { b.N = -1 }),
		"n huge":            withBody(func(b *runBody) { b.N = 1 << 60 }),
		"keys short":        withBody(func(b *runBody) { b.Keys = b.Keys[:len(b.Keys)-1] }),
		"row data short":    withBody(func(b *runBody) { b.RowData = b.RowData[:len(b.RowData)-1] }),
		"row data long":     withBody(func(b *runBody) { b.RowData = append(b.RowData, 'x') }),
		"row lens long":     withBody(func(b *runBody) { b.RowLens = append(b.RowLens, 0) }),
		"row len huge":      withBody(func(b *runBody) { b.RowLens = binary.AppendUvarint(b.RowLens[:0], 1<<62) }),
		"row len bad":       withBody(func(b *runBody) { b.RowLens = append(b.RowLens[:len(b.RowLens)-1], 0x80) }),
		"diffs long":        withBody(func(b *runBody) { b.Diffs = append(b.Diffs, 2) }),
		"diff bad":          withBody(func(b *runBody) { b.Diffs = append(b.Diffs[:len(b.Diffs)-1], 0xff) }),
		"group names long":  withBody(func(b *runBody) { b.GroupNames = append(b.GroupNames, 'x') }),
		"group index empty": withBody(func(b *runBody) { b.GroupIndex = nil }),
		"group count zero":  withBody(func(b *runBody) { b.GroupIndex = append(b.GroupIndex, 0, 0) }),
		"group count huge":  withBody(func(b *runBody) { b.GroupIndex = binary.AppendUvarint([]byte{0}, 1<<40) }),
		"group name huge":   withBody(func(b *runBody) { b.GroupIndex = binary.AppendUvarint(nil, 1<<40) }),
		"group index cut":   withBody(func(b *runBody) { b.GroupIndex = append(b.GroupIndex, 0x80) }),
		"trailing bytes":    append(withBody(func(*runBody) {}), 0xc0),
		"not a map":         {0x93, 1, 2, 3},
		"empty body":        {},
		"column not bin": func() []byte {
			raw, _ := msgpack.Marshal(map[string]any{"k": "a string", "n": 0})
			return raw
		}(),
		"meta wrong type": func() []byte {
			raw, _ := msgpack.Marshal(map[string]any{"m": 7})
			return raw
		}(),
		"key not a string": {0x81, 0x01, 0xc0},
	}
	for name, body := range cases {
		_, got, err := DecodeRun(name, rawRun(body))
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: DecodeRun returned %d entries and error %v, want ErrCorrupt", name, got.Len(), err)
		}
	}
	// The control: the unmodified body decodes.
	if _, _, err := DecodeRun("control", rawRun(withBody(func(*runBody) {}))); err != nil {
		t.Fatalf("control: %v", err)
	}
}

// TestDecodeRunUnknownField checks that a field a later writer of the same
// version adds is skipped.
func TestDecodeRunUnknownField(t *testing.T) {
	meta, d := smallRun()
	body := buildRunBody(meta, d)
	raw, err := msgpack.Marshal(&struct {
		runBody
		Extra []string `msgpack:"zz"`
	}{body, []string{"later"}})
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := DecodeRun("x", rawRun(raw))
	if err != nil {
		t.Fatal(err)
	}
	if msg := diffDeltas(got, d); msg != "" {
		t.Fatal(msg)
	}
}

func TestDecodeRunAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	d := tutorialDeltas(10_000, 100, 2)
	b := mustEncodeRun(t, RunMeta{Name: "r"}, d)
	allocs := testing.AllocsPerRun(5, func() {
		if _, _, err := DecodeRun("r", b); err != nil {
			t.Fatal(err)
		}
	})
	// A fixed number, whatever the number of entries: the snappy buffer,
	// the four columns, two backing strings, the meta and msgpack's own.
	if allocs > 40 {
		t.Fatalf("DecodeRun of %d entries makes %.0f allocations", d.Len(), allocs)
	}
}

func TestChecksumIsCastagnoli(t *testing.T) {
	meta, d := smallRun()
	b := mustEncodeRun(t, meta, d)
	tab := crc32.MakeTable(crc32.Castagnoli)
	if got, want := Checksum(b), crc32.Checksum(b, tab); got != want {
		t.Fatalf("Checksum %#x, CRC-32C %#x", got, want)
	}
	want := crc32.Update(crc32.Checksum(b[:20], tab), tab, b[headerSize:])
	if got := binary.LittleEndian.Uint32(b[20:24]); got != want {
		t.Fatalf("header CRC %#x, CRC-32C of bytes [0,20) and the body is %#x", got, want)
	}
	if string(b[:8]) != "PWLGRUN\x00" || binary.LittleEndian.Uint16(b[8:]) != 1 ||
		binary.LittleEndian.Uint64(b[12:]) != uint64(len(b)-24) {
		t.Fatalf("header % x does not follow the documented layout", b[:24])
	}
}

func TestCorruptError(t *testing.T) {
	err := error(&CorruptError{Object: "runs/1.run", Offset: 24, Reason: "bad"})
	if got, want := err.Error(), "checkpoint: corrupt: runs/1.run at offset 24: bad"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatal("CorruptError does not unwrap to ErrCorrupt")
	}
	meta, d := smallRun()
	b := mustEncodeRun(t, meta, d)
	_, _, err = DecodeRun("runs/x.run", b[:len(b)-1])
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Object != "runs/x.run" || ce.Offset != offLength {
		t.Fatalf("truncated run: %#v, want a CorruptError for runs/x.run at offset %d", err, offLength)
	}
}
