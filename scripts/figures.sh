#!/usr/bin/env bash
# Figures of a tutorial-shaped data set (seeded: 1M rows, 10k users, 100
# files): full run without and with storage, rerun after a 1000-row file,
# peak RSS (GNU time's %M) and storage bytes. Usage: scripts/figures.sh [ROWS]
set -euo pipefail
rows=${1:-1000000}
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
go build -o bin/sessions ./examples/sessions
go build -o bin/gendata ./internal/tools/gendata
work=$(mktemp -d "${TMPDIR:-/tmp}/pwlog-figures.XXXXXX")
trap 'rm -rf "$work"' EXIT
bin/gendata -dir "$work/input" -rows "$rows" -users 10000 -files 100 -seed 1
measure() { # name, command...
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" 2>"$work/log"
  read -r secs kb <"$work/time"
  printf '| %-34s | %8.2f s | %8.1f MiB |\n' "$name" "$secs" "$(awk -v k="$kb" 'BEGIN{print k/1024}')"
}
echo "| run | wall | peak RSS |"
echo "|---|---|---|"
measure "full run, no storage" bin/sessions -input "$work/input" -output "$work/a.csv"
measure "full run, storage (fsync/commit)" bin/sessions -input "$work/input" -output "$work/b.csv" -storage "$work/storage"
bin/gendata -dir "$work/input" -rows 1000 -users 10000 -files 1 -first 100 -seed 2
measure "rerun after a 1000-row file" bin/sessions -input "$work/input" -output "$work/c.csv" -storage "$work/storage"
grep -E 'snapshot|Run finished' "$work/log" | sed 's/^/    /'
echo
echo "input bytes:   $(du -sb "$work/input" | cut -f1)"
echo "storage bytes: $(du -sb "$work/storage" | cut -f1)"
echo "rows emitted by the rerun: $(($(wc -l <"$work/c.csv") - 1))"
