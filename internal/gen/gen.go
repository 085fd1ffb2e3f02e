// Package gen writes seeded data sets of the persistence tutorial's shape:
// CSV files with header user_id,access_time, times in unix seconds.
package gen

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// Spec describes a data set.
type Spec struct {
	Seed  uint64
	Rows  int // total rows
	Users int
	Files int
	// Window is the span of access times of one file in seconds; file i
	// covers [Start+i*Window, Start+(i+1)*Window). Default 600.
	Window int64
	// Start is the first access time. Default 1701100000.
	Start int64
	// FirstFile numbers the files part_<FirstFile>.csv onwards, so that
	// later calls can add files after earlier ones.
	FirstFile int
}

// Write writes the data set's files into dir and returns their paths.
func Write(dir string, s Spec) ([]string, error) {
	if s.Window == 0 {
		s.Window = 600
	}
	if s.Start == 0 {
		s.Start = 1701100000
	}
	if s.Files <= 0 || s.Users <= 0 {
		return nil, fmt.Errorf("gen: need files and users, got %+v", s)
	}
	rng := rand.New(rand.NewPCG(s.Seed, uint64(s.FirstFile)))
	var paths []string
	for f := 0; f < s.Files; f++ {
		n := s.Rows / s.Files
		if f < s.Rows%s.Files {
			n++
		}
		idx := s.FirstFile + f
		path := filepath.Join(dir, fmt.Sprintf("part_%05d.csv", idx))
		if err := writeFile(path, rng, n, s.Users, s.Start+int64(idx)*s.Window, s.Window); err != nil {
			return nil, err
		}
		paths = append(paths, path)
	}
	return paths, nil
}

func writeFile(path string, rng *rand.Rand, rows, users int, start, window int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<16)
	w.WriteString("user_id,access_time\n")
	var buf []byte
	for i := 0; i < rows; i++ {
		buf = append(buf[:0], 'u')
		buf = strconv.AppendInt(buf, int64(rng.IntN(users)), 10)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, start+rng.Int64N(window), 10)
		buf = append(buf, '\n')
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
