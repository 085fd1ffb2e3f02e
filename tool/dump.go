package tool

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/location"
	"github.com/pwlog/pwlog/internal/storage"
	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/wal"
)

// DumpOptions select the records Dump delivers; zero fields select all.
type DumpOptions struct {
	ReadOptions
	// FromLSN and ToLSN bound the records' LSNs, inclusive; ToLSN 0 is no
	// bound.
	FromLSN, ToLSN uint64
	// FromTime and ToTime bound the records' logical times, inclusive;
	// ToTime 0 is no bound. A pipeline record carries no time: a time
	// bound leaves it out.
	FromTime, ToTime uint64
	// Kinds keeps only records of these kinds.
	Kinds []wal.Kind
	// Sources, Operators and Sinks keep only records of these sources
	// (input records, the state records of a retracting source, and
	// commits that advanced them), operators (state records) and sinks
	// (output records, and commits that acknowledged them). Given several,
	// a record naming any of them is kept. A name the storage does not
	// know fails Dump with an *UnknownNameError.
	Sources, Operators, Sinks []string
	// Checkpoint also delivers, before the log's records, the entries of
	// the live checkpoint's runs: one DumpEntry of kind KindRun per group
	// of each run.
	// The LSN, time and kind filters do not apply to runs; the source and
	// operator filters do.
	Checkpoint bool
}

// DumpEntry is one log record as Dump delivers it.
type DumpEntry struct {
	LSN  uint64 `json:"lsn,omitempty"` // 0 for a checkpoint run
	Kind string `json:"kind"`
	// Committed is false for a record after the last commit: the next execution
	// cuts it.
	Committed bool   `json:"committed"`
	File      string `json:"file"`
	Offset    int64  `json:"offset"`
	Time      uint64 `json:"time,omitempty"`
	// Source, Operator and Arrangement, or Sink, name what the record
	// belongs to.
	Source      string `json:"source,omitempty"`
	Operator    string `json:"operator,omitempty"`
	Arrangement string `json:"arrangement,omitempty"`
	Sink        string `json:"sink,omitempty"`
	// Rows are the decoded rows of an input, state or output record.
	Rows []DumpRow `json:"rows,omitempty"`
	// Commit is the body of a commit record, Pipeline of a pipeline record.
	Commit   *record.Commit   `json:"commit,omitempty"`
	Pipeline *record.Pipeline `json:"pipeline,omitempty"`
	// Error says why the record's body does not decode.
	Error string `json:"error,omitempty"`
}

// DumpRow is one row of a record: its values named by the catalog (c0,
// c1, ... where it has no names), and for a state record its group.
type DumpRow struct {
	Group  Fields           `json:"group,omitempty"`
	Key    differential.Key `json:"key"`
	Values Fields           `json:"values"`
	Diff   int64            `json:"diff"`
}

// Field is a named value.
type Field struct {
	Name  string
	Value differential.Value
}

// Fields are named values in order; they marshal to a JSON object whose
// keys keep that order.
type Fields []Field

// MarshalJSON implements json.Marshaler.
func (fs Fields) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		k, _ := json.Marshal(f.Name)
		b = append(append(b, k...), ':')
		v, err := valueJSON(f.Value)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

// valueJSON encodes a value as the JSON value of its kind; a float that
// JSON cannot hold (NaN, ±Inf) is a string, a tuple an array.
func valueJSON(v differential.Value) ([]byte, error) {
	switch v.Kind {
	case differential.KindNull:
		return []byte("null"), nil
	case differential.KindBool:
		return json.Marshal(v.AsBool())
	case differential.KindInt:
		return json.Marshal(v.AsInt())
	case differential.KindFloat:
		if f := v.AsFloat(); !math.IsNaN(f) && !math.IsInf(f, 0) {
			return json.Marshal(f)
		}
		return json.Marshal(v.String())
	case differential.KindBytes:
		return json.Marshal([]byte(v.S))
	case differential.KindTuple:
		elems, err := v.Elems()
		if err != nil {
			return nil, err
		}
		b := []byte{'['}
		for i, e := range elems {
			if i > 0 {
				b = append(b, ',')
			}
			j, err := valueJSON(e)
			if err != nil {
				return nil, err
			}
			b = append(b, j...)
		}
		return append(b, ']'), nil
	}
	return json.Marshal(v.S)
}

// DumpSummary says what Dump read.
type DumpSummary struct {
	// Records counts the records of the log, whatever the filters;
	// Delivered counts the entries fn received, checkpoint runs included.
	Records   int `json:"records"`
	Delivered int `json:"delivered"`
	// Manifest is the live checkpoint's manifest, "" when there is none;
	// ManifestLSN the last log record folded into it.
	Manifest    string `json:"manifest,omitempty"`
	ManifestLSN uint64 `json:"manifest_lsn,omitempty"`
	// unfolded counts the records of the log after ManifestLSN.
	unfolded int
}

// Folded reports whether the log holds nothing after its checkpoint
// because everything was folded into it, as after an execution that
// finished: its records are gone (a log in an object store keeps its
// last object, whose records are folded too), its state is in the
// checkpoint's runs (DumpOptions.Checkpoint).
func (s DumpSummary) Folded() bool { return s.unfolded == 0 && s.Manifest != "" }

// Dump delivers the log records of the storage in dir (a directory or a
// storage URL, see ReadOptions.Backend) to fn, in LSN order,
// decoded, without changing the storage, and says what it read. It fails
// when dir is not a pwlog storage this build reads (a *MarkerError when
// its format marker is damaged), on a read error, on damage that ends the
// log early (a *wal.CorruptError, after fn has seen the records before
// it), on a damaged manifest (a *checkpoint.CorruptError, after fn has
// seen the log's records, their columns unnamed unless the log names
// them), and with an *UnknownNameError when a source, operator or sink of
// the options is not one the storage knows (after the scan: fn has seen
// the records of the names it knows). A record whose body does not
// decode is delivered with Error set.
func Dump(ctx context.Context, dir string, opts *DumpOptions, fn func(*DumpEntry) error) (DumpSummary, error) {
	dir = location.LocalPath(dir)
	var sum DumpSummary
	var o DumpOptions
	if opts != nil {
		o = *opts
	}
	o.ReadOptions = o.withDefaults()
	v, err := openView(ctx, o.ReadOptions, dir, false)
	if err != nil {
		return sum, err
	}
	if v.manifest != nil {
		sum.Manifest, sum.ManifestLSN = v.manifestName, v.manifest.LSN
	}
	deliver := func(d *DumpEntry) error {
		sum.Delivered++
		return fn(d)
	}
	known := newKnownNames(v.state)
	cat := v.state.Catalog
	if o.Checkpoint {
		if err := o.dumpRuns(ctx, v, cat, deliver); err != nil {
			return sum, err
		}
	}
	scan, err := v.scanLog(o.Progress, func(e wal.Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		sum.Records++
		if v.manifest == nil || e.LSN > v.manifest.LSN {
			sum.unfolded++
		}
		// Pipeline records are always decoded: they name the columns of
		// the records after them.
		inRange := e.LSN >= o.FromLSN && (o.ToLSN == 0 || e.LSN <= o.ToLSN)
		if e.Kind != record.KindPipeline && (!inRange || len(o.Kinds) > 0 && !slices.Contains(o.Kinds, e.Kind)) {
			return nil
		}
		d := &DumpEntry{LSN: e.LSN, Kind: record.KindName(e.Kind), Committed: e.Committed, File: e.File, Offset: e.Offset}
		rec, err := record.Decode(e.Kind, e.Data)
		if err != nil {
			d.Error = err.Error()
		} else if err := d.fill(rec, cat); err != nil {
			d.Error = err.Error()
		}
		if pr, ok := rec.(*record.Pipeline); ok {
			known.addPipeline(pr)
			if pr.Catalog != nil {
				cat = pr.Catalog
			}
		}
		known.addEntry(d)
		if !inRange || !o.keep(e.Kind, d) {
			return nil
		}
		return deliver(d)
	})
	if err != nil {
		return sum, err
	}
	if len(scan.Problems) > 0 {
		return sum, scan.Problems[0]
	}
	if v.manifestErr != nil {
		// The records were delivered, with the columns the log names.
		return sum, v.manifestErr
	}
	return sum, known.check(dir, &o)
}

// knownNames collects the names of the sources, operators and sinks a
// storage knows: from its catalogs and fingerprints, the checkpoint's
// offsets, acknowledgements and runs, and the records Dump decoded.
type knownNames struct {
	sources, operators, sinks, tables map[string]bool
	// catalog is set when a catalog was seen: without one (a storage
	// written before catalogs), sinks cannot be known for sure and no
	// name is refused.
	catalog bool
}

// newKnownNames returns the names st knows: its manifest's runs, its
// fingerprint and catalog, its offsets and acknowledgements.
func newKnownNames(st *storage.State) *knownNames {
	k := &knownNames{sources: map[string]bool{}, operators: map[string]bool{}, sinks: map[string]bool{}, tables: map[string]bool{}}
	k.addPipeline(&record.Pipeline{Lines: st.Fingerprint, Catalog: st.Catalog})
	for name := range st.Offsets {
		k.sources[name] = true
	}
	for name := range st.Acks {
		k.sinks[name] = true
	}
	if st.Manifest != nil {
		for _, r := range st.Manifest.Runs {
			k.operators[r.Operator] = true
		}
	}
	return k
}

// addPipeline adds the names of a pipeline record: its fingerprint names
// sources and operators ("source NAME: ...", "operator NAME: ..."), its
// catalog's tables are sources and sinks, its arrangements' keys name
// operators (or sources that keep state).
func (k *knownNames) addPipeline(p *record.Pipeline) {
	for _, l := range p.Lines {
		what, rest, _ := strings.Cut(l, " ")
		name, _, ok := strings.Cut(rest, ": ")
		switch {
		case !ok:
		case what == "source":
			k.sources[name] = true
		case what == "operator":
			k.operators[name] = true
		}
	}
	c := p.Catalog
	if c == nil {
		return
	}
	k.catalog = true
	for name := range c.Tables {
		k.tables[name] = true
	}
	for key := range c.Arrangements {
		if i := strings.LastIndexByte(key, '/'); i >= 0 {
			k.operators[key[:i]] = true
		}
	}
}

// addEntry adds the names a decoded record holds.
func (k *knownNames) addEntry(d *DumpEntry) {
	if d.Source != "" {
		k.sources[d.Source] = true
	}
	if d.Operator != "" {
		k.operators[d.Operator] = true
	}
	if d.Sink != "" {
		k.sinks[d.Sink] = true
	}
	if c := d.Commit; c != nil {
		for name := range c.Sources {
			k.sources[name] = true
		}
		for name := range c.Removed {
			k.sources[name] = true
		}
		for name := range c.Acks {
			k.sinks[name] = true
		}
	}
}

// check returns an *UnknownNameError for the first kind of name of o
// (sources, operators, sinks) that names something the storage does not
// know.
func (k *knownNames) check(dir string, o *DumpOptions) error {
	if !k.catalog {
		return nil
	}
	k.tablesAsSinks()
	for _, c := range []struct {
		what  string
		asked []string
		known map[string]bool
	}{{"source", o.Sources, k.sources}, {"operator", o.Operators, k.operators}, {"sink", o.Sinks, k.sinks}} {
		var unknown []string
		for _, name := range c.asked {
			if !c.known[name] && !slices.Contains(unknown, name) {
				unknown = append(unknown, name)
			}
		}
		if len(unknown) > 0 {
			return &UnknownNameError{Dir: dir, What: c.what, Names: unknown, Known: slices.Sorted(maps.Keys(c.known))}
		}
	}
	return nil
}

// tablesAsSinks adds to the sinks the catalog's tables that are not
// sources: a catalog's table is a source's or a sink's, a sink's when no
// fingerprint, offset or record says it is a source.
func (k *knownNames) tablesAsSinks() {
	for name := range k.tables {
		if !k.sources[name] {
			k.sinks[name] = true
		}
	}
}

// keep applies the options' filters to a decoded entry.
func (o *DumpOptions) keep(kind wal.Kind, d *DumpEntry) bool {
	if len(o.Kinds) > 0 && !slices.Contains(o.Kinds, kind) {
		return false
	}
	if o.FromTime > 0 || o.ToTime > 0 {
		if kind == record.KindPipeline || d.Error != "" || d.Time < o.FromTime || (o.ToTime > 0 && d.Time > o.ToTime) {
			return false
		}
	}
	if len(o.Sources)+len(o.Operators)+len(o.Sinks) == 0 {
		return true
	}
	switch {
	case d.Source != "" && slices.Contains(o.Sources, d.Source),
		d.Operator != "" && (slices.Contains(o.Operators, d.Operator) || slices.Contains(o.Sources, d.Operator)),
		d.Sink != "" && slices.Contains(o.Sinks, d.Sink):
		return true
	case d.Commit != nil:
		for _, s := range o.Sources {
			if _, ok := d.Commit.Sources[s]; ok {
				return true
			}
		}
		for _, s := range o.Sinks {
			if _, ok := d.Commit.Acks[s]; ok {
				return true
			}
		}
	}
	return false
}

// fill sets the entry's fields from a decoded record, naming the rows'
// columns from cat (nil: c0, c1, ...).
func (d *DumpEntry) fill(rec any, cat *record.Catalog) error {
	var tables map[string][]string
	var arrs map[string]differential.Columns
	if cat != nil {
		tables, arrs = cat.Tables, cat.Arrangements
	}
	var err error
	switch r := rec.(type) {
	case *record.Commit:
		d.Time, d.Commit = r.Time, r
	case *record.Pipeline:
		d.Pipeline = r
	case *record.Input:
		d.Time, d.Source = r.Time, r.Source
		d.Rows, err = dumpRows(nil, nil, r.Keys, r.Rows, r.Diffs, tables[r.Source])
	case *record.Output:
		d.Time, d.Sink = r.Time, r.Sink
		d.Rows, err = dumpRows(nil, nil, r.Keys, r.Rows, r.Diffs, tables[r.Sink])
	case *record.State:
		d.Time, d.Operator, d.Arrangement = r.Time, r.Operator, r.Arrangement
		d.Rows, err = stateRows(r.Deltas, arrs, r.Operator, r.Arrangement)
	}
	return err
}

// stateRows decodes state deltas of an arrangement, naming their columns
// from arrs; an arrangement arrs does not know has its groups decoded as
// unnamed rows.
func stateRows(d differential.Deltas, arrs map[string]differential.Columns, op, arr string) ([]DumpRow, error) {
	cols, known := arrs[record.ArrangementKey(op, arr)]
	group := cols.Group
	if !known {
		group = []string{}
	}
	return dumpRows(d.Groups, group, d.Keys, d.Rows, d.Diffs, cols.Row)
}

// dumpRows decodes the columns of a record. groups, when not nil, are the
// state groups: encoded rows named by groupCols, or plain text when
// groupCols is nil.
func dumpRows(groups []string, groupCols []string, keys []differential.Key, rows []string, diffs []int64, cols []string) ([]DumpRow, error) {
	out := make([]DumpRow, len(keys))
	for i := range keys {
		r := DumpRow{Key: keys[i], Diff: diffs[i]}
		vals, err := differential.DecodeRow(nil, []byte(rows[i]))
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", i, err)
		}
		r.Values = named(vals, cols)
		if groups != nil {
			if groupCols == nil {
				r.Group = Fields{{Name: "group", Value: differential.String(groups[i])}}
			} else {
				g, err := differential.DecodeRow(nil, []byte(groups[i]))
				if err != nil {
					return nil, fmt.Errorf("row %d: group: %w", i, err)
				}
				r.Group = named(g, groupCols)
			}
		}
		out[i] = r
	}
	return out, nil
}

// named names vals by cols, c<i> past the end of cols.
func named(vals differential.Row, cols []string) Fields {
	fs := make(Fields, len(vals))
	for i, v := range vals {
		name := fmt.Sprintf("c%d", i)
		if i < len(cols) {
			name = cols[i]
		}
		fs[i] = Field{Name: name, Value: v}
	}
	return fs
}

// KindRun is the DumpEntry.Kind of a checkpoint run.
const KindRun = "run"

// dumpRuns delivers the live checkpoint's runs.
func (o *DumpOptions) dumpRuns(ctx context.Context, v *view, cat *record.Catalog, fn func(*DumpEntry) error) error {
	if v.manifestErr != nil {
		return v.manifestErr
	}
	if v.manifest == nil {
		return nil
	}
	var arrs map[string]differential.Columns
	if cat != nil {
		arrs = cat.Arrangements
	}
	for _, r := range v.manifest.Runs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(o.Sources)+len(o.Operators)+len(o.Sinks) > 0 && !slices.Contains(o.Operators, r.Operator) && !slices.Contains(o.Sources, r.Operator) {
			continue
		}
		p := v.cpPath(r.Name)
		entry := func() *DumpEntry {
			return &DumpEntry{Kind: KindRun, Committed: true, File: p, Operator: r.Operator, Arrangement: r.Arrangement}
		}
		b, err := v.readCheckpoint(r.Name)
		if err != nil {
			return fmt.Errorf("pwlog: %w", err)
		}
		_, deltas, err := checkpoint.DecodeRun(p, b)
		if err != nil {
			d := entry()
			d.Error = err.Error()
			if err := fn(d); err != nil {
				return err
			}
			continue
		}
		// One entry per group: a run of a large state is millions of
		// entries, and a group is what an operator reads at once.
		for i := 0; i < deltas.Len(); {
			j := i + 1
			for j < deltas.Len() && deltas.Groups[j] == deltas.Groups[i] {
				j++
			}
			part := differential.Deltas{Groups: deltas.Groups[i:j], Keys: deltas.Keys[i:j], Rows: deltas.Rows[i:j], Diffs: deltas.Diffs[i:j]}
			d := entry()
			if d.Rows, err = stateRows(part, arrs, r.Operator, r.Arrangement); err != nil {
				d.Error = err.Error()
			}
			if err := fn(d); err != nil {
				return err
			}
			i = j
		}
	}
	return nil
}
