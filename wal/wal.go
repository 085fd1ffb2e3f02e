// Package wal is pwlog's record log: an append-only sequence of records,
// each with a log sequence number (LSN), stored in github.com/tidwall/wal
// segment files with our own frame around every entry.
//
// # On disk
//
// The directory holds segment files named by the LSN of their first entry
// (20 decimal digits). A segment is a sequence of tidwall entries, each a
// uvarint length followed by that many bytes; each entry is one frame:
//
//	segment 00000000000000000001
//	+-----------+-------------------+-----------+-------------------+----
//	| uvarint n | frame (n bytes)   | uvarint n | frame (n bytes)   | ...
//	+-----------+-------------------+-----------+-------------------+----
//
//	frame
//	 0         1      2       3          4           12         16         20
//	+---------+------+-------+----------+-----------+----------+----------+------------------+
//	| version | kind | flags | reserved | LSN u64le | len u32le| CRC u32le| body (len bytes) |
//	|   = 1   |      |       |   = 0    | = index   |          |          |                  |
//	+---------+------+-------+----------+-----------+----------+----------+------------------+
//	CRC is CRC-32C (Castagnoli) over bytes [0,16) and the body.
//	flags bit 0: the body is snappy-compressed (block format); len is the
//	stored length. No other flag bit is defined.
//
// The LSN of a frame must equal its tidwall index. A record of kind
// KindCommit ends a batch: at Open everything after the last valid commit
// frame is cut (a torn or uncommitted tail), after copying the damaged file
// to <segment>.broken. Damage anywhere else is reported as ErrCorrupt with
// the file, offset and LSN, never skipped.
//
// # Durability
//
// One writer goroutine turns concurrent Appends into one tidwall WriteBatch
// and, with SyncInterval 0, one fsync (group commit). The directory is
// fsynced after a segment file is created, removed or renamed. A failed
// write or fsync is fatal for the Log: it is never retried.
//
// tidwall/wal itself (v1.2.1) always fsyncs a segment before it starts the
// next one (and on Close), even with NoSync; so every segment but the last
// is durable once the next one exists, and an fsync of the last segment
// makes everything written so far durable.
package wal

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/vfs"

	tidwal "github.com/tidwall/wal"
)

// Kind is a record's kind. The wal package knows only KindCommit; other
// values belong to the caller.
type Kind uint8

// KindCommit ends a batch; repair cuts everything after the last valid
// commit frame.
const KindCommit Kind = 1

// Record is one entry of the log.
type Record struct {
	LSN  uint64 // set by Append / Replay
	Kind Kind
	// Data is the body, uncompressed. Owned by the caller on Append (the Log
	// does not keep it after Append returns); on Replay valid only during the
	// callback.
	Data []byte
}

// Options configure a Log. The zero value is valid.
type Options struct {
	// SyncInterval is the durability window of group commit. 0: every
	// Append is fsynced before it returns. >0: Append returns after the
	// write; a background fsync runs at most once per interval while there
	// are unsynced writes (the first one an interval after the write that
	// made the log unsynced). Default 0.
	SyncInterval time.Duration
	// NoSync disables every fsync (file and directory) that this package
	// issues. Tests and benchmarks only. DurableLSN, Sync and WaitDurable
	// still advance as if each skipped fsync had succeeded, so callers behave
	// the same; nothing is durable against a machine crash. tidwall/wal still
	// fsyncs a segment when it starts the next one and on Close. Default
	// false.
	NoSync bool
	// SegmentSize is the target size of a segment file in bytes. Default
	// 16 MiB.
	SegmentSize int
	// Logger receives repair and open messages. Default slog.Default().
	Logger *slog.Logger
	// FS is the filesystem of the log's own file work: listing, repair,
	// fsyncs of segments and of the directory. The segments themselves
	// are written by tidwall/wal through package os, so FS must reach the
	// operating system's files (vfs.Default or a wrapper of it). Default
	// vfs.Default.
	FS vfs.FS
}

// DefaultSegmentSize is the SegmentSize used when Options leave it 0.
const DefaultSegmentSize = 16 << 20

var (
	// ErrCorrupt marks damage before the tail of the log: a damaged frame
	// followed by valid ones, a damaged or missing segment before the last.
	// Errors wrap it with the file, offset and LSN (see CorruptError);
	// errors.Is(err, ErrCorrupt) finds it through any wrapping.
	ErrCorrupt = errors.New("wal: corrupt")
	// ErrClosed is returned by calls on a closed Log.
	ErrClosed = errors.New("wal: closed")
)

// CorruptError is the error for a damaged log. It unwraps to ErrCorrupt.
type CorruptError struct {
	File   string // segment file path; empty when not known (DecodeFrame)
	Offset int64  // byte offset in File of the tidwall entry; -1 when not known
	LSN    uint64 // LSN expected at Offset; 0 when not known
	Reason string
}

func (e *CorruptError) Error() string {
	if e.File == "" {
		return "wal: corrupt frame: " + e.Reason
	}
	return fmt.Sprintf("wal: corrupt: %s offset %d lsn %d: %s", e.File, e.Offset, e.LSN, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// at returns a copy of e placed in file at off for lsn.
func (e *CorruptError) at(file string, off int, lsn uint64) *CorruptError {
	return &CorruptError{File: file, Offset: int64(off), LSN: lsn, Reason: e.Reason}
}

const (
	// maxGroup bounds how many Appends the writer coalesces into one batch.
	maxGroup = 1024
	// maxKeptBatch is the size above which the writer drops its batch
	// buffer after use instead of keeping it for the next group.
	maxKeptBatch = 8 << 20
)

// Log is an open record log. Its methods are safe for concurrent use,
// except Replay, which must not run concurrently with Append or
// TruncateFront.
type Log struct {
	dir  string
	opts Options
	tw   *tidwal.Log

	first   atomic.Uint64 // first LSN present
	last    atomic.Uint64 // last LSN written; written with mu held
	durable atomic.Uint64 // last LSN known fsynced; written with mu held
	groups  atomic.Uint64 // WriteBatch calls, for tests

	// closeMu orders Close after the calls that use the files.
	closeMu sync.RWMutex
	closed  bool // guarded by closeMu

	reqs       chan *appendReq
	writerDone chan struct{}
	kick       chan struct{} // wakes the syncer after an unsynced write
	stop       chan struct{} // stops the syncer
	syncerDone chan struct{}

	// wmu serialises changes of the tidwall log and the tail mirror: the
	// writer's batches and TruncateFront.
	wmu   sync.Mutex
	tail  tailState    // guarded by wmu
	batch tidwal.Batch // writer only, under wmu
	frame []byte       // writer only, under wmu
	sizes []int        // writer only, under wmu

	// syncMu allows one fsync round at a time, and keeps TruncateFront from
	// renaming the tail under it.
	syncMu    sync.Mutex
	syncStart uint64   // guarded by syncMu: the tail segment syncFile must fsync
	syncFD    vfs.File // guarded by syncMu: open on the segment syncFDAt
	syncFDAt  uint64

	mu struct {
		sync.Mutex
		cond     sync.Cond // broadcast when durable advances, on failure and on close
		dirDirty bool      // a segment was created since the last directory fsync
		tail     uint64    // first LSN of the tail segment holding LSN last
		err      error     // the fatal error; set once
		closed   bool      // Close has finished syncing
	}

	// The fsyncs, replaceable by tests to count or fail them.
	syncFile func() error // fsyncs the tail segment starting at syncStart
	syncDir  func() error // fsyncs the directory
}

type appendReq struct {
	recs []pending
	done chan appendResult
}

// pending is a record whose body is already in its stored form.
type pending struct {
	kind    Kind
	flags   byte
	payload []byte
}

type appendResult struct {
	first uint64
	err   error
}

// Open opens the log in dir, creating dir if it is missing (and fsyncing
// its parent). Before tidwall/wal opens the files, Open finishes a front
// truncation that a crash interrupted, checks that the segments are
// continuous and repairs the tail: everything after the last valid commit
// frame is cut (see the package doc). Damage that is not a torn tail
// returns an error wrapping ErrCorrupt. When Open returns, LastLSN is the
// LSN of the last commit frame and everything up to it is durable.
func Open(dir string, opts *Options) (*Log, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.SyncInterval < 0 {
		return nil, fmt.Errorf("wal: negative SyncInterval %v", o.SyncInterval)
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = DefaultSegmentSize
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	if err := ensureDir(o.FS, dir, o.NoSync); err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	if err := finishTruncate(dir, &o); err != nil {
		return nil, err
	}
	want, err := repair(dir, &o)
	if err != nil {
		return nil, err
	}
	tw, err := tidwal.Open(dir, &tidwal.Options{
		NoSync:           true, // we fsync ourselves
		AllowEmpty:       true,
		SegmentSize:      o.SegmentSize,
		SegmentCacheSize: 1,
		DirPerms:         0o750,
		FilePerms:        0o640,
	})
	if err != nil {
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	first, err1 := tw.FirstIndex()
	last, err2 := tw.LastIndex()
	if err := errors.Join(err1, err2); err != nil {
		tw.Close()
		return nil, fmt.Errorf("wal: open %s: %w", dir, err)
	}
	if first != want.first || last != want.last {
		tw.Close()
		return nil, fmt.Errorf("wal: open %s: the log holds LSNs %d..%d after repair, want %d..%d", dir, first, last, want.first, want.last)
	}
	l := &Log{
		dir:        dir,
		opts:       o,
		tw:         tw,
		reqs:       make(chan *appendReq, 256),
		writerDone: make(chan struct{}),
		kick:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		syncerDone: make(chan struct{}),
	}
	l.mu.cond.L = &l.mu.Mutex
	l.syncFile = l.fsyncTail
	l.syncDir = func() error { return o.FS.SyncDir(dir) }
	l.first.Store(first)
	l.last.Store(last)
	if err := l.loadTail(); err != nil {
		tw.Close()
		return nil, err
	}
	l.mu.tail = l.tail.start
	l.syncStart = l.tail.start
	// What the previous process wrote may still be in the page cache only;
	// tidwall may have just created the first segment.
	if !o.NoSync {
		if err := errors.Join(l.syncFile(), l.syncDir()); err != nil {
			l.closeSyncFD()
			tw.Close()
			return nil, fmt.Errorf("wal: open %s: fsync: %w", dir, err)
		}
	}
	l.durable.Store(last)
	go l.writer()
	if o.SyncInterval > 0 {
		go l.syncer()
	} else {
		close(l.syncerDone)
	}
	o.Logger.Debug("wal: opened", slog.String("dir", dir),
		slog.Uint64("first_lsn", first), slog.Uint64("last_lsn", last))
	return l, nil
}

// Dir returns the absolute path of the log directory.
func (l *Log) Dir() string { return l.dir }

// FirstLSN returns the first LSN present, LastLSN()+1 when the log is empty.
func (l *Log) FirstLSN() uint64 { return l.first.Load() }

// LastLSN returns the last LSN written, 0 when the log never held a
// record. After Open it is the LSN of the last commit frame.
func (l *Log) LastLSN() uint64 { return l.last.Load() }

// DurableLSN returns the last LSN known fsynced (with NoSync: that would
// have been fsynced). Records up to it survive a machine crash.
func (l *Log) DurableLSN() uint64 { return l.durable.Load() }

// Append frames recs and writes them as one tidwall WriteBatch, assigning
// consecutive LSNs; it sets recs[i].LSN and returns the last LSN. A batch
// should end with a KindCommit record: at Open everything after the last
// commit frame is cut. The Log does not keep recs or their Data after
// Append returns.
//
// Concurrent Appends are coalesced by a single writer goroutine into one
// WriteBatch and one fsync (group commit); the records of one Append stay
// contiguous. With SyncInterval 0 Append returns once the records are
// durable; otherwise once they are written (see WaitDurable).
//
// A write or fsync error is fatal: that Append and every later one return
// it. A body longer than MaxRecordSize is refused without harm. An empty
// recs returns LastLSN().
func (l *Log) Append(recs []Record) (uint64, error) {
	req := &appendReq{recs: make([]pending, len(recs)), done: make(chan appendResult, 1)}
	for i, r := range recs {
		if len(r.Data) > MaxRecordSize {
			return 0, fmt.Errorf("wal: append: record %d has %d bytes, more than MaxRecordSize", i, len(r.Data))
		}
		flags, payload := encodeBody(r.Data)
		req.recs[i] = pending{kind: r.Kind, flags: flags, payload: payload}
	}
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return 0, ErrClosed
	}
	if err := l.failed(); err != nil {
		l.closeMu.RUnlock()
		return 0, err
	}
	if len(recs) == 0 {
		l.closeMu.RUnlock()
		return l.LastLSN(), nil
	}
	l.reqs <- req
	l.closeMu.RUnlock()
	res := <-req.done
	if res.err != nil {
		return 0, res.err
	}
	for i := range recs {
		recs[i].LSN = res.first + uint64(i)
	}
	return res.first + uint64(len(recs)) - 1, nil
}

// Sync fsyncs everything written so far and returns once DurableLSN() ==
// LastLSN() as of the call.
func (l *Log) Sync() error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	return l.syncNow()
}

// WaitDurable blocks until DurableLSN() >= lsn. It returns the fatal error
// if the log failed first, and ErrClosed if the log was closed first. With
// SyncInterval 0 every Append is durable when it returns, so WaitDurable of
// an LSN Append returned does not block.
func (l *Log) WaitDurable(lsn uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.durable.Load() < lsn {
		if l.mu.err != nil {
			return l.mu.err
		}
		if l.mu.closed {
			return ErrClosed
		}
		l.mu.cond.Wait()
	}
	return nil
}

// stageStart writes <lsn>.KEEP, holding what tidwall's TruncateFront is
// about to make the first segment (the entries from lsn on in their
// segment), and fsyncs it and the directory. tidwall/wal v1.2.1 then
// writes a START file, removes the older segments and renames the START
// file, with no directory fsync in between, so a crash may persist any
// subset of those steps, even none of the rename's two names. With the
// KEEP file durable first, finishTruncate completes the truncation from it
// at the next Open, whatever the crash kept. TruncateFront removes it once
// the new first segment is durable. wmu and syncMu are held.
func (l *Log) stageStart(lsn, last uint64) error {
	var data []byte
	if lsn <= last {
		segs, err := listSegments(l.opts.FS, l.dir)
		if err != nil {
			return err
		}
		i := findSegment(segs, lsn)
		if i < 0 {
			return fmt.Errorf("no segment holds LSN %d", lsn)
		}
		s := segs[i]
		buf, err := readFile(l.opts.FS, s.path, nil)
		if err != nil {
			return err
		}
		it := newFrameIter(s, buf)
		for it.lsn < lsn && it.next(wholeFrame) {
		}
		if it.err != nil {
			return it.err
		}
		if it.lsn < lsn {
			return &CorruptError{File: s.path, Offset: int64(it.off), LSN: it.lsn, Reason: "entry length runs past the end of the file"}
		}
		data = buf[it.off:]
	}
	// Written whole before it has its name: a KEEP file is complete.
	return vfs.WriteFileAtomic(l.opts.FS, filepath.Join(l.dir, base.SegmentName(lsn)+base.KeepSuffix), data, 0o640)
}

// TruncateFront removes the records before lsn and fsyncs the directory.
// lsn at or below FirstLSN is a no-op; lsn may be LastLSN()+1, which
// empties the log while keeping its numbering. A failure in the middle is
// fatal for the Log (tidwall marks itself corrupt); the next Open finishes
// or undoes the truncation. It must not run concurrently with Replay.
func (l *Log) TruncateFront(lsn uint64) error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	if err := l.failed(); err != nil {
		return err
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	// No fsync while tidwall replaces files: fsyncTail must not hold a
	// descriptor of a tail segment that the truncation replaces.
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	first, last := l.first.Load(), l.last.Load()
	if lsn <= first {
		return nil
	}
	if lsn > last+1 {
		return fmt.Errorf("wal: truncate front to LSN %d: past the last LSN %d", lsn, last)
	}
	if !l.opts.NoSync {
		if err := l.stageStart(lsn, last); err != nil {
			return l.fail(fmt.Errorf("wal: truncate front to LSN %d: %w", lsn, err))
		}
	}
	if err := l.tw.TruncateFront(lsn); err != nil {
		return l.fail(fmt.Errorf("wal: truncate front to LSN %d: %w", lsn, err))
	}
	l.first.Store(lsn)
	if err := l.loadTail(); err != nil {
		return l.fail(err)
	}
	// tidwall wrote the new first segment as a new file: fsync it
	// ourselves before its name is made durable.
	if !l.opts.NoSync {
		if err := vfs.SyncFile(l.opts.FS, filepath.Join(l.dir, base.SegmentName(lsn))); err != nil {
			return l.fail(fmt.Errorf("wal: truncate front to LSN %d: %w", lsn, err))
		}
	}
	// A truncation inside the tail segment replaced its file.
	l.closeSyncFD()
	l.mu.Lock()
	l.mu.tail = l.tail.start
	l.mu.Unlock()
	if !l.opts.NoSync {
		if err := l.syncDir(); err != nil {
			return l.fail(fmt.Errorf("wal: fsync directory %s: %w", l.dir, err))
		}
		// The new first segment is durable: the KEEP file has served.
		// Its removal is durable before any write reaches that segment.
		err := l.opts.FS.Remove(filepath.Join(l.dir, base.SegmentName(lsn)+base.KeepSuffix))
		if err == nil {
			err = l.syncDir()
		}
		if err != nil {
			return l.fail(fmt.Errorf("wal: truncate front to LSN %d: %w", lsn, err))
		}
	}
	return nil
}

// Close syncs what was written, stops the writer and closes the files. It
// returns the fatal error if the log had failed.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		return ErrClosed
	}
	l.closed = true
	close(l.reqs)
	l.closeMu.Unlock()
	<-l.writerDone
	err := l.syncNow()
	close(l.stop)
	<-l.syncerDone
	l.mu.Lock()
	l.mu.closed = true
	l.mu.cond.Broadcast()
	l.mu.Unlock()
	l.syncMu.Lock()
	l.closeSyncFD()
	l.syncMu.Unlock()
	if cerr := l.tw.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("wal: close: %w", cerr)
	}
	return err
}

// Replay calls fn for every record with LSN >= from, up to the LastLSN at
// the call, in order. It reads the segment files itself and validates each
// frame it delivers (CRC, version, LSN == index) and the continuity of the
// segments; damage returns an error wrapping ErrCorrupt (a *CorruptError
// naming the segment file, offset and LSN), after fn has seen only the
// valid records before it. An error from fn stops the replay and is
// returned as is. Record.Data is valid only during the callback.
//
// Replay must not run concurrently with Append or TruncateFront, and fn
// must not call them.
func (l *Log) Replay(from uint64, fn func(Record) error) error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	first, last := l.first.Load(), l.last.Load()
	if from < first {
		from = first
	}
	if from > last {
		return nil
	}
	segs, err := listSegments(l.opts.FS, l.dir)
	if err != nil {
		return err
	}
	i := findSegment(segs, from)
	if i < 0 {
		return &CorruptError{File: l.dir, Offset: -1, LSN: from,
			Reason: fmt.Sprintf("no segment holds LSN %d", from)}
	}
	var it frameIter
	var buf []byte
	lsn := segs[i].start
	for ; i < len(segs) && lsn <= last; i++ {
		s := segs[i]
		if s.start != lsn {
			return &CorruptError{File: s.path, Offset: 0, LSN: lsn,
				Reason: fmt.Sprintf("segment starts at LSN %d, want %d: a segment is missing", s.start, lsn)}
		}
		if buf, err = readFile(l.opts.FS, s.path, buf); err != nil {
			return fmt.Errorf("wal: replay: %w", err)
		}
		it.reset(s, buf)
		for it.lsn < from && it.next(lengthOnly) {
		}
		for it.lsn <= last && it.next(wholeFrame) {
			body, cerr := it.body()
			if cerr != nil {
				return cerr
			}
			if err := fn(Record{LSN: it.cur.lsn, Kind: it.cur.hdr.kind, Data: body}); err != nil {
				return err
			}
		}
		if it.err != nil {
			return it.err
		}
		lsn = it.lsn
	}
	if lsn <= last {
		return &CorruptError{File: segs[len(segs)-1].path, Offset: -1, LSN: lsn,
			Reason: fmt.Sprintf("the log ends before LSN %d, want through %d", lsn, last)}
	}
	return nil
}
