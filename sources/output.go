package sources

import (
	"errors"
	"fmt"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/vfs"
)

// CSVOutput is the Sink of a CSV file, written by a FileSink: the table's
// columns, then time and diff.
//
// In append mode the file is one changelog across executions: Open
// recovers it (FileSink's recovery: a torn last time is cut, and Resume is
// that time), so every committed time reaches it exactly once. Otherwise
// each execution truncates it and writes the times it commits.
type CSVOutput struct {
	Path    string
	Columns []string // the table's column names
	Append  bool
	FS      vfs.FS // nil: vfs.Default
	fileOutput
}

// Open opens the file. In append mode, an acknowledgement with an offset
// says the file durably held that many bytes: a file now shorter lost
// acknowledged times, which the log no longer holds, and Open fails.
func (o *CSVOutput) Open(acked Ack) (Opened, error) {
	return o.open(o.FS, o.Path, o.Append, acked, func(fsys vfs.FS, hint int64) (*FileSink, uint64, error) {
		return OpenCSVSinkFS(fsys, o.Path, o.Columns, o.Append, hint)
	})
}

// JSONLinesOutput is the Sink of a JSON Lines file: one object per update,
// the table's columns by name, then "time" and "diff" (as Pathway's
// jsonlines output). Append mode and recovery are CSVOutput's.
type JSONLinesOutput struct {
	Path    string
	Columns []string // the table's column names
	Append  bool
	FS      vfs.FS // nil: vfs.Default
	fileOutput
}

// Open opens the file, as CSVOutput.Open does.
func (o *JSONLinesOutput) Open(acked Ack) (Opened, error) {
	return o.open(o.FS, o.Path, o.Append, acked, func(fsys vfs.FS, hint int64) (*FileSink, uint64, error) {
		return OpenJSONLinesSinkFS(fsys, o.Path, o.Columns, o.Append, hint)
	})
}

// fileOutput is the part of a file's Sink that writes: Write, Flush,
// Sync, Offset and Close of its FileSink.
type fileOutput struct {
	s *FileSink
}

// open opens the file through openSink.
func (o *fileOutput) open(fsys vfs.FS, path string, appendMode bool, acked Ack, openSink func(vfs.FS, int64) (*FileSink, uint64, error)) (Opened, error) {
	if fsys == nil {
		fsys = vfs.Default
	}
	var hint int64
	if appendMode && acked.Offset > 0 {
		hint = acked.Offset
		if err := checkHolds(fsys, path, acked); err != nil {
			return Opened{}, err
		}
	}
	s, resume, err := openSink(fsys, hint)
	if err != nil {
		return Opened{}, err
	}
	o.s = s
	return Opened{Resume: resume, Last: s.LastTime(), Changelog: appendMode}, nil
}

// checkHolds fails unless the file at path is at least acked.Offset bytes
// long: the log keeps no rows of acknowledged times, so a changelog that
// lost some cannot be repaired from it.
func checkHolds(fsys vfs.FS, path string, acked Ack) error {
	fi, err := fsys.Stat(path)
	if err == nil && fi.Size() >= acked.Offset {
		return nil
	}
	has := ""
	if err != nil {
		has = err.Error()
	} else {
		has = fmt.Sprintf("it has %d", fi.Size())
	}
	return fmt.Errorf("%s should hold at least %d bytes, every time up to %d, but %s; restore the file or start with a new storage directory",
		path, acked.Offset, acked.Time, has)
}

// Write formats the rows of time t (FileSink.Write).
func (o *fileOutput) Write(t uint64, rows []differential.Update) error {
	return o.s.Write(t, rows)
}

// Flush writes the formatted times to the file.
func (o *fileOutput) Flush() error { return o.s.Flush() }

// Sync writes and fsyncs the file.
func (o *fileOutput) Sync() error { return o.s.Sync() }

// Offset returns the file's size after the last time flushed.
func (o *fileOutput) Offset() int64 { return o.s.Offset() }

// Close fsyncs and closes the file.
func (o *fileOutput) Close() error {
	if o.s == nil {
		return nil
	}
	return o.s.Close()
}

// FuncOutput is the Sink of a Go function: the program that embeds the
// pipeline receives each committed time's rows as values, never as text
// to parse.
//
// Fn is called once per committed time that has rows for the sink, in
// time order, after the time is durable in the storage. Returning nil
// acknowledges the time: the engine records that with its next commit,
// and no later execution calls Fn with it again. Returning an error
// stops the execution; the time is given again by the next one. A crash
// between Fn's return and that record gives the time again too, with
// the same time and rows: a receiver that must see every time exactly
// once keeps the last time it stored, with what it stored, and returns
// it from Last.
type FuncOutput struct {
	Fn func(t uint64, rows []differential.Update) error
	// Last, when set, returns the last time the receiver holds (0: none);
	// Open calls it, and the execution does not give the receiver a time
	// up to it again.
	Last func() (uint64, error)
}

// Open asks Last what the receiver holds.
func (o *FuncOutput) Open(acked Ack) (Opened, error) {
	if o.Fn == nil {
		return Opened{}, errors.New("sources: FuncOutput without a function")
	}
	op := Opened{Changelog: true, AckOnWrite: true}
	if o.Last != nil {
		last, err := o.Last()
		if err != nil {
			return Opened{}, fmt.Errorf("sources: the receiver's last time: %w", err)
		}
		op.Last, op.Resume = last, last+1
		if last == 0 {
			op.Resume = 0
		}
	}
	return op, nil
}

// Write calls Fn: the engine gives no time below Opened.Resume.
func (o *FuncOutput) Write(t uint64, rows []differential.Update) error {
	return o.Fn(t, rows)
}

// Flush does nothing: Write delivered the rows.
func (o *FuncOutput) Flush() error { return nil }

// Sync does nothing: Fn returned, so the receiver holds what it got.
func (o *FuncOutput) Sync() error { return nil }

// Close does nothing.
func (o *FuncOutput) Close() error { return nil }
