package pwlog

// Hooks into the engine for the black-box tests (package pwlog_test):
// what they check that the public API does not show.

import (
	"context"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/record"
)

// Catalog returns p's catalog: the column names a storage p writes holds.
func Catalog(p *Pipeline) *record.Catalog { return p.catalog(nil) }

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

// restore restores the storage of cfg as an execution of p starts (lock,
// marker, log repair, checkpoint, replay), then lets the storage go.
// Unlike an execution, it opens no sink and no source and writes no
// commit.
func restore(p *Pipeline, cfg Config) (*engine, error) {
	e := newEngine(context.Background(), p, cfg)
	if err := e.configure(); err != nil {
		return e, err
	}
	e.catalog = p.catalog(e.arrs)
	for _, s := range e.p.sinks {
		e.sinks = append(e.sinks, &sinkState{n: s})
	}
	err := e.recover()
	if e.wal != nil {
		e.wal.Close()
	}
	e.lock.Close()
	return e, err
}

// RecoveredOffsets restores the storage of cfg (see restore) and returns
// the source offsets it restored.
func RecoveredOffsets(p *Pipeline, cfg Config) (record.Offsets, error) {
	e, err := restore(p, cfg)
	return e.offsets, err
}

// Restore restores the storage of cfg (see restore) and returns what it
// restored.
func Restore(p *Pipeline, cfg Config) (record.Summary, error) {
	e, err := restore(p, cfg)
	return e.restored, err
}

// SetRecordChunk sets the most bytes of rows a record carries, and
// returns a function that sets it back. Not for parallel tests.
func SetRecordChunk(n int) (restore func()) {
	old := recordChunk
	recordChunk = n
	return func() { recordChunk = old }
}
