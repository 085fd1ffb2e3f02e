package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"testing"
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

// harness applies every damage to the valid file b and checks that decode
// reports ErrCorrupt, without panicking and without returning data.
func harness(t *testing.T, b []byte, decode func(b []byte) error) {
	t.Helper()
	if err := decode(b); err != nil {
		t.Fatalf("the undamaged file: %v", err)
	}
	for _, dm := range damages(len(b)) {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("%s: decoder panicked: %v", dm.name, p)
				}
			}()
			err := decode(dm.apply(b))
			if err == nil {
				t.Fatalf("%s: decoded without error", dm.name)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("%s: error %v does not wrap ErrCorrupt", dm.name, err)
			}
		}()
	}
}

func TestRunCorruption(t *testing.T) {
	meta, d := smallRun()
	b := mustEncodeRun(t, meta, d)
	harness(t, b, func(b []byte) error {
		_, _, err := DecodeRun("run", b)
		return err
	})
}

func TestManifestCorruption(t *testing.T) {
	b, err := EncodeManifest(smallManifest())
	if err != nil {
		t.Fatal(err)
	}
	harness(t, b, func(b []byte) error {
		_, err := DecodeManifest("manifest", b)
		return err
	})
}

// TestChecksummedDamage flips every bit of the body and makes the length
// and checksum right again, as a writer bug would: the checksum no longer
// helps, the decoder's own checks must. It must not panic, must report
// ErrCorrupt when it fails, and what it accepts must be a valid run.
func TestChecksummedDamage(t *testing.T) {
	meta, d := smallRun()
	rb := mustEncodeRun(t, meta, d)
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

// hostile returns small files with a valid checksum whose declared lengths
// are huge: each would make a careless decoder allocate gigabytes.
func hostile() map[string][]byte {
	be32 := func(code byte, n uint32) []byte { return binary.BigEndian.AppendUint32([]byte{code}, n) }
	str := func(s string) []byte { return append([]byte{0xa0 | byte(len(s))}, s...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	hugeLen := smallRunBytes()
	binary.LittleEndian.PutUint64(hugeLen[offLength:], 1<<62)
	deep := bytes.Repeat([]byte{0x91}, 100_000)
	return map[string][]byte{
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
