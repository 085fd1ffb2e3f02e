package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pwlog/pwlog/vfs"
)

// maxLaterChecks bounds how many plausible frame headers the torn-tail
// test verifies (CRC) after a damaged position. Past it the damage is
// reported as corruption rather than cut: hostile bytes must not make Open
// slow, and a tail we cannot prove torn is not cut.
const maxLaterChecks = 4096

// keepSuffix names the file stageStart writes before a front truncation.
const keepSuffix = ".KEEP"

// openState is what the log must hold after repair.
type openState struct {
	first, last uint64
}

// cutPoint is a position in the log: segment index, byte offset and the
// LSN of the last frame before it.
type cutPoint struct {
	seg int
	off int
	lsn uint64
}

// truncPlan is how Open finishes a front (or back) truncation of
// tidwall/wal, or a front truncation of ours, that a crash interrupted,
// the way tidwall's own Open would, so that the checks after it see the
// files tidwall will open. tidwall writes the kept part of the first
// segment to <lsn>.START, removes the older segments and renames
// <lsn>.START to <lsn>; a <lsn>.END file is the same for the back. Our
// <lsn>.KEEP file (stageStart) holds what the first segment must be.
//
// planTruncate decides the plan from a directory listing alone;
// finishTruncate applies it; Scan reads the segments it leads to without
// applying it.
type truncPlan struct {
	// leftovers are the names of .START/.END/.KEEP files that were never
	// complete (.TEMP, .KEEP.tmp): the truncation had not begun. They are
	// removed first.
	leftovers []string
	// steps are applied in order.
	steps []truncStep
	// segs are the segments once the plan is applied, in LSN order; path
	// names the file that holds each one's content now (a .START, .END or
	// .KEEP file for the segment a step renames it to).
	segs []segment
}

// truncStep removes the files named in remove, then renames from (a
// .START, .END or .KEEP file) to the segment name it starts with.
type truncStep struct {
	from   string
	remove []string
}

// renamed returns the names of the .START, .END and .KEEP files the plan
// renames to segments, in name order.
func (p *truncPlan) renamed() []string {
	var names []string
	for _, st := range p.steps {
		names = append(names, st.from)
	}
	sort.Strings(names)
	return names
}

// planTruncate plans the completion of an interrupted truncation from the
// entries of dir, in name order as ReadDir returns them. Interrupted
// truncations of both ends are corruption; the plan then holds only the
// leftovers, and segs the segments as they are.
func planTruncate(dir string, des []fs.DirEntry) (truncPlan, *CorruptError) {
	var p truncPlan
	var names []string // segments and .START/.END files, in name order as tidwall sees them
	startIdx, endIdx := -1, -1
	keep := ""
	for _, de := range des {
		name := de.Name()
		if de.IsDir() || len(name) < 20 {
			continue
		}
		if _, ok := parseSegmentName(name[:20]); !ok {
			continue
		}
		switch {
		case len(name) == 20:
		case len(name) == 20+len(keepSuffix) && strings.HasSuffix(name, keepSuffix):
			keep = name
			continue
		case len(name) == 26 && strings.HasSuffix(name, ".START"):
			startIdx = len(names)
		case len(name) == 24 && strings.HasSuffix(name, ".END"):
			if endIdx == -1 {
				endIdx = len(names)
			}
		case strings.HasSuffix(name, ".TEMP"), strings.HasSuffix(name, keepSuffix+".tmp"):
			p.leftovers = append(p.leftovers, name)
			continue
		default:
			continue
		}
		names = append(names, name)
	}
	content := map[uint64]string{} // segment LSN -> name of the file holding its content
	for _, name := range names {
		if len(name) == 20 {
			lsn, _ := parseSegmentName(name)
			content[lsn] = name
		}
	}
	segs := func() []segment {
		segs := make([]segment, 0, len(content))
		for lsn, name := range content {
			segs = append(segs, segment{start: lsn, path: filepath.Join(dir, name)})
		}
		sort.Slice(segs, func(i, j int) bool { return segs[i].start < segs[j].start })
		return segs
	}
	if startIdx >= 0 && endIdx >= 0 {
		p.segs = segs()
		return p, &CorruptError{File: filepath.Join(dir, names[startIdx]), Offset: -1,
			Reason: fmt.Sprintf("interrupted truncations of both ends (%s and %s)", names[startIdx], names[endIdx])}
	}
	step := func(from string, remove []string) {
		for _, name := range remove {
			if len(name) == 20 {
				lsn, _ := parseSegmentName(name)
				delete(content, lsn)
			}
		}
		lsn, _ := parseSegmentName(from[:20])
		content[lsn] = from
		p.steps = append(p.steps, truncStep{from: from, remove: remove})
	}
	if startIdx >= 0 {
		step(names[startIdx], names[:startIdx])
	}
	if endIdx >= 0 {
		step(names[endIdx], names[endIdx+1:])
	}
	if keep != "" {
		// A front truncation of ours did not finish (TruncateFront,
		// stageStart): the KEEP file holds what the first segment must
		// be; older segments, as the steps above leave them, go.
		lsn, _ := parseSegmentName(keep[:20])
		var remove []string
		for _, sg := range segs() {
			if sg.start < lsn {
				remove = append(remove, segmentName(sg.start))
			}
		}
		step(keep, remove)
	}
	p.segs = segs()
	return p, nil
}

// finishTruncate applies the plan of planTruncate to dir and fsyncs the
// directory if it changed anything.
func finishTruncate(dir string, o *Options) error {
	des, err := o.FS.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("wal: open %s: %w", dir, err)
	}
	plan, perr := planTruncate(dir, des)
	changed := false
	for _, name := range plan.leftovers {
		if err := o.FS.Remove(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("wal: open %s: %w", dir, err)
		}
		changed = true
	}
	if perr != nil {
		return perr
	}
	for _, st := range plan.steps {
		for _, name := range st.remove {
			if err := o.FS.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("wal: open %s: finish truncation: %w", dir, err)
			}
		}
		if err := o.FS.Rename(filepath.Join(dir, st.from), filepath.Join(dir, st.from[:20])); err != nil {
			return fmt.Errorf("wal: open %s: finish truncation: %w", dir, err)
		}
		o.Logger.Warn("wal: finished an interrupted truncation",
			slog.String("dir", dir), slog.String("file", st.from), slog.Any("removed", st.remove))
		changed = true
	}
	if changed && !o.NoSync {
		if err := o.FS.SyncDir(dir); err != nil {
			return fmt.Errorf("wal: open %s: fsync: %w", dir, err)
		}
	}
	return nil
}

// repair checks the segments of dir and cuts the tail after the last valid
// commit frame. Sealed segments (all but the last) must hold exactly the
// LSNs up to the next segment's name, with consistent frame headers; the
// last is validated frame by frame. A damaged position in the last segment
// is a torn tail unless a valid frame with a larger LSN follows it.
func repair(dir string, o *Options) (openState, error) {
	segs, err := listSegments(o.FS, dir)
	if err != nil {
		return openState{}, err
	}
	if len(segs) == 0 {
		return openState{first: 1, last: 0}, nil
	}
	n := len(segs)
	sizes := make([]int, n)
	var buf []byte
	for i := 0; i < n-1; i++ {
		if buf, err = readFile(o.FS, segs[i].path, buf); err != nil {
			return openState{}, fmt.Errorf("wal: open: %w", err)
		}
		sizes[i] = len(buf)
		if err := checkSealed(segs[i], segs[i+1], buf); err != nil {
			return openState{}, err
		}
	}
	tailData, err := readFile(o.FS, segs[n-1].path, nil)
	if err != nil {
		return openState{}, fmt.Errorf("wal: open: %w", err)
	}
	sizes[n-1] = len(tailData)
	scan, err := scanTail(segs[n-1], tailData)
	if err != nil {
		return openState{}, err
	}
	cut := cutPoint{seg: 0, off: 0, lsn: segs[0].start - 1}
	if scan.commitEnd >= 0 {
		cut = cutPoint{seg: n - 1, off: scan.commitEnd, lsn: scan.commitLSN}
	} else {
		// The last commit is in a sealed segment, or there is none.
		for j := n - 2; j >= 0; j-- {
			if buf, err = readFile(o.FS, segs[j].path, buf); err != nil {
				return openState{}, fmt.Errorf("wal: open: %w", err)
			}
			end, lsn, err := lastCommit(segs[j], buf)
			if err != nil {
				return openState{}, err
			}
			if end >= 0 {
				cut = cutPoint{seg: j, off: end, lsn: lsn}
				break
			}
		}
	}
	state := openState{first: segs[0].start, last: cut.lsn}
	cutBytes := sizes[cut.seg] - cut.off
	for k := cut.seg + 1; k < n; k++ {
		cutBytes += sizes[k]
	}
	if cutBytes == 0 {
		return state, nil
	}
	reason := "uncommitted frames after the last commit"
	if scan.damage != "" {
		reason = scan.tornReason(segs[n-1])
	}
	var removed []string
	for k := n - 1; k > cut.seg; k-- {
		p := segs[k].path
		if sizes[k] > 0 {
			err = o.FS.Rename(p, p+".broken")
			removed = append(removed, filepath.Base(p)+" -> "+filepath.Base(p)+".broken")
		} else {
			err = o.FS.Remove(p)
			removed = append(removed, filepath.Base(p)+" (empty)")
		}
		if err == nil && !o.NoSync {
			err = o.FS.SyncDir(dir)
		}
		if err != nil {
			return openState{}, fmt.Errorf("wal: repair %s: %w", dir, err)
		}
	}
	s := segs[cut.seg]
	broken := ""
	if cut.off < sizes[cut.seg] {
		data := tailData
		if cut.seg != n-1 {
			if data, err = readFile(o.FS, s.path, buf); err != nil {
				return openState{}, fmt.Errorf("wal: repair: %w", err)
			}
		}
		broken = s.path + ".broken"
		if err := cutFile(o.FS, s.path, broken, data, cut.off, o.NoSync); err != nil {
			return openState{}, fmt.Errorf("wal: repair %s: %w", s.path, err)
		}
	}
	if !o.NoSync {
		if err := o.FS.SyncDir(dir); err != nil {
			return openState{}, fmt.Errorf("wal: repair %s: fsync: %w", dir, err)
		}
	}
	attrs := []any{
		slog.String("file", s.path), slog.Int("offset", cut.off), slog.Int("bytes", cutBytes),
		slog.Uint64("last_commit_lsn", cut.lsn),
	}
	if scan.next-1 > cut.lsn {
		attrs = append(attrs, slog.String("dropped_lsns", fmt.Sprintf("%d..%d", cut.lsn+1, scan.next-1)))
	} else {
		attrs = append(attrs, slog.String("dropped_lsns", "none"))
	}
	if scan.damage != "" {
		attrs = append(attrs, slog.Int("damaged_bytes", len(tailData)-scan.validEnd))
	}
	attrs = append(attrs, slog.String("reason", reason), slog.String("broken_copy", broken), slog.Any("removed", removed))
	o.Logger.Warn("wal: cut the log tail after the last commit", attrs...)
	return state, nil
}

// cutFile copies data, the content of path, to broken (replacing an older
// copy) and then truncates path to size, fsyncing each step unless noSync.
func cutFile(fsys vfs.FS, path, broken string, data []byte, size int, noSync bool) error {
	f, err := fsys.OpenFile(broken, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && !noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !noSync {
		err = fsys.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		return fmt.Errorf("copy to %s: %w", broken, err)
	}
	f, err = fsys.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(int64(size))
	if err == nil && !noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkSealed walks the entries of a sealed segment without checking CRCs:
// every entry must lie inside the file, carry a frame header with the
// expected LSN and length, and the segment must end where next begins.
// Sealed segments are never torn (tidwall fsyncs a segment before it
// creates the next), so any failure is corruption.
func checkSealed(s, next segment, data []byte) error {
	off, lsn := 0, s.start
	for off < len(data) {
		n, m := entryLen(data[off:])
		if m <= 0 {
			return &CorruptError{File: s.path, Offset: int64(off), LSN: lsn,
				Reason: "entry length runs past the end of a sealed segment"}
		}
		h, cerr := parseHeader(data[off+m : off+m+n])
		if cerr != nil {
			return cerr.at(s.path, off, lsn)
		}
		if h.lsn != lsn {
			return &CorruptError{File: s.path, Offset: int64(off), LSN: lsn,
				Reason: fmt.Sprintf("frame holds LSN %d", h.lsn)}
		}
		if uint64(h.n) != uint64(n-headerSize) {
			return &CorruptError{File: s.path, Offset: int64(off), LSN: lsn,
				Reason: fmt.Sprintf("frame body length %d, entry holds %d", h.n, n-headerSize)}
		}
		off += m + n
		lsn++
	}
	if lsn != next.start {
		return &CorruptError{File: s.path, Offset: int64(off), LSN: lsn,
			Reason: fmt.Sprintf("segment holds LSNs %d..%d but the next segment %s starts at %d: a segment is missing or damaged",
				s.start, lsn-1, filepath.Base(next.path), next.start)}
	}
	return nil
}

// validEntry validates the tidwall entry at the start of b, which must hold
// lsn, and returns its size and header.
func validEntry(b []byte, lsn uint64) (int, header, *CorruptError) {
	n, m := entryLen(b)
	if m <= 0 {
		return 0, header{}, frameError("entry length runs past the end of the file")
	}
	h, _, cerr := checkFrame(b[m : m+n])
	if cerr != nil {
		return 0, h, cerr
	}
	if h.lsn != lsn {
		return 0, h, frameError("frame holds LSN %d", h.lsn)
	}
	return m + n, h, nil
}

// tailScan is the result of validating the last segment.
type tailScan struct {
	next      uint64 // LSN after the last valid frame
	validEnd  int    // offset after the last valid frame
	commitEnd int    // offset after the last commit frame; -1 when none
	commitLSN uint64
	damage    string // why the scan stopped before the end of the file; "" if it did not
}

// tornReason says where and why the last segment s is torn, for a scan
// that found damage.
func (res *tailScan) tornReason(s segment) string {
	return fmt.Sprintf("torn tail at %s offset %d: %s", filepath.Base(s.path), res.validEnd, res.damage)
}

// scanTail validates the last segment frame by frame. At the first invalid
// position it decides between a torn tail (returned as damage, to be cut)
// and corruption (a valid frame with a larger LSN follows: an error).
func scanTail(s segment, data []byte) (tailScan, error) {
	res := tailScan{next: s.start, commitEnd: -1}
	off := 0
	for off < len(data) {
		size, h, cerr := validEntry(data[off:], res.next)
		if cerr != nil {
			q, lsn, found, undecided := findLaterFrame(data, off, res.next-1)
			switch {
			case found && vfs.ZeroSector(data[off:q], int64(off)):
				// A machine crash left a hole: a sector of the unsynced
				// tail was never written, while later ones were. What
				// follows it was never synced either (an fsync covers
				// the whole file), so it is a torn tail, cut like one.
				res.damage = fmt.Sprintf("%s; an unwritten (zero) sector before offset %d, where a frame with LSN %d follows", cerr.Reason, q, lsn)
			case found:
				return res, &CorruptError{File: s.path, Offset: int64(off), LSN: res.next,
					Reason: fmt.Sprintf("%s, and a valid frame with LSN %d follows at offset %d", cerr.Reason, lsn, q)}
			case undecided:
				return res, &CorruptError{File: s.path, Offset: int64(off), LSN: res.next,
					Reason: fmt.Sprintf("%s, followed by too many plausible frame headers to tell a torn tail", cerr.Reason)}
			}
			if res.damage == "" {
				res.damage = cerr.Reason
			}
			break
		}
		off += size
		if h.kind == KindCommit {
			res.commitEnd, res.commitLSN = off, res.next
		}
		res.next++
		res.validEnd = off
	}
	return res, nil
}

// findLaterFrame looks for a valid frame starting at or after from whose
// LSN is above lastGood: version 1, LSN in (lastGood, lastGood+remaining],
// a length that fits, then the CRC. It checks at most maxLaterChecks CRCs;
// undecided reports that the budget ran out.
func findLaterFrame(data []byte, from int, lastGood uint64) (q int, lsn uint64, found, undecided bool) {
	hi := lastGood + uint64(len(data)-from)
	checks := 0
	for q = from; q+headerSize <= len(data); q++ {
		i := bytes.IndexByte(data[q:len(data)-headerSize+1], frameVersion)
		if i < 0 {
			break
		}
		q += i
		b := data[q:]
		if b[3] != 0 || b[2]&^flagSnappy != 0 {
			continue
		}
		lsn = binary.LittleEndian.Uint64(b[4:12])
		if lsn <= lastGood || lsn > hi {
			continue
		}
		n := binary.LittleEndian.Uint32(b[12:16])
		if uint64(n) > uint64(len(b)-headerSize) {
			continue
		}
		if checks++; checks > maxLaterChecks {
			return 0, 0, false, true
		}
		if _, _, cerr := checkFrame(b[:headerSize+int(n)]); cerr == nil {
			return q, lsn, true, false
		}
	}
	return 0, 0, false, false
}

// lastCommit validates a sealed segment frame by frame and returns the
// offset after its last commit frame and that frame's LSN; end is -1 when
// it holds none. Any damage is corruption.
func lastCommit(s segment, data []byte) (end int, lsn uint64, err error) {
	end = -1
	off, next := 0, s.start
	for off < len(data) {
		size, h, cerr := validEntry(data[off:], next)
		if cerr != nil {
			return -1, 0, cerr.at(s.path, off, next)
		}
		off += size
		if h.kind == KindCommit {
			end, lsn = off, next
		}
		next++
	}
	return end, lsn, nil
}
