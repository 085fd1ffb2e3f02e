package pwlog

import (
	"fmt"
	"strings"

	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/record"
)

// Describe returns the pipeline's fingerprint: one line per source and
// operator, naming it, its configuration and its input. A restart compares
// it with the stored one line by line, by node name: with kept inputs
// (Config.KeepInputs) a changed or new operator is rebuilt, else the
// change is refused, naming it (evolve.go). Sinks are not part of it; a
// sink added later receives its whole table first when the storage keeps
// inputs, else the deltas from then on.
func (p *Pipeline) Describe() []string {
	var lines []string
	for _, n := range p.nodes {
		switch {
		case n.src != nil:
			var cols []string
			for _, c := range n.schema {
				cols = append(cols, c.Name+":"+c.Type.String())
			}
			retract := ""
			if n.retract {
				retract = " retract"
			}
			lines = append(lines, fmt.Sprintf("source %s: %s(%s)%s", n.name, n.kind, strings.Join(cols, ","), retract))
		case n.op != nil:
			ins := make([]string, len(n.inputs))
			for i, in := range n.inputs {
				ins[i] = in.name
			}
			lines = append(lines, fmt.Sprintf("operator %s: %s <- %s", n.name, n.op.Describe(), strings.Join(ins, ", ")))
		}
	}
	return lines
}

// catalog returns the pipeline's catalog: its column names and its
// sources' directories. Neither is part of the fingerprint: a changed
// catalog is logged again, and a moved source is checked at restart
// (engine.checkDirs).
//
// arrs, when not nil, are the arrangements the storage keeps (an
// execution's, see engine.configure); nil: every arrangement of the
// pipeline.
func (p *Pipeline) catalog(arrs map[compaction.ArrKey]*differential.Arrangement) *record.Catalog {
	c := &record.Catalog{Tables: map[string][]string{}, Arrangements: map[string]differential.Columns{}, Dirs: map[string]string{}}
	for _, n := range p.nodes {
		if n.src != nil {
			c.Tables[n.name] = n.schema.Names()
			if n.dir != "" {
				c.Dirs[n.name] = n.dir
			}
		}
		if arrs == nil {
			for _, a := range n.arrangements() {
				c.Arrangements[record.ArrangementKey(n.name, a.Name())] = a.Columns()
			}
		}
	}
	for k, a := range arrs {
		c.Arrangements[record.ArrangementKey(k.Operator, k.Arrangement)] = a.Columns()
	}
	for _, s := range p.sinks {
		c.Tables[s.name] = s.input.schema.Names()
	}
	return c
}
