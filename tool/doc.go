// Package tool holds pwlog's storage tools as Go functions: Inspect
// describes a storage directory, Dump delivers its records decoded, Verify
// checks every checksum and rule of its format, Compact folds a stopped
// pipeline's log into its checkpoint, and Resnapshot asks the next
// execution to write a sink's whole table into a new file. The pwlog
// command (cmd/pwlog) is a thin layer over them.
//
// A storage may also be kept in an object store: the tools take its URL
// (s3://BUCKET/PREFIX, azure://CONTAINER/PREFIX) in place of a
// directory, or a backend.Backend (ReadOptions.Backend,
// CompactOptions.Backend), and do the same there. The log's objects play
// the part of its segments, objects are named by URL in what they
// report, and the writer's lease plays the part of the lock: Inspect
// reads it, Compact and Resnapshot take it.
//
// Inspect, Dump and Verify read the files as they are: they write
// nothing, not the marker, not the lock, not a repair (Inspect takes the
// lock for an instant, when nobody holds it, to tell whether a process
// does). Compact and Resnapshot take the storage's lock and refuse while
// a pipeline runs.
//
// The tools read a storage of an older format than FormatVersion too, and
// Inspect reports its format; Compact upgrades it to FormatVersion, which
// a pipeline needs.
//
// Inspect, Verify, Compact and Resnapshot read the committed log through
// the same fold a restart uses (internal/storage.State), so all of them
// agree on what a storage commits; ARCHITECTURE.md, section 6, says how.
// Errors: ErrFormat for a directory that is not a storage this build
// reads, ErrMarkerDamaged (a *MarkerError) for a storage whose marker is
// damaged, ErrLocked when Compact or Resnapshot finds the storage in use;
// IsDamage tells damage from an error that says the storage could not be
// read.
package tool
