package operators

import (
	"cmp"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/pwlog/pwlog/differential"
)

// Row-context expressions: literals, division and modulo, comparisons,
// three-valued logic, conditionals, strings, casts and null tests.
//
// A null literal (Lit(nil)) has the kind null and fits wherever an
// operand of some kind is wanted; it makes the result null, except in
// And and Or (three-valued logic), If, Coalesce, IsNull and IsNotNull.

// Lit is a constant: a Go int, int64, int32, float64, string or bool,
// nil (null, which fits any kind), or a differential.Value. Another Go
// type is an error when the expression is compiled.
func Lit(v any) Expr {
	var x differential.Value
	switch v := v.(type) {
	case nil:
	case int:
		x = differential.Int(int64(v))
	case int64:
		x = differential.Int(v)
	case int32:
		x = differential.Int(int64(v))
	case float64:
		x = differential.Float(v)
	case string:
		x = differential.String(v)
	case bool:
		x = differential.Bool(v)
	case differential.Value:
		x = v
	default:
		return &litExpr{err: fmt.Errorf("literal %v is a %T, want int, int64, int32, float64, string, bool, nil or a differential.Value", v, v)}
	}
	return &litExpr{v: x}
}

type litExpr struct {
	v   differential.Value
	err error
}

func (x *litExpr) compile(*binder) (evalFn, differential.Kind, error) {
	if x.err != nil {
		return nil, 0, x.err
	}
	v := x.v
	return func(*env) differential.Value { return v }, v.Kind, nil
}

func (x *litExpr) String() string {
	if x.err != nil {
		return "invalid literal"
	}
	return formatValue(x.v)
}

// formatValue writes a value as a literal: strings quoted, floats with a
// point or an exponent, null as null. It is part of the fingerprint and
// of error messages.
func formatValue(v differential.Value) string {
	switch v.Kind {
	case differential.KindNull:
		return "null"
	case differential.KindBool:
		return strconv.FormatBool(v.AsBool())
	case differential.KindInt:
		return strconv.FormatInt(v.AsInt(), 10)
	case differential.KindFloat:
		f := v.AsFloat()
		switch {
		case math.IsNaN(f):
			return "nan"
		case math.IsInf(f, 1):
			return "inf"
		case math.IsInf(f, -1):
			return "-inf"
		}
		s := strconv.FormatFloat(f, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s
	case differential.KindString:
		return strconv.Quote(v.AsString())
	}
	return v.Kind.String() + "(" + strconv.Quote(v.AsString()) + ")"
}

// formatValues joins formatValue of vs with ", ".
func formatValues(vs []differential.Value) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = formatValue(v)
	}
	return strings.Join(s, ", ")
}

const null = differential.KindNull

// numOrNull reports whether k is int, float or the null literal's kind.
func numOrNull(k differential.Kind) bool { return numeric(k) || k == null }

// is reports whether k is want or the null literal's kind.
func is(k, want differential.Kind) bool { return k == want || k == null }

// unify returns the kind of a value that is one of several expressions
// (If's branches, Coalesce's operands): their common kind, float for ints
// mixed with floats, the null literal fitting any kind.
func unify(ks []differential.Kind) (differential.Kind, bool) {
	out := null
	for _, k := range ks {
		switch {
		case k == null || k == out:
		case out == null:
			out = k
		case numeric(k) && numeric(out):
			out = differential.KindFloat
		default:
			return 0, false
		}
	}
	return out, true
}

// widen converts an int result of fn to a float when want is float.
func widen(fn evalFn, from, want differential.Kind) evalFn {
	if from != differential.KindInt || want != differential.KindFloat {
		return fn
	}
	return func(e *env) differential.Value {
		v := fn(e)
		if v.IsNull() {
			return v
		}
		return differential.Float(float64(v.AsInt()))
	}
}

// compileN compiles operands, returning their evaluators and kinds.
func compileN(b *binder, xs []Expr) ([]evalFn, []differential.Kind, error) {
	fns := make([]evalFn, len(xs))
	ks := make([]differential.Kind, len(xs))
	for i, x := range xs {
		if x == nil {
			return nil, nil, fmt.Errorf("operand %d is nil", i+1)
		}
		var err error
		if fns[i], ks[i], err = x.compile(b); err != nil {
			return nil, nil, err
		}
	}
	return fns, ks, nil
}

// joinExprs joins the String of xs with ", ".
func joinExprs(xs []Expr) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		if x == nil {
			s[i] = "nil"
		} else {
			s[i] = x.String()
		}
	}
	return strings.Join(s, ", ")
}

// kindList writes kinds as "int, str".
func kindList(ks []differential.Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = k.String()
	}
	return strings.Join(s, ", ")
}

// Division and modulo.

// Div returns a / b as a float, whatever the kinds of the numbers; null
// when b is zero.
func Div(a, b Expr) Expr { return &divExpr{op: "/", a: a, b: b} }

// FloorDiv returns a // b rounded towards negative infinity, as Python's
// //: an int for two ints, else the float floor(a / b); null when b is
// zero.
func FloorDiv(a, b Expr) Expr { return &divExpr{op: "//", a: a, b: b} }

// Mod returns a % b with the sign of b, as Python's %: an int for two
// ints, else a float; null when b is zero. ts - Mod(ts, n) is the start
// of ts's window of length n, for negative ts too.
func Mod(a, b Expr) Expr { return &divExpr{op: "%", a: a, b: b} }

type divExpr struct {
	op   string
	a, b Expr
}

func (x *divExpr) String() string {
	return "(" + exprString(x.a) + " " + x.op + " " + exprString(x.b) + ")"
}

// exprString is x.String(), "nil" for a nil expression.
func exprString(x Expr) string {
	if x == nil {
		return "nil"
	}
	return x.String()
}

func (x *divExpr) compile(b *binder) (evalFn, differential.Kind, error) {
	fns, ks, err := compileN(b, []Expr{x.a, x.b})
	if err != nil {
		return nil, 0, err
	}
	if !numOrNull(ks[0]) || !numOrNull(ks[1]) {
		return nil, 0, fmt.Errorf("%s: operands are %s and %s, want int or float", x, ks[0], ks[1])
	}
	fa, fb := fns[0], fns[1]
	if x.op != "/" && ks[0] != differential.KindFloat && ks[1] != differential.KindFloat {
		f := floorDivInt
		if x.op == "%" {
			f = floorModInt
		}
		return func(e *env) differential.Value {
			a, b := fa(e), fb(e)
			if a.IsNull() || b.IsNull() || b.AsInt() == 0 {
				return differential.Null()
			}
			if x.op == "//" && a.AsInt() == math.MinInt64 && b.AsInt() == -1 {
				return differential.Null() // 2^63 is not an int64
			}
			return differential.Int(f(a.AsInt(), b.AsInt()))
		}, differential.KindInt, nil
	}
	var f func(a, b float64) float64
	switch x.op {
	case "/":
		f = func(a, b float64) float64 { return a / b }
	case "//":
		f = func(a, b float64) float64 { return math.Floor(a / b) }
	default:
		f = floorModFloat
	}
	return func(e *env) differential.Value {
		a, b := fa(e), fb(e)
		if a.IsNull() || b.IsNull() {
			return differential.Null()
		}
		y := asFloat(b)
		if y == 0 {
			return differential.Null()
		}
		return differential.Float(f(asFloat(a), y))
	}, differential.KindFloat, nil
}

// floorDivInt is a // b for b != 0, rounded towards negative infinity.
func floorDivInt(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// floorModInt is a % b for b != 0, with the sign of b.
func floorModInt(a, b int64) int64 {
	r := a % b
	if r != 0 && (r < 0) != (b < 0) {
		r += b
	}
	return r
}

// floorModFloat is a % b for b != 0, with the sign of b.
func floorModFloat(a, b float64) float64 {
	r := math.Mod(a, b)
	if r == 0 {
		// Python's zero remainder has the divisor's sign: -3.0 % 3.0 is
		// 0.0, not -0.0 (a value that would group apart from 0.0).
		return math.Copysign(0, b)
	}
	if (r < 0) != (b < 0) {
		r += b
	}
	return r
}

// Comparisons.

// Eq returns a == b: two numbers (ints and floats compare as numbers) or
// two values of one kind; a bool, null when either is null.
func Eq(a, b Expr) Expr { return &cmpExpr{op: "==", a: a, b: b} }

// Ne returns a != b (see Eq).
func Ne(a, b Expr) Expr { return &cmpExpr{op: "!=", a: a, b: b} }

// Lt returns a < b (see Eq): strings compare by bytes, false < true.
func Lt(a, b Expr) Expr { return &cmpExpr{op: "<", a: a, b: b} }

// Le returns a <= b (see Lt).
func Le(a, b Expr) Expr { return &cmpExpr{op: "<=", a: a, b: b} }

// Gt returns a > b (see Lt).
func Gt(a, b Expr) Expr { return &cmpExpr{op: ">", a: a, b: b} }

// Ge returns a >= b (see Lt).
func Ge(a, b Expr) Expr { return &cmpExpr{op: ">=", a: a, b: b} }

type cmpExpr struct {
	op   string
	a, b Expr
}

func (x *cmpExpr) String() string {
	return "(" + exprString(x.a) + " " + x.op + " " + exprString(x.b) + ")"
}

// holds tells whether the comparison holds for c = cmp(a, b).
func holds(op string, c int) bool {
	switch op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	}
	return c >= 0
}

// holdsFloat compares two floats as Go does: NaN is unequal to all.
func holdsFloat(op string, a, b float64) bool {
	switch op {
	case "==":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	}
	return a >= b
}

func (x *cmpExpr) compile(b *binder) (evalFn, differential.Kind, error) {
	fns, ks, err := compileN(b, []Expr{x.a, x.b})
	if err != nil {
		return nil, 0, err
	}
	ka, kb := ks[0], ks[1]
	if !(ka == null || kb == null || ka == kb || numeric(ka) && numeric(kb)) {
		return nil, 0, fmt.Errorf("%s: operands are %s and %s, want two numbers or two values of one kind", x, ka, kb)
	}
	fa, fb, op := fns[0], fns[1], x.op
	var test func(a, b differential.Value) bool
	switch {
	case ka == differential.KindInt && kb == differential.KindInt:
		test = func(a, b differential.Value) bool { return holds(op, cmp.Compare(a.AsInt(), b.AsInt())) }
	case ka == differential.KindFloat && kb == differential.KindFloat:
		test = func(a, b differential.Value) bool { return holdsFloat(op, a.AsFloat(), b.AsFloat()) }
	case numeric(ka) && numeric(kb):
		// An int with a float, exactly: an int past 2^53 is not rounded.
		test = func(a, b differential.Value) bool {
			if a.Kind == differential.KindFloat && b.Kind == differential.KindFloat {
				return holdsFloat(op, a.AsFloat(), b.AsFloat())
			}
			if a.Kind == differential.KindInt && b.Kind == differential.KindInt {
				return holds(op, cmp.Compare(a.AsInt(), b.AsInt()))
			}
			var c int
			var ok bool
			if a.Kind == differential.KindInt {
				c, ok = differential.CompareIntFloat(a.AsInt(), b.AsFloat())
			} else {
				c, ok = differential.CompareIntFloat(b.AsInt(), a.AsFloat())
				c = -c
			}
			if !ok { // NaN: unequal to all, ordered with nothing
				return op == "!="
			}
			return holds(op, c)
		}
	default:
		test = func(a, b differential.Value) bool { return holds(op, differential.Compare(a, b)) }
	}
	return func(e *env) differential.Value {
		a, b := fa(e), fb(e)
		if a.IsNull() || b.IsNull() {
			return differential.Null()
		}
		return differential.Bool(test(a, b))
	}, differential.KindBool, nil
}

// Logic.

// And returns a and b in SQL's three-valued logic: false if either is
// false, else null if either is null, else true. b is not evaluated when
// a is false.
func And(a, b Expr) Expr { return &logicExpr{op: "and", a: a, b: b} }

// Or returns a or b in SQL's three-valued logic: true if either is true,
// else null if either is null, else false. b is not evaluated when a is
// true.
func Or(a, b Expr) Expr { return &logicExpr{op: "or", a: a, b: b} }

type logicExpr struct {
	op   string
	a, b Expr
}

func (x *logicExpr) String() string {
	return "(" + exprString(x.a) + " " + x.op + " " + exprString(x.b) + ")"
}

func (x *logicExpr) compile(b *binder) (evalFn, differential.Kind, error) {
	fns, ks, err := compileN(b, []Expr{x.a, x.b})
	if err != nil {
		return nil, 0, err
	}
	if !is(ks[0], differential.KindBool) || !is(ks[1], differential.KindBool) {
		return nil, 0, fmt.Errorf("%s: operands are %s and %s, want bool", x, ks[0], ks[1])
	}
	fa, fb := fns[0], fns[1]
	// decisive is the operand value that decides alone: false for and,
	// true for or.
	decisive := x.op == "or"
	return func(e *env) differential.Value {
		a := fa(e)
		if !a.IsNull() && a.AsBool() == decisive {
			return a
		}
		b := fb(e)
		if !b.IsNull() && b.AsBool() == decisive {
			return b
		}
		if a.IsNull() || b.IsNull() {
			return differential.Null()
		}
		return differential.Bool(!decisive)
	}, differential.KindBool, nil
}

// Not returns the negation of a bool; null for null.
func Not(a Expr) Expr { return &notExpr{a: a} }

type notExpr struct{ a Expr }

func (x *notExpr) String() string { return "not(" + exprString(x.a) + ")" }

func (x *notExpr) compile(b *binder) (evalFn, differential.Kind, error) {
	fns, ks, err := compileN(b, []Expr{x.a})
	if err != nil {
		return nil, 0, err
	}
	if !is(ks[0], differential.KindBool) {
		return nil, 0, fmt.Errorf("%s: operand is %s, want bool", x, ks[0])
	}
	fa := fns[0]
	return func(e *env) differential.Value {
		a := fa(e)
		if a.IsNull() {
			return a
		}
		return differential.Bool(!a.AsBool())
	}, differential.KindBool, nil
}

// Conditionals.

// If returns then when cond is true, otherwise (false or null) els; only
// that branch is evaluated. The branches have one kind, or are an int and
// a float (the result is a float), or one is the null literal.
func If(cond, then, els Expr) Expr { return &ifExpr{cond: cond, then: then, els: els} }

type ifExpr struct{ cond, then, els Expr }

func (x *ifExpr) String() string {
	return "if(" + exprString(x.cond) + ", " + exprString(x.then) + ", " + exprString(x.els) + ")"
}

func (x *ifExpr) compile(b *binder) (evalFn, differential.Kind, error) {
	fns, ks, err := compileN(b, []Expr{x.cond, x.then, x.els})
	if err != nil {
		return nil, 0, err
	}
	if !is(ks[0], differential.KindBool) {
		return nil, 0, fmt.Errorf("%s: the condition is %s, want bool", x, ks[0])
	}
	k, ok := unify(ks[1:])
	if !ok {
		return nil, 0, fmt.Errorf("%s: the branches are %s and %s, want one kind (or int and float)", x, ks[1], ks[2])
	}
	fc, ft, fe := fns[0], widen(fns[1], ks[1], k), widen(fns[2], ks[2], k)
	return func(e *env) differential.Value {
		if c := fc(e); !c.IsNull() && c.AsBool() {
			return ft(e)
		}
		return fe(e)
	}, k, nil
}

// Coalesce returns the first of its operands that is not null, or null;
// the operands after it are not evaluated. Their kinds are as If's
// branches.
func Coalesce(es ...Expr) Expr { return &coalesceExpr{es: es} }

type coalesceExpr struct{ es []Expr }

func (x *coalesceExpr) String() string { return "coalesce(" + joinExprs(x.es) + ")" }

func (x *coalesceExpr) compile(b *binder) (evalFn, differential.Kind, error) {
	if len(x.es) == 0 {
		return nil, 0, fmt.Errorf("%s: no operand", x)
	}
	fns, ks, err := compileN(b, x.es)
	if err != nil {
		return nil, 0, err
	}
	k, ok := unify(ks)
	if !ok {
		return nil, 0, fmt.Errorf("%s: operands are %s, want one kind (or int and float)", x, kindList(ks))
	}
	for i := range fns {
		fns[i] = widen(fns[i], ks[i], k)
	}
	return func(e *env) differential.Value {
		for _, f := range fns {
			if v := f(e); !v.IsNull() {
				return v
			}
		}
		return differential.Null()
	}, k, nil
}

// IsNull tells whether a value is null; never null itself.
func IsNull(a Expr) Expr { return &nullTest{a: a, want: true} }

// IsNotNull tells whether a value is not null; never null itself.
func IsNotNull(a Expr) Expr { return &nullTest{a: a} }

type nullTest struct {
	a    Expr
	want bool
}

func (x *nullTest) String() string {
	if x.want {
		return "is_null(" + exprString(x.a) + ")"
	}
	return "is_not_null(" + exprString(x.a) + ")"
}

func (x *nullTest) compile(b *binder) (evalFn, differential.Kind, error) {
	fns, _, err := compileN(b, []Expr{x.a})
	if err != nil {
		return nil, 0, err
	}
	fa, want := fns[0], x.want
	return func(e *env) differential.Value { return differential.Bool(fa(e).IsNull() == want) }, differential.KindBool, nil
}

// Strings.

// Concat joins strings; null when any is null.
func Concat(es ...Expr) Expr { return &strExpr{op: "concat", es: es} }

// Contains tells whether the string s contains sub.
func Contains(s, sub Expr) Expr { return &strExpr{op: "contains", es: []Expr{s, sub}} }

// Lower returns a string in lower case (Unicode simple case mapping, as
// Go's strings.ToLower).
func Lower(s Expr) Expr { return &strExpr{op: "lower", es: []Expr{s}} }

// Upper returns a string in upper case (Unicode simple case mapping:
// ß stays ß).
func Upper(s Expr) Expr { return &strExpr{op: "upper", es: []Expr{s}} }

type strExpr struct {
	op string
	es []Expr
}

func (x *strExpr) String() string { return x.op + "(" + joinExprs(x.es) + ")" }

func (x *strExpr) compile(b *binder) (evalFn, differential.Kind, error) {
	if len(x.es) == 0 {
		return nil, 0, fmt.Errorf("%s: no operand", x)
	}
	fns, ks, err := compileN(b, x.es)
	if err != nil {
		return nil, 0, err
	}
	for _, k := range ks {
		if !is(k, differential.KindString) {
			return nil, 0, fmt.Errorf("%s: operands are %s, want str", x, kindList(ks))
		}
	}
	args := func(e *env, vs []string) bool {
		for i, f := range fns {
			v := f(e)
			if v.IsNull() {
				return false
			}
			vs[i] = v.AsString()
		}
		return true
	}
	n := len(fns)
	switch x.op {
	case "contains":
		return func(e *env) differential.Value {
			var vs [2]string
			if !args(e, vs[:]) {
				return differential.Null()
			}
			return differential.Bool(strings.Contains(vs[0], vs[1]))
		}, differential.KindBool, nil
	case "lower", "upper":
		f := strings.ToLower
		if x.op == "upper" {
			f = strings.ToUpper
		}
		return func(e *env) differential.Value {
			var vs [1]string
			if !args(e, vs[:]) {
				return differential.Null()
			}
			return differential.String(f(vs[0]))
		}, differential.KindString, nil
	}
	return func(e *env) differential.Value {
		vs := make([]string, n)
		if !args(e, vs) {
			return differential.Null()
		}
		return differential.String(strings.Join(vs, ""))
	}, differential.KindString, nil
}

// Casts.

// Cast converts a value to kind (int, float, str or bool):
//   - int <-> float: a float is truncated towards zero; NaN, infinities
//     and floats out of the int range give null;
//   - int, float, bool -> str: as the CSV sink writes them;
//   - str -> int, float, bool: parsed (strconv, the string trimmed of
//     white space; a bool is true, false, True, False, 1 or 0), null when
//     the string does not parse;
//   - bool -> int or float: 1 or 0; int or float -> bool: not zero;
//   - a kind to itself: unchanged. Null stays null (of kind).
func Cast(kind differential.Kind, e Expr) Expr { return &castExpr{to: kind, a: e} }

type castExpr struct {
	to differential.Kind
	a  Expr
}

func (x *castExpr) String() string { return "cast(" + x.to.String() + ", " + exprString(x.a) + ")" }

func (x *castExpr) compile(b *binder) (evalFn, differential.Kind, error) {
	fns, ks, err := compileN(b, []Expr{x.a})
	if err != nil {
		return nil, 0, err
	}
	from, to, fa := ks[0], x.to, fns[0]
	switch to {
	case differential.KindInt, differential.KindFloat, differential.KindString, differential.KindBool:
	default:
		return nil, 0, fmt.Errorf("%s: cannot cast to %s, want int, float, str or bool", x, to)
	}
	if from == to {
		return fa, to, nil
	}
	var f func(differential.Value) differential.Value
	switch from {
	case null:
		return func(*env) differential.Value { return differential.Null() }, to, nil
	case differential.KindInt, differential.KindFloat, differential.KindBool, differential.KindString:
		f = caster(from, to)
	default:
		return nil, 0, fmt.Errorf("%s: cannot cast %s to %s, want int, float, str or bool", x, from, to)
	}
	return func(e *env) differential.Value {
		v := fa(e)
		if v.IsNull() {
			return v
		}
		return f(v)
	}, to, nil
}

// caster converts non-null values of kind from to kind to; both are int,
// float, str or bool, and differ.
func caster(from, to differential.Kind) func(differential.Value) differential.Value {
	if to == differential.KindString {
		return func(v differential.Value) differential.Value { return differential.String(v.String()) }
	}
	switch from {
	case differential.KindInt, differential.KindBool:
		// A bool holds 0 or 1 in I.
		switch to {
		case differential.KindInt:
			return func(v differential.Value) differential.Value { return differential.Int(v.AsInt()) }
		case differential.KindFloat:
			return func(v differential.Value) differential.Value { return differential.Float(float64(v.AsInt())) }
		}
		return func(v differential.Value) differential.Value { return differential.Bool(v.AsInt() != 0) }
	case differential.KindFloat:
		if to == differential.KindInt {
			return func(v differential.Value) differential.Value { return floatToInt(v.AsFloat()) }
		}
		return func(v differential.Value) differential.Value { return differential.Bool(v.AsFloat() != 0) }
	}
	// From a string.
	switch to {
	case differential.KindInt:
		return func(v differential.Value) differential.Value {
			i, err := strconv.ParseInt(strings.TrimSpace(v.AsString()), 10, 64)
			if err != nil {
				return differential.Null()
			}
			return differential.Int(i)
		}
	case differential.KindFloat:
		return func(v differential.Value) differential.Value {
			f, err := strconv.ParseFloat(strings.TrimSpace(v.AsString()), 64)
			if err != nil {
				return differential.Null()
			}
			return differential.Float(f)
		}
	}
	return func(v differential.Value) differential.Value {
		switch strings.TrimSpace(v.AsString()) {
		case "true", "True", "1":
			return differential.Bool(true)
		case "false", "False", "0":
			return differential.Bool(false)
		}
		return differential.Null()
	}
}

// floatToInt truncates f towards zero; null when it is NaN, infinite or
// out of the int range.
func floatToInt(f float64) differential.Value {
	if math.IsNaN(f) || f < -(1<<63) || f >= 1<<63 {
		return differential.Null()
	}
	return differential.Int(int64(f))
}
