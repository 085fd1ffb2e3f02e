package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"hash/crc32"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/golang/snappy"
)

var updateSeeds = flag.Bool("update", false, "rewrite the fuzz seed corpus in testdata/fuzz/FuzzDecodeFrame")

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	rng.Read(b)
	return b
}

func TestFrameRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	bodies := [][]byte{
		nil,
		{},
		[]byte("x"),
		bytes.Repeat([]byte("a"), 255),
		bytes.Repeat([]byte("a"), 256),
		randomBytes(rng, 1000),
		bytes.Repeat([]byte("pwlog "), 5000),
	}
	for i, body := range bodies {
		lsn := uint64(1) << uint(i*9)
		kind := Kind(i)
		b := EncodeFrame([]byte("prefix"), lsn, kind, body)
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatalf("body %d: EncodeFrame did not append to dst", i)
		}
		b = b[len("prefix"):]
		gotLSN, gotKind, gotBody, err := DecodeFrame(b)
		if err != nil {
			t.Fatalf("body %d: %v", i, err)
		}
		if gotLSN != lsn || gotKind != kind || !bytes.Equal(gotBody, body) {
			t.Fatalf("body %d: decoded (%d, %d, %d bytes), want (%d, %d, %d bytes)", i, gotLSN, gotKind, len(gotBody), lsn, kind, len(body))
		}
		if b[0] != frameVersion || b[3] != 0 || binary.LittleEndian.Uint64(b[4:12]) != lsn {
			t.Fatalf("body %d: header % x", i, b[:headerSize])
		}
		if int(binary.LittleEndian.Uint32(b[12:16])) != len(b)-headerSize {
			t.Fatalf("body %d: len field %d, frame body %d", i, binary.LittleEndian.Uint32(b[12:16]), len(b)-headerSize)
		}
	}
}

// TestFrameCompressionRule checks the rule against snappy itself: compress
// a body of at least 256 bytes when that saves at least 1/8.
func TestFrameCompressionRule(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	sawBoth := [2]bool{}
	// The most compressible body stays within the expansion bound.
	for _, n := range []int{256, 4096, 1 << 20} {
		body := make([]byte, n)
		b := EncodeFrame(nil, 1, 2, body)
		if _, _, dec, err := DecodeFrame(b); err != nil || !bytes.Equal(dec, body) {
			t.Fatalf("%d zeros: %v", n, err)
		}
	}
	for i := 0; i < 400; i++ {
		n := rng.Intn(2000)
		// A random prefix followed by a repeated byte: the ratio varies.
		body := append(randomBytes(rng, rng.Intn(n+1)), bytes.Repeat([]byte{'z'}, n)...)
		body = body[:n]
		want := len(body) >= 256 && len(body)-len(snappy.Encode(nil, body)) >= len(body)/8
		b := EncodeFrame(nil, 1, 2, body)
		got := b[2]&flagSnappy != 0
		if got != want {
			t.Fatalf("body of %d bytes (snappy %d): compressed=%v, want %v", len(body), len(snappy.Encode(nil, body)), got, want)
		}
		sawBoth[btoi(got)] = true
		if got && len(b)-headerSize >= len(body) {
			t.Fatalf("compressed frame body %d bytes is not smaller than %d", len(b)-headerSize, len(body))
		}
		if _, _, dec, err := DecodeFrame(b); err != nil || !bytes.Equal(dec, body) {
			t.Fatalf("decode: %v", err)
		}
	}
	if !sawBoth[0] || !sawBoth[1] {
		t.Fatalf("the generator did not produce both cases: %v", sawBoth)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestDecodeFrameRejects(t *testing.T) {
	good := EncodeFrame(nil, 7, KindCommit, []byte("hello, frame"))
	compressed := EncodeFrame(nil, 8, 3, bytes.Repeat([]byte("abc"), 1000))
	if compressed[2]&flagSnappy == 0 {
		t.Fatal("test frame is not compressed")
	}
	mutate := func(b []byte, f func([]byte) []byte) []byte {
		return f(append([]byte(nil), b...))
	}
	// withCRC recomputes the CRC so that only the structural check can fail.
	withCRC := func(b []byte) []byte {
		binary.LittleEndian.PutUint32(b[16:20], castagnoli(b[:16], b[headerSize:]))
		return b
	}
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", good[:headerSize-1]},
		{"truncated body", good[:len(good)-1]},
		{"extra byte", append(append([]byte(nil), good...), 0)},
		{"bad crc", mutate(good, func(b []byte) []byte { b[16] ^= 1; return b })},
		{"body bit flip", mutate(good, func(b []byte) []byte { b[headerSize+3] ^= 0x10; return b })},
		{"lsn bit flip", mutate(good, func(b []byte) []byte { b[5] ^= 1; return b })},
		{"kind bit flip", mutate(good, func(b []byte) []byte { b[1] ^= 2; return b })},
		{"version 2", mutate(good, func(b []byte) []byte { b[0] = 2; return withCRC(b) })},
		{"reserved set", mutate(good, func(b []byte) []byte { b[3] = 1; return withCRC(b) })},
		{"unknown flag", mutate(good, func(b []byte) []byte { b[2] = 2; return withCRC(b) })},
		{"len too large", mutate(good, func(b []byte) []byte { b[12]++; return withCRC(b) })},
		{"snappy flag on raw body", mutate(good, func(b []byte) []byte { b[2] = flagSnappy; return withCRC(b) })},
		{"snappy body truncated", appendFrame(nil, 8, 3, flagSnappy, compressed[headerSize:len(compressed)-3])},
		{"snappy decodes too large", appendFrame(nil, 1, 2, flagSnappy,
			binary.AppendUvarint(nil, MaxRecordSize+1))},
		{"snappy expansion impossible", appendFrame(nil, 1, 2, flagSnappy,
			append(binary.AppendUvarint(nil, 1<<20), make([]byte, 100)...))},
		{"snappy length overflows", appendFrame(nil, 1, 2, flagSnappy,
			[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lsn, kind, body, err := DecodeFrame(c.b)
			if err == nil {
				t.Fatalf("decoded (%d, %d, %q), want an error", lsn, kind, body)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
		})
	}
}

// castagnoli computes the frame CRC independently of the package.
func castagnoli(hdr, body []byte) uint32 {
	tab := crc32.MakeTable(crc32.Castagnoli)
	return crc32.Update(crc32.Checksum(hdr, tab), tab, body)
}

func TestFrameCRCIsCastagnoli(t *testing.T) {
	b := EncodeFrame(nil, 3, KindCommit, []byte("checksummed"))
	if got, want := binary.LittleEndian.Uint32(b[16:20]), castagnoli(b[:16], b[headerSize:]); got != want {
		t.Fatalf("stored CRC %#x, CRC-32C over header[0:16] and body is %#x", got, want)
	}
}

// seedFrames are the fuzz seeds: valid frames and damaged ones.
func seedFrames() map[string][]byte {
	rng := rand.New(rand.NewSource(3))
	seeds := map[string][]byte{
		"valid-empty":      EncodeFrame(nil, 1, KindCommit, nil),
		"valid-small":      EncodeFrame(nil, 42, 2, []byte("state delta")),
		"valid-compressed": EncodeFrame(nil, 1<<40, 3, bytes.Repeat([]byte("row,1,2\n"), 200)),
		"valid-random":     EncodeFrame(nil, 9, 4, randomBytes(rng, 300)),
		"garbage":          randomBytes(rng, 64),
		"zeros":            make([]byte, 40),
		"header-only-huge-len": func() []byte {
			b := EncodeFrame(nil, 5, 2, nil)
			binary.LittleEndian.PutUint32(b[12:16], 1<<31)
			return b
		}(),
		"snappy-bomb": appendFrame(nil, 1, 2, flagSnappy, binary.AppendUvarint(nil, 1<<32-1)),
	}
	return seeds
}

func seedDir() string { return filepath.Join("testdata", "fuzz", "FuzzDecodeFrame") }

// TestFuzzSeeds checks the seed corpus on disk against seedFrames;
// -update rewrites it.
func TestFuzzSeeds(t *testing.T) {
	seeds := seedFrames()
	if *updateSeeds {
		if err := os.MkdirAll(seedDir(), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			content := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
			if err := os.WriteFile(filepath.Join(seedDir(), name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, b := range seeds {
		got, err := os.ReadFile(filepath.Join(seedDir(), name))
		if err != nil {
			t.Fatalf("%v (run go test -run TestFuzzSeeds -update)", err)
		}
		want := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if string(got) != want {
			t.Fatalf("seed %s is stale (run go test -run TestFuzzSeeds -update)", name)
		}
		_, _, _, err = DecodeFrame(b)
		if valid := len(name) > 6 && name[:6] == "valid-"; valid != (err == nil) {
			t.Fatalf("seed %s: DecodeFrame error %v", name, err)
		}
	}
}

// FuzzDecodeFrame checks that DecodeFrame never panics, that its errors
// wrap ErrCorrupt, and that what it accepts encodes back to the same record.
// Its seeds are testdata/fuzz/FuzzDecodeFrame (see TestFuzzSeeds).
func FuzzDecodeFrame(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecode(t, b)
		// The CRC stops nearly every mutation; also decode the input with
		// its length and CRC made right, so that hostile headers and snappy
		// bodies reach the decoder.
		if len(b) >= headerSize {
			fixed := append([]byte(nil), b...)
			binary.LittleEndian.PutUint32(fixed[12:16], uint32(len(fixed)-headerSize))
			binary.LittleEndian.PutUint32(fixed[16:20], castagnoli(fixed[:16], fixed[headerSize:]))
			checkDecode(t, fixed)
		}
	})
}

// checkDecode decodes b and checks what DecodeFrame promises.
func checkDecode(t *testing.T, b []byte) {
	lsn, kind, body, err := DecodeFrame(b)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("error %v does not wrap ErrCorrupt", err)
		}
		return
	}
	if len(body) > MaxRecordSize {
		t.Fatalf("body of %d bytes", len(body))
	}
	if b[2]&flagSnappy == 0 && !bytes.Equal(body, b[headerSize:]) {
		t.Fatal("uncompressed body differs from the stored bytes")
	}
	again := EncodeFrame(nil, lsn, kind, body)
	lsn2, kind2, body2, err := DecodeFrame(again)
	if err != nil || lsn2 != lsn || kind2 != kind || !bytes.Equal(body2, body) {
		t.Fatalf("re-encoded frame decodes to (%d, %d, %d bytes, %v), want (%d, %d, %d bytes)",
			lsn2, kind2, len(body2), err, lsn, kind, len(body))
	}
	if b[2]&flagSnappy == 0 && len(body) < compressMin && !bytes.Equal(again, b) {
		t.Fatalf("re-encoding a small raw frame changed its bytes:\n% x\n% x", b, again)
	}
}
