package wal

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/vfs"
)

// ScanOptions configure Scan. The zero value is valid.
type ScanOptions struct {
	// FS is the filesystem Scan reads through. Default vfs.Default.
	FS vfs.FS
	// Progress, when set, is called with the bytes of segment files
	// processed so far and their total: after each segment, the last call
	// with done == total (once with 0, 0 for a log without segments).
	Progress func(done, total int64)
}

// SegmentInfo describes one segment file.
type SegmentInfo struct {
	// Path is the file that holds the segment's content: its segment
	// file, or the .START, .END or .KEEP file that Open would rename to
	// it to finish an interrupted truncation.
	Path     string `json:"file"`
	FirstLSN uint64 `json:"first_lsn"` // from the segment name
	LastLSN  uint64 `json:"last_lsn"`  // of the last valid frame in it; FirstLSN-1 when it holds none
	Bytes    int64  `json:"bytes"`     // size of Path
}

// Info describes a log as Scan found it, without changing it. When
// Problems is not empty Open refuses the log (or Replay stops at the
// first problem); LastCommitLSN, TailBytes and Entry.Committed then
// describe the valid frames Scan found.
type Info struct {
	Dir string // absolute path of the log directory
	// Segments are in LSN order, as Open would see them after finishing
	// an interrupted truncation.
	Segments []SegmentInfo
	// FirstLSN is the first LSN present; LastLSN+1 when the log is empty
	// (1 for a new log).
	FirstLSN uint64
	// LastLSN is the LSN of the last valid frame, which may be after the
	// last commit: the last frame before the damage or the end of the
	// last segment.
	LastLSN uint64
	// LastCommitLSN is the LSN of the last valid commit frame, where Open
	// cuts the log; 0 when there is none.
	LastCommitLSN uint64
	Bytes         int64 // bytes of all segments
	// TailBytes are the bytes after the last commit frame that Open would
	// cut: uncommitted frames and a torn tail.
	TailBytes int64
	// TailDamage says where and why the last segment is torn (repair's
	// reason); "" when the tail holds only uncommitted frames or nothing.
	TailDamage string
	// Interrupted are the paths of an interrupted truncation's files
	// (.KEEP, .START, .END) that Open would complete by renaming them to
	// segments (see SegmentInfo.Path). Open also removes the segments
	// they replace (those of the directory not in Segments) and .TEMP
	// and .KEEP.tmp files, which are not listed.
	Interrupted []string
	// Broken are the paths of the .broken copies earlier repairs left.
	Broken []string
	// Problems are the damages that are not a torn tail, in file order,
	// each with the file, offset and LSN: what Open (or Replay) refuses.
	// Scan reports at most one per segment and resumes at the next
	// segment, so independent damages are all reported.
	Problems []*CorruptError
}

// Entry is a record with its place in the files.
type Entry struct {
	Record        // LSN, Kind and Data (uncompressed, valid only during the callback)
	File   string // path of the file holding the entry (SegmentInfo.Path)
	Offset int64  // offset of the tidwall entry in File
	Size   int    // bytes of the entry in File: uvarint length and frame
	// Committed reports LSN <= Info.LastCommitLSN: Open keeps the record.
	Committed bool
}

// Scan reads the log in dir without changing anything: it writes,
// renames, removes and creates nothing, not even dir (a missing dir is an
// error wrapping fs.ErrNotExist). It sees the segments Open would see once
// it had finished an interrupted truncation, and checks every frame (CRC,
// version, LSN, snappy body) and the continuity of the segments.
//
// Damage in the last segment that Open would cut as a torn tail is
// reported in Info.TailDamage; any other damage is a problem
// (Info.Problems), after which Scan resumes at the next segment. fn, when
// not nil, receives every valid frame in LSN order, with Committed already
// known, up to the first damage in each segment. Scan reads every segment
// once and checks every frame once; it keeps the segments from the last
// back to the one holding the last commit (usually only the last) in
// memory until it delivers them.
//
// The error is an I/O error, or fn's error as is; damage is never an
// error. On error Info is incomplete. Scan reads the files as they are: on
// a log an open Log appends to, it sees the tail as it was when read; a
// truncation under it can fail it.
func Scan(dir string, opts *ScanOptions, fn func(Entry) error) (Info, error) {
	var o ScanOptions
	if opts != nil {
		o = *opts
	}
	if o.FS == nil {
		o.FS = vfs.Default
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Info{Dir: dir}, fmt.Errorf("wal: scan %s: %w", dir, err)
	}
	dir = abs
	info := Info{Dir: dir}
	des, err := o.FS.ReadDir(dir)
	if err != nil {
		return info, fmt.Errorf("wal: scan %s: %w", dir, err)
	}
	plan, perr := planTruncate(dir, des)
	if perr != nil {
		info.Problems = append(info.Problems, perr)
	}
	for _, name := range plan.renamed() {
		info.Interrupted = append(info.Interrupted, filepath.Join(dir, name))
	}
	for _, de := range des {
		name := de.Name()
		if !de.IsDir() && strings.HasSuffix(name, base.BrokenSuffix) {
			if _, ok := base.ParseSegmentName(strings.TrimSuffix(name, base.BrokenSuffix)); ok {
				info.Broken = append(info.Broken, filepath.Join(dir, name))
			}
		}
	}
	segs := plan.segs
	n := len(segs)
	if n == 0 {
		info.FirstLSN = 1
		if o.Progress != nil {
			o.Progress(0, 0)
		}
		return info, nil
	}
	sizes := make([]int64, n)
	var total int64
	for i, s := range segs {
		fi, err := o.FS.Stat(s.path)
		if err != nil {
			return info, fmt.Errorf("wal: scan: %w", err)
		}
		sizes[i] = fi.Size()
		total += sizes[i]
	}

	// The cut first, found as Open finds it, so that Committed is known
	// before fn. The bytes findCut reads (usually the last segment only)
	// are kept for the delivery below: every segment is read once, and a
	// log growing under the scan is seen as it was.
	kept := make([][]byte, n)
	c, err := findCut(segs, func(i int) ([]byte, error) {
		data, err := readFile(o.FS, segs[i].path, nil)
		kept[i] = data
		return data, err
	})
	if err != nil {
		return info, fmt.Errorf("wal: scan: %w", err)
	}
	if c.last >= c.first {
		info.LastCommitLSN = c.last
	}
	info.TailBytes = int64(c.bytes)
	info.TailDamage = c.tail().torn

	// Then every segment in order, delivering its valid frames: those
	// before r.end, which scanSegment checked (CRC, LSN), so only their
	// headers are read again.
	var it frameIter
	var buf []byte
	var done int64
	for i, s := range segs {
		r, data := c.scans[i], kept[i]
		if r == nil {
			if buf, err = readFile(o.FS, s.path, buf); err != nil {
				return info, fmt.Errorf("wal: scan: %w", err)
			}
			rr := scanSegment(segs, i, buf)
			r, data = &rr, buf
		}
		it.reset(s, data[:r.end])
		for it.next(headerOnly) {
			body, cerr := it.body()
			if cerr != nil {
				// The CRC holds: a writer stored a body that does not
				// decode. repair keeps such a frame; Replay refuses it.
				r.problem, r.end, r.next = cerr, it.cur.off, it.cur.lsn
				break
			}
			if fn != nil {
				err := fn(Entry{
					Record:    Record{LSN: it.cur.lsn, Kind: it.cur.hdr.kind, Data: body},
					File:      s.path,
					Offset:    int64(it.cur.off),
					Size:      it.cur.size,
					Committed: it.cur.lsn <= info.LastCommitLSN,
				})
				if err != nil {
					return info, err
				}
			}
		}
		kept[i] = nil
		if r.problem != nil {
			info.Problems = append(info.Problems, r.problem)
		}
		info.Segments = append(info.Segments, SegmentInfo{Path: s.path, FirstLSN: s.start, LastLSN: r.next - 1, Bytes: int64(r.size)})
		info.Bytes += int64(r.size)
		done += sizes[i]
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	info.FirstLSN = segs[0].start
	info.LastLSN = c.tail().next - 1
	return info, nil
}
