package objlog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pwlog/pwlog/backend"
)

// The lease's objects, relative to the storage's root backend.
const (
	// LeaseName is the lease object: the holder's epoch, host, pid,
	// process token, renewal counter and Duration as a JSON object, Put
	// again at every renewal.
	LeaseName = "writer/lease"
	// EpochPrefix starts the name of an epoch object; 20 digits follow.
	// Each epoch is created once, by a conditional create: the one
	// serialisation point of taking the lease.
	EpochPrefix = "writer/epoch-"
	// DefaultLeaseDuration is LeaseOptions.Duration when left 0.
	DefaultLeaseDuration = 5 * time.Second
)

// EpochName returns the name of the object of epoch: EpochPrefix and the
// epoch in 20 zero-padded digits.
func EpochName(epoch uint64) string { return fmt.Sprintf("%s%020d", EpochPrefix, epoch) }

var (
	// ErrLeaseHeld is returned (wrapped, naming the holder's host, pid and
	// epoch) by AcquireLease when another writer holds the lease.
	ErrLeaseHeld = errors.New("objlog: lease held by another writer")
	// ErrLeaseLost is wrapped by Lease.Err once the lease was taken over
	// or could not be renewed for a whole Duration.
	ErrLeaseLost = errors.New("objlog: lease lost")
)

// LeaseOptions configure AcquireLease. The zero value is valid.
type LeaseOptions struct {
	// Duration is how long a holder that stopped renewing keeps the lease
	// against another host: the holder renews every Duration/3, and a
	// writer on another host takes over a lease it saw unchanged for a
	// Duration (the longer of its own and the holder's). Default
	// DefaultLeaseDuration.
	Duration time.Duration
	// Host and PID name the holder in the lease. Defaults os.Hostname()
	// and os.Getpid(). Liveness on one host is checked by PID, so they
	// must be the real ones outside tests.
	Host string
	PID  int
	// Logger receives renewal failures. Default slog.Default().
	Logger *slog.Logger

	// process tells this process's leases from another process's with
	// the same host and pid (a restarted container); default
	// processToken. Tests set it to act as another process.
	process string
}

// processToken is random per process, written in every lease it takes.
var processToken = func() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

// leaseBody is the content of the lease object and of an epoch object.
type leaseBody struct {
	Epoch    uint64        `json:"epoch"`
	Host     string        `json:"host"`
	PID      int           `json:"pid"`
	Process  string        `json:"process"`  // the holder process's random token
	Counter  uint64        `json:"counter"`  // incremented at every renewal
	Duration time.Duration `json:"duration"` // the holder's LeaseOptions.Duration, in nanoseconds
}

func (b *leaseBody) String() string {
	return fmt.Sprintf("host %s pid %d epoch %d", b.Host, b.PID, b.Epoch)
}

// Lease is the writer lease of a storage, held until Close. While held it
// is renewed in the background; Err reports when it was lost.
type Lease struct {
	b           backend.Backend
	opts        LeaseOptions
	base        context.Context // for Close's requests
	renewCtx    context.Context // cancelled by Close
	renewCancel context.CancelFunc
	stop        chan struct{}
	done        chan struct{}
	body        leaseBody // the renewer's; Epoch does not change

	mu struct {
		sync.Mutex
		err    error
		closed bool
	}
}

// AcquireLease takes the writer lease of the storage whose root backend
// is b (objects LeaseName and EpochPrefix...), or refuses with an error
// wrapping ErrLeaseHeld that names the holder's host, pid and epoch:
//
//   - no lease object (none yet, or released by Close): taken at once;
//   - held by this process (same host, pid and process token): refused;
//   - held by a live process on this host (kill(pid, 0) succeeds or is
//     refused with EPERM): refused at once;
//   - held by a dead process on this host, or by an earlier process with
//     this very host and pid (a restarted container): taken at once;
//   - held from another host (or unreadable): watched, by a Get every
//     Duration/4, for the longer of our Duration and the holder's; if it
//     changes (the holder renews) refused, if it stays the same taken,
//     if it is deleted taken. No clocks are compared across hosts.
//
// Taking creates the epoch object after the newest one (and after the
// lease's epoch) by conditional create, so of two writers taking at once
// one is refused; then it Puts the lease, deletes older epoch objects and
// starts renewing. ctx bounds the acquisition (a watch included); the
// renewals run until Close.
//
// The lease is advisory: two writers may both believe they hold it for
// up to Duration/3 after a race or a pause. What keeps a storage to one
// writer is the epoch: each object of the log carries its writer's
// epoch, and a newer writer fences the older (see Open).
func AcquireLease(ctx context.Context, b backend.Backend, opts *LeaseOptions) (*Lease, error) {
	var o LeaseOptions
	if opts != nil {
		o = *opts
	}
	if o.Duration <= 0 {
		o.Duration = DefaultLeaseDuration
	}
	if o.Host == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("objlog: acquire lease: host name: %w", err)
		}
		o.Host = h
	}
	if o.PID == 0 {
		o.PID = os.Getpid()
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.process == "" {
		o.process = processToken
	}
	l := &Lease{b: b, opts: o, body: leaseBody{Host: o.Host, PID: o.PID, Process: o.process, Duration: o.Duration}}
	held, err := l.check(ctx)
	if err != nil {
		return nil, err
	}
	if err := l.take(ctx, held); err != nil {
		return nil, err
	}
	l.base = context.WithoutCancel(ctx)
	l.renewCtx, l.renewCancel = context.WithCancel(l.base)
	l.stop = make(chan struct{})
	l.done = make(chan struct{})
	go l.renewer()
	return l, nil
}

// check decides whether the lease may be taken: nil error when it may,
// with the epoch of the lease found (0 when none or unreadable).
func (l *Lease) check(ctx context.Context) (uint64, error) {
	data, err := l.b.Get(ctx, LeaseName)
	if errors.Is(err, backend.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("objlog: acquire lease: %w", err)
	}
	var held leaseBody
	if json.Unmarshal(data, &held) != nil {
		l.opts.Logger.Warn("objlog: the lease object is unreadable; watching it as another host's",
			slog.String("object", LeaseName))
		held = leaseBody{Host: "?", PID: -1}
	} else if held.Host == l.opts.Host {
		switch {
		case held.PID == l.opts.PID && held.Process == l.opts.process:
			return 0, fmt.Errorf("objlog: acquire lease: this process holds it already (%s): %w", &held, ErrLeaseHeld)
		case held.PID == l.opts.PID:
			l.opts.Logger.Info("objlog: taking over the lease of an earlier process with our pid", slog.String("holder", held.String()))
			return held.Epoch, nil
		}
		if alive, known := processAlive(held.PID); known {
			if alive {
				return 0, fmt.Errorf("objlog: acquire lease: a live process holds it (%s): %w", &held, ErrLeaseHeld)
			}
			l.opts.Logger.Info("objlog: taking over the lease of a dead process", slog.String("holder", held.String()))
			return held.Epoch, nil
		}
	}
	return held.Epoch, l.watch(ctx, data, &held)
}

// watch Gets the lease every Duration/4 for the longer of our Duration
// and the holder's: nil if it stays data or disappears, else an error
// wrapping ErrLeaseHeld.
func (l *Lease) watch(ctx context.Context, data []byte, held *leaseBody) error {
	d := max(l.opts.Duration, held.Duration)
	l.opts.Logger.Info("objlog: the lease is held from another host; watching it",
		slog.String("holder", held.String()), slog.Duration("for", d))
	deadline := time.Now().Add(d)
	t := time.NewTicker(d / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("objlog: acquire lease: watching the holder's renewals (%s): %w", held, ctx.Err())
		case <-t.C:
		}
		cur, err := l.b.Get(ctx, LeaseName)
		if errors.Is(err, backend.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("objlog: acquire lease: %w", err)
		}
		if !bytes.Equal(cur, data) {
			var now leaseBody
			if json.Unmarshal(cur, &now) != nil {
				now = leaseBody{Host: "?", PID: -1}
			}
			return fmt.Errorf("objlog: acquire lease: the holder renews it (%s): %w", &now, ErrLeaseHeld)
		}
		if !time.Now().Before(deadline) {
			l.opts.Logger.Info("objlog: taking over a lease not renewed", slog.String("holder", held.String()), slog.Duration("for", d))
			return nil
		}
	}
}

// take creates the next epoch object, after every listed one and after
// heldEpoch, and Puts the lease.
func (l *Lease) take(ctx context.Context, heldEpoch uint64) error {
	names, err := l.b.List(ctx, EpochPrefix)
	if err != nil {
		return fmt.Errorf("objlog: acquire lease: %w", err)
	}
	top := heldEpoch
	var older []string
	for _, name := range names {
		if e, ok := parseEpochName(name); ok {
			top = max(top, e)
			older = append(older, name)
		}
	}
	l.body.Epoch = top + 1
	data, err := json.Marshal(&l.body)
	if err != nil {
		return fmt.Errorf("objlog: acquire lease: %w", err)
	}
	name := EpochName(l.body.Epoch)
	err = l.b.Create(ctx, name, data)
	if errors.Is(err, backend.ErrExist) {
		if got, gerr := l.b.Get(ctx, name); gerr != nil || !bytes.Equal(got, data) {
			return fmt.Errorf("objlog: acquire lease: a concurrent writer took epoch %d first: %w", l.body.Epoch, ErrLeaseHeld)
		}
		err = nil // our own request, duplicated
	}
	if err != nil {
		return fmt.Errorf("objlog: acquire lease: create %s: %w", name, err)
	}
	if err := l.b.Put(ctx, LeaseName, data); err != nil {
		return fmt.Errorf("objlog: acquire lease: %w", err)
	}
	for _, o := range older {
		if err := l.b.Delete(ctx, o); err != nil {
			l.opts.Logger.Warn("objlog: could not delete an old epoch object", slog.String("object", o), slog.String("error", err.Error()))
		}
	}
	return nil
}

// parseEpochName returns the epoch of an epoch object's name.
func parseEpochName(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, EpochPrefix)
	if !ok || len(digits) != idDigits || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	e, err := strconv.ParseUint(digits, 10, 64)
	return e, err == nil
}

// Epoch returns the lease's epoch: greater than every earlier holder's.
func (l *Lease) Epoch() uint64 { return l.body.Epoch }

// Err returns nil while the lease is held, and an error wrapping
// ErrLeaseLost once a renewal found a newer epoch (in the lease or an
// epoch object), or renewals failed for a whole Duration. Renewal stops
// then; the holder should stop writing (its log is fenced, or will be).
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mu.err
}

// renewer renews the lease every Duration/3 until Close or a loss.
func (l *Lease) renewer() {
	defer close(l.done)
	t := time.NewTicker(l.opts.Duration / 3)
	defer t.Stop()
	lastOK := time.Now()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		err := l.renew(l.renewCtx)
		switch {
		case err == nil:
			lastOK = time.Now()
			continue
		case errors.Is(err, ErrLeaseLost):
		case l.renewCtx.Err() != nil:
			return
		case time.Since(lastOK) < l.opts.Duration:
			l.opts.Logger.Warn("objlog: lease renewal failed; retrying", slog.String("error", err.Error()))
			continue
		default:
			err = fmt.Errorf("objlog: lease epoch %d: renewals failing for %v, last: %w (%w)",
				l.body.Epoch, time.Since(lastOK).Round(time.Millisecond), err, ErrLeaseLost)
		}
		l.opts.Logger.Error("objlog: lease lost", slog.String("error", err.Error()))
		l.mu.Lock()
		l.mu.err = err
		l.mu.Unlock()
		return
	}
}

// renew checks that no newer epoch exists and Puts the lease again.
func (l *Lease) renew(ctx context.Context) error {
	data, err := l.b.Get(ctx, LeaseName)
	switch {
	case err == nil:
		var cur leaseBody
		if json.Unmarshal(data, &cur) == nil && cur.Epoch > l.body.Epoch {
			return fmt.Errorf("objlog: lease epoch %d: taken over by %s: %w", l.body.Epoch, &cur, ErrLeaseLost)
		}
	case !errors.Is(err, backend.ErrNotExist):
		return err
	}
	_, err = l.b.Size(ctx, EpochName(l.body.Epoch+1))
	switch {
	case err == nil:
		return fmt.Errorf("objlog: lease epoch %d: epoch %d was taken: %w", l.body.Epoch, l.body.Epoch+1, ErrLeaseLost)
	case !errors.Is(err, backend.ErrNotExist):
		return err
	}
	l.body.Counter++
	if data, err = json.Marshal(&l.body); err != nil {
		return err
	}
	return l.b.Put(ctx, LeaseName, data)
}

// Close stops renewing and deletes the lease object if it is still ours,
// so that the next writer takes it at once. The epoch object stays: it
// numbers the next epoch. A second Close does nothing and returns nil.
func (l *Lease) Close() error {
	l.mu.Lock()
	if l.mu.closed {
		l.mu.Unlock()
		return nil
	}
	l.mu.closed = true
	l.mu.Unlock()
	close(l.stop)
	l.renewCancel()
	<-l.done
	data, err := l.b.Get(l.base, LeaseName)
	if errors.Is(err, backend.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("objlog: release lease: %w", err)
	}
	var cur leaseBody
	if json.Unmarshal(data, &cur) != nil || cur.Epoch != l.body.Epoch || cur.Process != l.body.Process {
		return nil
	}
	if err := l.b.Delete(l.base, LeaseName); err != nil {
		return fmt.Errorf("objlog: release lease: %w", err)
	}
	return nil
}
