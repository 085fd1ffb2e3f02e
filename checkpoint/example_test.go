package checkpoint_test

import (
	"errors"
	"fmt"

	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/differential"
)

// A fold of log records becomes a run: sorted and consolidated, encoded,
// named in a manifest with its size and checksum, and decoded on restart.
func Example() {
	fold := differential.Deltas{
		Groups: []string{"bob", "alice", "bob", "alice"},
		Keys:   []differential.Key{2, 1, 2, 3},
		Rows:   []string{"b", "a", "b", "c"},
		Diffs:  []int64{1, 1, -1, 2},
	}
	d := checkpoint.SortDeltas(fold) // bob's insert and retraction cancel
	meta := checkpoint.RunMeta{Name: checkpoint.RunName(1), Operator: "sessions", Arrangement: "by_user", MinLSN: 1, MaxLSN: 10}
	data, err := checkpoint.EncodeRun(meta, d)
	if err != nil {
		panic(err)
	}
	meta.Entries, meta.Bytes, meta.CRC = int64(d.Len()), int64(len(data)), checkpoint.Checksum(data)
	m := &checkpoint.Manifest{Seq: 1, LSN: 10, Runs: []checkpoint.RunMeta{meta}}
	mdata, err := checkpoint.EncodeManifest(m)
	if err != nil {
		panic(err)
	}

	// Restart.
	m, err = checkpoint.DecodeManifest(checkpoint.ManifestName(1), mdata)
	if err != nil {
		panic(err)
	}
	got, run, err := checkpoint.DecodeRun(m.Runs[0].Name, data)
	if err != nil {
		panic(err)
	}
	fmt.Println(checkpoint.ManifestName(m.Seq), got == m.Runs[0])
	for i := range run.Keys {
		fmt.Println(run.Groups[i], run.Keys[i], run.Rows[i], run.Diffs[i])
	}

	data[len(data)-1] ^= 1
	_, _, err = checkpoint.DecodeRun(meta.Name, data)
	fmt.Println(errors.Is(err, checkpoint.ErrCorrupt))
	// Output:
	// MANIFEST-00000000000000000001 true
	// alice 1 a 1
	// alice 3 c 2
	// true
}

func ExampleMerge() {
	older := differential.Deltas{Groups: []string{"g", "g"}, Keys: []differential.Key{1, 2}, Rows: []string{"x", "y"}, Diffs: []int64{1, 1}}
	newer := differential.Deltas{Groups: []string{"g", "g"}, Keys: []differential.Key{2, 3}, Rows: []string{"y", "z"}, Diffs: []int64{-1, 1}}
	d := checkpoint.Merge(older, newer)
	fmt.Println(d.Keys, d.Rows, d.Diffs)
	// Output: [1 3] [x z] [1 1]
}
