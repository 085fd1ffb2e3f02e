package pwlog_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
)

// tagged is a two-input operator without state: the rows of both inputs,
// each with the index of the input it came from.
type tagged struct{ name string }

func (op tagged) Name() string                           { return op.name }
func (tagged) Kind() string                              { return "tagged" }
func (tagged) Describe() string                          { return "tagged" }
func (tagged) Arrangements() []*differential.Arrangement { return nil }
func (tagged) Schema() pwlog.Schema {
	return pwlog.Schema{{Name: "word", Type: pwlog.TypeStr}, {Name: "input", Type: pwlog.TypeInt}}
}
func (op tagged) Step(t uint64, in [][]pwlog.Update) ([]pwlog.Update, error) {
	var out []pwlog.Update
	for i, us := range in {
		for _, u := range us {
			h := differential.NewHasher(op.name)
			h.Uint64(uint64(i))
			h.Uint64(uint64(u.Key))
			out = append(out, pwlog.Update{Key: h.Key(), Row: pwlog.Row{u.Row[0], differential.Int(int64(i))}, Time: t, Diff: u.Diff})
		}
	}
	return out, nil
}

// TestApplyTwoInputs runs a user's operator over two sources: each input's
// deltas reach Step in the slice of its position, and a second run gives
// it only the new ones.
func TestApplyTwoInputs(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.Mkdir(a, 0o755)
	os.Mkdir(b, 0o755)
	out := filepath.Join(dir, "out.csv")
	run := func() string {
		p := pwlog.New()
		schema := pwlog.Schema{{Name: "word", Type: pwlog.TypeStr}}
		ta, tb := p.ReadCSV("a", a, schema), p.ReadCSV("b", b, schema)
		p.Apply(tagged{name: "tagged"}, ta, tb).WriteCSV("out", out)
		if err := p.Run(context.Background(), quietConfig(filepath.Join(dir, "storage"))); err != nil {
			t.Fatal(err)
		}
		return withoutTime(t, out)
	}
	os.WriteFile(filepath.Join(a, "1.csv"), []byte("word\nfox\n"), 0o644)
	os.WriteFile(filepath.Join(b, "1.csv"), []byte("word\ndog\n"), 0o644)
	if got, want := run(), "word,input,diff\n\"dog\",1,1\n\"fox\",0,1"; got != want {
		t.Fatalf("first run:\n%s\nwant\n%s", got, want)
	}
	os.WriteFile(filepath.Join(b, "2.csv"), []byte("word\ncat\n"), 0o644)
	if got, want := run(), "word,input,diff\n\"cat\",1,1"; got != want {
		t.Fatalf("second run:\n%s\nwant\n%s", got, want)
	}
}

// TestApplyRefuses: Apply's misuses stop Run with a message naming the
// operator.
func TestApplyRefuses(t *testing.T) {
	schema := pwlog.Schema{{Name: "word", Type: pwlog.TypeStr}}
	dup := newWordCounts()
	dup.counts = differential.NewArrangement("counts", nil)
	cases := map[string]struct {
		build func(p *pwlog.Pipeline)
		want  string
	}{
		"no input": {func(p *pwlog.Pipeline) { p.Apply(tagged{name: "x"}) }, `operator "x": no input`},
		"foreign table": {func(p *pwlog.Pipeline) {
			other := pwlog.New().ReadCSV("w", t.TempDir(), schema)
			p.Apply(tagged{name: "x"}, other)
		}, `operator "x": input 0 is not a table of this pipeline`},
		"name twice": {func(p *pwlog.Pipeline) {
			w := p.ReadCSV("x", t.TempDir(), schema)
			p.Apply(tagged{name: "x"}, w)
		}, `name "x" is used twice`},
		"nil": {func(p *pwlog.Pipeline) { p.Apply(nil) }, "Apply: no operator"},
		"same arrangement twice": {func(p *pwlog.Pipeline) {
			w := p.ReadCSV("w", t.TempDir(), schema)
			p.Apply(twoArrangements{wordCounts: newWordCounts()}, w)
		}, `operator "word_counts": its arrangements must be non-nil with distinct names`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := pwlog.New()
			c.build(p)
			err := p.Run(context.Background(), quietConfig(filepath.Join(t.TempDir(), "storage")))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
}

// twoArrangements returns its one arrangement twice.
type twoArrangements struct{ *wordCounts }

func (op twoArrangements) Arrangements() []*differential.Arrangement {
	return []*differential.Arrangement{op.counts, op.counts}
}

// withoutTime returns a sink file with its time column cut out and its rows
// sorted.
func withoutTime(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i, l := range lines {
		f := strings.Split(l, ",")
		lines[i] = strings.Join(append(f[:len(f)-2], f[len(f)-1]), ",")
	}
	slices.Sort(lines[1:])
	return strings.Join(lines, "\n")
}

// TestFileSourceRefusesTuples: a directory source cannot read a tuple
// column, and says so before the execution starts.
func TestFileSourceRefusesTuples(t *testing.T) {
	for _, read := range []func(p *pwlog.Pipeline, dir string, s pwlog.Schema){
		func(p *pwlog.Pipeline, dir string, s pwlog.Schema) {
			p.ReadCSV("src", dir, s).WriteCSV("out", filepath.Join(dir, "..", "o.csv"))
		},
		func(p *pwlog.Pipeline, dir string, s pwlog.Schema) {
			p.ReadJSONLines("src", dir, s).WriteCSV("out", filepath.Join(dir, "..", "o.csv"))
		},
	} {
		dir := t.TempDir()
		p := pwlog.New()
		read(p, dir, pwlog.Schema{{Name: "id", Type: pwlog.TypeInt}, {Name: "tags", Type: pwlog.TypeTuple}})
		err := p.Run(context.Background(), quietConfig(""))
		if err == nil || !strings.Contains(err.Error(), `source "src": column "tags" is a tuple`) {
			t.Fatalf("err = %v, want the tuple column refused", err)
		}
	}
}

// TestSourcesShareATime: the sources of a pipeline share each time's
// BatchRows, so both sides of a two-input operator advance together
// rather than one source being read to its end first.
func TestSourcesShareATime(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	os.Mkdir(a, 0o755)
	os.Mkdir(b, 0o755)
	lines := func(word string, n int) []byte {
		out := []byte("word\n")
		for i := range n {
			out = fmt.Appendf(out, "%s%d\n", word, i)
		}
		return out
	}
	os.WriteFile(filepath.Join(a, "1.csv"), lines("fox", 100), 0o644)
	os.WriteFile(filepath.Join(b, "1.csv"), lines("dog", 30), 0o644)
	p := pwlog.New()
	schema := pwlog.Schema{{Name: "word", Type: pwlog.TypeStr}}
	var perTime [][2]int
	p.Apply(tagged{name: "tagged"}, p.ReadCSV("a", a, schema), p.ReadCSV("b", b, schema)).
		Subscribe("out", func(_ uint64, rows []pwlog.Update) error {
			var n [2]int
			for _, u := range rows {
				n[u.Row[1].AsInt()]++
			}
			perTime = append(perTime, n)
			return nil
		})
	cfg := quietConfig(filepath.Join(dir, "storage"))
	cfg.BatchRows = 20
	if err := p.Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	// 130 rows, 20 a time: b's 30 rows go 10 a time beside a's, and no
	// time takes more than 20 rows.
	var seen [2]int
	for i, n := range perTime {
		if n[0]+n[1] > 20 {
			t.Fatalf("time %d read %d rows, more than BatchRows: %v", i, n[0]+n[1], perTime)
		}
		if seen[1] < 30 && (n[0] == 0 || n[1] == 0) {
			t.Fatalf("time %d read only one source while both had rows: %v", i, perTime)
		}
		seen[0], seen[1] = seen[0]+n[0], seen[1]+n[1]
	}
	if seen != [2]int{100, 30} {
		t.Fatalf("read %v rows, want [100 30]: %v", seen, perTime)
	}
}
