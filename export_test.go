package pwlog

// Hooks into the engine for the black-box tests (package pwlog_test):
// what they check that the public API does not show.

import (
	"context"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/record"
)

// Catalog returns p's catalog: the column names a storage p writes holds.
func Catalog(p *Pipeline) *record.Catalog { return p.catalog() }

// Arrangements returns the names of p's operators, in pipeline order, and
// each one's arrangements: after a run, the state the run left in them.
func Arrangements(p *Pipeline) (operators []string, arrs [][]*differential.Arrangement) {
	for _, n := range p.nodes {
		if n.op != nil {
			operators = append(operators, n.name)
			arrs = append(arrs, n.op.Arrangements())
		}
	}
	return operators, arrs
}

// RecoveredOffsets restores the storage of cfg as a run of p starts (lock,
// marker, log repair, checkpoint, replay) and returns the source offsets
// it restored, then lets the storage go. Unlike a run, it opens no sink
// and no source and writes no commit.
func RecoveredOffsets(p *Pipeline, cfg Config) (record.Offsets, error) {
	e := newEngine(context.Background(), p, cfg)
	for _, s := range e.p.sinks {
		e.sinks = append(e.sinks, &sinkState{n: s})
	}
	err := e.recover()
	if e.wal != nil {
		e.wal.Close()
	}
	e.lock.Close()
	return e.offsets, err
}
