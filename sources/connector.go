package sources

import (
	"github.com/pwlog/pwlog/differential"
)

// Source is an input connector: something a pipeline reads rows from and
// that can be read again from a committed position. The directory
// sources (CSVDir, JSONLinesDir) and Feed implement it; a user's
// connector for a message queue or a database implements it the same
// way and is added to a pipeline with Pipeline.Read.
//
// A source has partitions, each with a position: a file of a directory
// and the bytes read of it, a partition of a topic and its offset. The
// engine commits the positions a logical time advanced (FileState) with
// that time's rows, in one log batch, and opens the source at the
// committed positions after a restart: rows read but not committed are
// read again, rows committed never are. That is all a connector must
// do to be exactly once.
type Source interface {
	// Open returns a Reader of what the positions in prev have not
	// consumed. prev maps a partition's name (FileState.Path) to its last
	// committed position; it is empty at the first execution. Open must
	// not modify prev.
	Open(prev map[string]FileState) (Reader, error)
}

// Reader reads a Source from a set of positions. The engine calls it
// from one goroutine.
type Reader interface {
	// Next returns at most limit new rows (limit <= 0: no limit) as
	// updates with their keys (Time is set by the engine), and the new
	// position of every partition they advanced, one FileState per
	// partition with the Path it had in prev. Positions may advance
	// without rows (a blank line, a header). A row's Key must be the same
	// whenever the row is read again from the same position: build it
	// with RowKey or a differential.Hasher over the source's name, the
	// partition and the position. A Diff of -1 retracts a row read
	// before, with its key.
	//
	// Next returns io.EOF, and nothing else, when nothing is left to
	// read now. For a static source that ends the source; a streaming
	// source is opened again, at the committed positions, the next time
	// it is looked at (see Notifier).
	Next(limit int) ([]differential.Update, []FileState, error)
	// Close releases the reader. Next fails after Close.
	Close() error
}

// Partitioned is a Reader that says, for the last Next, how many of the
// updates came from each position it returned, and which partitions
// known from prev are gone. A source read with Retract (the engine then
// keeps every partition's rows, to retract them when the partition is
// deleted or changed) must have a Partitioned Reader.
type Partitioned interface {
	// Counts returns, for each FileState the last Next returned and in
	// the same order, how many of its updates came from that partition:
	// a partition's updates are contiguous and in the order of the
	// states.
	Counts() []int
	// Deleted returns the partitions of prev that no longer exist.
	Deleted() []string
}

// Notifier is a Source that tells when it may have something new: the
// engine, once every source has read what there is, sleeps until a
// value on the channel, a filesystem event in a directory source's
// tree, or a source's poll, whichever comes first. Feed is one.
type Notifier interface {
	Notify() <-chan struct{}
}

// Ender is a streaming Source whose input can end: once every source of
// a streaming pipeline has read everything and each of its streaming
// sources is an Ender that has ended, the execution finishes as a static
// one does. Feed ends when it is closed.
type Ender interface {
	Ended() bool
}

// Finisher is a Source told when an execution that read it ends, with
// the execution's error (nil when it finished). A Feed uses it to
// release a Resume that waits for an execution that failed to open.
type Finisher interface {
	Finished(err error)
}

// Ack is what a sink's output durably holds, as the storage records it:
// every committed time up to Time, and Offset, the position the output
// had then (a file's size; see Offsetter). A zero Ack holds nothing.
type Ack struct {
	Time   uint64
	Offset int64
}

// Opened is what a Sink found when it opened its output.
type Opened struct {
	// Resume: the output holds every committed time below it, which are
	// not written again. 0: none (a fresh output).
	Resume uint64
	// Last is the latest time the output holds, 0 if none. An output
	// holding a time the storage has not committed belongs to another
	// storage, or the storage lost committed times: the execution is
	// refused rather than emit times twice.
	Last uint64
	// Changelog is set when the output keeps what was written across
	// executions (an append-mode file, a receiver that stores the rows):
	// its acknowledgement is recorded even after an execution that
	// failed. A fresh output, rewritten by every execution, is
	// acknowledged only by an execution that finished.
	Changelog bool
	// AckOnWrite is set when Write returns only once the output holds the
	// rows (a callback that acknowledges them): the engine then records
	// the acknowledgement with its next commit, so that a restart does
	// not give the output those times again. Otherwise the output holds
	// what was written once Close returns, and only then is it
	// acknowledged.
	AckOnWrite bool
}

// Sink is an output connector: it receives the rows of each committed
// logical time, once the time is durable in the storage, in increasing
// time order; a time without rows for the sink is not written. CSVOutput,
// JSONLinesOutput and FuncOutput implement it; a user's connector is
// added with Table.Write.
//
// After a crash the engine gives a sink again every committed time after
// its last Ack that its output does not hold (Opened.Resume): a sink that
// finds in its output the last time it holds is exactly once.
type Sink interface {
	// Open opens the output for an execution. acked is the last
	// acknowledgement the storage recorded for the sink (zero: none).
	Open(acked Ack) (Opened, error)
	// Write takes the rows of committed time t, all of them in one call.
	Write(t uint64, rows []differential.Update) error
	// Flush hands the rows taken so far to the output; the engine calls
	// it after each group of times it wrote.
	Flush() error
	// Sync makes every time written durable: the engine acknowledges
	// them in a checkpoint after it returns.
	Sync() error
	// Close syncs and releases the output.
	Close() error
}

// Offsetter is a Sink whose output has a position worth recording with
// its acknowledgement: a file's size after the last time written, which
// the next Open gets back in Ack.Offset to recover from there.
type Offsetter interface {
	Offset() int64
}

// RowKey is the key of the i-th row read at position offset of a
// partition of a source: the key Reader.Next must give a row read again
// from the same place.
func RowKey(source, partition string, offset int64, i int) differential.Key {
	h := differential.NewHasher(source)
	h.String(partition)
	h.Uint64(uint64(offset))
	h.Uint64(uint64(i))
	return h.Key()
}
