#!/usr/bin/env bash
# Runs every benchmarks/bench_*.py; each prints its figures as ratios against a baseline measured in the same run.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
status=0
for bench in benchmarks/bench_*.py; do
  [ -e "$bench" ] || continue
  echo "=== $bench"
  .venv/bin/python "$bench" || status=1
done
exit $status
