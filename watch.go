package pwlog

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// safetyPoll is how often a streaming source whose directories are
// watched still looks again without an event: 10 times its PollInterval,
// at least 1 s, so that a missed event (an overflow) is only a delay.
func safetyPoll(poll time.Duration) time.Duration {
	return max(10*poll, time.Second)
}

// partialMargin is added to PartialLineTimeout after a write to a
// watched source, for the wake that reads a last line without its line
// end once the file has been quiet that long.
const partialMargin = 50 * time.Millisecond

// watcher wakes the loop of a streaming execution on a filesystem event
// in the directories of its watched sources.
type watcher struct {
	w    *fsnotify.Watcher
	log  *slog.Logger
	wake chan struct{} // has a value when a source is dirty

	// roots are the watched sources: directory and node index.
	roots []watchRoot

	mu      sync.Mutex
	dirty   map[int]bool      // node index -> an event since it last looked
	partial map[int]time.Time // node index -> when a partial line may be read
	done    chan struct{}
}

type watchRoot struct {
	dir     string
	ext     string // the suffix of the files the source reads
	index   int
	timeout time.Duration // the source's PartialLineTimeout
}

// startWatch watches the directories of the streaming sources that do
// not poll (FileOptions.Poll), and marks the nodes it watches in
// e.watched. A source whose directories cannot be watched is logged and
// polls.
func (e *engine) startWatch() {
	var roots []watchRoot
	for _, n := range e.p.nodes {
		if n.src != nil && n.streaming && n.dir != "" && !n.pollOnly {
			roots = append(roots, watchRoot{dir: n.dir, ext: n.ext, index: n.index, timeout: n.partialTimeout})
		}
	}
	e.watched = make([]bool, len(e.p.nodes))
	if len(roots) == 0 {
		return
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		e.log.Warn("Cannot watch the streaming sources' directories; they poll every PollInterval",
			slog.String("error", err.Error()))
		return
	}
	w := &watcher{w: fw, log: e.log, wake: make(chan struct{}, 1),
		dirty: map[int]bool{}, partial: map[int]time.Time{}, done: make(chan struct{})}
	now := time.Now()
	for _, r := range roots {
		if err := w.addTree(r.dir); err != nil {
			e.log.Warn("Cannot watch a streaming source's directory; it polls every PollInterval",
				slog.String("source", e.p.nodes[r.index].name), slog.String("dir", r.dir), slog.String("error", err.Error()))
			continue
		}
		w.roots = append(w.roots, r)
		e.watched[r.index] = true
		// What was written before the watch: look once more, and once a
		// partial line may be read.
		w.dirty[r.index] = true
		if r.timeout > 0 {
			w.partial[r.index] = now.Add(r.timeout + partialMargin)
		}
	}
	if len(w.roots) == 0 {
		fw.Close()
		return
	}
	e.watch = w
	go w.run()
}

// addTree watches dir and the directories under it.
func (w *watcher) addTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p != dir && errors.Is(err, fs.ErrNotExist) {
				return nil // gone since the listing
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		return w.w.Add(p)
	})
}

// run handles the events until the watcher is closed.
func (w *watcher) run() {
	defer close(w.done)
	for {
		select {
		case ev, ok := <-w.w.Events:
			if !ok {
				return
			}
			w.event(ev)
		case err, ok := <-w.w.Errors:
			if !ok {
				return
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				w.log.Warn("Watching the streaming sources' directories", slog.String("error", err.Error()))
			}
			// Events may be lost: every source looks again.
			w.mu.Lock()
			for _, r := range w.roots {
				w.dirty[r.index] = true
			}
			w.mu.Unlock()
			w.notify()
		}
	}
}

// event marks the sources under ev's path dirty when it is the event of
// a file a source reads (*.csv, *.jsonl), of a new directory, or of a
// removed or renamed one, and watches a new directory.
func (w *watcher) event(ev fsnotify.Event) {
	newDir := false
	if ev.Has(fsnotify.Create) {
		if info, err := os.Lstat(ev.Name); err == nil && info.IsDir() {
			newDir = true
			if err := w.addTree(ev.Name); err != nil {
				// The safety poll still lists it.
				w.log.Warn("Cannot watch a new directory of a streaming source", slog.String("dir", ev.Name), slog.String("error", err.Error()))
			}
		}
	}
	// A directory removed or renamed away takes its files with it.
	gone := ev.Has(fsnotify.Remove | fsnotify.Rename)
	now := time.Now()
	marked := false
	w.mu.Lock()
	for _, r := range w.roots {
		if ev.Name != r.dir && !strings.HasPrefix(ev.Name, r.dir+string(filepath.Separator)) {
			continue
		}
		read := strings.HasSuffix(ev.Name, r.ext)
		if !read && !newDir && !gone {
			continue
		}
		w.dirty[r.index] = true
		marked = true
		if read && r.timeout > 0 && ev.Has(fsnotify.Write|fsnotify.Create) {
			w.partial[r.index] = now.Add(r.timeout + partialMargin)
		}
	}
	w.mu.Unlock()
	if marked {
		w.notify()
	}
}

// notify wakes the loop if it sleeps, or when it next sleeps.
func (w *watcher) notify() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take tells whether node i had an event since it last looked, or may
// now read a partial line, and clears both.
func (w *watcher) take(i int, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := w.dirty[i]
	delete(w.dirty, i)
	if p, ok := w.partial[i]; ok && !p.After(now) {
		delete(w.partial, i)
		d = true
	}
	return d
}

// next returns when node i must look again for the watcher: now when it
// is dirty, when a partial line may be read, or zero.
func (w *watcher) next(i int, now time.Time) time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dirty[i] {
		return now
	}
	return w.partial[i]
}

// close stops watching and waits for the event goroutine.
func (w *watcher) close() error {
	err := w.w.Close()
	<-w.done
	return err
}
