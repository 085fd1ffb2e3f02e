package objlog

import (
	"context"
	"errors"
	"fmt"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/wal"
)

// ObjectInfo describes one log object as Scan found it.
type ObjectInfo struct {
	Name  string `json:"name"`
	ID    uint64 `json:"id"`
	Epoch uint64 `json:"epoch"` // of the writer; 0 when the header is damaged
	// FirstLSN is the header's first LSN: of the first record, or for an
	// object without records the LSN the next record takes.
	FirstLSN uint64 `json:"first_lsn"`
	// LastLSN is the LSN of the last valid record, FirstLSN-1 when there
	// is none.
	LastLSN uint64 `json:"last_lsn"`
	Bytes   int64  `json:"bytes"`
	Records int    `json:"records"` // valid records
	// Damaged reports a problem inside the object (see Info.Problems).
	Damaged bool `json:"damaged"`
}

// Info describes a log as Scan found it, without changing it. When
// Problems is not empty, Open or Replay refuse the log (at the first
// problem); the other fields describe what Scan could read.
type Info struct {
	Objects []ObjectInfo // in id order
	// FirstLSN is the first object's first LSN; LastLSN+1 when the log
	// holds no record (1 for a log without objects).
	FirstLSN uint64 `json:"first_lsn"`
	// LastLSN is the last LSN the last object's header gives, 0 for a log
	// without objects.
	LastLSN uint64 `json:"last_lsn"`
	Records int64  `json:"records"` // valid records
	Bytes   int64  `json:"bytes"`   // of all objects
	Epoch   uint64 `json:"epoch"`   // the newest epoch of an object
	// Problems are the damages (a bad header, frame or trailer CRC) and
	// gaps (a missing object id, a break in the LSNs), in object order,
	// each naming the object, a byte offset in it (-1 when none) and the
	// LSN expected there. Scan reports at most one damage per object and
	// goes on with the next, so independent problems are all reported.
	Problems []*wal.CorruptError
}

// Entry is a valid record with its place in the log.
type Entry struct {
	wal.Record        // LSN, Kind and Data (uncompressed, valid only during the callback)
	Object     string // name of the object holding the record
	Epoch      uint64 // the epoch of the writer of the object
	Offset     int64  // byte offset of the record's frame in the object
	Size       int    // bytes of the frame
}

// Scan reads every log object of b (a backend holding the log, as given
// to Open) in id order without changing anything, and calls fn, when not
// nil, for every valid record with its object. Damage and gaps are
// collected in Info.Problems rather than returned. An error from fn stops
// the scan and is returned as is; so is a failed List or Get (an object
// deleted after the List, by a truncation at the front, is skipped).
func Scan(ctx context.Context, b backend.Backend, fn func(Entry) error) (Info, error) {
	info := Info{FirstLSN: 1}
	ids, err := listIDs(ctx, b)
	if err != nil {
		return info, fmt.Errorf("objlog: scan: %w", err)
	}
	var prev uint64 // id of the object before; 0 before the first
	var next uint64 // LSN the next object should start at; 0 when unknown
	headers := 0    // objects with a valid header so far
	for _, id := range ids {
		name := ObjectName(id)
		data, err := b.Get(ctx, name)
		if errors.Is(err, backend.ErrNotExist) && len(info.Objects) == 0 {
			continue
		}
		if err != nil {
			return info, fmt.Errorf("objlog: scan: %w", err)
		}
		if prev != 0 && id != prev+1 {
			info.Problems = append(info.Problems, corruptf(name, -1, next, "object %s is missing", ObjectName(prev+1)))
			next = 0 // the LSNs it held are unknown
		}
		prev = id
		oi := ObjectInfo{Name: name, ID: id, Bytes: int64(len(data))}
		info.Bytes += oi.Bytes
		h, cerr := parseHeader(name, data)
		if cerr != nil {
			oi.Damaged = true
			info.Problems = append(info.Problems, cerr)
			info.Objects = append(info.Objects, oi)
			next = 0
			continue
		}
		oi.Epoch, oi.FirstLSN, oi.LastLSN = h.epoch, h.first, h.first-1
		info.Epoch = max(info.Epoch, h.epoch)
		if headers == 0 {
			info.FirstLSN = h.first
		}
		headers++
		if next != 0 && h.first != next {
			info.Problems = append(info.Problems, corruptf(name, 0, next, "object starts at LSN %d, want %d", h.first, next))
		}
		next = h.last() + 1
		info.LastLSN = h.last()
		it := newFrameIter(name, data, h)
		for it.next() {
			oi.Records++
			oi.LastLSN = it.rec.LSN
			if fn != nil {
				if err := fn(Entry{Record: it.rec, Object: name, Epoch: h.epoch, Offset: int64(it.pos), Size: it.n}); err != nil {
					info.Records += int64(oi.Records)
					info.Objects = append(info.Objects, oi)
					return info, err
				}
			}
		}
		info.Records += int64(oi.Records)
		if it.err == nil {
			it.err = checkTrailer(name, data, h)
		}
		if it.err != nil {
			oi.Damaged = true
			info.Problems = append(info.Problems, it.err)
		}
		info.Objects = append(info.Objects, oi)
	}
	return info, nil
}
