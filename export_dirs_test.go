package pwlog

import (
	"context"
	"errors"
)

// RunWithoutDirs runs p as a build that did not record its sources'
// directories would: its catalog has no Dirs.
func RunWithoutDirs(p *Pipeline, cfg Config) error {
	p.started = true
	e := newEngine(context.Background(), p, cfg)
	if err := e.configure(); err != nil {
		return err
	}
	e.catalog = p.catalog(e.arrs)
	e.catalog.Dirs = nil
	err := e.open()
	if err == nil {
		err = e.loop(context.Background())
	}
	return errors.Join(err, e.close(err == nil))
}
