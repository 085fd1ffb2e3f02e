package main

import "testing"

func TestSampleAndFormats(t *testing.T) {
	s := sample{3, 1, 2, 5, 4}
	if s.median() != 3 || s.min() != 1 || s.max() != 5 {
		t.Fatalf("median %v min %v max %v", s.median(), s.min(), s.max())
	}
	if s[0] != 3 {
		t.Fatal("median sorted the sample in place")
	}
	if got := secs(sample{0.0123, 0.011, 1.5}); got != "12.3 ms [11.0 ms–1.50 s]" {
		t.Errorf("secs: %q", got)
	}
	if got := rate(per(1e6, sample{2, 4, 1}), "rows"); got != "500k rows/s [250k–1.00M]" {
		t.Errorf("rate: %q", got)
	}
	for v, want := range map[float64]float64{0: 1, 0.7: 1, 3: 5, 12: 20, 99: 100, 101: 200} {
		if got := niceCeil(v); got != want {
			t.Errorf("niceCeil(%v) = %v, want %v", v, got, want)
		}
	}
}
