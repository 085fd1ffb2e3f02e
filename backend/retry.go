package backend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"
)

// RetryOptions configure Retry. The zero value is valid.
type RetryOptions struct {
	// Attempts is how many times an operation is tried in all. Default 8.
	Attempts int
	// Base is the first backoff; each later one doubles, up to Max, and
	// is drawn at random between half of it and all of it. Default 50 ms.
	Base time.Duration
	// Max bounds one backoff. Default 5 s.
	Max time.Duration
	// AttemptTimeout bounds one attempt: a request that hangs longer
	// (a server that stopped answering) is abandoned and retried, as a
	// transient failure. Default 2 min.
	AttemptTimeout time.Duration
	// Logger receives one line per retried failure. Default: none.
	Logger *slog.Logger
}

// Retry returns b with its operations retried, with exponential backoff
// and jitter, while they fail with an error wrapping ErrTransient. Any
// other error, a done ctx, or the last attempt's error is returned (the
// last wrapped with the number of attempts).
//
// A Create whose request was sent but whose answer was lost may have
// taken effect: its retry (or the remote SDK's own) then finds the name
// taken. So a Create refused with ErrExist reads the object, and an
// object holding exactly data counts as this Create's: it returns nil.
// Callers write distinct bytes where the difference matters (a writer's
// epoch, say), which makes this safe.
func Retry(b Backend, opts *RetryOptions) Backend {
	r := &retrying{b: b}
	if opts != nil {
		r.opts = *opts
	}
	if r.opts.Attempts <= 0 {
		r.opts.Attempts = 8
	}
	if r.opts.Base <= 0 {
		r.opts.Base = 50 * time.Millisecond
	}
	if r.opts.Max <= 0 {
		r.opts.Max = 5 * time.Second
	}
	if r.opts.AttemptTimeout <= 0 {
		r.opts.AttemptTimeout = 2 * time.Minute
	}
	return r
}

type retrying struct {
	b    Backend
	opts RetryOptions
}

// String names the backend retried.
func (r *retrying) String() string { return fmt.Sprint(r.b) }

// Unwrap returns the backend retried.
func (r *retrying) Unwrap() Backend { return r.b }

// do runs op until it succeeds, fails permanently or runs out of
// attempts. Each attempt gets a context of its own, bounded by
// AttemptTimeout.
func (r *retrying) do(ctx context.Context, op, name string, fn func(ctx context.Context) error) error {
	backoff := r.opts.Base
	start := time.Now()
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, r.opts.AttemptTimeout)
		err := fn(actx)
		timedOut := err != nil && actx.Err() != nil && ctx.Err() == nil
		cancel()
		if timedOut {
			err = fmt.Errorf("no answer in %v: %w (%w)", r.opts.AttemptTimeout, ErrTransient, err)
		}
		if err == nil || !errors.Is(err, ErrTransient) {
			return err
		}
		if attempt == r.opts.Attempts {
			return fmt.Errorf("backend: %s %s: gave up after %d attempts in %v: %w", op, name, attempt, time.Since(start).Round(time.Millisecond), err)
		}
		sleep := backoff/2 + rand.N(backoff/2+1)
		if r.opts.Logger != nil {
			r.opts.Logger.Warn("Retrying a failed storage request", slog.String("op", op), slog.String("name", name),
				slog.Int("attempt", attempt), slog.Duration("backoff", sleep), slog.Any("error", err))
		}
		t := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("backend: %s %s: %w (after %v)", op, name, ctx.Err(), err)
		case <-t.C:
		}
		backoff = min(2*backoff, r.opts.Max)
	}
}

func (r *retrying) Put(ctx context.Context, name string, data []byte) error {
	return r.do(ctx, OpPut, name, func(ctx context.Context) error { return r.b.Put(ctx, name, data) })
}

func (r *retrying) Create(ctx context.Context, name string, data []byte) error {
	err := r.do(ctx, OpCreate, name, func(ctx context.Context) error { return r.b.Create(ctx, name, data) })
	if !errors.Is(err, ErrExist) {
		return err
	}
	got, gerr := r.Get(ctx, name)
	if gerr == nil && bytes.Equal(got, data) {
		return nil
	}
	return err
}

func (r *retrying) Get(ctx context.Context, name string) ([]byte, error) {
	var data []byte
	err := r.do(ctx, OpGet, name, func(ctx context.Context) (err error) {
		data, err = r.b.Get(ctx, name)
		return err
	})
	return data, err
}

func (r *retrying) Open(ctx context.Context, name string) (Object, error) {
	var o Object
	err := r.do(ctx, OpOpen, name, func(ctx context.Context) (err error) {
		o, err = r.b.Open(ctx, name)
		return err
	})
	return o, err
}

func (r *retrying) List(ctx context.Context, prefix string) ([]string, error) {
	var names []string
	err := r.do(ctx, OpList, prefix, func(ctx context.Context) (err error) {
		names, err = r.b.List(ctx, prefix)
		return err
	})
	return names, err
}

func (r *retrying) Delete(ctx context.Context, name string) error {
	return r.do(ctx, OpDelete, name, func(ctx context.Context) error { return r.b.Delete(ctx, name) })
}

func (r *retrying) Size(ctx context.Context, name string) (int64, error) {
	var n int64
	err := r.do(ctx, OpSize, name, func(ctx context.Context) (err error) {
		n, err = r.b.Size(ctx, name)
		return err
	})
	return n, err
}
