package pwlog_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/sources"
)

// event is one input of the connector tests: a user's amount.
type event struct {
	partition string
	offset    int64
	user      string
	amount    int64
}

var totalsSchema = pwlog.Schema{{Name: "user", Type: pwlog.TypeStr}, {Name: "amount", Type: pwlog.TypeInt}}

// events returns n events over partitions p0 and p1, offsets 1, 2, ...
// in each.
func events(n int) []event {
	var out []event
	for i := range n {
		p := fmt.Sprintf("p%d", i%2)
		out = append(out, event{partition: p, offset: int64(i/2 + 1), user: fmt.Sprintf("u%d", i%5), amount: int64(i)})
	}
	return out
}

// totals returns each user's total and count of evs, as the rows
// "user,total,count".
func totals(evs []event) []string {
	sum, count := map[string]int64{}, map[string]int64{}
	for _, e := range evs {
		sum[e.user] += e.amount
		count[e.user]++
	}
	var out []string
	for u := range sum {
		out = append(out, fmt.Sprintf("%s,%d,%d", u, sum[u], count[u]))
	}
	slices.Sort(out)
	return out
}

// received collects what a subscription got: every time once, its rows
// consolidated into the table.
type received struct {
	mu    sync.Mutex
	times []uint64
	table map[string]int64
}

func (r *received) fn(failAt int) func(t uint64, rows []pwlog.Update) error {
	return func(t uint64, rows []pwlog.Update) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if failAt > 0 && len(r.times)+1 == failAt {
			return errors.New("receiver down")
		}
		if r.table == nil {
			r.table = map[string]int64{}
		}
		r.times = append(r.times, t)
		for _, u := range rows {
			k := fmt.Sprintf("%s,%d,%d", u.Row[0].AsString(), u.Row[1].AsInt(), u.Row[2].AsInt())
			r.table[k] += u.Diff
			if r.table[k] == 0 {
				delete(r.table, k)
			}
		}
		return nil
	}
}

func (r *received) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.times)
}

func (r *received) rows() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k, d := range r.table {
		if d != 1 {
			out = append(out, fmt.Sprintf("%s x%d", k, d))
			continue
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// feedPipeline builds the totals pipeline over a Feed, its subscription
// calling fn.
func feedPipeline(fn func(uint64, []pwlog.Update) error) (*pwlog.Pipeline, *sources.Feed) {
	p := pwlog.New()
	t, feed := p.ReadFeed("payments", totalsSchema)
	t.GroupBy("user").Reduce("totals",
		pwlog.Out("user", pwlog.Col("user")),
		pwlog.Out("total", pwlog.Sum("amount")),
		pwlog.Out("count", pwlog.Count()),
	).Subscribe("receiver", fn)
	return p, feed
}

// feedRun runs p while pushing evs into feed from after the offsets
// Resume returns (or all of them, when fromStart), then closes the feed;
// it returns Run's error and what Resume returned. After every 40 events
// it waits until the receiver got another time (delivered reports how
// many it got), so that the execution commits several times.
func feedRun(t *testing.T, p *pwlog.Pipeline, feed *sources.Feed, storage string, evs []event, fromStart bool, delivered func() int) (map[string]int64, error) {
	t.Helper()
	resume, errc, err := startFeed(t, p, feed, storage)
	if err != nil {
		return nil, <-errc
	}
	pushed := 0
	for i, e := range evs {
		if !fromStart && e.offset <= resume[e.partition] {
			continue
		}
		if err := feed.Push(e.partition, e.offset, pwlog.Row{differential.String(e.user), differential.Int(e.amount)}); err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		if e.offset <= resume[e.partition] {
			continue // dropped by the feed: nothing to wait for
		}
		if pushed++; pushed%40 == 0 {
			before := delivered()
			for delivered() == before {
				select {
				case err := <-errc:
					feed.Close()
					return resume, err
				case <-time.After(time.Millisecond):
				}
			}
		}
	}
	feed.Close()
	return resume, <-errc
}

// startFeed starts p (committing every millisecond, for at most 30 s)
// and waits for feed's Resume; errc gets Run's error.
func startFeed(t *testing.T, p *pwlog.Pipeline, feed *sources.Feed, storage string) (map[string]int64, chan error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	errc := make(chan error, 1)
	cfg := quietConfig(storage)
	cfg.AutocommitDuration = time.Millisecond
	go func() { errc <- p.Run(ctx, cfg) }()
	resume, err := feed.Resume(ctx)
	return resume, errc, err
}

// A Feed's offsets are committed with its rows: the next execution's
// Resume hands them back, rows pushed again at committed offsets are
// dropped, and the subscription gets each time once.
func TestFeedResumesExactlyOnce(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "storage")
	all := events(400)
	var got received

	p, feed := feedPipeline(got.fn(0))
	resume, err := feedRun(t, p, feed, storage, all[:150], false, got.count)
	if err != nil {
		t.Fatal(err)
	}
	if len(resume) != 0 {
		t.Fatalf("first Resume = %v, want nothing", resume)
	}
	if want := totals(all[:150]); !slices.Equal(got.rows(), want) {
		t.Fatalf("after the first execution:\n got %v\nwant %v", got.rows(), want)
	}
	firstTimes := len(got.times)

	// The program pushes everything again: what was committed is dropped.
	p, feed = feedPipeline(got.fn(0))
	resume, err = feedRun(t, p, feed, storage, all, true, got.count)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"p0": 75, "p1": 75}
	if !maps.Equal(resume, want) {
		t.Fatalf("Resume = %v, want %v", resume, want)
	}
	if want := totals(all); !slices.Equal(got.rows(), want) {
		t.Fatalf("after the second execution:\n got %v\nwant %v", got.rows(), want)
	}
	if len(got.times) == firstTimes {
		t.Fatal("the second execution delivered nothing")
	}
	for i := 1; i < len(got.times); i++ {
		if got.times[i] <= got.times[i-1] {
			t.Fatalf("times delivered out of order or twice: %v", got.times)
		}
	}

	// A third execution with nothing new delivers nothing.
	before := len(got.times)
	p, feed = feedPipeline(got.fn(0))
	if _, err := feedRun(t, p, feed, storage, all, false, got.count); err != nil {
		t.Fatal(err)
	}
	if len(got.times) != before {
		t.Fatalf("an execution with nothing new delivered %d times", len(got.times)-before)
	}
}

// A subscription that fails stops the execution; the next one gives it
// the failed time again, and none before it.
func TestSubscribeRedeliversWhatWasNotAcknowledged(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "storage")
	all := events(200)
	var got received

	p, feed := feedPipeline(got.fn(3)) // the third time fails
	_, err := feedRun(t, p, feed, storage, all[:120], false, got.count)
	if err == nil || !strings.Contains(err.Error(), "receiver down") {
		t.Fatalf("Run = %v after %d times, want the receiver's error", err, len(got.times))
	}
	if len(got.times) != 2 {
		t.Fatalf("delivered %d times before the failure, want 2", len(got.times))
	}

	p, feed = feedPipeline(got.fn(0))
	if _, err := feedRun(t, p, feed, storage, all, false, got.count); err != nil {
		t.Fatal(err)
	}
	if want := totals(all); !slices.Equal(got.rows(), want) {
		t.Fatalf("got %v\nwant %v", got.rows(), want)
	}
	for i := 1; i < len(got.times); i++ {
		if got.times[i] <= got.times[i-1] {
			t.Fatalf("a time delivered twice or out of order: %v", got.times)
		}
	}
}

// FuncOutput.Last says what the receiver holds: times up to it are not
// delivered again even when the storage has no acknowledgement of them.
func TestFuncOutputLastSkipsHeldTimes(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "storage")
	all := events(200)
	var mu sync.Mutex
	var times []uint64
	var failed uint64 // the time the receiver failed on
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(times) }
	build := func(failAt int, last uint64) (*pwlog.Pipeline, *sources.Feed) {
		p := pwlog.New()
		tb, feed := p.ReadFeed("payments", totalsSchema)
		tb.GroupBy("user").Reduce("totals", pwlog.Out("user", pwlog.Col("user")), pwlog.Out("n", pwlog.Count())).
			Write("receiver", &sources.FuncOutput{
				Fn: func(t uint64, _ []pwlog.Update) error {
					mu.Lock()
					defer mu.Unlock()
					if failAt > 0 && len(times)+1 == failAt {
						failed = t
						return errors.New("receiver down")
					}
					times = append(times, t)
					return nil
				},
				Last: func() (uint64, error) { return last, nil },
			})
		return p, feed
	}
	// The third time fails: it is committed, not acknowledged.
	p, feed := build(3, 0)
	if _, err := feedRun(t, p, feed, storage, all[:120], false, count); err == nil || failed == 0 {
		t.Fatalf("Run = %v, failed at time %d; want the receiver's error", err, failed)
	}
	before := len(times)
	// The receiver stored that time after all, and says so through Last:
	// the next execution gives it only later times.
	p, feed = build(0, failed)
	if _, err := feedRun(t, p, feed, storage, all, false, count); err != nil {
		t.Fatal(err)
	}
	if len(times) == before {
		t.Fatal("the second execution delivered nothing")
	}
	for _, tm := range times[before:] {
		if tm <= failed {
			t.Fatalf("time %d delivered again, though the receiver holds every time up to %d", tm, failed)
		}
	}
	// A receiver ahead of the storage is refused.
	p, feed = build(0, times[len(times)-1]+1000)
	_, err := feedRun(t, p, feed, storage, nil, false, count)
	if !errors.Is(err, pwlog.ErrSinkAhead) {
		t.Fatalf("Run with a receiver ahead = %v, want ErrSinkAhead", err)
	}
}

// Push refuses rows that do not fit the schema and offsets that go back,
// naming the feed, the partition, the offset and the column.
func TestFeedPushChecks(t *testing.T) {
	f := sources.NewFeed("payments", totalsSchema)
	err := f.Push("p0", 1, pwlog.Row{differential.Int(1), differential.Int(2)})
	if err == nil || !strings.Contains(err.Error(), `feed "payments": partition "p0" offset 1 row 0: column "user": a int value in a str column`) {
		t.Fatalf("wrong kind: %v", err)
	}
	if err := f.Push("p0", 1, pwlog.Row{differential.String("a")}); err == nil || !strings.Contains(err.Error(), "1 values for 2 columns") {
		t.Fatalf("short row: %v", err)
	}
	if err := f.Push("p0", 5, pwlog.Row{differential.String("a"), differential.Null()}); err != nil {
		t.Fatalf("a null: %v", err)
	}
	if err := f.Push("p0", 5, pwlog.Row{differential.String("a"), differential.Int(1)}); err == nil || !strings.Contains(err.Error(), "offset 5 pushed after offset 5") {
		t.Fatalf("offset again: %v", err)
	}
	f.Close()
	if err := f.Push("p0", 6); !errors.Is(err, sources.ErrFeedClosed) {
		t.Fatalf("push after close: %v", err)
	}
}

// sliceSource is a user's connector: partitions of rows in memory, a row
// at each offset.
type sliceSource struct {
	name  string
	parts map[string][]pwlog.Row
}

func (s *sliceSource) Open(prev map[string]sources.FileState) (sources.Reader, error) {
	return &sliceReader{s: s, at: maps.Clone(prev), order: slices.Sorted(maps.Keys(s.parts))}, nil
}

type sliceReader struct {
	s     *sliceSource
	at    map[string]sources.FileState
	order []string
	n     []int
}

func (r *sliceReader) Next(limit int) ([]differential.Update, []sources.FileState, error) {
	var us []differential.Update
	var sts []sources.FileState
	r.n = nil
	for _, p := range r.order {
		st := r.at[p]
		rows := r.s.parts[p]
		start := len(us)
		for st.Offset < int64(len(rows)) && (limit <= 0 || len(us) < limit) {
			us = append(us, differential.Update{Key: sources.RowKey(r.s.name, p, st.Offset, 0), Row: rows[st.Offset], Diff: 1})
			st.Offset++
		}
		if len(us) > start {
			st.Path = p
			r.at[p] = st
			sts = append(sts, st)
			r.n = append(r.n, len(us)-start)
		}
	}
	if len(us) == 0 {
		return nil, nil, io.EOF
	}
	return us, sts, nil
}

func (r *sliceReader) Close() error { return nil }

// memorySink is a user's sink keeping a changelog in memory, its length
// as its offset.
type memorySink struct {
	log    []string
	acked  []sources.Ack
	synced int
}

func (m *memorySink) Open(acked sources.Ack) (sources.Opened, error) {
	m.acked = append(m.acked, acked)
	return sources.Opened{Changelog: true}, nil
}

func (m *memorySink) Write(t uint64, rows []differential.Update) error {
	for _, u := range rows {
		m.log = append(m.log, fmt.Sprintf("%s,%d,%d", u.Row[0].AsString(), u.Row[1].AsInt(), u.Diff))
	}
	return nil
}
func (m *memorySink) Flush() error  { return nil }
func (m *memorySink) Sync() error   { m.synced = len(m.log); return nil }
func (m *memorySink) Close() error  { return m.Sync() }
func (m *memorySink) Offset() int64 { return int64(m.synced) }

// A user's Source and Sink run through Read and Write like the built-in
// connectors: offsets committed, the sink acknowledged with its offset.
func TestUserConnectors(t *testing.T) {
	storage := filepath.Join(t.TempDir(), "storage")
	src := &sliceSource{name: "payments", parts: map[string][]pwlog.Row{}}
	add := func(p, user string, amount int64) {
		src.parts[p] = append(src.parts[p], pwlog.Row{differential.String(user), differential.Int(amount)})
	}
	add("a", "x", 1)
	add("a", "y", 2)
	add("b", "x", 3)
	sink := &memorySink{}
	run := func() error {
		p := pwlog.New()
		p.Read("payments", totalsSchema, src).
			GroupBy("user").Reduce("totals", pwlog.Out("user", pwlog.Col("user")), pwlog.Out("total", pwlog.Sum("amount"))).
			Write("memory", sink)
		return p.Run(context.Background(), quietConfig(storage))
	}
	if err := run(); err != nil {
		t.Fatal(err)
	}
	add("b", "y", 10)
	if err := run(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(sink.log[:2]) // one time's rows come in key order
	want := []string{"x,4,1", "y,2,1", "y,2,-1", "y,12,1"}
	if !slices.Equal(sink.log, want) {
		t.Fatalf("sink got %v, want %v", sink.log, want)
	}
	if len(sink.acked) != 2 || sink.acked[0] != (sources.Ack{}) || sink.acked[1].Offset != 2 || sink.acked[1].Time == 0 {
		t.Fatalf("Open got acks %v, want none, then offset 2", sink.acked)
	}
}

// badSource returns a row of the wrong type.
type badSource struct{}

func (badSource) Open(map[string]sources.FileState) (sources.Reader, error) { return badReader{}, nil }

type badReader struct{}

func (badReader) Next(int) ([]differential.Update, []sources.FileState, error) {
	return []differential.Update{{Row: pwlog.Row{differential.String("x"), differential.String("12")}, Diff: 1}},
		[]sources.FileState{{Path: "q", Offset: 7}}, nil
}
func (badReader) Close() error { return nil }

// A user's connector whose rows do not fit the schema fails the
// execution, naming the source, the column and the partition; Retract
// needs a Partitioned reader.
func TestUserSourceChecked(t *testing.T) {
	p := pwlog.New()
	p.Read("bad", totalsSchema, badSource{}).Subscribe("out", func(uint64, []pwlog.Update) error { return nil })
	err := p.Run(context.Background(), quietConfig(""))
	if err == nil || !strings.Contains(err.Error(), `source "bad": column "amount": a str value in a int column (partitions "q" at 7)`) {
		t.Fatalf("Run = %v", err)
	}
	p = pwlog.New()
	p.Read("slice", totalsSchema, &sliceSource{name: "slice"}, pwlog.ReadOptions{Retract: true}).
		Subscribe("out", func(uint64, []pwlog.Update) error { return nil })
	err = p.Run(context.Background(), quietConfig(""))
	if err == nil || !strings.Contains(err.Error(), "Retract needs a connector whose Reader is a sources.Partitioned") {
		t.Fatalf("Run with Retract = %v", err)
	}
}

// A subscription's acknowledgements are committed as the execution goes,
// with the next commit, not only when it ends: a copy of the storage taken
// while it runs (what a crash leaves) gives the receiver again only the
// last times.
func TestSubscribeAcksAsItGoes(t *testing.T) {
	dir := t.TempDir()
	storage := filepath.Join(dir, "storage")
	var got received
	p, feed := feedPipeline(got.fn(0))
	_, errc, err := startFeed(t, p, feed, storage)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range events(40) {
		if err := feed.Push(e.partition, e.offset, pwlog.Row{differential.String(e.user), differential.Int(e.amount)}); err != nil {
			t.Fatal(err)
		}
		for n := i + 1; got.count() < n; { // one time per push
			time.Sleep(100 * time.Microsecond)
		}
	}
	if err := os.CopyFS(filepath.Join(dir, "copy"), os.DirFS(storage)); err != nil {
		t.Fatal(err)
	}
	feed.Close()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	sum, err := pwlog.Restore(p2(), quietConfig(filepath.Join(dir, "copy")))
	if err != nil {
		t.Fatal(err)
	}
	ack := sum.Acks["receiver"].Time
	if ack == 0 || len(sum.Unacked["receiver"]) > 2 {
		t.Fatalf("a copy taken after 40 delivered times holds ack %d and %d unacknowledged times %v, want at most the last two",
			ack, len(sum.Unacked["receiver"]), sum.Unacked["receiver"])
	}
}

// p2 is the feed pipeline, for Restore.
func p2() *pwlog.Pipeline {
	p, _ := feedPipeline(func(uint64, []pwlog.Update) error { return nil })
	return p
}

// An execution that fails before it opens a Feed (here a pipeline that
// does not build) releases a Resume that waits, with its error.
func TestFeedResumeGetsTheExecutionsError(t *testing.T) {
	p := pwlog.New()
	tb, feed := p.ReadFeed("payments", totalsSchema)
	tb.Subscribe("payments", func(uint64, []pwlog.Update) error { return nil }) // the name is taken
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background(), quietConfig("")) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := feed.Resume(ctx)
	runErr := <-errc
	if err == nil || err != runErr || !strings.Contains(err.Error(), `name "payments" is used twice`) {
		t.Fatalf("Resume = %v, Run = %v; want Run's error from both", err, runErr)
	}
}
