//go:build !unix

package main

import "os"

// peakRSS returns 0: the rusage of an exited process holds no peak
// resident set size here.
func peakRSS(*os.ProcessState) int64 { return 0 }

// ownPeakRSS returns 0: no high-water mark of this process is read here.
func ownPeakRSS() int64 { return 0 }
