package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/pwlog/pwlog/differential"
)

var updateSeeds = flag.Bool("update", false, "rewrite the fuzz seed corpora in testdata/fuzz")

// runSeeds are the seeds of FuzzDecodeRun: valid runs of both formats
// (named "valid-") and damaged or hostile ones.
func runSeeds() map[string][]byte {
	meta, d := smallRun()
	many := tutorialDeltas(300, 7, 5)
	tmeta := RunMeta{Name: RunName(3), Operator: "sessions", Arrangement: "by_user"}
	seeds := map[string][]byte{
		"valid-empty":       mustEncodeRunSeed(RunMeta{Name: RunName(0)}, differential.Deltas{}),
		"valid-small":       mustEncodeRunSeed(meta, d),
		"valid-tutorial":    mustEncodeRunSeed(tmeta, many),
		"valid-blocky":      blockyRunBytes(),
		"valid-v1-empty":    mustEncodeRunV1(panicker{}, RunMeta{Name: RunName(0)}, differential.Deltas{}),
		"valid-v1-small":    mustEncodeRunV1(panicker{}, meta, d),
		"valid-v1-tutorial": mustEncodeRunV1(panicker{}, tmeta, many),
		"future":            withHeaderV2(blockyRunBytes(), runVersion+1),
		"truncated":         blockyRunBytes()[:300],
		"garbage":           []byte("PWLGRUN\x00 this is not a run, only its magic"),
		"zeros":             make([]byte, 64),
		"manifest":          mustEncodeManifestSeed(smallManifest()),
		"snappy-bomb":       rawFile(magicRun, formatVersion, binary.AppendUvarint(nil, 1<<31)),
		"unsorted-body": func() []byte {
			dd := cloneDeltas(d)
			dd.Keys[1], dd.Keys[2] = dd.Keys[2], dd.Keys[1]
			raw, _ := msgpack.Marshal(buildRunBody(meta, dd))
			return rawRun(raw)
		}(),
	}
	for name, b := range hostile() {
		if strings.HasPrefix(name, "run: ") && len(b) < 4096 {
			seeds["hostile-"+strings.ReplaceAll(name[5:], " ", "-")] = b
		}
	}
	return seeds
}

// manifestSeeds are the seeds of FuzzDecodeManifest.
func manifestSeeds() map[string][]byte {
	seeds := map[string][]byte{
		"valid-minimal": mustEncodeManifestSeed(&Manifest{Seq: 1}),
		"valid-small":   mustEncodeManifestSeed(smallManifest()),
		"garbage":       []byte("PWLGMAN\x00 this is not a manifest, only its magic"),
		"zeros":         make([]byte, 64),
		"run":           smallRunBytes(),
		"run-v1":        smallRunV1Bytes(),
		"seq-zero":      rawFile(magicManifest, formatVersion, mustMarshal(&Manifest{})),
	}
	for name, b := range hostile() {
		if strings.HasPrefix(name, "manifest: ") && len(b) < 4096 {
			seeds["hostile-"+strings.ReplaceAll(name[10:], " ", "-")] = b
		}
	}
	return seeds
}

// openRunSeeds are the seeds of FuzzOpenRun: runs of format 2, valid
// (named "valid-") or not; the decompressed index of the blocky run
// ("index-"); block payloads ("block-"). See openRunSeedInput.
func openRunSeeds() map[string][]byte {
	meta, d := smallRun()
	blocky := blockyRunBytes()
	f := parseV2(panicker{}, blocky)
	seeds := map[string][]byte{
		"valid-blocky":       blocky,
		"valid-small":        mustEncodeRunSeed(meta, d),
		"valid-empty":        mustEncodeRunSeed(RunMeta{Name: RunName(0)}, differential.Deltas{}),
		"valid-nofilter":     mustEncodeRunOpts(panicker{}, meta, d, WriterOptions{BlockSize: 40}),
		"valid-tutorial":     mustEncodeRunOpts(panicker{}, RunMeta{Name: RunName(3)}, tutorialDeltas(300, 7, 5), WriterOptions{BlockSize: 512, Groups: 7}),
		"v1":                 mustEncodeRunV1(panicker{}, meta, d),
		"future":             withHeaderV2(blocky, runVersion+1),
		"truncated":          blocky[:len(blocky)-1],
		"manifest":           mustEncodeManifestSeed(smallManifest()),
		"index-valid-blocky": f.index,
		"index-garbage":      []byte("not an index"),
		"block-garbage":      []byte("not a block"),
	}
	for i, b := range f.blocks {
		seeds[fmt.Sprintf("block-valid-blocky-%d", i)] = b.payload
	}
	for name, b := range hostile() {
		if strings.HasPrefix(name, "run: v2 ") && len(b) < 4096 {
			seeds["hostile-"+strings.ReplaceAll(name[8:], " ", "-")] = b
		}
	}
	return seeds
}

// openRunSeedInput returns the run a seed of FuzzOpenRun stands for: an
// index seed around the blocks and filter of the blocky run (withIndex),
// a block seed as the one block of a run (withBlock), a run as it is.
func openRunSeedInput(name string, b []byte) []byte {
	switch {
	case strings.HasPrefix(name, "index-"):
		return withIndex(b)
	case strings.HasPrefix(name, "block-"):
		return withBlock(b)
	}
	return b
}

func mustEncodeRunSeed(meta RunMeta, d differential.Deltas) []byte {
	b, err := EncodeRun(meta, d)
	if err != nil {
		panic(err)
	}
	return b
}

func mustEncodeManifestSeed(m *Manifest) []byte {
	b, err := EncodeManifest(m)
	if err != nil {
		panic(err)
	}
	return b
}

func mustMarshal(v any) []byte {
	b, err := msgpack.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func seedFile(b []byte) string { return "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n" }

// TestFuzzSeeds checks the seed corpora on disk against runSeeds and
// manifestSeeds, and what the decoders say of each seed; -update rewrites
// the corpora.
func TestFuzzSeeds(t *testing.T) {
	for target, seeds := range map[string]map[string][]byte{
		"FuzzDecodeRun":      runSeeds(),
		"FuzzDecodeManifest": manifestSeeds(),
		"FuzzOpenRun":        openRunSeeds(),
	} {
		dir := filepath.Join("testdata", "fuzz", target)
		if *updateSeeds {
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, b := range seeds {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(seedFile(b)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		for name, b := range seeds {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatalf("%v (run go test -run TestFuzzSeeds -update)", err)
			}
			if string(got) != seedFile(b) {
				t.Fatalf("seed %s/%s is stale (run go test -run TestFuzzSeeds -update)", target, name)
			}
			valid := strings.HasPrefix(name, "valid-")
			switch target {
			case "FuzzDecodeRun":
				_, _, err = DecodeRun(name, b)
			case "FuzzDecodeManifest":
				_, err = DecodeManifest(name, b)
			case "FuzzOpenRun":
				in := openRunSeedInput(name, b)
				valid = strings.Contains(name, "valid-")
				_, _, err = DecodeRun(name, in)
				if r, oerr := OpenRun(name, bytes.NewReader(in), int64(len(in)), nil); err == nil && oerr != nil {
					err = oerr
				} else if oerr == nil {
					r.Close()
				}
			}
			if valid != (err == nil) {
				t.Fatalf("seed %s/%s: error %v", target, name, err)
			}
		}
	}
}

// fixHeader returns a copy of b with the length and checksum made right,
// so that mutations get past them to the body.
func fixHeader(b []byte) []byte {
	c := bytes.Clone(b)
	binary.LittleEndian.PutUint64(c[offLength:], uint64(len(c)-headerSize))
	binary.LittleEndian.PutUint32(c[offCRC:], fileCRC(c))
	return c
}

// fixChecksumsV2 returns a copy of b with the checksums of format 2 made
// right as far as b follows the format — of the header, of the blocks the
// index places, of the filter and of the index — and the footer's index
// length and magic, so that mutations get past them.
func fixChecksumsV2(b []byte) []byte {
	c := bytes.Clone(b)
	if len(c) < headerSize {
		return c
	}
	binary.LittleEndian.PutUint32(c[offCRC:], Checksum(c[:offCRC]))
	if len(c) < headerSize+footerSize {
		return c
	}
	fpos := len(c) - footerSize
	off := binary.LittleEndian.Uint64(c[fpos:])
	if off < headerSize || off > uint64(fpos) {
		return c
	}
	ci := bytes.Clone(c[off:fpos])
	if n, err := snappy.DecodedLen(ci); err == nil && n <= maxSnappyRatio*len(ci)+64 {
		if idx, err := snappy.Decode(nil, ci); err == nil {
			run := &Run{}
			if run.parseIndex(idx, int64(off)) == "" {
				for _, h := range run.blocks {
					binary.LittleEndian.PutUint32(c[h.off+h.length:], Checksum(c[h.off:h.off+h.length]))
				}
				if run.filterLen > 0 {
					binary.LittleEndian.PutUint32(idx[len(idx)-4:], Checksum(c[run.filterOff:run.filterOff+run.filterLen]))
					ci = snappy.Encode(nil, idx)
				}
			}
		}
	}
	out := append(c[:off:off], ci...)
	out = binary.LittleEndian.AppendUint64(out, off)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(ci)))
	out = binary.LittleEndian.AppendUint32(out, Checksum(ci))
	return append(out, magicFooter...)
}

// withIndex returns a run of format 2 made of the blocks and filter of
// the blocky run and of index, decompressed, with right checksums: for
// the blocky run's own index, the blocky run.
func withIndex(index []byte) []byte {
	blocky := blockyRunBytes()
	off := binary.LittleEndian.Uint64(blocky[len(blocky)-footerSize:])
	return assembleV2(blocky[headerSize:off], index)
}

// withBlock returns a run of format 2 whose one block has the payload p,
// with right checksums and, when p decodes as a block, an index that
// agrees with it.
func withBlock(p []byte) []byte {
	bl := v2block{payload: p, entries: 1}
	groups := uint64(1)
	if b, reason := decodeBlock(p); reason == "" {
		bl.entries, bl.first, bl.last = uint64(b.len()), b.groups[0], b.groups[len(b.groups)-1]
		groups = uint64(len(b.groups))
	}
	parts := v2parts{
		meta: mustMarshal(&RunMeta{Name: "fuzz", Entries: int64(bl.entries)}),
		n:    bl.entries, groups: groups, blocks: []v2block{bl},
	}
	return parts.build()
}

// FuzzDecodeRun checks that DecodeRun never panics, that its errors are
// ErrCorrupt or ErrVersion, and that what it accepts is a valid run that
// encodes back to the same entries. Each input is also tried with its
// header made right (format 1) or its checksums made right (format 2),
// as the body of a run of format 1 and as the block of a run of format 2.
// Seeds: testdata/fuzz/FuzzDecodeRun (see TestFuzzSeeds).
func FuzzDecodeRun(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		checkRun(t, b)
		if len(b) >= headerSize {
			checkRun(t, fixHeader(b))
			checkRun(t, fixChecksumsV2(b))
		}
		checkRun(t, rawFile(magicRun, formatVersion, snappy.Encode(nil, b)))
		checkRun(t, withBlock(b))
	})
}

// FuzzOpenRun checks that OpenRun, Lookup and Iter never panic, that
// their errors are ErrCorrupt, ErrVersion or ErrOldFormat, and that when
// DecodeRun accepts a run they read exactly what it does (checkOpenRun).
// Each input is also tried with its checksums made right, as the index of
// the blocky run's blocks and as the block of a run. Seeds:
// testdata/fuzz/FuzzOpenRun (see TestFuzzSeeds).
func FuzzOpenRun(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		checkOpenRun(t, b)
		checkOpenRun(t, fixChecksumsV2(b))
		checkOpenRun(t, withIndex(b))
		checkOpenRun(t, withBlock(b))
	})
}

// checkOpenRun opens the run b and reads it every way: Lookup of its
// groups (the decoded ones, or those the index names) and of absent ones,
// twice, and Iter. Nothing may panic; errors must be ErrCorrupt,
// ErrVersion or ErrOldFormat; when DecodeRun accepts b, OpenRun must, and
// every read must return exactly the entries DecodeRun does. Closing the
// run must empty its cache.
func checkOpenRun(t tester, b []byte) {
	t.Helper()
	kind := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) && !errors.Is(err, ErrOldFormat) {
			t.Fatalf("%s: error %v is neither ErrCorrupt, ErrVersion nor ErrOldFormat", what, err)
		}
	}
	_, d, derr := DecodeRun("fuzz", b)
	cache := NewCache(1 << 16)
	run, err := OpenRun("fuzz", bytes.NewReader(b), int64(len(b)), cache)
	if err != nil {
		kind("OpenRun", err)
		if derr == nil && !errors.Is(err, ErrOldFormat) {
			t.Fatalf("OpenRun refuses a run DecodeRun accepts: %v", err)
		}
		return
	}
	if derr != nil && !errors.Is(derr, ErrCorrupt) {
		t.Fatalf("DecodeRun of a run OpenRun opens: %v", derr)
	}
	var gs []string
	if derr == nil {
		gs = groupsOf(d)
	} else {
		for i, h := range run.blocks {
			if i == 50 {
				break
			}
			gs = append(gs, h.first, h.last)
		}
		slices.Sort(gs)
		gs = slices.Compact(gs)
	}
	for range 2 {
		for _, g := range append(gs, absentGroups(gs)...) {
			got, found, err := lookup(run, g)
			if derr != nil {
				if err != nil {
					kind(fmt.Sprintf("Lookup(%q)", g), err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("Lookup(%q) of a run DecodeRun accepts: %v", g, err)
			}
			want := entriesOf(d, g)
			if msg := diffDeltas(got, want); msg != "" || found != (want.Len() > 0) {
				t.Fatalf("Lookup(%q): found %v, %s", g, found, msg)
			}
		}
	}
	got, err := drain(run.Iter())
	switch {
	case derr == nil && err != nil:
		t.Fatalf("Iter of a run DecodeRun accepts: %v", err)
	case derr == nil:
		if msg := diffDeltas(got, d); msg != "" {
			t.Fatalf("Iter: %s", msg)
		}
	case err != nil:
		kind("Iter", err)
	}
	run.Close()
	if st := cache.Stats(); st.Size != 0 || st.Size > st.Capacity {
		t.Fatalf("cache holds %d bytes after the run is closed", st.Size)
	}
}

func checkRun(t *testing.T, b []byte) {
	meta, d, err := DecodeRun("fuzz", b)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
			t.Fatalf("error %v is neither ErrCorrupt nor ErrVersion", err)
		}
		return
	}
	if i, reason := checkConsolidated(d); i >= 0 {
		t.Fatalf("accepted a run whose entry %d is bad: %s", i, reason)
	}
	if meta.Entries != int64(d.Len()) || meta.Bytes != int64(len(b)) || meta.CRC != Checksum(b) {
		t.Fatalf("meta %+v does not describe a file of %d bytes and %d entries", meta, len(b), d.Len())
	}
	for _, enc := range []func(RunMeta, differential.Deltas) ([]byte, error){EncodeRun, encodeRunV1} {
		again, err := enc(meta, d)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		meta2, d2, err := DecodeRun("again", again)
		if err != nil {
			t.Fatalf("decode the re-encoded run: %v", err)
		}
		meta.Bytes, meta.CRC = meta2.Bytes, meta2.CRC
		if meta2 != meta {
			t.Fatalf("re-encoded meta %+v, want %+v", meta2, meta)
		}
		if msg := diffDeltas(d2, d); msg != "" {
			t.Fatalf("re-encoded run: %s", msg)
		}
	}
}

// FuzzDecodeManifest checks that DecodeManifest never panics, that its
// errors are ErrCorrupt or ErrVersion, and that what it accepts encodes
// back to the same manifest. Each input is also tried with its header made
// right, and as a manifest body. Seeds: testdata/fuzz/FuzzDecodeManifest.
func FuzzDecodeManifest(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		checkManifest(t, b)
		if len(b) >= headerSize {
			checkManifest(t, fixHeader(b))
		}
		checkManifest(t, rawFile(magicManifest, formatVersion, b))
	})
}

func checkManifest(t *testing.T, b []byte) {
	m, err := DecodeManifest("fuzz", b)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
			t.Fatalf("error %v is neither ErrCorrupt nor ErrVersion", err)
		}
		return
	}
	again, err := EncodeManifest(m)
	if err != nil {
		t.Fatalf("re-encode: %v", err)
	}
	m2, err := DecodeManifest("again", again)
	if err != nil {
		t.Fatalf("decode the re-encoded manifest: %v", err)
	}
	if !reflect.DeepEqual(m2, m) {
		t.Fatalf("re-encoded manifest %+v, want %+v", m2, m)
	}
}
