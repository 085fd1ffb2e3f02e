package differential

import (
	"math"
	"testing"
)

func TestRowRoundTrip(t *testing.T) {
	rows := []Row{
		{},
		{Null(), Bool(true), Bool(false), Int(0), Int(-1), Int(math.MaxInt64), Int(math.MinInt64)},
		{Float(1.5), Float(math.Copysign(0, -1)), Float(math.Inf(1)), String(""), String("héllo \"q\""), Bytes([]byte{0, 1, 2})},
	}
	for _, r := range rows {
		enc := EncodeRow(r)
		got, err := DecodeRow(nil, enc)
		if err != nil {
			t.Fatalf("decode %v: %v", r, err)
		}
		if !got.Equal(r) {
			t.Fatalf("round trip: got %v, want %v", got, r)
		}
	}
}

func TestDecodeRowRejectsDamage(t *testing.T) {
	enc := EncodeRow(Row{String("abcdef"), Int(300)})
	// "abcdef" takes bytes 0..7, 300 bytes 8..10: only a cut at 8 falls
	// between two values.
	for cut := 1; cut < len(enc); cut++ {
		r, err := DecodeRow(nil, enc[:cut])
		if cut == 8 {
			if err != nil || len(r) != 1 {
				t.Fatalf("cut at 8: got %v, %v; want the first value", r, err)
			}
		} else if err == nil {
			t.Fatalf("cut at %d decoded to %v", cut, r)
		}
	}
	if _, err := DecodeRow(nil, []byte{99}); err == nil {
		t.Fatal("unknown tag decoded")
	}
	if _, err := DecodeRow(nil, []byte{tagString, 0xff, 0xff, 0xff, 0xff, 0x0f}); err == nil {
		t.Fatal("hostile length decoded")
	}
}

func TestCompare(t *testing.T) {
	cases := []struct {
		a, b Value
		want int
	}{
		{Int(1), Int(2), -1},
		{Int(2), Float(1.5), 1},
		{Float(2), Int(2), 0},
		{String("a"), String("b"), -1},
		{Null(), Int(0), -1},
		{Bool(true), Bool(false), 1},
	}
	for _, c := range cases {
		if got := Compare(c.a, c.b); got != c.want {
			t.Errorf("Compare(%v, %v) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func FuzzDecodeRow(f *testing.F) {
	f.Add(EncodeRow(Row{String("alice"), Int(1701102730)}))
	f.Add(EncodeRow(Row{Float(2.5), Bool(true), Null(), Bytes([]byte("x"))}))
	f.Add(EncodeRow(Row{Tuple(Int(1), Tuple(String("a"), Null())), Tuple()}))
	f.Add([]byte{tagTuple, 3, tagTuple, 1, tagNull})
	f.Add([]byte{tagString, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRow(nil, b)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same bytes.
		if got := EncodeRow(r); string(got) != string(b) {
			t.Fatalf("re-encoding %x gives %x", b, got)
		}
		// A decoded tuple's elements decode, and make the same tuple.
		for _, v := range r {
			if v.Kind != KindTuple {
				continue
			}
			elems, err := v.Elems()
			if err != nil {
				t.Fatalf("decoded tuple %x: Elems: %v", v.S, err)
			}
			if Tuple(elems...) != v {
				t.Fatalf("tuple %x rebuilt from its elements differs", v.S)
			}
			_ = v.String()
			_ = Compare(v, v)
		}
	})
}

// TestCompareIntFloatExact: an int and a float compare as numbers, the
// int not rounded to a float first.
func TestCompareIntFloatExact(t *testing.T) {
	big := int64(1<<53 + 1)
	cases := []struct {
		a, b Value
		want int
	}{
		{Int(big), Float(1 << 53), 1},
		{Float(1 << 53), Int(big), -1},
		{Int(3), Float(3.5), -1},
		{Int(-3), Float(-3.5), 1},
		{Int(3), Float(3), 0},
		{Int(math.MaxInt64), Float(1 << 63), -1},
		{Int(math.MinInt64), Float(-(1 << 63)), 0},
		{Int(math.MinInt64), Float(math.Inf(-1)), 1},
	}
	for _, c := range cases {
		if got := Compare(c.a, c.b); got != c.want {
			t.Errorf("Compare(%v, %v) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
