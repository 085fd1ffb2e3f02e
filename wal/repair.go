package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/vfs"
)

// maxLaterChecks bounds how many plausible frame headers the torn-tail
// test verifies (CRC) after a damaged position. Past it the damage is
// reported as corruption rather than cut: hostile bytes must not make Open
// slow, and a tail we cannot prove torn is not cut.
const maxLaterChecks = 4096

// truncPlan is how Open finishes a front (or back) truncation of
// tidwall/wal, or a front truncation of ours, that a crash interrupted,
// the way tidwall's own Open would, so that the checks after it see the
// files tidwall will open. tidwall writes the kept part of the first
// segment to <lsn>.START, removes the older segments and renames
// <lsn>.START to <lsn>; a <lsn>.END file is the same for the back. Our
// <lsn>.KEEP file (stageStart) holds what the first segment must be.
//
// The START/END recovery mirrors tidwall/wal v1.2.1's Open: of the names
// that start with 20 digits of a non-zero index, the segments, the last
// .START and the first .END in name order count; every one before the
// .START is removed and the .START renamed to its segment; every one after
// the .END is removed and the .END renamed over its segment; a .START and
// an .END together are corrupt (TestTidwallTruncateRecovery).
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

// truncStep removes the files named in remove, then moves from (a
// .START, .END or .KEEP file) to the segment name it starts with
// (moveDurably: link, directory fsync, removal of from).
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
		if de.IsDir() || len(name) < base.SegmentDigits {
			continue
		}
		if _, ok := base.ParseSegmentName(name[:base.SegmentDigits]); !ok {
			continue
		}
		switch {
		case len(name) == base.SegmentDigits:
		case len(name) == base.SegmentDigits+len(base.KeepSuffix) && strings.HasSuffix(name, base.KeepSuffix):
			keep = name
			continue
		case len(name) == base.SegmentDigits+len(base.StartSuffix) && strings.HasSuffix(name, base.StartSuffix):
			startIdx = len(names)
		case len(name) == base.SegmentDigits+len(base.EndSuffix) && strings.HasSuffix(name, base.EndSuffix):
			if endIdx == -1 {
				endIdx = len(names)
			}
		case strings.HasSuffix(name, base.TruncTempSuffix), strings.HasSuffix(name, base.KeepSuffix+base.TempSuffix):
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
			lsn, _ := base.ParseSegmentName(name)
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
				lsn, _ := base.ParseSegmentName(name)
				delete(content, lsn)
			}
		}
		lsn, _ := base.ParseSegmentName(from[:base.SegmentDigits])
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
		lsn, _ := base.ParseSegmentName(keep[:base.SegmentDigits])
		var remove []string
		for _, sg := range segs() {
			if sg.start < lsn {
				remove = append(remove, base.SegmentName(sg.start))
			}
		}
		step(keep, remove)
	}
	p.segs = segs()
	return p, nil
}

// finishTruncate applies the plan of planTruncate to dir and fsyncs the
// directory if it changed anything: no .KEEP file is left, durably, when
// it returns, so none outlives the truncation it served.
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
		if err := moveDurably(o, dir, st.from, st.from[:base.SegmentDigits]); err != nil {
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

// moveDurably gives the content of file from in dir the name to (a
// segment), replacing what to named, and removes the name from; from
// keeps its name until to names its content durably, so a crash at any
// point leaves from in place for the next Open to redo the move.
//
// It does not rename. A rename that a crash interrupts before the
// directory is fsynced may leave the old name, the new one, both or
// neither (vfs.Recorder's crash images): neither loses the content, and
// both leave two names of one file, on which rename(2) does nothing and
// succeeds, so the .KEEP file outlived the truncation it served and a
// later Open applied it again, over segments written since
// (TestFinishTruncateAfterCrashedRename). Instead: remove to, link from
// to it, fsync the directory, remove from. Removing to when it is
// already a name of from's file is harmless: from still names it.
func moveDurably(o *Options, dir, from, to string) error {
	src, dst := filepath.Join(dir, from), filepath.Join(dir, to)
	if err := o.FS.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := o.FS.Link(src, dst); err != nil {
		return err
	}
	if !o.NoSync {
		if err := o.FS.SyncDir(dir); err != nil {
			return err
		}
	}
	return o.FS.Remove(src)
}

// renameAway renames from to to (a .broken copy) and makes sure from is
// gone: rename(2) does nothing when both names are links to one file,
// which a crash leaves when it kept both names of an earlier rename that
// was not yet fsynced. A crash may lose both names; the content is a copy
// kept for inspection only.
func renameAway(fsys vfs.FS, from, to string) error {
	if err := fsys.Rename(from, to); err != nil {
		return err
	}
	if _, err := fsys.Lstat(from); err == nil {
		return fsys.Remove(from)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// repair checks the segments of dir and cuts the tail after the last valid
// commit frame: checkSealed, then findCut and applyCut. Sealed segments
// (all but the last) must hold exactly the LSNs up to the next segment's
// name, with consistent frame headers; the segments findCut reads are
// validated frame by frame. It returns the cut, whose first and last are
// what the log holds after it.
func repair(dir string, o *Options) (logCut, error) {
	segs, err := listSegments(o.FS, dir)
	if err != nil {
		return logCut{}, err
	}
	n := len(segs)
	var buf, tail []byte
	for i := 0; i < n-1; i++ {
		if buf, err = readFile(o.FS, segs[i].path, buf); err != nil {
			return logCut{}, fmt.Errorf("wal: open: %w", err)
		}
		if err := checkSealed(segs[i], segs[i+1], buf); err != nil {
			return logCut{}, err
		}
	}
	c, err := findCut(segs, func(i int) ([]byte, error) {
		var err error
		if i == n-1 {
			tail, err = readFile(o.FS, segs[i].path, nil)
			return tail, err
		}
		buf, err = readFile(o.FS, segs[i].path, buf)
		return buf, err
	})
	if err != nil {
		return logCut{}, fmt.Errorf("wal: open: %w", err)
	}
	if c.problem != nil {
		return logCut{}, c.problem
	}
	// findCut read segment c.seg last.
	data := buf
	if c.seg == n-1 {
		data = tail
	}
	if err := applyCut(dir, o, c, data); err != nil {
		return logCut{}, err
	}
	return c, nil
}

// logCut is where Open cuts a log: after its last valid commit frame.
type logCut struct {
	segs []segment
	// first and last are the LSNs the log holds after the cut: last is the
	// LSN of the last valid commit frame, first-1 when there is none.
	first, last uint64
	seg, off    int // the cut: segment index and offset after that frame
	bytes       int // bytes after the cut: the rest of seg and every later segment
	// scans are what findCut found in each segment it read, from seg to
	// the last; nil for the segments before seg.
	scans []*segScan
	// problem is the first damage found, from the last segment back, that
	// is not a torn tail; nil when none: Open refuses the log.
	problem *CorruptError
}

// tail is what findCut found in the last segment.
func (c *logCut) tail() *segScan { return c.scans[len(c.scans)-1] }

// reason says why the cut removes bytes.
func (c *logCut) reason() string {
	if t := c.tail().torn; t != "" {
		return t
	}
	return "uncommitted frames after the last commit"
}

// findCut finds where Open cuts the log made of segs, in LSN order:
// after the last valid commit frame. read returns the bytes of segment i;
// findCut calls it for the last segment and then back to the one holding
// the last commit (segment 0 when there is none), each once, so the last
// call is for the cut's segment. It writes nothing: Open carries the cut
// out (applyCut), Scan reports it.
//
// Damage in the last segment is a torn tail, cut, unless tornTail finds
// it is corruption. Any other damage in a segment read is a problem; the
// commit frames before it still count. A log without segments holds
// nothing from LSN 1 (first 1, last 0), as tidwall/wal v1.2.1 starts one
// with AllowEmpty.
func findCut(segs []segment, read func(i int) ([]byte, error)) (logCut, error) {
	n := len(segs)
	c := logCut{segs: segs, first: 1, scans: make([]*segScan, n)}
	if n == 0 {
		return c, nil
	}
	c.first = segs[0].start
	c.last = c.first - 1
	for i := n - 1; i >= 0; i-- {
		data, err := read(i)
		if err != nil {
			return c, err
		}
		r := scanSegment(segs, i, data)
		c.scans[i] = &r
		c.seg, c.bytes = i, c.bytes+r.size
		if c.problem == nil {
			c.problem = r.problem
		}
		if r.commitEnd >= 0 {
			c.off, c.last = r.commitEnd, r.commitLSN
			c.bytes -= r.commitEnd
			break
		}
	}
	return c, nil
}

// applyCut carries out c on the log in dir: the segments after c.seg
// become .broken copies (empty ones are removed), segment c.seg, whose
// content is data, is copied to .broken and truncated at c.off (cutFile),
// the directory is fsynced after each step, and one line is logged. A cut
// of no bytes does nothing.
func applyCut(dir string, o *Options, c logCut, data []byte) error {
	if c.bytes == 0 {
		return nil
	}
	var removed []string
	for k := len(c.segs) - 1; k > c.seg; k-- {
		p := c.segs[k].path
		var err error
		if c.scans[k].size > 0 {
			err = renameAway(o.FS, p, p+base.BrokenSuffix)
			removed = append(removed, filepath.Base(p)+" -> "+filepath.Base(p)+base.BrokenSuffix)
		} else {
			err = o.FS.Remove(p)
			removed = append(removed, filepath.Base(p)+" (empty)")
		}
		if err == nil && !o.NoSync {
			err = o.FS.SyncDir(dir)
		}
		if err != nil {
			return fmt.Errorf("wal: repair %s: %w", dir, err)
		}
	}
	s := c.segs[c.seg]
	broken := ""
	if c.off < len(data) {
		broken = s.path + base.BrokenSuffix
		if err := cutFile(o.FS, s.path, broken, data, c.off, o.NoSync); err != nil {
			return fmt.Errorf("wal: repair %s: %w", s.path, err)
		}
	}
	if !o.NoSync {
		if err := o.FS.SyncDir(dir); err != nil {
			return fmt.Errorf("wal: repair %s: fsync: %w", dir, err)
		}
	}
	tail := c.tail()
	attrs := []any{
		slog.String("file", s.path), slog.Int("offset", c.off), slog.Int("bytes", c.bytes),
		slog.Uint64("last_commit_lsn", c.last),
	}
	if tail.next-1 > c.last {
		attrs = append(attrs, slog.String("dropped_lsns", fmt.Sprintf("%d..%d", c.last+1, tail.next-1)))
	} else {
		attrs = append(attrs, slog.String("dropped_lsns", "none"))
	}
	if tail.torn != "" {
		attrs = append(attrs, slog.Int("damaged_bytes", tail.size-tail.end))
	}
	attrs = append(attrs, slog.String("reason", c.reason()), slog.String("broken_copy", broken), slog.Any("removed", removed))
	o.Logger.Warn("wal: cut the log tail after the last commit", attrs...)
	return nil
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
// Sealed segments are never torn (tidwall/wal v1.2.1 fsyncs a segment
// before it creates the next, TestTidwallSyncsSealedSegments), so any
// failure is corruption.
func checkSealed(s, next segment, data []byte) error {
	it := newFrameIter(s, data)
	for it.next(headerOnly) {
	}
	if it.err != nil {
		return it.err
	}
	if it.lsn != next.start {
		return gapError(s, next, it.off, it.lsn)
	}
	return nil
}

// gapError is the damage of sealed segment s whose entries end at off
// before LSN lsn, while the next segment starts at another LSN.
func gapError(s, next segment, off int, lsn uint64) *CorruptError {
	return &CorruptError{File: s.path, Offset: int64(off), LSN: lsn,
		Reason: fmt.Sprintf("segment holds LSNs %d..%d but the next segment %s starts at %d: a segment is missing or damaged",
			s.start, lsn-1, filepath.Base(next.path), next.start)}
}

// segScan is what scanSegment found in one segment.
type segScan struct {
	size      int    // bytes of the segment
	end       int    // offset after the last valid frame
	next      uint64 // LSN after the last valid frame
	commitEnd int    // offset after the last valid commit frame; -1 when none
	commitLSN uint64
	torn      string // the last segment: where and why its tail is torn; "" when it is not
	problem   *CorruptError
}

// scanSegment validates segment i of segs, whose content is data, frame
// by frame (wholeFrame) up to the first damage. In the last segment the
// damage is a torn tail or a problem (tornTail). A sealed segment must
// hold valid frames from its first LSN up to the one before the next
// segment's and end there; any other content is a problem.
func scanSegment(segs []segment, i int, data []byte) segScan {
	s := segs[i]
	last := i == len(segs)-1
	r := segScan{size: len(data), commitEnd: -1}
	it := newFrameIter(s, data)
	for (last || it.lsn != segs[i+1].start) && it.next(wholeFrame) {
		if it.cur.hdr.kind == KindCommit {
			r.commitEnd, r.commitLSN = it.off, it.cur.lsn
		}
	}
	r.end, r.next = it.off, it.lsn
	switch {
	case it.err != nil && last:
		r.torn, r.problem = tornTail(s, data, it.err)
	case it.err != nil:
		r.problem = it.err
	case last:
		// The last segment ends where it ends.
	case it.off < len(data):
		r.problem = &CorruptError{File: s.path, Offset: int64(it.off), LSN: it.lsn,
			Reason: fmt.Sprintf("the segment goes on past LSN %d, where the next segment %s starts: a segment is damaged or misnamed",
				it.lsn-1, filepath.Base(segs[i+1].path))}
	case it.lsn != segs[i+1].start:
		r.problem = gapError(s, segs[i+1], it.off, it.lsn)
	}
	return r
}

// tornTail decides whether damage, where the scan of the last segment s
// (content data) stopped, is a torn tail, which it describes, or
// corruption, which it returns as the problem: a valid frame with a larger
// LSN follows the damage, or too many plausible frame headers to tell
// (findLaterFrame). A machine crash can leave a sector of the unsynced
// tail unwritten (zeros) while later ones were written; what follows such
// a hole was never synced either (an fsync covers the whole file), so a
// hole is torn even when a valid frame follows it.
func tornTail(s segment, data []byte, damage *CorruptError) (torn string, problem *CorruptError) {
	off, lsn := int(damage.Offset), damage.LSN
	why := damage.Reason
	q, later, found, undecided := findLaterFrame(data, off, lsn-1)
	switch {
	case found && vfs.ZeroSector(data[off:q], int64(off)):
		why = fmt.Sprintf("%s; an unwritten (zero) sector before offset %d, where a frame with LSN %d follows", why, q, later)
	case found:
		return "", &CorruptError{File: s.path, Offset: int64(off), LSN: lsn,
			Reason: fmt.Sprintf("%s, and a valid frame with LSN %d follows at offset %d", why, later, q)}
	case undecided:
		return "", &CorruptError{File: s.path, Offset: int64(off), LSN: lsn,
			Reason: fmt.Sprintf("%s, followed by too many plausible frame headers to tell a torn tail", why)}
	}
	return fmt.Sprintf("torn tail at %s offset %d: %s", filepath.Base(s.path), off, why), nil
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
		if _, _, cerr := checkFrame(b[:headerSize+int(n)], true); cerr == nil {
			return q, lsn, true, false
		}
	}
	return 0, 0, false, false
}
