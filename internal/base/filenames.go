// Package base holds what every storage package shares and nothing else:
// the name of every file and directory a pwlog storage holds. It imports
// nothing of the project, so any package may import it.
//
// A filesystem storage directory:
//
//	DIR/
//	  PWLOG                       Marker: "pwlog storage format N\n"
//	  PWLOG.tmp                   TempSuffix: a marker being written
//	  LOCK                        Lock: held (flock) by the process using DIR
//	  wal/                        LogDir: the record log (package wal)
//	    00000000000000000001      SegmentName(first LSN): a tidwall/wal segment
//	    00000000000000000001.broken   BrokenSuffix: a tail repair's copy
//	    00000000000000000042.KEEP     KeepSuffix: a front truncation in progress
//	    00000000000000000042.START    tidwall's front truncation in progress
//	    00000000000000000042.END      tidwall's back truncation in progress
//	    00000000000000000042.TEMP     tidwall's truncation file being written
//	  checkpoints/                CheckpointDir: the checkpoint objects (package backend)
//	    MANIFEST-00000000000000000003   ManifestName(seq): names the live runs
//	    runs/00000000000000000007.run   RunName(id): a sorted run
//	    runs/.tmp-<random>-<base>       TempPrefix: an object being written
package base

import (
	"fmt"
	"strconv"
	"strings"
)

// The names of a storage directory's entries.
const (
	// Marker is the format marker file.
	Marker = "PWLOG"
	// Lock is the lock file a process holds while it uses the storage.
	Lock = "LOCK"
	// LogDir is the directory of the record log.
	LogDir = "wal"
	// CheckpointDir is the root of the checkpoint objects.
	CheckpointDir = "checkpoints"
)

// Temporary files.
const (
	// TempSuffix ends a file that vfs.WriteFileAtomic writes before it
	// renames it over its name.
	TempSuffix = ".tmp"
	// TempPrefix starts the base name of an object a filesystem backend
	// writes before it gives it its name.
	TempPrefix = ".tmp-"
)

// Checkpoint object names, relative to CheckpointDir.
const (
	// ManifestPrefix starts a manifest's name; 20 digits follow.
	ManifestPrefix = "MANIFEST-"
	// RunPrefix and RunSuffix surround a run's 20-digit id.
	RunPrefix = "runs/"
	RunSuffix = ".run"
)

// Log directory names: tidwall/wal's (segments, .START, .END, .TEMP) and
// ours (.KEEP, .broken).
const (
	// SegmentDigits is the length of a segment's name: its first LSN.
	SegmentDigits = 20
	// KeepSuffix ends the file our front truncation writes first.
	KeepSuffix = ".KEEP"
	// BrokenSuffix ends the copy a tail repair keeps of what it cut.
	BrokenSuffix = ".broken"
	// StartSuffix, EndSuffix and TruncTempSuffix are tidwall/wal's
	// front-truncation, back-truncation and in-progress files.
	StartSuffix     = ".START"
	EndSuffix       = ".END"
	TruncTempSuffix = ".TEMP"
)

// ManifestName returns the object name of manifest seq: ManifestPrefix
// and seq in 20 zero-padded digits, so that names sort as sequence
// numbers do.
func ManifestName(seq uint64) string { return fmt.Sprintf("%s%020d", ManifestPrefix, seq) }

// ParseManifestName returns the sequence number of a manifest's object
// name, and false for any name ManifestName does not return.
func ParseManifestName(name string) (seq uint64, ok bool) {
	digits, ok := strings.CutPrefix(name, ManifestPrefix)
	if !ok {
		return 0, false
	}
	return parseDigits(digits)
}

// RunName returns the object name of run id: RunPrefix, id in 20
// zero-padded digits, RunSuffix.
func RunName(id uint64) string { return fmt.Sprintf("%s%020d%s", RunPrefix, id, RunSuffix) }

// ParseRunName returns the id of a run's object name, and false for any
// name RunName does not return.
func ParseRunName(name string) (id uint64, ok bool) {
	s, ok := strings.CutPrefix(name, RunPrefix)
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, RunSuffix)
	if !ok {
		return 0, false
	}
	return parseDigits(s)
}

// SegmentName returns the file name of the log segment whose first LSN
// is lsn: 20 zero-padded digits, as tidwall/wal names it.
func SegmentName(lsn uint64) string { return fmt.Sprintf("%020d", lsn) }

// ParseSegmentName returns the first LSN of a segment's file name:
// exactly 20 decimal digits, not zero. Other names (.broken copies,
// .START/.END files) are not segments.
func ParseSegmentName(name string) (uint64, bool) {
	v, ok := parseDigits(name)
	return v, ok && v != 0
}

// parseDigits parses exactly 20 decimal digits.
func parseDigits(s string) (uint64, bool) {
	if len(s) != 20 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}
