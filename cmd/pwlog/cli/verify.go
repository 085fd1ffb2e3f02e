package cli

import (
	"fmt"

	"github.com/pwlog/pwlog/tool"

	"github.com/spf13/cobra"
)

func newVerify(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "verify STORAGE",
		Short: "Check every checksum and invariant of a storage",
		Long: `verify checks the storage STORAGE without changing it: every
checksum of the log, the manifests and the checkpoint runs; the
continuity of the log's frames and segments (in an object store, its
objects); that every record decodes
and every batch is consistent; that the live manifest's runs are there,
whole, sorted and consolidated; that the log follows the checkpoint
without a gap. It prints each problem with its file (in an object
store, the object's URL) and offset. A damaged format marker is one:
the rest is checked as this build's format.

` + locations + `

Exit status: 0 when the storage is sound, 1 when it is damaged (it
prints the problems), 2 when verify could not run (see pwlog --help).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := storageBackend(args[0])
			if err != nil {
				return err
			}
			bar := newProgress(cmd.ErrOrStderr(), "verify")
			rep, err := tool.Verify(cmd.Context(), args[0], &tool.ReadOptions{Backend: b, Progress: bar.fn()})
			bar.done()
			if err != nil {
				return fail(err)
			}
			p := newPrinter(cmd.OutOrStdout(), o)
			if p.json {
				p.object(struct {
					*tool.VerifyReport
					Sound bool `json:"sound"`
				}{rep, rep.Sound()})
			} else {
				printVerify(p, rep)
			}
			if p.err != nil {
				return p.err
			}
			if !rep.Sound() {
				return &exitError{ExitDamaged, fmt.Errorf("%s is damaged: %s", rep.Dir, plural(len(rep.Problems), "problem"))}
			}
			return nil
		},
	}
}

func printVerify(p *printer, r *tool.VerifyReport) {
	for _, pr := range r.Problems {
		p.linef("problem: %s", pr)
	}
	for _, n := range r.Notes {
		p.linef("note: %s", n)
	}
	verdict := "sound"
	if !r.Sound() {
		verdict = "DAMAGED: " + plural(len(r.Problems), "problem")
	}
	p.linef("%s: %s (%s, %s, %s, %s checked)", r.Dir, verdict,
		plural(r.Records, "log record"), plural(r.Manifests, "manifest"), plural(r.Runs, "run"), size(r.Bytes))
}
