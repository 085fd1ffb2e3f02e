package compaction

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pwlog/pwlog/backend"
	"github.com/pwlog/pwlog/checkpoint"
	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/wal"
)

var arrA = ArrKey{Operator: "op", Arrangement: "a"}
var arrB = ArrKey{Operator: "op", Arrangement: "b"}

// randomFold returns a fold of random deltas to two arrangements, and
// applies them to the model.
func randomFold(rng *rand.Rand, lsn uint64, model map[ArrKey]map[string]int64) Fold {
	f := Fold{LSN: lsn, Clock: lsn * 10, Fingerprint: []string{"source s", "operator op"}, Meta: []byte(fmt.Sprint("meta", lsn)),
		Deltas: map[ArrKey]*differential.Deltas{}}
	for _, k := range []ArrKey{arrA, arrB} {
		if rng.IntN(4) == 0 {
			continue
		}
		d := &differential.Deltas{}
		for i := rng.IntN(40); i > 0; i-- {
			g, key, row := fmt.Sprint("g", rng.IntN(5)), differential.Key(rng.IntN(20)), fmt.Sprint("r", rng.IntN(3))
			diff := int64(rng.IntN(3) - 1)
			if diff == 0 {
				diff = 1
			}
			d.Groups = append(d.Groups, g)
			d.Keys = append(d.Keys, key)
			d.Rows = append(d.Rows, row)
			d.Diffs = append(d.Diffs, diff)
			if model[k] == nil {
				model[k] = map[string]int64{}
			}
			e := fmt.Sprintf("%s|%d|%s", g, key, row)
			model[k][e] += diff
			if model[k][e] == 0 {
				delete(model[k], e)
			}
		}
		f.Deltas[k] = d
	}
	return f
}

// loadState reads the latest manifest's state, arrangement by arrangement.
func loadState(t *testing.T, b backend.Backend) (*checkpoint.Manifest, map[ArrKey]map[string]int64) {
	t.Helper()
	ctx := context.Background()
	m, err := Latest(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	state := map[ArrKey]map[string]int64{}
	if m == nil {
		return nil, state
	}
	for _, r := range m.Runs {
		d, err := LoadRun(ctx, b, r)
		if err != nil {
			t.Fatal(err)
		}
		k := ArrKey{r.Operator, r.Arrangement}
		if state[k] == nil {
			state[k] = map[string]int64{}
		}
		for i := range d.Keys {
			e := fmt.Sprintf("%s|%d|%s", d.Groups[i], d.Keys[i], d.Rows[i])
			state[k][e] += d.Diffs[i]
			if state[k][e] == 0 {
				delete(state[k], e)
			}
		}
	}
	return m, state
}

func equalState(a, b map[ArrKey]map[string]int64) bool {
	for _, k := range []ArrKey{arrA, arrB} {
		if len(a[k]) != len(b[k]) {
			return false
		}
		for e, n := range a[k] {
			if b[k][e] != n {
				return false
			}
		}
	}
	return true
}

func cloneModel(m map[ArrKey]map[string]int64) map[ArrKey]map[string]int64 {
	out := map[ArrKey]map[string]int64{}
	for k, v := range m {
		out[k] = map[string]int64{}
		for e, n := range v {
			out[k][e] = n
		}
	}
	return out
}

// TestFoldsMatchModel applies many folds: the checkpoint always holds the
// model's state, runs stay few (geometric merging), and nothing unnamed
// by the manifest is left.
func TestFoldsMatchModel(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 1))
	b := backend.NewMem()
	c, err := Open(ctx, b, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	model := map[ArrKey]map[string]int64{}
	for lsn := uint64(1); lsn <= 200; lsn++ {
		if _, err := c.Apply(ctx, randomFold(rng, lsn, model)); err != nil {
			t.Fatal(err)
		}
		m, state := loadState(t, b)
		if m.LSN != lsn || string(m.Meta) != fmt.Sprint("meta", lsn) {
			t.Fatalf("manifest at LSN %d, meta %q", m.LSN, m.Meta)
		}
		if !equalState(state, model) {
			t.Fatalf("LSN %d: checkpoint state differs from the model", lsn)
		}
		perArr := map[ArrKey]int{}
		for _, r := range m.Runs {
			perArr[ArrKey{r.Operator, r.Arrangement}]++
		}
		for k, n := range perArr {
			if n > 10 {
				t.Fatalf("LSN %d: %v has %d runs: merging is not geometric", lsn, k, n)
			}
		}
		names, _ := b.List(ctx, "")
		if len(names) != len(m.Runs)+1 {
			t.Fatalf("LSN %d: %d objects for %d runs and one manifest: %v", lsn, len(names), len(m.Runs), names)
		}
	}
}

// TestCrashAtEveryOperation fails the k-th backend operation of a
// compaction, for every k, as a crash would stop it there. The storage
// must then open to the old state or the new one, whole, and the next
// compaction must succeed and leave no orphans.
func TestCrashAtEveryOperation(t *testing.T) {
	ctx := context.Background()
	for k := 0; ; k++ {
		rng := rand.New(rand.NewPCG(7, 7))
		b := backend.NewMem()
		c, err := Open(ctx, b, nil, &Options{MergeRatio: 4})
		if err != nil {
			t.Fatal(err)
		}
		model := map[ArrKey]map[string]int64{}
		for lsn := uint64(1); lsn <= 6; lsn++ {
			if _, err := c.Apply(ctx, randomFold(rng, lsn, model)); err != nil {
				t.Fatal(err)
			}
		}
		before := cloneModel(model)
		f := randomFold(rng, 7, model)
		ops := 0
		crash := errors.New("crash")
		b.SetFail(func(op, name string) error {
			if op == "get" || op == "list" || op == "size" {
				return nil
			}
			ops++
			if ops == k+1 {
				return crash
			}
			return nil
		})
		_, err = c.Apply(ctx, f)
		b.SetFail(nil)
		if err == nil {
			if k == 0 {
				t.Fatal("a compaction did no write")
			}
			t.Logf("crashed at each of %d writes of a compaction", k)
			return
		}
		if !errors.Is(err, crash) {
			t.Fatalf("k=%d: %v", k, err)
		}
		// "Restart": a new compactor over what the backend holds.
		m, state := loadState(t, b)
		switch m.LSN {
		case 6:
			if !equalState(state, before) {
				t.Fatalf("k=%d: old manifest in force but state differs", k)
			}
		case 7:
			if !equalState(state, model) {
				t.Fatalf("k=%d: new manifest in force but state differs", k)
			}
		default:
			t.Fatalf("k=%d: manifest at LSN %d", k, m.LSN)
		}
		c2, err := Open(ctx, b, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m.LSN == 6 {
			model = cloneModel(before)
		}
		f = randomFold(rand.New(rand.NewPCG(9, uint64(k))), 8, model)
		if _, err := c2.Apply(ctx, f); err != nil {
			t.Fatalf("k=%d: compaction after the crash: %v", k, err)
		}
		m, state = loadState(t, b)
		if !equalState(state, model) {
			t.Fatalf("k=%d: state after recovery differs", k)
		}
		names, _ := b.List(ctx, "")
		if len(names) != len(m.Runs)+1 {
			t.Fatalf("k=%d: orphans left: %v", k, names)
		}
		if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "MANIFEST-") }) {
			t.Fatalf("k=%d: no manifest", k)
		}
	}
}

func TestFoldBehindCheckpointRefused(t *testing.T) {
	ctx := context.Background()
	b := backend.NewMem()
	c, _ := Open(ctx, b, nil, nil)
	model := map[ArrKey]map[string]int64{}
	rng := rand.New(rand.NewPCG(3, 3))
	if _, err := c.Apply(ctx, randomFold(rng, 10, model)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(ctx, randomFold(rng, 5, model)); err == nil {
		t.Fatal("a fold behind the checkpoint was accepted")
	}
}

// TestBaseReplacesRuns: a fold with a base state replaces every run of
// its arrangement, and later folds build on it.
func TestBaseReplacesRuns(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(2, 2))
	b := backend.NewMem()
	c, _ := Open(ctx, b, nil, nil)
	model := map[ArrKey]map[string]int64{}
	for lsn := uint64(1); lsn <= 5; lsn++ {
		if _, err := c.Apply(ctx, randomFold(rng, lsn, model)); err != nil {
			t.Fatal(err)
		}
	}
	// The base of arrA: the model's state of it, as a snapshot would be.
	a := differential.NewArrangement("a", nil)
	for e, n := range model[arrA] {
		var g, row string
		var key int
		fmt.Sscanf(strings.ReplaceAll(e, "|", " "), "%s %d %s", &g, &key, &row)
		a.Apply(differential.Deltas{Groups: []string{g}, Keys: []differential.Key{differential.Key(key)}, Rows: []string{row}, Diffs: []int64{n}})
	}
	f := randomFold(rng, 6, map[ArrKey]map[string]int64{}) // its arrA deltas must be ignored
	f.Base = map[ArrKey]differential.Deltas{arrA: a.Snapshot()}
	f.Deltas[arrB] = nil
	if _, err := c.Apply(ctx, f); err != nil {
		t.Fatal(err)
	}
	m, state := loadState(t, b)
	runsA := 0
	for _, r := range m.Runs {
		if r.Operator == arrA.Operator && r.Arrangement == arrA.Arrangement {
			runsA++
		}
	}
	if runsA != 1 {
		t.Fatalf("arrA has %d runs after a base, want 1", runsA)
	}
	if !equalState(state, model) {
		t.Fatal("state after a base differs from the model")
	}
	if _, err := c.Apply(ctx, randomFold(rng, 7, model)); err != nil {
		t.Fatal(err)
	}
	if _, state := loadState(t, b); !equalState(state, model) {
		t.Fatal("state after a fold on a base differs from the model")
	}
}

// TestPublishWaitsForTheLog: with group commit the fold's last records
// may be written and not synced; the manifest that covers them is
// published only once they are durable, or a crash would leave a
// checkpoint ahead of the log.
func TestPublishWaitsForTheLog(t *testing.T) {
	ctx := context.Background()
	log, err := wal.Open(t.TempDir(), &wal.Options{SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	lsn, err := log.Append([]wal.Record{{Kind: wal.KindCommit, Data: []byte("commit")}})
	if err != nil {
		t.Fatal(err)
	}
	if d := log.DurableLSN(); d >= lsn {
		t.Fatalf("the log is durable up to %d before any sync; the test needs it behind %d", d, lsn)
	}
	c, err := Open(ctx, backend.NewMem(), log, nil)
	if err != nil {
		t.Fatal(err)
	}
	model := map[ArrKey]map[string]int64{}
	if _, err := c.Apply(ctx, randomFold(rand.New(rand.NewPCG(4, 4)), lsn, model)); err != nil {
		t.Fatal(err)
	}
	if d := log.DurableLSN(); d < lsn {
		t.Fatalf("manifest published at LSN %d while the log is durable only up to %d", lsn, d)
	}
}

// TestFenceStopsAnEarlierWriter: once a second compactor of the storage
// has fenced the manifests, the first can neither publish nor collect,
// and every run the fence's manifest names stays.
func TestFenceStopsAnEarlierWriter(t *testing.T) {
	ctx := context.Background()
	b := backend.NewMem()
	rng := rand.New(rand.NewPCG(5, 5))
	model := map[ArrKey]map[string]int64{}
	old, _ := Open(ctx, b, nil, nil)
	for lsn := uint64(1); lsn <= 3; lsn++ {
		if _, err := old.Apply(ctx, randomFold(rng, lsn, model)); err != nil {
			t.Fatal(err)
		}
	}
	newer, _ := Open(ctx, b, nil, nil)
	if err := newer.Fence(ctx); err != nil {
		t.Fatal(err)
	}
	if newer.Manifest().Seq != old.Manifest().Seq+1 {
		t.Fatalf("fence published manifest %d after %d", newer.Manifest().Seq, old.Manifest().Seq)
	}
	// The earlier writer's next compaction is refused at its publication.
	if _, err := old.Apply(ctx, randomFold(rng, 4, cloneModel(model))); !errors.Is(err, backend.ErrExist) {
		t.Fatalf("the fenced writer's compaction: %v, want ErrExist", err)
	}
	// Its collection deletes nothing: the newer writer's runs, written
	// after the fence, and the fence's manifest stay.
	if _, err := newer.Apply(ctx, randomFold(rng, 5, model)); err != nil {
		t.Fatal(err)
	}
	before := len(b.Objects())
	if n, err := old.Collect(ctx); err != nil || n != 0 {
		t.Fatalf("the fenced writer's collect deleted %d objects, %v", n, err)
	}
	if len(b.Objects()) != before {
		t.Fatal("the fenced writer's collect deleted objects")
	}
	m, state := loadState(t, b)
	if m.Seq != newer.Manifest().Seq || !equalState(state, model) {
		t.Fatalf("manifest %d, state %v; want manifest %d, state %v", m.Seq, state, newer.Manifest().Seq, model)
	}
	// A fence that loses its race publishes after the winner.
	third, _ := Open(ctx, b, nil, nil)
	fourth, _ := Open(ctx, b, nil, nil)
	if err := third.Fence(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fourth.Fence(ctx); err != nil || fourth.Manifest().Seq != third.Manifest().Seq+1 {
		t.Fatalf("the second fence: %v, manifest %d after %d", err, fourth.Manifest().Seq, third.Manifest().Seq)
	}
}
