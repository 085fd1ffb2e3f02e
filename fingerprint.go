package pwlog

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/msgpackx"
	"github.com/vmihailenco/msgpack/v5"
)

// Describe returns the pipeline's fingerprint: one line per source and
// operator, naming it, its configuration and its input. Two pipelines with
// equal fingerprints can share a storage; a restart with a different one is
// refused, naming what changed. Sinks are not part of it: they keep no
// state, and a sink added later receives the deltas from then on.
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
			if n.byFile != nil {
				retract = " retract"
			}
			lines = append(lines, fmt.Sprintf("source %s: csv(%s)%s", n.name, strings.Join(cols, ","), retract))
		case n.op != nil:
			lines = append(lines, fmt.Sprintf("operator %s: %s <- %s", n.name, n.op.Describe(), n.input.name))
		}
	}
	return lines
}

// fingerprintDiff explains how the pipeline now differs from the stored
// one, or returns "" when they are equal.
func fingerprintDiff(stored, now []string) string {
	if slices.Equal(stored, now) {
		return ""
	}
	name := func(line string) string {
		head, _, _ := strings.Cut(line, ":")
		return head
	}
	old := map[string]string{}
	for _, l := range stored {
		old[name(l)] = l
	}
	var msgs []string
	seen := map[string]bool{}
	for _, l := range now {
		n := name(l)
		seen[n] = true
		switch prev, ok := old[n]; {
		case !ok:
			msgs = append(msgs, n+" is new")
		case prev != l:
			msgs = append(msgs, fmt.Sprintf("%s changed from %q to %q", n, strings.TrimPrefix(prev, n+": "), strings.TrimPrefix(l, n+": ")))
		}
	}
	for _, l := range stored {
		if n := name(l); !seen[n] {
			msgs = append(msgs, n+" is gone")
		}
	}
	if len(msgs) == 0 {
		msgs = append(msgs, "the order of sources and operators changed")
	}
	return strings.Join(msgs, "; ")
}

// Catalog names the columns of the rows a storage holds, so that tools
// (pwlog dump) show them by name. It is logged with the fingerprint and
// kept in checkpoints; a change that keeps the fingerprint (a sink added)
// is logged again, not refused.
type Catalog struct {
	// Tables maps a source or a sink to the column names of its rows.
	Tables map[string][]string `msgpack:"t,omitempty" json:"tables,omitempty"`
	// Arrangements maps "operator/arrangement" to the column names of its
	// group keys and rows.
	Arrangements map[string]differential.Columns `msgpack:"a,omitempty" json:"arrangements,omitempty"`
}

// EncodeMsgpack implements msgpack.CustomEncoder: maps in key order.
func (c *Catalog) EncodeMsgpack(enc *msgpack.Encoder) error {
	type wire struct {
		Tables       msgpackx.SortedMap[[]string]             `msgpack:"t,omitempty"`
		Arrangements msgpackx.SortedMap[differential.Columns] `msgpack:"a,omitempty"`
	}
	return enc.Encode(&wire{c.Tables, c.Arrangements})
}

// Equal reports whether c and o name the same columns.
func (c *Catalog) Equal(o *Catalog) bool {
	if c == nil || o == nil {
		return c == o
	}
	return maps.EqualFunc(c.Tables, o.Tables, slices.Equal) &&
		maps.EqualFunc(c.Arrangements, o.Arrangements, func(a, b differential.Columns) bool {
			return slices.Equal(a.Group, b.Group) && slices.Equal(a.Row, b.Row)
		})
}

// ArrangementKey is the key of an arrangement in Catalog.Arrangements.
func ArrangementKey(operator, arrangement string) string { return operator + "/" + arrangement }

// catalog returns the pipeline's catalog.
func (p *Pipeline) catalog() *Catalog {
	c := &Catalog{Tables: map[string][]string{}, Arrangements: map[string]differential.Columns{}}
	for _, n := range p.nodes {
		if n.src != nil {
			c.Tables[n.name] = n.schema.Names()
		}
		for _, a := range n.arrangements() {
			c.Arrangements[ArrangementKey(n.name, a.Name())] = a.Columns()
		}
	}
	for _, s := range p.sinks {
		c.Tables[s.name] = s.input.schema.Names()
	}
	return c
}
