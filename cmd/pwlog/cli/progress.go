package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// progress draws a progress bar on a terminal for work that takes more
// than a moment: nothing for the first delay, then a line redrawn at most
// every interval, cleared when the work is done. It draws nothing when w
// is not a terminal, so output piped to a file or a program stays clean.
type progress struct {
	w        io.Writer
	label    string
	unit     string // "" for bytes, else what done and total count
	enabled  bool
	delay    time.Duration
	interval time.Duration
	now      func() time.Time

	mu    sync.Mutex
	start time.Time
	drawn time.Time // when the bar was last drawn; zero before the first
}

func newProgress(w io.Writer, label string) *progress {
	return &progress{w: w, label: label, enabled: isTerminal(w),
		delay: 500 * time.Millisecond, interval: 100 * time.Millisecond, now: time.Now, start: time.Now()}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// fn returns update when the bar is drawn, else nil: a tool then
// spends nothing on telling its progress (in an object store, the sizes
// of the log's objects).
func (p *progress) fn() func(done, total int64) {
	if !p.enabled {
		return nil
	}
	return p.update
}

// update reports that done of total bytes are processed.
func (p *progress) update(done, total int64) {
	if !p.enabled {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if now.Sub(p.start) < p.delay || (!p.drawn.IsZero() && now.Sub(p.drawn) < p.interval) {
		return
	}
	p.drawn = now
	fmt.Fprintf(p.w, "\r%s %s", p.label, bar(done, total, 30, p.unit))
}

// done clears the bar if it was drawn.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.drawn.IsZero() {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = time.Time{}
	}
}

// bar renders "[=======>      ]  45%  12.3 MiB / 27.0 MiB" with width
// cells between the brackets; with a unit, "... 1,200 / 2,400 records".
func bar(done, total int64, width int, unit string) string {
	frac := 1.0
	if total > 0 {
		frac = min(max(float64(done)/float64(total), 0), 1)
	}
	full := int(frac * float64(width))
	cells := strings.Repeat("=", full)
	if full < width {
		cells += ">" + strings.Repeat(" ", width-full-1)
	}
	amount := size(done) + " / " + size(total)
	if unit != "" {
		amount = count(done) + " / " + count(total) + " " + unit
	}
	return fmt.Sprintf("[%s] %3d%%  %s", cells, int(frac*100), amount)
}
