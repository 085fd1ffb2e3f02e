package pwlog

import (
	"math"
	"runtime/debug"
	"testing"
)

// TestMemoryLimitDefault: without a Go memory limit the bound is 64 MiB;
// with one (GOMEMLIMIT, or debug.SetMemoryLimit), a quarter of it; a bound
// given is kept.
func TestMemoryLimitDefault(t *testing.T) {
	prev := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(prev)
	if got := (Config{}).withDefaults().MemoryLimit; got != 64<<20 {
		t.Errorf("no Go memory limit: MemoryLimit %d, want %d", got, 64<<20)
	}
	debug.SetMemoryLimit(2 << 30)
	if got := (Config{}).withDefaults().MemoryLimit; got != 512<<20 {
		t.Errorf("a Go memory limit of 2 GiB: MemoryLimit %d, want %d", got, 512<<20)
	}
	if got := (Config{MemoryLimit: 1000}).withDefaults().MemoryLimit; got != 1000 {
		t.Errorf("MemoryLimit 1000 became %d", got)
	}
}
