package backend_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/pwlog/pwlog/backend"
)

func Example() {
	dir, err := os.MkdirTemp("", "backend-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	b, err := backend.NewFilesystem(dir)
	if err != nil {
		log.Fatal(err)
	}
	// Runs first, then the manifest that names them; Create refuses to
	// overwrite a manifest another writer got to first.
	if err := b.Put(ctx, "runs/000001.run", []byte("run 1")); err != nil {
		log.Fatal(err)
	}
	if err := b.Create(ctx, "MANIFEST-0000000000000001", []byte("runs/000001.run")); err != nil {
		log.Fatal(err)
	}
	err = b.Create(ctx, "MANIFEST-0000000000000001", []byte("other"))
	fmt.Println("second create exists:", errors.Is(err, backend.ErrExist))

	names, err := b.List(ctx, "")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(names)
	_, err = b.Get(ctx, "runs/000002.run")
	fmt.Println(err)
	// Output:
	// second create exists: true
	// [MANIFEST-0000000000000001 runs/000001.run]
	// backend: get runs/000002.run: backend: object does not exist
}
