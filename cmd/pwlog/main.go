// Command pwlog inspects, dumps, verifies and compacts pwlog storage
// directories. The commands live in package cli; this is only the entry.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pwlog/pwlog/cmd/pwlog/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
