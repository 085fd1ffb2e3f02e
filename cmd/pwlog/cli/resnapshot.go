package cli

import (
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/pwlog/pwlog/tool"
)

func newResnapshot(o *options) *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "resnapshot STORAGE SINK",
		Short: "Have the next execution write a sink's whole table into a new file",
		Long: `resnapshot is for a sink whose file, an append-mode changelog, was
deleted or rotated. It records in the storage STORAGE that the next
execution of the pipeline is to write the sink's whole current table into
a new file, as of the last committed time and at that time (one row per
row of the table, its diff its multiplicity), and then to go on from
there with the deltas of later times, as before. The new file sums to the
table the old one summed to. resnapshot does not touch the sink's file:
the next execution creates it anew, replacing whatever is there.

It appends one commit record to the log, at the last committed time,
holding the sink's acknowledgement as it was with a re-snapshot flag; the
next execution's acknowledgement of the sink clears it. pwlog inspect
shows the flag while it is pending. Running resnapshot again before the
next execution changes nothing.

The next execution needs the sink's table, which only a storage that
keeps its pipeline's inputs holds: one written with KeepInputs in
pwlog.Config (the -keep-inputs flag of the examples), or in the modes
inputs, selective or udf-cache. resnapshot refuses a storage that does
not, a storage with no commit yet, and a sink its pipeline does not have
(it names the sinks it has). It takes the storage's lock (in an object
store, the writer's lease), so it refuses while a pipeline runs on
STORAGE.

` + locations + `

Exit status: 0 when the re-snapshot is recorded (or was pending
already), 1 when it met damage, 2 when it could not run (an unknown sink,
a storage that keeps no sink tables or holds no commit), 3 when another
process holds the storage. See pwlog --help.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := storageBackend(args[0])
			if err != nil {
				return err
			}
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			if verbose {
				logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			}
			res, err := tool.Resnapshot(cmd.Context(), args[0], args[1], &tool.ResnapshotOptions{Logger: logger, Backend: b})
			if err != nil {
				return fail(err)
			}
			p := newPrinter(cmd.OutOrStdout(), o)
			switch {
			case p.json:
				p.object(resnapshotJSON{Dir: args[0], ResnapshotResult: res})
			case res.AlreadyPending:
				p.linef("%s: a re-snapshot of sink %s is pending already: nothing written", args[0], res.Sink)
			default:
				p.linef("%s: the next execution writes the whole table of sink %s, as of time %d, into a new file (commit at LSN %d)",
					args[0], res.Sink, res.Time, res.LSN)
			}
			return p.err
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log each step to stderr")
	return cmd
}

// resnapshotJSON is resnapshot's --json output.
type resnapshotJSON struct {
	Dir string `json:"dir"`
	tool.ResnapshotResult
}
