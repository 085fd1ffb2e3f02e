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
	"slices"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/operators"
	"github.com/pwlog/pwlog/sources"
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
	input  *node
	src    *sources.CSVDir
	// byFile, for a source that retracts changed files, holds the rows
	// each file contributed: file path -> rows.
	byFile *differential.Arrangement
	op     operators.Operator
	index  int
}

// sinkNode is a CSV sink reading a node.
type sinkNode struct {
	name   string
	input  *node
	path   string
	append bool
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

// CSVOptions tunes a CSV source.
type CSVOptions struct {
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
}

// ReadCSV adds a source that reads every *.csv file of dir, each with a
// header line naming the schema's columns. name is the source's persistent
// name: its offsets are stored under it.
func (p *Pipeline) ReadCSV(name, dir string, schema Schema, opts ...CSVOptions) *Table {
	p.claim(name, "source "+dir)
	if len(schema) == 0 {
		p.fail(fmt.Errorf("pwlog: source %q: empty schema", name))
	}
	src := &sources.CSVDir{Name: name, Dir: dir, Schema: slices.Clone(schema)}
	n := &node{name: name, schema: src.Schema, src: src}
	for _, o := range opts {
		src.OnBadRow = o.OnBadRow
		if o.Retract {
			n.byFile = differential.NewArrangement("by_file", nil)
			n.byFile.SetColumns(differential.Columns{Row: schema.Names()})
		}
	}
	return p.add(n)
}

// Schema returns the table's columns.
func (t *Table) Schema() Schema { return t.node.schema }

func (t *Table) addOp(op operators.Operator, err error) *Table {
	if err != nil {
		t.p.fail(fmt.Errorf("pwlog: %w", err))
		// Keep building so later calls report their own names; the execution
		// refuses to start.
		return &Table{p: t.p, node: &node{name: "(invalid)", input: t.node}}
	}
	return t.p.add(&node{name: op.Name(), schema: op.Schema(), input: t.node, op: op})
}

// Session is a session window: rows of one instance whose Time values are
// closer than MaxGap (strictly) belong to one session.
type Session struct {
	Time     string   // an int column
	Instance []string // the columns whose values make an instance, e.g. a user id
	MaxGap   int64
}

// Windowed is a table split into windows, ready to Reduce.
type Windowed struct {
	t    *Table
	inst []string
}

// WindowBy assigns each row to a session window of its instance; the
// operator's persistent name is name. Reduce the result to get one row
// per window; its expressions may use Col on the instance columns and on
// "_pw_window_start" and "_pw_window_end".
func (t *Table) WindowBy(name string, s Session) *Windowed {
	if !t.p.claim(name, "session window") {
		return &Windowed{t: t}
	}
	op, err := operators.NewSessionWindow(name, t.node.schema, s.Time, s.Instance, s.MaxGap)
	return &Windowed{t: t.addOp(op, err), inst: s.Instance}
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
	if !g.t.p.claim(name, "reduce") {
		return g.t
	}
	if g.t.node.schema == nil {
		return g.t.addOp(nil, errors.New("reduce "+name+": its input is invalid"))
	}
	op, err := operators.NewReduce(name, g.t.node.schema, g.cols, outs)
	return g.t.addOp(op, err)
}

// SinkOptions tunes a CSV sink.
type SinkOptions struct {
	// Append keeps one changelog file across executions, exactly once: a
	// restart cuts a torn last time and re-emits committed times from the
	// log. It needs persistent storage. By default each execution writes a
	// fresh file holding only that execution's deltas.
	Append bool
}

// WriteCSV adds a sink writing the table's updates to path: the columns,
// then time and diff. name is the sink's persistent name.
func (t *Table) WriteCSV(name, path string, opts ...SinkOptions) {
	if !t.p.claim(name, "sink "+path) {
		return
	}
	s := &sinkNode{name: name, input: t.node, path: path}
	for _, o := range opts {
		s.append = o.Append
	}
	t.p.sinks = append(t.p.sinks, s)
}

// arrangements returns the node's state: an operator's arrangements, or a
// retracting source's rows by file.
func (n *node) arrangements() []*differential.Arrangement {
	switch {
	case n.op != nil:
		return n.op.Arrangements()
	case n.byFile != nil:
		return []*differential.Arrangement{n.byFile}
	}
	return nil
}
