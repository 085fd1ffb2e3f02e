// The example of a pipeline that changes: the built
// examples/sessions (kill_test.go's buildSessions) run with -keep-inputs
// over the tutorial's inputs with -max-gap 300, then with -max-gap 600
// and a new input file, then again with 600; and the same change without
// -keep-inputs, refused. -short skips them.

package pwlog_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/internal/model"
)

// evolveRun is one execution of the example over an input directory that
// grows: the files to add first, the gap to run with.
type evolveRun struct {
	add    string // testdata/tutorial/runN, or "" for evolveFile
	maxGap int64
}

// evolveFile is a fifth input file, added before the run after the
// change: alice's access 484 s after her last one (one session with gap
// 600, not with 300), bob's 782 s after his (a new session either way),
// and a new user.
const evolveFile = "user_id,access_time\nalice,1701104400\nbob,1701106000\ncarol,1701100000\n"

// sessionsExample runs the built example with args and returns its
// stderr and its error.
func sessionsExample(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stderr.String(), err
}

// sessionsOf returns the from-scratch sessions (internal/model) of the
// CSV files in input with gap maxGap, as the sink writes its rows.
func sessionsOf(t *testing.T, input string, maxGap int64) []string {
	t.Helper()
	acc, err := model.Accesses(input)
	if err != nil {
		t.Fatal(err)
	}
	return model.Strings(model.Sessions(acc, maxGap))
}

// addInput copies the files of a tutorial run into input, or writes
// evolveFile there.
func addInput(t *testing.T, from, input string) {
	t.Helper()
	if from != "" {
		copyFiles(t, from, input)
		return
	}
	if err := os.WriteFile(filepath.Join(input, "part_five.csv"), []byte(evolveFile), 0o644); err != nil {
		t.Fatal(err)
	}
}

// exampleDirs builds the sessions example and returns it with an empty
// input directory, and the paths of a storage and a changelog.
func exampleDirs(t *testing.T) (bin, input, storage, output string) {
	t.Helper()
	bin = buildSessions(t)
	dir := t.TempDir()
	input, storage = filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	output = filepath.Join(dir, "changelog.csv")
	if err := os.Mkdir(input, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, input, storage, output
}

// byTime splits lines into runs of one time each, in order.
func byTime(lines []sinkLine) [][]sinkLine {
	var out [][]sinkLine
	for i, l := range lines {
		if i == 0 || l.time != lines[i-1].time {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], l)
	}
	return out
}

// sameSum reports whether lines sum to the signed rows want ("+row",
// "-row", as model.Diff returns them).
func sameSum(lines []sinkLine, want []string) bool {
	return slices.Equal(consolidatedSigned(lines), consolidatedSigned(signedLines(want)))
}

// TestEvolveExample: runs of `sessions -keep-inputs -append -max-gap 300`
// over the tutorial's first two inputs, then a run with -max-gap 600 and
// the third input, then runs with 600 and a new file and with nothing new.
// Each run appends exactly the difference between the from-scratch
// sessions after it and those the changelog held before it. The change
// run's difference is against the sessions with gap 300 emitted so far;
// its change comes at one logical time, its first: the rebuilt sessions
// of the rows kept, against those emitted, exactly. Rows read later in
// the run come at later, ordinary times (or, if the engine read the new
// file into the same first time, that one time holds the whole
// difference); their sum is checked either way.
func TestEvolveExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a binary")
	}
	bin, input, storage, output := exampleDirs(t)
	runs := []evolveRun{
		{"testdata/tutorial/run1", 300},
		{"testdata/tutorial/run2", 300},
		{"testdata/tutorial/run3", 600},
		{"", 600},
		{"-", 600}, // nothing new
	}
	var emitted []sinkLine // the changelog so far
	var lastTime uint64
	prevGap := int64(0)
	for i, r := range runs {
		var before []string // what the changelog holds
		if prevGap != 0 {
			before = sessionsOf(t, input, prevGap)
		}
		// What the storage kept, before this run's file: the rebuild's input.
		kept := sessionsOf(t, input, r.maxGap)
		if r.add != "-" {
			addInput(t, r.add, input)
		}
		after := sessionsOf(t, input, r.maxGap)
		stderr, err := sessionsExample(t, bin, "-input", input, "-output", output, "-storage", storage,
			"-keep-inputs", "-append", "-max-gap", itoa(r.maxGap))
		if err != nil {
			t.Fatalf("run %d (-max-gap %d): %v\n%s", i+1, r.maxGap, err, stderr)
		}
		all := readSink(t, output)
		if len(all) < len(emitted) || !slices.Equal(all[:len(emitted)], emitted) {
			t.Fatalf("run %d changed the %d lines earlier runs appended", i+1, len(emitted))
		}
		lines := all[len(emitted):]
		emitted = all
		for _, l := range lines {
			if l.time <= lastTime {
				t.Fatalf("run %d: time %d is not after the previous run's %d", i+1, l.time, lastTime)
			}
		}
		want := model.Diff(before, after)
		if !sameSum(lines, want) {
			t.Fatalf("run %d (-max-gap %d) appended\n%s\nwhich sums to %v, want %v", i+1, r.maxGap, linesString(lines), consolidatedSigned(lines), want)
		}
		changed := prevGap != 0 && r.maxGap != prevGap
		if !changed && !slices.Equal(signed(lines), want) {
			// A few rows, one logical time: exactly the difference.
			t.Fatalf("run %d (-max-gap %d) appended\n%s\nwant exactly %v", i+1, r.maxGap, linesString(lines), want)
		}
		if changed {
			times := byTime(lines)
			if len(times) == 0 {
				t.Fatalf("the change run emitted nothing; want %v", want)
			}
			change := model.Diff(before, kept)
			switch first := signed(times[0]); {
			case slices.Equal(first, change):
				if !sameSum(slices.Concat(times[1:]...), model.Diff(kept, after)) {
					t.Fatalf("after the change at its first time, the change run's later times sum to %v, want %v", consolidatedSigned(slices.Concat(times[1:]...)), model.Diff(kept, after))
				}
				t.Logf("the change run: the change at its first time %d (%d rows), the new file's rows at %d later times", times[0][0].time, len(times[0]), len(times)-1)
			case len(times) == 1 && slices.Equal(first, want):
				t.Logf("the change run: one time %d holds the change and the new file's rows (%d rows)", times[0][0].time, len(times[0]))
			default:
				t.Fatalf("the change run's first time %d holds\n%s\nwant exactly the change %v (the rebuilt sessions of the kept rows against those emitted)", times[0][0].time, linesString(times[0]), change)
			}
		}
		if len(lines) > 0 {
			lastTime = lines[len(lines)-1].time
		}
		prevGap = r.maxGap
	}
	if got, want := consolidated(t, emitted), sessionsOf(t, input, 600); !slices.Equal(got, want) {
		t.Fatalf("the changelog consolidates to %v, want the sessions with gap 600 %v", got, want)
	}
}

// TestEvolveExampleRefused: the same change without -keep-inputs is
// refused, with a message naming -keep-inputs; the refused run writes
// nothing, and the storage goes on with -max-gap 300.
func TestEvolveExampleRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a binary")
	}
	bin, input, storage, output := exampleDirs(t)
	args := func(gap string) []string {
		return []string{"-input", input, "-output", output, "-storage", storage, "-append", "-max-gap", gap}
	}
	for _, run := range []string{"run1", "run2"} {
		copyFiles(t, "testdata/tutorial/"+run, input)
		if stderr, err := sessionsExample(t, bin, args("300")...); err != nil {
			t.Fatalf("%s: %v\n%s", run, err, stderr)
		}
	}
	old := sessionsOf(t, input, 300)
	n := len(readSink(t, output))
	written, err := os.ReadFile(output)
	if err != nil {
		t.Fatal(err)
	}
	copyFiles(t, "testdata/tutorial/run3", input)
	stderr, err := sessionsExample(t, bin, args("600")...)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("the change without -keep-inputs: %v, want exit status 1\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "-keep-inputs") {
		t.Fatalf("the refusal does not name -keep-inputs:\n%s", stderr)
	}
	t.Logf("refused:\n%s", lastLines(stderr, 2))
	if now, err := os.ReadFile(output); err != nil || !bytes.Equal(now, written) {
		t.Fatalf("the refused run changed the changelog (%v):\n%s\nwas\n%s", err, now, written)
	}
	// The storage goes on with the gap it was written with.
	if stderr, err := sessionsExample(t, bin, args("300")...); err != nil {
		t.Fatalf("-max-gap 300 after the refusal: %v\n%s", err, stderr)
	}
	all := readSink(t, output)
	lines := all[n:]
	if want := model.Diff(old, sessionsOf(t, input, 300)); !slices.Equal(signed(lines), want) {
		t.Fatalf("the run after the refusal appended %v, want %v", signed(lines), want)
	}
	if got, want := consolidated(t, all), sessionsOf(t, input, 300); !slices.Equal(got, want) {
		t.Fatalf("the changelog consolidates to %v, want %v", got, want)
	}
}

func linesString(lines []sinkLine) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("  " + l.row + " time " + itoa(int64(l.time)) + " diff " + itoa(l.diff) + "\n")
	}
	return b.String()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
