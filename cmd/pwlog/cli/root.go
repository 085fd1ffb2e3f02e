// Package cli is the pwlog command: inspect, dump, verify and compact a
// storage directory. Run executes it; New returns the command tree for
// embedding in another program.
//
// Exit status: 0 when the command did its job, 1 when it failed (and for
// verify: the storage is damaged), 2 when it could not run (bad usage,
// not a pwlog storage, a newer format).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/pwlog/pwlog"
)

// Exit statuses.
const (
	ExitOK      = 0
	ExitFailed  = 1 // the command failed; verify: the storage is damaged
	ExitCantRun = 2 // bad usage, not a pwlog storage, unreadable
)

// exitError carries a command's exit status with its message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// fail returns err with the exit status its kind calls for: an
// unsupported storage cannot be worked on (2), anything else failed (1).
func fail(err error) error {
	if errors.Is(err, pwlog.ErrFormat) {
		return &exitError{ExitCantRun, err}
	}
	return &exitError{ExitFailed, err}
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
		Short: "Inspect, dump, verify and compact pwlog storage directories",
		Long: `pwlog looks inside the storage directory of a persistent pipeline:
what it has read, what state it keeps, how big it is, whether it is sound;
and compacts it. Only compact writes, and it takes the storage's lock.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().BoolVar(&o.json, "json", false, "print JSON (dump: one object per line) instead of text")
	root.AddCommand(newInspect(o), newDump(o), newVerify(o), newCompact(o))
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
	var ee *exitError
	code := ExitCantRun // cobra's own errors: unknown command, bad args
	if errors.As(err, &ee) {
		code = ee.code
	}
	fmt.Fprintf(stderr, "pwlog: %v\n", trimPrefix(err))
	return code
}

// trimPrefix drops the library's "pwlog: " prefix, which Run prints once.
func trimPrefix(err error) string {
	s := err.Error()
	for len(s) > 7 && s[:7] == "pwlog: " {
		s = s[7:]
	}
	return s
}
