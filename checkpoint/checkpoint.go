// Package checkpoint holds the file formats of pwlog's checkpoints — runs
// and manifests — their reading in place, and the merging of runs. It
// encodes and decodes bytes only: the caller stores them through a
// backend and hands back an io.ReaderAt.
//
// A run is one immutable, sorted, consolidated batch of one arrangement's
// entries (or of the rows a source contributed, grouped by file path).
// A manifest names the live runs of a checkpoint and carries the LSN, the
// logical clock, the pipeline fingerprint and the engine's own state.
//
// # Header
//
// Both kinds of file start with the same 24-byte header:
//
//	 0                  8         10        12               20          24
//	+------------------+---------+---------+----------------+-----------+
//	| magic            | version | flags   | length         | CRC-32C   |
//	| "PWLGRUN\x00" or | u16le   | u16le   | u64le          | u32le     |
//	| "PWLGMAN\x00"    |         | = 0     |                |           |
//	+------------------+---------+---------+----------------+-----------+
//
// A manifest is version 1: length is its body's, and the CRC-32C
// (Castagnoli) covers bytes [0,20) and the body, the msgpack map of the
// Manifest. A file of a newer version whose checksum holds is reported as
// ErrVersion, not as corruption. No flag is defined: flags must be zero.
//
// # Run format 2
//
// A run is read in place: a lookup of one group reads the run's index
// once, its filter once, and the blocks that may hold the group. Its
// header has version 2, length 0, and a CRC-32C of bytes [0,20); then:
//
//	+--------+------------------------------------------------------------+
//	| blocks | per block: snappy (block format) of the block's payload,   |
//	|        | then the u32le CRC-32C of those compressed bytes           |
//	| filter | optional: a Bloom filter of the run's group names, 10 bits |
//	|        | per group, k probes by double hashing of FNV-1a 64         |
//	| index  | snappy of the index (below)                                |
//	| footer | u64le index offset, u32le index length, u32le CRC-32C of   |
//	|        | the index bytes, "PWLGRIX\x00"  (24 bytes)                 |
//	+--------+------------------------------------------------------------+
//
//	index (after snappy decoding)
//	  uvarint length, RunMeta (msgpack; Entries is N, Bytes and CRC zero)
//	  uvarint N entries, uvarint G groups, uvarint B blocks
//	  per block: uvarint offset, uvarint compressed length (without the
//	             checksum), uvarint entries, uvarint length + bytes of its
//	             first group, uvarint length + bytes of its last group
//	  uvarint filter offset, uvarint filter length (0: none),
//	  uvarint probes, u32le CRC-32C of the filter
//
//	block payload (after snappy decoding), n entries of g groups
//	  uvarint n, uvarint g
//	  per group, ascending: uvarint name length, uvarint entries (>= 1)
//	  the g group names concatenated
//	  n keys, u64le each
//	  n row lengths, uvarint each
//	  the n encoded rows concatenated
//	  n diffs, zigzag varint each, none zero
//
// Entries are sorted by (group, key, row): byte order of groups and rows,
// numeric order of keys; no (group, key, row) appears twice. A group may
// continue from one block into the next; the blocks holding a group are
// consecutive, found by binary search of the index's last groups. Blocks
// follow each other from byte 24, with the filter then the index right
// after the last. The manifest keeps each run's size and the CRC-32C of
// the whole file (RunMeta), checked when a run is read whole.
//
// Every part has a checksum of its own, checked when it is read: a
// restart that reads no block of a damaged run does not see the damage;
// the first read of the block does (a *CorruptError naming the run), and
// DecodeRun, which reads everything, always does.
//
// # Run format 1
//
// Written by earlier builds, decoded whole by DecodeRun (`pwlog compact`
// rewrites such a storage in format 2), never read in place: the header's
// length is the body's and its CRC covers the body too; the body is one
// snappy block of a msgpack map:
//
//	+-----+--------------------------------------------------------------+
//	| key | value                                                        |
//	+-----+--------------------------------------------------------------+
//	| "m" | RunMeta (msgpack map; Entries is N, Bytes and CRC are zero)  |
//	| "n" | N, the number of entries                                     |
//	| "gi"| bin: per distinct group, ascending: uvarint name length,     |
//	|     |      uvarint number of entries (>= 1); the counts sum to N   |
//	| "gn"| bin: the G group names concatenated                          |
//	| "k" | bin: N keys, u64le each                                      |
//	| "rl"| bin: N row lengths, uvarint each                             |
//	| "rd"| bin: the N encoded rows concatenated                         |
//	| "d" | bin: N diffs, zigzag varint each, none zero                  |
//	+-----+--------------------------------------------------------------+
//
// # Limits
//
// Every length a file declares is checked against the bytes that remain
// before anything is allocated for it, and a snappy block may not claim
// more than 40 times its own size (a real block expands at most about 21
// times). So what a decoder allocates is bounded by a small multiple of
// the input's size, whatever the input.
package checkpoint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

var (
	// ErrCorrupt marks a damaged checkpoint file. Decoders return a
	// *CorruptError, which unwraps to it; errors.Is(err, ErrCorrupt) finds
	// it through any wrapping.
	ErrCorrupt = errors.New("checkpoint: corrupt")

	// ErrVersion marks a file written in a newer format version than this
	// build reads. It is not corruption: a newer pwlog can read the file.
	ErrVersion = errors.New("checkpoint: unsupported format version")

	// ErrInvalid marks input that an encoder refuses to write: deltas that
	// are not sorted and consolidated, or a manifest that breaks its
	// invariants. It is a bug of the caller, never of the data on disk.
	ErrInvalid = errors.New("checkpoint: invalid input")

	// ErrTooLarge marks a run whose body would exceed MaxRunBody bytes. The
	// caller splits the entries into several runs.
	ErrTooLarge = errors.New("checkpoint: run too large")
)

// CorruptError is the error for a damaged checkpoint file. It unwraps to
// ErrCorrupt.
type CorruptError struct {
	Object string // object name, as given to the decoder
	Offset int64  // byte offset in the file; a problem inside a run's compressed body is placed at the body's start; -1 for the whole file
	Reason string
}

func (e *CorruptError) Error() string {
	if e.Offset < 0 {
		return fmt.Sprintf("checkpoint: corrupt: %s: %s", e.Object, e.Reason)
	}
	return fmt.Sprintf("checkpoint: corrupt: %s at offset %d: %s", e.Object, e.Offset, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// versionError is the error for a file of a newer format version.
type versionError struct {
	object  string
	version uint16
	reads   uint16 // the newest version of its kind this build reads
}

func (e *versionError) Error() string {
	return fmt.Sprintf("checkpoint: unsupported format version: %s has version %d, this build reads version %d",
		e.object, e.version, e.reads)
}

// Unwrap returns ErrVersion.
func (e *versionError) Unwrap() error { return ErrVersion }

const (
	// formatVersion is the format version of manifests, and of runs of
	// format 1 (read, never written).
	formatVersion = 1
	// runVersion is the format of the runs this build writes.
	runVersion = 2
	// footerSize is the size of a format-2 run's footer.
	footerSize  = 24
	magicFooter = "PWLGRIX\x00"
	// headerSize is the size of the fixed header of every file.
	headerSize = 24
	// Offsets of the header fields.
	offVersion = 8
	offFlags   = 10
	offLength  = 12
	offCRC     = 20

	magicRun      = "PWLGRUN\x00"
	magicManifest = "PWLGMAN\x00"
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC-32C (Castagnoli) of b: the value a manifest
// keeps in RunMeta.CRC for a run file b.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, crcTable) }

// putHeader writes into b[:headerSize] the header of a file with the given
// magic whose body, already in place, is b[headerSize:].
func putHeader(b []byte, magic string, version uint16) {
	copy(b, magic)
	binary.LittleEndian.PutUint16(b[offVersion:], version)
	binary.LittleEndian.PutUint16(b[offFlags:], 0)
	binary.LittleEndian.PutUint64(b[offLength:], uint64(len(b)-headerSize))
	binary.LittleEndian.PutUint32(b[offCRC:], fileCRC(b))
}

// fileCRC computes the checksum of a file: over the header before the
// checksum field and over the body.
func fileCRC(b []byte) uint32 {
	crc := crc32.Update(0, crcTable, b[:offCRC])
	return crc32.Update(crc, crcTable, b[headerSize:])
}

// checkHeader validates the header of file b against the expected magic,
// its length and its checksum, and returns the body. other is the other
// kind's magic, named in the error when a file of the wrong kind is given.
func checkHeader(object string, b []byte, magic, other, kind, otherKind string) ([]byte, error) {
	corrupt := func(off int64, format string, args ...any) error {
		return &CorruptError{Object: object, Offset: off, Reason: fmt.Sprintf(format, args...)}
	}
	if len(b) < headerSize {
		return nil, corrupt(int64(len(b)), "file of %d bytes ends inside the %d-byte header", len(b), headerSize)
	}
	if m := string(b[:len(magic)]); m != magic {
		if m == other {
			return nil, corrupt(0, "file is a %s, not a %s", otherKind, kind)
		}
		return nil, corrupt(0, "bad magic %q, want %q", m, magic)
	}
	n := binary.LittleEndian.Uint64(b[offLength:])
	if n != uint64(len(b)-headerSize) {
		return nil, corrupt(offLength, "header declares a body of %d bytes, the file holds %d", n, len(b)-headerSize)
	}
	if stored, got := binary.LittleEndian.Uint32(b[offCRC:]), fileCRC(b); stored != got {
		return nil, corrupt(offCRC, "CRC mismatch (stored %#08x, computed %#08x)", stored, got)
	}
	switch v := binary.LittleEndian.Uint16(b[offVersion:]); {
	case v == 0:
		return nil, corrupt(offVersion, "format version 0")
	case v > formatVersion:
		return nil, &versionError{object: object, version: v, reads: formatVersion}
	}
	if f := binary.LittleEndian.Uint16(b[offFlags:]); f != 0 {
		return nil, corrupt(offFlags, "unknown flags %#x", f)
	}
	return b[headerSize:], nil
}
