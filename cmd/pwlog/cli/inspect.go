package cli

import (
	"fmt"
	"strings"

	"github.com/pwlog/pwlog/internal/location"
	"github.com/pwlog/pwlog/tool"

	"github.com/spf13/cobra"
)

func newInspect(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "inspect STORAGE",
		Short: "Describe a storage: checkpoint, log, sources, sinks, sizes, lock",
		Long: `inspect describes the storage STORAGE without changing it: its
format version; the live checkpoint (LSN, logical time, runs per
arrangement with entries and bytes); the log (LSN range, segments, bytes,
committed times after the checkpoint, an uncommitted tail); every source
with the files, bytes and rows it has read; every sink and its position,
and a re-snapshot pending for it (pwlog resnapshot); the caches of
user-defined functions (entries and bytes, per operator and function);
the kept inputs and sink tables of a pipeline that keeps its inputs
(entries and bytes, per source and sink); the logical clock; and whether a process holds the storage's lock
(in an object store, the writer's lease: its holder's host, pid and
epoch; inspect does not take it). It lists the damage it meets on the
way; pwlog verify checks everything.

` + locations + `

Exit status: 0 when it found no damage, 1 when it lists problems (or
the storage's format marker is damaged), 2 when it could not run. A
storage locked by a running pipeline is inspected all the same. See
pwlog --help.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := storageBackend(args[0])
			if err != nil {
				return err
			}
			info, err := tool.Inspect(cmd.Context(), args[0], &tool.ReadOptions{Backend: b})
			if err != nil {
				return fail(err)
			}
			p := newPrinter(cmd.OutOrStdout(), o)
			if p.json {
				p.object(info)
			} else {
				printInspect(p, info)
			}
			if p.err != nil {
				return p.err
			}
			if n := len(info.Problems); n > 0 {
				return &exitError{ExitDamaged, fmt.Errorf("%s is damaged: %s (pwlog verify checks everything)", info.Dir, plural(n, "problem"))}
			}
			return nil
		},
	}
}

func printInspect(p *printer, s *tool.StorageInfo) {
	p.linef("storage     %s", s.Dir)
	if s.Format < tool.FormatVersion {
		p.linef("format      %d, older than this build's %d: a pipeline refuses it, pwlog compact upgrades it", s.Format, tool.FormatVersion)
	} else {
		p.linef("format      %d", s.Format)
	}
	p.linef("size        %s (%s bytes)", size(s.Bytes), count(s.Bytes))
	switch {
	case location.Remote(s.Dir) && s.Lock.Held:
		p.linef("lease       held by %s", s.Lock.Holder)
	case location.Remote(s.Dir) && s.Lock.Unknown != "":
		p.linef("lease       unknown: %s", s.Lock.Unknown)
	case location.Remote(s.Dir):
		p.linef("lease       free: no writer holds the storage")
	case s.Lock.Held:
		p.linef("lock        held by %s", s.Lock.Holder)
	case s.Lock.Unknown != "":
		p.linef("lock        unknown: %s", s.Lock.Unknown)
	default:
		p.linef("lock        free: no process has the storage open")
	}
	if s.Clock > 0 {
		p.linef("clock       time %d", s.Clock)
	} else {
		p.linef("clock       nothing committed")
	}
	label := "pipeline"
	for _, l := range s.Pipeline {
		p.linef("%-12s%s", label, l)
		label = ""
	}

	p.linef("")
	if c := s.Checkpoint; c != nil {
		p.linef("checkpoint  %s: up to LSN %d, time %d; %d runs, %s", c.Manifest, c.LSN, c.Clock, c.Runs, size(c.Bytes))
		t := &table{indent: "  ", header: []string{"OPERATOR", "ARRANGEMENT", ">RUNS", ">ENTRIES", ">BYTES"}}
		for _, a := range c.Arrangements {
			t.add(a.Operator, a.Arrangement, count(a.Runs), count(a.Entries), size(a.Bytes))
		}
		p.table(t)
		if n := len(c.Garbage); n > 0 {
			p.linef("  %d unused files the next compaction deletes: %s", n, strings.Join(c.Garbage, ", "))
		}
	} else if s.DamagedManifest != "" {
		p.linef("checkpoint  %s is damaged (see the problems below): what it holds is unknown", s.DamagedManifest)
	} else {
		p.linef("checkpoint  none: the log holds everything")
	}

	w := s.WAL
	p.linef("")
	p.linef("wal         LSN %s, %s, %s; kept up to LSN %d", lsnRange(w.FirstLSN, w.LastLSN), plural(len(w.Segments), "segment"), size(w.Bytes), w.LastCommitLSN)
	switch w.Times {
	case 0:
		p.linef("            no committed time after the checkpoint")
	case 1:
		p.linef("            1 committed time after the checkpoint: %d", w.FirstTime)
	default:
		p.linef("            %d committed times after the checkpoint: %d..%d", w.Times, w.FirstTime, w.LastTime)
	}
	t := &table{indent: "  ", header: []string{"SEGMENT", ">FIRST LSN", ">LAST LSN", ">BYTES"}}
	for _, sg := range w.Segments {
		t.add(sg.Path, fmt.Sprint(sg.FirstLSN), fmt.Sprint(sg.LastLSN), size(sg.Bytes))
	}
	p.table(t)
	if u := w.Uncommitted; u != nil {
		what := "records of a batch never committed"
		if u.Damage != "" {
			what = "a torn tail: " + u.Damage
		}
		p.linef("  uncommitted tail: %s, %d records, %s; the next execution cuts it", size(u.Bytes), u.Records, what)
	}
	for _, f := range w.Interrupted {
		p.linef("  interrupted truncation: %s (the next execution completes it)", f)
	}
	for _, f := range w.Broken {
		p.linef("  copy of a cut tail: %s", f)
	}

	p.linef("")
	if len(s.Sources) == 0 {
		p.linef("sources     none has read anything")
	} else {
		p.linef("sources")
		for _, src := range s.Sources {
			if src.Dir != "" {
				p.linef("  %s reads %s", src.Name, src.Dir)
			}
		}
		t := &table{indent: "  ", header: []string{"SOURCE", "FILE", ">ROWS", ">BYTES READ", ">LINES"}}
		for _, src := range s.Sources {
			for _, f := range src.Files {
				t.add(src.Name, f.Path, count(f.Rows), size(f.Bytes), count(f.Lines))
			}
			t.add(src.Name, fmt.Sprintf("(%d files)", len(src.Files)), count(src.Rows), size(src.Bytes), "")
		}
		p.table(t)
	}

	p.linef("")
	if len(s.Sinks) == 0 {
		p.linef("sinks       none has received anything")
	} else {
		p.linef("sinks")
		t := &table{indent: "  ", header: []string{"SINK", ">ACKED TIME", ">ACKED OFFSET", ">LAST TIME IN LOG", ">PENDING TIMES"}}
		for _, k := range s.Sinks {
			last := "-"
			if k.LastTime > 0 {
				last = fmt.Sprint(k.LastTime)
			}
			t.add(k.Name, fmt.Sprint(k.AckTime), count(k.AckOffset), last, count(k.Pending))
		}
		p.table(t)
		for _, k := range s.Sinks {
			if k.Resnapshot {
				p.linef("  %s: re-snapshot pending: the next execution writes its whole table as of time %d into a new file", k.Name, s.Clock)
			}
		}
	}

	if len(s.UDFCaches) > 0 {
		p.linef("")
		p.linef("udf caches")
		t := &table{indent: "  ", header: []string{"OPERATOR", "FUNCTION", ">ENTRIES", ">BYTES"}}
		for _, c := range s.UDFCaches {
			t.add(c.Operator, c.Function, count(c.Entries), size(c.Bytes))
		}
		p.table(t)
	}

	for _, k := range []struct {
		title, what string
		kept        []tool.KeptInfo
	}{{"kept inputs (the rows each source committed, by time)", "SOURCE", s.KeptInputs}, {"sink tables (each sink's current table)", "SINK", s.SinkTables}} {
		if len(k.kept) == 0 {
			continue
		}
		p.linef("")
		p.linef("%s", k.title)
		t := &table{indent: "  ", header: []string{k.what, ">ENTRIES", ">BYTES"}}
		for _, c := range k.kept {
			t.add(c.Name, count(c.Entries), size(c.Bytes))
		}
		p.table(t)
	}

	if len(s.Problems) > 0 {
		p.linef("")
		p.linef("problems (run pwlog verify for all of them)")
		for _, pr := range s.Problems {
			p.linef("  %s", pr)
		}
	}
}
