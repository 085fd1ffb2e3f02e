// Command pwbench measures pwlog against the machine's limits and a peer,
// on one seeded data set of the tutorial's shape, in one run, and prints a
// markdown table of medians with their min–max spread (BENCHMARKS.md):
//
//   - ingest throughput of the sessions pipeline with persistence off, on
//     with an fsync per commit, and on with a 100 ms snapshot interval,
//     against a plain in-memory Go computation of the same sessions;
//   - a rerun after adding 0.1% rows against the full run, its peak RSS,
//     its block cache's hit rate and the bytes it read from the
//     checkpoint; restart time of a 1M-row state and of a larger one
//     (flat); restart and storage after many reruns;
//   - a run over the larger state (-state-rows) under a memory bound
//     (-memory-limit): its time, its peak RSS, and its output, which
//     must equal the floor's sessions;
//   - the WAL commit path against raw tidwall/wal WriteBatch on the same
//     bytes, and against the disk's append+fdatasync rate;
//   - the same state-update stream persisted into pebble, synced per
//     batch: updates/s, restart time and bytes beside pwlog's;
//   - storage bytes against input bytes; peak RSS of each run.
//
// Pipeline runs happen in child processes (this binary with -child), so
// that each peak RSS is the run's own. -chart writes an SVG of restart
// time and storage bytes against the number of reruns.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/pwlog/pwlog/tool"

	"github.com/pwlog/pwlog/bench/measure"
	"github.com/pwlog/pwlog/internal/gen"
)

var (
	rows     = flag.Int("rows", 1_000_000, "rows of the data set")
	big      = flag.Bool("big", false, "the 10M-row data set (-rows 10000000, 1000 files)")
	users    = flag.Int("users", 10_000, "distinct users")
	files    = flag.Int("files", 100, "files of the data set")
	repeats  = flag.Int("repeat", 5, "runs of each timed figure; the median is reported")
	reruns   = flag.Int("reruns", 100, "reruns for the history figures and the chart, each adding -step of the rows")
	step     = flag.Float64("step", 0.005, "fraction of -rows each rerun adds")
	every    = flag.Int("every", 10, "reruns between two points of the chart")
	probes   = flag.Int("fsyncs", 200, "append+fdatasync calls of the disk probe")
	second   = flag.Int("state-rows", 10_000_000, "rows of the second data set: one run under -memory-limit, its output checked against the floor's sessions, then its restart compared with the first's (flat)")
	memLimit = flag.Int64("memory-limit", 256<<20, "Config.MemoryLimit in bytes of the -state-rows run (0: the engine's default)")
	quick    = flag.Bool("quick", false, "a small run of every figure, a few minutes: -rows 100000 -state-rows 300000 -orders 100000 -customers 10000 -repeat 2 -reruns 4 -every 2 -fsyncs 50, but for those given")
	workdir  = flag.String("dir", "", "work directory, on the disk to measure (default: a temporary one, removed)")
	chart    = flag.String("chart", "", "write the SVG chart of restart time and storage against reruns here")
	childJob = flag.String("child", "", "internal: run one job in this process")
)

func main() {
	flag.Parse()
	if *childJob != "" {
		child(*childJob, flag.Args())
		return
	}
	if *big {
		*rows, *files = 10_000_000, 1000
	}
	if *quick {
		setUnlessGiven(map[string]string{"rows": "100000", "state-rows": "300000", "orders": "100000", "customers": "10000", "repeat": "2", "reruns": "4", "every": "2", "fsyncs": "50"})
	}
	dir := *workdir
	if dir == "" {
		d, err := os.MkdirTemp("", "pwbench")
		check(err)
		defer os.RemoveAll(d)
		dir = d
	}
	r := &report{dir: dir}
	if *revenueOnly {
		r.runRevenue()
	} else {
		r.run()
	}
	fmt.Print(r.out.String())
	if *chart != "" {
		check(os.WriteFile(*chart, []byte(r.svg), 0o644))
	}
}

// setUnlessGiven sets the flags named in values but those given on the
// command line.
func setUnlessGiven(values map[string]string) {
	given := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, v := range values {
		if !given[name] {
			check(flag.Set(name, v))
		}
	}
}

// The targets that are figures measured before: the full run with an
// fsync per commit at 1M rows (BENCHMARKS.md, commit 7793a2c), before
// the arrangements read the checkpoint in place.
const beforeRate = 116_000 // rows/s

type report struct {
	dir string
	out strings.Builder
	t   table
	svg string
}

func (r *report) path(elem ...string) string {
	return filepath.Join(append([]string{r.dir}, elem...)...)
}

func (r *report) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pwbench: "+format+"\n", args...)
}

func (r *report) run() {
	input := r.path("input")
	r.logf("writing %d rows, %d users, %d files", *rows, *users, *files)
	check(os.MkdirAll(input, 0o755))
	_, err := gen.Write(input, gen.Spec{Seed: 1, Rows: *rows, Users: *users, Files: *files})
	check(err)
	inputBytes := dirBytes(input)
	n := float64(*rows)

	fmt.Fprintf(&r.out, "Data: %d rows, %d users, %d files, %s of CSV. Median of %d runs, [min–max].\n\n",
		*rows, *users, *files, mib(inputBytes), *repeats)
	fmt.Fprintf(&r.out, "Machine: %s, %d CPUs, %s, %s/%s; work directory on %s.\n\n",
		cpuModel(), runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH, fsType(r.dir))
	r.t.header()

	// 1. Ingest.
	r.logf("ingest")
	var floorRSS, offRSS, syncRSS, ivRSS, restartRSS []int64
	floor := repeat(*repeats, func(int) time.Duration {
		c := spawn("floor", input)
		floorRSS = append(floorRSS, c.PeakRSS)
		return c.duration()
	})
	off := repeat(*repeats, func(int) time.Duration {
		c := spawn("run", input, "-", "0s")
		offRSS = append(offRSS, c.PeakRSS)
		return c.duration()
	})
	synced := repeat(*repeats, func(i int) time.Duration {
		c := spawn("run", input, r.path(fmt.Sprint("full", i)), "0s")
		syncRSS = append(syncRSS, c.PeakRSS)
		return c.duration()
	})
	interval := repeat(*repeats, func(i int) time.Duration {
		c := spawn("run", input, r.path(fmt.Sprint("interval", i)), "100ms")
		ivRSS = append(ivRSS, c.PeakRSS)
		return c.duration()
	})
	r.t.section(fmt.Sprintf("ingest: full run over %d rows", *rows))
	r.t.row("in-memory Go, no pwlog (the floor)", rate(per(n, floor), "rows")+"; "+secs(floor), "", "")
	r.t.row("pipeline, persistence off", rate(per(n, off), "rows")+"; "+secs(off), "", ratioOf(off, floor)+" floor's time")
	r.t.row("pipeline, fsync every commit", rate(per(n, synced), "rows")+"; "+secs(synced), "≤ 1.2x off", ratioOf(synced, off))
	r.t.row("pipeline, 100 ms snapshot interval", rate(per(n, interval), "rows")+"; "+secs(interval), "≤ 1.2x off", ratioOf(interval, off))
	r.t.row("throughput, fsync every commit, against before the checkpoint was read in place", rate(per(n, synced), "rows"),
		fmt.Sprintf("not below %s rows/s", si(beforeRate)), fmt.Sprintf("%.2fx %s rows/s", per(n, synced).median()/beforeRate, si(beforeRate)))

	// 2. Rerun and restart.
	r.logf("rerun and restart")
	add := max(1, *rows/1000)
	var rerunRSS, rerunStorage []int64
	var rerunRead []*inPlaceLine
	rerun := repeat(*repeats, func(i int) time.Duration {
		st := r.path(fmt.Sprint("rerun", i))
		copyDir(r.path(fmt.Sprint("full", i)), st)
		copyFile(changelogPath(r.path(fmt.Sprint("full", i))), changelogPath(st))
		rerunStorage = append(rerunStorage, dirBytes(st))
		in := r.path(fmt.Sprint("in-rerun", i))
		copyDir(input, in)
		_, err := gen.Write(in, gen.Spec{Seed: 100 + uint64(i), Rows: add, Users: *users, Files: 1, FirstFile: *files + i})
		check(err)
		c := spawn("run", in, st, "0s")
		rerunRSS, rerunRead = append(rerunRSS, c.PeakRSS), append(rerunRead, c.InPlace)
		return c.duration()
	})
	var restartOpened []*openedLine
	restart := repeat(*repeats, func(int) time.Duration {
		c := spawn("run", input, r.path("full0"), "0s")
		restartRSS, restartOpened = append(restartRSS, c.PeakRSS), append(restartOpened, c.Opened)
		return c.duration()
	})
	// The same restarts with the collector running a quarter as often:
	// how much of a restart is the Go GC marking the state it loads.
	restartGC := repeat(*repeats, func(int) time.Duration {
		return spawnEnv([]string{"GOGC=400"}, "run", input, r.path("full0"), "0s").duration()
	})
	// A second state size: users and files grow with the rows, so each
	// user's sessions look the same. Its one run is under the memory
	// bound, its sink an append-mode changelog that a child then checks
	// against the floor's sessions (the parent never holds the rows).
	// Its restarts write to /dev/null, as the first state's do: sinks
	// are not part of the pipeline's fingerprint.
	inputB := r.path("input-state")
	check(os.MkdirAll(inputB, 0o755))
	scale := float64(*second) / float64(*rows)
	r.logf("writing %d rows for the second state size", *second)
	_, err = gen.Write(inputB, gen.Spec{Seed: 4, Rows: *second, Users: max(1, int(float64(*users)*scale)), Files: max(1, int(float64(*files)*scale))})
	check(err)
	r.logf("one run over %d rows, MemoryLimit %s", *second, limitName(*memLimit))
	changelog := changelogPath(r.path("state-b"))
	bound := spawn("run", inputB, r.path("state-b"), "0s", fmt.Sprint(*memLimit), changelog)
	r.logf("checking its output against the floor's sessions")
	v := spawn("verify", inputB, changelog)
	verdict := v.Check
	r.logf("output %s: %d sessions, %d changelog updates, checked in %s", verdictText(verdict), verdict.Want, verdict.Lines, v.duration().Round(time.Millisecond))
	restartB := repeat(*repeats, func(int) time.Duration { return spawn("run", inputB, r.path("state-b"), "0s").duration() })
	stateA, stateB := stateEntries(r.path("full0")), stateEntries(r.path("state-b"))
	r.t.section("rerun and restart")
	r.t.row(fmt.Sprintf("rerun after adding 0.1%% rows (%d)", add), secs(rerun), "≤ 2% of the full run", pct(rerun, synced)+" of fsync full run")
	hits, hitNote := hitRates(rerunRead)
	r.t.row("block cache hit rate in the rerun: hits / (hits + misses)", hits, "report", hitNote)
	read, readNote := readShares(rerunRead, rerunStorage)
	r.t.row("bytes read by the rerun / storage before it", read, "report", readNote)
	r.t.row(fmt.Sprintf("restart, nothing new, state of %d rows (%s entries)", *rows, si(float64(stateA))), secs(restart), "≤ 50 ms",
		fmt.Sprintf("%.2fx 50 ms; the engine's \"Opened the checkpoint\": %s", restart.median()/0.050, openedTimes(restartOpened)))
	r.t.row("the same restart with GOGC=400 (default 100)", secs(restartGC), "", ratioOf(restartGC, restart))
	r.t.row(fmt.Sprintf("restart, nothing new, state of %d rows (%s entries)", *second, si(float64(stateB))), secs(restartB), "flat (≈1x)",
		fmt.Sprintf("%s the %d-row restart, for %.1fx the entries", ratioOf(restartB, restart), *rows, float64(stateB)/float64(stateA)))
	r.t.section(fmt.Sprintf("state of %d rows under MemoryLimit %s: one run", *second, limitName(*memLimit)))
	bt := durations([]time.Duration{bound.duration()})
	r.t.row(fmt.Sprintf("full run over %d rows, fsync every commit, its sink an append-mode changelog file", *second), rate(per(float64(*second), bt), "rows")+"; "+secs(bt), "completes",
		fmt.Sprintf("%.2fx the %d-row run's rows/s", per(float64(*second), bt).median()/per(n, synced).median(), *rows))
	r.t.row("its output against the from-scratch sessions (the floor's)", verdictText(verdict), "completes, output equal",
		fmt.Sprintf("%d sessions; a changelog of %d updates", verdict.Want, verdict.Lines))
	ofLimit := ""
	if *memLimit > 0 {
		ofLimit = fmt.Sprintf("%.2fx MemoryLimit", float64(bound.PeakRSS)/float64(*memLimit))
	}
	r.t.row("its peak RSS", mibs([]int64{bound.PeakRSS}), "", ofLimit)

	// 3. History: many reruns against one run over the same rows; the chart.
	r.history(input)

	// 4. The WAL against raw tidwall/wal and the disk.
	r.logf("state stream, WAL, disk")
	stream, err := measure.NewStream(input, 1<<16)
	check(err)
	var oursSync, rawSync, oursNo, rawNo []time.Duration
	var walBytes, oursDisk, rawDisk int64
	for i := 0; i < *repeats; i++ {
		w, err := measure.WALCompare(r.path(fmt.Sprint("wal", i)), stream, true)
		check(err)
		oursSync, rawSync, walBytes = append(oursSync, w.Ours), append(rawSync, w.Raw), w.Bytes
		oursDisk, rawDisk = w.OursDisk, w.RawDisk
		w, err = measure.WALCompare(r.path(fmt.Sprint("walnosync", i)), stream, false)
		check(err)
		oursNo, rawNo = append(oursNo, w.Ours), append(rawNo, w.Raw)
	}
	probe, err := measure.FsyncProbe(r.dir, *probes, 4096)
	check(err)
	lat := durations(probe)
	commits, err := measure.CommitProbe(r.dir, *probes, 4096)
	check(err)
	clat := durations(commits)
	r.t.section(fmt.Sprintf("WAL: the state stream's %d batches, %s of record bodies", len(stream.Batches), mib(walBytes)))
	mbps := func(s sample) string { return rate(per(float64(walBytes)/(1<<20), s), "MiB") }
	r.t.row(fmt.Sprintf("our commit path, fsync per batch (writes %s)", mib(oursDisk)), mbps(durations(oursSync)), "≥ 70% of raw", throughputPct(durations(oursSync), durations(rawSync))+" of raw")
	r.t.row(fmt.Sprintf("raw tidwall/wal WriteBatch, sync per batch (writes %s)", mib(rawDisk)), mbps(durations(rawSync)), "", "")
	r.t.row("our commit path, no fsync", mbps(durations(oursNo)), "≥ 70% of raw", throughputPct(durations(oursNo), durations(rawNo))+" of raw")
	r.t.row("raw tidwall/wal WriteBatch, no sync", mbps(durations(rawNo)), "", "")
	r.t.row(fmt.Sprintf("disk: 4 KiB append + fdatasync (%d calls)", *probes), secs(lat)+fmt.Sprintf("; %s/s", si(1/lat.median())), "", "")
	r.t.row(fmt.Sprintf("our commit of a 4 KiB record, fsync (%d commits)", *probes), secs(clat)+fmt.Sprintf("; %s/s", si(1/clat.median())), "", fmt.Sprintf("%.0f%% of the disk's rate", 100*lat.median()/clat.median()))

	// 5. The peer on the same stream.
	r.logf("pebble and pwlog on the stream")
	var pw, pb []measure.PeerResult
	for i := 0; i < *repeats; i++ {
		res, err := measure.Pwlog(r.path(fmt.Sprint("peer-pwlog", i)), stream)
		check(err)
		pw = append(pw, res)
		res, err = measure.Pebble(r.path(fmt.Sprint("peer-pebble", i)), stream)
		check(err)
		pb = append(pb, res)
	}
	updates := float64(stream.Updates)
	pwW, pbW := peerSample(pw, func(p measure.PeerResult) time.Duration { return p.Write }), peerSample(pb, func(p measure.PeerResult) time.Duration { return p.Write })
	pwR, pbR := peerSample(pw, func(p measure.PeerResult) time.Duration { return p.Restart }), peerSample(pb, func(p measure.PeerResult) time.Duration { return p.Restart })
	pwO, pbO := peerSample(pw, func(p measure.PeerResult) time.Duration { return p.Open }), peerSample(pb, func(p measure.PeerResult) time.Duration { return p.Open })
	r.t.section(fmt.Sprintf("peer: the same %s state updates, durable per batch", si(updates)))
	pwWC := peerSample(pw, func(p measure.PeerResult) time.Duration { return p.Write + p.Compact })
	r.t.row("pwlog: updates/s (WAL, fsync per batch)", rate(per(updates, pwW), "updates"), "", fmt.Sprintf("%.2fx pebble's", pbW.median()/pwW.median()))
	r.t.row("pwlog: updates/s with its compaction into a checkpoint", rate(per(updates, pwWC), "updates"), "", fmt.Sprintf("%.2fx pebble's", pbW.median()/pwWC.median()))
	r.t.row("pebble: updates/s (Merge, Sync per batch)", rate(per(updates, pbW), "updates"), "", "")
	r.t.row("pwlog: restart as the engine does it now (open the log and the checkpoint's runs in place, rebase the arrangements)", secs(pwO), "", fmt.Sprintf("%.2fx pebble's open", pwO.median()/pbO.median()))
	r.t.row("pebble: open (replays its log; tables read when scanned)", secs(pbO), "", "")
	r.t.row(fmt.Sprintf("pwlog: decode the checkpoint whole into arrangements, %s entries (what a restart did before reading in place)", si(float64(pw[0].Entries))), secs(pwR), "", fmt.Sprintf("%.2fx pebble's time", pwR.median()/pbR.median()))
	r.t.row("pebble: open, scan every key, apply into arrangements", secs(pbR), "", "")
	r.t.row("pwlog: bytes after compaction", mib(pw[0].Bytes), "", fmt.Sprintf("%.2fx pebble's", float64(pw[0].Bytes)/float64(pb[0].Bytes)))
	r.t.row("pebble: bytes", mib(pb[0].Bytes), "", "")

	// 6. Storage and memory.
	storage := dirBytes(r.path("full0"))
	cp := checkpointBytes(r.path("full0"))
	r.t.section("storage and memory")
	r.t.row("storage after the full run (compacted)", mib(storage), "≤ 2x state + log tail", fmt.Sprintf("%.2fx input CSV; %.2fx its checkpoint runs", float64(storage)/float64(inputBytes), float64(storage)/float64(cp)))
	r.t.row("peak RSS: in-memory Go", mibs(floorRSS), "", "")
	r.t.row("peak RSS: persistence off", mibs(offRSS), "", "")
	r.t.row("peak RSS: fsync every commit", mibs(syncRSS), "≤ 1.2x off", ratioInt(syncRSS, offRSS)+" off's")
	r.t.row("peak RSS: 100 ms snapshot interval", mibs(ivRSS), "", ratioInt(ivRSS, offRSS)+" off's")
	r.t.row("peak RSS: restart, nothing new", mibs(restartRSS), "", "")
	r.t.row(fmt.Sprintf("peak RSS: rerun after adding 0.1%% rows (%d)", add), mibs(rerunRSS), "≤ 64 MiB", fmt.Sprintf("%.2fx 64 MiB", medianInt(rerunRSS)/(64<<20)))

	// 7. A pipeline of joins and windows: examples/revenue.
	r.revenue()
	r.out.WriteString(r.t.b.String())
}

// history runs -reruns reruns, each adding -step of the rows, measuring
// restart time and storage every -every reruns for the chart, and
// compares the end with one run over the same rows.
func (r *report) history(input string) {
	r.logf("%d reruns", *reruns)
	grow, hist := r.path("grow"), r.path("history")
	copyDir(input, grow)
	spawn("run", grow, hist, "0s")
	addRows := max(1, int(float64(*rows)**step))
	var xs, restartMS, storageMiB []float64
	point := func(k int) {
		t := repeat(*repeats, func(int) time.Duration { return spawn("run", grow, hist, "0s").duration() })
		xs = append(xs, float64(k))
		restartMS = append(restartMS, t.median()*1e3)
		storageMiB = append(storageMiB, float64(dirBytes(hist))/(1<<20))
	}
	point(0)
	for i := 1; i <= *reruns; i++ {
		_, err := gen.Write(grow, gen.Spec{Seed: 1000 + uint64(i), Rows: addRows, Users: *users, Files: 1, FirstFile: 10_000 + i})
		check(err)
		spawn("run", grow, hist, "0s")
		if i%*every == 0 || i == *reruns {
			point(i)
		}
	}
	histRestart := repeat(*repeats, func(int) time.Duration { return spawn("run", grow, hist, "0s").duration() })
	once := r.path("once")
	spawn("run", grow, once, "0s")
	onceRestart := repeat(*repeats, func(int) time.Duration { return spawn("run", grow, once, "0s").duration() })
	hb, ob := dirBytes(hist), dirBytes(once)
	total := *rows + *reruns*addRows
	r.t.section(fmt.Sprintf("history: %d reruns adding %d rows each (%d rows in all)", *reruns, addRows, total))
	r.t.row(fmt.Sprintf("restart after %d reruns", *reruns), secs(histRestart), "∝ state, not history", ratioOf(histRestart, onceRestart)+" one run's")
	r.t.row("restart of one run over the same rows", secs(onceRestart), "", "")
	r.t.row(fmt.Sprintf("storage after %d reruns", *reruns), mib(hb), "∝ state, not history", fmt.Sprintf("%.2fx one run's", float64(hb)/float64(ob)))
	r.t.row("storage of one run over the same rows", mib(ob), "", "")
	onceMS := onceRestart.median() * 1e3
	flat := func(v float64) series {
		return series{name: "one run over the final rows", color: "#999", xs: []float64{0, float64(*reruns)}, ys: []float64{v, v}}
	}
	r.svg = svgChart(
		panel{title: "Restart time", xlabel: "reruns", ylabel: fmt.Sprintf("ms (median of %d)", *repeats), lines: []series{
			{name: "after n reruns", color: "#1f77b4", xs: xs, ys: restartMS}, flat(onceMS)}},
		panel{title: "Storage", xlabel: "reruns", ylabel: "MiB", lines: []series{
			{name: "after n reruns", color: "#d62728", xs: xs, ys: storageMiB}, flat(float64(ob) / (1 << 20))}},
	)
}

func peerSample(rs []measure.PeerResult, f func(measure.PeerResult) time.Duration) sample {
	ds := make([]time.Duration, len(rs))
	for i, r := range rs {
		ds[i] = f(r)
	}
	return durations(ds)
}

// limitName names a MemoryLimit flag's value.
func limitName(b int64) string {
	if b <= 0 {
		return "the engine's default"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

// verdictText is the check of a changelog against the floor's sessions:
// "equal", or "DIFFERENT (n rows)", n the size of the multiset
// difference.
func verdictText(c *measure.ChangelogCheck) string {
	if c.Differ() == 0 {
		return "equal"
	}
	return fmt.Sprintf("DIFFERENT (%d rows: %d missing, %d extra)", c.Differ(), c.Missing, c.Extra)
}

// hitRates formats the block cache hit rates of runs, with the hits and
// misses of the median one; runs that logged no "Read the checkpoint in
// place" (or looked nothing up) are left out and counted.
func hitRates(ls []*inPlaceLine) (figure, note string) {
	var s sample
	var med *inPlaceLine
	for _, l := range ls {
		if l != nil && l.BlockHits+l.BlockMisses > 0 {
			s = append(s, 100*l.hitRate())
		}
	}
	if len(s) == 0 {
		return "n/a", fmt.Sprintf("no block lookups logged in %d runs", len(ls))
	}
	m := s.median()
	for _, l := range ls {
		if l != nil && l.BlockHits+l.BlockMisses > 0 && 100*l.hitRate() == m {
			med = l
		}
	}
	figure = fmt.Sprintf("%.1f%% [%.1f–%.1f]", m, s.min(), s.max())
	note = fmt.Sprintf("median run: %d hits, %d misses", med.BlockHits, med.BlockMisses)
	if len(s) < len(ls) {
		note += fmt.Sprintf("; %d of %d runs logged none", len(ls)-len(s), len(ls))
	}
	return figure, note
}

// readShares formats the bytes each run read from the checkpoint's run
// files against the bytes of its storage before it ran.
func readShares(ls []*inPlaceLine, storage []int64) (figure, note string) {
	var s sample
	var read, of []int64
	for i, l := range ls {
		if l != nil && storage[i] > 0 {
			s = append(s, float64(l.BytesRead)/float64(storage[i]))
			read, of = append(read, l.BytesRead), append(of, storage[i])
		}
	}
	if len(s) == 0 {
		return "n/a", fmt.Sprintf("no bytes read logged in %d runs", len(ls))
	}
	return fmt.Sprintf("%.3fx [%.3f–%.3f]", s.median(), s.min(), s.max()),
		fmt.Sprintf("%s read of %s (medians)", mib(int64(medianInt(read))), mib(int64(medianInt(of))))
}

// openedTimes formats the durations the engine logged for opening the
// checkpoint.
func openedTimes(ls []*openedLine) string {
	var ds []time.Duration
	for _, l := range ls {
		if l != nil {
			ds = append(ds, l.Duration)
		}
	}
	if len(ds) == 0 {
		return "not logged"
	}
	return secs(durations(ds))
}

func medianInt(v []int64) float64 {
	s := make(sample, len(v))
	for i, x := range v {
		s[i] = float64(x)
	}
	return s.median()
}

func ratioOf(a, b sample) string { return fmt.Sprintf("%.2fx", a.median()/b.median()) }
func pct(a, b sample) string     { return fmt.Sprintf("%.1f%%", 100*a.median()/b.median()) }

// throughputPct is ours' throughput as a percentage of raw's, on the same
// bytes: raw's time over ours.
func throughputPct(ours, raw sample) string {
	return fmt.Sprintf("%.0f%%", 100*raw.median()/ours.median())
}

func mibs(v []int64) string {
	s := make(sample, len(v))
	for i, x := range v {
		s[i] = float64(x) / (1 << 20)
	}
	return fmt.Sprintf("%.0f MiB [%.0f–%.0f]", s.median(), s.min(), s.max())
}

func ratioInt(a, b []int64) string {
	fa, fb := make(sample, len(a)), make(sample, len(b))
	for i := range a {
		fa[i] = float64(a[i])
	}
	for i := range b {
		fb[i] = float64(b[i])
	}
	return ratioOf(fa, fb)
}

// stateEntries returns the entries of a storage's checkpoint.
func stateEntries(storage string) int64 {
	info, err := tool.Inspect(context.Background(), storage, nil)
	check(err)
	var n int64
	if info.Checkpoint != nil {
		for _, a := range info.Checkpoint.Arrangements {
			n += a.Entries
		}
	}
	return n
}

// checkpointBytes returns the bytes of a storage's live checkpoint.
func checkpointBytes(storage string) int64 {
	info, err := tool.Inspect(context.Background(), storage, nil)
	check(err)
	if info.Checkpoint == nil {
		return 0
	}
	return info.Checkpoint.Bytes
}

// dirBytes returns the bytes of every file under dir but a LOCK file.
func dirBytes(dir string) int64 {
	var n int64
	check(filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "LOCK" {
			return err
		}
		fi, err := d.Info()
		if err == nil {
			n += fi.Size()
		}
		return err
	}))
	return n
}

func copyDir(from, to string) {
	check(os.CopyFS(to, os.DirFS(from)))
}

func copyFile(from, to string) {
	b, err := os.ReadFile(from)
	check(err)
	check(os.WriteFile(to, b, 0o644))
}

// cpuModel returns the CPU model from /proc/cpuinfo, or GOARCH.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// fsType returns the filesystem type of dir from /proc/mounts (the
// longest mount point that prefixes it), or "unknown".
func fsType(dir string) string {
	abs, _ := filepath.Abs(dir)
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "unknown"
	}
	best, typ := "", "unknown"
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && strings.HasPrefix(abs, f[1]) && len(f[1]) > len(best) {
			best, typ = f[1], f[2]+" ("+f[0]+")"
		}
	}
	return typ
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "pwbench:", err)
		os.Exit(1)
	}
}
