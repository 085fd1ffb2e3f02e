package wal

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

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
	Path     string
	FirstLSN uint64 // from the segment name
	LastLSN  uint64 // of the last valid frame in it; FirstLSN-1 when it holds none
	Bytes    int64  // size of Path
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
		if !de.IsDir() && strings.HasSuffix(name, ".broken") {
			if _, ok := parseSegmentName(strings.TrimSuffix(name, ".broken")); ok {
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

	// The last commit first, so that Committed is known before fn: back
	// from the last segment to the last one holding a valid commit frame,
	// as repair looks for it.
	// The bytes read here are kept for the delivery below (usually the
	// last segment only): every segment is read once, and a log growing
	// under the scan is seen as it was.
	res := make([]*segScan, n)
	cut := -1
	for i := n - 1; i >= 0 && cut < 0; i-- {
		data, err := readFile(o.FS, segs[i].path, nil)
		if err != nil {
			return info, fmt.Errorf("wal: scan: %w", err)
		}
		r := scanSegment(segs, i, data)
		r.data = data
		res[i] = &r
		if r.commitEnd >= 0 {
			cut = i
		}
	}
	if cut >= 0 {
		info.LastCommitLSN = res[cut].commitLSN
		info.TailBytes = int64(res[cut].size - res[cut].commitEnd)
	} else {
		cut = 0
		info.TailBytes = int64(res[0].size)
	}
	for k := cut + 1; k < n; k++ {
		info.TailBytes += int64(res[k].size)
	}
	info.TailDamage = res[n-1].torn

	// Then every segment in order, delivering its valid frames: those
	// before r.end, which scanSegment checked (CRC, LSN), so only their
	// headers are read again.
	var buf, scratch []byte
	var done int64
	for i, s := range segs {
		r := res[i]
		if r == nil {
			if buf, err = readFile(o.FS, s.path, buf); err != nil {
				return info, fmt.Errorf("wal: scan: %w", err)
			}
			rr := scanSegment(segs, i, buf)
			rr.data = buf
			r = &rr
		}
		data := r.data
		lsn := s.start
		for off := 0; off < r.end; lsn++ {
			n, m := entryLen(data[off:])
			frame := data[off+m : off+m+n]
			h, _ := parseHeader(frame)
			body, cerr := decodeBody(scratch, h.flags, frame[headerSize:])
			if cerr != nil {
				// The CRC holds: a writer stored a body that does not
				// decode. repair keeps such a frame; Replay refuses it.
				r.problem, r.end, r.next = cerr.at(s.path, off, lsn), off, lsn
				break
			}
			if h.flags&flagSnappy != 0 {
				scratch = body
			}
			if fn != nil {
				err := fn(Entry{
					Record:    Record{LSN: lsn, Kind: h.kind, Data: body},
					File:      s.path,
					Offset:    int64(off),
					Size:      m + n,
					Committed: lsn <= info.LastCommitLSN,
				})
				if err != nil {
					return info, err
				}
			}
			off += m + n
		}
		r.data = nil
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
	info.LastLSN = res[n-1].next - 1
	return info, nil
}

// segScan is what Scan found in one segment.
type segScan struct {
	size      int    // bytes read
	end       int    // offset after the last valid frame
	next      uint64 // LSN after the last valid frame
	commitEnd int    // offset after the last valid commit frame; -1 when none
	commitLSN uint64
	torn      string // the last segment: where and why its tail is torn; "" when it is not
	problem   *CorruptError
	data      []byte // the bytes scanned, until their frames are delivered
}

// scanSegment validates segment i of segs, whose content is data, frame
// by frame up to the first damage. The last segment is scanned as repair
// does (scanTail), telling a torn tail from corruption. A sealed segment
// must hold valid frames from its first LSN up to the one before the next
// segment's and end there; any other content is a problem.
func scanSegment(segs []segment, i int, data []byte) segScan {
	s := segs[i]
	if i == len(segs)-1 {
		ts, err := scanTail(s, data)
		r := segScan{size: len(data), end: ts.validEnd, next: ts.next, commitEnd: ts.commitEnd, commitLSN: ts.commitLSN}
		switch {
		case err != nil:
			if !errors.As(err, &r.problem) {
				r.problem = &CorruptError{File: s.path, Offset: int64(ts.validEnd), LSN: ts.next, Reason: err.Error()}
			}
		case ts.damage != "":
			r.torn = ts.tornReason(s)
		}
		return r
	}
	next := segs[i+1]
	r := segScan{size: len(data), next: s.start, commitEnd: -1}
	for r.end < len(data) {
		if r.next == next.start {
			r.problem = &CorruptError{File: s.path, Offset: int64(r.end), LSN: r.next,
				Reason: fmt.Sprintf("the segment goes on past LSN %d, where the next segment %s starts: a segment is damaged or misnamed",
					r.next-1, filepath.Base(next.path))}
			return r
		}
		size, h, cerr := validEntry(data[r.end:], r.next)
		if cerr != nil {
			r.problem = cerr.at(s.path, r.end, r.next)
			return r
		}
		r.end += size
		if h.kind == KindCommit {
			r.commitEnd, r.commitLSN = r.end, r.next
		}
		r.next++
	}
	if r.next != next.start {
		r.problem = &CorruptError{File: s.path, Offset: int64(r.end), LSN: r.next,
			Reason: fmt.Sprintf("segment holds LSNs %d..%d but the next segment %s starts at %d: a segment is missing or damaged",
				s.start, r.next-1, filepath.Base(next.path), next.start)}
	}
	return r
}
