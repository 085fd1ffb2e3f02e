package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// printer writes a command's output: JSON with --json, aligned text for
// people otherwise. Every command prints through one.
type printer struct {
	w    io.Writer
	json bool
	err  error // the first write error
}

func newPrinter(w io.Writer, o *options) *printer { return &printer{w: w, json: o.json} }

// object writes v as one line of JSON.
func (p *printer) object(v any) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		p.setErr(err)
		return
	}
	p.write(b.String())
}

// linef writes one line of text.
func (p *printer) linef(format string, args ...any) { p.write(fmt.Sprintf(format, args...) + "\n") }

func (p *printer) write(s string) {
	if p.err != nil {
		return
	}
	_, err := io.WriteString(p.w, s)
	p.setErr(err)
}

func (p *printer) setErr(err error) {
	if p.err == nil && err != nil {
		p.err = err
	}
}

// table is rows of cells printed in aligned columns; columns whose header
// starts with '>' are right-aligned (numbers), the '>' is not printed.
type table struct {
	indent string
	header []string
	rows   [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// print writes the table; nothing when it has no rows.
func (p *printer) table(t *table) {
	if len(t.rows) == 0 {
		return
	}
	right := make([]bool, len(t.header))
	head := make([]string, len(t.header))
	widths := make([]int, len(t.header))
	for i, h := range t.header {
		right[i] = strings.HasPrefix(h, ">")
		head[i] = strings.TrimPrefix(h, ">")
		widths[i] = utf8.RuneCountInString(head[i])
	}
	for _, r := range t.rows {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		b.WriteString(t.indent)
		for i, c := range cells {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i > 0 {
				b.WriteString("  ")
			}
			if right[i] {
				b.WriteString(pad + c)
			} else if i < len(cells)-1 {
				b.WriteString(c + pad)
			} else {
				b.WriteString(c)
			}
		}
		p.write(b.String() + "\n")
	}
	line(head)
	for _, r := range t.rows {
		line(r)
	}
}

// size formats a byte count for people: "512 B", "1.5 KiB", "12.0 MiB".
func size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, exp := float64(n)/unit, 0
	for v >= unit && exp < 5 {
		v /= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[exp])
}

// count formats an integer with thousands separators: 1234567 -> 1,234,567.
func count[T ~int | ~int64 | ~uint64](n T) string {
	s := fmt.Sprint(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// plural formats n things: "1 segment", "2 segments".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return count(n) + " " + thing + "s"
}

// lsnRange formats an inclusive LSN range, "none" when empty.
func lsnRange(first, last uint64) string {
	if last < first {
		return "none"
	}
	return fmt.Sprintf("%d..%d", first, last)
}
