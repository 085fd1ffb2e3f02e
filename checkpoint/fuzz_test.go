package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/pwlog/pwlog/differential"
)

var updateSeeds = flag.Bool("update", false, "rewrite the fuzz seed corpora in testdata/fuzz")

// runSeeds are the seeds of FuzzDecodeRun: valid runs (named "valid-")
// and damaged or hostile ones.
func runSeeds() map[string][]byte {
	meta, d := smallRun()
	many := tutorialDeltas(300, 7, 5)
	seeds := map[string][]byte{
		"valid-empty":    mustEncodeRunSeed(RunMeta{Name: RunName(0)}, differential.Deltas{}),
		"valid-small":    mustEncodeRunSeed(meta, d),
		"valid-tutorial": mustEncodeRunSeed(RunMeta{Name: RunName(3), Operator: "sessions", Arrangement: "by_user"}, many),
		"garbage":        []byte("PWLGRUN\x00 this is not a run, only its magic"),
		"zeros":          make([]byte, 64),
		"manifest":       mustEncodeManifestSeed(smallManifest()),
		"snappy-bomb":    rawFile(magicRun, formatVersion, binary.AppendUvarint(nil, 1<<31)),
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
		"seq-zero":      rawFile(magicManifest, formatVersion, mustMarshal(&Manifest{})),
	}
	for name, b := range hostile() {
		if strings.HasPrefix(name, "manifest: ") && len(b) < 4096 {
			seeds["hostile-"+strings.ReplaceAll(name[10:], " ", "-")] = b
		}
	}
	return seeds
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
			if target == "FuzzDecodeRun" {
				_, _, err = DecodeRun(name, b)
			} else {
				_, err = DecodeManifest(name, b)
			}
			if valid := strings.HasPrefix(name, "valid-"); valid != (err == nil) {
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

// FuzzDecodeRun checks that DecodeRun never panics, that its errors are
// ErrCorrupt or ErrVersion, and that what it accepts is a valid run that
// encodes back to the same entries. Each input is also tried with its
// header made right, and as a run body. Seeds: testdata/fuzz/FuzzDecodeRun
// (see TestFuzzSeeds).
func FuzzDecodeRun(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		checkRun(t, b)
		if len(b) >= headerSize {
			checkRun(t, fixHeader(b))
		}
		checkRun(t, rawFile(magicRun, formatVersion, snappy.Encode(nil, b)))
	})
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
	again, err := EncodeRun(meta, d)
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
