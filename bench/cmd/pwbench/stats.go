package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// sample is n measurements of one figure: medians are reported with the
// min–max spread.
type sample []float64

func (s sample) sorted() sample { c := slices.Clone(s); slices.Sort(c); return c }

// median of the sample (the upper middle of an even count).
func (s sample) median() float64 { c := s.sorted(); return c[len(c)/2] }
func (s sample) min() float64    { return slices.Min(s) }
func (s sample) max() float64    { return slices.Max(s) }

// durations turns measured durations into seconds.
func durations(ds []time.Duration) sample {
	s := make(sample, len(ds))
	for i, d := range ds {
		s[i] = d.Seconds()
	}
	return s
}

// repeat runs f n times and returns the seconds each took.
func repeat(n int, f func(i int) time.Duration) sample {
	ds := make([]time.Duration, n)
	for i := range ds {
		ds[i] = f(i)
	}
	return durations(ds)
}

// secs formats a median of seconds with its spread: "1.23 s [1.20–1.31]".
func secs(s sample) string {
	f := func(v float64) string {
		switch {
		case v >= 1:
			return fmt.Sprintf("%.2f s", v)
		case v >= 1e-3:
			return fmt.Sprintf("%.1f ms", v*1e3)
		}
		return fmt.Sprintf("%.0f µs", v*1e6)
	}
	return fmt.Sprintf("%s [%s–%s]", f(s.median()), f(s.min()), f(s.max()))
}

// rate formats a rate sample (per second): "142k rows/s [130k–150k]".
func rate(s sample, unit string) string {
	return fmt.Sprintf("%s %s/s [%s–%s]", si(s.median()), unit, si(s.min()), si(s.max()))
}

// si formats v with k or M.
func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// per turns seconds into a rate of n per second.
func per(n float64, s sample) sample {
	r := make(sample, len(s))
	for i, v := range s {
		r[i] = n / v
	}
	return r
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// table is the report's markdown table.
type table struct{ b strings.Builder }

func (t *table) header() {
	t.b.WriteString("| figure | median [min–max] | target | ratio |\n|---|---|---|---|\n")
}

func (t *table) row(cells ...string) {
	for len(cells) < 4 {
		cells = append(cells, "")
	}
	t.b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
}

func (t *table) section(title string) { t.row("**"+title+"**", "", "", "") }
