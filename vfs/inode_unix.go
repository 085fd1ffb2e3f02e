//go:build unix

package vfs

import (
	"io/fs"
	"syscall"
)

// inode returns fi's inode number, or 0 if it has none.
func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
