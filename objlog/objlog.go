// Package objlog is pwlog's record log kept in an object store: the same
// log as package wal (records with consecutive LSNs, group commit,
// durability, front truncation, replay), written as immutable objects,
// one per group-commit window, through a backend.Backend. It also holds
// the writer lease (lease.go) that gives each writer of a storage its
// epoch.
//
// # Objects
//
// The backend given to Open holds only the log (the storage's "wal/"
// prefix). Objects are named by a 20-digit decimal object id, which
// starts at 1 and grows by one with every object written, and ".log":
//
//	00000000000000000001.log
//	00000000000000000002.log
//
// An object is written once, by a conditional create, and never changed;
// it is whole or absent, so the log never holds a torn or partial batch.
// Every object, empty ones included, has this form (integers
// little-endian):
//
//	 0        4         5          8           16              24          28           32
//	+--------+---------+----------+-----------+---------------+-----------+------------+
//	| "PWOL" | version | reserved | epoch u64 | first LSN u64 | count u32 | header CRC |
//	|        |   = 1   | 3 x 0    |           |               |           |    u32     |
//	+--------+---------+----------+-----------+---------------+-----------+------------+
//	| count frames, back to back: LSNs first, first+1, ..., first+count-1               |
//	+-----------------------------------------------------------------------------------+
//	| trailer CRC u32                                                                   |
//	+-----------------------------------------------------------------------------------+
//
// The header CRC is CRC-32C (Castagnoli) over bytes [0,28), so a header
// read alone can be trusted; the trailer CRC is CRC-32C over everything
// before it. epoch is the writer's epoch (Options.Epoch). first is the
// LSN of the first record; an object without records (a fence) holds in
// first the LSN the next record takes, so the last object always tells
// the log's last LSN: first+count-1. A frame is wal.EncodeFrame's: a
// 20-byte header (version, kind, flags, reserved, LSN u64, body length
// u32 at [12,16), CRC-32C) and the body, snappy-compressed when that
// pays. The frames of object n+1 continue the LSNs of object n.
//
// # Fencing
//
// Ids are taken in order by conditional create, so exactly one writer
// gets each id. Open lists the objects, reads the last one (its LSNs,
// and its epoch, which must not be newer than Options.Epoch), and creates
// an empty fence object carrying its epoch at the next id. Should the id
// be taken (a writer wrote there since the list), it reads that object
// and tries the id after it. A Log writes one object at a time, at the id after its last;
// once a newer writer's fence holds that id, the older writer's Create is
// refused, it reads the object, sees the newer epoch, and fails with
// ErrFenced: fatal for that Log, which has then written nothing the new
// writer did not see at its Open. A refused Create whose object holds
// exactly the bytes we wrote is our own duplicated request (a retried
// Create that had succeeded) and counts as written.
//
// # Durability
//
// An object is durable once Create returns nil. With SyncInterval 0 an
// Append returns once the object holding its records is written;
// Appends that arrive while an object is being written are written
// together in the next object (group commit, as in package wal). With
// SyncInterval > 0 Appends are assigned LSNs and buffered at once; a
// background flusher writes the window as one object at most once per
// SyncInterval, and DurableLSN advances when it is written. One object
// write is in flight at a time, so objects stay in id and LSN order; the
// next window fills meanwhile. A failed write is fatal for the Log: it is
// never retried here (a backend.Retry wrapper below may retry transient
// errors; its duplicate is recognised, see Fencing), and nothing after
// the last durable LSN is ever reported durable.
//
// # Truncation
//
// TruncateFront deletes whole objects, oldest first, so that a crash in
// the middle leaves a contiguous suffix. The newest object is never
// deleted: it carries the numbering of ids and LSNs, which a new writer
// continues, and is what fences an older writer.
//
// # Lease
//
// The epoch comes from the writer lease (AcquireLease), kept beside the
// log in the storage's root:
//
//	writer/lease                        JSON {epoch, host, pid, process, counter, duration}, Put at every renewal
//	writer/epoch-00000000000000000003   one per epoch, created once by conditional create
//
// A writer takes the lease when there is none, when its holder is a dead
// process of this host (kill(pid, 0)), or when a holder on another host
// left it unchanged for a whole Duration; taking creates the next epoch
// object, so of two writers taking at once one is refused. The holder
// Puts the lease every Duration/3 and gives it up (Lease.Err) once it
// finds a newer epoch. The lease keeps a second writer from starting
// while the first is alive; the epochs in the log objects are what make
// a superseded writer harmless if it was only paused.
package objlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/internal/groupcommit"
	"github.com/pwlog/pwlog/wal"
)

var (
	// ErrFenced is returned (wrapped, with the object and the newer
	// writer's epoch) once a writer with a newer epoch has taken over the
	// log. It is fatal for the Log.
	ErrFenced = errors.New("objlog: fenced by a newer writer")
	// ErrClosed is returned by calls on a closed Log. It is wal.ErrClosed,
	// so that callers test one error for either log.
	ErrClosed = wal.ErrClosed
	// ErrCorrupt is wrapped by the errors for a damaged log: each is a
	// *wal.CorruptError whose File is the object name and Offset a byte
	// offset in it. It is wal.ErrCorrupt.
	ErrCorrupt = wal.ErrCorrupt
)

// Options configure a Log. The zero value is valid.
type Options struct {
	// SyncInterval is the durability window of group commit. 0: every
	// Append returns once the object holding its records is written.
	// >0: Append returns after buffering; a background flusher writes
	// one object holding every Append of the window, at most once per
	// interval (the first an interval after the Append that started the
	// window). Default 0.
	SyncInterval time.Duration
	// Epoch is the writer's epoch (Lease.Epoch), written in every object.
	// Open refuses a log whose last object has a newer epoch.
	Epoch uint64
	// Logger receives open and failure messages. Default slog.Default().
	Logger *slog.Logger
}

// maxWindow is the buffered size at which an Append with SyncInterval > 0
// writes the window itself rather than wait for the flusher: it bounds the
// memory a slow store can make us hold. A variable for tests.
var maxWindow = 16 << 20

const (
	// maxKeptBuf is the size above which a written window's buffer is
	// dropped instead of reused.
	maxKeptBuf = 8 << 20
	// maxOpenAttempts bounds how often Open moves its fence to the next id
	// after losing the race for one: a writer still appending as fast as
	// Open's two requests per id keeps it out until it stops (its lease
	// lost); a dozen seconds of a remote store.
	maxOpenAttempts = 256
	// maxCached bounds the headers a Log keeps in memory.
	maxCached = 1 << 16
)

// objInfo is the header of the object with id id.
type objInfo struct {
	id uint64
	h  objHeader
}

// Log is an open record log on a backend. Its methods are safe for
// concurrent use, except Replay, which must not run concurrently with
// Append or TruncateFront.
type Log struct {
	b      backend.Backend
	opts   Options
	ctx    context.Context // the requests' context; cancelled by Close
	cancel context.CancelFunc

	first   atomic.Uint64 // first LSN present; written with truncMu held
	last    atomic.Uint64 // last LSN assigned; written with mu held
	durable atomic.Uint64 // last LSN in a written object; written with mu held
	writes  atomic.Uint64 // objects written, for tests

	// closeMu orders Close after the calls in progress.
	closeMu sync.RWMutex
	closed  bool // guarded by closeMu

	// flushMu allows one object write at a time.
	flushMu sync.Mutex
	spare   []byte // guarded by flushMu: a written window's buffer, for reuse

	// truncMu allows one TruncateFront at a time.
	truncMu sync.Mutex

	kick        chan struct{} // wakes the flusher when a window starts
	stop        chan struct{} // stops the flusher
	flusherDone chan struct{}

	mu struct {
		sync.Mutex
		cond sync.Cond // broadcast when durable advances, on failure and on close
		// win holds headerSize reserved bytes and the frames of the
		// records not yet in a written object, LSNs winFirst on.
		win      []byte
		winFirst uint64
		winCount uint32
		nextID   uint64    // the id of the next object this Log writes
		objs     []objInfo // headers known without a read, by id
		err      error     // the fatal error; set once
		closed   bool      // Close has finished
	}
}

// Open opens the log on b (a backend holding only the log's objects),
// taking it over from any earlier writer: it reads the last object for
// the last LSN and the first for the first LSN, and writes a fence
// object with opts.Epoch at the next id (see the package doc). Should a
// concurrent writer take that id, Open reads its object and tries the
// id after it, up to 256 times. A last object of a newer epoch returns
// an error wrapping ErrFenced; a missing object between the first and
// the last, or a damaged first or last object, an error wrapping
// ErrCorrupt. When Open returns, everything up to LastLSN is durable.
// ctx bounds Open's requests; the Log's later requests run until Close.
func Open(ctx context.Context, b backend.Backend, opts *Options) (*Log, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.SyncInterval < 0 {
		return nil, fmt.Errorf("objlog: negative SyncInterval %v", o.SyncInterval)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	l := &Log{b: b, opts: o}
	l.mu.cond.L = &l.mu.Mutex
	st, err := placeFence(ctx, b, &o)
	if err != nil {
		return nil, err
	}
	l.cache(objInfo{id: st.firstID, h: st.firstH})
	l.cache(objInfo{id: st.lastID, h: st.lastH})
	l.mu.nextID = st.lastID + 1
	l.first.Store(st.firstH.first)
	l.last.Store(st.lastH.first - 1)
	l.durable.Store(st.lastH.first - 1)
	l.mu.winFirst = st.lastH.first
	l.mu.win = make([]byte, headerSize)
	l.ctx, l.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if o.SyncInterval > 0 {
		l.kick = make(chan struct{}, 1)
		l.stop = make(chan struct{})
		l.flusherDone = make(chan struct{})
		go l.flusher()
	}
	o.Logger.Debug("objlog: opened", slog.Uint64("epoch", o.Epoch),
		slog.Uint64("first_lsn", l.FirstLSN()), slog.Uint64("last_lsn", l.LastLSN()),
		slog.String("fence", ObjectName(st.lastID)))
	return l, nil
}

// placeFence lists the log, reads its first header and last object and
// creates the fence object at the next id. A name taken meanwhile holds
// the object of a writer that was faster: placeFence reads it, fails with
// ErrFenced if its epoch is newer, and otherwise moves on to the next id
// (up to maxOpenAttempts times). It returns the log's state with the
// fence as its last object.
func placeFence(ctx context.Context, b backend.Backend, o *Options) (logState, error) {
	st, err := readState(ctx, b)
	if err != nil {
		return st, err
	}
	for attempt := 1; ; attempt++ {
		if st.lastH.epoch > o.Epoch {
			return st, fencedError(ObjectName(st.lastID), st.lastH.epoch, o.Epoch)
		}
		next := st.lastH.last() + 1
		if st.lastID == 0 {
			next = 1
		}
		fh := objHeader{epoch: o.Epoch, first: next}
		fence := encodeEmpty(o.Epoch, next)
		id := st.lastID + 1
		name := ObjectName(id)
		err := b.Create(ctx, name, fence)
		if err == nil {
			st.push(id, fh)
			return st, nil
		}
		if !errors.Is(err, backend.ErrExist) {
			return st, fmt.Errorf("objlog: open: write the fence object %s: %w", name, err)
		}
		got, err := b.Get(ctx, name)
		if err != nil {
			return st, fmt.Errorf("objlog: open: the fence object's name %s is taken, and reading it failed: %w", name, err)
		}
		if bytes.Equal(got, fence) { // our own request, duplicated
			st.push(id, fh)
			return st, nil
		}
		h, cerr := checkObject(name, got)
		if cerr != nil {
			return st, cerr
		}
		if h.first != next {
			return st, corruptf(name, 0, next, "object starts at LSN %d, want %d", h.first, next)
		}
		st.push(id, h)
		if h.epoch > o.Epoch {
			continue // fails above
		}
		if attempt == maxOpenAttempts {
			return st, fmt.Errorf("objlog: open: another writer (epoch %d) took the next object id %d times in a row; is it still running?", h.epoch, attempt)
		}
		o.Logger.Debug("objlog: open: another writer took the next object id; trying the one after",
			slog.String("object", name), slog.Uint64("epoch", h.epoch), slog.Int("attempt", attempt))
	}
}

// push makes object id with header h the last of st.
func (st *logState) push(id uint64, h objHeader) {
	if st.lastID == 0 {
		st.firstID, st.firstH = id, h
	}
	st.lastID, st.lastH = id, h
}

// logState is what Open learns from the listing and the first and last
// objects.
type logState struct {
	firstID, lastID uint64 // 0, 0 for a log without objects
	firstH, lastH   objHeader
}

// readState lists the log and reads its first header and its whole last
// object. An object deleted after the listing (a truncation at the front
// by an earlier writer) makes it list again, a few times.
func readState(ctx context.Context, b backend.Backend) (logState, error) {
	for try := 1; ; try++ {
		st, err := readState1(ctx, b)
		if try < 4 && errors.Is(err, backend.ErrNotExist) {
			continue
		}
		return st, err
	}
}

// readState1 is one attempt of readState.
func readState1(ctx context.Context, b backend.Backend) (logState, error) {
	var st logState
	ids, err := listIDs(ctx, b)
	if err != nil {
		return st, fmt.Errorf("objlog: open: %w", err)
	}
	if len(ids) == 0 {
		st.firstH.first = 1
		return st, nil
	}
	if err := checkIDs(ids); err != nil {
		return st, err
	}
	st.firstID, st.lastID = ids[0], ids[len(ids)-1]
	name := ObjectName(st.lastID)
	data, err := b.Get(ctx, name)
	if err != nil {
		return st, fmt.Errorf("objlog: open: read the last object: %w", err)
	}
	h, cerr := checkObject(name, data)
	if cerr != nil {
		return st, cerr
	}
	st.lastH = h
	if st.firstID == st.lastID {
		st.firstH = h
		return st, nil
	}
	if st.firstH, err = readHeader(ctx, b, st.firstID); err != nil {
		return st, fmt.Errorf("objlog: open: %w", err)
	}
	if st.firstH.first > st.lastH.first {
		return st, corruptf(name, 0, st.lastH.first, "object starts at LSN %d, before the first object's LSN %d", st.lastH.first, st.firstH.first)
	}
	return st, nil
}

// listIDs returns the ids of the log objects of b, ascending; other names
// are ignored.
func listIDs(ctx context.Context, b backend.Backend) ([]uint64, error) {
	names, err := b.List(ctx, "")
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, 0, len(names))
	for _, name := range names {
		if id, ok := ParseObjectName(name); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids) // names sort as ids already; cheap insurance
	return ids, nil
}

// checkIDs reports the first id missing between ids' first and last.
func checkIDs(ids []uint64) error {
	for i := 1; i < len(ids); i++ {
		if ids[i] != ids[i-1]+1 {
			return corruptf(ObjectName(ids[i]), 0, 0, "object %s is missing", ObjectName(ids[i-1]+1))
		}
	}
	return nil
}

// readHeader reads and checks the header of object id alone.
func readHeader(ctx context.Context, b backend.Backend, id uint64) (objHeader, error) {
	name := ObjectName(id)
	obj, err := b.Open(ctx, name)
	if err != nil {
		return objHeader{}, err
	}
	defer obj.Close()
	var buf [headerSize]byte
	n, err := obj.ReadAt(buf[:], 0)
	if n < headerSize && err != nil && !errors.Is(err, io.EOF) {
		return objHeader{}, err
	}
	h, cerr := parseHeader(name, buf[:n])
	if cerr != nil {
		return h, cerr
	}
	return h, nil
}

// fencedError is the error of a writer of epoch ours that found object
// name written by epoch newer.
func fencedError(name string, newer, ours uint64) error {
	return fmt.Errorf("objlog: object %s was written by epoch %d, a newer writer than ours (epoch %d): %w",
		name, newer, ours, ErrFenced)
}

// resolveExist explains a Create of data under name that was refused:
// nil when the object holds data (our own duplicated request), an error
// wrapping ErrFenced when a newer epoch wrote it, another error
// otherwise.
func resolveExist(ctx context.Context, b backend.Backend, name string, data []byte, epoch uint64) error {
	got, err := b.Get(ctx, name)
	if err != nil {
		return fmt.Errorf("the name is taken, and reading the object failed: %w", err)
	}
	if bytes.Equal(got, data) {
		return nil
	}
	h, cerr := parseHeader(name, got)
	if cerr != nil {
		return fmt.Errorf("the name is taken by a damaged object: %w", cerr)
	}
	if h.epoch > epoch {
		return fencedError(name, h.epoch, epoch)
	}
	return fmt.Errorf("the name is taken by another object of epoch %d (ours is %d): another writer of the same or an older epoch writes this log", h.epoch, epoch)
}

// FirstLSN returns the first LSN present, LastLSN()+1 when the log holds
// no record.
func (l *Log) FirstLSN() uint64 { return l.first.Load() }

// LastLSN returns the last LSN assigned, 0 when the log never held a
// record. With SyncInterval > 0 it may be ahead of DurableLSN.
func (l *Log) LastLSN() uint64 { return l.last.Load() }

// DurableLSN returns the last LSN in a written object: records up to it
// survive any crash of this process.
func (l *Log) DurableLSN() uint64 { return l.durable.Load() }

// Epoch returns the epoch the Log writes in its objects.
func (l *Log) Epoch() uint64 { return l.opts.Epoch }

// Append frames recs with consecutive LSNs; it sets recs[i].LSN and
// returns the last LSN. A batch should end with a KindCommit record. The
// Log does not keep recs or their Data after Append returns.
//
// With SyncInterval 0 Append returns once the object holding its records
// is written; concurrent Appends are written together (group commit),
// and the records of one Append stay contiguous in one object. With
// SyncInterval > 0 Append returns once the records are buffered (see
// WaitDurable), unless the buffer exceeds 16 MiB: then it writes the
// window itself.
//
// A write error is fatal: that Append and every later one return it
// (wrapping ErrFenced when a newer writer took over). A body longer than
// wal.MaxRecordSize is refused without harm. An empty recs returns
// LastLSN().
func (l *Log) Append(recs []wal.Record) (uint64, error) {
	for i, r := range recs {
		if len(r.Data) > wal.MaxRecordSize {
			return 0, fmt.Errorf("objlog: append: record %d has %d bytes, more than wal.MaxRecordSize", i, len(r.Data))
		}
	}
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return 0, ErrClosed
	}
	l.mu.Lock()
	if err := l.mu.err; err != nil {
		l.mu.Unlock()
		return 0, err
	}
	if len(recs) == 0 {
		l.mu.Unlock()
		return l.LastLSN(), nil
	}
	start := l.mu.winCount == 0
	first := l.last.Load() + 1
	for i, r := range recs {
		l.mu.win = wal.EncodeFrame(l.mu.win, first+uint64(i), r.Kind, r.Data)
	}
	l.mu.winCount += uint32(len(recs))
	last := first + uint64(len(recs)) - 1
	l.last.Store(last)
	full := len(l.mu.win) >= maxWindow
	l.mu.Unlock()
	if l.opts.SyncInterval == 0 || full {
		if err := l.flushUpTo(last); err != nil {
			return 0, err
		}
	} else if start {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	for i := range recs {
		recs[i].LSN = first + uint64(i)
	}
	return last, nil
}

// Sync writes what is buffered and returns once DurableLSN() ==
// LastLSN() as of the call.
func (l *Log) Sync() error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	return l.flushUpTo(l.last.Load())
}

// WaitDurable blocks until DurableLSN() >= lsn. It returns the fatal
// error if the log failed first, and ErrClosed if the log was closed
// first. With SyncInterval 0 every Append is durable when it returns.
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

// failed returns the fatal error, nil while the log is healthy.
func (l *Log) failed() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.err
}

// fail records err as the fatal error unless one is recorded already,
// wakes the waiters and returns the recorded error.
func (l *Log) fail(err error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failLocked(err)
}

// failLocked is fail with mu held.
func (l *Log) failLocked(err error) error {
	if l.mu.err == nil {
		l.mu.err = err
		l.opts.Logger.Error("objlog: log failed; refusing further writes",
			slog.Uint64("epoch", l.opts.Epoch), slog.Uint64("durable_lsn", l.durable.Load()),
			slog.String("error", err.Error()))
	}
	l.mu.cond.Broadcast()
	return l.mu.err
}

// flushUpTo writes the window unless DurableLSN is at least target
// already; it returns the fatal error if the log has failed.
func (l *Log) flushUpTo(target uint64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if err := l.failed(); err != nil {
		return err
	}
	if l.durable.Load() >= target {
		return nil
	}
	// With flushMu held no other write is in flight, so the window holds
	// every record after DurableLSN, target's included.
	return l.flushLocked()
}

// flushLocked writes the window as the next object. flushMu is held.
func (l *Log) flushLocked() error {
	l.mu.Lock()
	if err := l.mu.err; err != nil {
		l.mu.Unlock()
		return err
	}
	if l.mu.winCount == 0 {
		l.mu.Unlock()
		return nil
	}
	buf := l.mu.win
	h := objHeader{epoch: l.opts.Epoch, first: l.mu.winFirst, count: l.mu.winCount}
	id := l.mu.nextID
	var reserved [headerSize]byte
	l.mu.win = append(l.spare[:0], reserved[:]...)
	l.spare = nil
	l.mu.winFirst = h.last() + 1
	l.mu.winCount = 0
	l.mu.Unlock()

	data := sealObject(buf, h)
	err := l.writeObject(id, data, h)

	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		return l.failLocked(err)
	}
	l.writes.Add(1)
	l.mu.nextID = id + 1
	l.durable.Store(h.last())
	l.cacheLocked(objInfo{id: id, h: h})
	l.mu.cond.Broadcast()
	if cap(data) <= maxKeptBuf {
		l.spare = data[:0]
	}
	return l.mu.err
}

// writeObject creates object id holding data, whose header is h.
func (l *Log) writeObject(id uint64, data []byte, h objHeader) error {
	name := ObjectName(id)
	err := l.b.Create(l.ctx, name, data)
	if errors.Is(err, backend.ErrExist) {
		err = resolveExist(l.ctx, l.b, name, data, l.opts.Epoch)
		if err == nil {
			l.opts.Logger.Debug("objlog: object written by an earlier attempt of the same request", slog.String("object", name))
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("objlog: write %s (LSNs %d..%d): %w", name, h.first, h.last(), err)
	}
	return nil
}

// flusher writes the window of SyncInterval > 0: an interval after an
// Append starts a window, it writes it.
func (l *Log) flusher() {
	defer close(l.flusherDone)
	groupcommit.Window(l.opts.SyncInterval, l.kick, l.stop, func() error { return l.flushUpTo(l.last.Load()) })
}

// cache records the header of an object.
func (l *Log) cache(o objInfo) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cacheLocked(o)
}

// cacheLocked is cache with mu held. Headers are added in id order.
func (l *Log) cacheLocked(o objInfo) {
	if n := len(l.mu.objs); n > 0 && l.mu.objs[n-1].id >= o.id {
		return
	}
	if len(l.mu.objs) >= maxCached {
		l.mu.objs = slices.Delete(l.mu.objs, 0, maxCached/2)
	}
	l.mu.objs = append(l.mu.objs, o)
}

// cached returns the known header of object id.
func (l *Log) cached(id uint64) (objHeader, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i, ok := slices.BinarySearchFunc(l.mu.objs, id, func(o objInfo, id uint64) int {
		switch {
		case o.id < id:
			return -1
		case o.id > id:
			return 1
		}
		return 0
	})
	if !ok {
		return objHeader{}, false
	}
	return l.mu.objs[i].h, true
}

// uncache forgets the headers of objects up to id.
func (l *Log) uncache(id uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	i := 0
	for i < len(l.mu.objs) && l.mu.objs[i].id <= id {
		i++
	}
	l.mu.objs = slices.Delete(l.mu.objs, 0, i)
}

// header returns the header of object id, from memory or read.
func (l *Log) header(ctx context.Context, id uint64) (objHeader, error) {
	if h, ok := l.cached(id); ok {
		return h, nil
	}
	return readHeader(ctx, l.b, id)
}

// CheckFenced lists the objects after the last one this Log wrote and
// returns an error wrapping ErrFenced (fatal for the Log, as a refused
// write would be) if one was written by a newer epoch. It returns the
// fatal error if the Log failed already, and a listing or read error as
// is. It lets a writer with nothing to append learn that it was
// superseded.
func (l *Log) CheckFenced(ctx context.Context) error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	if err := l.failed(); err != nil {
		return err
	}
	ids, err := listIDs(ctx, l.b)
	if err != nil {
		return fmt.Errorf("objlog: check fenced: %w", err)
	}
	return l.checkBeyond(ctx, ids)
}

// checkBeyond reads the headers of the listed objects after the last one
// this Log wrote (one may be its own write in flight) and fails the Log
// with ErrFenced if one has a newer epoch.
func (l *Log) checkBeyond(ctx context.Context, ids []uint64) error {
	l.mu.Lock()
	next := l.mu.nextID
	l.mu.Unlock()
	for _, id := range ids {
		if id < next {
			continue
		}
		h, err := readHeader(ctx, l.b, id)
		if errors.Is(err, backend.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("objlog: check fenced: %w", err)
		}
		if h.epoch > l.opts.Epoch {
			return l.fail(fencedError(ObjectName(id), h.epoch, l.opts.Epoch))
		}
	}
	return nil
}

// TruncateFront deletes the objects whose records all lie before lsn,
// and empty objects before them, oldest first; the newest object is
// always kept (see the package doc). Afterwards FirstLSN is the first
// record kept, which may lie before lsn: records share objects. lsn at or
// below FirstLSN is a no-op; lsn may be LastLSN()+1. A failed request
// returns its error and leaves a contiguous suffix of the log; it is not
// fatal. Objects of a newer writer after ours fail the Log with
// ErrFenced before anything is deleted. It must not run concurrently with
// Replay.
func (l *Log) TruncateFront(lsn uint64) error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	if err := l.failed(); err != nil {
		return err
	}
	l.truncMu.Lock()
	defer l.truncMu.Unlock()
	first, last := l.first.Load(), l.last.Load()
	// lsn == first still deletes the empty objects (fences) in front of
	// the first record, but the newest.
	if lsn < first {
		return nil
	}
	if lsn > last+1 {
		return fmt.Errorf("objlog: truncate front to LSN %d: past the last LSN %d", lsn, last)
	}
	ids, err := listIDs(l.ctx, l.b)
	if err != nil {
		return fmt.Errorf("objlog: truncate front to LSN %d: %w", lsn, err)
	}
	if err := l.checkBeyond(l.ctx, ids); err != nil {
		return err
	}
	if err := checkIDs(ids); err != nil {
		return err
	}
	for _, id := range ids[:max(len(ids)-1, 0)] {
		h, err := l.header(l.ctx, id)
		if err != nil {
			return fmt.Errorf("objlog: truncate front to LSN %d: %w", lsn, err)
		}
		if h.last() >= lsn || h.first > lsn {
			break
		}
		if err := l.b.Delete(l.ctx, ObjectName(id)); err != nil {
			return fmt.Errorf("objlog: truncate front to LSN %d: %w", lsn, err)
		}
		l.uncache(id)
		l.first.Store(max(l.first.Load(), h.last()+1))
	}
	return nil
}

// Close writes what is buffered, stops the flusher and ends the Log's
// requests. It returns the fatal error if the log had failed.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if l.closed {
		l.closeMu.Unlock()
		return ErrClosed
	}
	l.closed = true
	l.closeMu.Unlock()
	err := l.flushUpTo(l.last.Load())
	if l.stop != nil {
		close(l.stop)
		<-l.flusherDone
	}
	l.mu.Lock()
	l.mu.closed = true
	l.mu.cond.Broadcast()
	if l.mu.err != nil {
		err = l.mu.err
	}
	l.mu.Unlock()
	l.cancel()
	return err
}

// Replay calls fn for every record with LSN >= from, up to DurableLSN at
// the call, in order. It lists the objects and reads them in id order
// (skipping, without reading, objects this Log knows to end before from),
// and checks each object it reads whole (header, trailer CRC, every
// frame's CRC and LSN) before fn sees its records, and the continuity of
// ids and LSNs across objects. Damage returns a *wal.CorruptError
// (wrapping ErrCorrupt) naming the object, the byte offset in it and the
// LSN, after fn has seen only the records before the damaged object. An
// error from fn stops the replay and is returned as is. Record.Data is
// valid only during the callback.
//
// Replay must not run concurrently with Append or TruncateFront, and fn
// must not call them.
func (l *Log) Replay(from uint64, fn func(wal.Record) error) error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	first, durable := l.first.Load(), l.durable.Load()
	from = max(from, first)
	if from > durable {
		return nil
	}
	ids, err := listIDs(l.ctx, l.b)
	if err != nil {
		return fmt.Errorf("objlog: replay: %w", err)
	}
	var next uint64 // the first LSN of the next object; 0 before the first
	var prev uint64 // the id of the object before
	for _, id := range ids {
		if next > durable {
			break
		}
		name := ObjectName(id)
		if prev != 0 && id != prev+1 {
			return corruptf(name, 0, next, "object %s is missing", ObjectName(prev+1))
		}
		prev = id
		h, known := l.cached(id)
		var data []byte
		if !known || h.last() >= from {
			if data, err = l.b.Get(l.ctx, name); err != nil {
				return fmt.Errorf("objlog: replay: %w", err)
			}
			var cerr *wal.CorruptError
			if h, cerr = parseHeader(name, data); cerr == nil {
				if cerr = checkTrailer(name, data, h); cerr != nil {
					_, cerr = checkObject(name, data) // for the frame at fault
				}
			}
			if cerr != nil {
				return cerr
			}
		}
		switch {
		case next == 0 && h.first > from:
			return corruptf(name, 0, from, "the first object starts at LSN %d, after LSN %d", h.first, from)
		case next != 0 && h.first != next:
			return corruptf(name, 0, next, "object starts at LSN %d, want %d", h.first, next)
		}
		next = h.last() + 1
		if data == nil {
			continue
		}
		it := newFrameIter(name, data, h)
		for it.next() {
			if it.rec.LSN < from {
				continue
			}
			if it.rec.LSN > durable {
				break
			}
			if err := fn(it.rec); err != nil {
				return err
			}
		}
		if it.err != nil {
			return it.err
		}
	}
	if next <= durable {
		name := ""
		if prev != 0 {
			name = ObjectName(prev)
		}
		return corruptf(name, -1, next, "the log ends before LSN %d, want through %d", next, durable)
	}
	return nil
}
