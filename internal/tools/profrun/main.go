// Command profrun runs the tutorial pipeline under the CPU profiler.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"

	"github.com/pwlog/pwlog"
)

func main() {
	input := flag.String("input", "", "input dir")
	storage := flag.String("storage", "", "storage dir")
	prof := flag.String("cpuprofile", "cpu.prof", "profile file")
	flag.Parse()
	p := pwlog.New()
	p.ReadCSV("accesses", *input, pwlog.Schema{{Name: "user_id", Type: pwlog.TypeStr}, {Name: "access_time", Type: pwlog.TypeInt}}).
		WindowBy("sessions", pwlog.Session{Time: "access_time", Instance: []string{"user_id"}, MaxGap: 300}).
		Reduce("session_stats",
			pwlog.Out("user_id", pwlog.Col("user_id")),
			pwlog.Out("session_length", pwlog.Sub(pwlog.Max("access_time"), pwlog.Min("access_time"))),
			pwlog.Out("session_start", pwlog.Min("access_time")),
			pwlog.Out("session_finish", pwlog.Max("access_time")),
			pwlog.Out("count", pwlog.Count())).
		WriteCSV("output", os.DevNull)
	f, _ := os.Create(*prof)
	pprof.StartCPUProfile(f)
	cfg := pwlog.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if *storage != "" {
		cfg.Backend = pwlog.Filesystem(*storage)
	}
	err := p.Run(context.Background(), cfg)
	pprof.StopCPUProfile()
	if err != nil {
		fmt.Println(err)
	}
}
