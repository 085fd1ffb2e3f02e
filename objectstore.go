package pwlog

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/objlog"
)

// takeObjectStore takes a storage kept in an object store: its marker,
// the writer's lease (which fences an earlier writer), its log (one
// object per commit window) and its checkpoint, read through the local
// cache directory.
func (e *engine) takeObjectStore() error {
	ctx := e.ctx
	e.objectStore = true
	where := storageName(e.cfg.Backend)
	b := backend.Retry(e.cfg.Backend, &backend.RetryOptions{Logger: e.log})
	if err := storage.EnsureMarkerObject(ctx, b, where); err != nil {
		return err
	}
	lease, err := objlog.AcquireLease(ctx, b, &objlog.LeaseOptions{Duration: e.cfg.LeaseDuration, Logger: e.log})
	if err != nil {
		return fmt.Errorf("pwlog: %s: %w", where, err)
	}
	e.lock = lease
	l, err := objlog.Open(ctx, backend.Sub(b, base.LogDir), &objlog.Options{
		SyncInterval: e.cfg.SnapshotInterval, Epoch: lease.Epoch(), Logger: e.log,
	})
	if err != nil {
		return fmt.Errorf("pwlog: open log: %w", err)
	}
	e.wal = l
	dir := e.cfg.CacheDir
	if dir == "" {
		dir = defaultCacheDir(where)
	}
	c, err := backend.Cached(backend.Sub(b, base.CheckpointDir), dir)
	if err != nil {
		return fmt.Errorf("pwlog: %w", err)
	}
	if err := c.Prune(ctx); err != nil {
		return fmt.Errorf("pwlog: cache %s: %w", dir, err)
	}
	e.ckpt = c
	return nil
}

// defaultCacheDir is the cache directory of the storage where when
// Config.CacheDir is not set: one per storage under the user's cache
// directory.
func defaultCacheDir(where string) string {
	root, err := os.UserCacheDir()
	if err != nil {
		root = os.TempDir()
	}
	sum := sha256.Sum256([]byte(where))
	return filepath.Join(root, "pwlog", hex.EncodeToString(sum[:8]))
}

// storageName names a storage's backend in messages: its own String
// (a URL) when it has one, else its type.
func storageName(b backend.Backend) string {
	if s, ok := b.(fmt.Stringer); ok {
		return s.String()
	}
	return fmt.Sprintf("%T", b)
}
