package checkpoint

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/pwlog/pwlog/differential"
)

// A block is a stretch of a run's entries, sorted by (group, key, row),
// encoded in columns (see the package doc, "Run format 2"). A group may
// continue from one block into the next.

// appendBlock appends the encoding of the entries d[i:j] to dst.
func appendBlock(dst []byte, d *differential.Deltas, i, j int) []byte {
	n := j - i
	groups := 0
	for k := i; k < j; k++ {
		if k == i || d.Groups[k] != d.Groups[k-1] {
			groups++
		}
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = binary.AppendUvarint(dst, uint64(groups))
	for k := i; k < j; {
		m := k + 1
		for m < j && d.Groups[m] == d.Groups[k] {
			m++
		}
		dst = binary.AppendUvarint(dst, uint64(len(d.Groups[k])))
		dst = binary.AppendUvarint(dst, uint64(m-k))
		k = m
	}
	for k := i; k < j; {
		dst = append(dst, d.Groups[k]...)
		m := k + 1
		for m < j && d.Groups[m] == d.Groups[k] {
			m++
		}
		k = m
	}
	for k := i; k < j; k++ {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(d.Keys[k]))
	}
	for k := i; k < j; k++ {
		dst = binary.AppendUvarint(dst, uint64(len(d.Rows[k])))
	}
	for k := i; k < j; k++ {
		dst = append(dst, d.Rows[k]...)
	}
	for k := i; k < j; k++ {
		dst = binary.AppendVarint(dst, d.Diffs[k])
	}
	return dst
}

// block is a decoded block. Its strings are sub-strings of two strings,
// one of the group names and one of the rows: a block costs a handful
// of allocations, whatever its number of entries.
type block struct {
	groups []string // distinct group names, ascending
	starts []int32  // entry index where groups[i] starts; len(groups)+1 values
	keys   []differential.Key
	rows   []string
	diffs  []int64
	size   int64 // bytes held, for the cache
}

// len returns the number of entries.
func (b *block) len() int { return len(b.keys) }

// find returns the entries [lo, hi) of group g, empty when the block does
// not hold it.
func (b *block) find(g string) (lo, hi int) {
	i, j := 0, len(b.groups)
	for i < j {
		m := int(uint(i+j) >> 1)
		if b.groups[m] < g {
			i = m + 1
		} else {
			j = m
		}
	}
	if i < len(b.groups) && b.groups[i] == g {
		return int(b.starts[i]), int(b.starts[i+1])
	}
	return 0, 0
}

// decodeBlock decodes a block's payload. It checks every count and length
// and that the entries are sorted and consolidated; it returns a reason
// when they are not.
func decodeBlock(p []byte) (*block, string) {
	pos := 0
	uv := func(what string) (uint64, string) {
		v, k := binary.Uvarint(p[pos:])
		if k <= 0 {
			return 0, fmt.Sprintf("bad %s at byte %d", what, pos)
		}
		pos += k
		return v, ""
	}
	n64, r := uv("entry count")
	if r != "" {
		return nil, r
	}
	g64, r := uv("group count")
	if r != "" {
		return nil, r
	}
	// Every entry takes at least 10 bytes (key, row length, diff), every
	// group 2 (name length, count): bound the counts by the bytes left
	// before allocating for them.
	if n64 == 0 || n64 > uint64(len(p)-pos)/10 || g64 == 0 || g64 > n64 {
		return nil, fmt.Sprintf("block of %d bytes claims %d entries in %d groups", len(p), n64, g64)
	}
	n, ng := int(n64), int(g64)
	b := &block{groups: make([]string, ng), starts: make([]int32, ng+1)}
	lens := make([]int, ng)
	total, nameBytes := 0, 0
	for i := range ng {
		l, r := uv("group name length")
		if r != "" {
			return nil, r
		}
		c, r := uv("group entry count")
		if r != "" {
			return nil, r
		}
		if l > uint64(len(p)) || c == 0 || c > uint64(n-total) {
			return nil, fmt.Sprintf("group %d: name of %d bytes, %d entries, %d entries remain", i, l, c, n-total)
		}
		lens[i] = int(l)
		nameBytes += int(l)
		b.starts[i] = int32(total)
		total += int(c)
	}
	b.starts[ng] = int32(total)
	if total != n {
		return nil, fmt.Sprintf("groups hold %d entries, the block %d", total, n)
	}
	if nameBytes > len(p)-pos {
		return nil, fmt.Sprintf("group names of %d bytes, %d remain", nameBytes, len(p)-pos)
	}
	names := string(p[pos : pos+nameBytes])
	pos += nameBytes
	off := 0
	for i, l := range lens {
		b.groups[i] = names[off : off+l]
		off += l
		if i > 0 && b.groups[i] <= b.groups[i-1] {
			return nil, fmt.Sprintf("group %q after %q", b.groups[i], b.groups[i-1])
		}
	}
	if 8*n > len(p)-pos {
		return nil, fmt.Sprintf("key column of %d bytes, %d remain", 8*n, len(p)-pos)
	}
	b.keys = make([]differential.Key, n)
	for i := range b.keys {
		b.keys[i] = differential.Key(binary.LittleEndian.Uint64(p[pos:]))
		pos += 8
	}
	rl := make([]int, n)
	rowBytes := 0
	for i := range rl {
		l, r := uv("row length")
		if r != "" {
			return nil, r
		}
		if l > uint64(len(p)) {
			return nil, fmt.Sprintf("row %d of %d bytes", i, l)
		}
		rl[i] = int(l)
		rowBytes += int(l)
	}
	if rowBytes > len(p)-pos {
		return nil, fmt.Sprintf("rows of %d bytes, %d remain", rowBytes, len(p)-pos)
	}
	rows := string(p[pos : pos+rowBytes])
	pos += rowBytes
	b.rows = make([]string, n)
	off = 0
	for i, l := range rl {
		b.rows[i] = rows[off : off+l]
		off += l
	}
	b.diffs = make([]int64, n)
	for i := range b.diffs {
		x, k := binary.Varint(p[pos:])
		if k <= 0 {
			return nil, fmt.Sprintf("bad diff of entry %d", i)
		}
		if x == 0 {
			return nil, fmt.Sprintf("entry %d: zero diff", i)
		}
		pos += k
		b.diffs[i] = x
	}
	if pos != len(p) {
		return nil, fmt.Sprintf("%d bytes past the last entry", len(p)-pos)
	}
	for gi := range ng {
		for e := int(b.starts[gi]) + 1; e < int(b.starts[gi+1]); e++ {
			if c := compareKeyRow(b.keys[e-1], b.rows[e-1], b.keys[e], b.rows[e]); c >= 0 {
				if c == 0 {
					return nil, fmt.Sprintf("entry %d: same (group, key, row) as the entry before", e)
				}
				return nil, fmt.Sprintf("entry %d: not sorted after the entry before", e)
			}
		}
	}
	b.size = int64(len(names)+len(rows)) + int64(n)*(8+16+8) + int64(ng)*(16+4) + 128
	return b, ""
}

func compareKeyRow(k1 differential.Key, r1 string, k2 differential.Key, r2 string) int {
	if k1 != k2 {
		if k1 < k2 {
			return -1
		}
		return 1
	}
	return strings.Compare(r1, r2)
}
