package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// The bar waits for the delay, redraws at most once per interval, and is
// cleared at the end; it is silent when the output is not a terminal.
func TestProgress(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(0, 0)
	p := &progress{w: &out, label: "verify", enabled: true, delay: time.Second, interval: 100 * time.Millisecond,
		now: func() time.Time { return now }, start: now}
	p.update(10, 100)
	if out.Len() != 0 {
		t.Fatalf("drawn before the delay: %q", out.String())
	}
	now = now.Add(time.Second)
	p.update(50<<20, 100<<20)
	if want := "\rverify [===============>              ]  50%  50.0 MiB / 100.0 MiB"; out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
	n := out.Len()
	now = now.Add(50 * time.Millisecond)
	p.update(60<<20, 100<<20)
	if out.Len() != n {
		t.Fatal("redrawn within the interval")
	}
	now = now.Add(50 * time.Millisecond)
	p.update(100<<20, 100<<20)
	if !strings.HasSuffix(out.String(), "[==============================] 100%  100.0 MiB / 100.0 MiB") {
		t.Fatalf("full bar: %q", out.String())
	}
	p.done()
	if !strings.HasSuffix(out.String(), "\r\033[K") {
		t.Fatalf("not cleared: %q", out.String())
	}

	var quiet bytes.Buffer
	q := newProgress(&quiet, "compact")
	if q.enabled {
		t.Fatal("a buffer is not a terminal")
	}
	q.start = q.start.Add(-time.Hour)
	q.update(1, 2)
	q.done()
	if quiet.Len() != 0 {
		t.Fatalf("drawn on a non-terminal: %q", quiet.String())
	}
}

func TestBarAndSizes(t *testing.T) {
	for _, c := range []struct {
		done, total int64
		unit, want  string
	}{
		{0, 0, "", "[==========] 100%  0 B / 0 B"},
		{0, 10, "records", "[>         ]   0%  0 / 10 records"},
		{1234, 2468, "records", "[=====>    ]  50%  1,234 / 2,468 records"},
	} {
		if got := bar(c.done, c.total, 10, c.unit); got != c.want {
			t.Errorf("bar(%d, %d): %q, want %q", c.done, c.total, got, c.want)
		}
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := size(n); got != want {
			t.Errorf("size(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", -1234567: "-1,234,567"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}

// Output piped to a program carries no bar: verify's stderr is empty.
func TestNoProgressWhenNotATerminal(t *testing.T) {
	dir := storage(t)
	for _, cmd := range []string{"verify", "compact"} {
		if r := run(t, dir, cmd, dir); r.code != 0 || r.err != "" {
			t.Errorf("%s: exit %d, stderr %q", cmd, r.code, r.err)
		}
	}
}
