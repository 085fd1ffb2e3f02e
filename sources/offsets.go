package sources

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// FileState is what a source knows of one file it has read. It is persisted
// in commit records (msgpack, tags as shown): the tags and meanings must not
// change.
type FileState struct {
	Path    string `msgpack:"p" json:"path"`     // file name relative to the source directory (slash separated)
	Size    int64  `msgpack:"s" json:"size"`     // file size when last read
	ModTime int64  `msgpack:"m" json:"mod_time"` // modification time (unix ns) when last read
	Head    uint64 `msgpack:"h" json:"head"`     // FNV-1a hash of the first min(4096, Offset) bytes: notices a rewrite
	Offset  int64  `msgpack:"o" json:"offset"`   // bytes consumed: the end of the last complete row read
	Line    int64  `msgpack:"l" json:"line"`     // lines consumed, header included (for error line numbers after a resume)
	Rows    int64  `msgpack:"r" json:"rows"`     // rows read from the file so far
}

// headSize is the most bytes FileState.Head covers.
const headSize = 4096

// headHash is the 64-bit FNV-1a hash of b.
func headHash(b []byte) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for _, c := range b {
		h ^= uint64(c)
		h *= prime
	}
	return h
}

// listedFile is a regular *.csv file found under a source directory.
type listedFile struct {
	path    string // relative, slash separated
	size    int64
	modTime int64
}

// listCSV returns every regular file named *.csv under dir (subdirectories
// included, symbolic links to files followed), sorted by relative path.
func listCSV(dir string) ([]listedFile, error) {
	var out []listedFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".csv") {
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
		rel, err := filepath.Rel(dir, p)
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
