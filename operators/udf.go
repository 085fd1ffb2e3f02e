package operators

// udfCall is a call of a user-defined function in a compiled expression.
type udfCall struct{}

// udfRuntime serves an operator's user-defined function calls.
type udfRuntime struct {
	err error
}
