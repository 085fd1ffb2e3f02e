// Command gendata writes a seeded data set of the tutorial's shape.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/pwlog/pwlog/internal/gen"
)

func main() {
	var s gen.Spec
	dir := flag.String("dir", "", "output directory (created)")
	flag.Uint64Var(&s.Seed, "seed", 1, "random seed")
	flag.IntVar(&s.Rows, "rows", 1_000_000, "rows in all")
	flag.IntVar(&s.Users, "users", 10_000, "distinct users")
	flag.IntVar(&s.Files, "files", 100, "files")
	flag.IntVar(&s.FirstFile, "first", 0, "number of the first file")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "gendata: -dir is required")
		os.Exit(2)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
	if _, err := gen.Write(*dir, s); err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}
