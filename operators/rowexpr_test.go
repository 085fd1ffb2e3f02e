package operators

import (
	"math"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/differential"
)

// exprSchema and exprRow are what the expression tests evaluate on:
// columns of every kind, and null ones (ni, nf, ns, nb).
var exprSchema = differential.Schema{
	{Name: "i", Type: differential.KindInt},
	{Name: "j", Type: differential.KindInt},
	{Name: "f", Type: differential.KindFloat},
	{Name: "s", Type: differential.KindString},
	{Name: "b", Type: differential.KindBool},
	{Name: "c", Type: differential.KindBool},
	{Name: "ni", Type: differential.KindInt},
	{Name: "nf", Type: differential.KindFloat},
	{Name: "ns", Type: differential.KindString},
	{Name: "nb", Type: differential.KindBool},
	{Name: "zero", Type: differential.KindInt},
}

var exprRow = differential.Row{
	differential.Int(-7), differential.Int(2), differential.Float(2.5), differential.String("Hello"),
	differential.Bool(true), differential.Bool(false),
	differential.Null(), differential.Null(), differential.Null(), differential.Null(),
	differential.Int(0),
}

var (
	vnull  = differential.Null()
	vtrue  = differential.Bool(true)
	vfalse = differential.Bool(false)
	vi     = differential.Int
	vf     = differential.Float
	vs     = differential.String
)

type exprCase struct {
	e    Expr
	want differential.Value
	kind differential.Kind
}

func checkExprs(t *testing.T, cases []exprCase) {
	t.Helper()
	for _, c := range cases {
		got, err := Eval(c.e, exprSchema, exprRow)
		if err != nil {
			t.Errorf("%s: %v", c.e, err)
			continue
		}
		if !sameValue(got, c.want) {
			t.Errorf("%s = %s (%s), want %s (%s)", c.e, formatValue(got), got.Kind, formatValue(c.want), c.want.Kind)
		}
		_, k, err := c.e.compile(&binder{in: exprSchema})
		if err != nil || k != c.kind {
			t.Errorf("%s: kind %s (%v), want %s", c.e, k, err, c.kind)
		}
	}
}

// sameValue is == except that NaN equals NaN.
func sameValue(a, b differential.Value) bool {
	if a.Kind == differential.KindFloat && b.Kind == differential.KindFloat && math.IsNaN(a.AsFloat()) && math.IsNaN(b.AsFloat()) {
		return true
	}
	return a == b
}

const (
	kInt   = differential.KindInt
	kFloat = differential.KindFloat
	kStr   = differential.KindString
	kBool  = differential.KindBool
	kNull  = differential.KindNull
)

func TestExprLiterals(t *testing.T) {
	checkExprs(t, []exprCase{
		{Lit(3), vi(3), kInt},
		{Lit(int64(-4)), vi(-4), kInt},
		{Lit(int32(5)), vi(5), kInt},
		{Lit(1.5), vf(1.5), kFloat},
		{Lit("x"), vs("x"), kStr},
		{Lit(true), vtrue, kBool},
		{Lit(nil), vnull, kNull},
		{Lit(differential.Int(9)), vi(9), kInt},
	})
	for e, want := range map[Expr]string{
		Lit(3): "3", Lit(3.0): "3.0", Lit(1e20): "1e+20", Lit("a\"b"): `"a\"b"`, Lit(nil): "null",
		Lit(false): "false", Lit(math.NaN()): "nan", Lit(math.Inf(-1)): "-inf",
	} {
		if got := e.String(); got != want {
			t.Errorf("literal String %q, want %q", got, want)
		}
	}
	_, err := Eval(Lit(uint8(1)), exprSchema, exprRow)
	if err == nil || !strings.Contains(err.Error(), "uint8") {
		t.Fatalf("Lit(uint8): %v", err)
	}
}

func TestExprArithmetic(t *testing.T) {
	checkExprs(t, []exprCase{
		{Add(Col("i"), Col("j")), vi(-5), kInt},
		{Add(Col("i"), Col("f")), vf(-4.5), kFloat},
		{Mul(Col("i"), Lit(nil)), vnull, kInt},
		{Sub(Col("f"), Col("nf")), vnull, kFloat},
		// Div: always a float; by zero null.
		{Div(Col("i"), Col("j")), vf(-3.5), kFloat},
		{Div(Lit(1), Lit(4)), vf(0.25), kFloat},
		{Div(Col("i"), Col("zero")), vnull, kFloat},
		{Div(Col("f"), Lit(0.0)), vnull, kFloat},
		{Div(Col("ni"), Col("j")), vnull, kFloat},
		// FloorDiv: Python's //.
		{FloorDiv(Col("i"), Col("j")), vi(-4), kInt},
		{FloorDiv(Lit(7), Lit(2)), vi(3), kInt},
		{FloorDiv(Lit(7), Lit(-2)), vi(-4), kInt},
		{FloorDiv(Lit(-8), Lit(2)), vi(-4), kInt},
		{FloorDiv(Lit(7.5), Lit(2)), vf(3), kFloat},
		{FloorDiv(Lit(-7.5), Lit(2)), vf(-4), kFloat},
		{FloorDiv(Col("i"), Col("zero")), vnull, kInt},
		{FloorDiv(Col("f"), Lit(0.0)), vnull, kFloat},
		// Mod: Python's %, the sign of the divisor.
		{Mod(Lit(7), Lit(3)), vi(1), kInt},
		{Mod(Lit(-7), Lit(3)), vi(2), kInt},
		{Mod(Lit(7), Lit(-3)), vi(-2), kInt},
		{Mod(Lit(-7), Lit(-3)), vi(-1), kInt},
		{Mod(Lit(-6), Lit(3)), vi(0), kInt},
		{Mod(Lit(math.MinInt64), Lit(-1)), vi(0), kInt},
		{Mod(Lit(-7.5), Lit(2)), vf(0.5), kFloat},
		{Mod(Lit(7.5), Lit(-2)), vf(-0.5), kFloat},
		{Mod(Col("i"), Col("zero")), vnull, kInt},
		{Mod(Col("ni"), Lit(3)), vnull, kInt},
		// The window start of a negative time.
		{Sub(Col("i"), Mod(Col("i"), Lit(5))), vi(-10), kInt},
	})
}

func TestExprComparisons(t *testing.T) {
	checkExprs(t, []exprCase{
		{Eq(Col("i"), Lit(-7)), vtrue, kBool},
		{Eq(Col("i"), Lit(-7.0)), vtrue, kBool},
		{Ne(Col("i"), Col("j")), vtrue, kBool},
		{Lt(Col("i"), Col("j")), vtrue, kBool},
		{Le(Col("j"), Lit(2)), vtrue, kBool},
		{Gt(Col("f"), Col("j")), vtrue, kBool},
		{Ge(Col("j"), Col("f")), vfalse, kBool},
		{Lt(Col("s"), Lit("World")), vtrue, kBool},
		{Lt(Col("s"), Lit("hello")), vtrue, kBool}, // by bytes: 'H' < 'h'
		{Eq(Col("s"), Lit("Hello")), vtrue, kBool},
		{Lt(Col("c"), Col("b")), vtrue, kBool}, // false < true
		{Eq(Col("ni"), Lit(1)), vnull, kBool},
		{Ne(Col("ns"), Col("s")), vnull, kBool},
		{Eq(Lit(nil), Lit(nil)), vnull, kBool},
		{Eq(Lit(math.NaN()), Lit(math.NaN())), vfalse, kBool},
		{Ne(Lit(math.NaN()), Lit(1)), vtrue, kBool},
		{Lt(Lit(math.MaxInt64-1), Lit(math.MaxInt64)), vtrue, kBool}, // ints compare exactly
	})
}

func TestExprLogic(t *testing.T) {
	T, F, N := Col("b"), Col("c"), Col("nb")
	checkExprs(t, []exprCase{
		{And(T, T), vtrue, kBool},
		{And(T, F), vfalse, kBool},
		{And(F, N), vfalse, kBool},
		{And(N, F), vfalse, kBool},
		{And(T, N), vnull, kBool},
		{And(N, N), vnull, kBool},
		{Or(F, F), vfalse, kBool},
		{Or(F, T), vtrue, kBool},
		{Or(T, N), vtrue, kBool},
		{Or(N, T), vtrue, kBool},
		{Or(F, N), vnull, kBool},
		{Or(N, Lit(nil)), vnull, kBool},
		{Not(T), vfalse, kBool},
		{Not(F), vtrue, kBool},
		{Not(N), vnull, kBool},
	})
}

func TestExprIfCoalesceNullTests(t *testing.T) {
	checkExprs(t, []exprCase{
		{If(Col("b"), Col("i"), Col("j")), vi(-7), kInt},
		{If(Col("c"), Col("i"), Col("j")), vi(2), kInt},
		{If(Col("nb"), Col("i"), Col("j")), vi(2), kInt}, // null takes else
		{If(Col("b"), Col("i"), Col("f")), vf(-7), kFloat},
		{If(Col("c"), Col("f"), Col("j")), vf(2), kFloat},
		{If(Col("b"), Lit(nil), Col("s")), vnull, kStr},
		{If(Col("c"), Lit(nil), Col("s")), vs("Hello"), kStr},
		{If(Lit(nil), Lit(1), Lit(2)), vi(2), kInt},
		{Coalesce(Col("ni"), Col("j")), vi(2), kInt},
		{Coalesce(Col("ni"), Lit(nil), Col("f")), vf(2.5), kFloat},
		{Coalesce(Col("ni"), Col("j"), Col("f")), vf(2), kFloat},
		{Coalesce(Col("ns"), Col("ns")), vnull, kStr},
		{IsNull(Col("ni")), vtrue, kBool},
		{IsNull(Col("i")), vfalse, kBool},
		{IsNotNull(Col("ns")), vfalse, kBool},
		{IsNotNull(Col("s")), vtrue, kBool},
		{IsNull(Lit(nil)), vtrue, kBool},
	})
}

func TestExprStrings(t *testing.T) {
	checkExprs(t, []exprCase{
		{Concat(Col("s"), Lit(", "), Lit("wörld")), vs("Hello, wörld"), kStr},
		{Concat(Col("s")), vs("Hello"), kStr},
		{Concat(Col("s"), Col("ns")), vnull, kStr},
		{Contains(Col("s"), Lit("ell")), vtrue, kBool},
		{Contains(Col("s"), Lit("ELL")), vfalse, kBool},
		{Contains(Col("s"), Lit("")), vtrue, kBool},
		{Contains(Col("ns"), Lit("a")), vnull, kBool},
		{Lower(Col("s")), vs("hello"), kStr},
		{Upper(Lit("grüne")), vs("GRÜNE"), kStr},
		{Upper(Col("ns")), vnull, kStr},
	})
}

func TestExprCasts(t *testing.T) {
	checkExprs(t, []exprCase{
		{Cast(kFloat, Col("i")), vf(-7), kFloat},
		{Cast(kInt, Lit(2.9)), vi(2), kInt},
		{Cast(kInt, Lit(-2.9)), vi(-2), kInt},
		{Cast(kInt, Lit(math.NaN())), vnull, kInt},
		{Cast(kInt, Lit(math.Inf(1))), vnull, kInt},
		{Cast(kInt, Lit(1e19)), vnull, kInt},
		{Cast(kInt, Lit(-9.223372036854775808e18)), vi(math.MinInt64), kInt},
		{Cast(kInt, Lit(9.223372036854775808e18)), vnull, kInt},
		{Cast(kStr, Col("i")), vs("-7"), kStr},
		{Cast(kStr, Col("f")), vs(differential.Float(2.5).String()), kStr},
		{Cast(kStr, Col("b")), vs("True"), kStr},
		{Cast(kStr, Col("c")), vs("False"), kStr},
		{Cast(kInt, Lit("42")), vi(42), kInt},
		{Cast(kInt, Lit(" -42 ")), vi(-42), kInt},
		{Cast(kInt, Lit("4.2")), vnull, kInt},
		{Cast(kInt, Lit("abc")), vnull, kInt},
		{Cast(kInt, Lit("99999999999999999999")), vnull, kInt},
		{Cast(kFloat, Lit("2.5e3")), vf(2500), kFloat},
		{Cast(kFloat, Lit("x1")), vnull, kFloat},
		{Cast(kFloat, Lit("nan")), vf(math.NaN()), kFloat},
		{Cast(kBool, Lit("True")), vtrue, kBool},
		{Cast(kBool, Lit("false")), vfalse, kBool},
		{Cast(kBool, Lit("1")), vtrue, kBool},
		{Cast(kBool, Lit("0")), vfalse, kBool},
		{Cast(kBool, Lit("yes")), vnull, kBool},
		{Cast(kBool, Lit("TRUE")), vnull, kBool},
		{Cast(kInt, Col("b")), vi(1), kInt},
		{Cast(kFloat, Col("c")), vf(0), kFloat},
		{Cast(kBool, Col("i")), vtrue, kBool},
		{Cast(kBool, Col("zero")), vfalse, kBool},
		{Cast(kBool, Lit(0.0)), vfalse, kBool},
		{Cast(kBool, Lit(0.1)), vtrue, kBool},
		{Cast(kInt, Col("i")), vi(-7), kInt},
		{Cast(kStr, Col("s")), vs("Hello"), kStr},
		{Cast(kInt, Col("ns")), vnull, kInt},
		{Cast(kStr, Col("ni")), vnull, kStr},
		{Cast(kInt, Lit(nil)), vnull, kInt},
	})
}

// TestExprTypeErrors: operands of the wrong kinds are compile errors
// naming the expression, the kinds found and what is wanted.
func TestExprTypeErrors(t *testing.T) {
	cases := []struct {
		e    Expr
		want string
	}{
		{Add(Col("s"), Col("i")), `(s + i): operands are str and int, want int or float`},
		{Div(Col("i"), Col("b")), `(i / b): operands are int and bool, want int or float`},
		{Mod(Col("s"), Lit(2)), `(s % 2): operands are str and int, want int or float`},
		{FloorDiv(Col("f"), Col("s")), `(f // s): operands are float and str`},
		{Eq(Col("s"), Col("i")), `(s == i): operands are str and int, want two numbers or two values of one kind`},
		{Lt(Col("b"), Lit(1)), `(b < 1): operands are bool and int`},
		{And(Col("b"), Col("i")), `(b and i): operands are bool and int, want bool`},
		{Or(Col("s"), Col("b")), `(s or b): operands are str and bool, want bool`},
		{Not(Col("i")), `not(i): operand is int, want bool`},
		{If(Col("i"), Lit(1), Lit(2)), `if(i, 1, 2): the condition is int, want bool`},
		{If(Col("b"), Col("s"), Col("i")), `if(b, s, i): the branches are str and int, want one kind (or int and float)`},
		{Coalesce(Col("s"), Col("i")), `coalesce(s, i): operands are str, int, want one kind`},
		{Coalesce(), `coalesce(): no operand`},
		{Concat(Col("s"), Col("i")), `concat(s, i): operands are str, int, want str`},
		{Concat(), `concat(): no operand`},
		{Contains(Col("s"), Lit(1)), `contains(s, 1): operands are str, int, want str`},
		{Lower(Col("i")), `lower(i): operands are int, want str`},
		{Cast(differential.KindBytes, Col("i")), `cast(bytes, i): cannot cast to bytes, want int, float, str or bool`},
		{Cast(kInt, Lit(differential.Bytes([]byte("x")))), `cast(int, bytes("x")): cannot cast bytes to int`},
		{Add(Col("nope"), Lit(1)), `no column "nope"`},
		{IsNull(Col("nope")), `no column "nope"`},
		{Min("i"), `reducer min(i) is only allowed in a Reduce's outputs`},
		{Add(nil, Lit(1)), `operand 1 is nil`},
	}
	for _, c := range cases {
		_, err := Eval(c.e, exprSchema, exprRow)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.e, err, c.want)
		}
	}
	if _, err := Eval(Col("i"), exprSchema, exprRow[:3]); err == nil {
		t.Error("Eval of a short row: no error")
	}
}

// TestExprStrings: String is stable text, part of the fingerprint.
func TestExprString(t *testing.T) {
	e := If(And(IsNotNull(Col("a")), Not(Eq(Mod(Col("a"), Lit(2)), Lit(0)))),
		Concat(Upper(Col("s")), Cast(kStr, FloorDiv(Col("a"), Lit(2.0)))),
		Coalesce(Lower(Col("t")), Lit("x")))
	want := `if((is_not_null(a) and not(((a % 2) == 0))), concat(upper(s), cast(str, (a // 2.0))), coalesce(lower(t), "x"))`
	if got := e.String(); got != want {
		t.Fatalf("String:\n%s\nwant\n%s", got, want)
	}
}
