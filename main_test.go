package pwlog_test

import (
	"os"
	"testing"
)

// The root package's tests are black-box: they drive pwlog through its
// public API, the tools (package tool) and the storage on disk; what the
// public API does not show comes through the few hooks of export_test.go.
//
//	tutorial_test.go      the tutorial's runs, fresh and append mode
//	retract_test.go       changed and deleted input files
//	badinput_test.go      bad rows, the storage lock, bad pipelines
//	fingerprint_test.go   a changed pipeline is refused
//	checkpoint_test.go    compaction in the background, by time, stopped
//	tools_test.go         what inspect, dump, verify and compact see
//	crash_test.go         crashes at every operation
//	crash_kit_test.go     the crash kit: crash scenarios, recovery checks (internal/crashkit)
//	fault_test.go         a failed write with the process living on
//	damage_test.go        every file damaged: reported, never wrong rows
//	corruption_test.go    bit flips and bad records a checksum passes
//	kill_test.go          the built example killed with SIGKILL
//	stream_test.go        streaming executions: appends, new files, watch, poll
//	kill_stream_test.go   the built example streaming a growing input, killed
//	crash_stream_test.go  crash images of streaming executions
//	stream_kit_test.go    the streaming kit: a writer growing files in pieces
//	stream_groupcommit_test.go  group commit's last times reach a quiet stream's sinks
//	longrun_test.go       an hour of rotating input: storage and restart work flat
//	stream_idle_test.go   an idle streaming pipeline appends nothing
//	stream_bench_test.go  streaming figures: latency, idle CPU, long run, throughput
//	vanish_test.go        a file deleted between listing and reading
//	cancel_retract_test.go  retractions queued at a cancellation are committed
//	source_prop_test.go   the CSV source over random writes (rapid), static and streaming
//	connector_test.go     Feed, Subscribe, users' sources and sinks
//	jsonl_test.go         the JSON Lines source across executions and streaming
//	membound_test.go      a state many times Config.MemoryLimit: right output, memory bounded
//	upgrade_test.go       a storage of format 1 refused, upgraded by Compact, crash-safe
//	agree_test.go         the four readers of a storage agree on what it commits
//	modes_test.go         every persistence mode and snapshot access against a model, across runs and crashes
//
// config_test.go (package pwlog) checks Config's defaults. Tests marked
// tiny (helpers_test.go tinyState) run with checkpoint blocks of a few
// entries and a memory bound of a byte, so groups are read from the
// checkpoint's runs all the time.
//
// `make fuzz` runs the crash, fault and damage tests long. The model
// test, the crash state machine and the restart test over random
// pipelines are package fuzz's.

// TestMain removes the binaries kill_test.go builds.
func TestMain(m *testing.M) {
	code := m.Run()
	binDirs.Range(func(dir, _ any) bool {
		os.RemoveAll(dir.(string))
		return true
	})
	os.Exit(code)
}
