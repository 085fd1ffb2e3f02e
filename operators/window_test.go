package operators

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/pwlog/pwlog/differential"
	"pgregory.net/rapid"
)

var windowSchema = differential.Schema{
	{Name: "user", Type: differential.KindString},
	{Name: "ts", Type: differential.KindInt},
}

// modelWindows lists the starts s = origin + k*hop, s <= t < s+duration,
// by walking k over a range wide enough to hold them.
func modelWindows(t, duration, hop, origin int64) []int64 {
	var out []int64
	k0 := (t-origin)/hop - duration/hop - 2
	for k := k0; k <= k0+duration/hop+5; k++ {
		s := origin + k*hop
		if s <= t && t < s+duration {
			out = append(out, s)
		}
	}
	return out
}

func TestWindowAssignment(t *testing.T) {
	cases := []struct {
		duration, hop, origin, t int64
		want                     []int64
	}{
		// Tumbling.
		{10, 10, 0, 0, []int64{0}},
		{10, 10, 0, 9, []int64{0}},
		{10, 10, 0, 10, []int64{10}},
		{10, 10, 0, -1, []int64{-10}},
		{10, 10, 0, -10, []int64{-10}},
		{10, 10, 0, -11, []int64{-20}},
		{10, 10, 3, 2, []int64{-7}},
		{10, 10, 3, 3, []int64{3}},
		{10, 10, -3, -4, []int64{-13}},
		// Sliding, hop < duration: every window holding t.
		{10, 3, 0, 7, []int64{0, 3, 6}},
		{10, 3, 0, 9, []int64{0, 3, 6, 9}},
		{10, 3, 0, -1, []int64{-9, -6, -3}},
		{10, 5, 1, 1, []int64{-4, 1}},
		// Sliding, hop > duration: gaps between windows.
		{3, 10, 0, 2, []int64{0}},
		{3, 10, 0, 3, nil},
		{3, 10, 0, 9, nil},
		{3, 10, 0, 10, []int64{10}},
		{3, 10, 5, 4, nil},
		{3, 10, 5, -4, []int64{-5}},
	}
	for _, c := range cases {
		op, err := NewSlidingWindow("w", windowSchema, "ts", nil, c.duration, c.hop, c.origin)
		if err != nil {
			t.Fatal(err)
		}
		got, err := op.Windows(nil, c.t)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("duration %d hop %d origin %d: time %d in windows starting %v, want %v", c.duration, c.hop, c.origin, c.t, got, c.want)
		}
	}
}

// TestWindowAssignmentMatchesModel checks the assignment against a walk
// over every k near t, for random durations, hops, origins and times.
func TestWindowAssignmentMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		duration := rapid.Int64Range(1, 50).Draw(t, "duration")
		hop := rapid.Int64Range(1, 50).Draw(t, "hop")
		origin := rapid.Int64Range(-1000, 1000).Draw(t, "origin")
		ts := rapid.Int64Range(-100000, 100000).Draw(t, "t")
		op, err := NewSlidingWindow("w", windowSchema, "ts", nil, duration, hop, origin)
		if err != nil {
			t.Fatal(err)
		}
		got, err := op.Windows(nil, ts)
		if err != nil {
			t.Fatal(err)
		}
		if want := modelWindows(ts, duration, hop, origin); !slices.Equal(got, want) {
			t.Fatalf("time %d in %v, want %v", ts, got, want)
		}
	})
}

func TestWindowExtremes(t *testing.T) {
	op, err := NewTumblingWindow("w", windowSchema, "ts", nil, 10, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := op.Windows(nil, math.MaxInt64); err == nil || !strings.Contains(err.Error(), `tumbling_window "w"`) {
		t.Errorf("a window ending after the largest int: %v", err)
	}
	got, err := op.Windows(nil, math.MinInt64+5)
	if err == nil {
		t.Errorf("a window starting before the smallest int: %v", got)
	}
	got, err = op.Windows(nil, math.MaxInt64-8)
	if err != nil || len(got) != 1 || got[0] != math.MaxInt64-7-10 {
		t.Errorf("near the largest int: %v %v", got, err)
	}
}

func TestWindowStep(t *testing.T) {
	op, err := NewSlidingWindow("w", windowSchema, "ts", []string{"user"}, 10, 5, 0)
	if err != nil {
		t.Fatal(err)
	}
	in := []differential.Update{
		{Key: 1, Row: differential.Row{differential.String("a"), differential.Int(12)}, Diff: 2},
		{Key: 2, Row: differential.Row{differential.String("b"), differential.Null()}, Diff: 1},
		{Key: 3, Row: differential.Row{differential.String("c"), differential.Int(-3)}, Diff: -1},
	}
	out, err := op.Step(7, [][]differential.Update{in})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	keys := map[differential.Key]bool{}
	for _, u := range out {
		got = append(got, fmt.Sprintf("%s,%d,%d,%d x%d @%d", u.Row[0].AsString(), u.Row[1].AsInt(), u.Row[2].AsInt(), u.Row[3].AsInt(), u.Diff, u.Time))
		keys[u.Key] = true
	}
	want := []string{"a,12,5,15 x2 @7", "a,12,10,20 x2 @7", "c,-3,-10,0 x-1 @7", "c,-3,-5,5 x-1 @7"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if len(keys) != 4 {
		t.Errorf("%d distinct keys for 4 rows", len(keys))
	}
	h := differential.NewHasher("w")
	h.Uint64(1)
	h.Uint64(5)
	if out[0].Key != h.Key() {
		t.Errorf("key %d, want hash(name, input key, start) %d", out[0].Key, h.Key())
	}
	if got := strings.Join(op.Schema().Names(), ","); got != "user,ts,_pw_window_start,_pw_window_end" {
		t.Errorf("columns %s", got)
	}
	if op.Kind() != "sliding_window" || op.Describe() != "sliding_window(time=ts, instance=[user], duration=10, hop=5, origin=0)" {
		t.Errorf("kind %s, description %s", op.Kind(), op.Describe())
	}
}

func TestWindowBuildErrors(t *testing.T) {
	withStart := append(slices.Clone(windowSchema), differential.Column{Name: WindowStart, Type: differential.KindInt})
	cases := []struct {
		err  error
		want string
	}{
		{second(NewTumblingWindow("w", windowSchema, "ts", nil, 0, 0)), "duration must be positive"},
		{second(NewSlidingWindow("w", windowSchema, "ts", nil, 10, -1, 0)), "hop must be positive"},
		{second(NewTumblingWindow("w", windowSchema, "user", nil, 10, 0)), `time column "user" is str, want int`},
		{second(NewTumblingWindow("w", windowSchema, "x", nil, 10, 0)), `no time column "x"`},
		{second(NewTumblingWindow("w", windowSchema, "ts", []string{"y"}, 10, 0)), `no instance column "y"`},
		{second(NewTumblingWindow("w", windowSchema, "ts", []string{"ts"}, 10, 0)), "cannot be an instance column"},
		{second(NewTumblingWindow("w", withStart, "ts", nil, 10, 0)), `already has a column "_pw_window_start"`},
	}
	for _, c := range cases {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) || !strings.Contains(c.err.Error(), `window "w"`) {
			t.Errorf("error %v, want one naming the window and saying %q", c.err, c.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }
