package cli

import (
	"io"
	"log/slog"

	"github.com/pwlog/pwlog/tool"

	"github.com/spf13/cobra"
)

func newCompact(o *options) *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "compact STORAGE",
		Short: "Fold the log into the checkpoint, merge runs, truncate, delete garbage",
		Long: `compact shrinks the storage STORAGE of a stopped pipeline: it folds
the committed log into the checkpoint, merges runs, truncates the log
behind the new checkpoint and deletes the files nothing uses. It takes
the storage's lock (in an object store, the writer's lease), so it
refuses while a pipeline runs on STORAGE. It prints the storage's size
before and after: N -> M bytes. When the log holds nothing to fold (an
execution that finished folded it) it only deletes garbage.

A storage of an older format, which a pipeline refuses to open, is
upgraded to the current one: compact first rewrites its checkpoint runs
(format 2 gives them a block index), then folds the log, and last
replaces the format marker. It prints that it upgraded the storage. An
upgrade that was interrupted leaves a storage compact upgrades again.
(No storage in an object store is of an older format.)

` + locations + `

Exit status: 0 when it compacted or had nothing to do, 1 when it met
damage (the checkpoint in force stays; pwlog verify tells more), 2 when
it could not run, 3 when another process holds the storage. See
pwlog --help.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := storageBackend(args[0])
			if err != nil {
				return err
			}
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			if verbose {
				logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			}
			bar := newProgress(cmd.ErrOrStderr(), "compact")
			bar.unit = "records"
			st, err := tool.Compact(cmd.Context(), args[0], &tool.CompactOptions{Logger: logger, Backend: b, Progress: bar.update})
			bar.done()
			if err != nil {
				return fail(err)
			}
			p := newPrinter(cmd.OutOrStdout(), o)
			if p.json {
				p.object(compactJSON{Dir: args[0], Upgraded: st.Upgraded, RunsUpgraded: st.RunsUpgraded,
					Compacted: st.Compacted, BytesBefore: st.BytesBefore, BytesAfter: st.BytesAfter,
					FoldedLSN: st.FoldedLSN, Manifest: st.Seq, EntriesFolded: st.EntriesFolded,
					RunsWritten: st.RunsWritten, RunsMerged: st.RunsMerged, LiveRuns: st.LiveRuns,
					LiveBytes: st.LiveBytes, FilesDeleted: st.ObjectsDeleted})
				return p.err
			}
			p.linef("%s: %d -> %d bytes (%s -> %s)", args[0], st.BytesBefore, st.BytesAfter, size(st.BytesBefore), size(st.BytesAfter))
			if st.Upgraded {
				p.linef("upgraded the storage from format %d to format %d: %s of format %d rewritten",
					st.FormatBefore, tool.FormatVersion, plural(st.RunsUpgraded, "checkpoint run"), st.FormatBefore)
			}
			switch {
			case st.Compacted:
				p.linef("folded the log up to LSN %d into manifest %d: %s entries; %d runs written, %d merged; %s, %s; %s deleted",
					st.FoldedLSN, st.Seq, count(st.EntriesFolded), st.RunsWritten, st.RunsMerged,
					plural(st.LiveRuns, "live run"), size(st.LiveBytes), plural(st.ObjectsDeleted, "file"))
			case st.Seq > 0:
				p.linef("nothing to fold: manifest %d covers the log up to LSN %d; %s, %s; %s deleted",
					st.Seq, st.FoldedLSN, plural(st.LiveRuns, "live run"), size(st.LiveBytes), plural(st.ObjectsDeleted, "file"))
			default:
				p.linef("nothing to fold: no checkpoint, and the log holds no time every sink acknowledged; %s deleted",
					plural(st.ObjectsDeleted, "file"))
			}
			return p.err
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log each step to stderr")
	return cmd
}

// compactJSON is compact's --json output.
type compactJSON struct {
	Dir string `json:"dir"`
	// Upgraded is true when compact upgraded a storage of an older
	// format, rewriting RunsUpgraded checkpoint runs.
	Upgraded     bool `json:"upgraded"`
	RunsUpgraded int  `json:"runs_upgraded,omitempty"`
	// Compacted is false when the log held nothing to fold: compact only
	// deleted garbage, and Manifest and the live runs describe the
	// checkpoint in force.
	Compacted     bool   `json:"compacted"`
	BytesBefore   int64  `json:"bytes_before"`
	BytesAfter    int64  `json:"bytes_after"`
	FoldedLSN     uint64 `json:"folded_lsn"`
	Manifest      uint64 `json:"manifest,omitempty"` // the manifest in force after compact; 0 when there is none
	EntriesFolded int64  `json:"entries_folded"`
	RunsWritten   int    `json:"runs_written"`
	RunsMerged    int    `json:"runs_merged"`
	LiveRuns      int    `json:"live_runs"`
	LiveBytes     int64  `json:"live_bytes"`
	FilesDeleted  int    `json:"files_deleted"`
}
