package fuzz

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
)

// Changes of a generated pipeline between executions, as a user makes
// them to a pipeline whose storage keeps its inputs (Config.KeepInputs):
// each returns a changed copy in which every node that did not change
// keeps its name, since pwlog compares the fingerprint node by node, by
// name. A changed node keeps its name too; a new one takes a name never
// used; a removed one stays in the node list, marked, so that indexes
// hold. A sink whose table changes its columns gets a new name and file
// (a CSV file in append mode cannot change its header): it is a new
// sink, and the old one is removed.
//
// pwlog rebuilds a changed or new operator from the kept inputs at one
// logical time, with every operator downstream of it and every operator
// upstream of those (and upstream of a new sink). The kept inputs are
// consolidated there: the order rows arrived in is lost, so a change
// never reaches an operator that reads it (Earliest, Latest, Tuple,
// Deduplicate; rebuildOK), and new operators read none.

// changeKinds are the changes drawn.
var changeKinds = []string{
	"reducer changed",  // a reduce's or window's reducer replaced by another of the same column type
	"reducer added",    // a reduce or window nothing reads gets another output column
	"window changed",   // a window's gap, duration, hop or origin
	"filter changed",   // a Filter's (or a Union's filter's) condition
	"operator added",   // an operator of any family, with a sink
	"sink added",       // a sink on an operator that had none
	"operator removed", // an operator with what reads it, and their sinks
}

// rebuildKinds are the changes that make pwlog rebuild an operator.
var rebuildKinds = []string{"reducer changed", "reducer added", "window changed", "filter changed", "operator added"}

// changeOps are the changes by kind: the nodes each may change (nil: it
// draws its own), and the change of node i, which returns what it did
// ("" if nothing).
var changeOps = map[string]struct {
	targets func(q *pipeline) []int
	apply   func(q *pipeline, g *gen, i int) string
}{
	"reducer changed": {func(q *pipeline) []int {
		return q.live(func(i int, n *pnode) bool {
			_, _, ok := groupOf(n.op)
			return ok && q.rebuildOK(i)
		})
	}, (*pipeline).changeReducer},
	"reducer added": {func(q *pipeline) []int {
		return q.live(func(i int, n *pnode) bool {
			_, _, ok := groupOf(n.op)
			return ok && len(q.readers(i)) == 0 && q.rebuildOK(i)
		})
	}, (*pipeline).addReducer},
	"window changed": {func(q *pipeline) []int {
		return q.live(func(i int, n *pnode) bool {
			_, ok := n.op.(*windowOp)
			return ok && q.rebuildOK(i)
		})
	}, (*pipeline).changeWindow},
	"filter changed": {func(q *pipeline) []int {
		return q.live(func(i int, n *pnode) bool {
			o, ok := n.op.(*rowsOp)
			return ok && (o.kind == "filter" || o.kind == "union") && q.rebuildOK(i)
		})
	}, (*pipeline).changeFilter},
	"operator added": {nil, func(q *pipeline, g *gen, _ int) string {
		i := q.addOp(g, func(i int) bool { return q.upstreamOK(i) })
		if i < 0 {
			return ""
		}
		q.sinks = append(q.sinks, i)
		return fmt.Sprintf("%s = %s", q.nodes[i].name, q.nodes[i].op)
	}},
	"sink added": {func(q *pipeline) []int {
		return q.live(func(i int, n *pnode) bool { return n.op != nil && !slices.Contains(q.sinks, i) && q.upstreamOK(i) })
	}, func(q *pipeline, _ *gen, i int) string {
		q.sinks = append(q.sinks, i)
		q.renewSinks(i)
		return "on " + q.nodes[i].name
	}},
	"operator removed": {func(q *pipeline) []int {
		return q.live(func(i int, n *pnode) bool {
			gone := q.downstream(i)
			return n.op != nil && slices.ContainsFunc(q.sinks, func(s int) bool { return !gone[s] })
		})
	}, (*pipeline).removeOp},
}

// evolve draws a change among kinds that fits p, and a node it fits,
// and returns the changed copy of p and what changed; nil when it
// changed nothing.
func evolve(t *rapid.T, p *pipeline, kinds []string) (*pipeline, string) {
	q := p.clone()
	q.changes++
	g := &gen{t: t, o: genOptions{}} // nothing that reads arrival order
	var fit []string
	targets := map[string][]int{}
	for _, k := range kinds {
		if c := changeOps[k]; c.targets == nil {
			fit = append(fit, k)
		} else if targets[k] = c.targets(q); len(targets[k]) > 0 {
			fit = append(fit, k)
		}
	}
	kind := rapid.SampledFrom(fit).Draw(t, "changeKind")
	i := -1
	if ts := targets[kind]; len(ts) > 0 {
		i = rapid.SampledFrom(ts).Draw(t, "changed")
	}
	what := changeOps[kind].apply(q, g, i)
	if what == "" {
		return nil, ""
	}
	return q, kind + ": " + what
}

// clone returns a copy of p whose nodes and sinks can be changed without
// changing p's. Ops and infos are shared: a change replaces them.
func (p *pipeline) clone() *pipeline {
	q := *p
	q.nodes = make([]*pnode, len(p.nodes))
	for i, n := range p.nodes {
		c := *n
		q.nodes[i] = &c
	}
	q.sinks = slices.Clone(p.sinks)
	q.sinkIDs = maps.Clone(p.sinkIDs)
	if q.sinkIDs == nil {
		q.sinkIDs = map[int]string{}
	}
	return &q
}

// readers returns the live nodes that read node i.
func (p *pipeline) readers(i int) []int {
	var out []int
	for j, n := range p.nodes {
		if !n.removed && slices.Contains(n.ins, i) {
			out = append(out, j)
		}
	}
	return out
}

// downstream returns node i and the live nodes that read it, transitively.
func (p *pipeline) downstream(i int) map[int]bool {
	out := map[int]bool{i: true}
	for j, n := range p.nodes { // inputs come before readers
		if !n.removed && slices.ContainsFunc(n.ins, func(k int) bool { return out[k] }) {
			out[j] = true
		}
	}
	return out
}

// upstream adds to set the nodes that the nodes in it read, transitively.
func (p *pipeline) upstream(set map[int]bool) map[int]bool {
	for j := len(p.nodes) - 1; j >= 0; j-- {
		if set[j] {
			for _, k := range p.nodes[j].ins {
				set[k] = true
			}
		}
	}
	return set
}

// readsArrival reports whether node i reads the order rows arrived in.
func (p *pipeline) readsArrival(i int) bool {
	a, ok := p.nodes[i].op.(arrivalOp)
	return ok && a.arrivalOrder()
}

// rebuildOK reports whether pwlog may rebuild the nodes that a change of
// the nodes of set makes it rebuild (set, what lies downstream, and
// everything upstream of those): none of them reads arrival order.
func (p *pipeline) rebuildOK(set ...int) bool {
	all := map[int]bool{}
	for _, i := range set {
		maps.Copy(all, p.downstream(i))
	}
	for i := range p.upstream(all) {
		if p.readsArrival(i) {
			return false
		}
	}
	return true
}

// upstreamOK reports whether the nodes node i reads, and i, may be
// rebuilt: what a new reader of i (a sink, an operator) makes pwlog do.
func (p *pipeline) upstreamOK(i int) bool {
	for j := range p.upstream(map[int]bool{i: true}) {
		if p.readsArrival(j) {
			return false
		}
	}
	return true
}

// live returns the indexes of the live nodes that satisfy ok.
func (p *pipeline) live(ok func(i int, n *pnode) bool) []int {
	var out []int
	for i, n := range p.nodes {
		if !n.removed && ok(i, n) {
			out = append(out, i)
		}
	}
	return out
}

// renewSinks gives the sinks of node i new names: its table changed its
// columns.
func (p *pipeline) renewSinks(i int) {
	if slices.Contains(p.sinks, i) {
		p.sinkIDs[i] = fmt.Sprintf("%s_v%d", p.nodes[i].name, p.changes)
	}
}

// groupOf returns a reduce's or window's grouping expressions and its
// outputs; ok is false for other operators.
func groupOf(o op) (group []colExpr, outs []output, ok bool) {
	switch o := o.(type) {
	case *reduceOp:
		return o.by, o.outs, true
	case *windowOp:
		return append(slices.Clone(o.inst), colExpr{c: windowStart}, colExpr{c: windowEnd}), o.outs, true
	}
	return nil, nil, false
}

// withOutputs returns a copy of a reduce or window with outputs outs.
func withOutputs(o op, outs []output) op {
	switch o := o.(type) {
	case *reduceOp:
		return &reduceOp{by: o.by, outs: outs}
	case *windowOp:
		c := *o
		c.outs = outs
		return &c
	}
	panic(fmt.Sprintf("withOutputs: %T", o))
}

// fits reports whether a column described by c may replace old: the
// same type, and nothing that the operators reading it drew on (no null
// where there was none, an inexact float where it was exact).
func fits(c, old colInfo) bool {
	return c.kind == old.kind && c.elem == old.elem && (!c.null || old.null) && (c.exact || !old.exact) && (!c.elemNull || old.elemNull)
}

// changeReducer replaces a reducer of reduce or window i by another
// whose column fits the old one's.
func (p *pipeline) changeReducer(g *gen, i int) string {
	n := p.nodes[i]
	group, outs, _ := groupOf(n.op)
	j := rapid.IntRange(len(group), len(outs)-1).Draw(g.t, "output")
	old := n.info.cols[j]
	in := p.nodes[n.ins[0]].info
	var cands []expr
	for _, c := range group {
		cands = append(cands, c)
	}
	cands = append(cands, aggLeaves(g, in, func(k differential.Kind) bool { return k == old.kind })...)
	cands = slices.DeleteFunc(cands, func(e expr) bool {
		return !fits(output{name: old.name, e: e}.col(), old) || e.String() == outs[j].e.String()
	})
	if len(cands) == 0 {
		return ""
	}
	e := cands[rapid.IntRange(0, len(cands)-1).Draw(g.t, "newReducer")]
	was := outs[j].e
	outs = slices.Clone(outs)
	outs[j].e = e
	info := *n.info
	info.cols = slices.Clone(info.cols)
	info.cols[j] = outs[j].col()
	n.op, n.info = withOutputs(n.op, outs), &info
	return fmt.Sprintf("%s.%s = %s, was %s", n.name, old.name, e, was)
}

// addReducer adds an output to reduce or window i, which no operator
// reads; its sinks are renewed (their header changes).
func (p *pipeline) addReducer(g *gen, i int) string {
	n := p.nodes[i]
	group, outs, _ := groupOf(n.op)
	in := p.nodes[n.ins[0]].info
	leaves := append([]expr(nil), aggLeaves(g, in, func(differential.Kind) bool { return true })...)
	for _, c := range group {
		leaves = append(leaves, c)
	}
	o := output{name: fmt.Sprintf("%s_%d", n.name, len(outs)), e: leaves[rapid.IntRange(0, len(leaves)-1).Draw(g.t, "addedReducer")]}
	info := *n.info
	info.cols = append(slices.Clone(info.cols), o.col())
	n.op, n.info = withOutputs(n.op, append(slices.Clone(outs), o)), &info
	p.renewSinks(i)
	return fmt.Sprintf("%s.%s = %s", n.name, o.name, o.e)
}

// changeWindow draws other parameters for window i, of the same kind.
func (p *pipeline) changeWindow(g *gen, i int) string {
	n := p.nodes[i]
	o := n.op.(*windowOp)
	c := *o
	in := p.nodes[n.ins[0]].info
	t := g.t
	switch {
	case o.session:
		gap := rapid.Int64Range(1, 6).Draw(t, "maxGap")
		if gap == o.gap {
			gap = gap%6 + 1
		}
		c.setSession(in, gap)
	case o.hop == o.dur:
		d, origin := rapid.Int64Range(1, 6).Draw(t, "duration"), rapid.Int64Range(-3, 3).Draw(t, "origin")
		if d == o.dur && origin == o.origin {
			d = d%6 + 1
		}
		c.setFixed(in, d, d, origin)
	default:
		d, hop, origin := rapid.Int64Range(1, 6).Draw(t, "duration"), rapid.Int64Range(1, 7).Draw(t, "hop"), rapid.Int64Range(-3, 3).Draw(t, "origin")
		if hop == d {
			hop++
		}
		if d == o.dur && hop == o.hop && origin == o.origin {
			origin = (origin+4)%7 - 3
		}
		c.setFixed(in, d, hop, origin)
	}
	n.op = &c
	return fmt.Sprintf("%s = %s, was %s", n.name, c.what, o.what)
}

// changeFilter draws another condition for Filter (or Union) i.
func (p *pipeline) changeFilter(g *gen, i int) string {
	n := p.nodes[i]
	o := n.op.(*rowsOp)
	in := p.nodes[n.ins[0]].info
	// Its functions take new names: another function under an old name
	// would be another function with the old one's cache.
	rg := &rowGen{g: g, in: in, sch: schemaOf(in), name: fmt.Sprintf("%s_v%d", n.name, p.changes)}
	cond := rg.expr(differential.KindBool, 3)
	if cond.String() == o.cond.String() {
		return ""
	}
	c := *o
	c.cond = cond
	n.op = &c
	return fmt.Sprintf("%s = %s, was %s", n.name, c.String(), o)
}

// removeOp removes operator i, what reads it, and their sinks.
func (p *pipeline) removeOp(_ *gen, i int) string {
	gone := p.downstream(i)
	var names []string
	for j := range p.nodes {
		if gone[j] {
			p.nodes[j].removed = true
			names = append(names, p.nodes[j].name)
		}
	}
	p.sinks = slices.DeleteFunc(p.sinks, func(s int) bool { return gone[s] })
	return strings.Join(names, ", ")
}

// fingerprintChanged reports whether q's fingerprint has an operator
// line that p's has not: pwlog rebuilds something.
func fingerprintChanged(t *rapid.T, p, q *pipeline) bool {
	lines := func(p *pipeline) []string {
		pp, err := p.build(filepath.Join(os.TempDir(), "pwlog-fuzz-schema-check"))
		if err != nil {
			t.Fatalf("%v\npipeline:\n%s", err, p)
		}
		return pp.Describe()
	}
	old := lines(p)
	return slices.ContainsFunc(lines(q), func(l string) bool { return !slices.Contains(old, l) })
}

// change makes q, changed by what, the harness's pipeline from the next
// execution on. upToDate: the last execution finished and no input came
// since, so that the model of q over the current input is the change's
// target (pendingChange.mid).
func (h *harness) change(q *pipeline, what string, upToDate bool) {
	if h.pending != nil {
		// Two changes before an execution: the first one's target is
		// not the execution's.
		what, upToDate = h.pending.what+"; "+what, false
	}
	h.p = q
	h.renew()
	h.pending = &pendingChange{what: what}
	if upToDate {
		h.pending.mid = q.results()
	}
}

// fewerChecks makes rapid run 1/n of the cases it runs in the other
// properties (RAPID_CHECKS, -rapid.checks, default 100) in this test,
// whose cases cost more: make test bounds the time.
func fewerChecks(t *testing.T, n int) {
	f := flag.Lookup("rapid.checks")
	if f == nil {
		return
	}
	old := f.Value.String()
	v, err := strconv.Atoi(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Value.Set(strconv.Itoa(max(1, v/n))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Value.Set(old) })
}

// changeCounts counts the changes applied per kind, for the tests' logs.
type changeCounts map[string]int

func (c changeCounts) add(what string) {
	kind, _, _ := strings.Cut(what, ":")
	c[kind]++
}

func (c changeCounts) String() string {
	var parts []string
	for _, k := range changeKinds {
		parts = append(parts, fmt.Sprintf("%s=%d", strings.ReplaceAll(k, " ", "_"), c[k]))
	}
	return strings.Join(parts, " ")
}

// TestEvolution draws a pipeline whose storage keeps its inputs and
// runs it over several executions; between executions it changes the
// input files and draws changes of the pipeline (changeKinds). Every
// execution must emit exactly the difference between the model's
// results before and after it, the result before being the old
// pipeline's: each sink's changelog consolidates to the current
// pipeline's result over all input so far, a sink added holds its whole
// table after its first execution, and the change itself comes at one
// logical time, the execution's first, which brings every sink to the
// changed pipeline's result over the input the storage held before the
// execution reads anything new (harness.checkChange). Half the changes
// come with no new input: the execution then emits at that time only.
//
// FUZZ_EVOLVE_SCRATCH=1 runs each changed pipeline from a new storage
// and new sinks instead (no pipeline reads arrival order then): the
// model of the changed pipelines against pwlog without evolution, to
// tell a wrong model from a wrong rebuild.
func TestEvolution(t *testing.T) {
	scratch := os.Getenv("FUZZ_EVOLVE_SCRATCH") != ""
	cases := 0
	applied := changeCounts{}
	defer func() {
		logDrawn(t, cases, 1<<30)
		t.Logf("changes applied: %s; %d changed a sink, checked at their time", applied, changesChecked)
		changesChecked = 0
		// Filters are few: each kind is asked for over long runs only.
		for _, k := range changeKinds {
			if applied[k] == 0 && cases >= 200 && !t.Failed() {
				t.Errorf("no %q change applied in %d cases", k, cases)
			}
		}
	}()
	rapid.Check(t, func(rt *rapid.T) {
		cases++
		dir := t.TempDir()
		arrival := !scratch && rapid.IntRange(0, 3).Draw(rt, "arrival") == 0
		p := genPipeline(rt, filepath.Join(dir, "input"), genOptions{maxOps: 3, arrival: arrival})
		cfg := drawConfig(rt, p)
		cfg.keep = true
		h := newHarness(rt, p, cfg)
		root := filepath.Join(dir, "root")
		for run := range rapid.IntRange(2, 5).Draw(rt, "runs") {
			what, quiet := "finished", false
			if run > 0 && rapid.IntRange(0, 3).Draw(rt, "evolve") > 0 {
				if q, c := evolve(rt, h.p, changeKinds); q != nil {
					if _, err := q.build(filepath.Join(dir, "schema-check")); err != nil {
						rt.Fatalf("%s: %v\npipeline:\n%s", c, err, q)
					}
					h.change(q, c, true)
					what = c
					applied.add(c)
					quiet = rapid.Bool().Draw(rt, "quiet")
					if scratch {
						root = filepath.Join(dir, fmt.Sprintf("root%d", run))
						h.prev, h.seen, h.last, h.pending = map[int]multiset{}, map[int]int{}, map[int]uint64{}, nil
						quiet = false
					}
				}
			}
			if !quiet {
				mutate(rt, h.p)
			}
			if err := h.run(root, nil); err != nil {
				rt.Fatalf("run %d (%s): %v\npipeline:\n%s", run, what, err, h.p)
			}
			h.p.committed(run)
			before := maps.Clone(h.seen)
			h.checkRun(rt, root, describe(run, what))
			if quiet {
				h.checkQuiet(rt, root, describe(run, what), before)
			}
		}
	})
}

// checkQuiet checks an execution that changed the pipeline and read
// nothing new: every sink emitted at one time, the same for all, or
// nothing. before is how many lines each sink had.
func (h *harness) checkQuiet(t *rapid.T, root, what string, before map[int]int) {
	var at uint64
	for _, s := range h.p.sinks {
		cs, b := h.changelog(t, root, s)
		for _, c := range cs[before[s]:] {
			if at == 0 {
				at = c.time
			}
			if c.time != at {
				t.Fatalf("%s: with nothing new to read, sink %s emitted at times %d and %d: a change takes one time\npipeline:\n%s\nchangelog:\n%s",
					what, h.p.nodes[s].name, at, c.time, h.p, tail(b))
			}
		}
	}
}

// TestEvolutionNeedsKeptInputs: without Config.KeepInputs, an execution
// of a changed pipeline that pwlog would have to rebuild is refused with
// an error wrapping pwlog.ErrPipelineChanged that names KeepInputs and
// the examples' -keep-inputs, and writes no sink; the storage then goes
// on with the old pipeline, whose next execution emits exactly its
// difference.
func TestEvolutionNeedsKeptInputs(t *testing.T) {
	fewerChecks(t, 4)
	refused := 0
	defer func() {
		t.Logf("%d changes refused", refused)
		if refused == 0 && !t.Failed() {
			t.Error("no change refused: the test tests nothing")
		}
	}()
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		p := genPipeline(rt, filepath.Join(dir, "input"), genOptions{maxOps: 3})
		h := newHarness(rt, p, drawConfig(rt, p))
		root := filepath.Join(dir, "root")
		for run := range rapid.IntRange(1, 2).Draw(rt, "runs") {
			mutate(rt, p)
			if err := h.run(root, nil); err != nil {
				rt.Fatalf("run %d: %v\npipeline:\n%s", run, err, p)
			}
			p.committed(run)
			h.checkRun(rt, root, describe(run, "finished"))
		}
		if !slices.ContainsFunc(p.sources, func(s *source) bool { return len(s.rows()) > 0 }) {
			// Nothing committed: a storage without history takes any
			// pipeline.
			rt.Skip("no input")
		}
		q, what := evolve(rt, p, rebuildKinds)
		if q == nil || !fingerprintChanged(rt, p, q) {
			rt.Skip("no change that needs a rebuild")
		}
		sinks := map[string][]byte{}
		for _, s := range p.sinks {
			b, err := os.ReadFile(p.sinkPath(root, s))
			if err != nil {
				rt.Fatal(err)
			}
			sinks[p.sinkPath(root, s)] = b
		}
		mutate(rt, p)
		h.p = q
		err := h.run(root, nil)
		h.p = p
		if !errors.Is(err, pwlog.ErrPipelineChanged) || !strings.Contains(err.Error(), "KeepInputs") || !strings.Contains(err.Error(), "-keep-inputs") {
			rt.Fatalf("the changed pipeline (%s) without kept inputs: got error %v, want one wrapping ErrPipelineChanged that names KeepInputs and -keep-inputs\npipeline:\n%s", what, err, q)
		}
		refused++
		for path, b := range sinks {
			if now, err := os.ReadFile(path); err != nil || !bytes.Equal(now, b) {
				rt.Fatalf("the refused execution (%s) wrote sink file %s (%v)", what, filepath.Base(path), err)
			}
		}
		if err := h.run(root, nil); err != nil {
			rt.Fatalf("the old pipeline after the refused change (%s): %v\npipeline:\n%s", what, err, p)
		}
		run := 2
		p.committed(run)
		h.checkRun(rt, root, describe(run, "the old pipeline after a refused change"))
	})
}
