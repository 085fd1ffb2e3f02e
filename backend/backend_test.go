package backend_test

import (
	"testing"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/backend/backendtest"
)

// The conformance suite: every Backend must pass it.

func TestFilesystemConformance(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) backend.Backend {
		f, err := backend.NewFilesystem(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return f
	})
}

func TestMemConformance(t *testing.T) {
	backendtest.Run(t, func(*testing.T) backend.Backend { return backend.NewMem() })
}
