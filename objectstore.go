package pwlog

import "fmt"

// takeObjectStore takes a storage kept in an object store.
func (e *engine) takeObjectStore() error {
	return fmt.Errorf("pwlog: Config.Backend: a %T keeps no log; a persistent pipeline needs a local storage directory (pwlog.Filesystem)", e.cfg.Backend)
}
