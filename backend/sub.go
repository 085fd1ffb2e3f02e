package backend

import (
	"context"
	"fmt"
	"strings"
)

// Sub returns the part of b under dir: its object "name" is b's
// "dir/name", and List lists only what is under dir, with names relative
// to it. dir follows the naming rules.
func Sub(b Backend, dir string) Backend {
	return &sub{b: b, dir: dir + "/"}
}

type sub struct {
	b   Backend
	dir string
}

// String names the part: the parent's name and dir.
func (s *sub) String() string { return strings.TrimSuffix(fmt.Sprint(s.b), "/") + "/" + s.dir }

// Unwrap returns the parent backend.
func (s *sub) Unwrap() Backend { return s.b }

func (s *sub) Put(ctx context.Context, name string, data []byte) error {
	return s.b.Put(ctx, s.dir+name, data)
}

func (s *sub) Create(ctx context.Context, name string, data []byte) error {
	return s.b.Create(ctx, s.dir+name, data)
}

func (s *sub) Get(ctx context.Context, name string) ([]byte, error) {
	return s.b.Get(ctx, s.dir+name)
}

func (s *sub) Open(ctx context.Context, name string) (Object, error) {
	return s.b.Open(ctx, s.dir+name)
}

func (s *sub) List(ctx context.Context, prefix string) ([]string, error) {
	names, err := s.b.List(ctx, s.dir+prefix)
	for i, n := range names {
		names[i] = strings.TrimPrefix(n, s.dir)
	}
	return names, err
}

func (s *sub) Delete(ctx context.Context, name string) error {
	return s.b.Delete(ctx, s.dir+name)
}

func (s *sub) Size(ctx context.Context, name string) (int64, error) {
	return s.b.Size(ctx, s.dir+name)
}
