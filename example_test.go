package pwlog_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pwlog/pwlog"
	"github.com/pwlog/pwlog/differential"
)

// The tutorial's pipeline, run twice on persistent storage: the second run
// emits only what the new file changes.
func Example() {
	dir, _ := os.MkdirTemp("", "pwlog-example")
	defer os.RemoveAll(dir)
	input := filepath.Join(dir, "input")
	os.Mkdir(input, 0o755)
	output := filepath.Join(dir, "sessions.csv")

	run := func() {
		p := pwlog.New()
		accesses := p.ReadCSV("accesses", input, pwlog.Schema{
			{Name: "user_id", Type: pwlog.TypeStr},
			{Name: "access_time", Type: pwlog.TypeInt},
		})
		accesses.
			WindowBy("sessions", pwlog.Session{Time: "access_time", Instance: []string{"user_id"}, MaxGap: 300}).
			Reduce("session_stats",
				pwlog.Out("user_id", pwlog.Col("user_id")),
				pwlog.Out("session_length", pwlog.Sub(pwlog.Max("access_time"), pwlog.Min("access_time"))),
				pwlog.Out("count", pwlog.Count()),
			).
			WriteCSV("output", output)
		err := p.Run(context.Background(), pwlog.Config{
			Backend: pwlog.Filesystem(filepath.Join(dir, "storage")),
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		printWithoutTime(output)
	}

	os.WriteFile(filepath.Join(input, "part_one.csv"), []byte("user_id,access_time\nalice,1701102730\nbob,1701102743\nbob,1701102774\n"), 0o644)
	run()
	os.WriteFile(filepath.Join(input, "part_two.csv"), []byte("user_id,access_time\nbob,1701102805\n"), 0o644)
	run()
	// Output:
	// user_id,session_length,count,diff
	// "alice",0,1,1
	// "bob",31,2,1
	// user_id,session_length,count,diff
	// "bob",31,2,-1
	// "bob",62,3,1
}

// printWithoutTime prints a sink file with its time column cut out, rows
// sorted, so that the output does not depend on the clock.
func printWithoutTime(path string) {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i, l := range lines {
		f := strings.Split(l, ",")
		lines[i] = strings.Join(append(f[:len(f)-2], f[len(f)-1]), ",")
	}
	slices.Sort(lines[1:])
	fmt.Println(strings.Join(lines, "\n"))
}

// A Go program feeds the pipeline and receives its output as values: the
// storage keeps the program's offsets, so after a restart Resume says
// where its input goes on, and the subscription gets only what is new.
func ExamplePipeline_ReadFeed() {
	dir, _ := os.MkdirTemp("", "pwlog-feed")
	defer os.RemoveAll(dir)
	payments := []struct {
		user   string
		amount int64
	}{{"alice", 10}, {"bob", 5}, {"alice", 7}, {"bob", 1}, {"carol", 3}}

	run := func(upTo int64) {
		p := pwlog.New()
		table, feed := p.ReadFeed("payments", pwlog.Schema{
			{Name: "user", Type: pwlog.TypeStr},
			{Name: "amount", Type: pwlog.TypeInt},
		})
		totals := map[string]int64{}
		table.GroupBy("user").
			Reduce("totals", pwlog.Out("user", pwlog.Col("user")), pwlog.Out("total", pwlog.Sum("amount"))).
			Subscribe("receiver", func(_ uint64, rows []pwlog.Update) error {
				for _, u := range rows { // called from the execution's goroutine
					if u.Diff > 0 {
						totals[u.Row[0].AsString()] = u.Row[1].AsInt()
					}
				}
				return nil
			})
		done := make(chan error, 1)
		go func() {
			done <- p.Run(context.Background(), pwlog.Config{
				Backend: pwlog.Filesystem(filepath.Join(dir, "storage")),
				Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
		}()
		resume, err := feed.Resume(context.Background())
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("resume after offset", resume["main"])
		for i := resume["main"] + 1; i <= upTo; i++ { // offsets are 1-based line numbers
			pay := payments[i-1]
			feed.Push("main", i, pwlog.Row{differential.String(pay.user), differential.Int(pay.amount)})
		}
		feed.Close() // Run returns once everything pushed is committed
		if err := <-done; err != nil {
			fmt.Println(err)
			return
		}
		for _, u := range slices.Sorted(maps.Keys(totals)) {
			fmt.Println(u, totals[u])
		}
	}
	run(3)
	run(5)
	// Output:
	// resume after offset 0
	// alice 17
	// bob 5
	// resume after offset 3
	// bob 6
	// carol 3
}
