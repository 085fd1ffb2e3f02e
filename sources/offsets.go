package sources

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// FileState is what a source knows of one file it has read. It is persisted
// in commit records (msgpack, tags as shown): the tags and meanings must not
// change. Fields added later are omitempty, and their zero value means what
// a state written before them meant.
type FileState struct {
	Path    string `msgpack:"p" json:"path"`     // file name relative to the source directory (slash separated)
	Size    int64  `msgpack:"s" json:"size"`     // file size when last read
	ModTime int64  `msgpack:"m" json:"mod_time"` // modification time (unix ns) when last read
	Head    uint64 `msgpack:"h" json:"head"`     // FNV-1a hash of the first min(4096, Offset) bytes: notices a rewrite
	Offset  int64  `msgpack:"o" json:"offset"`   // bytes consumed: the end of the last row read (with Partial, the file's end then)
	Line    int64  `msgpack:"l" json:"line"`     // lines consumed, header included (for error line numbers after a resume)
	Rows    int64  `msgpack:"r" json:"rows"`     // rows read from the file so far, a Partial one included

	// Partial, when > 0, is where the last row read starts: a row that
	// ended at the end of the file without a line end, so that its line
	// may still be being written. Offset is then the file's end, and Line
	// and Rows count that row. When the file grows, the row is read again
	// from Partial: if the completed line gives another row, the old one
	// is retracted. 0: the last row read ended with its line end (or was
	// read by a build without this field: a continued line is then a
	// *ChangedFileError).
	Partial int64 `msgpack:"u,omitempty" json:"partial,omitempty"`
	// PartialHash is the FNV-1a hash of the bytes [Partial, Offset), the
	// unfinished line as read: a grown file whose partial line changed
	// instead of growing is a *ChangedFileError. Meaningless when Partial
	// is 0.
	PartialHash uint64 `msgpack:"v,omitempty" json:"partial_hash,omitempty"`
	// Sum is the FNV-1a hash of all the bytes consumed, [0, Offset): the
	// header, the rows, the blank lines, and the partial line when there
	// is one (PartialHash covers [Partial, Offset) again, on its own, so
	// that a partial line rewritten rather than continued is named as
	// such). It is kept as the bytes are read, and checked, by hashing
	// the consumed bytes of the file again, when a known file's size or
	// modification time changed: a rewrite anywhere in the consumed part
	// is a *ChangedFileError. 0: a state written before Sum existed; only
	// Head is checked then, and the next read of the file (one whose size
	// or modification time changed) computes Sum from the file as it is.
	Sum uint64 `msgpack:"c,omitempty" json:"sum,omitempty"`
}

// headSize is the most bytes FileState.Head covers.
const headSize = 4096

// FNV-1a, 64 bits.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// headHash is the 64-bit FNV-1a hash of b.
func headHash(b []byte) uint64 { return fnvAdd(fnvOffset, b) }

// fnvAdd continues the FNV-1a hash h with b.
func fnvAdd(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

// hashRange returns the FNV-1a hash of the bytes [from, to) of f; it
// fails with io.EOF when f ends before to.
func hashRange(f io.ReaderAt, from, to int64) (uint64, error) {
	var buf [4096]byte
	return hashOn(f, fnvOffset, from, to, buf[:])
}

// hashOn continues the FNV-1a hash h with the bytes [from, to) of f,
// read through buf; it fails with io.EOF when f ends before to.
func hashOn(f io.ReaderAt, h uint64, from, to int64, buf []byte) (uint64, error) {
	for from < to {
		b := buf[:min(int64(len(buf)), to-from)]
		n, err := f.ReadAt(b, from)
		if n < len(b) {
			if err == nil {
				err = io.EOF
			}
			return 0, err
		}
		h = fnvAdd(h, b)
		from += int64(n)
	}
	return h, nil
}

// listedFile is a regular file of a source found under its directory.
type listedFile struct {
	path    string // relative, slash separated
	size    int64
	modTime int64
}

// listFiles returns every regular file whose name ends in ext (".csv")
// under dir (subdirectories included, symbolic links to files followed),
// sorted by relative path. dir itself may be a symbolic link to a
// directory: the paths are those under the directory it names.
func listFiles(dir, ext string) ([]listedFile, error) {
	root := dir
	if info, err := os.Lstat(dir); err == nil && info.Mode()&fs.ModeSymlink != 0 {
		// WalkDir would see the link as a file and not enter it.
		if root, err = filepath.EvalSymlinks(dir); err != nil {
			return nil, err
		}
	}
	var out []listedFile
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ext) {
			return nil
		}
		var info fs.FileInfo
		if d.Type()&fs.ModeSymlink != 0 {
			info, err = os.Stat(p)
		} else {
			info, err = d.Info()
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone since the listing, or a dangling link
			}
			return err
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		out = append(out, listedFile{path: filepath.ToSlash(rel), size: info.Size(), modTime: info.ModTime().UnixNano()})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b listedFile) int { return strings.Compare(a.path, b.path) })
	return out, nil
}
