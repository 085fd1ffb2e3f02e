package checkpoint

import (
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"pgregory.net/rapid"
)

func TestManifestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &Manifest{
			Seq:   rapid.Uint64Min(1).Draw(t, "seq"),
			LSN:   rapid.Uint64().Draw(t, "lsn"),
			Clock: rapid.Uint64().Draw(t, "clock"),
			Meta:  rapid.SliceOfN(rapid.Byte(), 0, 100).Draw(t, "meta"),
		}
		if rapid.Bool().Draw(t, "fingerprint") {
			m.Fingerprint = rapid.SliceOfN(rapid.String(), 0, 5).Draw(t, "lines")
		}
		for i := range rapid.IntRange(0, 6).Draw(t, "runs") {
			hi := rapid.Uint64Range(0, m.LSN).Draw(t, "hi")
			m.Runs = append(m.Runs, RunMeta{
				Name:        RunName(uint64(i)),
				Operator:    rapid.String().Draw(t, "op"),
				Arrangement: rapid.String().Draw(t, "arr"),
				Level:       rapid.IntRange(0, 30).Draw(t, "level"),
				Entries:     rapid.Int64Min(0).Draw(t, "entries"),
				Bytes:       rapid.Int64Min(0).Draw(t, "bytes"),
				MinLSN:      rapid.Uint64Range(0, hi).Draw(t, "lo"),
				MaxLSN:      hi,
				CRC:         rapid.Uint32().Draw(t, "crc"),
			})
		}
		b, err := EncodeManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeManifest(ManifestName(m.Seq), b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("decoded %+v, want %+v", got, m)
		}
	})
}

func TestManifestNames(t *testing.T) {
	if got, want := ManifestName(42), "MANIFEST-00000000000000000042"; got != want {
		t.Fatalf("ManifestName(42) = %q, want %q", got, want)
	}
	if got, want := RunName(42), "runs/00000000000000000042.run"; got != want {
		t.Fatalf("RunName(42) = %q, want %q", got, want)
	}
	for _, seq := range []uint64{0, 1, 9, 10, 1 << 40, 1<<64 - 1} {
		if got, ok := ParseManifestName(ManifestName(seq)); !ok || got != seq {
			t.Fatalf("ParseManifestName(ManifestName(%d)) = %d, %v", seq, got, ok)
		}
	}
	// Names sort as sequence numbers do.
	if !(ManifestName(9) < ManifestName(10) && ManifestName(1<<40) < ManifestName(1<<64-1)) {
		t.Fatal("manifest names do not sort by sequence number")
	}
	for _, name := range []string{
		"", "MANIFEST-", "MANIFEST-42", "MANIFEST-0000000000000000004x",
		"MANIFEST-000000000000000000042", "MANIFEST-00000000000000000042.tmp",
		"MANIFEST-99999999999999999999", // above 1<<64-1
		"manifest-00000000000000000042", "runs/00000000000000000042.run",
		"MANIFEST-+0000000000000000042",
	} {
		if seq, ok := ParseManifestName(name); ok {
			t.Fatalf("ParseManifestName(%q) = %d, true", name, seq)
		}
	}
}

func TestEncodeManifestRefuses(t *testing.T) {
	cases := map[string]func(m *Manifest){
		"seq 0":            func(m *Manifest) { m.Seq = 0 },
		"unnamed run":      func(m *Manifest) { m.Runs[0].Name = "" },
		"run twice":        func(m *Manifest) { m.Runs[1].Name = m.Runs[0].Name },
		"negative entries": func(m *Manifest) { m.Runs[0].Entries = -1 },
		"negative bytes":   func(m *Manifest) { m.Runs[0].Bytes = -1 },
		"negative level":   func(m *Manifest) { m.Runs[0].Level = -1 },
		"LSN range":        func(m *Manifest) { m.Runs[0].MinLSN = m.Runs[0].MaxLSN + 1 },
		"run past LSN":     func(m *Manifest) { m.Runs[1].MaxLSN = m.LSN + 1 },
	}
	for name, f := range cases {
		m := smallManifest()
		f(m)
		if _, err := EncodeManifest(m); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: EncodeManifest error %v, want ErrInvalid", name, err)
		}
		// The decoder refuses the same manifest, written with a valid
		// checksum.
		body, err := msgpack.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeManifest("m", rawFile(magicManifest, formatVersion, body)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: DecodeManifest error %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := EncodeManifest(smallManifest()); err != nil {
		t.Fatalf("control: %v", err)
	}
}

func TestDecodeManifestChecksName(t *testing.T) {
	m := smallManifest()
	b, err := EncodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{ManifestName(m.Seq), "dir/" + ManifestName(m.Seq), "MANIFEST.tmp", "copy"} {
		if _, err := DecodeManifest(name, b); err != nil {
			t.Errorf("DecodeManifest(%q): %v", name, err)
		}
	}
	for _, name := range []string{ManifestName(m.Seq + 1), "dir/" + ManifestName(1)} {
		if _, err := DecodeManifest(name, b); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "holds manifest") {
			t.Errorf("DecodeManifest(%q) of manifest %d: %v", name, m.Seq, err)
		}
	}
}

func TestManifestVersionFromFuture(t *testing.T) {
	b, err := EncodeManifest(smallManifest())
	if err != nil {
		t.Fatal(err)
	}
	_, err = DecodeManifest("m", rawFile(magicManifest, formatVersion+1, b[headerSize:]))
	if !errors.Is(err, ErrVersion) || errors.Is(err, ErrCorrupt) {
		t.Fatalf("version %d: error %v, want ErrVersion only", formatVersion+1, err)
	}
	if _, err := DecodeManifest("m", rawFile(magicManifest, 0xffff, []byte("whatever the body"))); !errors.Is(err, ErrVersion) {
		t.Fatalf("version 0xffff: error %v, want ErrVersion", err)
	}
}

func TestManifestHeaderLayout(t *testing.T) {
	b, err := EncodeManifest(smallManifest())
	if err != nil {
		t.Fatal(err)
	}
	if string(b[:8]) != "PWLGMAN\x00" || binary.LittleEndian.Uint16(b[8:]) != 1 ||
		binary.LittleEndian.Uint16(b[10:]) != 0 || binary.LittleEndian.Uint64(b[12:]) != uint64(len(b)-24) {
		t.Fatalf("header % x does not follow the documented layout", b[:24])
	}
	// The body is the plain msgpack of the manifest.
	var m Manifest
	if err := msgpack.Unmarshal(b[headerSize:], &m); err != nil || m.Seq != smallManifest().Seq {
		t.Fatalf("body is not the msgpack of the manifest: %v", err)
	}
}
