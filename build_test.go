package pwlog_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/internal/tutorial"
)

// TestBuild: a sink whose file a source of the pipeline would read, two
// sinks writing one file, and a sink table with a column named time or
// diff are refused when the pipeline is built; Run returns the error,
// naming the sink once, before it creates the storage or writes a file.
// Sinks that only look alike, and the tutorial pipeline, still run.
func TestBuild(t *testing.T) {
	data, err := filepath.Abs("testdata/tutorial/run1")
	if err != nil {
		t.Fatal(err)
	}
	// The tutorial's first run, for the sinks of the accepted pipelines.
	ref := t.TempDir()
	if err := os.Mkdir(filepath.Join(ref, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFiles(t, data, filepath.Join(ref, "in"))
	if err := runSessions(t, filepath.Join(ref, "in"), filepath.Join(ref, "out.csv"), "", false); err != nil {
		t.Fatal(err)
	}
	want := signed(readSink(t, filepath.Join(ref, "out.csv")))
	if len(want) == 0 {
		t.Fatal("the tutorial's first run wrote no rows")
	}

	sessions := func(p *pwlog.Pipeline) *pwlog.Table { return tutorial.Sessions(p, "in", 300) }
	tutorialTo := func(path string) func(*pwlog.Pipeline) {
		return func(p *pwlog.Pipeline) { sessions(p).WriteCSV("output", path) }
	}
	abs := func(path string) string {
		a, err := filepath.Abs(path)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	str := pwlog.Schema{{Name: "k", Type: pwlog.TypeStr}}
	mkdir := func(dirs ...string) func(*testing.T) {
		return func(t *testing.T) {
			for _, d := range dirs {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	link := func(pairs ...string) func(*testing.T) { // link, target, ...
		return func(t *testing.T) {
			for i := 0; i < len(pairs); i += 2 {
				if err := os.Symlink(pairs[i+1], pairs[i]); err != nil {
					t.Skipf("no symbolic links here: %v", err)
				}
			}
		}
	}

	cases := []struct {
		name  string
		setup func(*testing.T) // in the case's directory, the working directory, holding in/ with the tutorial's files
		build func(*pwlog.Pipeline)
		// A refused pipeline: the sink named once, what the error says, and
		// files that must not appear.
		sink   string
		want   []string
		absent []string
		// An accepted pipeline: the sinks that get the tutorial's rows.
		outputs []string
	}{
		// A sink read back by a source.
		{name: "in source dir", build: tutorialTo("in/out.csv"), sink: "output",
			want: []string{`path "in/out.csv" lies in directory "in" of source "accesses"`, "read back as input"}},
		{name: "under source dir", setup: mkdir("in/sub"), build: tutorialTo("in/sub/out.csv"), sink: "output",
			want: []string{`path "in/sub/out.csv" lies in directory "in" of source "accesses"`}},
		{name: "dotdot sink", build: tutorialTo("./in/../in/out.csv"), sink: "output",
			want: []string{`path "./in/../in/out.csv"`, `directory "in" of source "accesses"`}},
		{name: "absolute sink", build: func(p *pwlog.Pipeline) { sessions(p).WriteCSV("output", abs("in/out.csv")) }, sink: "output",
			want: []string{`directory "in" of source "accesses"`}},
		{name: "dotdot source", build: func(p *pwlog.Pipeline) { tutorial.Sessions(p, "./in/../in/", 300).WriteCSV("output", "in/out.csv") }, sink: "output",
			want: []string{`directory "./in/../in/" of source "accesses"`}},
		{name: "absolute source", build: func(p *pwlog.Pipeline) { tutorial.Sessions(p, abs("in"), 300).WriteCSV("output", "in/out.csv") }, sink: "output",
			want: []string{`of source "accesses"`}},
		{name: "sink through linked dir", setup: link("link", "in"), build: tutorialTo("link/out.csv"), sink: "output",
			want: []string{`path "link/out.csv" (the file "`, `directory "in" of source "accesses"`}},
		{name: "source through linked dir", setup: link("link", "in"),
			build: func(p *pwlog.Pipeline) { tutorial.Sessions(p, "link", 300).WriteCSV("output", "in/out.csv") }, sink: "output",
			want: []string{`directory "link" of source "accesses"`}},
		{name: "sink link to new csv in dir", setup: link("out.txt", "in/new.csv"), build: tutorialTo("out.txt"), sink: "output",
			want: []string{`path "out.txt" (the file "`, `new.csv") lies in directory "in"`}},
		{name: "sink link to input file", setup: link("out.txt", "in/part_one.csv"), build: tutorialTo("out.txt"), sink: "output",
			want: []string{`part_one.csv") lies in directory "in"`}},
		{name: "csv link in dir to outside", setup: link("in/out.csv", "../elsewhere.txt"), build: tutorialTo("in/out.csv"), sink: "output",
			want: []string{`path "in/out.csv" lies in directory "in"`}, absent: []string{"elsewhere.txt"}},
		{name: "source added after sink", setup: mkdir("other"), build: func(p *pwlog.Pipeline) {
			p.ReadCSV("keys", "other", str).WriteCSV("keys_out", "in/keys.csv")
			sessions(p).WriteCSV("output", "out.csv")
		}, sink: "keys_out", want: []string{`path "in/keys.csv" lies in directory "in" of source "accesses"`}, absent: []string{"out.csv"}},
		// Two sinks on one file.
		{name: "same path", build: func(p *pwlog.Pipeline) {
			s := sessions(p)
			s.WriteCSV("a", "out.csv")
			s.WriteCSV("b", "out.csv")
		}, sink: "b", want: []string{`path "out.csv" is written by sink "a" (path "out.csv") too`}, absent: []string{"out.csv"}},
		{name: "same path dotdot", setup: mkdir("sub"), build: func(p *pwlog.Pipeline) {
			s := sessions(p)
			s.WriteCSV("a", "out.csv")
			s.WriteCSV("b", "./sub/../out.csv")
		}, sink: "b", want: []string{`path "./sub/../out.csv"`, `is written by sink "a" (path "out.csv")`}, absent: []string{"out.csv"}},
		{name: "same path absolute", build: func(p *pwlog.Pipeline) {
			s := sessions(p)
			s.WriteCSV("a", "out.csv")
			s.WriteCSV("b", abs("out.csv"))
		}, sink: "b", want: []string{`is written by sink "a" (path "out.csv")`}, absent: []string{"out.csv"}},
		{name: "same path through link", setup: link("alias.csv", "out.csv"), build: func(p *pwlog.Pipeline) {
			s := sessions(p)
			s.WriteCSV("a", "out.csv")
			s.WriteCSV("b", "alias.csv")
		}, sink: "b", want: []string{`path "alias.csv" (the file "`, `is written by sink "a" (path "out.csv")`}, absent: []string{"out.csv"}},
		{name: "same path through linked dir", setup: link("d", "."), build: func(p *pwlog.Pipeline) {
			s := sessions(p)
			s.WriteCSV("a", "d/out.csv")
			s.WriteCSV("b", "out.csv")
		}, sink: "b", want: []string{`is written by sink "a" (path "d/out.csv")`}, absent: []string{"out.csv"}},
		// Columns the sink appends.
		{name: "reduce column time", build: func(p *pwlog.Pipeline) {
			sessions(p).GroupBy("user_id").
				Reduce("per_user", pwlog.Out("user_id", pwlog.Col("user_id")), pwlog.Out("time", pwlog.Max("session_finish"))).
				WriteCSV("last", "out.csv")
		}, sink: "last", want: []string{`column "time" of its table collides`, `rename it (give its Out in reduce "per_user" another name)`}, absent: []string{"out.csv"}},
		{name: "source column diff", setup: mkdir("ev"), build: func(p *pwlog.Pipeline) {
			p.ReadCSV("events", "ev", pwlog.Schema{{Name: "k", Type: pwlog.TypeStr}, {Name: "diff", Type: pwlog.TypeInt}}).
				WriteCSV("raw", "out.csv")
		}, sink: "raw", want: []string{`column "diff" of its table collides`, `in the schema of source "events"`}, absent: []string{"out.csv"}},
		{name: "empty path", build: tutorialTo(""), sink: "output", want: []string{`sink "output": empty path`}},
		// Accepted.
		{name: "tutorial", build: tutorialTo("out.csv"), outputs: []string{"out.csv"}},
		{name: "non-csv sinks in source dir", setup: mkdir("in/sub"), build: func(p *pwlog.Pipeline) {
			s := sessions(p)
			s.WriteCSV("txt", "in/out.txt")
			s.WriteCSV("upper", "in/sub/out.CSV")
			s.WriteCSV("bak", "./in/../in/out.csv.bak")
		}, outputs: []string{"in/out.txt", "in/sub/out.CSV", "in/out.csv.bak"}},
		{name: "beside source dir", build: func(p *pwlog.Pipeline) {
			s := sessions(p)
			s.WriteCSV("a", "in.csv")
			s.WriteCSV("b", "in2/../input.csv")
		}, setup: mkdir("in2"), outputs: []string{"in.csv", "input.csv"}},
		{name: "linked dir out of source dir", setup: func(t *testing.T) {
			mkdir("elsewhere")(t)
			link("in/away", "../elsewhere")(t)
		}, build: tutorialTo("in/away/out.csv"), outputs: []string{"elsewhere/out.csv"}},
		{name: "devices shared", build: func(p *pwlog.Pipeline) {
			s := sessions(p)
			s.WriteCSV("a", os.DevNull)
			s.WriteCSV("b", os.DevNull)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Chdir(t.TempDir())
			mkdir("in")(t)
			copyFiles(t, data, "in")
			if c.setup != nil {
				c.setup(t)
			}
			before := tree(t, ".")
			p := pwlog.New()
			c.build(p)
			err := p.Run(t.Context(), quietConfig("storage"))
			if c.sink == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				for _, out := range c.outputs {
					if got := signed(readSink(t, out)); !slices.Equal(got, want) {
						t.Fatalf("%s: %v, want %v", out, got, want)
					}
				}
				// The next execution finds nothing new: the sinks' own
				// files were not read back.
				p := pwlog.New()
				c.build(p)
				if err := p.Run(t.Context(), quietConfig("storage")); err != nil {
					t.Fatalf("second execution: %v", err)
				}
				for _, out := range c.outputs {
					if got := readSink(t, out); len(got) != 0 {
						t.Fatalf("second execution wrote %v to %s, want nothing", got, out)
					}
				}
				return
			}
			if err == nil {
				t.Fatal("built and ran; want it refused")
			}
			msg := err.Error()
			t.Log(msg)
			if !strings.HasPrefix(msg, "pwlog: ") {
				t.Errorf("error %q does not start with %q", msg, "pwlog: ")
			}
			if n := strings.Count(msg, `sink "`+c.sink+`"`); n != 1 {
				t.Errorf("error %q names sink %q %d times, want once", msg, c.sink, n)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			// Nothing was created or written: no storage, no sink file, the
			// input as it was.
			if _, err := os.Lstat("storage"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the refused run made the storage directory (%v)", err)
			}
			for _, a := range c.absent {
				if _, err := os.Stat(a); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("the refused run made %s (%v)", a, err)
				}
			}
			if after := tree(t, "."); !slices.Equal(after, before) {
				t.Errorf("the refused run changed the files: %v, were %v", after, before)
			}
			if err := p.Run(t.Context(), quietConfig("storage")); err == nil || err.Error() != msg {
				t.Errorf("a second Run: %v, want the same error", err)
			}
		})
	}
}

// tree lists the entries under dir with their sizes and link targets.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		e := p + " " + fi.Mode().String() + " " + itoa(fi.Size())
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			e += " -> " + target
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
