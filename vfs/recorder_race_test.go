package vfs

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestRecorderConcurrentCreates: files made durable by concurrent
// temp-fsync-link-remove-SyncDir sequences in one directory are in every
// crash image.
func TestRecorderConcurrentCreates(t *testing.T) {
	for round := range 20 {
		root := t.TempDir()
		r, err := NewRecorder(root)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(root, "d")
		if err := MkdirAll(r, dir, 0o755); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tmp := filepath.Join(dir, fmt.Sprintf(".tmp-%d", i))
				f, err := r.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
				if err != nil {
					t.Error(err)
					return
				}
				f.Write([]byte(fmt.Sprintf("data %d", i)))
				f.Sync()
				f.Close()
				if err := r.Link(tmp, filepath.Join(dir, fmt.Sprintf("f%d", i))); err != nil {
					t.Error(err)
				}
				r.Remove(tmp)
				if err := r.SyncDir(dir); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		for seed := range uint64(20) {
			img := filepath.Join(t.TempDir(), "img")
			if err := r.CrashImage(rand.New(rand.NewPCG(seed, uint64(round))), img); err != nil {
				t.Fatal(err)
			}
			for i := range 4 {
				b, err := os.ReadFile(filepath.Join(img, "d", fmt.Sprintf("f%d", i)))
				if err != nil || string(b) != fmt.Sprintf("data %d", i) {
					t.Fatalf("round %d seed %d: f%d = %q, %v", round, seed, i, b, err)
				}
			}
		}
	}
}
