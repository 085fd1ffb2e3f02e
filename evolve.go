package pwlog

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/operators"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/sources"
)

// What an execution keeps and how it uses its storage (Config.Mode,
// Config.Access, Config.KeepInputs), and its first logical time when it
// rebuilds: after a change of the pipeline, in a mode that does not keep
// operator state, or when it records, replays or re-snapshots a sink
// (ARCHITECTURE.md, section 14).

// Names of the arrangements that keep inputs and sink tables.
const (
	keptArrangement  = "inputs" // a source's rows, by commit time
	tableArrangement = "table"  // a sink's current table, by key bucket
)

// keeping is what an execution keeps in its storage and how it uses it.
type keeping struct {
	// inputs names the sources whose rows are kept; tables is set when
	// the sinks' tables are.
	inputs map[string]bool
	tables bool
	// fresh names the sources read from their start: their stored
	// offsets are not used, and the first time reads them whole.
	fresh map[string]bool
	// opState: the operators' arrangements are persisted (else only UDF
	// caches, in PersistUDFCache).
	opState bool
	// recompute: every operator is rebuilt at the first time.
	recompute bool
	// readOnly: nothing is written to the storage; reset: the first
	// commit replaces what the storage held (AccessRecord).
	readOnly, reset bool
}

// sinkAction is what a sink receives at the execution's first time.
type sinkAction int

const (
	sinkResumes sinkAction = iota // nothing at the first time
	sinkDiff                      // the difference between its new table and its stored one
	sinkFull                      // its whole new table (a record: the file is fresh)
)

// configure checks the modes of cfg against the pipeline and sets what
// the execution keeps: the kept inputs and sink tables it adds to the
// pipeline, and the arrangements it persists (e.arrs).
func (e *engine) configure() error {
	c := e.cfg
	if c.Backend == nil {
		var what []string
		if c.Mode != PersistState {
			what = append(what, "Config.Mode "+c.Mode.String())
		}
		if c.Access != AccessFull {
			what = append(what, "Config.Access "+c.Access.String())
		}
		for _, f := range []struct {
			set  bool
			name string
		}{{c.KeepInputs, "KeepInputs"}, {len(c.Persist) > 0, "Persist"}, {c.StopAfterReplay, "StopAfterReplay"},
			{c.SpeedrunReplay, "SpeedrunReplay"}, {len(c.Resnapshot) > 0, "Resnapshot"}} {
			if f.set {
				what = append(what, "Config."+f.name)
			}
		}
		if len(what) > 0 {
			return fmt.Errorf("pwlog: %s: needs persistent storage (Config.Backend)", strings.Join(what, ", "))
		}
		e.arrs = e.allArrangements()
		return nil
	}
	if c.Mode < PersistState || c.Mode > PersistUDFCache {
		return fmt.Errorf("pwlog: unknown Config.Mode %s", c.Mode)
	}
	if c.Access < AccessFull || c.Access > AccessOffsetsOnly {
		return fmt.Errorf("pwlog: unknown Config.Access %s", c.Access)
	}
	offsetsOnly := c.Access == AccessOffsetsOnly
	switch {
	case offsetsOnly && (c.KeepInputs || c.Mode != PersistState):
		return fmt.Errorf("pwlog: Config.Access offsets-only keeps no input and no state: it goes with Config.Mode state and without KeepInputs (got mode %s, KeepInputs %v)", c.Mode, c.KeepInputs)
	case c.Access == AccessRecord && (c.StopAfterReplay || c.SpeedrunReplay):
		return errors.New("pwlog: Config.Access record starts from nothing: there is nothing to replay (StopAfterReplay, SpeedrunReplay)")
	case len(c.Persist) > 0 && c.Mode != PersistSelective:
		return fmt.Errorf("pwlog: Config.Persist names the sources Config.Mode selective keeps; the mode is %s", c.Mode)
	}
	sourceNames := map[string]bool{}
	for _, n := range e.p.nodes {
		if n.src != nil {
			sourceNames[n.name] = true
		}
	}
	for _, name := range c.Persist {
		if !sourceNames[name] {
			return fmt.Errorf("pwlog: Config.Persist names %q, which is not a source of the pipeline", name)
		}
	}
	for _, name := range c.Resnapshot {
		if !slices.ContainsFunc(e.p.sinks, func(s *sinkNode) bool { return s.name == name }) {
			return fmt.Errorf("pwlog: Config.Resnapshot names %q, which is not a sink of the pipeline", name)
		}
	}
	k := keeping{inputs: map[string]bool{}, fresh: map[string]bool{},
		readOnly: c.Access == AccessReplay || c.StopAfterReplay || c.SpeedrunReplay,
		reset:    c.Access == AccessRecord,
		opState:  c.Mode == PersistState && !offsetsOnly && !c.SpeedrunReplay,
	}
	k.recompute = c.Mode != PersistState || c.SpeedrunReplay
	k.tables = !offsetsOnly && (c.KeepInputs || c.Mode != PersistState)
	for _, n := range e.p.nodes {
		if n.src == nil {
			continue
		}
		persisted := c.Mode == PersistInputs || c.Mode == PersistState && c.KeepInputs ||
			c.Mode == PersistSelective && slices.Contains(c.Persist, n.name)
		// A replay that stops or a speedrun reads no source.
		k.fresh[n.name] = !c.StopAfterReplay && !c.SpeedrunReplay &&
			(k.reset || c.Mode == PersistUDFCache || c.Mode == PersistSelective && !persisted)
		k.inputs[n.name] = persisted && !offsetsOnly
		if k.inputs[n.name] {
			n.kept = differential.NewArrangement(keptArrangement, nil)
			n.kept.SetColumns(differential.Columns{Group: []string{"time"}, Row: n.schema.Names()})
		}
	}
	if c.SpeedrunReplay {
		for _, n := range e.p.nodes {
			if n.src != nil && !k.inputs[n.name] {
				return fmt.Errorf("pwlog: Config.SpeedrunReplay feeds the kept inputs again, but source %q keeps none: it needs KeepInputs, or Config.Mode inputs", n.name)
			}
		}
	}
	if k.tables {
		for _, s := range e.p.sinks {
			s.table = differential.NewArrangement(tableArrangement, nil)
			s.table.SetColumns(differential.Columns{Group: []string{"bucket"}, Row: s.input.schema.Names()})
		}
	}
	e.keep = k
	e.arrs = map[compaction.ArrKey]*differential.Arrangement{}
	for _, n := range e.p.nodes {
		for _, a := range n.arrangements() {
			if e.persists(n, a) {
				e.arrs[compaction.ArrKey{Operator: n.name, Arrangement: a.Name()}] = a
			}
		}
	}
	for _, s := range e.p.sinks {
		if s.table != nil {
			e.arrs[compaction.ArrKey{Operator: s.name, Arrangement: tableArrangement}] = s.table
		}
	}
	return nil
}

// persists tells whether the execution keeps arrangement a of node n in
// its storage.
func (e *engine) persists(n *node, a *differential.Arrangement) bool {
	k := e.keep
	switch {
	case e.cfg.Access == AccessOffsetsOnly:
		return false
	case n.src != nil && a == n.kept:
		return true
	case n.src != nil:
		// A retracting source's rows by file, unless it reads from its
		// start at every execution.
		return !e.cfg.SpeedrunReplay && (!k.fresh[n.name] || k.reset)
	case k.opState:
		return true
	}
	// The results of cached UDFs are kept in every mode.
	return isUDFCache(a)
}

// isUDFCache tells whether an arrangement is the cache of a cached UDF.
func isUDFCache(a *differential.Arrangement) bool {
	return strings.HasPrefix(a.Name(), operators.UDFCachePrefix)
}

// allArrangements indexes every arrangement of the pipeline.
func (e *engine) allArrangements() map[compaction.ArrKey]*differential.Arrangement {
	arrs := map[compaction.ArrKey]*differential.Arrangement{}
	for _, n := range e.p.nodes {
		for _, a := range n.arrangements() {
			arrs[compaction.ArrKey{Operator: n.name, Arrangement: a.Name()}] = a
		}
	}
	return arrs
}

// plan compares what the storage holds (st, after the replay) with the
// pipeline and the modes, node by node, and decides the first time:
// which operators are rebuilt (e.rebuild) and what each sink receives.
// It refuses, before anything is written, a change that cannot be
// rebuilt.
func (e *engine) plan(st *storage.State) error {
	k := e.keep
	history := st.Fingerprint != nil
	stored := map[string]string{} // "source NAME" or "operator NAME" -> line
	for _, l := range st.Fingerprint {
		stored[lineName(l, e.p)] = l
	}
	now := e.p.Describe()
	e.changed = history && !slices.Equal(st.Fingerprint, now)
	e.fingerprinted = history && !e.changed
	// Every node's line: sources must not change; operators that changed
	// are rebuilt.
	changed := map[*node]bool{}
	newNode := map[*node]bool{}
	i := 0
	for _, n := range e.p.nodes {
		if n.src == nil && n.op == nil {
			continue
		}
		line := now[i]
		i++
		was, ok := stored[lineName(line, e.p)]
		if !history {
			continue
		}
		if !ok {
			newNode[n] = true
		}
		if n.src != nil {
			if ok && was != line {
				return fmt.Errorf("%w: source %q was %q and is now %q: a source's rows cannot be rebuilt; use a new storage for the changed source",
					ErrPipelineChanged, n.name, was, line)
			}
			continue
		}
		if !ok || was != line {
			changed[n] = true
		}
		if k.opState {
			// State that the storage never kept (the mode changed) is
			// rebuilt like a changed operator.
			for _, a := range n.op.Arrangements() {
				if !knows(st.Catalog, n.name, a.Name()) {
					changed[n] = true
				}
			}
		}
	}
	// Kept inputs and sink tables serve a rebuild only when they were kept
	// from the first row: an existing source or sink must have them since
	// then.
	if history {
		for _, n := range e.p.nodes {
			if n.kept != nil && !newNode[n] && !knows(st.Catalog, n.name, keptArrangement) {
				return fmt.Errorf("%w: the storage did not keep the inputs of source %q from its first run, so they cannot serve a rebuild; KeepInputs (-keep-inputs) and the modes that keep inputs must be set from a storage's first run: use a new storage",
					ErrPipelineChanged, n.name)
			}
		}
		for _, s := range e.p.sinks {
			if s.table != nil && storedTable(st, s.name) && !knows(st.Catalog, s.name, tableArrangement) {
				return fmt.Errorf("%w: the storage did not keep the table of sink %q from its first run; KeepInputs (-keep-inputs) and the modes that keep inputs must be set from a storage's first run: use a new storage",
					ErrPipelineChanged, s.name)
			}
		}
	}
	// Sinks: new ones get their table, re-snapshots a fresh file.
	e.acts = make([]sinkAction, len(e.sinks))
	var snapshot []*node
	for i, s := range e.sinks {
		known := storedTable(st, s.n.name)
		switch {
		case k.reset:
			// Recorded from nothing into a fresh file.
			e.acts[i], s.fresh = sinkFull, true
		case e.cfg.SpeedrunReplay:
			s.fresh = true
		case k.readOnly || slices.Contains(e.cfg.Resnapshot, s.n.name) || st.Acks[s.n.name].Resnapshot:
			if s.n.table == nil {
				return fmt.Errorf("pwlog: sink %q: a fresh file with its whole table (a re-snapshot, a replay, StopAfterReplay) needs the sink's table, which the storage keeps with KeepInputs (-keep-inputs) or a mode that keeps inputs", s.n.name)
			}
			// Its table as of the last committed time, written when the
			// sink opens (engine.open); then as any sink.
			s.fresh, s.resnap = true, true
		case history && !known && s.n.table != nil:
			e.acts[i] = sinkDiff
			snapshot = append(snapshot, s.n.input)
		case history && !known:
			if st.Clock > 0 {
				e.log.Warn("A new sink receives the changes from now on, not the table as it stands: that needs KeepInputs (-keep-inputs) from the storage's first run",
					slog.String("sink", s.n.name))
			}
		}
	}
	// The operators rebuilt: all of them when none keeps its state, else
	// the changed ones with what lies downstream of them, and upstream of
	// them and of new sinks the operators that give their inputs.
	e.rebuild = map[*node]bool{}
	if history || k.reset {
		for n := range changed {
			e.downstream(n)
		}
		// A rebuilt operator reads the whole tables of its inputs: the
		// operators above it are rebuilt too.
		for _, n := range slices.Collect(maps.Keys(e.rebuild)) {
			e.upstream(n)
		}
		for _, n := range snapshot {
			e.upstream(n)
		}
		if k.recompute || k.reset {
			for _, n := range e.p.nodes {
				if n.op != nil {
					e.rebuild[n] = true
				}
			}
		}
	}
	if !k.opState && !k.recompute && !k.reset || e.cfg.StopAfterReplay {
		// Offsets only: the operators start from nothing. A replay that
		// stops writes the stored tables and runs nothing.
		e.rebuild = map[*node]bool{}
	}
	// A rebuild reads every row its sources gave: kept, read again now
	// (a source read from its start), or none yet (a new source).
	for n := range e.rebuild {
		for _, in := range n.inputs {
			if in.src == nil || k.inputs[in.name] || k.fresh[in.name] || newNode[in] {
				continue
			}
			why := fmt.Sprintf("operator %q is rebuilt (%s)", n.name, e.why())
			if changed[n] {
				why = fmt.Sprintf("%s: operator %q changed", storage.FingerprintDiff(st.Fingerprint, now), n.name)
			}
			return fmt.Errorf("%w: %s, and rebuilding it needs every row source %q gave, which the storage does not keep; run with Config.KeepInputs (-keep-inputs in the examples) from a storage's first run to change a pipeline in place, or use a new storage",
				ErrPipelineChanged, why, in.name)
		}
	}
	for i, s := range e.sinks {
		if e.acts[i] == sinkResumes && (e.rebuild[s.n.input] || s.n.input.src != nil && k.fresh[s.n.input.name] && history) {
			e.acts[i] = sinkDiff
		}
		if e.acts[i] == sinkDiff && s.n.table == nil {
			// A sink below a rebuilt operator in a storage without
			// tables: cannot happen, the sources would not be kept.
			return fmt.Errorf("pwlog: sink %q: its input is rebuilt, but the storage keeps no table of it", s.n.name)
		}
	}
	// State the pipeline no longer keeps leaves at the next compaction.
	for key := range st.Entries {
		if e.arrs[key] == nil {
			e.drop[key] = true
		}
	}
	if m := st.Manifest; m != nil {
		for _, r := range m.Runs {
			if key := (compaction.ArrKey{Operator: r.Operator, Arrangement: r.Arrangement}); e.arrs[key] == nil {
				e.drop[key] = true
			}
		}
	}
	e.first = e.changed && !k.readOnly || k.reset || len(e.rebuild) > 0 || slices.ContainsFunc(e.acts, func(a sinkAction) bool { return a != sinkResumes })
	if e.cfg.StopAfterReplay || e.cfg.SpeedrunReplay {
		e.first = false
	}
	if e.changed && !k.readOnly {
		e.log.Info("The pipeline changed; the operators it affects are rebuilt from the storage",
			slog.String("change", storage.FingerprintDiff(st.Fingerprint, now)), slog.Int("rebuilt", len(e.rebuild)))
	}
	return nil
}

// storedTable tells whether a storage with history knows a source or
// sink by its name; one written before catalogs knows every one.
func storedTable(st *storage.State, name string) bool {
	if st.Fingerprint == nil {
		return false
	}
	if st.Catalog == nil || st.Catalog.Tables == nil {
		return true
	}
	_, ok := st.Catalog.Tables[name]
	return ok
}

// why names the modes that rebuild every operator.
func (e *engine) why() string {
	switch {
	case e.keep.reset:
		return "Config.Access record"
	case e.cfg.Access == AccessReplay:
		return "a replay in Config.Mode " + e.cfg.Mode.String()
	}
	return "Config.Mode " + e.cfg.Mode.String()
}

// knows tells whether a stored catalog names an arrangement.
func knows(c *record.Catalog, operator, arrangement string) bool {
	if c == nil || c.Arrangements == nil {
		return false
	}
	_, ok := c.Arrangements[record.ArrangementKey(operator, arrangement)]
	return ok
}

// lineName returns the node a fingerprint line describes: "source NAME"
// or "operator NAME", matched against p's node names (a name may hold
// ": "); a line of no node of p gives its text up to the first ": ".
func lineName(line string, p *Pipeline) string {
	for _, kind := range []string{"source ", "operator "} {
		rest, ok := strings.CutPrefix(line, kind)
		if !ok {
			continue
		}
		best := ""
		for _, n := range p.nodes {
			if strings.HasPrefix(rest, n.name+": ") && len(n.name) > len(best) {
				best = n.name
			}
		}
		if best != "" {
			return kind + best
		}
		name, _, _ := strings.Cut(rest, ": ")
		return kind + name
	}
	return line
}

// downstream marks n and the operators that read it, transitively, for
// a rebuild.
func (e *engine) downstream(n *node) {
	if n.op != nil {
		e.rebuild[n] = true
	}
	for _, o := range e.p.nodes {
		if o.op != nil && !e.rebuild[o] && slices.Contains(o.inputs, n) {
			e.downstream(o)
		}
	}
}

// upstream marks n and the operators it reads, transitively, for a
// rebuild.
func (e *engine) upstream(n *node) {
	if n.op == nil {
		return
	}
	e.rebuild[n] = true
	for _, in := range n.inputs {
		e.upstream(in)
	}
}

// firstTime commits the execution's first logical time when plan asked
// for one: the rebuilt operators' old state retracted and their new state
// computed from the kept inputs (and from the sources read from their
// start, read whole now), and what each sink receives. A read-only
// execution writes the sinks' tables as of the last committed time and
// commits nothing.
func (e *engine) firstTime() error {
	if !e.first {
		return nil
	}
	k := e.keep
	t := e.nextTime()
	// The seek's retractions belong to the loop's first time.
	seekRemoved := e.removed
	e.removed = map[string][]string{}
	defer func() { e.removed = seekRemoved }()
	if k.reset {
		for _, a := range e.arrs {
			if isUDFCache(a) {
				continue
			}
			if err := clearArrangement(a); err != nil {
				return err
			}
		}
		for name, files := range e.storedOffsets {
			e.removed[name] = slices.Sorted(maps.Keys(files))
		}
	} else {
		for n := range e.rebuild {
			for _, a := range n.op.Arrangements() {
				if isUDFCache(a) {
					// A cache, not state: its results still hold.
					continue
				}
				if err := clearArrangement(a); err != nil {
					return err
				}
			}
		}
	}
	feed := make([][]differential.Update, len(e.p.nodes))
	fed := make([]bool, len(e.p.nodes))
	inputs := make([][]differential.Update, len(e.p.nodes))
	advanced := map[string][]sources.FileState{}
	needs := map[*node]bool{}
	for n := range e.rebuild {
		for _, in := range n.inputs {
			needs[in] = true
		}
	}
	for i, s := range e.sinks {
		if e.acts[i] != sinkResumes {
			needs[s.n.input] = true
		}
	}
	for _, n := range e.p.nodes {
		switch {
		case n.src == nil:
		case k.fresh[n.name]:
			rows, states, err := e.readAll(n)
			if err != nil {
				return err
			}
			for i := range rows {
				rows[i].Time = t
			}
			rows = differential.Consolidate(rows)
			feed[n.index], fed[n.index] = rows, true
			if k.reset {
				// New input of the recording. Otherwise rows read again:
				// not logged twice.
				inputs[n.index] = rows
			}
			if len(states) > 0 {
				advanced[n.name] = states
			}
		case n.kept != nil && needs[n]:
			rows, err := keptTable(n)
			if err != nil {
				return err
			}
			feed[n.index], fed[n.index] = rows, true
		}
	}
	for _, n := range e.p.nodes {
		if n.op == nil || !e.rebuild[n] {
			continue
		}
		out, err := step(n, t, feed)
		if err != nil {
			return fmt.Errorf("pwlog: rebuild at time %d: %w", t, err)
		}
		feed[n.index], fed[n.index] = out, true
	}
	w := pendingWrite{time: t, rows: make([][]differential.Update, len(e.sinks))}
	for i, s := range e.sinks {
		if e.acts[i] == sinkResumes {
			continue
		}
		if !fed[s.n.input.index] {
			return fmt.Errorf("pwlog: sink %q: its input %q was not rebuilt", s.n.name, s.n.input.name)
		}
		old, err := tableRows(s.n)
		if err != nil {
			return err
		}
		now := feed[s.n.input.index]
		diff := make([]differential.Update, 0, len(now)+len(old))
		for _, u := range now {
			u.Time = t
			diff = append(diff, u)
		}
		for _, u := range old {
			u.Time, u.Diff = t, -u.Diff
			diff = append(diff, u)
		}
		diff = differential.Consolidate(diff)
		// The commit applies the rows to the sink's table: the difference,
		// or after a record's clearing the whole new table.
		w.rows[i] = diff
		if e.acts[i] == sinkFull {
			w.rows[i] = now
		}
	}
	for _, rows := range w.rows {
		for i := range rows {
			rows[i].Time = t
		}
	}
	if k.readOnly {
		e.queue = append(e.queue, w)
		e.clock = t
		return e.drain(true)
	}
	// A seek's retractions (a retracting source's changed files) are
	// committed by the loop's first time, with the files' removal from
	// the offsets: so are their rows' removal from by_file.
	e.hold = map[*differential.Arrangement]bool{}
	for _, n := range e.p.nodes {
		if n.byFile != nil && !k.fresh[n.name] {
			e.hold[n.byFile] = true
		}
	}
	changes := func(a *differential.Arrangement) bool { return !e.hold[a] && a.HasDeltas() }
	if !e.changed && !k.reset && !slices.ContainsFunc(w.rows, func(r []differential.Update) bool { return len(r) > 0 }) &&
		!slices.ContainsFunc(slices.Collect(maps.Values(e.arrs)), changes) {
		// Rebuilt as it was (a restart of a mode that recomputes): nothing
		// to commit. The operators' changes are not kept; the positions
		// of the sources read again are the execution's.
		e.offsets.Apply(&record.Commit{Sources: advanced})
		for _, n := range e.p.nodes {
			for _, a := range n.arrangements() {
				if !e.hold[a] {
					a.TakeDeltas()
				}
			}
		}
		for _, s := range e.sinks {
			if s.n.table != nil {
				s.n.table.TakeDeltas()
			}
		}
		e.hold = nil
		return nil
	}
	e.consolidate = true
	lsn, err := e.commit(t, inputs, w.rows, advanced)
	e.consolidate, e.hold = false, nil
	if err != nil {
		return err
	}
	e.stats.times++
	e.clock = t
	w.lsn = lsn
	e.queue = append(e.queue, w)
	rebuilt := make([]string, 0, len(e.rebuild))
	for n := range e.rebuild {
		rebuilt = append(rebuilt, n.name)
	}
	slices.Sort(rebuilt)
	e.log.Info("Committed the first time: rebuilt operators and sink differences",
		slog.Uint64("time", t), slog.Any("rebuilt", rebuilt), slog.Bool("record", k.reset))
	return e.drain(false)
}

// readAll reads a source to its end now.
func (e *engine) readAll(n *node) ([]differential.Update, []sources.FileState, error) {
	r := e.readers[n.index]
	var rows []differential.Update
	var states []sources.FileState
	for {
		rs, sts, err := r.Next(e.cfg.BatchRows)
		if err == nil && n.checked {
			err = checkRows(n, rs, sts)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("pwlog: source %q: %w", n.name, err)
		}
		if n.byFile != nil {
			e.keepByFile(n, rs, sts, r.(sources.Partitioned).Counts())
		}
		rows = append(rows, rs...)
		states = append(states, sts...)
		if err != nil {
			return rows, states, nil
		}
	}
}

// clearArrangement retracts everything an arrangement holds.
func clearArrangement(a *differential.Arrangement) error {
	d, err := a.Full()
	if err != nil {
		return err
	}
	for i := 0; i < d.Len(); {
		j := i
		for j < d.Len() && d.Groups[j] == d.Groups[i] {
			j++
		}
		diffs := make([]int64, j-i)
		for x := range diffs {
			diffs[x] = -d.Diffs[i+x]
		}
		a.UpdateMany(d.Groups[i], slices.Clone(d.Keys[i:j]), slices.Clone(d.Rows[i:j]), diffs)
		i = j
	}
	return a.Err()
}

// keptGroup is the group of the kept inputs of logical time t.
func keptGroup(t uint64) string {
	return string(differential.EncodeRow(differential.Row{differential.Int(int64(t))}))
}

// keptTable returns a source's kept rows, consolidated: its table.
func keptTable(n *node) ([]differential.Update, error) {
	d, err := n.kept.Full()
	if err != nil {
		return nil, fmt.Errorf("pwlog: kept inputs of source %q: %w", n.name, err)
	}
	us, err := decodeDeltas(d, len(n.schema))
	if err != nil {
		return nil, fmt.Errorf("pwlog: kept inputs of source %q: %w", n.name, err)
	}
	return differential.Consolidate(us), nil
}

// keptTimes returns a source's kept rows by the logical time that
// committed them.
func keptTimes(n *node) (map[uint64][]differential.Update, error) {
	d, err := n.kept.Full()
	if err != nil {
		return nil, fmt.Errorf("pwlog: kept inputs of source %q: %w", n.name, err)
	}
	out := map[uint64][]differential.Update{}
	for i := 0; i < d.Len(); i++ {
		g, err := differential.DecodeRow(nil, []byte(d.Groups[i]))
		if err != nil || len(g) != 1 {
			return nil, fmt.Errorf("pwlog: kept inputs of source %q: a group that is not a time", n.name)
		}
		row, err := differential.DecodeRow(make(differential.Row, 0, len(n.schema)), []byte(d.Rows[i]))
		if err != nil {
			return nil, fmt.Errorf("pwlog: kept inputs of source %q: %w", n.name, err)
		}
		t := uint64(g[0].AsInt())
		out[t] = append(out[t], differential.Update{Key: d.Keys[i], Row: row, Diff: d.Diffs[i], Time: t})
	}
	return out, nil
}

// tableGroup is the group of a sink table's row of key k: a bucket of
// keys, so that a group holds a few rows.
func tableGroup(k differential.Key) string {
	return string(differential.EncodeRow(differential.Row{differential.Int(int64(uint64(k) >> 48))}))
}

// addToTable applies a sink's rows, encoded, to its table.
func addToTable(a *differential.Arrangement, keys []differential.Key, encs []string, diffs []int64) {
	if a == nil || len(keys) == 0 {
		return
	}
	byGroup := map[string][]int{}
	for i, k := range keys {
		g := tableGroup(k)
		byGroup[g] = append(byGroup[g], i)
	}
	for _, g := range slices.Sorted(maps.Keys(byGroup)) {
		idx := byGroup[g]
		ks, es, ds := make([]differential.Key, len(idx)), make([]string, len(idx)), make([]int64, len(idx))
		for j, i := range idx {
			ks[j], es[j], ds[j] = keys[i], encs[i], diffs[i]
		}
		a.UpdateMany(g, ks, es, ds)
	}
}

// tableRows returns a sink's stored table.
func tableRows(s *sinkNode) ([]differential.Update, error) {
	if s.table == nil {
		return nil, nil
	}
	d, err := s.table.Full()
	if err != nil {
		return nil, fmt.Errorf("pwlog: table of sink %q: %w", s.name, err)
	}
	us, err := decodeDeltas(d, len(s.input.schema))
	if err != nil {
		return nil, fmt.Errorf("pwlog: table of sink %q: %w", s.name, err)
	}
	return differential.Consolidate(us), nil
}

// decodeDeltas decodes the rows of an arrangement's entries.
func decodeDeltas(d differential.Deltas, cols int) ([]differential.Update, error) {
	us := make([]differential.Update, d.Len())
	for i := range us {
		row, err := differential.DecodeRow(make(differential.Row, 0, cols), []byte(d.Rows[i]))
		if err != nil {
			return nil, err
		}
		us[i] = differential.Update{Key: d.Keys[i], Row: row, Diff: d.Diffs[i]}
	}
	return us, nil
}

// speedrun feeds the kept inputs again, time by time as they were
// committed, through operators that start from nothing, and writes what
// each sink receives at those times (Config.SpeedrunReplay).
func (e *engine) speedrun() error {
	byTime := map[uint64]map[int][]differential.Update{}
	for _, n := range e.p.nodes {
		if n.src == nil {
			continue
		}
		ts, err := keptTimes(n)
		if err != nil {
			return err
		}
		for t, rows := range ts {
			if byTime[t] == nil {
				byTime[t] = map[int][]differential.Update{}
			}
			byTime[t][n.index] = rows
		}
	}
	outputs := make([][]differential.Update, len(e.p.nodes))
	for _, t := range slices.Sorted(maps.Keys(byTime)) {
		for _, n := range e.p.nodes {
			switch {
			case n.src != nil:
				outputs[n.index] = differential.Consolidate(byTime[t][n.index])
			case n.op != nil:
				out, err := step(n, t, outputs)
				if err != nil {
					return fmt.Errorf("pwlog: speedrun replay of time %d: %w", t, err)
				}
				for _, a := range n.op.Arrangements() {
					a.TakeDeltas()
				}
				outputs[n.index] = out
			}
		}
		w := pendingWrite{time: t, rows: make([][]differential.Update, len(e.sinks))}
		for i, s := range e.sinks {
			w.rows[i] = outputs[s.n.input.index]
		}
		e.queue = append(e.queue, w)
		if err := e.drain(true); err != nil {
			return err
		}
		e.stats.times++
	}
	e.log.Info("Replayed the kept inputs time by time", slog.Int("times", len(byTime)))
	return nil
}
