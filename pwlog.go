// Package pwlog makes incremental dataflow pipelines persistent.
//
// A Pipeline reads sources (CSV directories), runs operators over them
// (session windows, groupby-reduce) and writes sinks whose rows carry a
// logical time and a diff (+1 insert, -1 retract). With a Backend in its
// Config, an execution (one call of Run) appends every input event, every
// operator state delta and every sink output of a logical time to a
// write-ahead log, followed by a commit record holding the sources'
// offsets, and makes that batch durable before any sink sees it. The
// next execution rebuilds the operators' state from the checkpoint and
// the log without recomputing, skips the input already read, and emits
// only the new deltas; one killed at any moment loses nothing committed
// and, in append mode, emits nothing twice.
//
// The storage directory's layout is drawn in internal/base; the tools
// that inspect, dump, verify and compact it are in package tool;
// ARCHITECTURE.md at the repository's root maps the code.
package pwlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/operators"
	"github.com/pwlog/pwlog/sources"
	"github.com/pwlog/pwlog/vfs"
)

// Schema, Column and the column types, re-exported from package
// differential for pipeline authors.
type (
	Schema = differential.Schema
	Column = differential.Column
)

// Column types of a Schema.
const (
	TypeStr   = differential.KindString
	TypeInt   = differential.KindInt
	TypeFloat = differential.KindFloat
	TypeBool  = differential.KindBool
)

// Expressions for Reduce outputs, re-exported from package operators.
var (
	Col   = operators.Col
	Min   = operators.Min
	Max   = operators.Max
	Sum   = operators.Sum
	Count = operators.Count
	Add   = operators.Add
	Sub   = operators.Sub
	Mul   = operators.Mul
)

// Update is a row with its key, logical time and diff (+1 insert, -1
// retract), as sinks receive it; Row is its values (differential.Int,
// differential.String, ... make them).
type (
	Update = differential.Update
	Row    = differential.Row
	Value  = differential.Value
	Kind   = differential.Kind
)

// Expr computes a Reduce output column.
type Expr = operators.Expr

// Output is one named output column of a Reduce.
type Output = operators.Output

// Out names an output column.
func Out(name string, e Expr) Output { return Output{Name: name, Expr: e} }

// Pipeline is a dataflow graph under construction. Building methods record
// the first error, which Run returns; a Pipeline runs once per process
// lifetime of its state (call Run again on a new Pipeline to continue).
type Pipeline struct {
	nodes   []*node
	sinks   []*sinkNode
	names   map[string]string // persistent name -> what uses it
	err     error
	started bool
}

// node is a source or an operator.
type node struct {
	name   string
	schema differential.Schema
	// inputs are an operator's input nodes, in the order its Step takes
	// their deltas.
	inputs []*node
	src    sources.Source
	// kind describes a source in the fingerprint: "csv", "jsonlines",
	// "feed", or a user connector's description.
	kind string
	// checked is set for a source whose rows the engine checks against
	// the schema: a user's connector.
	checked bool
	// byFile, for a source that retracts changed files (retract), holds
	// the rows each file contributed: file path -> rows.
	byFile  *differential.Arrangement
	retract bool
	// kept, for a source whose inputs the execution keeps
	// (Config.KeepInputs and the modes that keep inputs), holds every
	// row it committed: commit time -> rows (evolve.go).
	kept  *differential.Arrangement
	op    operators.Operator
	index int
	// srcDir is a directory source's directory as given; dir is the
	// same, absolute, its symbolic links resolved. ext is the file name
	// suffix it reads (".csv"). All empty for other sources.
	srcDir, dir, ext string
	// moved accepts a source directory other than the stored one
	// (FileOptions.Moved).
	moved bool
	// streaming is set for a source that keeps reading (FileOptions.Streaming,
	// ReadOptions.Streaming, a Feed).
	streaming bool
	// poll is a streaming source's PollInterval.
	poll time.Duration
	// pollOnly is FileOptions.Poll: the source polls, unwatched.
	pollOnly bool
	// partialTimeout is a streaming directory source's PartialLineTimeout.
	partialTimeout time.Duration
}

// sinkNode is a sink reading a node.
type sinkNode struct {
	name  string
	input *node
	// out returns the sink's connector for an execution writing files
	// through fsys.
	out func(fsys vfs.FS) sources.Sink
	// path is a file sink's path, append its append mode; "" and false
	// for other sinks.
	path   string
	append bool
	// entry is path absolute, with the symbolic links of its directories
	// resolved: the directory entry the sink opens. file is the file it
	// writes: entry with a link at entry followed too. device is set when
	// file is a device (/dev/null), which several sinks may share.
	entry, file string
	device      bool
	// fresh, for a file sink, returns its connector writing a fresh
	// file, whatever its mode: for a re-snapshot or a replay.
	fresh func(fsys vfs.FS) sources.Sink
	// table, when the execution keeps sink tables, holds the sink's
	// current table (evolve.go).
	table *differential.Arrangement
}

// Table is a stream of updates produced by a source or an operator.
type Table struct {
	p    *Pipeline
	node *node
}

// New returns an empty Pipeline.
func New() *Pipeline { return &Pipeline{names: map[string]string{}} }

// fail records the first error.
func (p *Pipeline) fail(err error) {
	if p.err == nil {
		p.err = err
	}
}

// claim reserves a persistent name; a name used twice is an error.
func (p *Pipeline) claim(name, what string) bool {
	if name == "" {
		p.fail(fmt.Errorf("pwlog: %s needs a persistent name", what))
		return false
	}
	if prev, ok := p.names[name]; ok {
		p.fail(fmt.Errorf("pwlog: name %q is used twice (by %s and %s)", name, prev, what))
		return false
	}
	p.names[name] = what
	return true
}

func (p *Pipeline) add(n *node) *Table {
	n.index = len(p.nodes)
	p.nodes = append(p.nodes, n)
	return &Table{p: p, node: n}
}

// FileOptions tunes a directory source: ReadCSV, ReadJSONLines.
type FileOptions struct {
	// OnBadRow, when set, skips rows that do not parse and reports each
	// one to it; by default a bad row fails the execution.
	OnBadRow func(*sources.InputError)
	// Retract keeps the rows each file contributed in the source's state
	// (and its checkpoints), so that a file rewritten, truncated or deleted
	// after it was read is retracted: its old rows leave the pipeline and
	// a rewritten file is read again. It costs about the input's size in
	// storage and memory. Without it, a changed file fails the execution with a
	// *sources.ChangedFileError and a deleted file's rows stay.
	Retract bool
	// Moved accepts a directory other than the one the storage recorded
	// for the source: its files moved there, with the same names
	// (relative to the directory) and contents, and the source goes on
	// from where it stopped. The execution logs the move and records the
	// new directory. Without it, a restart that reads the source from
	// another directory fails with ErrSourceMoved. The same directory
	// reached by another path (relative, or through a symbolic link) is
	// not a move.
	Moved bool
	// Streaming makes the source keep watching its directory, as
	// Pathway's mode="streaming": at the end of what is there it does not
	// stop the execution but waits for a filesystem event (fsnotify) on a
	// *.csv file or a new directory under its directory, or polls (see
	// Poll), and then reads the files that appeared and the lines
	// appended since. Files rewritten,
	// truncated or deleted while the execution runs are treated as at a
	// restart: with Retract their rows are retracted (and a rewritten file
	// read again) in the next logical time; without it, a changed file
	// stops the execution with a *sources.ChangedFileError and a deleted
	// file's rows stay (logged once). Only complete lines are read: a last
	// line without its line end waits for it, or for the file to be quiet
	// for PartialLineTimeout. A pipeline with a streaming source runs until
	// its context is cancelled, and then returns nil (see Run).
	// Without Streaming the source is static: Run reads what is there and
	// stops.
	Streaming bool
	// PollInterval is how often a streaming source that polls lists its
	// directory and looks at its files once it has read everything.
	// Default 100 ms. A source whose directories are watched still polls,
	// as a safety against a missed event, every 10 PollIntervals (at
	// least 1 s).
	PollInterval time.Duration
	// Poll makes a streaming source poll every PollInterval instead of
	// watching its directories for events: for filesystems that send no
	// events, such as network mounts (NFS, SMB, FUSE). A source also polls,
	// with a warning logged, when its directories cannot be watched (for
	// instance at the inotify watch limit).
	Poll bool
	// PartialLineTimeout is how long a streaming source waits, with the
	// file quiet, before it reads a last line that has no line end yet
	// (as a static source does at once; a line continued afterwards is
	// retracted and read again). Default 3 s; negative: never.
	PartialLineTimeout time.Duration
}

// ReadCSV adds a source that reads every *.csv file of dir and of its
// subdirectories, each with a header line naming the schema's columns.
// name is the source's persistent name: its offsets are stored under it.
// The storage remembers dir (absolute, symbolic links resolved): a restart
// reading the source from another directory is refused with
// ErrSourceMoved unless FileOptions.Moved says its files moved.
// A sink of the pipeline whose file would be one of those is refused
// (see Table.WriteCSV).
func (p *Pipeline) ReadCSV(name, dir string, schema Schema, opts ...FileOptions) *Table {
	src := &sources.CSVDir{Name: name, Dir: dir, Schema: slices.Clone(schema)}
	var o FileOptions
	for _, x := range opts {
		o = x
	}
	src.OnBadRow = o.OnBadRow
	src.Streaming = o.Streaming
	n := p.fileSource(name, dir, ".csv", "csv", schema, src, o)
	src.PartialLineTimeout = n.partialTimeout
	return p.add(n)
}

// ReadJSONLines adds a source that reads every *.jsonl file of dir and of
// its subdirectories: one JSON object a line, whose members named as the
// schema's columns give a row; other members are ignored, null is null,
// and a missing member or a value of another type is bad input
// (sources.JSONLinesDir has the rules). name, the recorded directory,
// the options and the offsets are as for ReadCSV.
func (p *Pipeline) ReadJSONLines(name, dir string, schema Schema, opts ...FileOptions) *Table {
	var o FileOptions
	if len(opts) > 0 {
		o = opts[len(opts)-1]
	}
	src := &sources.JSONLinesDir{Name: name, Dir: dir, Schema: slices.Clone(schema), OnBadRow: o.OnBadRow, Streaming: o.Streaming}
	n := p.fileSource(name, dir, ".jsonl", "jsonlines", schema, src, o)
	src.PartialLineTimeout = n.partialTimeout
	return p.add(n)
}

// fileSource returns the node of a directory source whose files end in
// ext.
func (p *Pipeline) fileSource(name, dir, ext, kind string, schema Schema, src sources.Source, o FileOptions) *node {
	p.claim(name, "source "+dir)
	if len(schema) == 0 {
		p.fail(fmt.Errorf("pwlog: source %q: empty schema", name))
	}
	for _, c := range schema {
		if c.Type == differential.KindTuple {
			p.fail(fmt.Errorf("pwlog: source %q: column %q is a tuple, which a %s file cannot hold; read it as str", name, c.Name, kind))
		}
	}
	n := &node{name: name, schema: slices.Clone(schema), src: src, kind: kind,
		srcDir: dir, dir: resolvePath(dir), ext: ext, moved: o.Moved, streaming: o.Streaming,
		poll: o.PollInterval, pollOnly: o.Poll, partialTimeout: o.PartialLineTimeout}
	if o.Retract {
		n.keepByPartition()
	}
	if n.poll <= 0 {
		n.poll = 100 * time.Millisecond
	}
	if n.partialTimeout == 0 {
		n.partialTimeout = 3 * time.Second
	}
	// A sink added before this source may lie in its directory.
	for _, s := range p.sinks {
		p.checkSinkIn(s, n)
	}
	return n
}

// ReadOptions tunes a source added with Read.
type ReadOptions struct {
	// Streaming: the source keeps reading (see sources.Reader.Next); the
	// pipeline runs until its context is cancelled, or until every
	// streaming source has ended (sources.Ender).
	Streaming bool
	// PollInterval is how often a streaming source is looked at again
	// once it has read everything, when it does not notify
	// (sources.Notifier). Default 100 ms; with a Notifier, 10 times that
	// (at least 1 s), as a safety.
	PollInterval time.Duration
	// Retract keeps the rows each partition contributed, so that a
	// partition the source reports deleted or changed is retracted. Its
	// Reader must be a sources.Partitioned.
	Retract bool
	// Describe is the source's configuration in the pipeline's
	// fingerprint: a restart with another one is refused. Default: the
	// source's Go type.
	Describe string
}

// Read adds a source read through a connector: a user's Source (a
// message queue, a database), or one of package sources. name is the
// source's persistent name. Every row the connector returns must have a
// value of its column's type, or null, for every column of schema: the
// execution fails, naming the source, the column and the partition, on
// one that does not.
func (p *Pipeline) Read(name string, schema Schema, src sources.Source, opts ...ReadOptions) *Table {
	p.claim(name, "source")
	if len(schema) == 0 {
		p.fail(fmt.Errorf("pwlog: source %q: empty schema", name))
	}
	if src == nil {
		p.fail(fmt.Errorf("pwlog: source %q: no connector", name))
	}
	var o ReadOptions
	for _, x := range opts {
		o = x
	}
	n := &node{name: name, schema: slices.Clone(schema), src: src, kind: o.Describe, checked: true,
		streaming: o.Streaming, poll: o.PollInterval}
	if n.kind == "" {
		n.kind = fmt.Sprintf("%T", src)
	}
	if _, ok := src.(*sources.Feed); ok {
		n.checked = false // Push checked the rows
		n.streaming = true
		if o.Describe == "" {
			n.kind = "feed"
		}
	}
	if _, ok := src.(sources.Notifier); ok && n.poll <= 0 {
		n.poll = safetyPoll(0)
	}
	if n.poll <= 0 {
		n.poll = 100 * time.Millisecond
	}
	if o.Retract {
		n.keepByPartition()
	}
	return p.add(n)
}

// ReadFeed adds a source that a Go program feeds through the returned
// sources.Feed: Push rows at offsets of the program's input, and, after
// a restart, Resume says where to go on from. The pipeline is streaming:
// it runs until its context is cancelled or the Feed is closed and
// everything pushed is committed.
func (p *Pipeline) ReadFeed(name string, schema Schema) (*Table, *sources.Feed) {
	f := sources.NewFeed(name, schema)
	return p.Read(name, schema, f), f
}

// Schema returns the table's columns.
func (t *Table) Schema() Schema { return t.node.schema }

func (t *Table) addOp(op operators.Operator, err error) *Table {
	return t.p.addOp(op, err, t)
}

// addOp adds operator op reading inputs, or records err.
func (p *Pipeline) addOp(op operators.Operator, err error, inputs ...*Table) *Table {
	nodes := make([]*node, len(inputs))
	for i, in := range inputs {
		nodes[i] = in.node
	}
	if err != nil {
		p.fail(fmt.Errorf("pwlog: %w", err))
		// Keep building so later calls report their own names; the execution
		// refuses to start.
		return &Table{p: p, node: &node{name: "(invalid)", inputs: nodes}}
	}
	return p.add(&node{name: op.Name(), schema: op.Schema(), inputs: nodes, op: op})
}

// Operator is a pipeline node with any number of inputs whose state is in
// arrangements the engine persists (see operators.Operator); Apply adds
// one.
type Operator = operators.Operator

// Apply adds op, reading the given tables in order, and returns its
// output table: a user's own operator, built over the inputs' schemas
// (Table.Schema). Its Name is its persistent name, claimed as every
// other; its arrangements are logged, checkpointed, compacted and
// restored by the engine. Every input must belong to p.
func (p *Pipeline) Apply(op Operator, inputs ...*Table) *Table {
	if op == nil {
		p.fail(errors.New("pwlog: Apply: no operator"))
		return &Table{p: p, node: &node{name: "(invalid)"}}
	}
	if !p.claim(op.Name(), op.Kind()) {
		return &Table{p: p, node: &node{name: "(invalid)"}}
	}
	if len(inputs) == 0 {
		return p.addOp(nil, fmt.Errorf("operator %q: no input", op.Name()))
	}
	if bad := p.checkInputs(fmt.Sprintf("operator %q", op.Name()), inputs); bad != nil {
		return bad
	}
	seen := map[string]bool{}
	for _, a := range op.Arrangements() {
		if a == nil || seen[a.Name()] {
			return p.addOp(nil, fmt.Errorf("operator %q: its arrangements must be non-nil with distinct names", op.Name()), inputs...)
		}
		seen[a.Name()] = true
	}
	return p.addOp(op, nil, inputs...)
}

// checkInputs returns, as the invalid table to give back, the failure of
// an operator (what: `union "u"`) whose inputs include a table that is
// nil, of another pipeline, or invalid; nil when they are all fine.
func (p *Pipeline) checkInputs(what string, inputs []*Table) *Table {
	for i, in := range inputs {
		if in == nil || in.p != p {
			return p.addOp(nil, fmt.Errorf("%s: input %d is not a table of this pipeline", what, i))
		}
	}
	for i, in := range inputs {
		if in.node.schema == nil {
			return p.addOp(nil, fmt.Errorf("%s: input %d is invalid", what, i), inputs...)
		}
	}
	return nil
}

// unary adds the one-input operator that build makes over t's schema;
// name is its persistent name, what its kind in errors ("select").
func (t *Table) unary(name, what string, build func(Schema) (operators.Operator, error)) *Table {
	if !t.p.claim(name, what) {
		return t
	}
	if t.node.schema == nil {
		return t.addOp(nil, errors.New(what+" "+name+": its input is invalid"))
	}
	op, err := build(t.node.schema)
	return t.addOp(op, err)
}

// Window assigns rows to windows: Session (and the other window kinds
// of this package). Table.WindowBy takes one.
type Window interface {
	// operator returns the window's operator over schema in, named name,
	// and the columns that, with the window bounds, group its rows.
	operator(name string, in Schema) (operators.Operator, []string, error)
	// what names the window's kind in errors ("session window").
	what() string
}

// Session is a session window: rows of one instance whose Time values are
// closer than MaxGap (strictly) belong to one session.
type Session struct {
	Time     string   // an int column
	Instance []string // the columns whose values make an instance, e.g. a user id
	MaxGap   int64
}

func (s Session) operator(name string, in Schema) (operators.Operator, []string, error) {
	op, err := operators.NewSessionWindow(name, in, s.Time, s.Instance, s.MaxGap)
	return op, s.Instance, err
}

func (Session) what() string { return "session window" }

// Windowed is a table split into windows, ready to Reduce.
type Windowed struct {
	t    *Table
	inst []string
}

// WindowBy assigns each row to the windows of w (a Session, ...); the
// operator's persistent name is name. Reduce the result to get one row
// per window and instance; its expressions may use Col on the instance
// columns and on "_pw_window_start" and "_pw_window_end".
func (t *Table) WindowBy(name string, w Window) *Windowed {
	if w == nil {
		t.p.fail(fmt.Errorf("pwlog: window %q: no window", name))
		return &Windowed{t: t}
	}
	if !t.p.claim(name, w.what()) {
		return &Windowed{t: t}
	}
	if t.node.schema == nil {
		return &Windowed{t: t.addOp(nil, errors.New(w.what()+" "+name+": its input is invalid"))}
	}
	op, inst, err := w.operator(name, t.node.schema)
	return &Windowed{t: t.addOp(op, err), inst: inst}
}

// Reduce computes one row per window with the given outputs; name is the
// reduce operator's persistent name.
func (w *Windowed) Reduce(name string, outs ...Output) *Table {
	by := append(slices.Clone(w.inst), operators.WindowStart, operators.WindowEnd)
	return w.t.GroupBy(by...).Reduce(name, outs...)
}

// Grouped is a table grouped by columns, ready to Reduce.
type Grouped struct {
	t    *Table
	cols []string
}

// GroupBy groups the table by the named columns.
func (t *Table) GroupBy(cols ...string) *Grouped { return &Grouped{t: t, cols: cols} }

// Reduce computes one row per group with the given outputs; name is the
// operator's persistent name.
func (g *Grouped) Reduce(name string, outs ...Output) *Table {
	return g.t.unary(name, "reduce", func(in Schema) (operators.Operator, error) {
		return operators.NewReduce(name, in, g.cols, outs)
	})
}

// SinkOptions tunes a file sink: WriteCSV, WriteJSONLines.
type SinkOptions struct {
	// Append keeps one changelog file across executions, exactly once: a
	// restart cuts a torn last time and re-emits committed times from the
	// log. It needs persistent storage. By default each execution writes a
	// fresh file holding only that execution's deltas.
	Append bool
}

// WriteCSV adds a sink writing the table's updates to path: the columns,
// then time and diff. name is the sink's persistent name.
//
// Run refuses the pipeline, before it opens the storage or any file, when
//   - the table has a column named time or diff: the sink appends its own
//     columns of those names, so rename it (the name given to Out in a
//     Reduce, or a source's schema and its files' header);
//   - path ends in .csv and lies in the directory of a CSV source of the
//     pipeline, or under it: the source would read the sink's rows back
//     as input. A path not ending in .csv there is allowed, as the source
//     never reads it;
//   - another sink of the pipeline writes the same file. A device such as
//     /dev/null may be shared;
//   - path is empty.
//
// Paths are compared absolute, cleaned, and with the symbolic links of
// the parts that exist at build time resolved, so in/../in/out.csv or a
// link into the directory is refused like in/out.csv.
func (t *Table) WriteCSV(name, path string, opts ...SinkOptions) {
	t.writeFile(name, path, opts, func(cols []string, appendMode bool, fsys vfs.FS) sources.Sink {
		return &sources.CSVOutput{Path: path, Columns: cols, Append: appendMode, FS: fsys}
	})
}

// WriteJSONLines adds a sink writing the table's updates to path as JSON
// Lines: one object per update, {"column":value,...,"time":T,"diff":D}
// (sources.JSONLinesOutput). Options, refusals and guarantees are
// WriteCSV's; a path ending in .jsonl in the directory of a JSON Lines
// source is refused.
func (t *Table) WriteJSONLines(name, path string, opts ...SinkOptions) {
	t.writeFile(name, path, opts, func(cols []string, appendMode bool, fsys vfs.FS) sources.Sink {
		return &sources.JSONLinesOutput{Path: path, Columns: cols, Append: appendMode, FS: fsys}
	})
}

// writeFile adds a sink writing a file at path through the connector out
// returns.
func (t *Table) writeFile(name, path string, opts []SinkOptions, out func(cols []string, appendMode bool, fsys vfs.FS) sources.Sink) {
	if !t.p.claim(name, "sink "+path) {
		return
	}
	s := &sinkNode{name: name, input: t.node, path: path}
	for _, o := range opts {
		s.append = o.Append
	}
	cols := t.node.schema.Names()
	s.out = func(fsys vfs.FS) sources.Sink { return out(cols, s.append, fsys) }
	s.fresh = func(fsys vfs.FS) sources.Sink { return out(cols, false, fsys) }
	t.p.sinks = append(t.p.sinks, s)
	if path == "" {
		t.p.fail(fmt.Errorf("pwlog: sink %q: empty path", name))
		return
	}
	t.p.checkSinkColumns(s)
	s.entry, s.file = resolveFile(path)
	if fi, err := os.Stat(s.file); err == nil && fi.Mode()&(fs.ModeDevice|fs.ModeCharDevice) != 0 {
		s.device = true
	}
	for _, n := range t.p.nodes {
		if n.src != nil {
			t.p.checkSinkIn(s, n)
		}
	}
	for _, o := range t.p.sinks[:len(t.p.sinks)-1] {
		if o.file == s.file && !s.device {
			file := ""
			if path != s.file && path != o.path {
				file = fmt.Sprintf(" (the file %q)", s.file)
			}
			t.p.fail(fmt.Errorf("pwlog: sink %q: path %q%s is written by sink %q (path %q) too; give each sink its own file",
				name, path, file, o.name, o.path))
		}
	}
}

// Write adds a sink writing the table's updates through a connector: a
// user's Sink (a message queue, a database), or one of package
// sources. name is the sink's persistent name: its acknowledgements are
// stored under it. The connector gets each committed time's rows once
// the time is durable (see sources.Sink).
func (t *Table) Write(name string, sink sources.Sink) {
	if !t.p.claim(name, "sink") {
		return
	}
	if sink == nil {
		t.p.fail(fmt.Errorf("pwlog: sink %q: no connector", name))
	}
	t.p.sinks = append(t.p.sinks, &sinkNode{name: name, input: t.node, out: func(vfs.FS) sources.Sink { return sink }})
}

// Subscribe adds a sink that calls fn with the rows of each committed
// time that changed the table, in time order, once the time is durable:
// the rows are values, with Diff +1 for a row that appears and -1 for
// one that goes. fn returning nil acknowledges the time, and later
// executions do not call fn with it again; an error stops the
// execution, and the next one calls fn with the time again. A crash
// between fn's return and the commit that records it gives fn the time
// again too: see sources.FuncOutput, whose Last closes that window.
func (t *Table) Subscribe(name string, fn func(time uint64, rows []Update) error) {
	t.Write(name, &sources.FuncOutput{Fn: fn})
}

// checkSinkColumns refuses a sink whose table has a column named like
// one the sink appends.
func (p *Pipeline) checkSinkColumns(s *sinkNode) {
	for _, c := range s.input.schema {
		if c.Name != "time" && c.Name != "diff" {
			continue
		}
		var how string
		switch n := s.input; {
		case n.op != nil:
			how = fmt.Sprintf(" (give its Out in reduce %q another name)", n.name)
		case n.src != nil:
			how = fmt.Sprintf(" (in the schema of source %q and its files' header, or through a Reduce's Out before the sink)", n.name)
		}
		p.fail(fmt.Errorf("pwlog: sink %q: column %q of its table collides with the time and diff columns the sink appends to every row; rename it%s",
			s.name, c.Name, how))
		return
	}
}

// checkSinkIn refuses a sink whose file the directory source src would
// read: an entry named *ext (*.csv, *.jsonl) in or under its directory,
// reached as is or through a link.
func (p *Pipeline) checkSinkIn(s *sinkNode, src *node) {
	if s.entry == "" || src.dir == "" {
		return
	}
	for _, f := range []string{s.entry, s.file} {
		if !strings.HasSuffix(filepath.Base(f), src.ext) || !within(f, src.dir) {
			continue
		}
		// Name the file when links hide where it is.
		via, lex := "", filepath.Clean(absPath(s.path))
		if !strings.HasSuffix(lex, src.ext) || !within(lex, filepath.Clean(absPath(src.srcDir))) {
			via = fmt.Sprintf(" (the file %q)", f)
		}
		p.fail(fmt.Errorf("pwlog: sink %q: path %q%s lies in directory %q of source %q, which reads every *%s file under it, so the sink's rows would be read back as input; write the sink outside that directory or to a name not ending in %s",
			s.name, s.path, via, src.srcDir, src.name, src.ext, src.ext))
		return
	}
}

// within reports whether path lies in or under dir; both are absolute
// and clean.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// absPath returns path made absolute without cleaning it: a ".." after a
// symbolic link must go up from the link's target, not from the link.
func absPath(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	return wd + string(filepath.Separator) + path
}

// resolvePath returns path absolute and clean, with the symbolic links of
// its longest existing prefix resolved.
func resolvePath(path string) string { return resolveLinks(absPath(path), 0) }

// maxLinks bounds the symbolic links followed for one path, as the
// kernel does.
const maxLinks = 40

// resolveLinks is resolvePath of an absolute path; depth counts the
// dangling links followed so far.
func resolveLinks(path string, depth int) string {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		return filepath.Clean(r)
	}
	dir, base := splitLast(path)
	if dir == path || base == "" || base == "." || base == ".." {
		return filepath.Clean(path)
	}
	p := filepath.Join(resolveLinks(dir, depth), base)
	// A dangling link: opening it with O_CREATE creates its target.
	if depth < maxLinks {
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			if target, err := os.Readlink(p); err == nil {
				if !filepath.IsAbs(target) {
					target = filepath.Dir(p) + string(filepath.Separator) + target
				}
				return resolveLinks(target, depth+1)
			}
		}
	}
	return p
}

// resolveFile returns a file path's directory entry (the path absolute
// and clean, its directories' links resolved) and the file it names (a
// link at the entry followed too).
func resolveFile(path string) (entry, file string) {
	abs := absPath(path)
	dir, base := splitLast(abs)
	if dir == abs || base == "" || base == "." || base == ".." {
		entry = resolvePath(abs)
	} else {
		entry = filepath.Join(resolveLinks(dir, 0), base)
	}
	return entry, resolveLinks(entry, 0)
}

// splitLast splits path at its last separator, trailing separators
// ignored; dir is path itself when there is nothing to split.
func splitLast(path string) (dir, base string) {
	vol := len(filepath.VolumeName(path))
	end := len(path)
	for end > vol+1 && os.IsPathSeparator(path[end-1]) {
		end--
	}
	i := end - 1
	for i >= vol && !os.IsPathSeparator(path[i]) {
		i--
	}
	if i < vol {
		return path, ""
	}
	dir = path[:i]
	if i == vol { // the root
		dir = path[:i+1]
	}
	return dir, path[i+1 : end]
}

// keepByPartition makes a source keep the rows each partition (file)
// contributed, to retract them when it goes or changes.
func (n *node) keepByPartition() {
	n.retract = true
	n.byFile = differential.NewArrangement("by_file", nil)
	n.byFile.SetColumns(differential.Columns{Row: n.schema.Names()})
}

// arrangements returns the node's state: an operator's arrangements, or a
// source's rows by file (when it retracts) and its kept inputs.
func (n *node) arrangements() []*differential.Arrangement {
	if n.op != nil {
		return n.op.Arrangements()
	}
	var arrs []*differential.Arrangement
	if n.byFile != nil {
		arrs = append(arrs, n.byFile)
	}
	if n.kept != nil {
		arrs = append(arrs, n.kept)
	}
	return arrs
}
