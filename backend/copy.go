package backend

import (
	"bytes"
	"context"
	"fmt"
	"io"
)

// Copier is a Backend that writes an object's bytes into a writer as
// they arrive, without holding the whole object in memory. The remote
// backends implement it; CopyTo falls back to Get for the others.
type Copier interface {
	// CopyTo writes the bytes of the object to w and returns how many it
	// wrote. Its errors are Get's. On error w may hold part of the
	// object.
	CopyTo(ctx context.Context, name string, w io.Writer) (int64, error)
}

// CopyTo writes the bytes of b's object name to w: streamed when b is a
// Copier, through Get otherwise.
func CopyTo(ctx context.Context, b Backend, name string, w io.Writer) (int64, error) {
	if c, ok := b.(Copier); ok {
		return c.CopyTo(ctx, name, w)
	}
	data, err := b.Get(ctx, name)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(data)
	if err != nil {
		return int64(n), fmt.Errorf("backend: copy %s: %w", name, err)
	}
	return int64(n), nil
}

// ReadAll returns the bytes a download writes (copy, a remote backend's
// own CopyTo), for its Get and Open: never nil, so that an empty object
// is empty, not missing.
func ReadAll(copy func(w io.Writer) (int64, error)) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := copy(&buf); err != nil {
		return nil, err
	}
	if buf.Len() == 0 {
		return []byte{}, nil
	}
	return buf.Bytes(), nil
}

// rewinder is a writer an attempt of a copy can start over: a file.
type rewinder interface {
	io.Writer
	io.Seeker
	Truncate(size int64) error
}

// CopyTo retries a failed copy into a writer it can start over (a file:
// it truncates it first); into any other writer it tries once.
func (r *retrying) CopyTo(ctx context.Context, name string, w io.Writer) (int64, error) {
	rw, ok := w.(rewinder)
	if !ok {
		return CopyTo(ctx, r.b, name, w)
	}
	var n int64
	err := r.do(ctx, OpGet, name, func(ctx context.Context) (err error) {
		if _, err := rw.Seek(0, io.SeekStart); err != nil {
			return err
		}
		if err := rw.Truncate(0); err != nil {
			return err
		}
		n, err = CopyTo(ctx, r.b, name, rw)
		return err
	})
	return n, err
}

// CopyTo copies the object under the prefix.
func (s *sub) CopyTo(ctx context.Context, name string, w io.Writer) (int64, error) {
	return CopyTo(ctx, s.b, s.dir+name, w)
}

// CopyTo counts a Get.
func (c *Counted) CopyTo(ctx context.Context, name string, w io.Writer) (int64, error) {
	c.gets.Add(1)
	n, err := CopyTo(ctx, c.b, name, w)
	c.in.Add(n)
	return n, err
}

// CopyBody copies the body of a download into w, for a remote backend's
// CopyTo: it grows w first when w can (a bytes.Buffer) and size is known
// (>= 0). A failure to write w comes back as writeErr: the writer's, not
// the server's. readErr is the body's, io.ErrUnexpectedEOF when it ends
// before size bytes or runs past them (a dropped connection).
func CopyBody(w io.Writer, body io.Reader, size int64) (n int64, writeErr, readErr error) {
	if g, ok := w.(interface{ Grow(int) }); ok && size > 0 {
		g.Grow(int(size))
	}
	ew := &errWriter{w: w}
	n, err := io.Copy(ew, body)
	if ew.err != nil {
		return n, ew.err, nil
	}
	if err == nil && size >= 0 && n != size {
		err = fmt.Errorf("read %d bytes of a %d-byte object: %w", n, size, io.ErrUnexpectedEOF)
	}
	return n, nil, err
}

// errWriter keeps the error of the writer it passes writes on to.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil && e.err == nil {
		e.err = err
	}
	return n, err
}
