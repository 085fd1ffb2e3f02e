package sources_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pwlog/pwlog/differential"
	"github.com/pwlog/pwlog/sources"
)

// A source reads new rows only: the states of one run are the offsets of
// the next.
func ExampleCSVDir() {
	dir, _ := os.MkdirTemp("", "input")
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "part_one.csv"), []byte("user_id,access_time\nalice,1701102730\n"), 0o644)

	src := &sources.CSVDir{Name: "access", Dir: dir, Schema: differential.Schema{
		{Name: "user_id", Type: differential.KindString},
		{Name: "access_time", Type: differential.KindInt},
	}}
	offsets := map[string]sources.FileState{}
	run := func() {
		r, err := src.Open(offsets)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer r.Close()
		for {
			rows, states, err := r.Next(1000)
			if err == io.EOF {
				return
			}
			if err != nil {
				fmt.Println(err)
				return
			}
			for _, u := range rows {
				fmt.Println(u.Row[0], u.Row[1], u.Diff)
			}
			for _, st := range states {
				offsets[st.Path] = st
			}
		}
	}
	run()
	os.WriteFile(filepath.Join(dir, "part_two.csv"), []byte("user_id,access_time\nbob,1701102743\n"), 0o644)
	run()
	// Output:
	// alice 1701102730 1
	// bob 1701102743 1
}

// An append-mode sink recovers its changelog: the last time in the file is
// cut and must be written again.
func ExampleOpenCSVSink() {
	dir, _ := os.MkdirTemp("", "output")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sessions.csv")
	row := func(user string, n int64) differential.Update {
		return differential.Update{Row: differential.Row{differential.String(user), differential.Int(n)}, Diff: 1}
	}
	s, resume, _ := sources.OpenCSVSink(path, []string{"user_id", "count"}, true, 0)
	fmt.Println("resume", resume)
	s.Write(1000, []differential.Update{row("bob", 3)})
	s.Write(2000, []differential.Update{row("alice", 5)})
	s.Close()

	s, resume, _ = sources.OpenCSVSink(path, []string{"user_id", "count"}, true, 0)
	fmt.Println("resume", resume)
	s.Write(2000, []differential.Update{row("alice", 5)})
	s.Close()
	b, _ := os.ReadFile(path)
	fmt.Print(string(b))
	// Output:
	// resume 0
	// resume 2000
	// user_id,count,time,diff
	// "bob",3,1000,1
	// "alice",5,2000,1
}
