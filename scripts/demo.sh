#!/usr/bin/env bash
# The persistence tutorial's four runs: files are added to the input
# directory between runs; each run emits only the new deltas. Then
# `pwlog inspect` shows the storage the runs made.
set -euo pipefail
bin=${1:-bin/sessions}
pwlog=${2:-bin/pwlog}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/pwlog-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/input"
for run in 1 2 3 4; do
  if [ -d "$here/testdata/tutorial/run$run" ]; then
    cp "$here/testdata/tutorial/run$run"/*.csv "$work/input/"
  fi
  echo "== run $run: input files: $(cd "$work/input" && ls | tr '\n' ' ')"
  "$bin" -input "$work/input" -output "$work/sessions.csv" -storage "$work/storage" 2>"$work/log"
  sed 's/^/   log: /' "$work/log" | grep -E 'checkpoint|snapshot|frontier|finished|Compacted' || true
  echo "-- output of run $run:"
  cat "$work/sessions.csv"
  echo
done
echo "== pwlog inspect of the storage"
"$pwlog" inspect "$work/storage" | sed "s|$work|\$WORK|g"
