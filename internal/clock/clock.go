// Package clock is where the engine reads the wall clock for its logical
// times. Tests that need reproducible storage bytes (golden files) replace
// Now before a run and restore it after; nothing else sets it.
package clock

import "time"

// Now returns the current time.
var Now = time.Now
