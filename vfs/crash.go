package vfs

import (
	"bytes"
	"math/rand/v2"
	"slices"
)

// The crash model shared by MemFS.CrashClone and Recorder.CrashImage.
// Each function takes what was durable (as of the last File.Sync or
// FS.SyncDir) and what is current, and returns one outcome a machine
// crash at this moment could leave. They are deliberately harsher than
// most real filesystems: the point is to find code that relies on more
// than File.Sync and FS.SyncDir promise.

// crashData returns what a crash may leave of a file whose data was
// synced at its last File.Sync (empty if it never was) and is cur now.
// The result is a new slice; neither argument is modified.
//
// If cur extends synced (appends since the sync), the result is synced
// followed by a prefix of the unsynced rest: none of it with probability
// 1/3, all of it with probability 1/3, a uniformly chosen length
// otherwise. Then, with probability 1/8, a random run of whole
// sector-aligned sectors of the kept unsynced bytes is zeroed (sectors
// the disk never wrote while it wrote later ones), and with probability
// 1/8, when part of the rest was not kept, the file is extended into it
// with zeros or garbage (its size reached the disk, its data did not).
// Synced bytes are never damaged.
//
// Otherwise (an overwrite or a truncation since the sync) the result is
// synced or cur, whole, by a coin flip.
func crashData(rng *rand.Rand, synced, cur []byte) []byte {
	if !bytes.HasPrefix(cur, synced) {
		if rng.IntN(2) == 0 {
			return slices.Clone(synced)
		}
		return slices.Clone(cur)
	}
	rest := len(cur) - len(synced)
	var keep int
	switch rng.IntN(3) {
	case 0:
		keep = 0
	case 1:
		keep = rest
	default:
		keep = rng.IntN(rest + 1)
	}
	out := slices.Clone(cur[:len(synced)+keep])
	if rng.IntN(8) == 0 {
		// Whole sectors inside the kept unsynced bytes.
		first := (len(synced) + SectorSize - 1) / SectorSize
		n := len(out)/SectorSize - first
		if n > 0 {
			a := first + rng.IntN(n)
			b := a + 1 + rng.IntN(first+n-a)
			clear(out[a*SectorSize : b*SectorSize])
		}
	}
	if keep < rest && rng.IntN(8) == 0 {
		tail := make([]byte, 1+rng.IntN(rest-keep))
		if rng.IntN(2) == 0 {
			for i := range tail {
				tail[i] = byte(rng.Uint32())
			}
		}
		out = append(out, tail...)
	}
	return out
}

// SectorSize is the unit a disk writes atomically in the crash model: a
// crash leaves each sector of unsynced data written or not, whole.
const SectorSize = 512

// ZeroSector reports whether b, the bytes of a file from offset off, holds
// a whole sector-aligned run of SectorSize zero bytes: what a crash leaves
// where a sector of a file's unsynced tail was not written while later
// ones were. Bit rot in synced data does not zero an aligned sector
// (etcd's WAL tells torn writes the same way), and pwlog's own formats
// never write one.
func ZeroSector(b []byte, off int64) bool {
	first := (off + SectorSize - 1) / SectorSize * SectorSize
	for s := first - off; s+SectorSize <= int64(len(b)); s += SectorSize {
		if !bytes.ContainsFunc(b[s:s+SectorSize], func(r rune) bool { return r != 0 }) {
			return true
		}
	}
	return false
}

// crashEntry is one name a crash leaves in a directory and what it
// names.
type crashEntry[N any] struct {
	name string
	node N
}

// crashEntries returns the entries a crash may leave in a directory whose
// entries were synced at its last FS.SyncDir (nil if it never was) and
// are current now, sorted by name. Each name in either map keeps its
// synced binding or its current binding, by a coin flip per name where
// the two differ; an absent name is a binding too, so an entry created
// since the sync may be missing and one removed since may be back.
// Names are chosen independently of each other: a rename not followed by
// a SyncDir may leave the old name, the new one, both, or neither (the
// last is harsher than journaling filesystems, which make a rename
// atomic, but nothing in FS promises that).
func crashEntries[N comparable](rng *rand.Rand, synced, current map[string]N) []crashEntry[N] {
	names := make([]string, 0, len(current)+len(synced))
	for name := range current {
		names = append(names, name)
	}
	for name := range synced {
		if _, ok := current[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	out := make([]crashEntry[N], 0, len(names))
	for _, name := range names {
		s, inSynced := synced[name]
		c, inCurrent := current[name]
		node, ok := c, inCurrent
		if (inSynced != inCurrent || s != c) && rng.IntN(2) == 0 {
			node, ok = s, inSynced
		}
		if ok {
			out = append(out, crashEntry[N]{name, node})
		}
	}
	return out
}
