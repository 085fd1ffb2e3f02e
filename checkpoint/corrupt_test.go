package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"testing"

	"github.com/pwlog/pwlog/differential"
)

// damage is one way of damaging a file.
type damage struct {
	name  string
	apply func(b []byte) []byte // returns a damaged copy
}

// damages returns every damage of the harness for a file of n bytes: a cut
// at every offset, every single bit flipped, bytes appended.
func damages(n int) []damage {
	var ds []damage
	for i := 0; i < n; i++ {
		ds = append(ds, damage{fmt.Sprintf("truncate at %d", i), func(b []byte) []byte {
			return bytes.Clone(b[:i])
		}})
	}
	for i := 0; i < 8*n; i++ {
		ds = append(ds, damage{fmt.Sprintf("flip bit %d of byte %d", i%8, i/8), func(b []byte) []byte {
			c := bytes.Clone(b)
			c[i/8] ^= 1 << (i % 8)
			return c
		}})
	}
	ds = append(ds,
		damage{"append a zero", func(b []byte) []byte { return append(bytes.Clone(b), 0) }},
		damage{"append a copy", func(b []byte) []byte { return append(bytes.Clone(b), b...) }},
		damage{"zero the body", func(b []byte) []byte {
			c := bytes.Clone(b)
			clear(c[headerSize:])
			return c
		}},
	)
	return ds
}

// harness applies every damage to the valid file b, the object name, and
// checks that decode reports a *CorruptError naming the object, without
// panicking and without returning data.
func harness(t *testing.T, name string, b []byte, decode func(name string, b []byte) error) {
	t.Helper()
	if err := decode(name, b); err != nil {
		t.Fatalf("the undamaged file: %v", err)
	}
	for _, dm := range damages(len(b)) {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("%s: decoder panicked: %v", dm.name, p)
				}
			}()
			if msg := namedCorruption(decode(name, dm.apply(b)), name); msg != "" {
				t.Fatalf("%s: %s", dm.name, msg)
			}
		}()
	}
}

func decodeRunErr(name string, b []byte) error {
	_, _, err := DecodeRun(name, b)
	return err
}

// TestRunCorruption damages runs of format 2 — one of a few blocks with a
// filter, one of a single block, an empty one — in every way of the
// harness: DecodeRun reports each as corruption of the run.
func TestRunCorruption(t *testing.T) {
	meta, d := smallRun()
	for name, b := range map[string][]byte{
		"runs/blocky.run": blockyRunBytes(),
		"runs/small.run":  mustEncodeRun(t, meta, d),
		"runs/nofilter":   mustEncodeRunOpts(t, meta, d, WriterOptions{BlockSize: 40}),
		"runs/empty.run":  mustEncodeRun(t, RunMeta{Name: "e"}, differential.Deltas{}),
	} {
		if name == "runs/blocky.run" {
			if f := parseV2(t, b); len(f.blocks) < 3 || len(f.filter) == 0 {
				t.Fatalf("the blocky run has %d blocks and a filter of %d bytes", len(f.blocks), len(f.filter))
			}
		}
		harness(t, name, b, decodeRunErr)
	}
}

// TestRunV1Corruption is TestRunCorruption for a run of format 1, which
// DecodeRun still reads.
func TestRunV1Corruption(t *testing.T) {
	meta, d := smallRun()
	harness(t, "runs/v1.run", mustEncodeRunV1(t, meta, d), decodeRunErr)
}

func TestManifestCorruption(t *testing.T) {
	b, err := EncodeManifest(smallManifest())
	if err != nil {
		t.Fatal(err)
	}
	harness(t, "manifest", b, func(name string, b []byte) error {
		_, err := DecodeManifest(name, b)
		return err
	})
}

// readDamaged opens the possibly damaged run of size bytes read through
// r, and reads it every way: a Lookup of each group of want and of absent
// ones, twice (the second time through the cache), and Iter. Each read
// must return a *CorruptError naming the run, or exactly the entries of
// want. It returns the first read that does neither, or "", and how many
// reads reported damage.
func readDamaged(name string, r io.ReaderAt, size int64, want differential.Deltas) (problem string, detected int) {
	run, err := OpenRun(name, r, size, NewCache(1<<20))
	if err != nil {
		if msg := namedCorruption(err, name); msg != "" {
			return "OpenRun: " + msg, 0
		}
		return "", 1
	}
	defer run.Close()
	gs := groupsOf(want)
	for range 2 {
		for _, g := range append(gs, absentGroups(gs)...) {
			got, found, err := lookup(run, g)
			if err != nil {
				if msg := namedCorruption(err, name); msg != "" {
					return fmt.Sprintf("Lookup(%q): %s", g, msg), detected
				}
				detected++
				continue
			}
			w := entriesOf(want, g)
			if msg := diffDeltas(got, w); msg != "" || found != (w.Len() > 0) {
				return fmt.Sprintf("Lookup(%q) returned found %v and wrong entries: %s", g, found, msg), detected
			}
		}
	}
	got, err := drain(run.Iter())
	if err != nil {
		if msg := namedCorruption(err, name); msg != "" {
			return "Iter: " + msg, detected
		}
		return "", detected + 1
	}
	if msg := diffDeltas(got, want); msg != "" {
		return "Iter returned wrong entries: " + msg, detected
	}
	return "", detected
}

// TestOpenRunCorruption damages a run of a few blocks and a filter in
// every way of the harness and reads each damaged copy in place: every
// read reports corruption of the run or returns exactly the right
// entries, and every damage is reported by some read. A truncated run,
// or one shorter than the size given, is refused by OpenRun.
func TestOpenRunCorruption(t *testing.T) {
	const name = "runs/blocky.run"
	_, want := blockyRun()
	b := blockyRunBytes()
	if msg, n := readDamaged(name, bytes.NewReader(b), int64(len(b)), want); msg != "" || n != 0 {
		t.Fatalf("the undamaged run: %s (%d reads report damage)", msg, n)
	}
	partial := 0
	for _, dm := range damages(len(b)) {
		c := dm.apply(b)
		msg, detected := func() (msg string, detected int) {
			defer func() {
				if p := recover(); p != nil {
					msg = fmt.Sprintf("panic: %v", p)
				}
			}()
			return readDamaged(name, bytes.NewReader(c), int64(len(c)), want)
		}()
		if msg != "" {
			t.Fatalf("%s: %s", dm.name, msg)
		}
		if detected == 0 {
			t.Fatalf("%s: no read reports the damage", dm.name)
		}
		if _, err := OpenRun(name, bytes.NewReader(c), int64(len(c)), nil); err == nil {
			partial++
		}
	}
	// The file is shorter than the size its reader is opened with.
	for i := range len(b) {
		_, err := OpenRun(name, bytes.NewReader(b[:i]), int64(len(b)), nil)
		if msg := namedCorruption(err, name); msg != "" {
			t.Fatalf("run cut at %d, opened with its full size: %s", i, msg)
		}
	}
	for i := range len(b) {
		_, err := OpenRun(name, bytes.NewReader(b[:i]), int64(i), nil)
		if msg := namedCorruption(err, name); msg != "" {
			t.Fatalf("run cut at %d: %s", i, msg)
		}
	}
	t.Logf("%d damages of a %d-byte run opened and were found by a later read", partial, len(b))
}

// TestChecksummedDamage flips every bit of the body and makes the length
// and checksum right again, as a writer bug would: the checksum no longer
// helps, the decoder's own checks must. It must not panic, must report
// ErrCorrupt when it fails, and what it accepts must be a valid run.
func TestChecksummedDamage(t *testing.T) {
	meta, d := smallRun()
	rb := mustEncodeRunV1(t, meta, d)
	mb, err := EncodeManifest(smallManifest())
	if err != nil {
		t.Fatal(err)
	}
	accepted := 0
	for _, f := range []struct {
		b      []byte
		decode func([]byte) error
	}{
		{rb, func(b []byte) error {
			_, got, err := DecodeRun("run", b)
			if err == nil {
				if i, reason := checkConsolidated(got); i >= 0 {
					return fmt.Errorf("accepted a run whose entry %d is bad: %s", i, reason)
				}
				accepted++
			}
			return err
		}},
		{mb, func(b []byte) error {
			m, err := DecodeManifest("manifest", b)
			if err == nil {
				if reason := m.check(); reason != "" {
					return fmt.Errorf("accepted a manifest that %s", reason)
				}
				accepted++
			}
			return err
		}},
	} {
		for i := 8 * headerSize; i < 8*len(f.b); i++ {
			c := bytes.Clone(f.b)
			c[i/8] ^= 1 << (i % 8)
			putHeader(c, string(c[:8]), formatVersion)
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("bit %d: decoder panicked: %v", i, p)
					}
				}()
				if err := f.decode(c); err != nil && !errors.Is(err, ErrCorrupt) {
					t.Fatalf("bit %d: %v", i, err)
				}
			}()
		}
	}
	t.Logf("%d checksummed bit flips decoded to valid data", accepted)
}

// TestChecksummedDamageV2 is TestChecksummedDamage for format 2: every
// bit of each block's payload, of the filter, of the metadata and of the
// index is flipped and the run put together again with right checksums,
// as a writer bug would. DecodeRun, OpenRun, Lookup and Iter must not
// panic and must report ErrCorrupt when they fail; what DecodeRun accepts
// must be a valid run, which every read in place returns exactly
// (checkOpenRun).
func TestChecksummedDamageV2(t *testing.T) {
	b := blockyRunBytes()
	parts := splitV2(t, b)
	if !bytes.Equal(parts.build(), b) {
		t.Fatal("the run taken apart and put together again differs")
	}
	f := parseV2(t, b)
	body := b[headerSize:f.indexOff]
	accepted := 0
	try := func(what string, c []byte) {
		t.Helper()
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("%s: panic: %v", what, p)
			}
		}()
		_, d, err := DecodeRun("run", c)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: %v", what, err)
			}
		} else {
			if i, reason := checkConsolidated(d); i >= 0 {
				t.Fatalf("%s: accepted a run whose entry %d is bad: %s", what, i, reason)
			}
			accepted++
		}
		checkOpenRun(t, c)
	}
	flip := func(p []byte, i int) []byte {
		c := bytes.Clone(p)
		c[i/8] ^= 1 << (i % 8)
		return c
	}
	for bi, bl := range parts.blocks {
		for i := range 8 * len(bl.payload) {
			q := parts
			q.blocks = slices.Clone(parts.blocks)
			q.blocks[bi].payload = flip(bl.payload, i)
			try(fmt.Sprintf("block %d, bit %d", bi, i), q.build())
		}
	}
	for i := range 8 * len(parts.filter) {
		q := parts
		q.filter = flip(parts.filter, i)
		try(fmt.Sprintf("filter bit %d", i), q.build())
	}
	for i := range 8 * len(parts.meta) {
		q := parts
		q.meta = flip(parts.meta, i)
		try(fmt.Sprintf("metadata bit %d", i), q.build())
	}
	for i := range 8 * len(f.index) {
		try(fmt.Sprintf("index bit %d", i), assembleV2(body, flip(f.index, i)))
	}
	t.Logf("%d checksummed bit flips decoded to valid runs", accepted)
}

// hostile returns small files with a valid checksum whose declared lengths
// are huge: each would make a careless decoder allocate gigabytes.
func hostile() map[string][]byte {
	be32 := func(code byte, n uint32) []byte { return binary.BigEndian.AppendUint32([]byte{code}, n) }
	str := func(s string) []byte { return append([]byte{0xa0 | byte(len(s))}, s...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	hugeLen := smallRunV1Bytes()
	binary.LittleEndian.PutUint64(hugeLen[offLength:], 1<<62)
	deep := bytes.Repeat([]byte{0x91}, 100_000)
	// Format 2: runs put together with right checksums around a block of
	// the small run whose index, filter or snappy headers lie.
	v2 := func(f func(p *v2parts)) []byte {
		p := splitV2(panicker{}, smallRunBytes())
		f(&p)
		return p.build()
	}
	metaBytes := func(n int64) []byte { return mustMarshal(&RunMeta{Entries: n}) }
	v2Index := func(meta []byte, rest ...[]byte) []byte {
		return cat(binary.AppendUvarint(nil, uint64(len(meta))), meta, cat(rest...))
	}
	uv := func(vs ...uint64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
		return b
	}
	return map[string][]byte{
		"run: v2 block of a trillion entries": v2(func(p *v2parts) {
			p.n, p.blocks[0].entries, p.meta = 1<<40, 1<<40, metaBytes(1<<40)
		}),
		"run: v2 block of max entries": v2(func(p *v2parts) {
			p.n, p.blocks[0].entries, p.meta = 1<<64-1, 1<<64-1, metaBytes(-1)
		}),
		"run: v2 block claims 1 GiB": v2(func(p *v2parts) { p.blocks[0].compressed = uv(1 << 30) }),
		"run: v2 block claims 4 GiB": v2(func(p *v2parts) {
			p.blocks[0].compressed = cat(uv(1<<32-1), make([]byte, 1<<10))
		}),
		"run: v2 block of a billion entries": v2(func(p *v2parts) {
			p.blocks[0].payload = cat(uv(1<<30, 1), make([]byte, 64))
		}),
		"run: v2 block of huge names": v2(func(p *v2parts) {
			p.blocks[0].payload = cat(uv(1, 1, 1<<40, 1), make([]byte, 64))
		}),
		"run: v2 index claims 1 GiB":   assembleV2Raw(nil, uv(1<<30)),
		"run: v2 index of 1e18 blocks": assembleV2(nil, v2Index(metaBytes(1), uv(1, 1, 1<<60))),
		"run: v2 meta of 4 GiB":        assembleV2(nil, v2Index(nil, uv(1<<32))),
		"run: v2 meta bin32 of 4 GiB":  assembleV2(nil, v2Index(cat([]byte{0x81}, str("zz"), be32(0xc6, 1<<32-1), []byte("abc")), uv(0, 0, 0, 0, 0, 0), make([]byte, 4))),
		"run: v2 meta array32":         assembleV2(nil, v2Index(cat([]byte{0x81}, str("zz"), be32(0xdd, 1<<32-1), []byte{1, 2, 3}), uv(0, 0, 0, 0, 0, 0), make([]byte, 4))),
		"run: v2 meta map32":           assembleV2(nil, v2Index(cat(be32(0xdf, 1<<32-1), str("n"), []byte{1}), uv(0, 0, 0, 0, 0, 0), make([]byte, 4))),
		"run: v2 meta nested deep":     assembleV2(nil, v2Index(cat([]byte{0x81}, str("zz"), deep), uv(0, 0, 0, 0, 0, 0), make([]byte, 4))),
		"run: v2 filter of 4 GiB":      assembleV2(nil, v2Index(metaBytes(0), uv(0, 0, 0, headerSize, 1<<32, 6), make([]byte, 4))),

		"run: body length 4 EiB":   hugeLen,
		"run: snappy claims 1 GiB": rawFile(magicRun, formatVersion, binary.AppendUvarint(nil, 1<<30)),
		"run: snappy claims 4 GiB": rawFile(magicRun, formatVersion, cat(binary.AppendUvarint(nil, 1<<32-1), make([]byte, 1<<20))),
		"run: bin32 of 4 GiB":      rawRun(cat([]byte{0x81}, str("rd"), be32(0xc6, 1<<32-1), []byte("abc"))),
		"run: str32 key of 4 GiB":  rawRun(cat([]byte{0x81}, be32(0xdb, 1<<32-1), []byte("abc"))),
		"run: array32 meta":        rawRun(cat([]byte{0x81}, str("m"), be32(0xdd, 1<<32-1), []byte{1, 2, 3})),
		"run: map32 body":          rawRun(cat(be32(0xdf, 1<<32-1), str("n"), []byte{1})),
		"run: a trillion entries":  rawRun(cat([]byte{0x82}, str("n"), []byte{0xcf, 0, 0, 1, 0, 0, 0, 0, 0}, str("k"), []byte{0xc4, 8}, make([]byte, 8))),
		"run: nested 100k deep":    rawRun(cat([]byte{0x81}, str("m"), deep)),
		"manifest: array32 runs":   rawFile(magicManifest, formatVersion, cat([]byte{0x81}, str("r"), be32(0xdd, 1<<32-1), []byte{0x80})),
		"manifest: str32 line":     rawFile(magicManifest, formatVersion, cat([]byte{0x81}, str("f"), []byte{0x91}, be32(0xdb, 1<<32-1), []byte("x"))),
		"manifest: bin32 meta":     rawFile(magicManifest, formatVersion, cat([]byte{0x81}, str("m"), be32(0xc6, 1<<32-1), []byte("x"))),
		"manifest: array32 lines":  rawFile(magicManifest, formatVersion, cat([]byte{0x81}, str("f"), be32(0xdd, 1<<32-1), str("x"))),
		"manifest: map32":          rawFile(magicManifest, formatVersion, cat(be32(0xdf, 1<<32-1), str("q"), []byte{1})),
		"manifest: nested deep":    rawFile(magicManifest, formatVersion, cat([]byte{0x81}, str("f"), deep)),
		"manifest: run map32":      rawFile(magicManifest, formatVersion, cat([]byte{0x81}, str("r"), []byte{0x91}, be32(0xdf, 1<<32-1), []byte{1})),
		"manifest: ext32 of 4 GiB": rawFile(magicManifest, formatVersion, cat([]byte{0x81}, str("m"), be32(0xc9, 1<<32-1), []byte{1, 2})),
		"manifest: short header":   rawFile(magicManifest, formatVersion, nil)[:headerSize-1],
	}
}

// TestHostileLengthsAllocateLittle decodes files that declare huge lengths
// and checks that each fails as corrupt having allocated less than 1 MiB.
func TestHostileLengthsAllocateLittle(t *testing.T) {
	const limit = 1 << 20
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	for name, b := range hostile() {
		var err error
		n := allocated(func() {
			if bytes.HasPrefix(b, []byte(magicManifest)) {
				_, err = DecodeManifest(name, b)
			} else {
				_, _, err = DecodeRun(name, b)
			}
		})
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: error %v, want ErrCorrupt", name, err)
		}
		if n > limit {
			t.Errorf("%s: decoding %d bytes allocated %d bytes", name, len(b), n)
		}
	}
	// The control: the measure sees what a real decode allocates.
	d := tutorialDeltas(50_000, 100, 3)
	b := mustEncodeRun(t, RunMeta{Name: "r"}, d)
	if n := allocated(func() { _, _, _ = DecodeRun("r", b) }); n < limit {
		t.Fatalf("decoding %d entries allocated only %d bytes: the measure is broken", d.Len(), n)
	}
}
