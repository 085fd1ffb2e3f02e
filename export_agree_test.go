package pwlog

import (
	"context"

	"github.com/pwlog/pwlog/record"
)

// Restore restores the storage of cfg as an execution of p starts (lock,
// marker, log repair, checkpoint, replay) and returns what it restored,
// then lets the storage go. It opens no sink and no source and writes no
// commit.
func Restore(p *Pipeline, cfg Config) (record.Summary, error) {
	e := newEngine(context.Background(), p, cfg)
	for _, s := range e.p.sinks {
		e.sinks = append(e.sinks, &sinkState{n: s})
	}
	err := e.recover()
	if e.wal != nil {
		e.wal.Close()
	}
	e.lock.Close()
	return e.restored, err
}
