// Package fsx holds the few filesystem steps pwlog's durability rests on,
// shared by the packages that write files. It imports nothing of pwlog's.
package fsx

import (
	"os"
	"path/filepath"
)

// SyncDir fsyncs the directory at path, making the creation, removal and
// renaming of its entries durable.
func SyncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

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
