package storage

import (
	"fmt"
	"slices"
	"strings"
)

// FingerprintDiff explains how the fingerprint now differs from the
// stored one (one line per source and operator, "kind name: ..."), or
// returns "" when they are equal.
func FingerprintDiff(stored, now []string) string {
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
