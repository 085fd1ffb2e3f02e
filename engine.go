package pwlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/clock"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/sources"
	"github.com/pwlog/pwlog/wal"
)

// engine is one execution of a Pipeline.
type engine struct {
	p    *Pipeline
	cfg  Config
	log  *slog.Logger
	lock io.Closer // what holds the storage: its lock file, or its lease
	// objectStore is set when the storage is in an object store.
	objectStore bool
	wal         commitLog // nil when the execution is not persistent
	clock       uint64    // the last committed logical time

	offsets record.Offsets          // source -> file -> state
	pending [][]differential.Update // by node: retractions for the first batch
	removed map[string][]string     // source -> files retracted, for the next commit
	readers []sources.Reader        // by node index; nil for operators
	sinks   []*sinkState
	queue   []pendingWrite // committed times waiting for their fsync
	written uint64         // the last committed time the sinks have written

	stats     execStats
	comp      *compaction.Compactor                       // nil when the execution is not persistent
	fold      map[compaction.ArrKey][]differential.Deltas // committed state deltas since the checkpoint, in chunks
	foldLen   map[compaction.ArrKey]int
	foldBytes int64
	foldedLSN uint64                       // the checkpoint's LSN
	lastFold  time.Time                    // when the last compaction started (or the execution)
	compactCh chan error                   // the result of a background compaction
	sealed    map[compaction.ArrKey]uint64 // the epochs the running compaction's fold holds
	ckpt      backend.Backend              // where the checkpoint lives
	cache     *checkpoint.Cache            // blocks of the runs the arrangements read
	runs      map[string]openRun           // by name, the runs the arrangements read
	ctx       context.Context              // the execution's context

	// fingerprinted is set once the storage holds the pipeline's
	// fingerprint; the first commit of a storage logs it.
	fingerprinted bool
	// catalog is the pipeline's Catalog; catalogued is set once the
	// storage holds it.
	catalog    *record.Catalog
	catalogued bool
	// restored is what the storage held when the execution opened it.
	restored record.Summary
	// warned holds the warnings logged once per execution (engine.once).
	warned map[string]bool
	// watch wakes a streaming execution on a filesystem event in its
	// sources' directories; nil when no source is watched. watched is
	// set, by node index, for the sources it watches.
	watch   *watcher
	watched []bool
	// acks holds the acknowledgements of AckOnWrite sinks that the next
	// commit records.
	acks map[string]record.SinkAck

	// keep is what the execution keeps in its storage, arrs the
	// arrangements it persists (evolve.go).
	keep keeping
	arrs map[compaction.ArrKey]*differential.Arrangement
	// changed is set when the storage holds another fingerprint: the
	// first commit logs the new one as a change. first asks for the
	// first time of evolve.go: rebuild names the operators it rebuilds,
	// acts says by sink what it receives then. drop holds the stored
	// arrangements the pipeline no longer keeps: the next compaction
	// drops them.
	changed       bool
	first         bool
	rebuild       map[*node]bool
	acts          []sinkAction
	drop          map[compaction.ArrKey]bool
	storedOffsets record.Offsets // the offsets the storage held at the start
	// consolidate is set while the first time commits: its state deltas
	// are consolidated before they are logged. hold names arrangements
	// whose changes that commit leaves to the next one.
	consolidate bool
	hold        map[*differential.Arrangement]bool
}

// sinkState is a sink during an execution.
type sinkState struct {
	n      *sinkNode
	out    sources.Sink     // nil until opened
	opened sources.Opened   // what its Open found
	ack    record.SinkAck   // the last acknowledgement found in the log, or recorded
	replay []*record.Output // committed times to re-emit, in time order
	// fresh: the sink's file is written from its start (a re-snapshot, a
	// replay, a record); resnap: it gets its stored table as of the last
	// committed time first (evolve.go).
	fresh, resnap bool
}

// pendingWrite is a committed time whose rows wait for the WAL to be
// durable up to lsn before they reach the sinks.
type pendingWrite struct {
	lsn  uint64
	time uint64
	rows [][]differential.Update // by sink
}

type execStats struct {
	times, rows, outputs int
	peakState            int64 // the most state bytes in memory after a commit's bound
}

// Run runs the pipeline until its sources are exhausted (static mode),
// ctx is done, or an error occurs. With cfg.Backend set, it first recovers
// the persisted state and then processes only what is new.
//
// A pipeline with a streaming source (FileOptions.Streaming, a Feed) runs
// until ctx is done, or until every streaming source has ended
// (sources.Ender; a closed Feed): it then finishes the current time, writes every committed time
// to the sinks, acknowledges them and compacts as a finished execution,
// and returns nil. A static pipeline whose ctx is done before its sources
// are exhausted returns ctx's error (every time committed stays).
//
// Errors: building errors of the pipeline; ErrLocked when another process
// holds the storage; input errors (*sources.InputError) naming file, line
// and column; write and fsync errors of the log, which stop the execution. Every
// time committed before an error stays committed.
func (p *Pipeline) Run(ctx context.Context, cfg Config) (err error) {
	defer func() {
		// A Feed waiting in Resume learns that the execution ended.
		for _, n := range p.nodes {
			if f, ok := n.src.(sources.Finisher); ok {
				f.Finished(err)
			}
		}
	}()
	if p.err != nil {
		return p.err
	}
	if p.started {
		return errors.New("pwlog: a Pipeline runs once; build a new one for the next execution")
	}
	p.started = true
	e := newEngine(ctx, p, cfg)
	if p.streaming() {
		// Cancelling ctx ends a streaming execution as a finished one: a
		// background compaction goes on to its end.
		e.ctx = context.WithoutCancel(ctx)
	}
	if err = e.configure(); err != nil {
		return err
	}
	e.catalog = p.catalog(e.arrs)
	err = e.open()
	switch {
	case err != nil:
	case e.cfg.SpeedrunReplay:
		err = e.speedrun()
	default:
		err = e.firstTime()
		if err == nil && !e.cfg.StopAfterReplay {
			err = e.loop(ctx)
		}
	}
	return errors.Join(err, e.close(err == nil))
}

// newEngine returns the engine of one execution of p.
func newEngine(ctx context.Context, p *Pipeline, cfg Config) *engine {
	e := &engine{p: p, cfg: cfg.withDefaults(), offsets: record.Offsets{},
		pending: make([][]differential.Update, len(p.nodes)), removed: map[string][]string{},
		fold: map[compaction.ArrKey][]differential.Deltas{}, foldLen: map[compaction.ArrKey]int{}, ctx: ctx,
		drop: map[compaction.ArrKey]bool{}}
	e.log = e.cfg.Logger
	return e
}

// nextTime returns a logical time greater than every committed one: the
// wall clock in milliseconds, or one more than the last time when the
// clock is behind.
func (e *engine) nextTime() uint64 {
	t := uint64(clock.Now().UnixMilli())
	if t <= e.clock {
		t = e.clock + 1
	}
	return t
}

// streaming tells whether a source of p is streaming.
func (p *Pipeline) streaming() bool {
	for _, n := range p.nodes {
		if n.src != nil && n.streaming {
			return true
		}
	}
	return false
}

func (e *engine) loop(ctx context.Context) error {
	start := time.Now()
	e.lastFold = start
	streaming := e.p.streaming()
	done := make([]bool, len(e.p.nodes))
	nextPoll := make([]time.Time, len(e.p.nodes)) // streaming sources done: when to look again
	var lastCommit time.Time
	outputs := make([][]differential.Update, len(e.p.nodes))
	// wakeChs: the watcher's channel, then from firstNotify on the
	// notifying sources'. notified is set by a value on one of those.
	var wakeChs []<-chan struct{}
	firstNotify, notified := 0, false
	if streaming {
		e.startWatch()
		if e.watch != nil {
			wakeChs = append(wakeChs, e.watch.wake)
		}
		firstNotify = len(wakeChs)
		for _, n := range e.p.nodes {
			if nt, ok := n.src.(sources.Notifier); ok && n.streaming {
				wakeChs = append(wakeChs, nt.Notify())
			}
		}
	}
	// stopping: ctx is done but a seek queued retractions (e.pending,
	// e.removed) that one more time must commit, reading nothing new:
	// the seek already took the files out of the offsets.
	stopping := false
	for {
		if err := ctx.Err(); err != nil {
			if !streaming {
				return err
			}
			if !e.retracting() {
				break
			}
			stopping = true
		}
		// 1. Sources hand over their new rows and offsets.
		t := e.nextTime()
		budget := e.cfg.BatchRows
		advanced := map[string][]sources.FileState{}
		allDone, moved := true, false
		// The sources share a time's rows: each reads at most its share
		// of what is left, so that every source advances in every time (a
		// join sees both its sides grow together) and one that has less
		// leaves the rest to those after it.
		active := 0
		for _, n := range e.p.nodes {
			if n.src != nil && (!done[n.index] || stopping) {
				active++
			}
		}
		for _, n := range e.p.nodes {
			outputs[n.index] = nil
			if n.src == nil || done[n.index] && !stopping {
				continue
			}
			share := max(1, budget/max(1, active))
			active--
			// A source whose seek queued retractions is never left out:
			// the files they come from leave the offsets with this time's
			// commit, so the retractions must be in it too.
			if budget <= 0 && !stopping && len(e.pending[n.index]) == 0 {
				allDone = false
				continue
			}
			r := e.readers[n.index]
			var rows []differential.Update
			var states []sources.FileState
			var err error
			if !stopping {
				// A file retracted by a seek is usually read again at once:
				// read as many more rows in this time as it retracts, so
				// that the rows the file still holds cancel out here and
				// the pipeline sees only what changed, not a time without
				// the file followed by one with it again.
				rows, states, err = r.Next(share + len(e.pending[n.index]))
			}
			if err == nil && n.checked {
				err = checkRows(n, rows, states)
			}
			var ce *sources.ChangedFileError
			if errors.As(err, &ce) {
				// Rewritten or truncated while being read: open the
				// source again at its committed offsets, as a restart
				// would (with Retract the file is retracted and read
				// again, else the execution stops naming it).
				e.log.Info("A file changed while being read; the source looks again",
					slog.String("source", n.name), slog.String("file", ce.Path), slog.String("reason", ce.Reason))
				if err := e.seek(n); err != nil {
					return err
				}
				allDone = false
				continue
			}
			switch {
			case stopping:
			case errors.Is(err, io.EOF):
				done[n.index] = true
				nextPoll[n.index] = time.Now().Add(e.pollInterval(n))
				for _, ie := range unfinished(r) {
					if !e.once("unfinished", n.name, ie.Error()) {
						continue
					}
					e.log.Warn("The last line of a file has no line end yet and does not parse yet; it is left unread until it is complete",
						slog.String("source", n.name), slog.String("file", ie.File), slog.Int64("line", ie.Line), slog.String("error", ie.Error()))
				}
			case err != nil:
				return fmt.Errorf("pwlog: source %q: %w", n.name, err)
			default:
				allDone = false
			}
			if n.byFile != nil {
				e.keepByFile(n, rows, states, r.(sources.Partitioned).Counts())
			}
			if len(e.pending[n.index]) > 0 {
				rows = append(rows, e.pending[n.index]...)
				e.pending[n.index] = nil
			}
			for i := range rows {
				rows[i].Time = t
			}
			outputs[n.index] = differential.Consolidate(rows)
			budget -= len(rows)
			if len(states) > 0 {
				advanced[n.name] = states
			}
			moved = moved || len(rows) > 0 || len(states) > 0 || len(e.removed[n.name]) > 0
		}
		if !moved {
			if !allDone {
				continue
			}
			if !streaming || e.ended() {
				break
			}
			// With group commit the last times committed wait for their
			// fsync: write them to the sinks once it is done (within
			// SnapshotInterval), not at the next commit, which a quiet
			// input may never make.
			if len(e.queue) > 0 {
				if err := e.wal.WaitDurable(e.queue[len(e.queue)-1].lsn); err != nil {
					return fmt.Errorf("pwlog: sync log: %w", err)
				}
				if err := e.drain(false); err != nil {
					return err
				}
			}
			// Every source has read what is there: sleep until a streaming
			// source looks again (its poll, or an event in its watched
			// directories), and no sooner than AutocommitDuration after the
			// last commit.
			for {
				now := time.Now()
				var wake time.Time
				for _, n := range e.p.nodes {
					if n.src == nil || !n.streaming {
						continue
					}
					at := nextPoll[n.index]
					if _, ok := n.src.(sources.Notifier); ok && notified {
						at = now
					}
					if e.watched[n.index] {
						if w := e.watch.next(n.index, now); !w.IsZero() && w.Before(at) {
							at = w
						}
					}
					if wake.IsZero() || at.Before(wake) {
						wake = at
					}
				}
				if next := lastCommit.Add(e.cfg.AutocommitDuration); next.After(wake) {
					wake = next
				}
				if !wake.After(now) {
					break
				}
				alive, ch := sleepUntil(ctx, wake, wakeChs)
				if !alive {
					break
				}
				notified = notified || ch >= firstNotify
			}
			if ctx.Err() != nil {
				break
			}
			now := time.Now()
			for _, n := range e.p.nodes {
				if n.src == nil || !n.streaming || !done[n.index] {
					continue
				}
				// take before the poll's test: it clears the event.
				_, notifies := n.src.(sources.Notifier)
				event := notifies && notified || e.watched[n.index] && e.watch.take(n.index, now)
				if event || !nextPoll[n.index].After(now) {
					if err := e.seek(n); err != nil {
						return err
					}
					done[n.index] = false
				}
			}
			notified = false
			continue
		}
		// 2. Operators process the deltas in topological order.
		for _, n := range e.p.nodes {
			if n.op == nil {
				continue
			}
			out, err := step(n, t, outputs)
			if err != nil {
				return fmt.Errorf("pwlog: time %d: %w", t, err)
			}
			outputs[n.index] = out
		}
		// 3. and 4. One durable WAL batch per time.
		w := pendingWrite{time: t, rows: make([][]differential.Update, len(e.sinks))}
		for i, s := range e.sinks {
			w.rows[i] = outputs[s.n.input.index]
			e.stats.outputs += len(w.rows[i])
		}
		lsn, err := e.commit(t, outputs, w.rows, advanced)
		if err != nil {
			return err
		}
		for _, n := range e.p.nodes {
			if n.src != nil {
				e.stats.rows += len(outputs[n.index])
			}
		}
		e.stats.times++
		e.clock = t
		lastCommit = time.Now()
		// 5. Sinks write the rows of T once T is durable.
		w.lsn = lsn
		e.queue = append(e.queue, w)
		if err := e.drain(false); err != nil {
			return err
		}
		if err := e.maybeCompact(false); err != nil {
			return err
		}
		if err := e.bound(); err != nil {
			return err
		}
	}
	if err := e.drain(true); err != nil {
		return err
	}
	msg := "Run finished"
	if streaming {
		msg = "Run stopped: every row read is committed and written to the sinks"
	}
	e.log.Info(msg,
		slog.Int("times", e.stats.times), slog.Int("rows", e.stats.rows),
		slog.Int("output_rows", e.stats.outputs), slog.Uint64("last_time", e.clock),
		slog.Duration("duration", time.Since(start)))
	return nil
}

// step steps operator n at time t over its inputs' deltas in outputs (by
// node) and returns its consolidated output.
func step(n *node, t uint64, outputs [][]differential.Update) ([]differential.Update, error) {
	ins := make([][]differential.Update, len(n.inputs))
	for i, in := range n.inputs {
		ins[i] = outputs[in.index]
	}
	out, err := n.op.Step(t, ins)
	if err == nil {
		err = arrangementErr(n)
	}
	if err != nil {
		return nil, err
	}
	return differential.Consolidate(out), nil
}

// pollInterval is how often streaming source n looks again without an
// event: its PollInterval, or the safety interval when its directories
// are watched.
func (e *engine) pollInterval(n *node) time.Duration {
	if e.watched != nil && e.watched[n.index] {
		return safetyPoll(n.poll)
	}
	return n.poll
}

// sleepUntil waits until t, until a value on one of wake, or until ctx
// is done, and tells whether ctx is not done and, when a value came, the
// index in wake of its channel (else -1).
func sleepUntil(ctx context.Context, t time.Time, wake []<-chan struct{}) (bool, int) {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil, -1
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	cases := make([]reflect.SelectCase, 0, 2+len(wake))
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)})
	for _, w := range wake {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w)})
	}
	chosen, _, _ := reflect.Select(cases)
	return chosen != 0, chosen - 2
}

// retracting tells whether a seek queued retractions that no commit
// holds yet.
func (e *engine) retracting() bool {
	for _, rows := range e.pending {
		if len(rows) > 0 {
			return true
		}
	}
	return len(e.removed) > 0
}

// ended tells whether every streaming source has ended for good
// (sources.Ender): a source without that notion never ends.
func (e *engine) ended() bool {
	for _, n := range e.p.nodes {
		if n.src == nil || !n.streaming {
			continue
		}
		if en, ok := n.src.(sources.Ender); !ok || !en.Ended() {
			return false
		}
	}
	return true
}

// unfinished returns the last lines a directory source left unread
// because they do not parse yet.
func unfinished(r sources.Reader) []*sources.InputError {
	if u, ok := r.(interface{ Unfinished() []*sources.InputError }); ok {
		return u.Unfinished()
	}
	return nil
}

// checkRows checks the rows a user's connector returned against its
// source's schema.
func checkRows(n *node, rows []differential.Update, states []sources.FileState) error {
	for _, u := range rows {
		if err := n.schema.Check(u.Row); err != nil {
			return fmt.Errorf("%w (%s)", err, partitions(states))
		}
		if u.Diff == 0 {
			return fmt.Errorf("a row with diff 0 (%s)", partitions(states))
		}
	}
	return nil
}

// partitions names the partitions of a batch, for errors.
func partitions(states []sources.FileState) string {
	var names []string
	for _, st := range states {
		names = append(names, fmt.Sprintf("%q at %d", st.Path, st.Offset))
	}
	return "partitions " + strings.Join(names, ", ")
}

// commit appends the batch of time t to the WAL and returns its last LSN:
// the sources' new rows (inputs, by node), the persisted arrangements'
// deltas, the sinks' rows and the commit. Without storage, or read-only,
// it only clears the arrangements' recorded deltas.
func (e *engine) commit(t uint64, inputs, sinkRows [][]differential.Update, advanced map[string][]sources.FileState) (uint64, error) {
	if e.wal == nil || e.keep.readOnly {
		for _, n := range e.p.nodes {
			for _, a := range n.arrangements() {
				a.TakeDeltas()
			}
		}
		for _, s := range e.sinks {
			if s.n.table != nil {
				s.n.table.TakeDeltas()
			}
		}
		e.offsets.Apply(&record.Commit{Sources: advanced, Removed: e.removed})
		e.removed = map[string][]string{}
		return 0, nil
	}
	var recs []wal.Record
	add := func(kind wal.Kind, v any) error {
		r, err := record.Encode(kind, v)
		recs = append(recs, r)
		return err
	}
	if !e.fingerprinted || !e.catalogued {
		if err := add(record.KindPipeline, &record.Pipeline{Lines: e.p.Describe(), Catalog: e.catalog, Changed: e.changed && !e.fingerprinted}); err != nil {
			return 0, err
		}
	}
	state := func(owner string, a *differential.Arrangement) error {
		if e.hold[a] {
			return nil
		}
		d := a.TakeDeltas()
		k := compaction.ArrKey{Operator: owner, Arrangement: a.Name()}
		if d.Len() == 0 || e.arrs[k] != a {
			return nil
		}
		if e.consolidate {
			// A rebuild retracts an arrangement whole and fills it again:
			// log what changed.
			d = checkpoint.SortDeltas(d)
		}
		for lo := 0; lo < d.Len(); {
			hi := chunkEnd(lo, d.Len(), func(i int) int { return len(d.Groups[i]) + len(d.Rows[i]) })
			part := differential.Deltas{Groups: d.Groups[lo:hi], Keys: d.Keys[lo:hi], Rows: d.Rows[lo:hi], Diffs: d.Diffs[lo:hi]}
			if err := add(record.KindState, &record.State{Time: t, Operator: owner, Arrangement: a.Name(), Deltas: part}); err != nil {
				return err
			}
			e.addToFold(k, part, len(recs[len(recs)-1].Data))
			lo = hi
		}
		return nil
	}
	// rows adds the records of one source's or sink's rows (encoded by
	// record.Columns), each of at most recordChunk bytes of rows.
	rows := func(keys []differential.Key, encs []string, diffs []int64, rec func(keys []differential.Key, rows []string, diffs []int64) (wal.Kind, any)) error {
		for lo := 0; lo < len(keys); {
			hi := chunkEnd(lo, len(keys), func(i int) int { return len(encs[i]) })
			if err := add(rec(keys[lo:hi], encs[lo:hi], diffs[lo:hi])); err != nil {
				return err
			}
			lo = hi
		}
		return nil
	}
	for _, n := range e.p.nodes {
		if n.src != nil && len(inputs[n.index]) > 0 {
			keys, encs, diffs := record.Columns(inputs[n.index])
			if n.kept != nil {
				n.kept.UpdateMany(keptGroup(t), keys, encs, diffs)
			}
			err := rows(keys, encs, diffs, func(keys []differential.Key, rows []string, diffs []int64) (wal.Kind, any) {
				return record.KindInput, &record.Input{Time: t, Source: n.name, Keys: keys, Rows: rows, Diffs: diffs}
			})
			if err != nil {
				return 0, err
			}
		}
		for _, a := range n.arrangements() {
			if err := state(n.name, a); err != nil {
				return 0, err
			}
		}
	}
	// A sink's rows change its table: encoded once for both.
	type cols struct {
		keys  []differential.Key
		encs  []string
		diffs []int64
	}
	out := make([]cols, len(e.sinks))
	for i, s := range e.sinks {
		if len(sinkRows[i]) > 0 {
			c := &out[i]
			c.keys, c.encs, c.diffs = record.Columns(sinkRows[i])
			addToTable(s.n.table, c.keys, c.encs, c.diffs)
		}
		if s.n.table != nil {
			if err := state(s.n.name, s.n.table); err != nil {
				return 0, err
			}
		}
	}
	for i, s := range e.sinks {
		if len(sinkRows[i]) == 0 {
			continue
		}
		err := rows(out[i].keys, out[i].encs, out[i].diffs, func(keys []differential.Key, rows []string, diffs []int64) (wal.Kind, any) {
			return record.KindOutput, &record.Output{Time: t, Sink: s.n.name, Keys: keys, Rows: rows, Diffs: diffs}
		})
		if err != nil {
			return 0, err
		}
	}
	c := &record.Commit{Time: t, Sources: advanced}
	if len(e.removed) > 0 {
		c.Removed = e.removed
	}
	if len(e.acks) > 0 {
		c.Acks, e.acks = e.acks, nil
	}
	if err := add(record.KindCommit, c); err != nil {
		return 0, err
	}
	lsn, err := e.wal.Append(recs)
	if err != nil {
		return 0, fmt.Errorf("pwlog: commit time %d: %w", t, err)
	}
	e.fingerprinted, e.catalogued = true, true
	e.offsets.Apply(c)
	e.removed = map[string][]string{}
	return lsn, nil
}

// recordChunk bounds the bytes of rows one input, state or output record
// carries, well below wal.MaxRecordSize: a time that carries more (a
// rebuild, a source read whole) spreads them over several records of the
// same kind, which readers apply in order.
var recordChunk = 8 << 20

// chunkEnd returns the end of the chunk of entries starting at lo: at
// least one entry, and entries until their sizes (size(i), plus a key's
// and a diff's bytes) pass recordChunk.
func chunkEnd(lo, n int, size func(i int) int) int {
	bytes := 0
	hi := lo
	for hi < n && (hi == lo || bytes+size(hi)+16 <= recordChunk) {
		bytes += size(hi) + 16
		hi++
	}
	return hi
}

// drain writes queued times whose batch is durable; all of them, after a
// final fsync, when final is set.
func (e *engine) drain(final bool) error {
	if len(e.queue) == 0 {
		return nil
	}
	durable := ^uint64(0)
	if e.wal != nil && !e.keep.readOnly {
		if final {
			if err := e.wal.Sync(); err != nil {
				return fmt.Errorf("pwlog: sync log: %w", err)
			}
		}
		durable = e.wal.DurableLSN()
	}
	n := 0
	for _, w := range e.queue {
		if w.lsn > durable {
			break
		}
		for i, s := range e.sinks {
			if len(w.rows[i]) == 0 {
				continue
			}
			if err := s.out.Write(w.time, w.rows[i]); err != nil {
				return fmt.Errorf("pwlog: sink %q: %w", s.n.name, err)
			}
		}
		n++
		e.written = w.time
	}
	e.queue = e.queue[n:]
	if n > 0 {
		for _, s := range e.sinks {
			if err := s.out.Flush(); err != nil {
				return fmt.Errorf("pwlog: sink %q: %w", s.n.name, err)
			}
			if s.opened.AckOnWrite && e.wal != nil && e.written > s.ack.Time {
				s.ack = record.SinkAck{Time: e.written}
				if e.acks == nil {
					e.acks = map[string]record.SinkAck{}
				}
				e.acks[s.n.name] = s.ack
			}
		}
	}
	return nil
}

// close finishes the execution: sinks are synced and, after an execution that finished,
// fresh-mode sinks are acknowledged in the log; then the log and the lock
// are released.
func (e *engine) close(finished bool) error {
	var errs []error
	if e.watch != nil {
		if err := e.watch.close(); err != nil {
			e.log.Warn("Closing the streaming sources' watcher", slog.String("error", err.Error()))
		}
		e.watch = nil
	}
	if e.compactCh != nil {
		// A background compaction's error is the execution's error.
		if err := <-e.compactCh; err != nil {
			errs = append(errs, err)
			finished = false
		}
		e.compactCh = nil
	}
	defer e.closeRuns()
	if e.cache != nil {
		cs := e.cache.Stats()
		e.log.Info("Read the checkpoint in place", slog.Int64("block_hits", cs.Hits), slog.Int64("block_misses", cs.Misses),
			slog.Int64("bytes_read", cs.BytesRead), slog.Int64("peak_state_bytes", e.stats.peakState))
	}
	// Acknowledge what each sink's file now durably holds: everything up
	// to the last time written. A fresh-mode file only counts when the execution
	// finished; an append-mode changelog counts even after a failure, so
	// that the log need not keep its rows.
	acks := e.acks
	if acks == nil {
		acks = map[string]record.SinkAck{}
	}
	for _, s := range e.sinks {
		if s.out == nil {
			continue
		}
		err := s.out.Close()
		errs = append(errs, err)
		if err == nil && e.wal != nil && !e.keep.readOnly && (finished || s.opened.Changelog) && e.written > s.ack.Time {
			s.ack = record.SinkAck{Time: e.written, Offset: sinkOffset(s.out)}
			acks[s.n.name] = s.ack
		}
	}
	// A catalog the storage lacks (a source's new directory, or the
	// directories of a storage written before they were recorded) is
	// logged even when the execution committed nothing.
	logCatalog := finished && e.wal != nil && !e.keep.readOnly && e.fingerprinted && !e.catalogued
	if len(acks) > 0 || logCatalog {
		if err := e.appendCommit(&record.Commit{Time: e.clock, Acks: acks}); err != nil {
			errs = append(errs, err)
			finished = false
		}
	}
	// Fold what this execution committed: the next restart loads it instead of
	// replaying the log.
	if e.keep.readOnly {
		// Nothing to write.
	} else if finished && e.wal != nil && errors.Join(errs...) == nil && e.wal.LastLSN() > e.foldedLSN {
		f, err := e.takeFold(e.currentAcks(), true)
		if err == nil {
			err = e.compact(context.Background(), f)
		}
		errs = append(errs, err)
	} else if finished && e.wal != nil && errors.Join(errs...) == nil {
		// Nothing to fold: drop what the checkpoint already holds, and in
		// an object store the empty fence objects earlier executions
		// left (a no-op for a directory's log).
		errs = append(errs, e.wal.TruncateFront(e.foldedLSN+1))
	}
	for _, r := range e.readers {
		if r != nil {
			errs = append(errs, r.Close())
		}
	}
	if e.wal != nil {
		errs = append(errs, e.wal.Close())
	}
	if e.lock != nil {
		errs = append(errs, e.lock.Close())
	}
	return errors.Join(errs...)
}

// sinkOffset is a sink's position for its acknowledgement
// (sources.Offsetter), 0 when it has none.
func sinkOffset(out sources.Sink) int64 {
	if o, ok := out.(sources.Offsetter); ok {
		return o.Offset()
	}
	return 0
}

// appendCommit appends an ack-only commit, after the pipeline record
// when the storage lacks the pipeline's catalog.
func (e *engine) appendCommit(c *record.Commit) error {
	var recs []wal.Record
	if e.fingerprinted && !e.catalogued {
		r, err := record.Encode(record.KindPipeline, &record.Pipeline{Lines: e.p.Describe(), Catalog: e.catalog})
		if err != nil {
			return err
		}
		recs = append(recs, r)
	}
	if len(c.Acks) == 0 {
		c.Acks = nil
	}
	r, err := record.Encode(record.KindCommit, c)
	if err != nil {
		return err
	}
	if _, err := e.wal.Append(append(recs, r)); err != nil {
		return fmt.Errorf("pwlog: commit: %w", err)
	}
	e.catalogued = true
	return nil
}

// keepByFile records the updates a retracting source just read under the
// files they came from: Next returns them in file order and one state per
// file it advanced, in the same order; counts (Reader.Counts) says how
// many came from each. A retraction (a partial line read again) takes its
// row out of the file's group.
func (e *engine) keepByFile(n *node, rows []differential.Update, states []sources.FileState, counts []int) {
	var enc []byte
	var keys []differential.Key
	var encs []string
	var diffs []int64
	i := 0
	for j, st := range states {
		count := counts[j]
		keys, encs, diffs = keys[:0], encs[:0], diffs[:0]
		for _, u := range rows[i:min(i+count, len(rows))] {
			enc = differential.AppendRow(enc[:0], u.Row)
			keys, encs, diffs = append(keys, u.Key), append(encs, string(enc)), append(diffs, u.Diff)
		}
		// One merge per file: a file of many rows is one group, which
		// row-by-row inserts would shift once per row.
		n.byFile.UpdateMany(st.Path, keys, encs, diffs)
		i += count
	}
}
