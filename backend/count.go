package backend

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Counts are the requests a Counted backend passed on, and their bytes.
type Counts struct {
	Puts, Creates, Gets, Opens, Lists, Deletes, Sizes int64
	// BytesOut are the bytes of Puts and Creates; BytesIn those Get
	// returned and the sizes of the objects Open opened.
	BytesOut, BytesIn int64
}

// Requests is the number of requests of every kind.
func (c Counts) Requests() int64 {
	return c.Puts + c.Creates + c.Gets + c.Opens + c.Lists + c.Deletes + c.Sizes
}

// Sub returns c - d, the requests made since d was read.
func (c Counts) Sub(d Counts) Counts {
	return Counts{
		Puts: c.Puts - d.Puts, Creates: c.Creates - d.Creates, Gets: c.Gets - d.Gets, Opens: c.Opens - d.Opens,
		Lists: c.Lists - d.Lists, Deletes: c.Deletes - d.Deletes, Sizes: c.Sizes - d.Sizes,
		BytesOut: c.BytesOut - d.BytesOut, BytesIn: c.BytesIn - d.BytesIn,
	}
}

// Counted is a Backend that counts the requests it passes on to another;
// see Count.
type Counted struct {
	b                                          Backend
	puts, creates, gets, opens, lists, deletes atomic.Int64
	sizes, out, in                             atomic.Int64
}

// Count returns b with its requests counted, failed ones too.
func Count(b Backend) *Counted { return &Counted{b: b} }

// Counts returns the requests passed on so far.
func (c *Counted) Counts() Counts {
	return Counts{
		Puts: c.puts.Load(), Creates: c.creates.Load(), Gets: c.gets.Load(), Opens: c.opens.Load(),
		Lists: c.lists.Load(), Deletes: c.deletes.Load(), Sizes: c.sizes.Load(),
		BytesOut: c.out.Load(), BytesIn: c.in.Load(),
	}
}

// String names the backend counted.
func (c *Counted) String() string { return fmt.Sprint(c.b) }

// Unwrap returns the backend counted.
func (c *Counted) Unwrap() Backend { return c.b }

func (c *Counted) Put(ctx context.Context, name string, data []byte) error {
	c.puts.Add(1)
	c.out.Add(int64(len(data)))
	return c.b.Put(ctx, name, data)
}

func (c *Counted) Create(ctx context.Context, name string, data []byte) error {
	c.creates.Add(1)
	c.out.Add(int64(len(data)))
	return c.b.Create(ctx, name, data)
}

func (c *Counted) Get(ctx context.Context, name string) ([]byte, error) {
	c.gets.Add(1)
	data, err := c.b.Get(ctx, name)
	c.in.Add(int64(len(data)))
	return data, err
}

func (c *Counted) Open(ctx context.Context, name string) (Object, error) {
	c.opens.Add(1)
	o, err := c.b.Open(ctx, name)
	if err == nil {
		c.in.Add(o.Size())
	}
	return o, err
}

func (c *Counted) List(ctx context.Context, prefix string) ([]string, error) {
	c.lists.Add(1)
	return c.b.List(ctx, prefix)
}

func (c *Counted) Delete(ctx context.Context, name string) error {
	c.deletes.Add(1)
	return c.b.Delete(ctx, name)
}

func (c *Counted) Size(ctx context.Context, name string) (int64, error) {
	c.sizes.Add(1)
	return c.b.Size(ctx, name)
}
