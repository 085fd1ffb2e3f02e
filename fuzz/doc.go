// Package fuzz holds pwlog's cross-package property tests, in its test
// files: random pipelines built from every operator (random sources and
// schemas, expressions, reducers, windows, joins, dedup, UDFs), random
// input files over many executions, crashes at random filesystem
// operations and kills between them, and after every execution a
// from-scratch recomputation by a plain Go model of the same pipeline.
// Every execution's emitted diffs must equal the difference of the
// model's results before and after it, and the append-mode changelog
// must be exactly once. With the inputs kept (Config.KeepInputs), the
// pipeline changes between executions too (evolve_test.go: reducers,
// windows and filters changed, operators and sinks added, operators
// removed), and every execution's output is the difference of the
// model's results of the old pipeline and the new one, the change at
// the execution's first logical time.
//
// The generator and the model are organized by operator family: a family
// is one generator function (gen*, which draws an operator over the
// tables built so far and says what its output holds) returning a value
// whose build method adds it to a pwlog.Pipeline and whose model method
// computes its output from its inputs' rows. families lists them.
//
// go test runs a bounded number of cases (RAPID_CHECKS); `make fuzz` runs
// many from a printed seed (-rapid.seed). A failure prints rapid's seed
// and fail file to replay it.
package fuzz
