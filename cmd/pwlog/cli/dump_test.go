package cli

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/record"
)

func TestDump(t *testing.T) {
	dir := storage(t)
	r := run(t, dir, "dump", "--checkpoint", dir)
	if r.code != 0 || r.err != "" {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	golden(t, "dump.txt", r.out)
	r = run(t, dir, "dump", "--json", dir)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.err)
	}
	golden(t, "dump.jsonl", r.out)

	all := dumpJSON(t, dir)
	kinds := map[string]int{}
	for _, e := range all {
		kinds[e.Kind]++
		if !e.Committed || e.Error != "" {
			t.Errorf("record %d: committed %v, error %q", e.LSN, e.Committed, e.Error)
		}
	}
	// Run 2: one input, two state (one per arrangement), one output
	// record, its commit and the sink's ack commit.
	if want := map[string]int{"input": 1, "state": 2, "output": 1, "commit": 2}; !equalCounts(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	// Rows are named by the catalog.
	for _, e := range all {
		if e.Kind == "output" && (len(e.Rows) == 0 || e.Rows[0].Values[0].Name != "user_id") {
			t.Errorf("output rows not named: %+v", e.Rows)
		}
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// dumpEntry is a line of dump --json, as a script reads it.
type dumpEntry struct {
	LSN       uint64 `json:"lsn"`
	Kind      string `json:"kind"`
	Committed bool   `json:"committed"`
	Time      uint64 `json:"time"`
	Source    string `json:"source"`
	Operator  string `json:"operator"`
	Sink      string `json:"sink"`
	Error     string `json:"error"`
	Rows      []struct {
		Values []struct{ Name string }
		Diff   int64 `json:"diff"`
	} `json:"rows"`
	Commit *record.Commit `json:"commit"`
}

// dumpJSON runs dump --json with args and parses its lines, keeping the
// order of each row's value names.
func dumpJSON(t *testing.T, dir string, args ...string) []dumpEntry {
	t.Helper()
	r := run(t, dir, append([]string{"dump", "--json", dir}, args...)...)
	if r.code != 0 {
		t.Fatalf("dump %v: exit %d: %s", args, r.code, r.err)
	}
	var out []dumpEntry
	for _, line := range strings.Split(strings.TrimSuffix(r.out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var raw struct {
			dumpEntry
			Rows []struct {
				Values json.RawMessage `json:"values"`
				Diff   int64           `json:"diff"`
			} `json:"rows"`
		}
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		e := raw.dumpEntry
		e.Rows = nil
		for _, row := range raw.Rows {
			dec := json.NewDecoder(strings.NewReader(string(row.Values)))
			var names []struct{ Name string }
			dec.Token() // {
			for dec.More() {
				tok, _ := dec.Token()
				names = append(names, struct{ Name string }{tok.(string)})
				var v any
				dec.Decode(&v)
			}
			e.Rows = append(e.Rows, struct {
				Values []struct{ Name string }
				Diff   int64 `json:"diff"`
			}{names, row.Diff})
		}
		out = append(out, e)
	}
	return out
}

// Each filter keeps exactly the records it names.
func TestDumpFilters(t *testing.T) {
	dir := storage(t)
	all := dumpJSON(t, dir)
	var tm uint64
	for _, e := range all {
		tm = max(tm, e.Time)
	}
	mid := all[len(all)/2].LSN
	cases := []struct {
		args []string
		keep func(e dumpEntry) bool
	}{
		{[]string{"--kind", "input"}, func(e dumpEntry) bool { return e.Kind == "input" }},
		{[]string{"--kind", "state,output"}, func(e dumpEntry) bool { return e.Kind == "state" || e.Kind == "output" }},
		{[]string{"--from-lsn", itoa(mid)}, func(e dumpEntry) bool { return e.LSN >= mid }},
		{[]string{"--to-lsn", itoa(mid)}, func(e dumpEntry) bool { return e.LSN <= mid }},
		{[]string{"--time", itoa(tm)}, func(e dumpEntry) bool { return e.Time == tm }},
		{[]string{"--time", "1.." + itoa(tm-1)}, func(e dumpEntry) bool { return e.Time >= 1 && e.Time < tm }},
		{[]string{"--source", "accesses"}, func(e dumpEntry) bool {
			_, advanced := e.commitSources()["accesses"]
			return e.Source == "accesses" || advanced
		}},
		{[]string{"--operator", "sessions"}, func(e dumpEntry) bool { return e.Operator == "sessions" }},
		{[]string{"--sink", "output"}, func(e dumpEntry) bool {
			return e.Sink == "output" || (e.Commit != nil && e.Commit.Acks["output"] != (record.SinkAck{}))
		}},
	}
	for _, c := range cases {
		var want []uint64
		for _, e := range all {
			if c.keep(e) {
				want = append(want, e.LSN)
			}
		}
		var got []uint64
		for _, e := range dumpJSON(t, dir, c.args...) {
			got = append(got, e.LSN)
		}
		if !slices.Equal(got, want) {
			t.Errorf("dump %v: LSNs %v, want %v", c.args, got, want)
		}
	}
	// A name the storage does not know is an error listing those it knows.
	for _, c := range []struct{ flag, want string }{
		{"--source", `$DIR has no source "nosuch"; its sources are: accesses`},
		{"--operator", `$DIR has no operator "nosuch"; its operators are: session_stats, sessions`},
		{"--sink", `$DIR has no sink "nosuch"; its sinks are: output`},
		{"--source", `$DIR has no source "output"; its sources are: accesses`},
	} {
		name := c.want[strings.Index(c.want, `"`)+1 : strings.LastIndex(c.want, `"`)]
		r := run(t, dir, "dump", c.flag, name, dir)
		if r.code != ExitCantRun || r.out != "" || r.err != "pwlog: "+c.want+"\n" {
			t.Errorf("dump %s %s: exit %d, stdout %q, stderr %q, want 2 and %q", c.flag, name, r.code, r.out, r.err, c.want)
		}
	}
	if r := run(t, dir, "dump", "--kind", "nosuch", dir); r.code != ExitCantRun || !strings.Contains(r.err, `unknown kind "nosuch"; the kinds are commit, input, output, pipeline, state`) {
		t.Errorf("bad --kind: exit %d, %q", r.code, r.err)
	}
	if r := run(t, dir, "dump", "--time", "9..3", dir); r.code != ExitCantRun || !strings.Contains(r.err, "empty range") {
		t.Errorf("bad --time: exit %d, %q", r.code, r.err)
	}
}

func (e dumpEntry) commitSources() map[string]bool {
	m := map[string]bool{}
	if e.Commit != nil {
		for s := range e.Commit.Sources {
			m[s] = true
		}
	}
	return m
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// After a run that finishes (or compact), the log is empty: dump says on
// stderr that it was folded into the checkpoint, and points to
// --checkpoint.
func TestDumpFolded(t *testing.T) {
	dir := storage(t)
	if r := run(t, dir, "compact", dir); r.code != ExitOK {
		t.Fatalf("compact: exit %d: %s", r.code, r.err)
	}
	const notice = "pwlog: nothing to print: the log of $DIR is empty, everything up to LSN 13 is folded into its checkpoint (MANIFEST-00000000000000000002); dump --checkpoint prints the checkpoint's state\n"
	for _, args := range [][]string{{"dump", dir}, {"dump", "--json", dir}, {"dump", "--kind", "input", dir}} {
		r := run(t, dir, args...)
		if r.code != ExitOK || r.out != "" || r.err != notice {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.out, r.err)
		}
	}
	r := run(t, dir, "dump", "--checkpoint", dir)
	if r.code != ExitOK || r.out == "" || r.err != "" {
		t.Errorf("--checkpoint: exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
	}
	// A log a filter leaves nothing of is not an empty one: no notice.
	dir = storage(t)
	r = run(t, dir, "dump", "--kind", "pipeline", dir)
	if r.code != ExitOK || r.out != "" || r.err != "" {
		t.Errorf("filtered: exit %d, stdout %q, stderr %q", r.code, r.out, r.err)
	}
}
