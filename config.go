package pwlog

import (
	"log/slog"
	"math"
	"runtime/debug"
	"time"

	"github.com/pwlog/pwlog/checkpoint"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/vfs"
)

// Filesystem returns the Backend of a storage directory at path, for
// Config.Backend. Nothing is created or read until a pipeline runs: path
// is then created if missing.
func Filesystem(path string) *backend.Filesystem { return backend.FilesystemAt(path) }

// Config configures a Run.
type Config struct {
	// Backend is the persistent storage. Nil: the execution is not
	// persistent and starts from nothing. Today the engine keeps a
	// storage in a local directory, so it takes a *backend.Filesystem
	// (Filesystem(path)) and refuses other backends with an error saying
	// so; backends that hold the log in an object store come later.
	Backend backend.Backend
	// SnapshotInterval is the durability window of group commit: 0 fsyncs
	// every logical time before its rows reach the sinks; a positive
	// interval fsyncs at most once per interval, and sinks see a time's
	// rows once the fsync covering it is done. Default 0.
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
