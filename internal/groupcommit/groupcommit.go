// Package groupcommit holds what the two logs (wal on a filesystem,
// objlog in an object store) share of group commit with a durability
// window.
package groupcommit

import "time"

// Window runs the durability window of group commit: once kick fires
// (the log became unsynced), it waits interval and calls flush, which
// makes everything written so far durable; then it waits for the next
// kick. It returns when stop is closed, or after a flush fails (the
// failure is the log's to keep: it is fatal). kick is best buffered by
// one, sent to without blocking.
func Window(interval time.Duration, kick, stop <-chan struct{}, flush func() error) {
	t := time.NewTimer(interval)
	t.Stop()
	for {
		select {
		case <-kick:
		case <-stop:
			return
		}
		t.Reset(interval)
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return
		}
		if err := flush(); err != nil {
			return
		}
	}
}
