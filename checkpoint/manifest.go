package checkpoint

import (
	"fmt"
	"path"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/pwlog/pwlog/internal/base"
	"github.com/pwlog/pwlog/internal/msgpackx"
)

// Manifest names the live runs of a checkpoint: the state as of a
// committed WAL LSN. The newest manifest, by Seq, is in force.
type Manifest struct {
	Seq         uint64    `msgpack:"q"` // 1, 2, ...; the object name is ManifestName(Seq)
	LSN         uint64    `msgpack:"l"` // every WAL record with LSN <= LSN is folded into Runs
	Clock       uint64    `msgpack:"t"` // last committed logical time at LSN
	Fingerprint []string  `msgpack:"f"` // the pipeline's description, one line per source/operator/sink
	Runs        []RunMeta `msgpack:"r"`
	Meta        []byte    `msgpack:"m"` // the engine's own state at LSN (source offsets, sink acks), opaque here
}

// ManifestName returns the object name of manifest seq (base.ManifestName:
// "MANIFEST-" and seq in 20 zero-padded digits, so that names sort as
// sequence numbers do).
func ManifestName(seq uint64) string { return base.ManifestName(seq) }

// ParseManifestName returns the sequence number of a manifest's object
// name, and false for any name ManifestName does not return (temporary
// files, runs).
func ParseManifestName(name string) (seq uint64, ok bool) { return base.ParseManifestName(name) }

// RunName returns the object name of run id (base.RunName: "runs/", id in
// 20 zero-padded digits, ".run").
func RunName(id uint64) string { return base.RunName(id) }

// check returns why m breaks a manifest's invariants, or "".
func (m *Manifest) check() string {
	if m.Seq == 0 {
		return "sequence number 0"
	}
	seen := make(map[string]bool, len(m.Runs))
	for i := range m.Runs {
		r := &m.Runs[i]
		switch {
		case r.Name == "":
			return fmt.Sprintf("run %d has no name", i)
		case seen[r.Name]:
			return fmt.Sprintf("run %s listed twice", r.Name)
		case r.Level < 0 || r.Entries < 0 || r.Bytes < 0:
			return fmt.Sprintf("run %s: level %d, %d entries, %d bytes", r.Name, r.Level, r.Entries, r.Bytes)
		case r.MinLSN > r.MaxLSN:
			return fmt.Sprintf("run %s: LSN range [%d, %d]", r.Name, r.MinLSN, r.MaxLSN)
		case r.MaxLSN > m.LSN:
			return fmt.Sprintf("run %s holds LSNs up to %d, past the manifest's LSN %d", r.Name, r.MaxLSN, m.LSN)
		}
		seen[r.Name] = true
	}
	return ""
}

// EncodeManifest returns the encoded manifest m. It refuses, with an error
// wrapping ErrInvalid, a manifest that DecodeManifest would reject: Seq 0,
// a run without a name or listed twice, negative counts, a run's MinLSN
// above its MaxLSN or its MaxLSN above m.LSN. m is not retained.
func EncodeManifest(m *Manifest) ([]byte, error) {
	if reason := m.check(); reason != "" {
		return nil, fmt.Errorf("%w: manifest %d: %s", ErrInvalid, m.Seq, reason)
	}
	body, err := msgpack.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: encode manifest %d: %w", m.Seq, err)
	}
	out := make([]byte, headerSize+len(body))
	copy(out[headerSize:], body)
	putHeader(out, magicManifest, formatVersion)
	return out, nil
}

// DecodeManifest decodes the manifest file b, the object name. It checks
// the magic, the format version, the checksum, the msgpack structure and
// the manifest's invariants (see EncodeManifest), and, when the base of
// name is a manifest name, that it names m.Seq. Damage returns a
// *CorruptError (errors.Is(err, ErrCorrupt)), a newer format version
// ErrVersion. The Manifest is new and owned by the caller; b is not
// retained.
func DecodeManifest(name string, b []byte) (*Manifest, error) {
	body, err := checkHeader(name, b, magicManifest, magicRun, "manifest", "run")
	if err != nil {
		return nil, err
	}
	corrupt := func(off int, format string, args ...any) error {
		return &CorruptError{Object: name, Offset: int64(headerSize + off), Reason: fmt.Sprintf(format, args...)}
	}
	if err := msgpackx.Check(body); err != nil {
		serr := err.(*msgpackx.Error)
		return nil, corrupt(serr.Offset, "%s", serr.Reason)
	}
	if _, _, serr := msgpackx.MapHeader(body, 0); serr != nil {
		return nil, corrupt(serr.Offset, "%s", serr.Reason)
	}
	m := new(Manifest)
	if err := msgpack.Unmarshal(body, m); err != nil {
		return nil, corrupt(0, "msgpack: %v", err)
	}
	if reason := m.check(); reason != "" {
		return nil, corrupt(0, "%s", reason)
	}
	if seq, ok := ParseManifestName(path.Base(name)); ok && seq != m.Seq {
		return nil, corrupt(0, "holds manifest %d", m.Seq)
	}
	return m, nil
}
