// Package cli is the pwlog command: inspect, dump, verify and compact a
// storage, a directory or one kept in an object store (s3://BUCKET/PREFIX,
// azure://CONTAINER/PREFIX), and ask for a sink's re-snapshot. Run executes it; New returns the command tree
// for embedding in another program.
//
// Exit status, the same for every command (exitCodes, printed by
// pwlog --help):
//
//	0  done; verify: the storage is sound
//	1  the storage is damaged: verify found problems, inspect listed
//	   some, dump or compact met damage (a corrupt log or checkpoint, a
//	   damaged format marker)
//	2  could not run: bad usage (an unknown command, flag or name), a
//	   directory or storage URL that is missing or not a pwlog storage,
//	   a format this build does not read, an I/O error, interrupted
//	3  locked: another process (a running pipeline) holds the storage;
//	   only compact and resnapshot take the lock (in an object store,
//	   the writer's lease)
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/internal/location"
	"github.com/pwlog/pwlog/tool"
)

// Exit statuses.
const (
	ExitOK      = 0
	ExitDamaged = 1 // the storage is damaged
	ExitCantRun = 2 // bad usage, not a pwlog storage, unreadable, interrupted
	ExitLocked  = 3 // another process holds the storage
)

// exitCodes is the table of exit statuses, for the help texts.
const exitCodes = `Exit status, the same for every command:
  0  done; verify: the storage is sound
  1  the storage is damaged: verify found problems, inspect listed some,
     dump or compact met damage (a corrupt log or checkpoint, a damaged
     format marker)
  2  could not run: bad usage (an unknown command, flag or name), a
     directory or storage URL that is missing or not a pwlog storage,
     a format this build does not read, an I/O error, interrupted
  3  locked: another process (a running pipeline) holds the storage;
     only compact and resnapshot take the lock (in an object store,
     the writer's lease)`

// locations says what a STORAGE argument may be, for the help texts.
const locations = `STORAGE is a storage directory, or the URL of a storage kept in an
object store:
  s3://BUCKET/PREFIX        S3 or a server that speaks it, configured by
                            the AWS_* environment: AWS_ACCESS_KEY_ID,
                            AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
                            AWS_REGION, AWS_ENDPOINT_URL (another server)
  azure://CONTAINER/PREFIX  Azure Blob Storage, configured by
                            AZURE_STORAGE_CONNECTION_STRING
PREFIX may be empty: the storage is then the whole bucket or container.`

// openLocation returns the backend of a storage URL; tests replace it.
var openLocation = location.Open

// storageBackend returns the backend of the storage arg names when it is
// a storage URL, nil when it is a directory (the tools read it as one).
func storageBackend(arg string) (backend.Backend, error) {
	if !location.Remote(arg) {
		return nil, nil
	}
	b, err := openLocation(arg)
	if err != nil {
		return nil, &exitError{ExitCantRun, err}
	}
	return b, nil
}

// exitError carries a command's exit status with its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// fail returns err with the exit status its kind calls for (exitCodes).
func fail(err error) error {
	return &exitError{exitCode(err), err}
}

// exitCode returns the exit status for a command's error.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, tool.ErrLocked):
		return ExitLocked
	case tool.IsDamage(err): // a damaged marker too, though it wraps ErrFormat
		return ExitDamaged
	}
	// Not a storage, a newer format, a missing directory, an unknown
	// name, an I/O error, interrupted.
	return ExitCantRun
}

// options are the flags every command shares.
type options struct {
	json bool
}

// New returns the pwlog command tree, writing to cmd.OutOrStdout and
// cmd.ErrOrStderr.
func New() *cobra.Command {
	o := &options{}
	root := &cobra.Command{
		Use:   "pwlog",
		Short: "Inspect, dump, verify and compact pwlog storages",
		Long: `pwlog looks inside the storage of a persistent pipeline, a directory
or one kept in an object store: what it has read, what state it keeps,
how big it is, whether it is sound; it compacts it, and asks the next
execution to write a sink's whole table into a new file (resnapshot).
Only compact and resnapshot write, and they take the storage's lock (in
an object store, the writer's lease).

` + locations + `

` + exitCodes,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVar(&o.json, "json", false, "print JSON (dump: one object per line) instead of text")
	root.AddCommand(newInspect(o), newDump(o), newVerify(o), newCompact(o), newResnapshot(o))
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &exitError{ExitCantRun, err}
	})
	return root
}

// Run executes the pwlog command with args and returns its exit status.
// Errors are printed to stderr as "pwlog: <message>".
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := New()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	// cobra's own errors (unknown command, bad args) are bad usage:
	// exitCode gives them ExitCantRun.
	fmt.Fprintf(stderr, "pwlog: %v\n", trimPrefix(err))
	return exitCode(err)
}

// trimPrefix drops the library's "pwlog: " prefix, which Run prints once.
func trimPrefix(err error) string {
	s := err.Error()
	for len(s) > 7 && s[:7] == "pwlog: " {
		s = s[7:]
	}
	return s
}
