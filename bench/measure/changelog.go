package measure

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
)

// changelogHeader is the header of the tutorial pipeline's CSV sink: the
// output table's columns, then the sink's time and diff.
var changelogHeader = []string{"user_id", "session_length", "session_start", "session_finish", "count", "time", "diff"}

// ChangelogCheck is a changelog consolidated and compared with the
// sessions it should hold.
type ChangelogCheck struct {
	Lines int // updates in the changelog
	Want  int // sessions it should hold
	// Missing sums, over every row, how many times fewer the
	// consolidated changelog holds it than want does (a row whose diffs
	// sum below zero counts here); Extra, how many times more.
	Missing, Extra int64
}

// Differ is the size of the multiset difference: 0 when the changelog
// holds exactly the sessions wanted.
func (c ChangelogCheck) Differ() int64 { return c.Missing + c.Extra }

// sessionKey is a Session with its user interned.
type sessionKey struct {
	user                  int32
	length, start, finish int64
	count                 int64
}

// CompareChangelog consolidates the changelog that the tutorial
// pipeline's CSV sink wrote to path (append mode, over any number of
// executions: the header, then one line per update, the row's columns,
// time and diff) and compares it, as multisets, with want: the sum of
// the diffs of every row must be the number of times want holds it. It
// reads the file line by line; what it keeps is want's sessions and the
// rows whose sum is not yet settled.
func CompareChangelog(path string, want []Session) (ChangelogCheck, error) {
	c := ChangelogCheck{Want: len(want)}
	users := map[string]int32{}
	intern := func(u string) int32 {
		i, ok := users[u]
		if !ok {
			i = int32(len(users))
			users[u] = i
		}
		return i
	}
	// held[k]: want's count of k minus the changelog's sum so far; a
	// settled row is deleted.
	held := make(map[sessionKey]int64, len(want))
	add := func(k sessionKey, n int64) {
		if v := held[k] + n; v != 0 {
			held[k] = v
		} else {
			delete(held, k)
		}
	}
	for _, s := range want {
		add(sessionKey{intern(s.User), s.Length, s.Start, s.Finish, s.Count}, 1)
	}
	f, err := os.Open(path)
	if err != nil {
		return c, fmt.Errorf("measure: changelog: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.ReuseRecord = true
	r.FieldsPerRecord = len(changelogHeader)
	header, err := r.Read()
	if err != nil {
		return c, fmt.Errorf("measure: changelog %s: header: %w", path, err)
	}
	if !slices.Equal(header, changelogHeader) {
		return c, fmt.Errorf("measure: changelog %s: header %q, want %q", path, header, changelogHeader)
	}
	var n [6]int64 // session_length .. diff
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return c, fmt.Errorf("measure: changelog %s: %w", path, err)
		}
		for i := range n {
			if n[i], err = strconv.ParseInt(rec[i+1], 10, 64); err != nil {
				line, _ := r.FieldPos(0)
				return c, fmt.Errorf("measure: changelog %s: line %d: %s: %w", path, line, changelogHeader[i+1], err)
			}
		}
		add(sessionKey{intern(rec[0]), n[0], n[1], n[2], n[3]}, -n[5])
		c.Lines++
	}
	for _, v := range held {
		if v > 0 {
			c.Missing += v
		} else {
			c.Extra -= v
		}
	}
	return c, nil
}
