package pwlog_test

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/pwlog/pwlog/internal/gen"
)

// TestKillLoopOnObjectStores is TestKillLoop with the storage in each
// real object store: the example killed with SIGKILL at random moments
// and restarted until a run completes, over rounds of added files, in
// append mode. The changelog ends equal to the from-scratch result, every
// row exactly once, times in order.
func TestKillLoopOnObjectStores(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a binary")
	}
	bin := buildSessions(t)
	eachRemoteStore(t, func(t *testing.T, s objectStore, loc string, env []string) {
		dir := t.TempDir()
		input, output := filepath.Join(dir, "input"), filepath.Join(dir, "changelog.csv")
		os.Mkdir(input, 0o755)
		rng := rand.New(rand.NewPCG(43, 1))
		kills := 0
		for round := 0; round < 2; round++ {
			if _, err := gen.Write(input, gen.Spec{Seed: uint64(round), Rows: 40_000, Users: 1000, Files: 4, FirstFile: 4 * round}); err != nil {
				t.Fatal(err)
			}
			interval := "0"
			if round == 1 {
				interval = "20ms"
			}
			args := []string{"-input", input, "-output", output, "-storage", loc, "-append", "-snapshot-interval", interval,
				"-memory-limit", "1", "-block-size", "256"}
			kills += killUntilDone(t, rng, bin, args, loc)
		}
		checkKilledChangelog(t, kills, output, input)
	})
}
