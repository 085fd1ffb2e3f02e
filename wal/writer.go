package wal

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/internal/groupcommit"
	"github.com/pwlog/pwlog/vfs"
	tidwal "github.com/tidwall/wal"
)

// failed returns the fatal error, nil while the log is healthy.
func (l *Log) failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.err
}

// fail records err as the fatal error unless one is recorded already, wakes
// the waiters and returns the recorded error.
func (l *Log) fail(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.err == nil {
		l.mu.err = err
		l.opts.Logger.Error("wal: log failed; refusing further writes",
			slog.String("dir", l.dir), slog.String("error", err.Error()))
	}
	l.mu.cond.Broadcast()
	return l.mu.err
}

// writer is the single goroutine that writes to tidwall. It takes a
// request, coalesces whatever else is queued, writes them as one batch and,
// with SyncInterval 0, fsyncs before answering them all.
func (l *Log) writer() {
	defer close(l.writerDone)
	var group []*appendReq
	for req := range l.reqs {
		group = append(group[:0], req)
	drain:
		for len(group) < maxGroup {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					break drain
				}
				group = append(group, r)
			default:
				break drain
			}
		}
		first, err := l.writeGroup(group)
		if err == nil {
			if l.opts.SyncInterval == 0 {
				err = l.syncNow()
			} else {
				select {
				case l.kick <- struct{}{}:
				default:
				}
			}
		}
		for _, r := range group {
			r.done <- appendResult{first: first, err: err}
			first += uint64(len(r.recs))
		}
		clear(group)
	}
}

// writeGroup frames the records of group with consecutive LSNs and writes
// them in one WriteBatch. It returns the first LSN.
func (l *Log) writeGroup(group []*appendReq) (uint64, error) {
	if err := l.failed(); err != nil {
		return 0, err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	first := l.last.Load() + 1
	lsn := first
	l.batch.Clear()
	l.sizes = l.sizes[:0]
	total := 0
	for _, r := range group {
		for _, p := range r.recs {
			l.frame = appendFrame(l.frame[:0], lsn, p.kind, p.flags, p.payload)
			l.batch.Write(lsn, l.frame)
			l.sizes = append(l.sizes, entrySize(len(l.frame)))
			total += len(l.frame)
			lsn++
		}
	}
	created := l.tail.apply(first-1, l.sizes, l.opts.SegmentSize)
	if err := l.tw.WriteBatch(&l.batch); err != nil {
		return 0, l.fail(fmt.Errorf("wal: write LSNs %d..%d: %w", first, lsn-1, err))
	}
	l.groups.Add(1)
	if total > maxKeptBatch {
		l.batch = tidwal.Batch{}
		l.frame = nil
	}
	l.mu.Lock()
	l.last.Store(lsn - 1)
	l.mu.tail = l.tail.start
	if created > 0 {
		l.mu.dirDirty = true
	}
	l.mu.Unlock()
	return first, nil
}

// syncNow makes everything written so far durable: the directory if a
// segment was created, then the segments written since the last fsync
// (fsyncTail). The fsync goes through our own descriptor, not
// tidwall's Sync, so that it does not hold tidwall's lock and stall the
// writer. With NoSync it only does the accounting. An fsync error is
// fatal and never retried.
func (l *Log) syncNow() error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	l.mu.Lock()
	if err := l.mu.err; err != nil {
		l.mu.Unlock()
		return err
	}
	target := l.last.Load()
	dirty := l.mu.dirDirty
	l.mu.dirDirty = false
	l.syncStart = l.mu.tail
	l.mu.Unlock()
	if target <= l.durable.Load() && !dirty {
		return nil
	}
	if !l.opts.NoSync {
		if dirty {
			if err := l.syncDir(); err != nil {
				return l.fail(fmt.Errorf("wal: fsync directory %s: %w", l.dir, err))
			}
		}
		if err := l.syncFile(); err != nil {
			return l.fail(fmt.Errorf("wal: fsync through LSN %d: %w", target, err))
		}
	}
	l.mu.Lock()
	if target > l.durable.Load() {
		l.durable.Store(target)
	}
	l.mu.cond.Broadcast()
	l.mu.Unlock()
	return nil
}

// fsyncTail fsyncs the segment starting at syncStart through a descriptor
// of our own, kept open while that segment is the tail. syncMu is held.
func (l *Log) fsyncTail() error {
	if l.syncFD != nil && l.syncFDAt != l.syncStart {
		// The log moved to a new segment since the last fsync. tidwall
		// fsyncs a segment when it starts the next, but we do not rest
		// durability on that: the old tail and any segment sealed since
		// are fsynced here, before the new tail.
		if err := l.fsyncSealed(l.syncFDAt, l.syncStart); err != nil {
			return err
		}
	}
	if l.syncFD == nil || l.syncFDAt != l.syncStart {
		l.closeSyncFD()
		f, err := l.opts.FS.OpenFile(filepath.Join(l.dir, base.SegmentName(l.syncStart)), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		l.syncFD, l.syncFDAt = f, l.syncStart
	}
	return l.syncFD.Sync()
}

// fsyncSealed fsyncs the segments that start at from or later and before
// to: the old tail through syncFD, the others opened for it. syncMu is
// held.
func (l *Log) fsyncSealed(from, to uint64) error {
	if err := l.syncFD.Sync(); err != nil {
		return err
	}
	segs, err := listSegments(l.opts.FS, l.dir)
	if err != nil {
		return err
	}
	for _, s := range segs {
		if s.start <= from || s.start >= to {
			continue
		}
		if err := vfs.SyncFile(l.opts.FS, s.path); err != nil {
			return err
		}
	}
	return nil
}

// closeSyncFD closes the descriptor of fsyncTail. syncMu is held.
func (l *Log) closeSyncFD() {
	if l.syncFD != nil {
		l.syncFD.Close()
		l.syncFD = nil
	}
}

// syncer runs the background fsync of SyncInterval > 0: an interval after
// a write finds the log unsynced, it syncs.
func (l *Log) syncer() {
	defer close(l.syncerDone)
	groupcommit.Window(l.opts.SyncInterval, l.kick, l.stop, l.syncNow)
}
