// Package fsx holds filesystem helpers shared by pwlog's packages and
// tools. It imports nothing of pwlog's. (The steps durability rests on
// are in package vfs.)
package fsx

import (
	"os"
	"path/filepath"
)

// DirBytes returns the total size of the regular files under dir.
func DirBytes(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
