package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/pwlog/pwlog/vfs"
)

// segment is one segment file, named by the LSN of its first entry.
type segment struct {
	start uint64
	path  string
}

// segmentName is the file name of the segment starting at lsn, the same as
// tidwall/wal's.
func segmentName(lsn uint64) string { return fmt.Sprintf("%020d", lsn) }

// parseSegmentName returns the first LSN of a segment file name: exactly
// 20 decimal digits, not zero. Other names (.broken copies, tidwall's
// .START/.END files) are not segments.
func parseSegmentName(name string) (uint64, bool) {
	if len(name) != 20 {
		return 0, false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(name, 10, 64)
	if err != nil || v == 0 {
		return 0, false
	}
	return v, true
}

// listSegments returns the segment files of dir in LSN order.
func listSegments(fsys vfs.FS, dir string) ([]segment, error) {
	des, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("wal: list segments: %w", err)
	}
	var segs []segment
	for _, de := range des {
		if de.IsDir() {
			continue
		}
		if v, ok := parseSegmentName(de.Name()); ok {
			segs = append(segs, segment{start: v, path: filepath.Join(dir, de.Name())})
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].start < segs[j].start })
	return segs, nil
}

// entryLen decodes the uvarint length at the start of the tidwall entry b.
// It returns the frame length n and the size m of the uvarint; m <= 0 when
// the length is truncated, overflows or runs past the end of b.
func entryLen(b []byte) (n, m int) {
	v, m := binary.Uvarint(b)
	if m <= 0 {
		return 0, 0
	}
	if v > uint64(len(b)-m) {
		return 0, 0
	}
	return int(v), m
}

// entrySize is the size in a segment of the tidwall entry of an n-byte frame.
func entrySize(n int) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], uint64(n)) + n
}

// tailState mirrors tidwall/wal's tail segment: its first LSN and its size,
// which tidwall keeps in memory as the segment's buffer.
type tailState struct {
	start uint64
	bytes int
}

// apply plays tidwall's segment rule for a batch whose entries have the
// given sizes, following LSN last: before the batch, a tail of more than
// segSize bytes starts a new segment; after each entry, a tail of at least
// segSize bytes starts a new segment after it. It returns how many segment
// files the batch creates.
func (t *tailState) apply(last uint64, sizes []int, segSize int) (created int) {
	if t.bytes > segSize {
		*t = tailState{start: last + 1}
		created++
	}
	for i, n := range sizes {
		t.bytes += n
		if t.bytes >= segSize {
			*t = tailState{start: last + uint64(i) + 2}
			created++
		}
	}
	return created
}

// loadTail sets the tail mirror from the directory.
func (l *Log) loadTail() error {
	segs, err := listSegments(l.opts.FS, l.dir)
	if err != nil {
		return err
	}
	if len(segs) == 0 {
		return fmt.Errorf("wal: %s holds no segment", l.dir)
	}
	s := segs[len(segs)-1]
	fi, err := l.opts.FS.Stat(s.path)
	if err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	l.tail = tailState{start: s.start, bytes: int(fi.Size())}
	return nil
}

// readFile reads the file at path into buf, growing it as needed.
func readFile(fsys vfs.FS, path string, buf []byte) ([]byte, error) {
	f, err := vfs.Open(fsys, path)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return buf, err
	}
	size := int(fi.Size())
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	if _, err := io.ReadFull(f, buf); err != nil {
		return buf[:0], fmt.Errorf("read %s: %w", path, err)
	}
	return buf, nil
}

// ensureDir creates dir and its missing parents and fsyncs the parent of
// each directory it created.
func ensureDir(fsys vfs.FS, dir string, noSync bool) error {
	var created []string
	for p := dir; ; {
		_, err := fsys.Stat(p)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		created = append(created, p)
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	if len(created) == 0 {
		return nil
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := fsys.Mkdir(created[i], 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	}
	if noSync {
		return nil
	}
	for i := len(created) - 1; i >= 0; i-- {
		if err := fsys.SyncDir(filepath.Dir(created[i])); err != nil {
			return err
		}
	}
	return nil
}
