package operators

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"github.com/pwlog/pwlog/differential"
)

var accessSchema = differential.Schema{
	{Name: "user_id", Type: differential.KindString},
	{Name: "access_time", Type: differential.KindInt},
}

func tutorialOps(t *testing.T, maxGap int64) (*SessionWindow, *Reduce) {
	t.Helper()
	sw, err := NewSessionWindow("sessions", accessSchema, "access_time", []string{"user_id"}, maxGap)
	if err != nil {
		t.Fatal(err)
	}
	red, err := NewReduce("stats", sw.Schema(), []string{"user_id", WindowStart, WindowEnd}, []Output{
		{"user_id", Col("user_id")},
		{"session_length", Sub(Max("access_time"), Min("access_time"))},
		{"session_start", Min("access_time")},
		{"session_finish", Max("access_time")},
		{"count", Count()},
	})
	if err != nil {
		t.Fatal(err)
	}
	return sw, red
}

type event struct {
	key  differential.Key
	user string
	t    int64
}

// modelSessions computes the sessions of the events from scratch, as
// "user,length,start,finish,count" strings.
func modelSessions(events []event, maxGap int64) []string {
	byUser := map[string][]int64{}
	for _, e := range events {
		byUser[e.user] = append(byUser[e.user], e.t)
	}
	var out []string
	for u, ts := range byUser {
		slices.Sort(ts)
		lo := 0
		for i := 1; i <= len(ts); i++ {
			if i == len(ts) || ts[i]-ts[i-1] >= maxGap {
				out = append(out, fmt.Sprintf("%s,%d,%d,%d,%d", u, ts[i-1]-ts[lo], ts[lo], ts[i-1], i-lo))
				lo = i
			}
		}
	}
	sort.Strings(out)
	return out
}

// accumulate folds output updates into a multiset of rows.
func accumulate(acc map[string]int64, us []differential.Update) {
	for _, u := range us {
		s := fmt.Sprintf("%s,%d,%d,%d,%d", u.Row[0].AsString(), u.Row[1].AsInt(), u.Row[2].AsInt(), u.Row[3].AsInt(), u.Row[4].AsInt())
		acc[s] += u.Diff
		if acc[s] == 0 {
			delete(acc, s)
		}
	}
}

func multiset(acc map[string]int64) ([]string, error) {
	var out []string
	for s, n := range acc {
		if n != 1 {
			return nil, fmt.Errorf("row %s has multiplicity %d", s, n)
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out, nil
}

func TestTutorialRuns(t *testing.T) {
	sw, red := tutorialOps(t, 300)
	ev := func(k int, user string, ts int64) differential.Update {
		return differential.Update{Key: differential.Key(k), Row: differential.Row{differential.String(user), differential.Int(ts)}, Diff: 1}
	}
	runs := [][]differential.Update{
		{ev(1, "alice", 1701102730), ev(2, "bob", 1701102743), ev(3, "alice", 1701103035), ev(4, "bob", 1701102774),
			ev(5, "bob", 1701102805), ev(15, "alice", 1701103037), ev(6, "alice", 1701103040), ev(7, "alice", 1701103331), ev(8, "alice", 1701103618)},
		{ev(9, "bob", 1701104640), ev(10, "bob", 1701104931), ev(11, "bob", 1701105218)},
		{ev(12, "alice", 1701103338), ev(13, "alice", 1701103629), ev(14, "alice", 1701103916)},
	}
	want := [][]string{
		{"+alice,0,1701102730,1701102730,1", "+alice,583,1701103035,1701103618,5", "+bob,62,1701102743,1701102805,3"},
		{"+bob,578,1701104640,1701105218,3"},
		{"+alice,881,1701103035,1701103916,8", "-alice,583,1701103035,1701103618,5"},
	}
	for i, in := range runs {
		mid, err := sw.Step(uint64(i+1), [][]differential.Update{differential.Consolidate(in)})
		if err != nil {
			t.Fatal(err)
		}
		out, err := red.Step(uint64(i+1), [][]differential.Update{differential.Consolidate(mid)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, u := range differential.Consolidate(out) {
			sign := "+"
			if u.Diff < 0 {
				sign = "-"
			}
			got = append(got, fmt.Sprintf("%s%s,%d,%d,%d,%d", sign, u.Row[0].AsString(), u.Row[1].AsInt(), u.Row[2].AsInt(), u.Row[3].AsInt(), u.Row[4].AsInt()))
		}
		sort.Strings(got)
		if !slices.Equal(got, want[i]) {
			t.Fatalf("run %d: got %v, want %v", i+1, got, want[i])
		}
	}
}

// TestSessionsMatchModel inserts and retracts random events over many
// steps; after each step the accumulated output must equal the sessions
// computed from scratch, and a replica rebuilt from the logged deltas
// must hold the same state.
func TestSessionsMatchModel(t *testing.T) {
	for seed := uint64(0); seed < 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		maxGap := int64(1 + rng.IntN(50))
		sw, red := tutorialOps(t, maxGap)
		replicaSW, replicaRed := tutorialOps(t, maxGap)
		var live []event
		acc := map[string]int64{}
		nextKey := 1
		for step := 0; step < 30; step++ {
			var in []differential.Update
			for i := rng.IntN(12); i > 0; i-- {
				if len(live) > 0 && rng.IntN(4) == 0 {
					j := rng.IntN(len(live))
					e := live[j]
					live = append(live[:j], live[j+1:]...)
					in = append(in, differential.Update{Key: e.key, Row: differential.Row{differential.String(e.user), differential.Int(e.t)}, Diff: -1})
					continue
				}
				e := event{key: differential.Key(nextKey), user: string(rune('a' + rng.IntN(3))), t: int64(rng.IntN(400))}
				nextKey++
				live = append(live, e)
				in = append(in, differential.Update{Key: e.key, Row: differential.Row{differential.String(e.user), differential.Int(e.t)}, Diff: 1})
			}
			mid, err := sw.Step(uint64(step), [][]differential.Update{differential.Consolidate(in)})
			if err != nil {
				t.Fatal(err)
			}
			out, err := red.Step(uint64(step), [][]differential.Update{differential.Consolidate(mid)})
			if err != nil {
				t.Fatal(err)
			}
			accumulate(acc, out)
			got, err := multiset(acc)
			if err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			if want := modelSessions(live, maxGap); !slices.Equal(got, want) {
				t.Fatalf("seed %d step %d: got %v, want %v", seed, step, got, want)
			}
			replicaSW.rows.Apply(sw.rows.TakeDeltas())
			replicaRed.rows.Apply(red.rows.TakeDeltas())
		}
		for _, pair := range [][2]*differential.Arrangement{{sw.rows, replicaSW.rows}, {red.rows, replicaRed.rows}} {
			a, b := pair[0].Snapshot(), pair[1].Snapshot()
			if !slices.Equal(a.Rows, b.Rows) || !slices.Equal(a.Keys, b.Keys) || !slices.Equal(a.Diffs, b.Diffs) || !slices.Equal(a.Groups, b.Groups) {
				t.Fatalf("seed %d: replica of %s differs", seed, pair[0].Name())
			}
		}
	}
}

func TestReduceSumAndFloat(t *testing.T) {
	schema := differential.Schema{{Name: "k", Type: differential.KindString}, {Name: "v", Type: differential.KindFloat}}
	red, err := NewReduce("r", schema, []string{"k"}, []Output{{"k", Col("k")}, {"s", Sum("v")}, {"d", Add(Count(), Max("v"))}})
	if err != nil {
		t.Fatal(err)
	}
	row := func(k string, v float64) differential.Row {
		return differential.Row{differential.String(k), differential.Float(v)}
	}
	out, err := red.Step(1, [][]differential.Update{{{Key: 1, Row: row("x", 1.5), Diff: 1}, {Key: 2, Row: row("x", 2), Diff: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Row[1].AsFloat() != 3.5 || out[0].Row[2].AsFloat() != 4 || out[0].Diff != 1 {
		t.Fatalf("got %v", out)
	}
	out, err = red.Step(2, [][]differential.Update{{{Key: 1, Row: row("x", 1.5), Diff: -1}, {Key: 2, Row: row("x", 2), Diff: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Diff != -1 {
		t.Fatalf("emptying the group: got %v, want one retraction", out)
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := NewSessionWindow("w", accessSchema, "user_id", nil, 10); err == nil {
		t.Error("string time column accepted")
	}
	if _, err := NewSessionWindow("w", accessSchema, "nope", nil, 10); err == nil {
		t.Error("missing time column accepted")
	}
	if _, err := NewSessionWindow("w", accessSchema, "access_time", nil, 0); err == nil {
		t.Error("zero max gap accepted")
	}
	if _, err := NewReduce("r", accessSchema, []string{"user_id"}, []Output{{"t", Col("access_time")}}); err == nil {
		t.Error("non-grouping column accepted")
	}
	if _, err := NewReduce("r", accessSchema, []string{"user_id"}, []Output{{"s", Sum("user_id")}}); err == nil {
		t.Error("sum of strings accepted")
	}
}
