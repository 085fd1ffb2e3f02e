package pwlog

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/pwlog/pwlog/internal/gen"
	"github.com/pwlog/pwlog/internal/model"
)

// TestKillLoop runs the built examples/sessions in append mode, killing
// it with SIGKILL at random moments and restarting it until a run
// completes, over several rounds of added files. The changelog must end
// equal to the from-scratch result, with every row exactly once and times
// in order (a time emitted twice would break both).
func TestKillLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a binary")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "sessions")
	if out, err := exec.Command("go", "build", "-o", bin, "./examples/sessions").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	input, storage := filepath.Join(dir, "input"), filepath.Join(dir, "storage")
	output := filepath.Join(dir, "changelog.csv")
	os.Mkdir(input, 0o755)
	rng := rand.New(rand.NewPCG(42, 1))
	kills := 0
	for round := 0; round < 3; round++ {
		if _, err := gen.Write(input, gen.Spec{Seed: uint64(round), Rows: 100_000, Users: 2000, Files: 4, FirstFile: 4 * round}); err != nil {
			t.Fatal(err)
		}
		interval := "0"
		if round == 1 {
			interval = "20ms"
		}
		for attempt := 0; ; attempt++ {
			if attempt > 50 {
				t.Fatalf("round %d: no run completed in 50 attempts", round)
			}
			cmd := exec.Command(bin, "-input", input, "-output", output, "-storage", storage, "-append", "-snapshot-interval", interval)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			// Kill the first attempts at random moments, then let a run
			// finish now and then.
			delay := time.Duration(rng.IntN(400)) * time.Millisecond
			if attempt >= 4 && rng.IntN(3) == 0 {
				delay = time.Minute
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("round %d attempt %d: %v", round, attempt, err)
				}
			case <-time.After(delay):
				cmd.Process.Signal(syscall.SIGKILL)
				if err := <-done; err == nil {
					// It finished just before the signal.
					break
				}
				kills++
				continue
			}
			break
		}
	}
	if kills < 3 {
		t.Fatalf("only %d runs were killed: the test proved too little", kills)
	}
	lines := readSink(t, output)
	for i := 1; i < len(lines); i++ {
		if lines[i].time < lines[i-1].time {
			t.Fatalf("line %d: time %d after %d", i+2, lines[i].time, lines[i-1].time)
		}
	}
	acc, err := model.Accesses(input)
	if err != nil {
		t.Fatal(err)
	}
	want := model.Strings(model.Sessions(acc, 300))
	if got := consolidated(t, lines); !slices.Equal(got, want) {
		t.Fatalf("after %d kills the changelog consolidates to %d rows, want %d", kills, len(got), len(want))
	}
	t.Logf("%d kills, %d changelog lines, %d sessions", kills, len(lines), len(want))
}
