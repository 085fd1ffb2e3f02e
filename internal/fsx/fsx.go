// Package fsx holds the few filesystem steps pwlog's durability rests on,
// shared by the packages that write files. It imports nothing of pwlog's.
package fsx

import "os"

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
