package sources

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"github.com/pwlog/pwlog/differential"
)

// Feed is a Source a Go program feeds with rows, each batch at an offset
// of the program's own input (a message's offset, a line number, a
// sequence number), in a partition of its choosing. The storage commits
// the offsets with the rows; at a restart Resume hands the last committed
// offset of every partition back, so the program resumes its input right
// after it: exactly once, with no bookkeeping of its own.
//
// A Feed is streaming: the execution waits for pushes, and ends when its
// context is cancelled or the Feed is closed and everything pushed is
// committed. Its methods are safe for concurrent use.
type Feed struct {
	name   string
	schema differential.Schema

	mu      sync.Mutex
	queue   []fed            // pushed, not read yet
	pushed  map[string]int64 // partition -> the last offset pushed
	closed  bool
	resume  map[string]int64 // the committed offsets, once opened
	opened  chan struct{}    // closed by the first Open, or Finished
	runErr  error            // the error of an execution that ended before Open
	notify  chan struct{}    // one value: something was pushed, or the Feed closed
	openOne sync.Once
}

// fed is one Push.
type fed struct {
	partition string
	offset    int64
	rows      []differential.Row
}

// NewFeed returns a Feed of rows with the given schema for the source
// named name (the name of Pipeline.Read, which keys the rows).
func NewFeed(name string, schema differential.Schema) *Feed {
	return &Feed{name: name, schema: slices.Clone(schema), pushed: map[string]int64{},
		opened: make(chan struct{}), notify: make(chan struct{}, 1)}
}

// ErrFeedClosed is returned by Push after Close.
var ErrFeedClosed = errors.New("sources: the feed is closed")

// Resume waits until an execution has opened the Feed and returns the
// last committed offset of each partition it knows (none at the first
// execution): the program pushes its input from after them. Rows pushed
// at a committed offset are dropped, so a program may also push from the
// beginning. An execution that fails before it opens the Feed (a locked
// or damaged storage) makes Resume return its error.
func (f *Feed) Resume(ctx context.Context) (map[string]int64, error) {
	select {
	case <-f.opened:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.resume == nil {
		return nil, f.runErr
	}
	return maps.Clone(f.resume), nil
}

// Finished implements Finisher: an execution that ends before it opened
// the Feed releases Resume with its error.
func (f *Feed) Finished(err error) {
	if err == nil {
		err = errors.New("sources: the execution ended without reading the feed")
	}
	f.openOne.Do(func() {
		f.mu.Lock()
		f.runErr = err
		f.mu.Unlock()
		close(f.opened)
	})
}

// Push adds rows read at offset of partition. Offsets must increase
// within a partition; all the rows of one offset come in one Push. Each
// row must have a value of its column's type, or null, for every column
// of the schema.
func (f *Feed) Push(partition string, offset int64, rows ...differential.Row) error {
	for i, r := range rows {
		if err := f.schema.Check(r); err != nil {
			return fmt.Errorf("sources: feed %q: partition %q offset %d row %d: %w", f.name, partition, offset, i, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return ErrFeedClosed
	}
	if last, ok := f.pushed[partition]; ok && offset <= last {
		return fmt.Errorf("sources: feed %q: partition %q: offset %d pushed after offset %d; offsets must increase", f.name, partition, offset, last)
	}
	f.pushed[partition] = offset
	cp := make([]differential.Row, len(rows))
	for i, r := range rows {
		cp[i] = slices.Clone(r)
	}
	f.queue = append(f.queue, fed{partition: partition, offset: offset, rows: cp})
	f.wake()
	return nil
}

// Close ends the input: an execution finishes once it has committed
// everything pushed. Closing twice is harmless.
func (f *Feed) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.wake()
}

// wake signals Notify; f.mu is held.
func (f *Feed) wake() {
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

// Notify implements Notifier: a value follows every Push and Close.
func (f *Feed) Notify() <-chan struct{} { return f.notify }

// Ended implements Ender: the Feed is closed and everything pushed was
// read.
func (f *Feed) Ended() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed && len(f.queue) == 0
}

// Open implements Source: the Reader takes the rows pushed at offsets
// after those of prev. The first Open releases Resume.
func (f *Feed) Open(prev map[string]FileState) (Reader, error) {
	committed := maps.Clone(prev)
	if committed == nil {
		committed = map[string]FileState{}
	}
	f.openOne.Do(func() {
		f.mu.Lock()
		f.resume = map[string]int64{}
		for k, st := range prev {
			f.resume[k] = st.Offset
		}
		f.mu.Unlock()
		close(f.opened)
	})
	return &feedReader{f: f, at: committed}, nil
}

// feedReader reads a Feed's queue.
type feedReader struct {
	f      *Feed
	at     map[string]FileState // partition -> position read up to
	closed bool
}

var errFeedReaderClosed = errors.New("sources: feed reader is closed")

// Next takes whole pushes until limit rows are reached (a push is not
// split: one may take Next past limit).
func (r *feedReader) Next(limit int) ([]differential.Update, []FileState, error) {
	if r.closed {
		return nil, nil, errFeedReaderClosed
	}
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	var us []differential.Update
	var order []string
	n := 0
	for n < len(r.f.queue) && (limit <= 0 || len(us) < limit) {
		e := r.f.queue[n]
		n++
		st, known := r.at[e.partition]
		if known && e.offset <= st.Offset {
			continue // committed before: the program pushed it again
		}
		if !slices.Contains(order, e.partition) {
			order = append(order, e.partition)
		}
		for i, row := range e.rows {
			us = append(us, differential.Update{Key: RowKey(r.f.name, e.partition, e.offset, i), Row: row, Diff: 1})
		}
		r.at[e.partition] = FileState{Path: e.partition, Offset: e.offset, Rows: st.Rows + int64(len(e.rows))}
	}
	clear(r.f.queue[:n])
	r.f.queue = r.f.queue[n:]
	if len(order) == 0 {
		return nil, nil, io.EOF
	}
	states := make([]FileState, len(order))
	for i, p := range order {
		states[i] = r.at[p]
	}
	return us, states, nil
}

// Close ends the reader; the Feed goes on.
func (r *feedReader) Close() error {
	r.closed = true
	return nil
}
