// Persistence modes and snapshot access against a model, across runs and
// crashes (Config.Mode, Access, KeepInputs, Persist, StopAfterReplay,
// SpeedrunReplay).
//
// The pipeline is small but stateful: the tutorial's session windows and
// their reduce (sink "sessions_csv"), a groupby-reduce of the sessions
// per user, an inner join with a second source of users' regions, and a
// select that calls a cached user-defined function (sink "report_csv").
// Both sinks are append-mode changelogs. The model (modesWorld) computes
// both tables from scratch from the rows of the input files; a sequence
// of executions adds files to the two input directories (sometimes none)
// and each execution's changelog is checked against the model's tables
// before and after it, per mode:
//
//   - TestModesFull: every mode with full access: each execution emits
//     exactly the difference of the from-scratch tables, at times after
//     every earlier one; the cached function is called for every
//     argument no earlier execution saw; the checkpoint holds what the
//     mode keeps and nothing else, kept inputs and sink tables equal to
//     the rows read and the model's tables.
//   - TestModesUDFCache: in every mode that writes, the cached function
//     is called once per argument over all the executions of a storage,
//     recomputing ones and those after a record execution included.
//   - TestModesOffsetsOnly: each execution's rows are the model's over
//     that execution's new rows alone; the storage keeps no state.
//   - TestModesRecord: a record execution leaves a fresh changelog of the
//     whole table and a storage equal to one a single execution writes.
//   - TestModesReplay: replay and stop-after-replay write nothing to the
//     storage and give the table as of the last committed time, then (not
//     stopping) the new rows' deltas; a speedrun replay gives the past
//     changelog, time for time; the next full execution goes on as if
//     they never ran.
//   - TestModesRefused: offsets only with kept inputs, and replays of a
//     storage without sink tables or kept inputs, are refused and touch
//     nothing.
//   - TestModesCrash: the writing modes (and record) crashed at sampled
//     filesystem operations (crash images and in-place kills): the
//     restart recovers, every row exactly once.
//
// RAPID_CHECKS or -rapid.checks runs more sequences than the few go test
// runs by default, PWLOG_MODES_CRASH_POINTS more crash points than 4 per
// mode:
//
//	RAPID_CHECKS=50 PWLOG_MODES_CRASH_POINTS=40 go test -run Modes .

package pwlog_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/compaction"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/internal/crashkit"
	"github.com/pwlog/pwlog/internal/model"
	"github.com/pwlog/pwlog/internal/tutorial"
	"github.com/pwlog/pwlog/operators"
	"github.com/pwlog/pwlog/tool"
	"github.com/pwlog/pwlog/vfs"
	"github.com/pwlog/pwlog/vfs/errorfs"
)

// modesGap is the session window's gap in seconds.
const modesGap = 300

// The sinks, both append-mode CSV changelogs.
const (
	modesSessions = "sessions_csv"
	modesReport   = "report_csv"
)

var modesSinks = []string{modesSessions, modesReport}

// The sources.
const (
	modesAccesses = "accesses" // tutorial.Sessions's source
	modesUsers    = "users"
)

// modesBigBatch makes every execution one logical time.
const modesBigBatch = 1 << 16

// modesVariant is a persistence mode as the tests run it, and what its
// storage must keep.
type modesVariant struct {
	name    string
	mode    pwlog.PersistenceMode
	keep    bool     // Config.KeepInputs
	persist []string // Config.Persist
	kept    []string // sources whose rows the storage keeps ("inputs")
	tables  bool     // the sinks' tables are kept ("table")
	state   bool     // the operators' state is kept
}

var modesVariants = []modesVariant{
	{name: "state", mode: pwlog.PersistState, state: true},
	{name: "state-keep-inputs", mode: pwlog.PersistState, keep: true, kept: []string{modesAccesses, modesUsers}, tables: true, state: true},
	{name: "inputs", mode: pwlog.PersistInputs, kept: []string{modesAccesses, modesUsers}, tables: true},
	{name: "selective-all", mode: pwlog.PersistSelective, persist: []string{modesAccesses, modesUsers}, kept: []string{modesAccesses, modesUsers}, tables: true},
	{name: "selective-accesses", mode: pwlog.PersistSelective, persist: []string{modesAccesses}, kept: []string{modesAccesses}, tables: true},
	{name: "selective-none", mode: pwlog.PersistSelective, tables: true},
	{name: "udf-cache", mode: pwlog.PersistUDFCache, tables: true},
}

func modesVariantNamed(name string) modesVariant {
	for _, v := range modesVariants {
		if v.name == name {
			return v
		}
	}
	panic("no variant " + name)
}

func (v modesVariant) keeps(source string) bool { return slices.Contains(v.kept, source) }

// rereads: some source is read from its start by every execution.
func (v modesVariant) rereads() bool {
	return (v.mode == pwlog.PersistSelective || v.mode == pwlog.PersistUDFCache) && len(v.kept) < 2
}

// cached: the UDF cache must be in the storage (it may be in any mode
// that writes).
func (v modesVariant) cached() bool { return v.state || v.mode == pwlog.PersistUDFCache }

// modesTB is what the checks need of a *testing.T or a *rapid.T.
type modesTB interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
}

// modesAccess is a row of the accesses source.
type modesAccess struct {
	user string
	time int64
}

// modesStep is what one execution finds new: files for each source.
type modesStep struct {
	acc   [][]modesAccess
	users [][][2]string // user_id, region
}

func (s modesStep) empty() bool { return len(s.acc) == 0 && len(s.users) == 0 }

// modesWorld is the model: every row of the input files.
type modesWorld struct {
	acc   []modesAccess
	users [][2]string
}

func (w *modesWorld) add(s modesStep) {
	for _, f := range s.acc {
		w.acc = append(w.acc, f...)
	}
	for _, f := range s.users {
		w.users = append(w.users, f...)
	}
}

func modesLabel(user string) string { return "L-" + user }

// tables computes both sinks' tables from scratch, as the sinks write
// their rows (without time and diff), sorted.
func (w modesWorld) tables() map[string][]string {
	by := map[string][]int64{}
	for _, a := range w.acc {
		by[a.user] = append(by[a.user], a.time)
	}
	sessions := model.Sessions(by, modesGap)
	type agg struct{ n, accesses, longest int64 }
	per := map[string]*agg{}
	for _, s := range sessions {
		a := per[s.User]
		if a == nil {
			a = &agg{}
			per[s.User] = a
		}
		a.n++
		a.accesses += s.Count
		a.longest = max(a.longest, s.Length)
	}
	var report []string
	for _, u := range w.users {
		if a := per[u[0]]; a != nil {
			report = append(report, fmt.Sprintf("%q,%q,%d,%d,%d,%q", u[0], u[1], a.n, a.accesses, a.longest, modesLabel(u[0])))
		}
	}
	slices.Sort(report)
	return map[string][]string{modesSessions: model.Strings(sessions), modesReport: report}
}

// labelled returns the users in the report: the arguments the cached
// function is called with.
func (w modesWorld) labelled() map[string]bool {
	has := map[string]bool{}
	for _, a := range w.acc {
		has[a.user] = true
	}
	out := map[string]bool{}
	for _, u := range w.users {
		if has[u[0]] {
			out[u[0]] = true
		}
	}
	return out
}

// inputRows returns a source's rows as a kept-inputs arrangement holds
// them (formatted by modesFormat), sorted.
func (w modesWorld) inputRows(source string) []string {
	var out []string
	if source == modesAccesses {
		for _, a := range w.acc {
			out = append(out, fmt.Sprintf("%q,%d", a.user, a.time))
		}
	} else {
		for _, u := range w.users {
			out = append(out, fmt.Sprintf("%q,%q", u[0], u[1]))
		}
	}
	slices.Sort(out)
	return out
}

// modesDelta returns after less before as consolidatedSigned does:
// sorted "row=diff" strings, zeros left out.
func modesDelta(before, after []string) []string {
	count := map[string]int64{}
	for _, s := range before {
		count[s]--
	}
	for _, s := range after {
		count[s]++
	}
	var out []string
	for row, n := range count {
		if n != 0 {
			out = append(out, row+"="+itoa(n))
		}
	}
	slices.Sort(out)
	return out
}

// modesFormat formats a decoded row as a CSV sink writes it: strings
// quoted.
func modesFormat(r differential.Row) string {
	parts := make([]string, len(r))
	for i, v := range r {
		if v.Kind == differential.KindString {
			parts[i] = strconv.Quote(v.S)
		} else {
			parts[i] = v.String()
		}
	}
	return strings.Join(parts, ",")
}

// modesPick draws an int in [0, n).
type modesPick func(what string, n int) int

func rapidPick(rt *rapid.T) modesPick {
	return func(what string, n int) int { return rapid.IntRange(0, n-1).Draw(rt, what) }
}

func randPick(rng *rand.Rand) modesPick {
	return func(_ string, n int) int { return rng.IntN(n) }
}

func drawModesBatch(rt *rapid.T) int {
	return rapid.SampledFrom([]int{3, modesBigBatch}).Draw(rt, "batchRows")
}

// modesHarness runs the pipeline of one variant on one storage and
// checks each execution against the model.
type modesHarness struct {
	t     *testing.T // temporary directories, the crash kit
	rt    modesTB    // where failures go
	v     modesVariant
	batch int
	// acc and users are the input directories, root holds the storage
	// and the sinks.
	acc, users, root string
	files            int
	world            modesWorld
	// What was checked so far: the model's tables, each sink's changelog
	// bytes, lines and last time, the cached function's arguments.
	prev   map[string][]string
	logs   map[string][]byte
	nlines map[string]int
	last   map[string]uint64
	seen   map[string]bool
	calls  *callCounter
}

func newModesHarness(t *testing.T, rt modesTB, v modesVariant, batch int) *modesHarness {
	dir := t.TempDir()
	h := &modesHarness{t: t, rt: rt, v: v, batch: batch,
		acc: filepath.Join(dir, "accesses"), users: filepath.Join(dir, "users"), root: filepath.Join(dir, "root"),
		prev: map[string][]string{}, logs: map[string][]byte{}, nlines: map[string]int{}, last: map[string]uint64{},
		seen: map[string]bool{}, calls: &callCounter{}}
	for _, d := range []string{h.acc, h.users, h.root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h *modesHarness) storage(root string) string { return filepath.Join(root, "storage") }

func modesSinkPath(root, sink string) string { return filepath.Join(root, sink+".csv") }

// pipeline builds the pipeline with its sinks under root; the cached
// function counts its calls in calls.
func (h *modesHarness) pipeline(root string, calls *callCounter) *pwlog.Pipeline {
	label := pwlog.UDF("label", pwlog.TypeStr, func(args []pwlog.Value) (pwlog.Value, error) {
		calls.add(args[0].AsString())
		return differential.String(modesLabel(args[0].AsString())), nil
	}, pwlog.UDFOptions{Deterministic: true, Cache: true})
	p := pwlog.New()
	sessions := tutorial.Sessions(p, h.acc, modesGap)
	sessions.WriteCSV(modesSessions, modesSinkPath(root, modesSessions), pwlog.SinkOptions{Append: true})
	users := p.ReadCSV(modesUsers, h.users, pwlog.Schema{
		{Name: "user_id", Type: pwlog.TypeStr},
		{Name: "region", Type: pwlog.TypeStr},
	})
	sessions.GroupBy("user_id").Reduce("per_user",
		pwlog.Out("user_id", pwlog.Col("user_id")),
		pwlog.Out("sessions", pwlog.Count()),
		pwlog.Out("accesses", pwlog.Sum("count")),
		pwlog.Out("longest", pwlog.Max("session_length")),
	).
		Join("joined", users, pwlog.JoinInner, pwlog.On("user_id", "user_id")).
		Select("report",
			pwlog.Out("user_id", pwlog.Col("user_id")),
			pwlog.Out("region", pwlog.Col("region")),
			pwlog.Out("sessions", pwlog.Col("sessions")),
			pwlog.Out("accesses", pwlog.Col("accesses")),
			pwlog.Out("longest", pwlog.Col("longest")),
			pwlog.Out("label", label.Call(pwlog.Col("user_id"))),
		).
		WriteCSV(modesReport, modesSinkPath(root, modesReport), pwlog.SinkOptions{Append: true})
	return p
}

// runIn runs the pipeline once with storage and sinks under root, through
// fsys (nil: the default), in the variant's mode changed by set.
func (h *modesHarness) runIn(root string, fsys vfs.FS, calls *callCounter, set func(*pwlog.Config)) error {
	cfg := quietConfig(h.storage(root))
	cfg.Mode, cfg.KeepInputs, cfg.Persist = h.v.mode, h.v.keep, h.v.persist
	cfg.BatchRows = h.batch
	if fsys != nil {
		cfg.FS = fsys
	}
	if set != nil {
		set(&cfg)
	}
	return h.pipeline(root, calls).Run(context.Background(), cfg)
}

func (h *modesHarness) run(set func(*pwlog.Config)) error { return h.runIn(h.root, nil, h.calls, set) }

// draw draws the next execution's new files: up to two of accesses
// (times overlapping earlier files', so sessions merge across
// executions) and sometimes one of users not listed before.
func (h *modesHarness) draw(pick modesPick, run int) modesStep {
	var s modesStep
	base := int64(1_700_000_000) + int64(run)*500
	for range pick("accessFiles", 3) {
		f := make([]modesAccess, 1+pick("rows", 6))
		for i := range f {
			f[i] = modesAccess{user: fmt.Sprintf("u%d", pick("user", 5)), time: base + 30*int64(pick("time", 40))}
		}
		s.acc = append(s.acc, f)
	}
	if pick("usersFile", 2) == 1 {
		listed := map[string]bool{}
		for _, u := range h.world.users {
			listed[u[0]] = true
		}
		var free []string
		for i := range 6 {
			if u := fmt.Sprintf("u%d", i); !listed[u] {
				free = append(free, u)
			}
		}
		if len(free) > 0 {
			var f [][2]string
			for range 1 + pick("newUsers", min(2, len(free))) {
				i := pick("user", len(free))
				f = append(f, [2]string{free[i], []string{"north", "south"}[pick("region", 2)]})
				free = slices.Delete(free, i, i+1)
			}
			s.users = append(s.users, f)
		}
	}
	return s
}

// write writes a step's files into the input directories and adds them
// to the model.
func (h *modesHarness) write(s modesStep) {
	for _, f := range s.acc {
		var b strings.Builder
		b.WriteString("user_id,access_time\n")
		for _, a := range f {
			fmt.Fprintf(&b, "%s,%d\n", a.user, a.time)
		}
		h.writeFile(h.acc, "a", b.String())
	}
	for _, f := range s.users {
		var b strings.Builder
		b.WriteString("user_id,region\n")
		for _, u := range f {
			fmt.Fprintf(&b, "%s,%s\n", u[0], u[1])
		}
		h.writeFile(h.users, "u", b.String())
	}
	h.world.add(s)
}

func (h *modesHarness) writeFile(dir, prefix, text string) {
	h.files++
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s_%04d.csv", prefix, h.files)), []byte(text), 0o644); err != nil {
		h.rt.Fatalf("%v", err)
	}
}

// readLines reads and parses a sink's changelog under root; a missing
// file is empty.
func (h *modesHarness) readLines(root, sink string) ([]sinkLine, []byte) {
	h.rt.Helper()
	b, err := os.ReadFile(modesSinkPath(root, sink))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		h.rt.Fatalf("%v", err)
	}
	return h.parse(sink, b), b
}

// parse parses a changelog: the header, then lines of row, time, diff.
func (h *modesHarness) parse(sink string, b []byte) []sinkLine {
	h.rt.Helper()
	if len(b) == 0 {
		return nil
	}
	text, ok := strings.CutSuffix(string(b), "\n")
	if !ok {
		h.rt.Fatalf("%s: the changelog ends in a partial line: %q", sink, b[max(0, len(b)-80):])
	}
	lines := strings.Split(text, "\n")
	if !strings.HasSuffix(lines[0], ",time,diff") {
		h.rt.Fatalf("%s: header %q does not end in time,diff", sink, lines[0])
	}
	var out []sinkLine
	for _, line := range lines[1:] {
		l, ok := parseSinkLine(line)
		if !ok {
			h.rt.Fatalf("%s: bad line %q", sink, line)
		}
		out = append(out, l)
	}
	return out
}

// checkOrder fails unless the lines' times never go back.
func (h *modesHarness) checkOrder(what, sink string, lines []sinkLine) {
	h.rt.Helper()
	for i := 1; i < len(lines); i++ {
		if lines[i].time < lines[i-1].time {
			h.rt.Fatalf("%s: %s: line %d has time %d after time %d: a time emitted twice or out of order",
				what, sink, i+2, lines[i].time, lines[i-1].time)
		}
	}
}

// takeCalls returns the cached function's calls since the last take, as
// sorted "argument=calls" strings.
func (h *modesHarness) takeCalls() []string {
	var out []string
	for arg, n := range h.calls.take() {
		out = append(out, arg+"="+strconv.Itoa(n))
	}
	slices.Sort(out)
	return out
}

func modesOnce(args map[string]bool) []string {
	var out []string
	for arg := range args {
		out = append(out, arg+"=1")
	}
	slices.Sort(out)
	return out
}

// checkFull checks an execution with full access that finished: each
// sink's changelog kept what it held and gained exactly the difference
// of the model's tables, at times after every earlier one (nothing at
// all when nothing was new, unless some source is read again from its
// start in several times); consolidated it is the model's table, every
// row once. The cached function was called once for each argument no
// earlier execution saw and at most once for any other in the report
// (TestModesUDFCache checks that the cache spares those calls). The
// storage keeps what the mode keeps.
func (h *modesHarness) checkFull(what string, nothingNew bool) {
	h.rt.Helper()
	what = h.v.name + ": " + what
	cur := h.world.tables()
	for _, s := range modesSinks {
		all, b := h.readLines(h.root, s)
		if !bytes.HasPrefix(b, h.logs[s]) {
			h.rt.Fatalf("%s: %s: the changelog lost what it held before the execution", what, s)
		}
		h.checkOrder(what, s, all)
		fresh := all[h.nlines[s]:]
		if len(fresh) > 0 && h.nlines[s] > 0 && fresh[0].time <= h.last[s] {
			h.rt.Fatalf("%s: %s: the execution emitted time %d, not after the last time %d of the earlier ones", what, s, fresh[0].time, h.last[s])
		}
		if got, want := consolidatedSigned(fresh), modesDelta(h.prev[s], cur[s]); !slices.Equal(got, want) {
			h.rt.Fatalf("%s: %s: the execution emitted (consolidated)\n%v\nwant the difference of the from-scratch tables\n%v", what, s, got, want)
		}
		if got, want := consolidatedSigned(all), modesDelta(nil, cur[s]); !slices.Equal(got, want) {
			h.rt.Fatalf("%s: %s: the changelog consolidates to\n%v\nwant\n%v", what, s, got, want)
		}
		if nothingNew && len(fresh) > 0 && (!h.v.rereads() || h.batch == modesBigBatch) {
			h.rt.Fatalf("%s: %s: an execution with nothing new emitted %d lines: %v", what, s, len(fresh), fresh)
		}
		h.logs[s], h.nlines[s], h.prev[s] = b, len(all), cur[s]
		if len(all) > 0 {
			h.last[s] = all[len(all)-1].time
		}
	}
	labelled := h.world.labelled()
	calls := h.calls.take()
	for arg := range labelled {
		if !h.seen[arg] && calls[arg] == 0 {
			h.rt.Fatalf("%s: the cached function was never called with %q, new in the report", what, arg)
		}
		h.seen[arg] = true
	}
	for arg, n := range calls {
		if n != 1 || !labelled[arg] {
			h.rt.Fatalf("%s: the cached function was called %d times with %q; the report has %v", what, n, arg, slices.Sorted(maps.Keys(labelled)))
		}
	}
	h.checkStorage(h.root, what)
}

// checkStorage checks what the checkpoint under root holds (an
// execution compacts at its end): kept inputs ("inputs") only for the
// sources the mode keeps, each holding exactly the source's rows, under
// groups that are commit times; the sinks' tables ("table") only when
// the mode keeps them, each equal to the model's table, grouped by the
// key's top 16 bits; the cached function's results, one per argument
// seen; operator state only in PersistState.
func (h *modesHarness) checkStorage(root, what string) {
	h.rt.Helper()
	cur := h.world.tables()
	st := crashkit.CheckpointState(h.t, h.storage(root))
	has := map[string]bool{}
	for k, d := range st {
		if d.Len() == 0 {
			continue
		}
		name := k.Operator + "/" + k.Arrangement
		has[name] = true
		switch {
		case k.Arrangement == "inputs":
			if !h.v.keeps(k.Operator) {
				h.rt.Fatalf("%s: the storage keeps the rows of %s (%s), which the mode does not keep", what, k.Operator, name)
			}
			h.checkInputs(what, k.Operator, d)
		case k.Arrangement == "table":
			if !h.v.tables || !slices.Contains(modesSinks, k.Operator) {
				h.rt.Fatalf("%s: the storage keeps a table %s, which the mode does not keep", what, name)
			}
			h.checkTable(what, k.Operator, d, cur[k.Operator])
		case strings.HasPrefix(k.Arrangement, operators.UDFCachePrefix):
			if k.Operator != "report" || k.Arrangement != operators.CacheArrangement("label") {
				h.rt.Fatalf("%s: an unknown UDF cache %s", what, name)
			}
			if n := len(h.world.labelled()); d.Len() != n {
				h.rt.Fatalf("%s: the UDF cache holds %d entries, want one per argument seen: %d", what, d.Len(), n)
			}
		default:
			if !h.v.state {
				h.rt.Fatalf("%s: the storage keeps operator state %s (%d entries), which mode %s does not persist", what, name, d.Len(), h.v.mode)
			}
			has["state"] = true
		}
	}
	for _, src := range h.v.kept {
		if name := src + "/inputs"; len(h.world.inputRows(src)) > 0 && !has[name] {
			h.rt.Fatalf("%s: the storage lacks the kept inputs %s; it holds %v", what, name, slices.Sorted(maps.Keys(has)))
		}
	}
	for _, s := range modesSinks {
		if name := s + "/table"; h.v.tables && len(cur[s]) > 0 && !has[name] {
			h.rt.Fatalf("%s: the storage lacks the sink table %s; it holds %v", what, name, slices.Sorted(maps.Keys(has)))
		}
	}
	if h.v.state && len(cur[modesSessions]) > 0 && !has["state"] {
		h.rt.Fatalf("%s: the storage keeps no operator state; it holds %v", what, slices.Sorted(maps.Keys(has)))
	}
	if name := "report/" + operators.CacheArrangement("label"); h.v.cached() && len(h.world.labelled()) > 0 && !has[name] {
		h.rt.Fatalf("%s: the storage lacks the UDF cache %s; it holds %v", what, name, slices.Sorted(maps.Keys(has)))
	}
}

// entries expands an arrangement's entries into their decoded rows, one
// per unit of multiplicity, sorted; a negative multiplicity fails.
func (h *modesHarness) entries(what, name string, d differential.Deltas) []string {
	h.rt.Helper()
	var out []string
	for i := range d.Keys {
		r, err := differential.DecodeRow(nil, []byte(d.Rows[i]))
		if err != nil {
			h.rt.Fatalf("%s: %s: a row that does not decode: %v", what, name, err)
		}
		if d.Diffs[i] < 0 {
			h.rt.Fatalf("%s: %s holds %s with multiplicity %d", what, name, modesFormat(r), d.Diffs[i])
		}
		for range d.Diffs[i] {
			out = append(out, modesFormat(r))
		}
	}
	slices.Sort(out)
	return out
}

func (h *modesHarness) checkInputs(what, source string, d differential.Deltas) {
	h.rt.Helper()
	for _, g := range d.Groups {
		r, err := differential.DecodeRow(nil, []byte(g))
		if err != nil || len(r) != 1 || r[0].Kind != differential.KindInt || r[0].I <= 0 {
			h.rt.Fatalf("%s: %s/inputs: group %q is not a commit time (%v)", what, source, g, err)
		}
	}
	if got, want := h.entries(what, source+"/inputs", d), h.world.inputRows(source); !slices.Equal(got, want) {
		h.rt.Fatalf("%s: the kept inputs of %s hold\n%v\nwant the source's rows\n%v", what, source, got, want)
	}
}

func (h *modesHarness) checkTable(what, sink string, d differential.Deltas, want []string) {
	h.rt.Helper()
	for i, k := range d.Keys {
		if g := string(differential.EncodeRow(differential.Row{differential.Int(int64(uint64(k) >> 48))})); d.Groups[i] != g {
			h.rt.Fatalf("%s: %s/table: key %x under group %q, want its bucket %q", what, sink, uint64(k), d.Groups[i], g)
		}
	}
	if got := h.entries(what, sink+"/table", d); !slices.Equal(got, want) {
		h.rt.Fatalf("%s: the table of %s holds\n%v\nwant the model's\n%v", what, sink, got, want)
	}
}

// checkAlone checks an execution with offsets-only access: its changelog
// lines are the model's tables over its new rows alone; the cached
// function was called once per argument of those rows; the storage keeps
// no state at all.
func (h *modesHarness) checkAlone(what string, alone modesWorld) {
	h.rt.Helper()
	want := alone.tables()
	for _, s := range modesSinks {
		all, b := h.readLines(h.root, s)
		if !bytes.HasPrefix(b, h.logs[s]) {
			h.rt.Fatalf("%s: %s: the changelog lost what it held before the execution", what, s)
		}
		h.checkOrder(what, s, all)
		fresh := all[h.nlines[s]:]
		if len(fresh) > 0 && h.nlines[s] > 0 && fresh[0].time <= h.last[s] {
			h.rt.Fatalf("%s: %s: the execution emitted time %d, not after the last time %d of the earlier ones", what, s, fresh[0].time, h.last[s])
		}
		if got, want := consolidatedSigned(fresh), modesDelta(nil, want[s]); !slices.Equal(got, want) {
			h.rt.Fatalf("%s: %s: the execution emitted (consolidated)\n%v\nwant the from-scratch table of its new rows alone\n%v", what, s, got, want)
		}
		h.logs[s], h.nlines[s] = b, len(all)
		if len(all) > 0 {
			h.last[s] = all[len(all)-1].time
		}
	}
	if got, want := h.takeCalls(), modesOnce(alone.labelled()); !slices.Equal(got, want) {
		h.rt.Fatalf("%s: the cached function was called %v, want once per argument of the new rows (no cache is kept): %v", what, got, want)
	}
	for k, d := range crashkit.CheckpointState(h.t, h.storage(h.root)) {
		if d.Len() > 0 {
			h.rt.Fatalf("%s: with offsets only the storage keeps %s/%s (%d entries)", what, k.Operator, k.Arrangement, d.Len())
		}
	}
}

// checkRecord checks a record execution: each sink's file was written
// fresh and holds the whole table, every row once, at times after the
// earlier executions'; the cached function was called at most once per
// argument; the storage keeps what the mode keeps and equals the
// storage one execution over the same inputs writes.
func (h *modesHarness) checkRecord(what string) {
	h.rt.Helper()
	what = h.v.name + ": " + what
	cur := h.world.tables()
	for _, s := range modesSinks {
		all, b := h.readLines(h.root, s)
		h.checkOrder(what, s, all)
		if len(all) > 0 && all[0].time <= h.last[s] {
			h.rt.Fatalf("%s: %s: the record execution emitted time %d, not after the last time %d of the earlier ones", what, s, all[0].time, h.last[s])
		}
		if got, want := consolidatedSigned(all), modesDelta(nil, cur[s]); !slices.Equal(got, want) {
			h.rt.Fatalf("%s: %s: the fresh changelog of the record execution consolidates to\n%v\nwant the whole table\n%v", what, s, got, want)
		}
		h.logs[s], h.nlines[s], h.prev[s] = b, len(all), cur[s]
		if len(all) > 0 {
			h.last[s] = all[len(all)-1].time
		}
	}
	labelled := h.world.labelled()
	for arg, n := range h.calls.take() {
		if n != 1 || !labelled[arg] {
			h.rt.Fatalf("%s: the cached function was called %d times with %q; the report has %v", what, n, arg, slices.Sorted(maps.Keys(labelled)))
		}
	}
	h.seen = labelled
	h.checkStorage(h.root, what)
	h.checkAsOneRun(what)
}

// checkAsOneRun compares the storage under h.root with one that a single
// execution over the same inputs writes from nothing: the same
// arrangements with the same entries (kept inputs regardless of their
// commit times) and the same source offsets (a source that read nothing
// may be named or not).
func (h *modesHarness) checkAsOneRun(what string) {
	h.rt.Helper()
	once := filepath.Join(h.t.TempDir(), "once")
	if err := h.runIn(once, nil, &callCounter{}, nil); err != nil {
		h.rt.Fatalf("%s: one execution on a fresh storage: %v", what, err)
	}
	got := crashkit.CheckpointState(h.t, h.storage(h.root))
	want := crashkit.CheckpointState(h.t, h.storage(once))
	keys := map[compaction.ArrKey]bool{}
	for _, st := range []map[compaction.ArrKey]differential.Deltas{got, want} {
		for k, d := range st {
			if d.Len() > 0 {
				keys[k] = true
			}
		}
	}
	for k := range keys {
		g, w := got[k], want[k]
		if k.Arrangement == "inputs" {
			if a, b := modesUngrouped(g), modesUngrouped(w); !slices.Equal(a, b) {
				h.rt.Fatalf("%s: %s/inputs holds\n%v\none execution's storage holds\n%v", what, k.Operator, a, b)
			}
			continue
		}
		if !crashkit.EqualDeltas(g, w) {
			h.rt.Fatalf("%s: %s/%s holds %d entries, unlike one execution's storage (%d entries)", what, k.Operator, k.Arrangement, g.Len(), w.Len())
		}
	}
	gi, err := tool.Inspect(context.Background(), h.storage(h.root), nil)
	if err != nil {
		h.rt.Fatalf("%s: inspect: %v", what, err)
	}
	wi, err := tool.Inspect(context.Background(), h.storage(once), nil)
	if err != nil {
		h.rt.Fatalf("%s: inspect: %v", what, err)
	}
	if g, w := modesOffsets(gi.Sources), modesOffsets(wi.Sources); !reflect.DeepEqual(g, w) {
		h.rt.Fatalf("%s: the sources' offsets are\n%+v\none execution's storage has\n%+v", what, g, w)
	}
}

// modesOffsets returns the files of the sources that have read some.
func modesOffsets(sources []tool.SourceInfo) map[string][]tool.SourceFileInfo {
	out := map[string][]tool.SourceFileInfo{}
	for _, s := range sources {
		if len(s.Files) > 0 {
			out[s.Name] = s.Files
		}
	}
	return out
}

// modesUngrouped lists an arrangement's entries without their groups,
// summed: key, row, multiplicity.
func modesUngrouped(d differential.Deltas) []string {
	count := map[string]int64{}
	for i, k := range d.Keys {
		count[fmt.Sprintf("%x/%x", uint64(k), d.Rows[i])] += d.Diffs[i]
	}
	var out []string
	for e, n := range count {
		if n != 0 {
			out = append(out, e+"="+itoa(n))
		}
	}
	slices.Sort(out)
	return out
}

// modesSnapshot returns the contents of every file under dir but the
// lock file (each execution rewrites it), and each directory.
func modesSnapshot(rt modesTB, dir string) map[string]string {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.IsDir():
			out[rel+"/"] = "dir"
		case d.Name() == "LOCK":
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("%x", sha256.Sum256(b))
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		rt.Fatalf("%v", err)
	}
	return out
}

// untouched runs an execution that must not write the storage under
// h.root and checks that it did not; the sinks' files are put back as
// they were. It returns each sink's file and the execution's error.
func (h *modesHarness) untouched(what string, set func(*pwlog.Config)) (map[string][]sinkLine, error) {
	h.rt.Helper()
	storage := h.storage(h.root)
	before := modesSnapshot(h.rt, storage)
	infoBefore, err := tool.Inspect(context.Background(), storage, nil)
	if err != nil {
		h.rt.Fatalf("%s: inspect: %v", what, err)
	}
	saved := map[string][]byte{}
	for _, s := range modesSinks {
		b, err := os.ReadFile(modesSinkPath(h.root, s))
		if err != nil {
			h.rt.Fatalf("%v", err)
		}
		saved[s] = b
	}
	runErr := h.run(set)
	after := modesSnapshot(h.rt, storage)
	if !maps.Equal(before, after) {
		var changed []string
		for p := range maps.Keys(before) {
			if before[p] != after[p] {
				changed = append(changed, p)
			}
		}
		for p := range maps.Keys(after) {
			if _, ok := before[p]; !ok {
				changed = append(changed, p+" (new)")
			}
		}
		slices.Sort(changed)
		h.rt.Fatalf("%s: the execution (error %v) wrote to the storage: %v", what, runErr, changed)
	}
	infoAfter, err := tool.Inspect(context.Background(), storage, nil)
	if err != nil {
		h.rt.Fatalf("%s: inspect: %v", what, err)
	}
	if infoAfter.WAL.LastLSN != infoBefore.WAL.LastLSN || infoAfter.Clock != infoBefore.Clock {
		h.rt.Fatalf("%s: the log moved from LSN %d, clock %d to LSN %d, clock %d", what,
			infoBefore.WAL.LastLSN, infoBefore.Clock, infoAfter.WAL.LastLSN, infoAfter.Clock)
	}
	out := map[string][]sinkLine{}
	for _, s := range modesSinks {
		if runErr == nil {
			out[s], _ = h.readLines(h.root, s)
		} else if b, _ := os.ReadFile(modesSinkPath(h.root, s)); !bytes.Equal(b, saved[s]) {
			h.rt.Fatalf("%s: the refused execution (%v) changed the file of sink %s", what, runErr, s)
		}
		if err := os.WriteFile(modesSinkPath(h.root, s), saved[s], 0o644); err != nil {
			h.rt.Fatalf("%v", err)
		}
	}
	h.calls.take()
	return out, runErr
}

// clock returns the storage's last committed time.
func (h *modesHarness) clock(what string) uint64 {
	h.rt.Helper()
	info, err := tool.Inspect(context.Background(), h.storage(h.root), nil)
	if err != nil {
		h.rt.Fatalf("%s: inspect: %v", what, err)
	}
	return info.Clock
}

// checkReplay runs a replay (access set by set, stopping after the
// table when stop) with new files in the input directories: the storage
// is untouched; each sink's fresh file holds first the table as of the
// last committed time, at that time, every row with its multiplicity,
// then, unless it stops, rows at later times that sum to the difference
// the new files make.
func (h *modesHarness) checkReplay(what string, stop bool, set func(*pwlog.Config)) {
	h.rt.Helper()
	what = h.v.name + ": " + what
	clock := h.clock(what)
	files, err := h.untouched(what, set)
	if err != nil {
		h.rt.Fatalf("%s: %v", what, err)
	}
	cur := h.world.tables()
	for _, s := range modesSinks {
		lines := files[s]
		h.checkOrder(what, s, lines)
		var table, rest []sinkLine
		for _, l := range lines {
			switch {
			case l.time < clock:
				h.rt.Fatalf("%s: %s: a line at time %d, before the last committed time %d: %v", what, s, l.time, clock, l)
			case l.time == clock:
				if l.diff <= 0 {
					h.rt.Fatalf("%s: %s: the table as of time %d has a line of diff %d: %v", what, s, clock, l.diff, l)
				}
				table = append(table, l)
			default:
				rest = append(rest, l)
			}
		}
		if got, want := consolidatedSigned(table), modesDelta(nil, h.prev[s]); !slices.Equal(got, want) {
			h.rt.Fatalf("%s: %s: the table as of the last committed time %d is\n%v\nwant\n%v", what, s, clock, got, want)
		}
		if stop && len(rest) > 0 {
			h.rt.Fatalf("%s: %s: stopping after the replay, it emitted %d lines after time %d: %v", what, s, len(rest), clock, rest)
		}
		if want := modesDelta(h.prev[s], cur[s]); !stop && !slices.Equal(consolidatedSigned(rest), want) {
			h.rt.Fatalf("%s: %s: after the table, the replay emitted (consolidated)\n%v\nwant the new files' difference\n%v", what, s, consolidatedSigned(rest), want)
		}
	}
}

// modesByTime consolidates lines per time, leaving out times that
// consolidate to nothing.
func modesByTime(lines []sinkLine) map[uint64][]string {
	by := map[uint64][]sinkLine{}
	for _, l := range lines {
		by[l.time] = append(by[l.time], l)
	}
	out := map[uint64][]string{}
	for tm, ls := range by {
		if c := consolidatedSigned(ls); len(c) > 0 {
			out[tm] = c
		}
	}
	return out
}

// checkSpeedrun runs a speedrun replay with new files in the input
// directories: the storage is untouched; each sink's fresh file holds
// the changelog the past executions wrote, time for time.
func (h *modesHarness) checkSpeedrun(what string) {
	h.rt.Helper()
	what = h.v.name + ": " + what
	files, err := h.untouched(what, func(c *pwlog.Config) { c.SpeedrunReplay = true })
	if err != nil {
		h.rt.Fatalf("%s: %v", what, err)
	}
	for _, s := range modesSinks {
		got, want := modesByTime(files[s]), modesByTime(h.parse(s, h.logs[s]))
		if !reflect.DeepEqual(got, want) {
			h.rt.Fatalf("%s: %s: the speedrun replay emitted, per time,\n%v\nthe executions emitted\n%v", what, s, got, want)
		}
	}
}

// TestModesFull runs every persistence mode with full access over a
// drawn sequence of executions, each adding files or not; checkFull says
// what each execution must do.
func TestModesFull(t *testing.T) {
	propChecks(t, 3)
	for _, v := range modesVariants {
		t.Run(v.name, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				h := newModesHarness(t, rt, v, drawModesBatch(rt))
				pick := rapidPick(rt)
				for run := range rapid.IntRange(2, 4).Draw(rt, "runs") {
					s := h.draw(pick, run)
					h.write(s)
					if err := h.run(nil); err != nil {
						rt.Fatalf("%s: run %d: %v", v.name, run, err)
					}
					h.checkFull(fmt.Sprintf("run %d", run), s.empty())
				}
			})
		})
	}
}

// TestModesUDFCache runs each mode that writes over a fixed sequence of
// executions: the cached function is called for an argument only by the
// first execution that sees it, whether the later ones keep the
// operators' state or recompute it (from kept inputs, or from sources
// read again); after a record execution, which may call it again, the
// next execution calls it for nothing it already saw.
func TestModesUDFCache(t *testing.T) {
	for _, v := range modesVariants {
		t.Run(v.name, func(t *testing.T) {
			h := newModesHarness(t, t, v, modesBigBatch)
			for i, x := range []struct {
				step   modesStep
				record bool
				want   []string // the calls, but after a record execution
			}{
				{modesStep{acc: [][]modesAccess{{{"u1", 1_700_000_000}, {"u2", 1_700_000_050}}}, users: [][][2]string{{{"u1", "north"}}}}, false, []string{"u1=1"}},
				{modesStep{acc: [][]modesAccess{{{"u1", 1_700_001_000}}}}, false, nil},
				{modesStep{}, false, nil},
				{modesStep{users: [][][2]string{{{"u2", "south"}}}}, false, []string{"u2=1"}},
				{modesStep{acc: [][]modesAccess{{{"u2", 1_700_002_000}}}}, true, nil},
				{modesStep{}, false, nil},
			} {
				h.write(x.step)
				var set func(*pwlog.Config)
				if x.record {
					set = func(c *pwlog.Config) { c.Access = pwlog.AccessRecord }
				}
				if err := h.run(set); err != nil {
					t.Fatalf("%s: execution %d: %v", v.name, i, err)
				}
				got := h.takeCalls()
				if x.record {
					for _, c := range got {
						if c != "u1=1" && c != "u2=1" {
							t.Fatalf("%s: the record execution %d called the cached function %v", v.name, i, got)
						}
					}
					continue
				}
				if !slices.Equal(got, x.want) {
					t.Errorf("%s: execution %d called the cached function %v, want %v: once per argument over the storage's executions", v.name, i, got, x.want)
				}
			}
		})
	}
}

// TestModesOffsetsOnly runs executions with offsets-only access: each
// computes from its new rows alone and the storage keeps no state
// (checkAlone).
func TestModesOffsetsOnly(t *testing.T) {
	propChecks(t, 4)
	rapid.Check(t, func(rt *rapid.T) {
		h := newModesHarness(t, rt, modesVariantNamed("state"), drawModesBatch(rt))
		pick := rapidPick(rt)
		for run := range rapid.IntRange(2, 4).Draw(rt, "runs") {
			s := h.draw(pick, run)
			h.write(s)
			if err := h.run(func(c *pwlog.Config) { c.Access = pwlog.AccessOffsetsOnly }); err != nil {
				rt.Fatalf("offsets only: run %d: %v", run, err)
			}
			var alone modesWorld
			alone.add(s)
			h.checkAlone(fmt.Sprintf("offsets only: run %d", run), alone)
		}
	})
}

// TestModesRecord runs, in the modes that write, executions with full
// access, then one with record access (checkRecord), then one with full
// access again, which goes on from what the record execution wrote.
func TestModesRecord(t *testing.T) {
	propChecks(t, 3)
	for _, name := range []string{"state", "state-keep-inputs", "inputs", "selective-accesses", "udf-cache"} {
		v := modesVariantNamed(name)
		t.Run(name, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				h := newModesHarness(t, rt, v, drawModesBatch(rt))
				pick := rapidPick(rt)
				before := rapid.IntRange(1, 2).Draw(rt, "before")
				for run := range before {
					s := h.draw(pick, run)
					h.write(s)
					if err := h.run(nil); err != nil {
						rt.Fatalf("%s: run %d: %v", name, run, err)
					}
					h.checkFull(fmt.Sprintf("run %d", run), s.empty())
				}
				h.write(h.draw(pick, before))
				if err := h.run(func(c *pwlog.Config) { c.Access = pwlog.AccessRecord }); err != nil {
					rt.Fatalf("%s: the record run: %v", name, err)
				}
				h.checkRecord("the record run")
				s := h.draw(pick, before+1)
				h.write(s)
				if err := h.run(nil); err != nil {
					rt.Fatalf("%s: the run after the record run: %v", name, err)
				}
				h.checkFull("the run after the record run", s.empty())
			})
		})
	}
}

// TestModesReplay runs, in the modes that keep the sinks' tables,
// executions with full access, then adds files and runs a replay that
// stops after the table (with replay and with full access), a replay
// and, where every source is kept, a speedrun replay: none of them
// writes to the storage (checkReplay, checkSpeedrun). The next full
// execution then emits the new files' difference, as if they never ran.
func TestModesReplay(t *testing.T) {
	propChecks(t, 3)
	for _, name := range []string{"state-keep-inputs", "inputs", "selective-all", "selective-accesses", "udf-cache"} {
		v := modesVariantNamed(name)
		t.Run(name, func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				h := newModesHarness(t, rt, v, drawModesBatch(rt))
				pick := rapidPick(rt)
				runs := rapid.IntRange(1, 3).Draw(rt, "runs")
				for run := range runs {
					s := h.draw(pick, run)
					h.write(s)
					if err := h.run(nil); err != nil {
						rt.Fatalf("%s: run %d: %v", name, run, err)
					}
					h.checkFull(fmt.Sprintf("run %d", run), s.empty())
				}
				s := h.draw(pick, runs)
				h.write(s)
				h.checkReplay("replay, stop after replay", true, func(c *pwlog.Config) {
					c.Access, c.StopAfterReplay = pwlog.AccessReplay, true
				})
				h.checkReplay("full access, stop after replay", true, func(c *pwlog.Config) { c.StopAfterReplay = true })
				h.checkReplay("replay", false, func(c *pwlog.Config) { c.Access = pwlog.AccessReplay })
				if len(v.kept) == 2 {
					h.checkSpeedrun("speedrun replay")
				}
				if err := h.run(nil); err != nil {
					rt.Fatalf("%s: the run after the replays: %v", name, err)
				}
				h.checkFull("the run after the replays", s.empty())
			})
		})
	}
}

// TestModesRefused: offsets-only access with kept inputs (KeepInputs,
// PersistInputs, PersistSelective) is refused with an error naming both,
// before anything is committed; a replay, a stop after replay and a
// speedrun replay of a storage that lacks what they need (the sinks'
// tables, the kept inputs) are refused, the storage and the sinks'
// files untouched.
func TestModesRefused(t *testing.T) {
	h := newModesHarness(t, t, modesVariantNamed("state"), modesBigBatch)
	h.write(modesStep{
		acc:   [][]modesAccess{{{"u0", 1_700_000_000}, {"u1", 1_700_000_100}, {"u0", 1_700_000_200}}},
		users: [][][2]string{{{"u0", "north"}}},
	})
	for _, c := range []struct {
		what  string
		set   func(*pwlog.Config)
		words []string // the error names each, case aside
	}{
		{"offsets only with KeepInputs", func(c *pwlog.Config) { c.Access, c.KeepInputs = pwlog.AccessOffsetsOnly, true }, []string{"offsets", "keep"}},
		{"offsets only with PersistInputs", func(c *pwlog.Config) { c.Access, c.Mode = pwlog.AccessOffsetsOnly, pwlog.PersistInputs }, []string{"offsets", "inputs"}},
		{"offsets only with PersistSelective", func(c *pwlog.Config) {
			c.Access, c.Mode, c.Persist = pwlog.AccessOffsetsOnly, pwlog.PersistSelective, []string{modesAccesses}
		}, []string{"offsets", "selective"}},
	} {
		root := filepath.Join(t.TempDir(), "root")
		err := h.runIn(root, nil, &callCounter{}, c.set)
		if err == nil {
			t.Errorf("%s: accepted", c.what)
			continue
		}
		for _, w := range c.words {
			if !strings.Contains(strings.ToLower(err.Error()), w) {
				t.Errorf("%s: the error %q does not name %q", c.what, err, w)
			}
		}
		if _, err := os.Stat(h.storage(root)); err == nil {
			if info, err := tool.Inspect(context.Background(), h.storage(root), nil); err == nil && info.Clock != 0 {
				t.Errorf("%s: refused, yet it committed time %d", c.what, info.Clock)
			}
		}
	}

	// A storage of PersistState without kept inputs has no sink tables.
	if err := h.run(nil); err != nil {
		t.Fatal(err)
	}
	h.checkFull("run 0", false)
	refused := func(h *modesHarness, what string, set func(*pwlog.Config)) {
		t.Helper()
		_, err := h.untouched(what, set)
		if err == nil {
			t.Errorf("%s: %s was accepted", h.v.name, what)
		} else {
			t.Logf("%s: %s: %v", h.v.name, what, err)
		}
	}
	refused(h, "replay without sink tables", func(c *pwlog.Config) { c.Access = pwlog.AccessReplay })
	refused(h, "stop after replay without sink tables", func(c *pwlog.Config) { c.StopAfterReplay = true })
	refused(h, "speedrun replay without kept inputs", func(c *pwlog.Config) { c.SpeedrunReplay = true })

	// PersistUDFCache keeps the sinks' tables but no inputs.
	u := newModesHarness(t, t, modesVariantNamed("udf-cache"), modesBigBatch)
	u.write(modesStep{acc: [][]modesAccess{{{"u2", 1_700_000_000}}}, users: [][][2]string{{{"u2", "south"}}}})
	if err := u.run(nil); err != nil {
		t.Fatal(err)
	}
	u.checkFull("run 0", false)
	refused(u, "speedrun replay without kept inputs", func(c *pwlog.Config) { c.SpeedrunReplay = true })
}

// TestModesCrash crashes an execution of each mode that writes (full
// access, and record access in two modes) at a few sampled filesystem
// operations, as crash images (what a machine's crash leaves) and as
// kills (what a killed process leaves), then restarts it. The restart
// must finish; with full access each changelog keeps what the crashed
// execution had written and consolidates to the from-scratch table,
// every row exactly once, its times in order; a restarted record
// execution writes the whole table fresh and leaves the storage one
// execution writes, and a further execution with nothing new emits
// nothing. The storage then keeps what the mode keeps (checkStorage):
// kept inputs hold every row once.
func TestModesCrash(t *testing.T) {
	type scenario struct {
		v      modesVariant
		record bool
	}
	var scenarios []scenario
	for _, name := range []string{"state", "state-keep-inputs", "inputs", "selective-accesses", "selective-none", "udf-cache"} {
		scenarios = append(scenarios, scenario{v: modesVariantNamed(name)})
	}
	scenarios = append(scenarios, scenario{modesVariantNamed("state"), true}, scenario{modesVariantNamed("inputs"), true})
	points := int64(4)
	if n, err := strconv.ParseInt(os.Getenv("PWLOG_MODES_CRASH_POINTS"), 10, 64); err == nil && n > 0 {
		points = n
	}
	for i, sc := range scenarios {
		name := sc.v.name
		if sc.record {
			name += "-record"
		}
		t.Run(name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(16, uint64(i)))
			h := newModesHarness(t, t, sc.v, 4)
			pick := randPick(rng)
			h.write(h.draw(pick, 0))
			if err := h.run(nil); err != nil {
				t.Fatal(err)
			}
			h.checkFull("run 0", false)
			base := h.root
			h.write(h.draw(pick, 1))
			h.write(modesStep{acc: [][]modesAccess{{{"u0", 1_700_000_700}, {"u3", 1_700_000_750}}}, users: nil})
			var set func(*pwlog.Config)
			if sc.record {
				set = func(c *pwlog.Config) { c.Access = pwlog.AccessRecord }
			}
			act := func(root string, fsys vfs.FS) error { return h.runIn(root, fsys, &callCounter{}, set) }
			n := crashkit.CountOps(t, base, act)
			cur := h.world.tables()
			for p := range points {
				// One point in each third of the operations.
				k := min(n-1, p*n/points+rng.Int64N(max(1, n/points)))
				var root string
				var hit *errorfs.Op
				if p%2 == 0 {
					root, hit, _ = crashkit.Crash(t, base, k, uint64(p), act)
					if rep, err := tool.Verify(context.Background(), h.storage(root), nil); err == nil && !rep.Sound() {
						t.Fatalf("k=%d/%d: verify reports damage on a crash image: %v", k, n, rep.Problems)
					}
				} else {
					root = crashkit.CopyTree(t, base)
					hit, _ = crashkit.Kill(root, k, act)
				}
				what := fmt.Sprintf("%s k=%d/%d (%s, %s)", name, k, n, map[bool]string{true: "crash image", false: "kill"}[p%2 == 0], crashkit.DescribeHit(hit))
				kept := map[string][]byte{}
				for _, s := range modesSinks {
					b, _ := os.ReadFile(modesSinkPath(root, s))
					kept[s] = crashkit.CompleteTimes(b)
				}
				if err := act(root, vfs.Default); err != nil {
					t.Fatalf("%s: the restart failed: %v", what, err)
				}
				for _, s := range modesSinks {
					lines, b := h.readLines(root, s)
					if !sc.record {
						crashkit.CheckKept(t, what+": "+s, kept[s], b)
					} else if len(lines) > 0 && lines[0].time <= h.last[s] {
						t.Fatalf("%s: %s: the restarted record execution's file starts at time %d, not after the last time %d before it: not written fresh", what, s, lines[0].time, h.last[s])
					}
					h.checkOrder(what, s, lines)
					if got, want := consolidatedSigned(lines), modesDelta(nil, cur[s]); !slices.Equal(got, want) {
						t.Fatalf("%s: %s: after the restart the changelog consolidates to\n%v\nwant\n%v", what, s, got, want)
					}
				}
				h.checkStorage(root, what)
				if sc.record {
					saved := h.root
					h.root = root
					h.checkAsOneRun(what)
					h.root = saved
					before := map[string][]byte{}
					for _, s := range modesSinks {
						before[s], _ = os.ReadFile(modesSinkPath(root, s))
					}
					if err := h.runIn(root, nil, &callCounter{}, nil); err != nil {
						t.Fatalf("%s: a run after the record run: %v", what, err)
					}
					for _, s := range modesSinks {
						if b, _ := os.ReadFile(modesSinkPath(root, s)); !bytes.Equal(b, before[s]) {
							t.Fatalf("%s: %s: a run with nothing new after the record run wrote\n%s", what, s, b[min(len(b), len(before[s])):])
						}
					}
				}
			}
			t.Logf("%s: %d crash points, %d tried", name, n, points)
		})
	}
}
