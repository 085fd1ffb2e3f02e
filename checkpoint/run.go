package checkpoint

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/golang/snappy"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/msgpackx"
)

const (
	// MaxRunBody is the largest run body, before compression, that
	// EncodeRun writes and DecodeRun decompresses: about 40 million
	// entries of 25 bytes. EncodeRun refuses larger runs with ErrTooLarge.
	MaxRunBody = 1 << 30
	// maxSnappyRatio bounds the decoded/encoded size of a snappy block; a
	// real block expands at most 64/3 times (a 3-byte copy of 64 bytes).
	maxSnappyRatio = 40
)

// RunMeta describes a run. The manifest keeps one per live run.
type RunMeta struct {
	Name        string `msgpack:"n"`  // object name, e.g. "runs/00000000000000000042.run"
	Operator    string `msgpack:"o"`  // operator or source name
	Arrangement string `msgpack:"a"`  // arrangement name within it
	Level       int    `msgpack:"l"`  // 0 for a fold of the log; merges go up
	Entries     int64  `msgpack:"e"`  // number of entries
	Bytes       int64  `msgpack:"b"`  // encoded size
	MinLSN      uint64 `msgpack:"lo"` // WAL LSN range whose deltas it holds
	MaxLSN      uint64 `msgpack:"hi"`
	CRC         uint32 `msgpack:"c"` // CRC-32C of the whole encoded file (Checksum), checked against the manifest
}

// runBody is the msgpack map of a run body (see the package doc).
type runBody struct {
	Meta       RunMeta `msgpack:"m"`
	N          int64   `msgpack:"n"`
	GroupIndex []byte  `msgpack:"gi"`
	GroupNames []byte  `msgpack:"gn"`
	Keys       []byte  `msgpack:"k"`
	RowLens    []byte  `msgpack:"rl"`
	RowData    []byte  `msgpack:"rd"`
	Diffs      []byte  `msgpack:"d"`
}

// EncodeRun returns the run of d in format 2, with the default block size
// and a filter; see EncodeRunOptions.
func EncodeRun(meta RunMeta, d differential.Deltas) ([]byte, error) {
	return EncodeRunOptions(meta, d, WriterOptions{Groups: CountGroups(&d)})
}

// EncodeRunOptions returns the encoded run of d in format 2, which must be
// sorted by (group, key, row) with no (group, key, row) twice and no zero
// diff (as Merge and SortDeltas return them); otherwise it returns an
// error wrapping ErrInvalid.
//
// meta is stored in the run as given, except for the fields that describe
// the encoded file: Entries is stored as d.Len(), Bytes and CRC as zero (a
// file cannot hold its own checksum). EncodeRunOptions does not modify
// meta; the caller records Bytes = len(b) and CRC = Checksum(b) in the
// manifest. d is not retained.
func EncodeRunOptions(meta RunMeta, d differential.Deltas, opts WriterOptions) ([]byte, error) {
	if i, reason := checkConsolidated(d); i >= 0 {
		return nil, fmt.Errorf("%w: run %s: entry %d: %s", ErrInvalid, meta.Name, i, reason)
	}
	var buf bytes.Buffer
	buf.Grow(headerSize + footerSize + d.Len()*4)
	w := NewRunWriter(&buf, meta, opts)
	for i := range d.Len() {
		if err := w.Add(d.Groups[i], d.Keys[i], d.Rows[i], d.Diffs[i]); err != nil {
			return nil, err
		}
	}
	if _, err := w.Finish(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// CountGroups returns the number of distinct groups of sorted deltas.
func CountGroups(d *differential.Deltas) int {
	n := 0
	for i := range d.Groups {
		if i == 0 || d.Groups[i] != d.Groups[i-1] {
			n++
		}
	}
	return n
}

// encodeRunV1 returns the run of d in format 1, one snappy block of
// columns without an index, as builds before format 2 wrote it: kept for
// the tests of reading and upgrading old storages. A run larger than
// MaxRunBody is refused with ErrTooLarge.
func encodeRunV1(meta RunMeta, d differential.Deltas) ([]byte, error) {
	if i, reason := checkConsolidated(d); i >= 0 {
		return nil, fmt.Errorf("%w: run %s: entry %d: %s", ErrInvalid, meta.Name, i, reason)
	}
	body := buildRunBody(meta, d)
	size := len(body.GroupIndex) + len(body.GroupNames) + len(body.Keys) + len(body.RowLens) +
		len(body.RowData) + len(body.Diffs) + len(meta.Name) + len(meta.Operator) + len(meta.Arrangement) + 256
	if size > MaxRunBody {
		return nil, fmt.Errorf("%w: run %s: body of about %d bytes, the limit is %d", ErrTooLarge, meta.Name, size, MaxRunBody)
	}
	var buf bytes.Buffer
	buf.Grow(size)
	if err := msgpack.NewEncoder(&buf).Encode(&body); err != nil {
		return nil, fmt.Errorf("checkpoint: encode run %s: %w", meta.Name, err)
	}
	raw := buf.Bytes()
	if len(raw) > MaxRunBody {
		return nil, fmt.Errorf("%w: run %s: body of %d bytes, the limit is %d", ErrTooLarge, meta.Name, len(raw), MaxRunBody)
	}
	out := make([]byte, headerSize+snappy.MaxEncodedLen(len(raw)))
	c := snappy.Encode(out[headerSize:], raw)
	out = out[:headerSize+len(c)]
	putHeader(out, magicRun, formatVersion)
	return out, nil
}

// buildRunBody returns the columns of the body of a run of d, which must
// be sorted and consolidated, and the meta to store with them.
func buildRunBody(meta RunMeta, d differential.Deltas) runBody {
	n := d.Len()
	meta.Entries, meta.Bytes, meta.CRC = int64(n), 0, 0
	body := runBody{Meta: meta, N: int64(n), Keys: make([]byte, 8*n)}

	rowBytes, groupBytes, groups := 0, 0, 0
	for i := range n {
		rowBytes += len(d.Rows[i])
		if i == 0 || d.Groups[i] != d.Groups[i-1] {
			groupBytes += len(d.Groups[i])
			groups++
		}
	}
	body.GroupIndex = make([]byte, 0, 4*groups)
	body.GroupNames = make([]byte, 0, groupBytes)
	for i := 0; i < n; {
		j := i + 1
		for j < n && d.Groups[j] == d.Groups[i] {
			j++
		}
		body.GroupIndex = binary.AppendUvarint(body.GroupIndex, uint64(len(d.Groups[i])))
		body.GroupIndex = binary.AppendUvarint(body.GroupIndex, uint64(j-i))
		body.GroupNames = append(body.GroupNames, d.Groups[i]...)
		i = j
	}
	for i, k := range d.Keys {
		binary.LittleEndian.PutUint64(body.Keys[8*i:], uint64(k))
	}
	body.RowLens = make([]byte, 0, n+n/4)
	body.RowData = make([]byte, 0, rowBytes)
	for _, r := range d.Rows {
		body.RowLens = binary.AppendUvarint(body.RowLens, uint64(len(r)))
		body.RowData = append(body.RowData, r...)
	}
	body.Diffs = make([]byte, 0, n+n/8)
	for _, x := range d.Diffs {
		body.Diffs = binary.AppendVarint(body.Diffs, x)
	}
	return body
}

// DecodeRun decodes the whole run file b, of format 1 or 2, the object
// name. It checks the magic, the format version, every checksum, every
// length and count, and that the entries are sorted and consolidated
// (across blocks too); any damage returns a *CorruptError
// (errors.Is(err, ErrCorrupt)), a newer format version ErrVersion.
//
// The returned meta is the one stored, with Entries, Bytes and CRC those of
// b: for an undamaged run it equals the manifest's RunMeta but for Name,
// which a run of format 2 does not store. The Deltas are new and owned by
// the caller. Their strings are sub-strings of a few large ones (per
// block in format 2), which stay in memory while any of them is
// referenced: a caller that keeps a few rows for long after dropping the
// rest clones them (strings.Clone). b is not retained.
func DecodeRun(name string, b []byte) (RunMeta, differential.Deltas, error) {
	if len(b) >= headerSize && string(b[:len(magicRun)]) == magicRun && binary.LittleEndian.Uint16(b[offVersion:]) >= runVersion {
		return decodeRunV2(name, b)
	}
	payload, err := checkHeader(name, b, magicRun, magicManifest, "run", "manifest")
	if err != nil {
		return RunMeta{}, differential.Deltas{}, err
	}
	corrupt := func(format string, args ...any) error {
		return &CorruptError{Object: name, Offset: headerSize, Reason: fmt.Sprintf(format, args...)}
	}
	n, serr := snappy.DecodedLen(payload)
	if serr != nil {
		return RunMeta{}, differential.Deltas{}, corrupt("snappy body: %v", serr)
	}
	if n > MaxRunBody || n > maxSnappyRatio*len(payload) {
		return RunMeta{}, differential.Deltas{}, corrupt("snappy body of %d bytes claims %d decoded bytes", len(payload), n)
	}
	body, serr := snappy.Decode(make([]byte, n), payload)
	if serr != nil {
		return RunMeta{}, differential.Deltas{}, corrupt("snappy body: %v", serr)
	}
	var cols runBody
	if e := readRunBody(body, &cols); e != nil {
		return RunMeta{}, differential.Deltas{}, corrupt("decoded body offset %d: %s", e.Offset, e.Reason)
	}
	d, reason := decodeColumns(&cols)
	if reason != "" {
		return RunMeta{}, differential.Deltas{}, corrupt("%s", reason)
	}
	if i, reason := checkConsolidated(d); i >= 0 {
		return RunMeta{}, differential.Deltas{}, corrupt("entry %d: %s", i, reason)
	}
	if cols.Meta.Entries != cols.N {
		return RunMeta{}, differential.Deltas{}, corrupt("metadata says %d entries, the columns hold %d", cols.Meta.Entries, cols.N)
	}
	meta := cols.Meta
	meta.Bytes, meta.CRC = int64(len(b)), Checksum(b)
	return meta, d, nil
}

// readRunBody parses the msgpack map of a run body into cols; the column
// fields of cols are sub-slices of body.
func readRunBody(body []byte, cols *runBody) *msgpackx.Error {
	if err := msgpackx.Check(body); err != nil {
		return err.(*msgpackx.Error)
	}
	pairs, pos, err := msgpackx.MapHeader(body, 0)
	if err != nil {
		return err
	}
	for range pairs {
		kend, _ := msgpackx.Skip(body, pos)
		key, ok := msgpackx.Str(body, pos, kend)
		if !ok {
			return &msgpackx.Error{Offset: pos, Reason: "map key is not a string"}
		}
		vpos := kend
		vend, _ := msgpackx.Skip(body, vpos)
		pos = vend
		var col *[]byte
		switch string(key) {
		case "m":
			if err := msgpack.Unmarshal(body[vpos:vend], &cols.Meta); err != nil {
				return &msgpackx.Error{Offset: vpos, Reason: fmt.Sprintf("run metadata: %v", err)}
			}
			continue
		case "n":
			if err := msgpack.Unmarshal(body[vpos:vend], &cols.N); err != nil {
				return &msgpackx.Error{Offset: vpos, Reason: fmt.Sprintf("entry count: %v", err)}
			}
			continue
		case "gi":
			col = &cols.GroupIndex
		case "gn":
			col = &cols.GroupNames
		case "k":
			col = &cols.Keys
		case "rl":
			col = &cols.RowLens
		case "rd":
			col = &cols.RowData
		case "d":
			col = &cols.Diffs
		default:
			continue // a field of a later writer of this version
		}
		v, ok := msgpackx.Bin(body, vpos, vend)
		if !ok {
			return &msgpackx.Error{Offset: vpos, Reason: fmt.Sprintf("column %q is not a bin", key)}
		}
		*col = v
	}
	return nil
}

// decodeColumns builds the Deltas of a run body's columns, checking every
// count and length. It returns a reason when the columns are inconsistent.
func decodeColumns(c *runBody) (differential.Deltas, string) {
	var d differential.Deltas
	if c.N < 0 || uint64(len(c.Keys)) != 8*uint64(c.N) {
		return d, fmt.Sprintf("key column of %d bytes for %d entries", len(c.Keys), c.N)
	}
	n := int(c.N) // fits: 8n bytes exist
	// Every entry also takes at least a byte of row length and of diff.
	if len(c.RowLens) < n || len(c.Diffs) < n {
		return d, fmt.Sprintf("row length column of %d bytes and diff column of %d bytes for %d entries",
			len(c.RowLens), len(c.Diffs), n)
	}

	d.Groups = make([]string, n)
	names := string(c.GroupNames)
	gi := c.GroupIndex
	filled, off, prev := 0, 0, ""
	for p := 0; p < len(gi); {
		l, k := binary.Uvarint(gi[p:])
		if k <= 0 {
			return d, fmt.Sprintf("group index: bad name length at byte %d", p)
		}
		p += k
		cnt, k := binary.Uvarint(gi[p:])
		if k <= 0 {
			return d, fmt.Sprintf("group index: bad entry count at byte %d", p)
		}
		p += k
		if l > uint64(len(names)-off) {
			return d, fmt.Sprintf("group index: name of %d bytes, %d remain", l, len(names)-off)
		}
		if cnt == 0 || cnt > uint64(n-filled) {
			return d, fmt.Sprintf("group index: group of %d entries, %d remain", cnt, n-filled)
		}
		g := names[off : off+int(l)]
		off += int(l)
		if filled > 0 && g <= prev {
			return d, fmt.Sprintf("group index: group %q after %q", g, prev)
		}
		prev = g
		for i := filled; i < filled+int(cnt); i++ {
			d.Groups[i] = g
		}
		filled += int(cnt)
	}
	if filled != n || off != len(names) {
		return d, fmt.Sprintf("group index covers %d of %d entries and %d of %d name bytes", filled, n, off, len(names))
	}

	d.Keys = make([]differential.Key, n)
	for i := range d.Keys {
		d.Keys[i] = differential.Key(binary.LittleEndian.Uint64(c.Keys[8*i:]))
	}

	d.Rows = make([]string, n)
	rows := string(c.RowData)
	rl := c.RowLens
	p, off := 0, 0
	for i := range d.Rows {
		var l uint64
		if p < len(rl) && rl[p] < 0x80 {
			l = uint64(rl[p])
			p++
		} else {
			var k int
			l, k = binary.Uvarint(rl[p:])
			if k <= 0 {
				return d, fmt.Sprintf("row lengths: bad length of entry %d", i)
			}
			p += k
		}
		if l > uint64(len(rows)-off) {
			return d, fmt.Sprintf("row lengths: row %d of %d bytes, %d remain", i, l, len(rows)-off)
		}
		d.Rows[i] = rows[off : off+int(l)]
		off += int(l)
	}
	if p != len(rl) || off != len(rows) {
		return d, fmt.Sprintf("row columns hold %d length bytes and %d row bytes past the last entry", len(rl)-p, len(rows)-off)
	}

	d.Diffs = make([]int64, n)
	df := c.Diffs
	p = 0
	for i := range d.Diffs {
		var x int64
		if p < len(df) && df[p] < 0x80 {
			u := df[p]
			x = int64(u>>1) ^ -int64(u&1)
			p++
		} else {
			var k int
			x, k = binary.Varint(df[p:])
			if k <= 0 {
				return d, fmt.Sprintf("diffs: bad diff of entry %d", i)
			}
			p += k
		}
		d.Diffs[i] = x
	}
	if p != len(df) {
		return d, fmt.Sprintf("diff column holds %d bytes past the last entry", len(df)-p)
	}
	return d, ""
}

// decodeRunV2 decodes a run of format 2 whole, checking every block, the
// order across blocks, the filter and the file's checksum against itself
// (the header and each block have their own).
func decodeRunV2(name string, b []byte) (RunMeta, differential.Deltas, error) {
	run, err := OpenRun(name, bytes.NewReader(b), int64(len(b)), nil)
	if err != nil {
		return RunMeta{}, differential.Deltas{}, err
	}
	n := int(run.meta.Entries)
	d := differential.Deltas{
		Groups: make([]string, 0, n), Keys: make([]differential.Key, 0, n),
		Rows: make([]string, 0, n), Diffs: make([]int64, 0, n),
	}
	it := run.Iter()
	for e, ok := it.Next(); ok; e, ok = it.Next() {
		d.Groups = append(d.Groups, e.Group)
		d.Keys = append(d.Keys, e.Key)
		d.Rows = append(d.Rows, e.Row)
		d.Diffs = append(d.Diffs, e.Diff)
	}
	if err := it.Err(); err != nil {
		return RunMeta{}, differential.Deltas{}, err
	}
	if g := CountGroups(&d); int64(g) != run.groups {
		return RunMeta{}, differential.Deltas{}, run.corrupt(-1, "the index says %d groups, the blocks hold %d", run.groups, g)
	}
	if run.filterLen > 0 {
		if _, err := run.mayHold(""); err != nil {
			return RunMeta{}, differential.Deltas{}, err
		}
		for i, g := range d.Groups {
			if (i == 0 || g != d.Groups[i-1]) && !mayHold(run.filter, run.filterK, g) {
				return RunMeta{}, differential.Deltas{}, run.corrupt(run.filterOff, "the filter leaves out group %q", g)
			}
		}
	}
	meta := run.meta
	meta.Bytes, meta.CRC = int64(len(b)), Checksum(b)
	return meta, d, nil
}
