// Package bench holds pwlog's benchmarks against the machine's limits and
// a peer storage engine (github.com/cockroachdb/pebble). It is a module of
// its own so that the library's dependencies stay lean: `make bench` runs
// its report (cmd/pwbench); nothing else imports it.
package bench
