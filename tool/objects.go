package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/objlog"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/wal"
)

// A storage kept in an object store holds, under its root (a bucket's
// prefix):
//
//	PWLOG                               the format marker, as in a directory
//	wal/00000000000000000001.log        the log's objects (package objlog)
//	writer/lease, writer/epoch-...      the writer's lease (objlog.AcquireLease)
//	checkpoints/MANIFEST-..., runs/...  the checkpoint, as in a directory
//
// The tools read it as they read a directory: the log's objects play the
// part of the segments, and objects are named by URL in what they report.

// objectURL names the object name (relative to the storage's root) of the
// storage dir: "s3://bucket/prefix/checkpoints/runs/....run".
func objectURL(dir, name string) string {
	return strings.TrimSuffix(dir, "/") + "/" + name
}

// checkMarkerObject returns the format of the storage in an object store
// whose root is b, as storage.Check does for a directory, and the names
// of all its objects. It fails, wrapping ErrFormat, when b holds no
// pwlog storage this build reads: with a *MarkerError when its marker is
// damaged, or missing while a log or checkpoint is there.
func checkMarkerObject(ctx context.Context, b backend.Backend, dir string) (int, []string, error) {
	names, err := b.List(ctx, "")
	if err != nil {
		return 0, nil, fmt.Errorf("pwlog: list %s: %w", dir, err)
	}
	format, err := storage.ReadMarkerObject(ctx, b, dir)
	if errors.Is(err, backend.ErrNotExist) {
		for _, n := range names {
			if strings.HasPrefix(n, base.LogDir+"/") || strings.HasPrefix(n, base.CheckpointDir+"/") {
				return 0, names, &MarkerError{Dir: dir, Missing: true}
			}
		}
		return 0, names, fmt.Errorf("%w: %s is not a pwlog storage: it has no %s marker", ErrFormat, dir, base.Marker)
	}
	return format, names, err
}

// checkObjects is checkMarkerObject for the view, which keeps the names
// listed and the marker's size.
func (v *view) checkObjects() (int, error) {
	format, names, err := checkMarkerObject(v.ctx, v.b, v.dir)
	v.objects, v.sizes = names, map[string]int64{}
	if err == nil {
		// A marker that parses holds exactly this text.
		v.sizes[base.Marker] = int64(len(fmt.Sprintf("pwlog storage format %d\n", format)))
	}
	return format, err
}

// scanObjects is scanLog for a storage in an object store: objlog.Scan,
// reported as wal.Scan reports a directory's log. Each object is a
// segment, named by URL; damage is placed in its object. An object is
// written whole and holds whole batches, so every record is committed
// (the engine replays them all): records after the last commit are
// damage, which a pipeline refuses.
func (v *view) scanObjects(progress func(done, total int64), fn func(wal.Entry) error) (wal.Info, error) {
	var before map[string]int64 // bytes of the log's objects before each
	var total int64
	if progress != nil {
		sizes := v.logObjectSizes()
		before = map[string]int64{}
		for _, n := range slices.Sorted(maps.Keys(sizes)) {
			before[n] = total
			total += sizes[n]
		}
		progress(0, total)
	}
	url := func(object string) string { return objectURL(v.dir, base.LogDir+"/"+object) }
	var lastCommit uint64
	var pending int                   // records after the last commit
	var firstPending wal.CorruptError // the place of the first of them
	info, err := objlog.Scan(v.ctx, backend.Sub(v.b, base.LogDir), func(e objlog.Entry) error {
		if e.Kind == record.KindCommit {
			lastCommit, pending = e.LSN, 0
		} else {
			if pending == 0 {
				firstPending = wal.CorruptError{File: url(e.Object), Offset: e.Offset, LSN: e.LSN}
			}
			pending++
		}
		if progress != nil {
			progress(min(before[e.Object]+e.Offset+int64(e.Size), total), total)
		}
		return fn(wal.Entry{Record: e.Record, File: url(e.Object), Offset: e.Offset, Size: e.Size, Committed: true})
	})
	out := wal.Info{Dir: v.logPath(), FirstLSN: info.FirstLSN, LastLSN: info.LastLSN, LastCommitLSN: lastCommit, Bytes: info.Bytes,
		Segments: []wal.SegmentInfo{}}
	for _, o := range info.Objects {
		out.Segments = append(out.Segments, wal.SegmentInfo{Path: url(o.Name), FirstLSN: o.FirstLSN, LastLSN: o.LastLSN, Bytes: o.Bytes})
	}
	for _, p := range info.Problems {
		q := *p
		if q.File != "" {
			q.File = url(q.File)
		}
		out.Problems = append(out.Problems, &q)
	}
	if err == nil && pending > 0 && len(out.Problems) == 0 {
		firstPending.Reason = fmt.Sprintf("%d records after the last commit (LSN %d): the log of an object store holds whole batches only, and a pipeline refuses it",
			pending, lastCommit)
		out.Problems = append(out.Problems, &firstPending)
	}
	return out, err
}

// logObjectSizes returns the sizes of the log's objects as listed when
// the view was opened, by name relative to the log.
func (v *view) logObjectSizes() map[string]int64 {
	if v.logSizes == nil {
		v.logSizes = map[string]int64{}
		var names []string
		for _, n := range v.objects {
			if strings.HasPrefix(n, base.LogDir+"/") {
				names = append(names, n)
			}
		}
		sizes := objectSizes(v.ctx, v.b, names, nil)
		for n, sz := range sizes {
			v.logSizes[strings.TrimPrefix(n, base.LogDir+"/")] = sz
		}
	}
	return v.logSizes
}

// objectBytes returns the bytes of the objects names of b, as storage.Bytes
// counts a directory's: the lease is left out, as a directory's lock file
// is (it names its holder, it holds no data). known gives the sizes
// already known; the others are asked for. An object that cannot be sized
// (deleted since it was listed) counts nothing.
func objectBytes(ctx context.Context, b backend.Backend, names []string, known map[string]int64) int64 {
	var n int64
	for _, sz := range objectSizes(ctx, b, names, known) {
		n += sz
	}
	return n
}

// objectSizes returns the sizes of the objects names of b but the lease,
// from known or asked for, a few requests at a time.
func objectSizes(ctx context.Context, b backend.Backend, names []string, known map[string]int64) map[string]int64 {
	out := map[string]int64{}
	var ask []string
	for _, n := range names {
		if n == objlog.LeaseName {
			continue
		}
		if sz, ok := known[n]; ok {
			out[n] = sz
		} else {
			ask = append(ask, n)
		}
	}
	const parallel = 8
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for _, n := range ask {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if sz, err := b.Size(ctx, n); err == nil {
				mu.Lock()
				out[n] = sz
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// listBytes lists b and returns the bytes of its objects (objectBytes).
func listBytes(ctx context.Context, b backend.Backend, known map[string]int64) int64 {
	names, err := b.List(ctx, "")
	if err != nil {
		return 0
	}
	return objectBytes(ctx, b, names, known)
}

// probeLease tells whether a writer holds the lease of the storage in an
// object store whose root is b, without taking it: the lease object is
// there while a writer holds it, and deleted when it lets it go (a writer
// that died leaves it, until the next one takes it over).
func probeLease(ctx context.Context, b backend.Backend) storage.LockInfo {
	data, err := b.Get(ctx, objlog.LeaseName)
	switch {
	case errors.Is(err, backend.ErrNotExist):
		return storage.LockInfo{}
	case err != nil:
		return storage.LockInfo{Unknown: err.Error()}
	}
	var l struct {
		Epoch uint64 `json:"epoch"`
		Host  string `json:"host"`
		PID   int    `json:"pid"`
	}
	if err := json.Unmarshal(data, &l); err != nil {
		return storage.LockInfo{Held: true, Holder: fmt.Sprintf("a writer whose lease %s does not decode (%v)", objlog.LeaseName, err)}
	}
	return storage.LockInfo{Held: true, Holder: fmt.Sprintf("host %s pid %d epoch %d", l.Host, l.PID, l.Epoch)}
}
