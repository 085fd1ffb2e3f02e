package checkpoint

import (
	"fmt"
	"math/rand"
	"slices"

	"github.com/golang/snappy"
	"pgregory.net/rapid"

	"github.com/pwlog/pwlog/differential"
)

// genDeltas draws arbitrary, unsorted deltas from small domains, so that
// equal (group, key, row) entries and cancellations are common. The
// domains hold the byte and numeric extremes that a wrong order would
// misplace: "" and "\xff" groups, groups that differ only past their
// eighth byte or by trailing zero bytes, keys above 1<<63.
func genDeltas(maxLen int) *rapid.Generator[differential.Deltas] {
	return rapid.Custom(func(t *rapid.T) differential.Deltas {
		groups := rapid.SampledFrom([]string{"", "a", "ab", "b", "\x00", "a\x00", "\xff", "user-1", "user-10",
			"eightbyt", "eightbyt\x00", "eightbyte", "eightbyte-and-more", "eightbyu"})
		keys := rapid.SampledFrom([]differential.Key{0, 1, 2, 1 << 62, 1<<63 + 5, 1<<64 - 1})
		rows := rapid.SampledFrom([]string{"", "r", "r\x00", "rs", "\x80\x81", "row-with-more-bytes"})
		n := rapid.IntRange(0, maxLen).Draw(t, "n")
		var d differential.Deltas
		for range n {
			d.Groups = append(d.Groups, groups.Draw(t, "group"))
			d.Keys = append(d.Keys, keys.Draw(t, "key"))
			d.Rows = append(d.Rows, rows.Draw(t, "row"))
			d.Diffs = append(d.Diffs, rapid.Int64Range(-3, 3).Draw(t, "diff"))
		}
		return d
	})
}

// modelKey is one (group, key, row) of the model.
type modelKey struct {
	group string
	key   differential.Key
	row   string
}

// model consolidates deltas the simple way: a map of sums, the nonzero
// sums sorted by (group, key, row).
func model(ds ...differential.Deltas) differential.Deltas {
	sums := map[modelKey]int64{}
	for _, d := range ds {
		for i := range d.Keys {
			sums[modelKey{d.Groups[i], d.Keys[i], d.Rows[i]}] += d.Diffs[i]
		}
	}
	var ks []modelKey
	for k, s := range sums {
		if s != 0 {
			ks = append(ks, k)
		}
	}
	slices.SortFunc(ks, func(a, b modelKey) int {
		switch {
		case a.group < b.group:
			return -1
		case a.group > b.group:
			return 1
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		case a.row < b.row:
			return -1
		case a.row > b.row:
			return 1
		}
		return 0
	})
	var out differential.Deltas
	for _, k := range ks {
		out.Groups = append(out.Groups, k.group)
		out.Keys = append(out.Keys, k.key)
		out.Rows = append(out.Rows, k.row)
		out.Diffs = append(out.Diffs, sums[k])
	}
	return out
}

// cloneDeltas returns a deep copy of the columns of d.
func cloneDeltas(d differential.Deltas) differential.Deltas {
	return differential.Deltas{
		Groups: slices.Clone(d.Groups),
		Keys:   slices.Clone(d.Keys),
		Rows:   slices.Clone(d.Rows),
		Diffs:  slices.Clone(d.Diffs),
	}
}

// diffDeltas describes the first difference between got and want, or
// returns "". Nil and empty columns are equal.
func diffDeltas(got, want differential.Deltas) string {
	if len(got.Groups) != len(want.Groups) || len(got.Keys) != len(want.Keys) ||
		len(got.Rows) != len(want.Rows) || len(got.Diffs) != len(want.Diffs) {
		return fmt.Sprintf("columns of %d/%d/%d/%d entries, want %d/%d/%d/%d",
			len(got.Groups), len(got.Keys), len(got.Rows), len(got.Diffs),
			len(want.Groups), len(want.Keys), len(want.Rows), len(want.Diffs))
	}
	for i := range want.Keys {
		if got.Groups[i] != want.Groups[i] || got.Keys[i] != want.Keys[i] ||
			got.Rows[i] != want.Rows[i] || got.Diffs[i] != want.Diffs[i] {
			return fmt.Sprintf("entry %d is (%q, %d, %q, %d), want (%q, %d, %q, %d)", i,
				got.Groups[i], got.Keys[i], got.Rows[i], got.Diffs[i],
				want.Groups[i], want.Keys[i], want.Rows[i], want.Diffs[i])
		}
	}
	return ""
}

// tutorialDeltas returns n sorted entries shaped like the tutorial's session
// state: the group is an encoded user id (6 bytes), the key a random u64,
// the row an encoded (user, time) (14 bytes), the diff 1. users is the
// number of distinct groups.
func tutorialDeltas(n, users int, seed int64) differential.Deltas {
	rng := rand.New(rand.NewSource(seed))
	names := make([]string, users)
	for u := range names {
		names[u] = fmt.Sprintf("%04d", u)
	}
	var d differential.Deltas
	for range n {
		u := names[rng.Intn(users)]
		t := int64(1_700_000_000_000 + rng.Intn(1_000_000_000))
		d.Groups = append(d.Groups, string(differential.EncodeRow(differential.Row{differential.String(u)})))
		d.Keys = append(d.Keys, differential.Key(rng.Uint64()))
		d.Rows = append(d.Rows, string(differential.EncodeRow(differential.Row{differential.String(u), differential.Int(t)})))
		d.Diffs = append(d.Diffs, 1)
	}
	return SortDeltas(d)
}

// rawRun returns a run file whose body is the snappy block of body, with a
// valid header: a way to hand the decoder bodies EncodeRun would not write.
func rawRun(body []byte) []byte {
	return rawFile(magicRun, formatVersion, snappy.Encode(nil, body))
}

// rawFile returns a file of the given magic and version around payload,
// with a right length and checksum.
func rawFile(magic string, version uint16, payload []byte) []byte {
	b := make([]byte, headerSize+len(payload))
	copy(b[headerSize:], payload)
	putHeader(b, magic, version)
	return b
}

// tester is what the helpers need of a *testing.T or a *rapid.T.
type tester interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// mustEncodeRun encodes a run or fails the test.
func mustEncodeRun(t tester, meta RunMeta, d differential.Deltas) []byte {
	t.Helper()
	b, err := EncodeRun(meta, d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// smallRun is a run of a few entries over three groups.
func smallRun() (RunMeta, differential.Deltas) {
	meta := RunMeta{Name: RunName(7), Operator: "sessions", Arrangement: "by_user", Level: 1, MinLSN: 3, MaxLSN: 9}
	d := differential.Deltas{
		Groups: []string{"", "alice", "alice", "alice", "bob", "bob"},
		Keys:   []differential.Key{5, 1, 2, 2, 1 << 63, 1<<63 + 1},
		Rows:   []string{"x", "r1", "a", "b", "", "long row of some bytes"},
		Diffs:  []int64{1, -1, 2, 1, 300, -1 << 40},
	}
	return meta, d
}

// smallRunBytes returns the encoded smallRun.
func smallRunBytes() []byte {
	b, err := EncodeRun(smallRun())
	if err != nil {
		panic(err)
	}
	return b
}

// smallManifest is a manifest of two runs.
func smallManifest() *Manifest {
	return &Manifest{
		Seq:         4,
		LSN:         120,
		Clock:       1_700_000_000_123,
		Fingerprint: []string{"source csv users", "operator sessions gap=5"},
		Runs: []RunMeta{
			{Name: RunName(1), Operator: "sessions", Arrangement: "by_user", Level: 2, Entries: 10, Bytes: 400, MinLSN: 1, MaxLSN: 100, CRC: 0xdeadbeef},
			{Name: RunName(2), Operator: "csv", Arrangement: "rows", Entries: 3, Bytes: 90, MinLSN: 101, MaxLSN: 120, CRC: 7},
		},
		Meta: []byte{0x81, 0xa1, 's', 0x80},
	}
}
