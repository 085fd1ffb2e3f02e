package operators

import (
	"fmt"

	"github.com/pwlog/pwlog/differential"
)

// Add returns a + b.
func Add(a, b Expr) Expr { return &binExpr{op: "+", a: a, b: b} }

// Sub returns a - b.
func Sub(a, b Expr) Expr { return &binExpr{op: "-", a: a, b: b} }

// Mul returns a * b.
func Mul(a, b Expr) Expr { return &binExpr{op: "*", a: a, b: b} }

// binExpr is arithmetic on two numbers: int with int gives an int, a
// float on either side a float. A null operand gives null; the null
// literal fits either kind.
type binExpr struct {
	op   string
	a, b Expr
}

func numeric(k differential.Kind) bool {
	return k == differential.KindInt || k == differential.KindFloat
}

func (x *binExpr) compile(b *binder) (evalFn, differential.Kind, error) {
	fns, ks, err := compileN(b, []Expr{x.a, x.b})
	if err != nil {
		return nil, 0, err
	}
	fa, fb, ta, tb := fns[0], fns[1], ks[0], ks[1]
	if !numOrNull(ta) || !numOrNull(tb) {
		return nil, 0, fmt.Errorf("%s: operands are %s and %s, want int or float", x, ta, tb)
	}
	if ta != differential.KindFloat && tb != differential.KindFloat {
		var f func(x, y int64) int64
		switch x.op {
		case "+":
			f = func(x, y int64) int64 { return x + y }
		case "-":
			f = func(x, y int64) int64 { return x - y }
		default:
			f = func(x, y int64) int64 { return x * y }
		}
		return func(e *env) differential.Value {
			a, b := fa(e), fb(e)
			if a.IsNull() || b.IsNull() {
				return differential.Null()
			}
			return differential.Int(f(a.AsInt(), b.AsInt()))
		}, differential.KindInt, nil
	}
	var f func(x, y float64) float64
	switch x.op {
	case "+":
		f = func(x, y float64) float64 { return x + y }
	case "-":
		f = func(x, y float64) float64 { return x - y }
	default:
		f = func(x, y float64) float64 { return x * y }
	}
	return func(e *env) differential.Value {
		a, b := fa(e), fb(e)
		if a.IsNull() || b.IsNull() {
			return differential.Null()
		}
		return differential.Float(f(asFloat(a), asFloat(b)))
	}, differential.KindFloat, nil
}

func (x *binExpr) String() string {
	return "(" + exprString(x.a) + " " + x.op + " " + exprString(x.b) + ")"
}

// asFloat returns an int or float value as a float64.
func asFloat(v differential.Value) float64 {
	if v.Kind == differential.KindInt {
		return float64(v.AsInt())
	}
	return v.AsFloat()
}
