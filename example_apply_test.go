package pwlog_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
)

// wordCounts is a user's stateful operator: for every word it has seen, a
// row (word, seen) with the number of times the word appears. Its state
// is one arrangement, word -> one entry holding the count; the engine
// logs the entries it changes, checkpoints them, and gives them back after
// a restart, so the operator never reads or writes storage.
type wordCounts struct {
	counts *differential.Arrangement
}

func newWordCounts() *wordCounts {
	a := differential.NewArrangement("counts", nil)
	a.SetColumns(differential.Columns{Group: []string{"word"}, Row: []string{"seen"}})
	return &wordCounts{counts: a}
}

func (*wordCounts) Name() string     { return "word_counts" }
func (*wordCounts) Kind() string     { return "word_counts" }
func (*wordCounts) Describe() string { return "word_counts(word)" }
func (*wordCounts) Schema() pwlog.Schema {
	return pwlog.Schema{{Name: "word", Type: pwlog.TypeStr}, {Name: "seen", Type: pwlog.TypeInt}}
}
func (op *wordCounts) Arrangements() []*differential.Arrangement {
	return []*differential.Arrangement{op.counts}
}

// Step takes the deltas of one time of its single input (rows of one
// column, the word) and retracts and inserts the rows of the words whose
// count changed.
func (op *wordCounts) Step(t uint64, in [][]pwlog.Update) ([]pwlog.Update, error) {
	var out []pwlog.Update
	for _, u := range in[0] {
		word := u.Row[0]
		group := string(differential.EncodeRow(pwlog.Row{word}))
		old, err := op.count(group)
		if err != nil {
			return nil, err
		}
		key := differential.HashBytes("word_counts", []byte(group))
		if old != 0 {
			op.counts.Update(group, 0, string(differential.EncodeRow(pwlog.Row{differential.Int(old)})), -1)
			out = append(out, pwlog.Update{Key: key, Row: pwlog.Row{word, differential.Int(old)}, Time: t, Diff: -1})
		}
		if now := old + u.Diff; now != 0 {
			op.counts.Update(group, 0, string(differential.EncodeRow(pwlog.Row{differential.Int(now)})), 1)
			out = append(out, pwlog.Update{Key: key, Row: pwlog.Row{word, differential.Int(now)}, Time: t, Diff: 1})
		}
	}
	return out, nil
}

// count returns a word's count: its group's one entry, read from memory
// or, after a restart, from the checkpoint.
func (op *wordCounts) count(group string) (int64, error) {
	g, err := op.counts.Get(group)
	if err != nil || g == nil {
		return 0, err
	}
	row, err := differential.DecodeRow(nil, []byte(g.Rows[0]))
	if err != nil {
		return 0, err
	}
	return row[0].AsInt(), nil
}

// A user's operator with its own state, added with Apply: the second run
// starts from the counts the first one left in the storage.
func ExamplePipeline_Apply() {
	dir, _ := os.MkdirTemp("", "pwlog-apply")
	defer os.RemoveAll(dir)
	input := filepath.Join(dir, "input")
	os.Mkdir(input, 0o755)
	output := filepath.Join(dir, "counts.csv")

	run := func() {
		p := pwlog.New()
		words := p.ReadCSV("words", input, pwlog.Schema{{Name: "word", Type: pwlog.TypeStr}})
		p.Apply(newWordCounts(), words).WriteCSV("output", output)
		err := p.Run(context.Background(), pwlog.Config{
			Backend: pwlog.Filesystem(filepath.Join(dir, "storage")),
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		printWithoutTime(output)
	}

	os.WriteFile(filepath.Join(input, "a.csv"), []byte("word\nfox\ndog\nfox\n"), 0o644)
	run()
	os.WriteFile(filepath.Join(input, "b.csv"), []byte("word\ndog\ncat\n"), 0o644)
	run()
	// Output:
	// word,seen,diff
	// "dog",1,1
	// "fox",2,1
	// word,seen,diff
	// "cat",1,1
	// "dog",1,-1
	// "dog",2,1
}
