package operators

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pwlog/pwlog/differential"
)

// UDFOptions tunes a user-defined function (NewUDF).
type UDFOptions struct {
	// Deterministic: the same arguments always give the same result.
	// Default false, as Pathway's: the operator then keeps each row's
	// results in its state (an arrangement "udf_results"), so a
	// retraction retracts exactly what was emitted and a restart never
	// calls the function again for a row.
	Deterministic bool
	// Cache keeps results keyed by the argument values in the storage
	// (an arrangement "udf_cache:<name>" of the operator calling it): a
	// rerun, or a rebuild of the state, does not call the function again
	// for arguments it has seen (Pathway's UDF caching). Cached results
	// are never dropped, and a cached function is consistent: the same
	// arguments give the result first cached.
	Cache bool
}

// UDF is a user-defined function, called in the expressions of Select,
// WithColumns and Filter (not in a Reduce's outputs: apply it to the
// Reduce's output instead).
type UDF struct {
	name string
	ret  differential.Kind
	fn   func(args []differential.Value) (differential.Value, error)
	opts UDFOptions
}

// CacheArrangement is the name of the arrangement that caches the
// results of the user-defined function name in an operator calling it.
func CacheArrangement(name string) string { return UDFCachePrefix + name }

// UDFCachePrefix starts the name of every UDF cache arrangement: the
// function's name follows it.
const UDFCachePrefix = "udf_cache:"

// ResultsArrangement is the name of the arrangement in which an operator
// calling a non-deterministic, uncached user-defined function keeps the
// rows it emitted: (input key, input row) -> output row.
const ResultsArrangement = "udf_results"

// NewUDF returns a user-defined function named name returning values of
// kind ret (or null). fn gets the argument values, nulls included (it
// decides what a null gives), in a slice it may keep. Its name appears
// in the pipeline's fingerprint and names its cache, so it must be
// stable across runs; one operator may not call two different UDFs of
// one name. The last of opts counts.
//
// A result of another kind than ret, an error returned by fn or a panic
// in it fails the execution with an error naming the operator, the
// function and the arguments.
func NewUDF(name string, ret differential.Kind, fn func(args []differential.Value) (differential.Value, error), opts ...UDFOptions) *UDF {
	u := &UDF{name: name, ret: ret, fn: fn}
	if len(opts) > 0 {
		u.opts = opts[len(opts)-1]
	}
	return u
}

// Name returns the function's name.
func (u *UDF) Name() string { return u.name }

// Call returns an expression calling the function with the values of
// args. Its String is name(args...).
func (u *UDF) Call(args ...Expr) Expr { return &udfExpr{u: u, args: args} }

// describe names the function's configuration for the fingerprint.
func (u *UDF) describe() string {
	d := u.name + " -> " + u.ret.String()
	if u.opts.Deterministic {
		d += ", deterministic"
	}
	if u.opts.Cache {
		d += ", cached"
	}
	return d
}

// check refuses a function that cannot be called.
func (u *UDF) check() error {
	switch {
	case u == nil:
		return fmt.Errorf("a call of a nil UDF")
	case u.name == "" || strings.ContainsAny(u.name, "/\n\r\t"):
		return fmt.Errorf("udf %q: a UDF's name must be non-empty, without '/' or control characters", u.name)
	case u.fn == nil:
		return fmt.Errorf("udf %s: no function", u.name)
	}
	switch u.ret {
	case differential.KindInt, differential.KindFloat, differential.KindString, differential.KindBool, differential.KindBytes:
		return nil
	}
	return fmt.Errorf("udf %s: returns %s, want a column type (int, float, str, bool, bytes)", u.name, u.ret)
}

// invoke calls fn, turning an error, a panic or a result of the wrong
// kind into an error naming the function and the arguments.
func (u *UDF) invoke(args []differential.Value) (v differential.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = differential.Null(), fmt.Errorf("udf %s(%s) panicked: %v", u.name, formatValues(args), r)
		}
	}()
	v, err = u.fn(slices.Clone(args))
	if err != nil {
		return differential.Null(), fmt.Errorf("udf %s(%s): %w", u.name, formatValues(args), err)
	}
	if !v.IsNull() && v.Kind != u.ret {
		return differential.Null(), fmt.Errorf("udf %s(%s) returned %s, a %s, want a %s or null", u.name, formatValues(args), formatValue(v), v.Kind, u.ret)
	}
	return v, nil
}

type udfExpr struct {
	u    *UDF
	args []Expr
}

func (x *udfExpr) String() string {
	name := "nil"
	if x.u != nil {
		name = x.u.name
	}
	return ident(name) + "(" + joinExprs(x.args) + ")"
}

func (x *udfExpr) compile(b *binder) (evalFn, differential.Kind, error) {
	if err := x.u.check(); err != nil {
		return nil, 0, err
	}
	if b.reduce {
		return nil, 0, fmt.Errorf("udf %s is only allowed in Select, WithColumns and Filter, not in a Reduce's outputs (apply it to the Reduce's output)", x)
	}
	fns, _, err := compileN(b, x.args)
	if err != nil {
		return nil, 0, err
	}
	var c *udfCall
	for _, o := range b.udfs {
		if o.udf == x.u {
			c = o
		} else if o.udf.name == x.u.name {
			return nil, 0, fmt.Errorf("%s: two different UDFs named %q in one operator", x, x.u.name)
		}
	}
	if c == nil {
		c = &udfCall{udf: x.u, args: x.args}
		b.udfs = append(b.udfs, c)
	}
	return func(e *env) differential.Value {
		args := make([]differential.Value, len(fns))
		for i, f := range fns {
			args[i] = f(e)
		}
		return e.udf.call(c, args)
	}, x.u.ret, nil
}

// udfCall is a user-defined function called in an operator's compiled
// expressions (once per function, however many calls).
type udfCall struct {
	udf *UDF
	// args are the arguments of the first call, naming the cache's
	// group columns for tools.
	args []Expr
	// cache, when the function is cached, is the operator's arrangement
	// "udf_cache:<name>": encoded arguments -> one entry, the encoded
	// result.
	cache *differential.Arrangement
}

// newCache gives the call its cache arrangement.
func (c *udfCall) newCache() *differential.Arrangement {
	c.cache = differential.NewArrangement(CacheArrangement(c.udf.name), nil)
	cols := make([]string, len(c.args))
	for i, a := range c.args {
		cols[i] = exprString(a)
	}
	c.cache.SetColumns(differential.Columns{Group: cols, Row: []string{c.udf.name}})
	return c.cache
}

// udfRuntime serves an operator's user-defined function calls.
type udfRuntime struct {
	// op names the operator in errors: `select "name"`.
	op  string
	err error
	buf []byte
}

// fail keeps the first error.
func (r *udfRuntime) fail(err error) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %w", r.op, err)
	}
}

// call returns the function's result for args: from its cache, or by
// calling it (and caching the result). After an error it returns null
// without calling anything; the operator returns the error.
func (r *udfRuntime) call(c *udfCall, args []differential.Value) differential.Value {
	if r.err != nil {
		return differential.Null()
	}
	var group string
	if c.cache != nil {
		r.buf = differential.AppendRow(r.buf[:0], args)
		group = string(r.buf)
		g, err := c.cache.Get(group)
		if err != nil {
			r.fail(fmt.Errorf("udf %s(%s): reading its cache: %w", c.udf.name, formatValues(args), err))
			return differential.Null()
		}
		if g != nil {
			v, n, err := differential.DecodeValue([]byte(g.Rows[0]))
			if err != nil || n != len(g.Rows[0]) {
				r.fail(fmt.Errorf("udf %s(%s): a cached result does not decode: %v", c.udf.name, formatValues(args), err))
				return differential.Null()
			}
			return v
		}
	}
	v, err := c.udf.invoke(args)
	if err != nil {
		r.fail(err)
		return differential.Null()
	}
	if c.cache != nil {
		c.cache.Update(group, 0, string(differential.AppendValue(nil, v)), 1)
	}
	return v
}
