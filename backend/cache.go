package backend

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Cached returns b with the objects it opens kept in the local directory
// dir: the first Open of a name downloads the object into dir, later ones
// read the local copy. It suits names that are never replaced once
// written, such as checkpoint runs (Put of a name drops its copy). Delete
// removes the copy, then the object. The directory is only a cache: an
// empty or deleted dir costs downloads and loses nothing. Its copies are
// written like a Filesystem's objects (whole, fsynced, then named), so a
// crash never leaves a torn one.
func Cached(b Backend, dir string) (*Cache, error) {
	local, err := NewFilesystem(dir)
	if err != nil {
		return nil, fmt.Errorf("backend: cache %s: %w", dir, err)
	}
	return &Cache{b: b, local: local}, nil
}

// Cache is a Backend with a local copy of the objects it opened; see
// Cached.
type Cache struct {
	b     Backend
	local *Filesystem
}

// String names the backend cached.
func (c *Cache) String() string { return fmt.Sprint(c.b) }

// Unwrap returns the backend cached.
func (c *Cache) Unwrap() Backend { return c.b }

// Dir returns the local directory.
func (c *Cache) Dir() string { return c.local.Root() }

// Prune deletes the local copies of objects b no longer has (deleted by
// another process, a compaction of the CLI say).
func (c *Cache) Prune(ctx context.Context) error {
	have, err := c.local.List(ctx, "")
	if err != nil || len(have) == 0 {
		return err
	}
	remote, err := c.b.List(ctx, "")
	if err != nil {
		return err
	}
	keep := make(map[string]bool, len(remote))
	for _, n := range remote {
		keep[n] = true
	}
	for _, n := range have {
		if !keep[n] {
			if err := c.local.Delete(ctx, n); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Cache) Put(ctx context.Context, name string, data []byte) error {
	if err := c.local.Delete(ctx, name); err != nil {
		return err
	}
	return c.b.Put(ctx, name, data)
}

func (c *Cache) Create(ctx context.Context, name string, data []byte) error {
	// A copy of an object of the name that was deleted behind the
	// cache's back must not stand for the new one.
	if err := c.local.Delete(ctx, name); err != nil {
		return err
	}
	return c.b.Create(ctx, name, data)
}

func (c *Cache) Get(ctx context.Context, name string) ([]byte, error) {
	return c.b.Get(ctx, name)
}

// Open reads the local copy of name, downloading it first if there is
// none.
func (c *Cache) Open(ctx context.Context, name string) (Object, error) {
	o, err := c.local.Open(ctx, name)
	if !errors.Is(err, ErrNotExist) {
		return o, err
	}
	// Streamed into the local file, not held in memory: a run may be
	// larger than the memory the execution is given.
	var getErr error
	err = c.local.PutFrom(ctx, name, func(w io.Writer) error {
		_, getErr = CopyTo(ctx, c.b, name, w)
		return getErr
	})
	if getErr != nil {
		return nil, wrap(OpOpen, name, getErr)
	}
	if err != nil {
		return nil, fmt.Errorf("backend: cache %s: %w", c.local.Root(), err)
	}
	return c.local.Open(ctx, name)
}

func (c *Cache) List(ctx context.Context, prefix string) ([]string, error) {
	return c.b.List(ctx, prefix)
}

func (c *Cache) Delete(ctx context.Context, name string) error {
	if err := c.local.Delete(ctx, name); err != nil {
		return err
	}
	return c.b.Delete(ctx, name)
}

func (c *Cache) Size(ctx context.Context, name string) (int64, error) {
	return c.b.Size(ctx, name)
}
