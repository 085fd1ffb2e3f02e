package record

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/sources"
	"github.com/pwlog/pwlog/wal"
)

var updateRecordSeeds = flag.Bool("update-record-seeds", false, "rewrite testdata/fuzz/FuzzDecodeRecord")

// recordKinds are the kinds Decode knows.
var recordKinds = []wal.Kind{KindCommit, KindInput, KindState, KindOutput, KindPipeline}

// FuzzDecodeRecord decodes every input as a record of each kind. Decode
// must not panic; what it accepts must have columns of one length and
// survive msgpack.Marshal and a second decode (see checkRecordRoundTrip),
// and an output record must turn into updates or fail without a panic. Seeds:
// testdata/fuzz/FuzzDecodeRecord (see TestDecodeRecordSeeds).
func FuzzDecodeRecord(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, kind := range recordKinds {
			v, err := Decode(kind, b)
			if err != nil {
				if v != nil {
					t.Fatalf("%s: error %v with a value %#v", KindName(kind), err, v)
				}
				continue
			}
			if lens := ColumnLens(v); slices.Min(lens) != slices.Max(lens) {
				t.Fatalf("%s: accepted columns of lengths %v", KindName(kind), lens)
			}
			checkRecordRoundTrip(t, kind, v)
			if o, ok := v.(*Output); ok {
				_, _ = o.Updates()
			}
		}
	})
}

// checkRecordRoundTrip checks that a decoded record v encodes to data that
// decodes to v again. That holds exactly but for one thing: the maps of a
// Commit are omitempty, so an empty map (decoded from a msgpack map
// of no pairs) is not encoded and comes back nil. Every other nil slice or
// map is encoded as a msgpack nil and every empty one as an empty array or
// map, so they come back as they were; a struct decoded from the array
// form, fields given twice, unknown fields, a bin where a string should be
// or an integer of another width all decode to a value that encodes in the
// canonical form, which decodes to the same value.
func checkRecordRoundTrip(t *testing.T, kind wal.Kind, v any) {
	t.Helper()
	b, err := msgpack.Marshal(v)
	if err != nil {
		t.Fatalf("%s: re-encode %#v: %v", KindName(kind), v, err)
	}
	again, err := Decode(kind, b)
	if err != nil {
		t.Fatalf("%s: decode the re-encoded record % x: %v", KindName(kind), b, err)
	}
	want := v
	if c, ok := v.(*Commit); ok {
		n := *c
		if len(n.Sources) == 0 {
			n.Sources = nil
		}
		if len(n.Removed) == 0 {
			n.Removed = nil
		}
		if len(n.Acks) == 0 {
			n.Acks = nil
		}
		want = &n
	}
	if !reflect.DeepEqual(again, want) {
		t.Fatalf("%s: re-encoded record decodes to\n%#v\nwant\n%#v", KindName(kind), again, want)
	}
}

// recordSeed is a seed of FuzzDecodeRecord: valid seeds decode, as kind,
// to value (data is msgpack.Marshal(value) unless given); the others must
// fail to decode as kind, or as every kind when kind is 0.
type recordSeed struct {
	kind  wal.Kind
	value any
	data  []byte
}

func (s recordSeed) valid() bool { return s.value != nil }

// refusedAs reports whether s must fail to decode as kind.
func (s recordSeed) refusedAs(kind wal.Kind) bool {
	return !s.valid() && (s.kind == 0 || s.kind == kind)
}

func mustMarshalRecord(v any) []byte {
	b, err := msgpack.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// seedUpdates are updates of the tutorial's source: (user_id, access_time).
func seedUpdates(n int, diff int64) []differential.Update {
	us := make([]differential.Update, n)
	for i := range us {
		row := differential.Row{differential.String(fmt.Sprintf("user-%d", i%3)), differential.Int(1_700_000_000 + int64(i)*97)}
		us[i] = differential.Update{Key: differential.HashBytes("accesses", differential.AppendRow(nil, row)), Row: row, Time: 7, Diff: diff}
	}
	return us
}

// seedDeltas are deltas of the session window's arrangement: groups are
// encoded instances, rows the encoded other columns, keys zero.
func seedDeltas() differential.Deltas {
	var d differential.Deltas
	for i := range 5 {
		group := string(differential.AppendRow(nil, differential.Row{differential.String(fmt.Sprintf("user-%d", i%2))}))
		row := string(differential.AppendValue(nil, differential.Int(1_700_000_000+int64(i)*60)))
		d.Groups, d.Keys, d.Rows, d.Diffs = append(d.Groups, group), append(d.Keys, 0), append(d.Rows, row), append(d.Diffs, 1-2*int64(i%2))
	}
	return d
}

// tutorialFingerprint is the fingerprint (pwlog.Pipeline.Describe) of the
// tutorial's pipeline (internal/tutorial.Sessions, max gap 300), as its
// storages hold it.
var tutorialFingerprint = []string{
	"source accesses: csv(user_id:str,access_time:int)",
	"operator sessions: session_window(time=access_time, instance=[user_id], max_gap=300) <- accesses",
	"operator session_stats: reduce(by=[user_id,_pw_window_start,_pw_window_end], user_id=user_id, session_length=(max(access_time) - min(access_time)), session_start=min(access_time), session_finish=max(access_time), count=count()) <- sessions",
}

// validRecords are realistic records of each kind, as the engine (engine.go) builds them.
func validRecords() map[string]recordSeed {
	state := sources.FileState{Path: "2024/01/accesses-0001.csv", Size: 18_342, ModTime: 1_704_067_200_123_456_789,
		Head: 0xcbf29ce484222325, Offset: 18_342, Line: 501, Rows: 500}
	keys, rows, diffs := Columns(seedUpdates(6, 1))
	outKeys, outRows, outDiffs := Columns([]differential.Update{
		{Key: 11, Row: differential.Row{differential.String("user-0"), differential.Int(120), differential.Int(1_700_000_000), differential.Int(1_700_000_120), differential.Int(3)}, Diff: 1},
		{Key: 12, Row: differential.Row{differential.String("user-1"), differential.Int(0), differential.Int(1_700_000_400), differential.Int(1_700_000_400), differential.Int(1)}, Diff: -1},
		{Key: 13, Row: differential.Row{differential.Null(), differential.Float(2.5), differential.Bool(true), differential.Bytes([]byte{0, 0xff}), differential.Int(-1)}, Diff: 2},
	})
	recs := map[string]recordSeed{
		"commit-first": {kind: KindCommit, value: &Commit{Time: 1,
			Sources: map[string][]sources.FileState{"accesses": {state}}}},
		"commit-minimal": {kind: KindCommit, value: &Commit{Time: 42}},
		"commit-acks": {kind: KindCommit, value: &Commit{Time: 9,
			Acks: map[string]SinkAck{"output": {Time: 8, Offset: 4096}}}},
		"commit-removed": {kind: KindCommit, value: &Commit{Time: 3,
			Sources: map[string][]sources.FileState{"accesses": {state, {Path: "b.csv", Size: 10, Offset: 10, Line: 2, Rows: 1}}},
			Removed: map[string][]string{"accesses": {"2023/12/old.csv"}}}},
		"input": {kind: KindInput, value: &Input{Time: 7, Source: "accesses", Keys: keys, Rows: rows, Diffs: diffs}},
		"input-retraction": func() recordSeed {
			k, r, d := Columns(seedUpdates(2, -1))
			return recordSeed{kind: KindInput, value: &Input{Time: 8, Source: "accesses", Keys: k, Rows: r, Diffs: d}}
		}(),
		"input-empty":    {kind: KindInput, value: &Input{Time: 1, Source: "accesses"}},
		"state":          {kind: KindState, value: &State{Time: 7, Operator: "sessions", Arrangement: "by_instance", Deltas: seedDeltas()}},
		"state-empty":    {kind: KindState, value: &State{Time: 7, Operator: "session_stats", Arrangement: "by_group"}},
		"output":         {kind: KindOutput, value: &Output{Time: 7, Sink: "output", Keys: outKeys, Rows: outRows, Diffs: outDiffs}},
		"output-empty":   {kind: KindOutput, value: &Output{Time: 2, Sink: "output", Keys: []differential.Key{}, Rows: []string{}, Diffs: []int64{}}},
		"pipeline":       {kind: KindPipeline, value: &Pipeline{Lines: tutorialFingerprint}},
		"pipeline-empty": {kind: KindPipeline, value: &Pipeline{}},

		// msgpack's leniencies: each decodes to a value that encodes in
		// the canonical form (see checkRecordRoundTrip).
		"commit-empty-maps": {kind: KindCommit, value: &Commit{Time: 5, Sources: map[string][]sources.FileState{}, Acks: map[string]SinkAck{}},
			data: []byte("\x83\xa1t\x05\xa1s\x80\xa1a\x80")},
		"commit-unknown-field": {kind: KindCommit, value: &Commit{Time: 5},
			data: []byte("\x82\xa1t\x05\xa1z\x92\xa3new\xc3")},
		"commit-field-twice": {kind: KindCommit, value: &Commit{Time: 6, Removed: map[string][]string{"a": {"x.csv"}, "b": nil}},
			data: []byte("\x84\xa1x\x81\xa1a\x91\xa5x.csv\xa1t\x05\xa1x\x81\xa1b\xc0\xa1t\x06")}, // the maps merge
		"input-as-array": {kind: KindInput, value: &Input{Time: 7, Source: "accesses", Keys: []differential.Key{1}, Rows: []string{"r"}, Diffs: []int64{-1}},
			data: []byte("\x95\x07\xa8accesses\x91\x01\x91\xa1r\x91\xff")},
		"pipeline-bin-lines": {kind: KindPipeline, value: &Pipeline{Lines: []string{"source a", ""}},
			data: []byte("\x81\xa1l\x92\xc4\x08source a\xc0")},
		"state-nil": {kind: KindState, value: &State{}, data: []byte("\xc0")},
	}
	for name, s := range recs {
		if s.data == nil {
			s.data = mustMarshalRecord(s.value)
		}
		recs[name] = s
	}
	return recs
}

// hostileRecords are records that no decoder must accept, most of them
// declaring lengths that would make msgpack allocate gigabytes.
func hostileRecords(valid map[string]recordSeed) map[string][]byte {
	be32 := func(code byte, n uint32) []byte { return binary.BigEndian.AppendUint32([]byte{code}, n) }
	str := func(s string) []byte { return append([]byte{0xa0 | byte(len(s))}, s...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	const huge = 1<<32 - 1
	commit, input := valid["commit-first"].data, valid["input"].data
	return map[string][]byte{
		"hostile-bin32-row-of-4-GiB":        cat([]byte{0x81}, str("r"), []byte{0x91}, be32(0xc6, huge), []byte("abc")),
		"hostile-str32-source-of-4-GiB":     cat([]byte{0x81}, str("n"), be32(0xdb, huge), []byte("abc")),
		"hostile-str32-key-of-4-GiB":        cat([]byte{0x81}, be32(0xdb, huge), []byte("abc")),
		"hostile-array32-keys":              cat([]byte{0x81}, str("k"), be32(0xdd, huge), []byte{1, 2, 3}),
		"hostile-array32-nils":              cat([]byte{0x81}, str("k"), be32(0xdd, huge), bytes.Repeat([]byte{0xc0}, 64)),
		"hostile-array32-lines":             cat([]byte{0x81}, str("l"), be32(0xdd, huge), str("x")),
		"hostile-array32-delta-groups":      cat([]byte{0x81}, str("d"), []byte{0x81}, str("g"), be32(0xdd, huge), str("g")),
		"hostile-array32-file-states":       cat([]byte{0x81}, str("s"), []byte{0x81}, str("accesses"), be32(0xdd, huge), []byte{0x80}),
		"hostile-map32-record":              cat(be32(0xdf, huge), str("t"), []byte{1}),
		"hostile-map32-sources":             cat([]byte{0x81}, str("s"), be32(0xdf, huge), str("a"), []byte{0xc0}),
		"hostile-map32-acks":                cat([]byte{0x81}, str("a"), be32(0xdf, huge), str("a"), []byte{0x80}),
		"hostile-ext32-of-4-GiB":            cat([]byte{0x81}, str("t"), be32(0xc9, huge), []byte{1, 2}),
		"hostile-nested-1000-deep":          cat([]byte{0x81}, str("l"), bytes.Repeat([]byte{0x91}, 1000), []byte{1}),
		"hostile-trailing-byte":             append(bytes.Clone(commit), 0),
		"hostile-two-records":               cat(commit, commit),
		"hostile-truncated-commit":          commit[:len(commit)/2],
		"hostile-truncated-commit-by-1":     commit[:len(commit)-1],
		"hostile-truncated-input":           input[:len(input)*2/3],
		"hostile-truncated-length":          []byte{0x81, 0xa1, 'r', 0xdd, 0, 0},
		"hostile-empty":                     {},
		"hostile-garbage":                   []byte("this is not a record but some text"),
		"hostile-zeros":                     make([]byte, 64),
		"hostile-never-used-code":           {0x81, 0xa1, 't', 0xc1},
		"hostile-array32-keys-of-ones-only": cat([]byte{0x81}, str("k"), be32(0xdd, 1<<20), bytes.Repeat([]byte{1}, 1000)),
	}
}

// unequalColumns are records whose columns differ in length, which replay
// would index out of range.
func unequalColumns() map[string]recordSeed {
	keys := []differential.Key{1, 2}
	return map[string]recordSeed{
		"unequal-columns-input": {kind: KindInput, data: mustMarshalRecord(&Input{Time: 1, Source: "accesses",
			Keys: keys, Rows: []string{"a", "b"}, Diffs: []int64{1}})},
		"unequal-columns-state": {kind: KindState, data: mustMarshalRecord(&State{Time: 1, Operator: "sessions", Arrangement: "by_instance",
			Deltas: differential.Deltas{Keys: keys, Rows: []string{"a", "b"}, Diffs: []int64{1, 1}}})},
		"unequal-columns-output": {kind: KindOutput, data: mustMarshalRecord(&Output{Time: 1, Sink: "output",
			Keys: keys, Rows: []string{"a"}, Diffs: []int64{1, 1}})},
	}
}

// recordSeeds are the seeds of FuzzDecodeRecord by file name.
func recordSeeds() map[string]recordSeed {
	seeds := validRecords()
	for name, b := range hostileRecords(seeds) {
		seeds[name] = recordSeed{data: b}
	}
	maps.Copy(seeds, unequalColumns())
	return seeds
}

const recordSeedDir = "testdata/fuzz/FuzzDecodeRecord"

func recordSeedFile(b []byte) string {
	return "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
}

// readRecordSeed reads a corpus file of FuzzDecodeRecord.
func readRecordSeed(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.ReadFile(filepath.Join(recordSeedDir, name))
	if err != nil {
		t.Fatalf("%v (run go test -run TestDecodeRecordSeeds -update-record-seeds)", err)
	}
	body, ok1 := strings.CutPrefix(string(f), "go test fuzz v1\n[]byte(")
	body, ok2 := strings.CutSuffix(body, ")\n")
	if !ok1 || !ok2 {
		t.Fatalf("%s: not a corpus file of one []byte", name)
	}
	s, err := strconv.Unquote(body)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return []byte(s)
}

// TestDecodeRecordSeeds checks the corpus on disk against recordSeeds: valid
// seeds decode to their value (map order makes their bytes vary from one
// encoding to the next), hostile ones fail as every kind; and the unknown
// kinds are refused. -update-record-seeds rewrites the corpus.
func TestDecodeRecordSeeds(t *testing.T) {
	seeds := recordSeeds()
	if *updateRecordSeeds {
		if err := os.RemoveAll(recordSeedDir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(recordSeedDir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, s := range seeds {
			if err := os.WriteFile(filepath.Join(recordSeedDir, name), []byte(recordSeedFile(s.data)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, err := os.ReadDir(recordSeedDir)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[wal.Kind]bool{}
	for _, e := range entries {
		name := e.Name()
		s, known := seeds[name]
		if !known {
			t.Errorf("corpus file %s is not one of recordSeeds (run go test -run TestDecodeRecordSeeds -update-record-seeds)", name)
			continue
		}
		b := readRecordSeed(t, name)
		if !s.valid() {
			if !bytes.Equal(b, s.data) {
				t.Errorf("seed %s is stale (run go test -run TestDecodeRecordSeeds -update-record-seeds)", name)
			}
			for _, kind := range recordKinds {
				if v, err := Decode(kind, b); err == nil && s.refusedAs(kind) {
					t.Errorf("seed %s decodes as a %s record: %#v", name, KindName(kind), v)
				}
			}
			continue
		}
		kinds[s.kind] = true
		v, err := Decode(s.kind, b)
		if err != nil {
			t.Errorf("seed %s: %v", name, err)
		} else if !reflect.DeepEqual(v, s.value) {
			t.Errorf("seed %s decodes to %#v, want %#v (stale? run go test -run TestDecodeRecordSeeds -update-record-seeds)", name, v, s.value)
		}
	}
	if len(entries) != len(seeds) {
		t.Errorf("%d corpus files, %d seeds (run go test -run TestDecodeRecordSeeds -update-record-seeds)", len(entries), len(seeds))
	}
	if len(kinds) != len(recordKinds) {
		t.Errorf("valid seeds of kinds %v, want every kind", kinds)
	}
	for _, kind := range []wal.Kind{0, 6, 255} {
		if _, err := Decode(kind, seeds["commit-minimal"].data); err == nil {
			t.Errorf("Decode of kind %d accepted a record", kind)
		}
	}
}

// denseRecords are records that decode but amplify most: every element of
// their arrays takes one byte (a fixint, a nil) and decodes into a Go value
// of 8 to 64 bytes.
func denseRecords(n int) map[string][]byte {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	array := func(elem byte) []byte {
		return cat(binary.BigEndian.AppendUint32([]byte{0xdd}, uint32(n)), bytes.Repeat([]byte{elem}, n))
	}
	return map[string][]byte{
		"keys of fixints":   cat([]byte{0x81, 0xa1, 'k'}, array(0x01)),
		"rows of nils":      cat([]byte{0x81, 0xa1, 'r'}, array(0xc0)),
		"lines of nils":     cat([]byte{0x81, 0xa1, 'l'}, array(0xc0)),
		"groups of nils":    cat([]byte{0x81, 0xa1, 'd', 0x81, 0xa1, 'g'}, array(0xc0)),
		"file states nils":  cat([]byte{0x81, 0xa1, 's', 0x81, 0xa1, 'a'}, array(0xc0)),
		"file states empty": cat([]byte{0x81, 0xa1, 's', 0x81, 0xa1, 'a'}, array(0x80)),
		"acks":              cat([]byte{0x81, 0xa1, 'a'}, denseMap(n)),
	}
}

// denseMap is a map32 of n distinct short string keys to nils.
func denseMap(n int) []byte {
	b := binary.BigEndian.AppendUint32([]byte{0xdf}, uint32(n))
	for i := range n {
		k := strconv.FormatInt(int64(i), 36)
		b = append(append(b, 0xa0|byte(len(k))), k...)
		b = append(b, 0xc0)
	}
	return b
}

// TestDecodeRecordAllocates checks that Decode of any input allocates
// at most a bounded multiple of its size: the hostile seeds fail having
// allocated next to nothing, and records of 256k one-byte elements,
// which decode, cost at most maxRecordAmplification times their size. The
// bound is no small one: a commit record of wal.MaxRecordSize can cost
// 8 GiB.
func TestDecodeRecordAllocates(t *testing.T) {
	const (
		slack = 64 << 10
		// The largest element, a sources.FileState, is 88 bytes, and
		// msgpack makes a slice then copies it into another: an array of
		// 256k nils in a commit record allocates 44 MiB. The bound is
		// 2.5 times the element's size, as it was when the element was
		// 64 bytes.
		maxRecordAmplification = 220
	)
	allocated := func(f func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	for name, s := range recordSeeds() {
		b := readRecordSeed(t, name)
		for _, kind := range recordKinds {
			var err error
			n := allocated(func() { _, err = Decode(kind, b) })
			if s.refusedAs(kind) && err == nil {
				t.Errorf("seed %s decodes as a %s record", name, KindName(kind))
			}
			limit := uint64(slack + maxRecordAmplification*len(b))
			if !s.valid() && s.kind == 0 {
				limit = slack // Check refuses it before msgpack sees it
			}
			if n > limit {
				t.Errorf("seed %s as a %s record: %d bytes allocated %d bytes", name, KindName(kind), len(b), n)
			}
		}
	}
	worst := 0.0
	for name, b := range denseRecords(1 << 18) {
		decoded := false
		for _, kind := range recordKinds {
			var err error
			n := allocated(func() { _, err = Decode(kind, b) })
			decoded = decoded || err == nil
			if limit := uint64(slack + maxRecordAmplification*len(b)); n > limit {
				t.Errorf("%s as a %s record: %d bytes allocated %d bytes", name, KindName(kind), len(b), n)
			}
			worst = max(worst, float64(n)/float64(len(b)))
		}
		if !decoded {
			t.Errorf("%s decodes as no kind: it measures nothing", name)
		}
	}
	t.Logf("the densest records allocate up to %.1f times their size", worst)
}

// TestDecodeRecordRoundTripEdges pins what the round trip of
// checkRecordRoundTrip preserves and what it does not.
func TestDecodeRecordRoundTripEdges(t *testing.T) {
	seeds := validRecords()
	for _, name := range []string{"commit-empty-maps", "commit-unknown-field", "commit-field-twice", "input-as-array", "pipeline-bin-lines", "state-nil", "output-empty"} {
		s := seeds[name]
		v, err := Decode(s.kind, s.data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkRecordRoundTrip(t, s.kind, v)
	}
	// The one difference: omitempty drops the empty maps of a commit.
	v, _ := Decode(KindCommit, seeds["commit-empty-maps"].data)
	again, err := Decode(KindCommit, mustMarshalRecord(v))
	if err != nil {
		t.Fatal(err)
	}
	if c := again.(*Commit); c.Sources != nil || c.Acks != nil || reflect.DeepEqual(again, v) {
		t.Fatalf("empty maps came back as %#v", c)
	}
	// Empty columns stay empty, nil ones nil.
	v, _ = Decode(KindOutput, seeds["output-empty"].data)
	if o := v.(*Output); o.Keys == nil || o.Rows == nil || o.Diffs == nil {
		t.Fatalf("empty columns came back as %#v", o)
	}
	v, _ = Decode(KindInput, seeds["input-empty"].data)
	if in := v.(*Input); in.Keys != nil || in.Rows != nil || in.Diffs != nil {
		t.Fatalf("nil columns came back as %#v", in)
	}
}
