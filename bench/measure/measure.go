// Package measure holds the measurements of pwlog's benchmark report: the
// floor a full run of the tutorial pipeline is compared with (plain Go,
// in memory), the disk's fsync latency, pwlog's WAL path against raw
// tidwall/wal, and pwlog's persistence of the pipeline's state updates
// against a peer storage engine (github.com/cockroachdb/pebble).
//
// Every function times exactly the work its doc names with time.Now and
// time.Since; setup (generating data, opening stores for writing,
// encoding that the doc puts outside) stays out of the timed region.
package measure

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/operators"
	"github.com/pwlog/pwlog/wal"
)

// Floor computes the tutorial's sessions from the CSV files in dir in
// plain Go, in memory, with no persistence and none of pwlog: it reads
// every *.csv file under dir (subdirectories included, as pwlog's source
// does), parses user_id and access_time by the header's names, groups the
// times by user, sorts them, cuts sessions where the gap is >= maxGap and
// computes each session's length, start, finish and count. It is the
// floor a full run of the pipeline is compared with; the caller times it.
// It returns the rows read and the sessions found.
func Floor(dir string, maxGap int64) (rows, sessions int, err error) {
	rows, out, err := FloorSessions(dir, maxGap)
	return rows, len(out), err
}

// Session is one row of the tutorial pipeline's output table (the reduce
// "session_stats"): user_id, session_length, session_start,
// session_finish, count.
type Session struct {
	User                  string
	Length, Start, Finish int64
	Count                 int64
}

// FloorSessions is Floor returning the sessions themselves: the rows the
// pipeline's output holds once its changelog is consolidated (see
// CompareChangelog), in no particular order.
func FloorSessions(dir string, maxGap int64) (rows int, sessions []Session, err error) {
	index := map[string]int{} // user -> position in times
	var users []string
	var times [][]int64
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || filepath.Ext(path) != ".csv" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return parseAccesses(data, func(user []byte, t int64) {
			i, ok := index[string(user)]
			if !ok {
				i = len(times)
				index[string(user)] = i
				users = append(users, string(user))
				times = append(times, nil)
			}
			times[i] = append(times[i], t)
			rows++
		})
	})
	if err != nil {
		return 0, nil, fmt.Errorf("measure: floor: %w", err)
	}
	var out []Session
	for i, ts := range times {
		slices.Sort(ts)
		lo := 0
		for hi := 1; hi <= len(ts); hi++ {
			if hi == len(ts) || ts[hi]-ts[hi-1] >= maxGap {
				out = append(out, Session{users[i], ts[hi-1] - ts[lo], ts[lo], ts[hi-1], int64(hi - lo)})
				lo = hi
			}
		}
	}
	return rows, out, nil
}

// parseAccesses calls fn with the user_id and access_time of every row of
// a CSV file whose header names both columns (in any order). Fields are
// not quoted (the data sets of package gen never are).
func parseAccesses(data []byte, fn func(user []byte, t int64)) error {
	line, data, _ := bytes.Cut(data, []byte{'\n'})
	header := bytes.Split(bytes.TrimSuffix(line, []byte{'\r'}), []byte{','})
	ui := slices.IndexFunc(header, func(f []byte) bool { return string(f) == "user_id" })
	ti := slices.IndexFunc(header, func(f []byte) bool { return string(f) == "access_time" })
	if ui < 0 || ti < 0 {
		return fmt.Errorf("header %q lacks user_id or access_time", line)
	}
	fields := make([][]byte, 0, len(header))
	for n := 2; len(data) > 0; n++ {
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		line = bytes.TrimSuffix(line, []byte{'\r'})
		fields = fields[:0]
		for f := range bytes.SplitSeq(line, []byte{','}) {
			fields = append(fields, f)
		}
		if len(fields) != len(header) {
			return fmt.Errorf("line %d: %d fields, want %d", n, len(fields), len(header))
		}
		t, err := strconv.ParseInt(string(fields[ti]), 10, 64)
		if err != nil {
			return fmt.Errorf("line %d: access_time: %w", n, err)
		}
		fn(fields[ui], t)
	}
	return nil
}

// FsyncProbe measures the disk: n times, it appends a size-byte block to a
// new file in dir and fdatasyncs it, and returns the latency of each
// append+fdatasync (the write and the sync are inside the timed region,
// creating the file and filling the block are not). The file is removed
// after.
func FsyncProbe(dir string, n, size int) (lat []time.Duration, err error) {
	f, err := os.CreateTemp(dir, "fsync-probe-*")
	if err != nil {
		return nil, fmt.Errorf("measure: fsync probe: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	block := make([]byte, size)
	for i := range block {
		block[i] = byte(i*7 + 1)
	}
	lat = make([]time.Duration, n)
	for i := range lat {
		start := time.Now()
		if _, err := f.Write(block); err != nil {
			return nil, fmt.Errorf("measure: fsync probe: %w", err)
		}
		if err := fdatasync(f); err != nil {
			return nil, fmt.Errorf("measure: fsync probe: %w", err)
		}
		lat[i] = time.Since(start)
	}
	return lat, nil
}

// CommitProbe measures pwlog's commit of a small batch against the disk
// (FsyncProbe): n times, one wal.Log.Append of a size-byte record of
// random (incompressible) bytes and a commit record, fsynced before it
// returns, on a new log in dir; returns each Append's latency. The log is
// removed after.
func CommitProbe(dir string, n, size int) (lat []time.Duration, err error) {
	logDir, err := os.MkdirTemp(dir, "commit-probe-*")
	if err != nil {
		return nil, fmt.Errorf("measure: commit probe: %w", err)
	}
	defer os.RemoveAll(logDir)
	l, err := wal.Open(logDir, &wal.Options{Logger: quiet()})
	if err != nil {
		return nil, fmt.Errorf("measure: commit probe: %w", err)
	}
	defer l.Close()
	body := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(body)
	recs := []wal.Record{{Kind: wal.Kind(2), Data: body}, {Kind: wal.KindCommit, Data: []byte{0x80}}}
	lat = make([]time.Duration, n)
	for i := range lat {
		start := time.Now()
		if _, err := l.Append(recs); err != nil {
			return nil, fmt.Errorf("measure: commit probe: %w", err)
		}
		lat[i] = time.Since(start)
	}
	return lat, nil
}

// tutorialOperators returns the tutorial pipeline's operators, as pwlog builds
// them: the session window "sessions" over the source "accesses", and
// the reduce "session_stats" over it.
func tutorialOperators() (*operators.SessionWindow, *operators.Reduce, error) {
	src := differential.Schema{{Name: "user_id", Type: differential.KindString}, {Name: "access_time", Type: differential.KindInt}}
	win, err := operators.NewSessionWindow("sessions", src, "access_time", []string{"user_id"}, 300)
	if err != nil {
		return nil, nil, err
	}
	red, err := operators.NewReduce("session_stats", win.Schema(),
		[]string{"user_id", operators.WindowStart, operators.WindowEnd},
		[]operators.Output{
			{Name: "user_id", Expr: operators.Col("user_id")},
			{Name: "session_length", Expr: operators.Sub(operators.Max("access_time"), operators.Min("access_time"))},
			{Name: "session_start", Expr: operators.Min("access_time")},
			{Name: "session_finish", Expr: operators.Max("access_time")},
			{Name: "count", Expr: operators.Count()},
		})
	if err != nil {
		return nil, nil, err
	}
	return win, red, nil
}

// freshArrangements returns empty arrangements of the tutorial's
// operators, by operator and arrangement name: the same order functions
// as the operators use.
func freshArrangements() (map[compaction.ArrKey]*differential.Arrangement, error) {
	win, red, err := tutorialOperators()
	if err != nil {
		return nil, err
	}
	arrs := map[compaction.ArrKey]*differential.Arrangement{}
	for _, op := range []operators.Operator{win, red} {
		for _, a := range op.Arrangements() {
			arrs[compaction.ArrKey{Operator: op.Name(), Arrangement: a.Name()}] = a
		}
	}
	return arrs, nil
}

// entries returns the number of entries the arrangements hold.
func entries(arrs map[compaction.ArrKey]*differential.Arrangement) int {
	n := 0
	for _, a := range arrs {
		n += a.Len()
	}
	return n
}

// dirBytes returns the sizes of the regular files under dir, summed.
func dirBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	return n, err
}
