package backend

import (
	"path/filepath"

	"github.com/pwlog/pwlog/vfs"
)

// FilesystemAt returns a Filesystem rooted at root without touching the
// disk, for configuration: it does not create root or remove temporary
// files, so naming a directory another process is using is harmless.
// Its methods fail while root does not exist. The engine opens a
// storage at Root() with NewFilesystemFS when a pipeline runs.
func FilesystemAt(root string) *Filesystem {
	return &Filesystem{root: filepath.Clean(root), fs: vfs.Default}
}
