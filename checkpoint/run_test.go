package checkpoint

import (
	"bytes"
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

// roundTrip encodes d under meta in format 2 and in format 1, decodes
// each and checks that the result equals d and that the returned meta
// describes the file. It returns the run of format 2.
func roundTrip(t tester, meta RunMeta, d differential.Deltas) []byte {
	t.Helper()
	b := mustEncodeRun(t, meta, d)
	checkDecodes(t, meta, d, b)
	checkDecodes(t, meta, d, mustEncodeRunV1(t, meta, d))
	return b
}

// checkDecodes checks that the run b decodes to d and to meta, with the
// fields that describe the file set.
func checkDecodes(t tester, meta RunMeta, d differential.Deltas, b []byte) {
	t.Helper()
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

// hugeGroup returns n entries of one group of a long name.
func hugeGroup(n int) (string, differential.Deltas) {
	group := strings.Repeat("one group ", 10)
	d := differential.Deltas{}
	for i := range n {
		d.Groups = append(d.Groups, group)
		d.Keys = append(d.Keys, differential.Key(i/2))
		d.Rows = append(d.Rows, []string{"a", "b"}[i%2])
		d.Diffs = append(d.Diffs, int64(i%5+1))
	}
	return group, d
}

func TestRunHugeSingleGroup(t *testing.T) {
	group, d := hugeGroup(100_000)
	b := roundTrip(t, RunMeta{Name: "huge"}, d)

	// Format 1: the group name is stored once, not once per entry.
	v1 := mustEncodeRunV1(t, RunMeta{Name: "huge"}, d)
	raw, err := snappy.Decode(nil, v1[headerSize:])
	if err != nil {
		t.Fatal(err)
	}
	if c := strings.Count(string(raw), group); c != 1 {
		t.Fatalf("format 1: the group name appears %d times in the body", c)
	}

	// Format 2: once per block, and a lookup reads the group whole across
	// its many blocks.
	f := parseV2(t, b)
	if len(f.blocks) < 10 {
		t.Fatalf("%d entries in %d blocks", d.Len(), len(f.blocks))
	}
	for i, bl := range f.blocks {
		if c := strings.Count(string(bl.payload), group); c != 1 || bl.first != group || bl.last != group {
			t.Fatalf("block %d: the group name appears %d times, the index says groups %q to %q", i, c, bl.first, bl.last)
		}
	}
	run, err := OpenRun("huge", bytes.NewReader(b), int64(len(b)), NewCache(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // cold, then from the cache
		got, found, err := lookup(run, group)
		if err != nil || !found {
			t.Fatalf("Lookup: found %v, %v", found, err)
		}
		if msg := diffDeltas(got, d); msg != "" {
			t.Fatalf("Lookup: %s", msg)
		}
	}
	for _, g := range absentGroups([]string{group}) {
		if got, found, err := lookup(run, g); err != nil || found || got.Len() != 0 {
			t.Fatalf("Lookup(%q): found %v, %d entries, %v", g, found, got.Len(), err)
		}
	}
}

// TestRunHugeGroupAmongOthers looks up a group of many blocks between
// small groups, the blocks at its ends shared with them.
func TestRunHugeGroupAmongOthers(t *testing.T) {
	group, huge := hugeGroup(5_000)
	var d differential.Deltas
	for _, g := range []string{"a", group[:len(group)-1], group + "\x00", "z"} {
		for k := range 3 {
			d.Groups = append(d.Groups, g)
			d.Keys = append(d.Keys, differential.Key(k))
			d.Rows = append(d.Rows, "r")
			d.Diffs = append(d.Diffs, 1)
		}
	}
	d = Merge(d, huge)
	for _, bs := range []int{1, 50, 1000, DefaultBlockSize} {
		for _, groups := range []int{0, 5} {
			b := mustEncodeRunOpts(t, RunMeta{Name: "r"}, d, WriterOptions{BlockSize: bs, Groups: groups})
			run, err := OpenRun("r", bytes.NewReader(b), int64(len(b)), nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range groupsOf(d) {
				got, found, err := lookup(run, g)
				if err != nil || !found {
					t.Fatalf("block size %d: Lookup(%q): found %v, %v", bs, g, found, err)
				}
				if msg := diffDeltas(got, entriesOf(d, g)); msg != "" {
					t.Fatalf("block size %d: Lookup(%q): %s", bs, g, msg)
				}
			}
		}
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
	b := blockyRunBytes()
	for _, v := range []uint16{runVersion + 1, 0xffff} {
		// A newer run has a header of format 2 whose checksum holds,
		// and anything after it.
		for what, future := range map[string][]byte{
			"run":    withHeaderV2(b, v),
			"header": rawHeaderV2(v),
			"empty body": append(rawHeaderV2(v),
				make([]byte, footerSize)...),
		} {
			_, _, err := DecodeRun("future", future)
			if !errors.Is(err, ErrVersion) || errors.Is(err, ErrCorrupt) {
				t.Fatalf("version %d, %s: DecodeRun error %v, want ErrVersion only", v, what, err)
			}
			_, err = OpenRun("future", bytes.NewReader(future), int64(len(future)), nil)
			if !errors.Is(err, ErrVersion) || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "future") {
				t.Fatalf("version %d, %s: OpenRun error %v, want ErrVersion only, naming the run", v, what, err)
			}
		}
	}
	// Version 0 is corruption, in either layout.
	meta, d := smallRun()
	v1 := mustEncodeRunV1(t, meta, d)
	for what, zero := range map[string][]byte{
		"format 1 layout": rawFile(magicRun, 0, v1[headerSize:]),
		"format 2 layout": withHeaderV2(b, 0),
	} {
		if _, _, err := DecodeRun("zero", zero); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("version 0, %s: DecodeRun error %v, want ErrCorrupt", what, err)
		}
		if _, err := OpenRun("zero", bytes.NewReader(zero), int64(len(zero)), nil); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("version 0, %s: OpenRun error %v, want ErrCorrupt", what, err)
		}
	}
	// A damaged version is corruption, not a newer format.
	c := bytes.Clone(b)
	c[offVersion] ^= 1
	if _, _, err := DecodeRun("damaged", c); !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrVersion) {
		t.Fatalf("version %d with the checksum of version %d: %v", runVersion^1, runVersion, err)
	}
}

// TestOpenRunOldFormat gives OpenRun a run of format 1: ErrOldFormat,
// not corruption; DecodeRun reads it.
func TestOpenRunOldFormat(t *testing.T) {
	meta, d := smallRun()
	b := mustEncodeRunV1(t, meta, d)
	_, err := OpenRun("runs/old.run", bytes.NewReader(b), int64(len(b)), NewCache(1<<20))
	if !errors.Is(err, ErrOldFormat) || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "runs/old.run") {
		t.Fatalf("OpenRun of format 1: %v, want ErrOldFormat naming the run", err)
	}
	checkDecodes(t, meta, d, b)
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
	_, err = OpenRun("m", bytes.NewReader(mb), int64(len(mb)), nil)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "is a manifest") {
		t.Fatalf("OpenRun of a manifest: %v", err)
	}
	meta, d := smallRun()
	for _, rb := range [][]byte{mustEncodeRun(t, meta, d), mustEncodeRunV1(t, meta, d)} {
		_, err = DecodeManifest("r", rb)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "is a run") {
			t.Fatalf("DecodeManifest of a run: %v", err)
		}
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
	allocs := func(b []byte) float64 {
		return testing.AllocsPerRun(5, func() {
			if _, _, err := DecodeRun("r", b); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Format 1: a fixed number, whatever the number of entries: the
	// snappy buffer, the four columns, two backing strings, the meta and
	// msgpack's own.
	for _, n := range []int{1_000, 10_000} {
		d := tutorialDeltas(n, 100, 2)
		if a := allocs(mustEncodeRunV1(t, RunMeta{Name: "r"}, d)); a > 40 {
			t.Fatalf("format 1: DecodeRun of %d entries makes %.0f allocations", d.Len(), a)
		}
	}
	// Format 2: a fixed number per block, whatever the number of entries
	// in it: blocks of 10 times as many entries cost as many allocations.
	d := tutorialDeltas(10_000, 100, 2)
	for _, bs := range []int{DefaultBlockSize, 10 * DefaultBlockSize} {
		b := mustEncodeRunOpts(t, RunMeta{Name: "r"}, d, WriterOptions{BlockSize: bs, Groups: 100})
		blocks := len(parseV2(t, b).blocks)
		if a := allocs(b); a > float64(16*blocks+40) {
			t.Fatalf("format 2: DecodeRun of %d entries in %d blocks makes %.0f allocations", d.Len(), blocks, a)
		}
	}
}

func TestChecksumIsCastagnoli(t *testing.T) {
	tab := crc32.MakeTable(crc32.Castagnoli)
	meta, d := smallRun()
	for _, b := range [][]byte{mustEncodeRun(t, meta, d), mustEncodeRunV1(t, meta, d)} {
		if got, want := Checksum(b), crc32.Checksum(b, tab); got != want {
			t.Fatalf("Checksum %#x, CRC-32C %#x", got, want)
		}
	}

	// Format 1: the header's checksum covers the header and the body.
	b := mustEncodeRunV1(t, meta, d)
	want := crc32.Update(crc32.Checksum(b[:20], tab), tab, b[headerSize:])
	if got := binary.LittleEndian.Uint32(b[20:24]); got != want {
		t.Fatalf("format 1: header CRC %#x, CRC-32C of bytes [0,20) and the body is %#x", got, want)
	}
	if string(b[:8]) != "PWLGRUN\x00" || binary.LittleEndian.Uint16(b[8:]) != 1 ||
		binary.LittleEndian.Uint64(b[12:]) != uint64(len(b)-24) {
		t.Fatalf("format 1: header % x does not follow the documented layout", b[:24])
	}

	// Format 2: the header's covers bytes [0,20), each block's its
	// compressed bytes, the filter's and the index's theirs.
	b = blockyRunBytes()
	f := parseV2(t, b)
	if got, want := f.headerCRC, crc32.Checksum(b[:20], tab); got != want {
		t.Fatalf("format 2: header CRC %#x, CRC-32C of bytes [0,20) is %#x", got, want)
	}
	for i, c := range f.compressedBlocks {
		if got, want := f.blockCRCs[i], crc32.Checksum(c, tab); got != want {
			t.Fatalf("format 2: block %d: CRC %#x, CRC-32C %#x", i, got, want)
		}
	}
	if got, want := f.filterCRC, crc32.Checksum(f.filter, tab); got != want || len(f.filter) == 0 {
		t.Fatalf("format 2: filter of %d bytes: CRC %#x, CRC-32C %#x", len(f.filter), got, want)
	}
	if got, want := f.indexCRC, crc32.Checksum(f.compressedIndex, tab); got != want {
		t.Fatalf("format 2: index CRC %#x, CRC-32C %#x", got, want)
	}
}

// TestRunV2Layout checks a run of format 2 against the documented
// layout: the header's fields, the blocks from byte 24 on, each a snappy
// block and its checksum, the filter, the snappy-compressed index (the
// metadata, the counts, per block its offset, length, entries, first and
// last group, the filter's offset, length, probes and checksum) and the
// footer. parseV2 reads it without OpenRun; the run put together again
// from its parts is the same bytes.
func TestRunV2Layout(t *testing.T) {
	meta, d := blockyRun()
	b := blockyRunBytes()
	if string(b[:8]) != "PWLGRUN\x00" || binary.LittleEndian.Uint16(b[8:]) != 2 ||
		binary.LittleEndian.Uint16(b[10:]) != 0 || binary.LittleEndian.Uint64(b[12:]) != 0 {
		t.Fatalf("header % x does not follow the documented layout", b[:24])
	}
	f := parseV2(t, b)
	var m RunMeta
	if err := msgpack.Unmarshal(f.meta, &m); err != nil {
		t.Fatal(err)
	}
	want := meta
	want.Entries = int64(d.Len())
	if m != want {
		t.Fatalf("index metadata %+v, want %+v", m, want)
	}
	if f.n != uint64(d.Len()) || f.groups != uint64(len(groupsOf(d))) || f.k != 6 {
		t.Fatalf("index counts %d entries, %d groups, %d probes", f.n, f.groups, f.k)
	}
	if len(f.blocks) < 3 {
		t.Fatalf("%d blocks", len(f.blocks))
	}
	next := 0
	for i, bl := range f.blocks {
		blk, reason := decodeBlock(bl.payload)
		if reason != "" {
			t.Fatalf("block %d: %s", i, reason)
		}
		if bl.entries != uint64(blk.len()) || bl.first != d.Groups[next] || bl.last != d.Groups[next+blk.len()-1] {
			t.Fatalf("block %d: index says %d entries of %q to %q", i, bl.entries, bl.first, bl.last)
		}
		// The payload is the documented columns.
		var one differential.Deltas
		for e := range blk.len() {
			one.Groups = append(one.Groups, d.Groups[next+e])
		}
		one.Keys, one.Rows, one.Diffs = d.Keys[next:next+blk.len()], d.Rows[next:next+blk.len()], d.Diffs[next:next+blk.len()]
		if got := appendBlock(nil, &one, 0, one.Len()); !bytes.Equal(got, bl.payload) {
			t.Fatalf("block %d: payload % x, want % x", i, bl.payload, got)
		}
		next += blk.len()
	}
	if next != d.Len() {
		t.Fatalf("blocks hold %d entries, want %d", next, d.Len())
	}
	for _, g := range groupsOf(d) {
		if !mayHold(f.filter, int(f.k), g) {
			t.Fatalf("the filter leaves out %q", g)
		}
	}
	parts := f.v2parts
	if !bytes.Equal(parts.build(), b) {
		t.Fatal("the run put together again from its parts differs")
	}
}

func TestCorruptError(t *testing.T) {
	err := error(&CorruptError{Object: "runs/1.run", Offset: 24, Reason: "bad"})
	if got, want := err.Error(), "checkpoint: corrupt: runs/1.run at offset 24: bad"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	err = &CorruptError{Object: "runs/1.run", Offset: -1, Reason: "bad"}
	if got, want := err.Error(), "checkpoint: corrupt: runs/1.run: bad"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatal("CorruptError does not unwrap to ErrCorrupt")
	}
	meta, d := smallRun()
	var ce *CorruptError
	// Format 1: a cut run is caught by the header's length.
	b := mustEncodeRunV1(t, meta, d)
	_, _, err = DecodeRun("runs/x.run", b[:len(b)-1])
	if !errors.As(err, &ce) || ce.Object != "runs/x.run" || ce.Offset != offLength {
		t.Fatalf("truncated run: %#v, want a CorruptError for runs/x.run at offset %d", err, offLength)
	}
	// Format 2: by the footer, whose magic no longer ends the file.
	b = mustEncodeRun(t, meta, d)
	_, _, err = DecodeRun("runs/y.run", b[:len(b)-1])
	if !errors.As(err, &ce) || ce.Object != "runs/y.run" || ce.Offset != int64(len(b)-1-footerSize+16) {
		t.Fatalf("truncated run: %#v, want a CorruptError for runs/y.run at offset %d", err, len(b)-1-footerSize+16)
	}
}
