package pwlog

import (
	"fmt"
	"slices"
	"strings"
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
