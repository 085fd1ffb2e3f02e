package msgpackx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func be32(code byte, n uint32) []byte { return binary.BigEndian.AppendUint32([]byte{code}, n) }
func be16(code byte, n uint16) []byte { return binary.BigEndian.AppendUint16([]byte{code}, n) }
func cat(parts ...[]byte) []byte      { return bytes.Join(parts, nil) }
func fixstr(s string) []byte          { return append([]byte{0xa0 | byte(len(s))}, s...) }

type leaf struct {
	Name  string            `msgpack:"n"`
	Data  []byte            `msgpack:"d"`
	Nums  []int64           `msgpack:"x"`
	Tags  map[string]string `msgpack:"t"`
	F     float64           `msgpack:"f"`
	OK    bool              `msgpack:"o"`
	Empty []string          `msgpack:"e"`
	Nil   []string          `msgpack:"z"`
}

type middle struct {
	Leaves []leaf           `msgpack:"l"`
	ByName map[string]*leaf `msgpack:"b"`
	When   time.Time        `msgpack:"w"` // a msgpack ext; decoded in time.Local
}

type top struct {
	Seq     uint64            `msgpack:"q"`
	Neg     int64             `msgpack:"g"`
	Mid     middle            `msgpack:"m"`
	Mids    []middle          `msgpack:"s"`
	Grid    [][][]int         `msgpack:"r"`
	Unknown map[string]any    `msgpack:"u"`
	Ptr     *top              `msgpack:"p"`
	Sizes   map[string]uint32 `msgpack:"z"`
}

func sampleTop() *top {
	l := leaf{Name: "a", Data: bytes.Repeat([]byte{7}, 300), Nums: []int64{0, -1, 127, 128, -33, math.MaxInt64, math.MinInt64},
		Tags: map[string]string{"k": strings.Repeat("v", 70_000)}, F: 3.5, OK: true, Empty: []string{}}
	m := middle{Leaves: []leaf{l, {}}, ByName: map[string]*leaf{"a": &l, "nil": nil}, When: time.Unix(1_700_000_000, 5)}
	many := make([]middle, 20)
	for i := range many {
		many[i].Leaves = []leaf{{Name: strings.Repeat("n", i*20), Nums: make([]int64, 70_000*(i%2))}}
	}
	return &top{
		Seq: math.MaxUint64, Neg: -1 << 40, Mid: m, Mids: many,
		Grid:    [][][]int{{{1, 2}, {}}, nil},
		Unknown: map[string]any{"f32": float32(1.5), "nil": nil, "arr": []any{"x", int8(-5), true}, "map": map[string]any{"y": uint16(65535)}},
		Ptr:     &top{Seq: 1, Ptr: &top{Seq: 2}},
		Sizes:   map[string]uint32{"big": math.MaxUint32},
	}
}

func TestCheckAcceptsNestedStructs(t *testing.T) {
	v := sampleTop()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(b); err != nil {
		t.Fatalf("Check of a valid encoding: %v", err)
	}
	var got top
	if err := Unmarshal(b, &got); err != nil {
		t.Fatalf("Unmarshal of a valid encoding: %v", err)
	}
	if !reflect.DeepEqual(&got, v) {
		t.Fatal("Unmarshal gave another value than the one encoded")
	}
	// Every value of the encoding is one Check accepts on its own.
	for _, x := range []any{nil, true, false, 0, -32, -33, 255, 65536, uint64(math.MaxUint64), float32(0.5), 0.25,
		"", strings.Repeat("s", 31), strings.Repeat("s", 32), strings.Repeat("s", 256), strings.Repeat("s", 65536),
		[]byte{}, make([]byte, 256), make([]byte, 65536), make([]int, 15), make([]int, 16), make([]int, 65536),
		map[int]int{}, map[int]bool{1: true}, time.Unix(0, 0), time.Unix(1<<40, 1)} {
		b, err := msgpack.Marshal(x)
		if err != nil {
			t.Fatal(err)
		}
		if err := Check(b); err != nil {
			t.Errorf("Check(Marshal(%T)) = %v", x, err)
		}
	}
}

func TestCheckExtAndDepth(t *testing.T) {
	for _, b := range [][]byte{
		{0xd4, 1, 0}, cat([]byte{0xd5, 1}, make([]byte, 2)), cat([]byte{0xd8, 1}, make([]byte, 16)),
		{0xc7, 0, 5}, {0xc7, 2, 5, 1, 2}, cat(be16(0xc8, 3), []byte{9, 1, 2, 3}), cat(be32(0xc9, 1), []byte{9, 1}),
		cat(bytes.Repeat([]byte{0x91}, MaxDepth-1), []byte{1}), // 16 levels
	} {
		if err := Check(b); err != nil {
			t.Errorf("Check(% x) = %v", b, err)
		}
	}
}

// hostile holds data whose headers claim much more than they hold, each
// with the offset Check must name.
var hostile = []struct {
	name string
	b    []byte
	off  int
}{
	{"empty", nil, 0},
	{"bin32 of 4 GiB", cat(be32(0xc6, math.MaxUint32), []byte("abc")), 0},
	{"bin16 cut", cat(be16(0xc5, 10), []byte("abc")), 0},
	{"bin8 length cut", []byte{0xc4}, 1},
	{"str32 of 4 GiB", cat(be32(0xdb, math.MaxUint32), []byte("abc")), 0},
	{"str32 length cut", []byte{0xdb, 0, 0}, 1},
	{"fixstr cut", []byte{0xa5, 'a'}, 0},
	{"array32 of 4G", cat(be32(0xdd, math.MaxUint32), []byte{1, 2, 3}), 0},
	{"array32 of 4G nils", cat(be32(0xdd, math.MaxUint32), bytes.Repeat([]byte{0xc0}, 100)), 0},
	{"array16 cut", cat(be16(0xdc, 5), []byte{1, 2}), 0},
	{"map32 of 4G", cat(be32(0xdf, math.MaxUint32), fixstr("k"), []byte{1}), 0},
	{"map32 of 2G pairs in 4G bytes", cat(be32(0xdf, 1<<31), make([]byte, 8)), 0},
	{"map value missing", cat([]byte{0x81}, fixstr("k")), 3},
	{"ext32 of 4 GiB", cat(be32(0xc9, math.MaxUint32), []byte{1, 2}), 0},
	{"ext8 type missing", []byte{0xc7, 0}, 0},
	{"fixext16 cut", cat([]byte{0xd8, 1}, make([]byte, 15)), 0},
	{"float64 cut", []byte{0xcb, 0, 0}, 0},
	{"uint64 cut", []byte{0xcf, 1}, 0},
	{"nested array32 in a map", cat([]byte{0x81}, fixstr("r"), []byte{0x91}, be32(0xdd, math.MaxUint32), []byte{0x80}), 4},
	{"nested bin32 in an array", cat([]byte{0x92, 1}, be32(0xc6, 1<<30), []byte("x")), 2},
	{"nested 17 deep", cat(bytes.Repeat([]byte{0x91}, MaxDepth), []byte{1}), MaxDepth},
	{"nested 100k deep", bytes.Repeat([]byte{0x91}, 100_000), MaxDepth},
	{"nested maps 100k deep", bytes.Repeat([]byte{0x81, 0xa0}, 50_000), 2*MaxDepth - 1}, // the key of the 16th map
	{"trailing byte", []byte{0x01, 0x02}, 1},
	{"trailing value after a map", cat([]byte{0x81}, fixstr("k"), []byte{1}, fixstr("x")), 4},
	{"two nils", []byte{0xc0, 0xc0}, 1},
	{"never used code", []byte{0xc1}, 0},
	{"never used code nested", []byte{0x92, 0xc0, 0xc1}, 2},
}

func TestCheckHostile(t *testing.T) {
	for _, h := range hostile {
		err := Check(h.b)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: Check = %v, want an *Error", h.name, err)
			continue
		}
		if e.Offset != h.off || e.Reason == "" || !strings.Contains(err.Error(), "offset") {
			t.Errorf("%s: Check = %v (offset %d), want offset %d and a reason", h.name, err, e.Offset, h.off)
		}
		if err := Unmarshal(h.b, new(any)); err == nil {
			t.Errorf("%s: Unmarshal accepted it", h.name)
		}
	}
}

// TestUnmarshalHostileAllocatesLittle decodes the hostile data into types
// whose decoding would allocate what the headers claim, and checks that
// Unmarshal refuses each having allocated next to nothing.
func TestUnmarshalHostileAllocatesLittle(t *testing.T) {
	const limit = 64 << 10
	targets := []func() any{
		func() any { return new(any) },
		func() any { return new([]byte) },
		func() any { return new(string) },
		func() any { return new([]uint64) },
		func() any { return new([]top) },
		func() any { return new(map[string][]leaf) },
		func() any { return new(top) },
	}
	for _, h := range hostile {
		for _, target := range targets {
			v := target()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := Unmarshal(h.b, v)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Errorf("%s into %T: accepted", h.name, v)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > limit {
				t.Errorf("%s into %T: %d bytes of input allocated %d bytes", h.name, v, len(h.b), n)
			}
		}
	}
}

func TestSkipAndMapHeader(t *testing.T) {
	b := cat([]byte{0x82}, fixstr("k"), be16(0xc5, 3), []byte("abc"), fixstr("s"), []byte{0xd9, 2}, []byte("xy"), []byte{7})
	end, err := Skip(b, 0)
	if err != nil || end != len(b)-1 {
		t.Fatalf("Skip = %d, %v; want %d", end, err, len(b)-1)
	}
	if Check(b) == nil {
		t.Fatal("Check accepted a trailing byte")
	}
	pairs, pos, err := MapHeader(b, 0)
	if err != nil || pairs != 2 || pos != 1 {
		t.Fatalf("MapHeader = %d, %d, %v", pairs, pos, err)
	}
	var got []string
	for range pairs {
		kend, _ := Skip(b, pos)
		k, ok := Str(b, pos, kend)
		if !ok {
			t.Fatalf("key at %d is not a str", pos)
		}
		vend, _ := Skip(b, kend)
		if v, ok := Bin(b, kend, vend); ok {
			got = append(got, string(k)+"=bin:"+string(v))
		} else if v, ok := Str(b, kend, vend); ok {
			got = append(got, string(k)+"=str:"+string(v))
		}
		pos = vend
	}
	if want := []string{"k=bin:abc", "s=str:xy"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("pairs %q, want %q", got, want)
	}
	if v, ok := Bin([]byte{0xc0}, 0, 1); !ok || v != nil {
		t.Fatalf("Bin(nil) = %v, %v", v, ok)
	}
	if _, ok := Bin([]byte{0xa0}, 0, 1); ok {
		t.Fatal("Bin accepted a str")
	}
	if _, ok := Str([]byte{0xc4, 0}, 0, 2); ok {
		t.Fatal("Str accepted a bin")
	}
	for _, b := range [][]byte{nil, {0x90}, {0xde, 0}, {0xdf, 0, 0, 0}} {
		if _, _, err := MapHeader(b, 0); err == nil {
			t.Errorf("MapHeader(% x) accepted it", b)
		}
	}
	if n, p, err := MapHeader(be32(0xdf, 7), 0); err != nil || n != 7 || p != 5 {
		t.Fatalf("MapHeader(map32) = %d, %d, %v", n, p, err)
	}
}

// FuzzCheck checks that Check never panics and agrees with the decoder:
// what Check accepts, msgpack decodes into an interface without error
// (bar the decoder's own limits), consuming every byte.
func FuzzCheck(f *testing.F) {
	b, _ := msgpack.Marshal(sampleTop())
	f.Add(b[:min(len(b), 4096)])
	for _, h := range hostile {
		f.Add(h.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Check(b)
		end, serr := Skip(b, 0)
		if (serr == nil && end == len(b)) != (err == nil) {
			t.Fatalf("Check = %v but Skip = %d, %v", err, end, serr)
		}
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Offset < 0 || e.Offset > len(b) {
				t.Fatalf("Check = %#v", err)
			}
			return
		}
		r := bytes.NewReader(b) // a ByteScanner: the decoder reads no further than it needs
		d := msgpack.NewDecoder(r)
		if _, err := d.DecodeInterface(); err != nil {
			// The decoder refuses some well-formed values (ext types
			// it does not know); it must not find them cut short.
			if strings.Contains(err.Error(), "EOF") {
				t.Fatalf("Check accepted % x, the decoder: %v", b, err)
			}
			return
		}
		if r.Len() != 0 {
			t.Fatalf("Check accepted % x, the decoder left trailing bytes", b)
		}
	})
}

func TestSortedMapEncodesInKeyOrder(t *testing.T) {
	type rec struct {
		M SortedMap[[]int] `msgpack:"m,omitempty"`
	}
	v := rec{M: SortedMap[[]int]{}}
	for i := range 64 {
		v.M[string(rune('a'+i%26))+string(rune('a'+i/26))] = []int{i}
	}
	first, err := msgpack.Marshal(&v)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		b, err := msgpack.Marshal(&v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, first) {
			t.Fatal("two encodings of one map differ")
		}
	}
	var back rec
	if err := Unmarshal(first, &back); err != nil || len(back.M) != 64 || back.M["bb"][0] != 27 {
		t.Fatalf("round trip: %v %v", err, back.M)
	}
	// The keys are in order in the bytes.
	if i, j := bytes.Index(first, []byte("ab")), bytes.Index(first, []byte("ba")); i < 0 || j < 0 || i > j {
		t.Fatalf("keys out of order: ab at %d, ba at %d", i, j)
	}
	if b, _ := msgpack.Marshal(&rec{}); len(b) != 1 {
		t.Fatalf("an empty map with omitempty encodes to %x", b)
	}
}
