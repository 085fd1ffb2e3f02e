package cli

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/pwlog/pwlog/record"
	"github.com/pwlog/pwlog/tool"

	"github.com/spf13/cobra"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/wal"
)

func newDump(o *options) *cobra.Command {
	var (
		d                tool.DumpOptions
		times, kinds     string
		srcs, ops, sinks []string
	)
	cmd := &cobra.Command{
		Use:   "dump STORAGE",
		Short: "Print the log's records, one per line, rows decoded",
		Long: `dump prints the records of the storage STORAGE's log, one per line,
in LSN order, without changing the storage. Rows are decoded and their
values named by the pipeline's columns. Records after the last commit,
which the next execution cuts, are marked uncommitted. With --json each line is
one JSON object.

Kinds: pipeline (the pipeline's fingerprint and columns), input (a
source's rows of a time), state (an operator's state deltas), output (a
sink's rows), commit (ends a time: the sources' offsets, sink acks).

An execution that finishes, and pwlog compact, fold the log into the checkpoint:
its records are gone and dump prints nothing (it says so on stderr);
--checkpoint prints the checkpoint's state, one line per group of each
run. (A log in an object store keeps its last object, whose records
the checkpoint holds too.)

` + locations + `

Exit status: 0 when it printed what was asked, 1 when it met damage (a
corrupt log or checkpoint, a record that does not decode; it prints what
comes before), 2 when it could not run, or --source, --operator or
--sink names something the storage does not know (the error lists what
it knows). See pwlog --help.`,
		Example: `  pwlog dump storage --kind input --source accesses
  pwlog dump storage --time 1700000000001..1700000000005 --kind state,output
  pwlog dump storage --from-lsn 40 --json | jq .rows`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if d.FromTime, d.ToTime, err = parseRange(times); err != nil {
				return &exitError{ExitCantRun, fmt.Errorf("--time: %w", err)}
			}
			if d.Kinds, err = parseKinds(kinds); err != nil {
				return &exitError{ExitCantRun, fmt.Errorf("--kind: %w", err)}
			}
			d.Sources, d.Operators, d.Sinks = srcs, ops, sinks
			if d.Backend, err = storageBackend(args[0]); err != nil {
				return err
			}
			p := newPrinter(cmd.OutOrStdout(), o)
			undecodable := 0
			sum, err := tool.Dump(cmd.Context(), args[0], &d, func(e *tool.DumpEntry) error {
				if e.Error != "" && e.Committed {
					undecodable++
				}
				if p.json {
					p.object(e)
				} else {
					p.linef("%s", dumpLine(e))
				}
				return p.err
			})
			if err != nil {
				return fail(err)
			}
			if p.err != nil {
				return p.err
			}
			if undecodable > 0 {
				return &exitError{ExitDamaged, fmt.Errorf("%s is damaged: %s undecodable (pwlog verify checks everything)",
					args[0], plural(undecodable, "record"))}
			}
			switch {
			case sum.Delivered > 0 || !sum.Folded() || d.Checkpoint:
			case sum.Records == 0:
				fmt.Fprintf(cmd.ErrOrStderr(), "pwlog: nothing to print: the log of %s is empty, everything up to LSN %d is folded into its checkpoint (%s); dump --checkpoint prints the checkpoint's state\n",
					args[0], sum.ManifestLSN, sum.Manifest)
			default:
				fmt.Fprintf(cmd.ErrOrStderr(), "pwlog: nothing to print: the log of %s holds nothing after LSN %d, everything up to it is folded into its checkpoint (%s); dump --checkpoint prints the checkpoint's state\n",
					args[0], sum.ManifestLSN, sum.Manifest)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&d.FromLSN, "from-lsn", 0, "only records with this LSN or a later one")
	f.Uint64Var(&d.ToLSN, "to-lsn", 0, "only records with this LSN or an earlier one")
	f.StringVar(&times, "time", "", "only records of this logical time, or of a range `T1..T2` (either end may be left out)")
	f.StringVar(&kinds, "kind", "", "only records of these kinds, comma separated: "+strings.Join(kindNames(), ","))
	f.StringSliceVar(&srcs, "source", nil, "only records of these sources: input records, a retracting source's state records, and the commits that advanced them")
	f.StringSliceVar(&ops, "operator", nil, "only state records of these operators")
	f.StringSliceVar(&sinks, "sink", nil, "only records of these sinks: output records and the commits that acknowledged them")
	f.BoolVar(&d.Checkpoint, "checkpoint", false, "first print the live checkpoint's runs, one line per group of each run, with its entries (the state the log's records apply to)")
	return cmd
}

var kinds = map[string]wal.Kind{}

func init() {
	for _, k := range []wal.Kind{record.KindPipeline, record.KindInput, record.KindState, record.KindOutput, record.KindCommit} {
		kinds[record.KindName(k)] = k
	}
}

func kindNames() []string { return slices.Sorted(maps.Keys(kinds)) }

func parseKinds(s string) ([]wal.Kind, error) {
	if s == "" {
		return nil, nil
	}
	var out []wal.Kind
	for _, name := range strings.Split(s, ",") {
		k, ok := kinds[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("unknown kind %q; the kinds are %s", name, strings.Join(kindNames(), ", "))
		}
		out = append(out, k)
	}
	return out, nil
}

// parseRange parses "T", "A..B", "A.." or "..B" into an inclusive range;
// to is 0 when open.
func parseRange(s string) (from, to uint64, err error) {
	if s == "" {
		return 0, 0, nil
	}
	lo, hi, isRange := strings.Cut(s, "..")
	parse := func(v string) (uint64, error) {
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a logical time (an unsigned integer)", v)
		}
		return n, nil
	}
	if from, err = parse(lo); err != nil {
		return 0, 0, err
	}
	if !isRange {
		if from == 0 {
			return 0, 0, fmt.Errorf("%q is not a logical time (an unsigned integer)", s)
		}
		return from, from, nil
	}
	if to, err = parse(hi); err != nil {
		return 0, 0, err
	}
	if to > 0 && to < from {
		return 0, 0, fmt.Errorf("empty range %s", s)
	}
	return from, to, nil
}

// dumpLine formats a record for people, on one line.
func dumpLine(e *tool.DumpEntry) string {
	var b strings.Builder
	if e.Kind == tool.KindRun {
		fmt.Fprintf(&b, "%6s  %-8s  %s", "-", e.Kind, filepath.Base(e.File))
	} else {
		fmt.Fprintf(&b, "%6d  %-8s", e.LSN, e.Kind)
	}
	if e.Time > 0 {
		fmt.Fprintf(&b, "  time %d", e.Time)
	}
	if !e.Committed {
		b.WriteString("  (uncommitted)")
	}
	switch {
	case e.Source != "":
		fmt.Fprintf(&b, "  source %s", e.Source)
	case e.Operator != "":
		fmt.Fprintf(&b, "  operator %s/%s", e.Operator, e.Arrangement)
	case e.Sink != "":
		fmt.Fprintf(&b, "  sink %s", e.Sink)
	}
	if e.Error != "" {
		fmt.Fprintf(&b, "  UNDECODABLE at %s offset %d: %s", e.File, e.Offset, e.Error)
		return b.String()
	}
	if e.Rows != nil {
		// A run's entry is one group: name it once.
		one := e.Kind == tool.KindRun && len(e.Rows) > 0 && e.Rows[0].Group != nil
		if one {
			b.WriteString("  [" + fields(e.Rows[0].Group) + "]")
		}
		fmt.Fprintf(&b, "  %s:", plural(len(e.Rows), "row"))
		for i, r := range e.Rows {
			if i > 0 {
				b.WriteByte(';')
			}
			fmt.Fprintf(&b, " %+d", r.Diff)
			if r.Group != nil && !one {
				b.WriteString(" [" + fields(r.Group) + "]")
			}
			b.WriteString(" (" + fields(r.Values) + ")")
		}
	}
	if c := e.Commit; c != nil {
		for _, name := range slices.Sorted(maps.Keys(c.Sources)) {
			for _, f := range c.Sources[name] {
				fmt.Fprintf(&b, "  %s: %s at byte %d, %d rows", name, f.Path, f.Offset, f.Rows)
			}
		}
		for _, name := range slices.Sorted(maps.Keys(c.Removed)) {
			fmt.Fprintf(&b, "  %s: retracted %s", name, strings.Join(c.Removed[name], ", "))
		}
		for _, name := range slices.Sorted(maps.Keys(c.Acks)) {
			a := c.Acks[name]
			fmt.Fprintf(&b, "  ack %s: time %d, %d bytes", name, a.Time, a.Offset)
		}
	}
	if pr := e.Pipeline; pr != nil {
		b.WriteString("  " + strings.Join(pr.Lines, " | "))
		if pr.Catalog != nil {
			for _, name := range slices.Sorted(maps.Keys(pr.Catalog.Tables)) {
				fmt.Fprintf(&b, "  %s(%s)", name, strings.Join(pr.Catalog.Tables[name], ", "))
			}
		}
	}
	return b.String()
}

// fields formats named values: user_id="alice", access_time=1701102730.
func fields(fs tool.Fields) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = f.Name + "=" + value(f.Value)
	}
	return strings.Join(parts, ", ")
}

// value formats a value unambiguously: strings quoted, null as null.
func value(v differential.Value) string {
	switch v.Kind {
	case differential.KindNull:
		return "null"
	case differential.KindString, differential.KindBytes:
		return strconv.Quote(v.S)
	case differential.KindBool:
		return strconv.FormatBool(v.AsBool())
	}
	return v.String()
}
