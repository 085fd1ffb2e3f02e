// Package model computes the persistence tutorial's sessions from scratch,
// in memory, with no persistence: the reference that tests compare pwlog's
// output with, and the floor benchmarks compare its speed with.
package model

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Session is one output row of the tutorial's pipeline.
type Session struct {
	User                  string
	Length, Start, Finish int64
	Count                 int64
}

// String formats the session as the sink writes it, without time and diff.
func (s Session) String() string {
	return fmt.Sprintf("%q,%d,%d,%d,%d", s.User, s.Length, s.Start, s.Finish, s.Count)
}

// Accesses reads every *.csv file of dir (header user_id,access_time) and
// returns each user's access times.
func Accesses(dir string) (map[string][]int64, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.csv"))
	if err != nil {
		return nil, err
	}
	by := map[string][]int64{}
	for _, p := range paths {
		if err := readFile(p, by); err != nil {
			return nil, err
		}
	}
	return by, nil
}

func readFile(path string, by map[string][]int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		user, ts, ok := strings.Cut(sc.Text(), ",")
		if !ok {
			return fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		t, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		by[user] = append(by[user], t)
	}
	return sc.Err()
}

// Sessions computes the sessions of the accesses: consecutive accesses of
// a user closer than maxGap are one session. The result is sorted by its
// String form.
func Sessions(by map[string][]int64, maxGap int64) []Session {
	var out []Session
	for user, ts := range by {
		ts = slices.Clone(ts)
		slices.Sort(ts)
		lo := 0
		for i := 1; i <= len(ts); i++ {
			if i == len(ts) || ts[i]-ts[i-1] >= maxGap {
				out = append(out, Session{User: user, Length: ts[i-1] - ts[lo], Start: ts[lo], Finish: ts[i-1], Count: int64(i - lo)})
				lo = i
			}
		}
	}
	slices.SortFunc(out, func(a, b Session) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// Strings returns the String forms of sessions.
func Strings(ss []Session) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.String()
	}
	return out
}

// Diff returns the changes from before to after as "+row" and "-row"
// strings, sorted.
func Diff(before, after []string) []string {
	count := map[string]int{}
	for _, s := range before {
		count[s]--
	}
	for _, s := range after {
		count[s]++
	}
	var out []string
	for s, n := range count {
		for ; n > 0; n-- {
			out = append(out, "+"+s)
		}
		for ; n < 0; n++ {
			out = append(out, "-"+s)
		}
	}
	slices.Sort(out)
	return out
}
