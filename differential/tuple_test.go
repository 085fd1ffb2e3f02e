package differential

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestTupleRoundTrip(t *testing.T) {
	inner := Tuple(Int(1), String("x"))
	cases := []Value{
		Tuple(),
		Tuple(Int(7)),
		Tuple(Null(), Bool(true), Int(-3), Float(2.5), String("a,\"b\""), Bytes([]byte{0, 1})),
		Tuple(inner, Tuple(), inner),
	}
	for _, v := range cases {
		if v.Kind != KindTuple {
			t.Fatalf("Tuple gave a %s", v.Kind)
		}
		enc := EncodeRow(Row{Int(5), v, String("after")})
		got, err := DecodeRow(nil, enc)
		if err != nil {
			t.Fatalf("decode %v: %v", v, err)
		}
		if len(got) != 3 || got[1] != v || got[2] != String("after") {
			t.Fatalf("round trip of %v: got %v", v, got)
		}
		if enc[len(EncodeRow(Row{Int(5)}))] != tagTuple {
			t.Fatalf("%v not written with tag %d", v, tagTuple)
		}
	}
	elems, err := cases[2].Elems()
	if err != nil {
		t.Fatal(err)
	}
	want := []Value{Null(), Bool(true), Int(-3), Float(2.5), String("a,\"b\""), Bytes([]byte{0, 1})}
	if !slices.Equal(elems, want) {
		t.Fatalf("Elems = %v, want %v", elems, want)
	}
	nested, err := cases[3].Elems()
	if err != nil || len(nested) != 3 || nested[0] != inner || nested[1] != Tuple() {
		t.Fatalf("nested Elems = %v, %v", nested, err)
	}
	if _, err := Int(1).Elems(); err == nil {
		t.Fatal("Elems of an int succeeded")
	}
	if _, err := Null().Elems(); err == nil {
		t.Fatal("Elems of null succeeded")
	}
	if KindTuple.String() != "tuple" {
		t.Fatalf("KindTuple is named %q", KindTuple)
	}
}

func TestTupleDecodeRejectsDamage(t *testing.T) {
	// A tuple whose payload is not a row encoding.
	bad := []byte{tagTuple, 2, tagInt, 0x80}
	if _, err := DecodeRow(nil, bad); !errors.Is(err, ErrBadRow) {
		t.Fatalf("bad payload: err %v, want ErrBadRow", err)
	}
	// A length beyond the input.
	if _, err := DecodeRow(nil, []byte{tagTuple, 5, tagNull}); err == nil {
		t.Fatal("short tuple decoded")
	}
	// Nesting deeper than the bound, and just within it.
	v := Tuple()
	for range maxTupleDepth - 1 {
		v = Tuple(v)
	}
	if _, err := DecodeRow(nil, EncodeRow(Row{v})); err != nil {
		t.Fatalf("a tuple nested %d deep: %v", maxTupleDepth, err)
	}
	if _, err := DecodeRow(nil, EncodeRow(Row{Tuple(v)})); err == nil {
		t.Fatalf("a tuple nested %d deep decoded", maxTupleDepth+1)
	}
}

func TestTupleCompare(t *testing.T) {
	ordered := []Value{
		Tuple(),
		Tuple(Null()),
		Tuple(Int(1)),
		Tuple(Int(1), Int(0)),
		Tuple(Float(1.5)),
		Tuple(Int(2), String("a")),
		Tuple(Int(2), String("b")),
		Tuple(Int(10)),
		Tuple(String("a")),
	}
	for i := range ordered {
		for j := range ordered {
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := Compare(ordered[i], ordered[j]); got != want {
				t.Errorf("Compare(%v, %v) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	// A tuple sorts after every other kind, as kinds are ordered.
	if Compare(Tuple(), Bytes(nil)) != 1 || Compare(String("z"), Tuple()) != -1 {
		t.Fatal("tuples do not sort after the other kinds")
	}
	// Numbers compare numerically inside, the kind breaking ties.
	if c := Compare(Tuple(Int(1)), Tuple(Float(1))); c == 0 {
		t.Fatal("(1,) and (1.0,) compare equal though they differ")
	}
}

func TestTupleString(t *testing.T) {
	cases := []struct {
		v    Value
		want string
	}{
		{Tuple(), "()"},
		{Tuple(Int(7)), "(7,)"},
		{Tuple(Int(1), Float(2), String("a\"b"), Null(), Bool(false)), `(1, 2.0, "a\"b", None, False)`},
		{Tuple(Tuple(Int(1)), Bytes([]byte("x"))), `((1,), b"x")`},
		{Tuple(Float(1e16), Float(1e-5)), "(1e+16, 1e-05)"},
	}
	for _, c := range cases {
		if got := c.v.String(); got != c.want {
			t.Errorf("String() = %s, want %s", got, c.want)
		}
	}
}

func TestFloatLikePython(t *testing.T) {
	cases := []struct {
		f    float64
		want string
	}{
		{1108937, "1108937.0"},
		{0.5, "0.5"},
		{2, "2.0"},
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{-3.25, "-3.25"},
		{1e16, "1e+16"},
		{9999999999999998, "9999999999999998.0"},
		{1.5e16, "1.5e+16"},
		{123456789012345678, "1.2345678901234568e+17"},
		{1e22, "1e+22"},
		{0.0001, "0.0001"},
		{0.00012, "0.00012"},
		{1e-5, "1e-05"},
		{1.5e-7, "1.5e-07"},
		{5e-324, "5e-324"},
		{1.7976931348623157e308, "1.7976931348623157e+308"},
		{0.1, "0.1"},
		{1.0 / 3, "0.3333333333333333"},
		{math.NaN(), "nan"},
		{math.Inf(1), "inf"},
		{math.Inf(-1), "-inf"},
	}
	for _, c := range cases {
		if got := Float(c.f).String(); got != c.want {
			t.Errorf("Float(%v).String() = %s, want %s", c.f, got, c.want)
		}
		if got := string(AppendFloat([]byte("x"), c.f)); got != "x"+c.want {
			t.Errorf("AppendFloat(x, %v) = %s", c.f, got)
		}
	}
}
