package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"strings"

	"github.com/golang/snappy"
	"pgregory.net/rapid"

	"github.com/pwlog/pwlog/differential"
)

// genDeltas draws arbitrary, unsorted deltas from small domains, so that
// equal (group, key, row) entries and cancellations are common. The
// domains hold the byte and numeric extremes that a wrong order would
// misplace: "" and "\xff" groups, groups that differ only past their
// eighth byte or by trailing zero bytes, keys above 1<<63.
func genDeltas(maxLen int) *rapid.Generator[differential.Deltas] {
	return rapid.Custom(func(t *rapid.T) differential.Deltas {
		groups := rapid.SampledFrom([]string{"", "a", "ab", "b", "\x00", "a\x00", "\xff", "user-1", "user-10",
			"eightbyt", "eightbyt\x00", "eightbyte", "eightbyte-and-more", "eightbyu"})
		keys := rapid.SampledFrom([]differential.Key{0, 1, 2, 1 << 62, 1<<63 + 5, 1<<64 - 1})
		rows := rapid.SampledFrom([]string{"", "r", "r\x00", "rs", "\x80\x81", "row-with-more-bytes"})
		n := rapid.IntRange(0, maxLen).Draw(t, "n")
		var d differential.Deltas
		for range n {
			d.Groups = append(d.Groups, groups.Draw(t, "group"))
			d.Keys = append(d.Keys, keys.Draw(t, "key"))
			d.Rows = append(d.Rows, rows.Draw(t, "row"))
			d.Diffs = append(d.Diffs, rapid.Int64Range(-3, 3).Draw(t, "diff"))
		}
		return d
	})
}

// modelKey is one (group, key, row) of the model.
type modelKey struct {
	group string
	key   differential.Key
	row   string
}

// model consolidates deltas the simple way: a map of sums, the nonzero
// sums sorted by (group, key, row).
func model(ds ...differential.Deltas) differential.Deltas {
	sums := map[modelKey]int64{}
	for _, d := range ds {
		for i := range d.Keys {
			sums[modelKey{d.Groups[i], d.Keys[i], d.Rows[i]}] += d.Diffs[i]
		}
	}
	var ks []modelKey
	for k, s := range sums {
		if s != 0 {
			ks = append(ks, k)
		}
	}
	slices.SortFunc(ks, func(a, b modelKey) int {
		switch {
		case a.group < b.group:
			return -1
		case a.group > b.group:
			return 1
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		case a.row < b.row:
			return -1
		case a.row > b.row:
			return 1
		}
		return 0
	})
	var out differential.Deltas
	for _, k := range ks {
		out.Groups = append(out.Groups, k.group)
		out.Keys = append(out.Keys, k.key)
		out.Rows = append(out.Rows, k.row)
		out.Diffs = append(out.Diffs, sums[k])
	}
	return out
}

// cloneDeltas returns a deep copy of the columns of d.
func cloneDeltas(d differential.Deltas) differential.Deltas {
	return differential.Deltas{
		Groups: slices.Clone(d.Groups),
		Keys:   slices.Clone(d.Keys),
		Rows:   slices.Clone(d.Rows),
		Diffs:  slices.Clone(d.Diffs),
	}
}

// diffDeltas describes the first difference between got and want, or
// returns "". Nil and empty columns are equal.
func diffDeltas(got, want differential.Deltas) string {
	if len(got.Groups) != len(want.Groups) || len(got.Keys) != len(want.Keys) ||
		len(got.Rows) != len(want.Rows) || len(got.Diffs) != len(want.Diffs) {
		return fmt.Sprintf("columns of %d/%d/%d/%d entries, want %d/%d/%d/%d",
			len(got.Groups), len(got.Keys), len(got.Rows), len(got.Diffs),
			len(want.Groups), len(want.Keys), len(want.Rows), len(want.Diffs))
	}
	for i := range want.Keys {
		if got.Groups[i] != want.Groups[i] || got.Keys[i] != want.Keys[i] ||
			got.Rows[i] != want.Rows[i] || got.Diffs[i] != want.Diffs[i] {
			return fmt.Sprintf("entry %d is (%q, %d, %q, %d), want (%q, %d, %q, %d)", i,
				got.Groups[i], got.Keys[i], got.Rows[i], got.Diffs[i],
				want.Groups[i], want.Keys[i], want.Rows[i], want.Diffs[i])
		}
	}
	return ""
}

// tutorialDeltas returns n sorted entries shaped like the tutorial's session
// state: the group is an encoded user id (6 bytes), the key a random u64,
// the row an encoded (user, time) (14 bytes), the diff 1. users is the
// number of distinct groups.
func tutorialDeltas(n, users int, seed int64) differential.Deltas {
	rng := rand.New(rand.NewSource(seed))
	names := make([]string, users)
	for u := range names {
		names[u] = fmt.Sprintf("%04d", u)
	}
	var d differential.Deltas
	for range n {
		u := names[rng.Intn(users)]
		t := int64(1_700_000_000_000 + rng.Intn(1_000_000_000))
		d.Groups = append(d.Groups, string(differential.EncodeRow(differential.Row{differential.String(u)})))
		d.Keys = append(d.Keys, differential.Key(rng.Uint64()))
		d.Rows = append(d.Rows, string(differential.EncodeRow(differential.Row{differential.String(u), differential.Int(t)})))
		d.Diffs = append(d.Diffs, 1)
	}
	return SortDeltas(d)
}

// rawRun returns a run file whose body is the snappy block of body, with a
// valid header: a way to hand the decoder bodies EncodeRun would not write.
func rawRun(body []byte) []byte {
	return rawFile(magicRun, formatVersion, snappy.Encode(nil, body))
}

// rawFile returns a file of the given magic and version around payload,
// with a right length and checksum.
func rawFile(magic string, version uint16, payload []byte) []byte {
	b := make([]byte, headerSize+len(payload))
	copy(b[headerSize:], payload)
	putHeader(b, magic, version)
	return b
}

// tester is what the helpers need of a *testing.T or a *rapid.T.
type tester interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// panicker is a tester that panics, for helpers that build test data
// outside of a test.
type panicker struct{}

func (panicker) Helper()                           {}
func (panicker) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (panicker) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// mustEncodeRun encodes a run or fails the test.
func mustEncodeRun(t tester, meta RunMeta, d differential.Deltas) []byte {
	t.Helper()
	b, err := EncodeRun(meta, d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// smallRun is a run of a few entries over three groups.
func smallRun() (RunMeta, differential.Deltas) {
	meta := RunMeta{Name: RunName(7), Operator: "sessions", Arrangement: "by_user", Level: 1, MinLSN: 3, MaxLSN: 9}
	d := differential.Deltas{
		Groups: []string{"", "alice", "alice", "alice", "bob", "bob"},
		Keys:   []differential.Key{5, 1, 2, 2, 1 << 63, 1<<63 + 1},
		Rows:   []string{"x", "r1", "a", "b", "", "long row of some bytes"},
		Diffs:  []int64{1, -1, 2, 1, 300, -1 << 40},
	}
	return meta, d
}

// smallRunBytes returns the encoded smallRun.
func smallRunBytes() []byte {
	b, err := EncodeRun(smallRun())
	if err != nil {
		panic(err)
	}
	return b
}

// smallRunV1Bytes returns the smallRun encoded in format 1.
func smallRunV1Bytes() []byte {
	meta, d := smallRun()
	return mustEncodeRunV1(panicker{}, meta, d)
}

// smallManifest is a manifest of two runs.
func smallManifest() *Manifest {
	return &Manifest{
		Seq:         4,
		LSN:         120,
		Clock:       1_700_000_000_123,
		Fingerprint: []string{"source csv users", "operator sessions gap=5"},
		Runs: []RunMeta{
			{Name: RunName(1), Operator: "sessions", Arrangement: "by_user", Level: 2, Entries: 10, Bytes: 400, MinLSN: 1, MaxLSN: 100, CRC: 0xdeadbeef},
			{Name: RunName(2), Operator: "csv", Arrangement: "rows", Entries: 3, Bytes: 90, MinLSN: 101, MaxLSN: 120, CRC: 7},
		},
		Meta: []byte{0x81, 0xa1, 's', 0x80},
	}
}

// mustEncodeRunV1 encodes a run in format 1 or fails the test.
func mustEncodeRunV1(t tester, meta RunMeta, d differential.Deltas) []byte {
	t.Helper()
	b, err := encodeRunV1(meta, d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustEncodeRunOpts encodes a run in format 2 with opts or fails the test.
func mustEncodeRunOpts(t tester, meta RunMeta, d differential.Deltas, opts WriterOptions) []byte {
	t.Helper()
	b, err := EncodeRunOptions(meta, d, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// blockyRun is a small run of a few groups, one of which ("alice") spans
// several blocks when written with blockyOpts.
func blockyRun() (RunMeta, differential.Deltas) {
	meta := RunMeta{Name: RunName(8), Operator: "sessions", Arrangement: "by_user", Level: 2, MinLSN: 4, MaxLSN: 11}
	d := differential.Deltas{
		Groups: []string{"", "alice", "alice", "alice", "alice", "alice", "bob", "bob", "carol", "carol"},
		Keys:   []differential.Key{5, 1, 2, 2, 3, 1 << 63, 7, 8, 0, 1<<64 - 1},
		Rows:   []string{"x", "r1", "a", "b", "", "row of alice", "", "long row of some bytes", "c", "c"},
		Diffs:  []int64{1, -1, 2, 1, 7, -1 << 40, 300, -2, 1, 1},
	}
	return meta, d
}

// blockyOpts writes blockyRun in a few blocks, with a filter.
var blockyOpts = WriterOptions{BlockSize: 64, Groups: 4}

// blockyRunBytes returns the encoded blockyRun.
func blockyRunBytes() []byte {
	meta, d := blockyRun()
	b, err := EncodeRunOptions(meta, d, blockyOpts)
	if err != nil {
		panic(err)
	}
	return b
}

// rawHeaderV2 returns a format-2 header of the given version, with a right
// checksum.
func rawHeaderV2(version uint16) []byte {
	h := make([]byte, headerSize)
	copy(h, magicRun)
	binary.LittleEndian.PutUint16(h[offVersion:], version)
	binary.LittleEndian.PutUint32(h[offCRC:], Checksum(h[:offCRC]))
	return h
}

// withHeaderV2 returns a copy of the format-2 run b with its header
// replaced by a right one of the given version.
func withHeaderV2(b []byte, version uint16) []byte {
	c := bytes.Clone(b)
	copy(c, rawHeaderV2(version))
	return c
}

// v2block is one block of a format-2 run taken apart.
type v2block struct {
	payload     []byte // before compression
	compressed  []byte // when not nil, written instead of the snappy block of payload
	entries     uint64
	first, last string
}

// v2parts is a format-2 run taken apart along the documented layout, to
// be checked or put together again (build) with right offsets and
// checksums: the tests' way of writing what RunWriter would not.
type v2parts struct {
	meta      []byte // msgpack of the RunMeta
	n, groups uint64
	blocks    []v2block
	filter    []byte
	k         uint64
}

// v2file is the layout of a format-2 run as the documentation gives it.
type v2file struct {
	v2parts
	index            []byte // decompressed
	indexOff         int64
	blockOffs        []int64 // of each block's compressed payload
	blockLens        []int64 // without the checksum
	filterOff        int64
	filterCRC        uint32
	headerCRC        uint32
	indexCRC         uint32
	compressedIndex  []byte
	compressedBlocks [][]byte
	blockCRCs        []uint32
}

// parseV2 takes the valid format-2 run b apart by the documented layout,
// independently of OpenRun, failing the test where b does not follow it.
func parseV2(t tester, b []byte) *v2file {
	t.Helper()
	if len(b) < headerSize+footerSize {
		t.Fatalf("run of %d bytes", len(b))
	}
	f := &v2file{headerCRC: binary.LittleEndian.Uint32(b[offCRC:])}
	foot := b[len(b)-footerSize:]
	if string(foot[16:]) != "PWLGRIX\x00" {
		t.Fatalf("footer % x does not end with the magic", foot)
	}
	f.indexOff = int64(binary.LittleEndian.Uint64(foot))
	ilen := int64(binary.LittleEndian.Uint32(foot[8:]))
	f.indexCRC = binary.LittleEndian.Uint32(foot[12:])
	if f.indexOff+ilen != int64(len(b)-footerSize) {
		t.Fatalf("index at %d, %d bytes, does not end at the footer (%d)", f.indexOff, ilen, len(b)-footerSize)
	}
	f.compressedIndex = b[f.indexOff : f.indexOff+ilen]
	idx, err := snappy.Decode(nil, f.compressedIndex)
	if err != nil {
		t.Fatalf("index: %v", err)
	}
	f.index = idx
	p := idx
	uv := func() uint64 {
		v, k := binary.Uvarint(p)
		if k <= 0 {
			t.Fatalf("index: bad uvarint at byte %d", len(idx)-len(p))
		}
		p = p[k:]
		return v
	}
	str := func() string {
		l := uv()
		if l > uint64(len(p)) {
			t.Fatalf("index: string of %d bytes, %d remain", l, len(p))
		}
		s := string(p[:l])
		p = p[l:]
		return s
	}
	f.meta = []byte(str())
	f.n, f.groups = uv(), uv()
	nb := uv()
	next := int64(headerSize)
	for i := range nb {
		off, length, entries := int64(uv()), int64(uv()), uv()
		first, last := str(), str()
		if off != next {
			t.Fatalf("block %d at %d, want %d", i, off, next)
		}
		c := b[off : off+length]
		payload, err := snappy.Decode(nil, c)
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		f.blocks = append(f.blocks, v2block{payload: payload, entries: entries, first: first, last: last})
		f.blockOffs = append(f.blockOffs, off)
		f.blockLens = append(f.blockLens, length)
		f.compressedBlocks = append(f.compressedBlocks, c)
		f.blockCRCs = append(f.blockCRCs, binary.LittleEndian.Uint32(b[off+length:]))
		next = off + length + 4
	}
	f.filterOff = int64(uv())
	flen := int64(uv())
	f.k = uv()
	if len(p) != 4 {
		t.Fatalf("index: %d bytes after the filter's probes, want 4", len(p))
	}
	f.filterCRC = binary.LittleEndian.Uint32(p)
	if flen > 0 {
		if f.filterOff != next {
			t.Fatalf("filter at %d, want %d", f.filterOff, next)
		}
		f.filter = b[f.filterOff : f.filterOff+flen]
		next += flen
	}
	if next != f.indexOff {
		t.Fatalf("index at %d, want %d", f.indexOff, next)
	}
	return f
}

// splitV2 takes the valid format-2 run b apart.
func splitV2(t tester, b []byte) v2parts {
	t.Helper()
	f := parseV2(t, b)
	p := f.v2parts
	p.meta = bytes.Clone(p.meta)
	p.filter = bytes.Clone(p.filter)
	for i := range p.blocks {
		p.blocks[i].payload = bytes.Clone(p.blocks[i].payload)
	}
	return p
}

// build puts p together as a format-2 run with right offsets and
// checksums.
func (p *v2parts) build() []byte {
	var body []byte
	var idx []byte
	idx = binary.AppendUvarint(idx, uint64(len(p.meta)))
	idx = append(idx, p.meta...)
	idx = binary.AppendUvarint(idx, p.n)
	idx = binary.AppendUvarint(idx, p.groups)
	idx = binary.AppendUvarint(idx, uint64(len(p.blocks)))
	for _, bl := range p.blocks {
		c := bl.compressed
		if c == nil {
			c = snappy.Encode(nil, bl.payload)
		}
		idx = binary.AppendUvarint(idx, uint64(headerSize+len(body)))
		idx = binary.AppendUvarint(idx, uint64(len(c)))
		idx = binary.AppendUvarint(idx, bl.entries)
		idx = binary.AppendUvarint(idx, uint64(len(bl.first)))
		idx = append(idx, bl.first...)
		idx = binary.AppendUvarint(idx, uint64(len(bl.last)))
		idx = append(idx, bl.last...)
		body = append(body, c...)
		body = binary.LittleEndian.AppendUint32(body, Checksum(c))
	}
	var foff uint64
	if len(p.filter) > 0 {
		foff = uint64(headerSize + len(body))
		body = append(body, p.filter...)
	}
	idx = binary.AppendUvarint(idx, foff)
	idx = binary.AppendUvarint(idx, uint64(len(p.filter)))
	idx = binary.AppendUvarint(idx, p.k)
	var fcrc uint32
	if len(p.filter) > 0 {
		fcrc = Checksum(p.filter)
	}
	idx = binary.LittleEndian.AppendUint32(idx, fcrc)
	return assembleV2(body, idx)
}

// assembleV2 returns a format-2 run of a right header, then body (the
// blocks and the filter, as they are), then the snappy block of index and
// a right footer.
func assembleV2(body, index []byte) []byte {
	return assembleV2Raw(body, snappy.Encode(nil, index))
}

// assembleV2Raw is assembleV2 of an index already compressed (or not).
func assembleV2Raw(body, ci []byte) []byte {
	b := append(rawHeaderV2(runVersion), body...)
	off := len(b)
	b = append(b, ci...)
	b = binary.LittleEndian.AppendUint64(b, uint64(off))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(ci)))
	b = binary.LittleEndian.AppendUint32(b, Checksum(ci))
	return append(b, magicFooter...)
}

// groupsOf returns the distinct groups of sorted deltas, in order.
func groupsOf(d differential.Deltas) []string {
	var gs []string
	for i, g := range d.Groups {
		if i == 0 || g != d.Groups[i-1] {
			gs = append(gs, g)
		}
	}
	return gs
}

// entriesOf returns the entries of group g in sorted deltas d.
func entriesOf(d differential.Deltas, g string) differential.Deltas {
	lo, _ := slices.BinarySearch(d.Groups, g)
	hi := lo
	for hi < d.Len() && d.Groups[hi] == g {
		hi++
	}
	return differential.Deltas{Groups: d.Groups[lo:hi], Keys: d.Keys[lo:hi], Rows: d.Rows[lo:hi], Diffs: d.Diffs[lo:hi]}
}

// absentGroups returns names that sort before, between and after the
// groups gs (sorted) and are not among them, "" included when absent.
func absentGroups(gs []string) []string {
	held := map[string]bool{}
	for _, g := range gs {
		held[g] = true
	}
	cands := []string{"", "\x00", "\xff\xff\xff\xff", "zzz-absent"}
	for _, g := range gs {
		cands = append(cands, g+"\x00", g+"~", g+"\xff")
		if g != "" {
			cands = append(cands, g[:len(g)-1], g[:len(g)-1]+string([]byte{g[len(g)-1] - 1}))
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, c := range cands {
		if !held[c] && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}

// lookup returns what run.Lookup(g) passes to its function, as deltas of
// group g (strings cloned), and what it returns.
func lookup(run *Run, g string) (differential.Deltas, bool, error) {
	var d differential.Deltas
	found, err := run.Lookup(g, func(k differential.Key, row string, diff int64) {
		d.Groups = append(d.Groups, g)
		d.Keys = append(d.Keys, k)
		d.Rows = append(d.Rows, strings.Clone(row))
		d.Diffs = append(d.Diffs, diff)
	})
	return d, found, err
}

// drain returns the entries of it, and its error.
func drain(it Iterator) (differential.Deltas, error) {
	var d differential.Deltas
	for e, ok := it.Next(); ok; e, ok = it.Next() {
		d.Groups = append(d.Groups, e.Group)
		d.Keys = append(d.Keys, e.Key)
		d.Rows = append(d.Rows, e.Row)
		d.Diffs = append(d.Diffs, e.Diff)
	}
	return d, it.Err()
}

// namedCorruption describes how err fails to be a *CorruptError of the
// object name, or returns "".
func namedCorruption(err error, name string) string {
	var ce *CorruptError
	switch {
	case err == nil:
		return "no error"
	case !errors.Is(err, ErrCorrupt):
		return fmt.Sprintf("error %v does not wrap ErrCorrupt", err)
	case !errors.As(err, &ce):
		return fmt.Sprintf("error %v is not a *CorruptError", err)
	case ce.Object != name:
		return fmt.Sprintf("error %v names %q, want %q", err, ce.Object, name)
	}
	return ""
}
