package pwlog

import (
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"
	"time"

	"github.com/pwlog/pwlog/checkpoint"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/backend/azure"
	"github.com/pwlog/pwlog/backend/s3"
	loc "github.com/pwlog/pwlog/internal/location"
	"github.com/pwlog/pwlog/vfs"
)

// Filesystem returns the Backend of a storage directory at path, for
// Config.Backend. Nothing is created or read until a pipeline runs: path
// is then created if missing.
func Filesystem(path string) *backend.Filesystem { return backend.FilesystemAt(path) }

// S3Options configure S3: the endpoint (empty for AWS), region and
// credentials. S3OptionsFromEnv reads them from the AWS SDK's standard
// environment.
type S3Options = s3.Options

// S3OptionsFromEnv returns the S3Options of the environment:
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
// AWS_REGION and AWS_ENDPOINT_URL (for a server other than AWS).
func S3OptionsFromEnv() S3Options { return s3.OptionsFromEnv() }

// S3 returns the Backend of a storage in an S3 bucket, under prefix
// (empty: the whole bucket), for Config.Backend. The storage holds
// everything there, the log included. No request is made until a
// pipeline runs.
func S3(bucket, prefix string, opts S3Options) (*s3.Backend, error) {
	return s3.New(bucket, prefix, opts)
}

// AzureOptions configure Azure: the storage account's connection
// string.
type AzureOptions = azure.Options

// AzureOptionsFromEnv returns the AzureOptions of the environment:
// AZURE_STORAGE_CONNECTION_STRING.
func AzureOptionsFromEnv() AzureOptions { return azure.OptionsFromEnv() }

// Azure returns the Backend of a storage in an Azure Blob container,
// under prefix (empty: the whole container), for Config.Backend. No
// request is made until a pipeline runs.
func Azure(container, prefix string, opts AzureOptions) (*azure.Backend, error) {
	return azure.New(container, prefix, opts)
}

// Storage returns the Backend a storage location names, for
// Config.Backend: a directory (a path, or file://PATH),
// s3://BUCKET/PREFIX with the options of S3OptionsFromEnv, or
// azure://CONTAINER/PREFIX with those of AzureOptionsFromEnv. The
// example programs' -storage flags and the pwlog command take the same
// locations.
func Storage(location string) (backend.Backend, error) { return loc.Open(location) }

// PersistenceMode says what a persistent execution keeps in its storage
// (Pathway's persistence_mode).
type PersistenceMode int

const (
	// PersistState keeps every operator's state, the sources' offsets and
	// the sinks' acknowledgements: a restart loads the state and
	// processes only what is new (Pathway's OPERATOR_PERSISTING). The
	// default.
	PersistState PersistenceMode = iota
	// PersistInputs keeps the consumed input rows and the offsets, not
	// the operators' state (Pathway's PERSISTING): commits are smaller,
	// and a restart recomputes the state from the kept inputs before it
	// reads what is new. The sinks' tables are kept too, so the restart
	// emits nothing twice.
	PersistInputs
	// PersistSelective is PersistInputs for the sources Config.Persist
	// names (Pathway's SELECTIVE_PERSISTING): every execution reads the
	// other sources from their start. A sink receives only the
	// difference to what it holds.
	PersistSelective
	// PersistUDFCache keeps only the results of cached user-defined
	// functions (UDFOptions.Cache) and the sinks' tables (Pathway's
	// UDF_CACHING): every execution reads its sources from their start
	// and recomputes, calling a cached function only for arguments it
	// never saw; a sink receives only the difference to what it holds.
	PersistUDFCache
)

func (m PersistenceMode) String() string {
	switch m {
	case PersistState:
		return "state"
	case PersistInputs:
		return "inputs"
	case PersistSelective:
		return "selective"
	case PersistUDFCache:
		return "udf-cache"
	}
	return fmt.Sprintf("PersistenceMode(%d)", int(m))
}

// SnapshotAccess says how an execution uses its storage (Pathway's
// snapshot_access).
type SnapshotAccess int

const (
	// AccessFull reads the storage and writes to it (Pathway's FULL). The
	// default.
	AccessFull SnapshotAccess = iota
	// AccessRecord starts from nothing and writes (Pathway's RECORD):
	// the execution reads its sources from their start, and its commits
	// replace what the storage held (state, inputs, offsets) as one
	// logical time. The sinks start fresh.
	AccessRecord
	// AccessReplay reads the storage and writes nothing to it (Pathway's
	// REPLAY): every sink first receives its table as of the last
	// committed time, in a file written from its start, then (unless
	// StopAfterReplay) what the sources hold beyond the stored offsets.
	// It needs the sinks' tables: KeepInputs, or a mode that keeps
	// inputs.
	AccessReplay
	// AccessOffsetsOnly keeps the sources' offsets and the sinks'
	// acknowledgements only (Pathway's OFFSETS_ONLY): a restart seeks
	// every source past what it read and starts the operators from
	// nothing, so its rows are computed without the earlier ones.
	AccessOffsetsOnly
)

func (a SnapshotAccess) String() string {
	switch a {
	case AccessFull:
		return "full"
	case AccessRecord:
		return "record"
	case AccessReplay:
		return "replay"
	case AccessOffsetsOnly:
		return "offsets-only"
	}
	return fmt.Sprintf("SnapshotAccess(%d)", int(a))
}

// ParseSnapshotAccess returns the access a name of String gives.
func ParseSnapshotAccess(s string) (SnapshotAccess, error) {
	for a := AccessFull; a <= AccessOffsetsOnly; a++ {
		if a.String() == s {
			return a, nil
		}
	}
	return 0, fmt.Errorf("pwlog: snapshot access %q: want full, record, replay or offsets-only", s)
}

// ParsePersistenceMode returns the mode a name of String gives.
func ParsePersistenceMode(s string) (PersistenceMode, error) {
	for m := PersistState; m <= PersistUDFCache; m++ {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("pwlog: persistence mode %q: want state, inputs, selective or udf-cache", s)
}

// Config configures a Run.
type Config struct {
	// Mode says what the storage keeps: operator state (the default),
	// inputs, selected inputs, or UDF results. See PersistenceMode.
	Mode PersistenceMode
	// Access says how the execution uses the storage: read and write
	// (the default), record, replay, or offsets only. See SnapshotAccess.
	Access SnapshotAccess
	// KeepInputs keeps, in addition to the operators' state, every input
	// row consumed (by source and logical time, compacted like state)
	// and every sink's current table. A pipeline that changes can then
	// be rebuilt: a changed or new operator is recomputed from the kept
	// inputs, and every sink receives the exact difference the change
	// made, at one logical time; a new sink receives its whole table
	// first. Without kept inputs such a change is refused. Implied by
	// PersistInputs and PersistSelective.
	KeepInputs bool
	// Persist names the sources PersistSelective keeps.
	Persist []string
	// StopAfterReplay (Pathway's continue_after_replay=False): the
	// execution re-derives every sink's table as of the last committed
	// time from the storage, writes it to the sink as a fresh file, and
	// returns without reading the sources or writing the storage. It
	// needs the sinks' tables: KeepInputs, or a mode that keeps inputs.
	StopAfterReplay bool
	// SpeedrunReplay (Pathway's SPEEDRUN_REPLAY), for debugging a past
	// run: the kept inputs are fed again time by time as they were
	// committed, from nothing, and every sink receives, in a fresh file,
	// the changelog they give, at their original times. Nothing is read
	// from the sources or written to the storage. It needs kept inputs.
	SpeedrunReplay bool
	// Resnapshot names sinks whose files were deleted or rotated: each
	// gets its whole current table, at the last committed time, in a new
	// file, then its deltas as before. `pwlog resnapshot` asks the same
	// of the next execution through the storage.
	Resnapshot []string

	// Backend is the persistent storage. Nil: the execution is not
	// persistent and starts from nothing. Filesystem(path) keeps it in a
	// local directory (the log as tidwall/wal segments, a lock file).
	// S3(...) and Azure(...), or any other backend.Backend, keep all of
	// it in an object store, the log included: one object per commit
	// window, a writer's lease instead of the lock (LeaseDuration), and
	// a local cache of checkpoint runs (CacheDir). Storage(url) returns
	// the backend a storage URL names.
	Backend backend.Backend
	// CacheDir, for a storage in an object store, is the local directory
	// that keeps copies of the checkpoint runs the execution reads. It is
	// only a cache: deleting it loses nothing, the next run downloads
	// again. Default: a directory named after the storage under the
	// user's cache directory (os.UserCacheDir).
	CacheDir string
	// LeaseDuration, for a storage in an object store, is how long the
	// writer's lease lasts without renewal (it is renewed every third of
	// it). A second writer is refused while the lease is renewed; after a
	// writer was killed, a restart on the same host takes over at once,
	// one on another host once the lease has gone unrenewed this long.
	// Default 5 s.
	LeaseDuration time.Duration
	// SnapshotInterval is the durability window of group commit: 0 fsyncs
	// every logical time before its rows reach the sinks; a positive
	// interval fsyncs at most once per interval, and sinks see a time's
	// rows once the fsync covering it is done. In an object store, a
	// commit is durable once its log object is written: 0 writes one
	// object per logical time, a positive interval one per interval
	// holding every time committed in it. Default 0.
	SnapshotInterval time.Duration
	// BatchRows is the most input rows one logical time takes. Default 65536.
	BatchRows int
	// AutocommitDuration, with a streaming source (FileOptions.Streaming),
	// is the shortest time between two logical times that a source did not
	// fill: rows that arrive meanwhile are committed together, as one
	// time, sooner only when BatchRows is reached (Pathway's
	// autocommit_duration_ms). A quiet source commits nothing, and the
	// execution sleeps. Static pipelines commit as fast as they read.
	// Default 100 ms.
	AutocommitDuration time.Duration
	// Logger receives one line per recovery phase. Default slog.Default().
	Logger *slog.Logger
	// CompactBytes is how many bytes of state deltas an execution commits before
	// it folds them into a checkpoint in the background, while it goes on
	// committing. Every execution that finishes also compacts at its end. Executions
	// with a fresh-mode sink compact only at their end (their sink rows
	// must stay in the log until the execution finishes). Negative: only at the
	// end. Default 64 MiB.
	CompactBytes int64
	// CompactInterval also starts a background compaction once this long
	// has passed since the last one and some state deltas wait, so a slow
	// stream is checkpointed too. Negative: never by time. Default 1 min.
	CompactInterval time.Duration
	// NoSync skips the log's fsyncs (a commit is acknowledged once
	// written); checkpoint files and sink files are still synced. A crash
	// of the machine can then lose committed times. For tests and
	// benchmarks only.
	NoSync bool
	// MemoryLimit bounds the bytes a persistent execution's arrangements
	// keep in memory: the groups it read or changed, the block cache (a
	// quarter of the bound) and the state deltas waiting for the next
	// checkpoint. Past it, groups the checkpoint holds are dropped from
	// memory (read again from its runs when needed), and, when the
	// changes since the checkpoint alone pass half of it, they are folded
	// into the checkpoint early, as a background compaction (not with a
	// fresh-mode sink, whose rows must stay in the log until the execution
	// ends). A state many times the bound runs; it costs reads. The
	// bound is on the state, not the process: reading and processing a
	// batch (Config.BatchRows rows) and writing a checkpoint take memory
	// of their own. Default: a quarter of the Go memory limit
	// (GOMEMLIMIT) when one is set, else 64 MiB. A non-persistent
	// execution keeps its whole state in memory.
	MemoryLimit int64
	// BlockSize is the size of the blocks of checkpoint runs before
	// compression: a lookup of one group reads a block or a few. Default
	// 8 KiB.
	BlockSize int
	// FS is the filesystem the storage and the sinks are written through.
	// The log's segments are written by tidwall/wal through package os,
	// so FS must reach the operating system's files: vfs.Default or a
	// wrapper of it (errorfs, vfs.Recorder), as crash tests use. Default
	// vfs.Default.
	FS vfs.FS
}

func (c Config) withDefaults() Config {
	if c.BatchRows <= 0 {
		c.BatchRows = 1 << 16
	}
	if c.AutocommitDuration <= 0 {
		c.AutocommitDuration = 100 * time.Millisecond
	}
	if c.CompactBytes == 0 {
		c.CompactBytes = 64 << 20
	}
	if c.CompactInterval == 0 {
		c.CompactInterval = time.Minute
	}
	if c.MemoryLimit <= 0 {
		c.MemoryLimit = 64 << 20
		if lim := debug.SetMemoryLimit(-1); lim != math.MaxInt64 {
			c.MemoryLimit = lim / 4
		}
	}
	if c.LeaseDuration <= 0 {
		c.LeaseDuration = 5 * time.Second
	}
	if c.BlockSize <= 0 {
		c.BlockSize = checkpoint.DefaultBlockSize
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.FS == nil {
		c.FS = vfs.Default
	}
	return c
}
