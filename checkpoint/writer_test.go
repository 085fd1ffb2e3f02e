package checkpoint

import (
	"bytes"
	"errors"
	"testing"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog/differential"
)

// TestRunWriterMeta writes a run entry by entry: Finish returns the meta
// given, with the entries, size and checksum of what it wrote.
func TestRunWriterMeta(t *testing.T) {
	meta, d := blockyRun()
	meta.Entries, meta.Bytes, meta.CRC = -1, 5, 6
	var buf bytes.Buffer
	w := NewRunWriter(&buf, meta, blockyOpts)
	for i := range d.Len() {
		if err := w.Add(d.Groups[i], d.Keys[i], d.Rows[i], d.Diffs[i]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	want := meta
	want.Entries, want.Bytes, want.CRC = int64(d.Len()), int64(buf.Len()), Checksum(buf.Bytes())
	if got != want {
		t.Fatalf("Finish returned %+v, want %+v", got, want)
	}
	if !bytes.Equal(buf.Bytes(), blockyRunBytes()) {
		t.Fatal("RunWriter and EncodeRunOptions write different runs")
	}
}

// TestRunWriterRefuses adds, after valid entries, one that breaks the
// order of a run — in the block being filled and across a block boundary:
// Add refuses it with ErrInvalid, and a run finished after it holds
// exactly the entries accepted.
func TestRunWriterRefuses(t *testing.T) {
	type entry struct {
		g string
		k differential.Key
		r string
		d int64
	}
	prefix := []entry{{"a", 1, "x", 1}, {"b", 5, "m", 2}}
	cases := map[string]entry{
		"group before":          {"a", 9, "z", 1},
		"key before":            {"b", 4, "z", 1},
		"row before":            {"b", 5, "l", 1},
		"duplicate":             {"b", 5, "m", 1},
		"duplicate, other diff": {"b", 5, "m", -2},
		"zero diff":             {"c", 1, "x", 0},
		"zero diff, in order":   {"b", 6, "x", 0},
	}
	for name, bad := range cases {
		for _, bs := range []int{1, DefaultBlockSize} {
			var buf bytes.Buffer
			w := NewRunWriter(&buf, RunMeta{Name: "r"}, WriterOptions{BlockSize: bs, Groups: 4})
			var want differential.Deltas
			for _, e := range prefix {
				if err := w.Add(e.g, e.k, e.r, e.d); err != nil {
					t.Fatal(err)
				}
				want.Groups, want.Keys, want.Rows, want.Diffs = append(want.Groups, e.g), append(want.Keys, e.k), append(want.Rows, e.r), append(want.Diffs, e.d)
			}
			if err := w.Add(bad.g, bad.k, bad.r, bad.d); !errors.Is(err, ErrInvalid) {
				t.Fatalf("%s, block size %d: Add returned %v, want ErrInvalid", name, bs, err)
			}
			if _, err := w.Finish(); err != nil {
				continue // a writer may refuse to go on
			}
			_, got, err := DecodeRun("r", buf.Bytes())
			if err != nil {
				t.Fatalf("%s, block size %d: the run finished after a refusal: %v", name, bs, err)
			}
			if msg := diffDeltas(got, want); msg != "" {
				t.Fatalf("%s, block size %d: the run finished after a refusal: %s", name, bs, msg)
			}
		}
	}
	// The first entry may have a zero diff no more than any other.
	w := NewRunWriter(&bytes.Buffer{}, RunMeta{Name: "r"}, WriterOptions{})
	if err := w.Add("a", 1, "x", 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("first entry with a zero diff: %v", err)
	}
	// Keys are ordered as unsigned numbers.
	w = NewRunWriter(&bytes.Buffer{}, RunMeta{Name: "r"}, WriterOptions{BlockSize: 1})
	if err := w.Add("a", 1<<63, "x", 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Add("a", 1, "x", 1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("key 1 after key 1<<63: %v", err)
	}
}

// failingWriter accepts limit bytes, then fails.
type failingWriter struct {
	limit int
	n     int
}

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		k := w.limit - w.n
		w.n = w.limit
		return k, errDiskFull
	}
	w.n += len(p)
	return len(p), nil
}

// TestRunWriterWriteError writes a run to a writer that fails after each
// number of bytes: Finish returns its error (and Add, once it is known).
func TestRunWriterWriteError(t *testing.T) {
	meta, d := blockyRun()
	full := len(blockyRunBytes())
	for limit := range full + 1 {
		w := NewRunWriter(&failingWriter{limit: limit}, meta, blockyOpts)
		for i := range d.Len() {
			if err := w.Add(d.Groups[i], d.Keys[i], d.Rows[i], d.Diffs[i]); err != nil && !errors.Is(err, errDiskFull) {
				t.Fatalf("limit %d: Add: %v", limit, err)
			}
		}
		_, err := w.Finish()
		if limit < full && !errors.Is(err, errDiskFull) {
			t.Fatalf("a writer failing after %d of %d bytes: Finish returned %v", limit, full, err)
		}
		if limit == full && err != nil {
			t.Fatalf("a writer failing past the end: %v", err)
		}
	}
}

// TestMergeIntoModel merges random runs, some read from encoded runs
// (Run.Iter), some from deltas (DeltasIter), into a RunWriter: the run
// written holds what Merge of the same deltas returns.
func TestMergeIntoModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k := rapid.IntRange(0, 6).Draw(t, "runs")
		runs := make([]differential.Deltas, k)
		for i := range runs {
			runs[i] = SortDeltas(genDeltas(40).Draw(t, "run"))
		}
		if k > 0 && rapid.Bool().Draw(t, "cancel") {
			victim := cloneDeltas(runs[rapid.IntRange(0, k-1).Draw(t, "victim")])
			for i := range victim.Diffs {
				victim.Diffs[i] = -victim.Diffs[i]
			}
			runs = append(runs, victim)
		}
		var its []Iterator
		for i := range runs {
			if rapid.Bool().Draw(t, "from a run") {
				opts := WriterOptions{BlockSize: rapid.IntRange(1, 512).Draw(t, "block size"), Groups: rapid.IntRange(0, 20).Draw(t, "groups")}
				b := mustEncodeRunOpts(t, RunMeta{Name: "in"}, runs[i], opts)
				run, err := OpenRun("in", bytes.NewReader(b), int64(len(b)), nil)
				if err != nil {
					t.Fatal(err)
				}
				its = append(its, run.Iter())
			} else {
				its = append(its, DeltasIter(&runs[i]))
			}
		}
		want := Merge(runs...)
		var buf bytes.Buffer
		w := NewRunWriter(&buf, RunMeta{Name: "out", Level: 3}, WriterOptions{BlockSize: rapid.IntRange(1, 1024).Draw(t, "out block size"), Groups: want.Len()})
		if err := MergeInto(w, its...); err != nil {
			t.Fatal(err)
		}
		meta, err := w.Finish()
		if err != nil {
			t.Fatal(err)
		}
		got, gd, err := DecodeRun("out", buf.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		if msg := diffDeltas(gd, want); msg != "" {
			t.Fatalf("MergeInto of %d runs: %s", len(runs), msg)
		}
		if msg := diffDeltas(gd, model(runs...)); msg != "" {
			t.Fatalf("MergeInto of %d runs, against the model: %s", len(runs), msg)
		}
		if got != meta {
			t.Fatalf("decoded meta %+v, Finish returned %+v", got, meta)
		}
	})
}

// TestMergeIntoErrors: an iterator's error ends the merge and is
// returned (a damaged run), and so is the writer's refusal of entries
// out of order (an iterator that is not sorted).
func TestMergeIntoErrors(t *testing.T) {
	_, d := blockyRun()
	b := blockyRunBytes()
	f := parseV2(t, b)
	damaged := bytes.Clone(b)
	damaged[f.blockOffs[2]] ^= 1
	run, err := OpenRun("damaged", bytes.NewReader(damaged), int64(len(damaged)), nil)
	if err != nil {
		t.Fatal(err)
	}
	w := NewRunWriter(&bytes.Buffer{}, RunMeta{Name: "out"}, WriterOptions{})
	if err := MergeInto(w, DeltasIter(&d), run.Iter()); namedCorruption(err, "damaged") != "" {
		t.Fatalf("MergeInto of a damaged run: %v", err)
	}
	unsorted := cloneDeltas(d)
	unsorted.Keys[1], unsorted.Keys[2] = unsorted.Keys[2], unsorted.Keys[1]
	w = NewRunWriter(&bytes.Buffer{}, RunMeta{Name: "out"}, WriterOptions{})
	if err := MergeInto(w, DeltasIter(&unsorted)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("MergeInto of unsorted entries: %v", err)
	}
}
