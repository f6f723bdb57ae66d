#!/usr/bin/env bash
# Benchmarks grade aggregation on a generated tree of grade files.
#
# 1. Generates output/ with GRADES grade files (default 100,000: 4 models x
#    21 temperatures x about 1,190 prompts) and their answer files.
# 2. Times a plain Python scan (scripts/bench/baseline_scan.py: os.walk,
#    json.load, a regex on the name, mean per cell), median of PY_TRIALS runs.
# 3. Times heatmapd's full aggregation (aggregate::snapshot, which also
#    writes every summary file), median of TRIALS runs.
#    Then reports the CPU time of one more run of each.
# 4. Times the watcher: from the rename of one new grade to the rewrite of
#    heatmap_live.csv, median of WATCH_TRIALS trials.
#
# Usage: scripts/bench-aggregate.sh [WORK_DIR]
# Environment: GRADES, TRIALS (default 5), PY_TRIALS (default 3),
# WATCH_TRIALS (default 9). The tree is removed afterwards unless WORK_DIR
# is given.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
grades=${GRADES:-100000}
trials=${TRIALS:-5}
py_trials=${PY_TRIALS:-3}
watch_trials=${WATCH_TRIALS:-9}

if [[ $# -ge 1 ]]; then
    work=$1
    mkdir -p "$work"
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/heatmap-bench.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi
output="$work/output"

echo "building the benchmark programs (release)..."
(cd "$root" && cargo build --quiet --release -p heatmapd --example aggregate_bench --example watch_bench)
examples="$root/target/release/examples"

if [[ ! -d "$output" ]]; then
    echo "generating $grades grade files in $output..."
    python3 "$root/scripts/bench/gen_tree.py" "$output" --grades "$grades"
    sync
fi

median() {
    sort -n | awk '{ values[NR] = $1 } END { print values[int((NR + 1) / 2)] }'
}

echo "python baseline, $py_trials runs..."
python_ms=$(for _ in $(seq "$py_trials"); do python3 "$root/scripts/bench/baseline_scan.py" "$output" 2>/dev/null; done | median)

echo "heatmapd aggregate::snapshot, $trials runs..."
rust_ms=$("$examples/aggregate_bench" "$output" "$trials" 2>/dev/null | tail -n 1)

# CPU seconds (user + system) of one more run each: less sensitive than wall
# time to other processes competing for the cores.
cpu_seconds() {
    local TIMEFORMAT='%U %S'
    { time "$@" >/dev/null 2>&1; } 2>&1 | awk '{ printf "%.2f", $1 + $2 }'
}
echo "CPU time of one more run each..."
python_cpu=$(cpu_seconds python3 "$root/scripts/bench/baseline_scan.py" "$output")
rust_cpu=$(cpu_seconds "$examples/aggregate_bench" "$output" 1)

echo "watcher latency, $watch_trials trials..."
watch_ms=$("$examples/watch_bench" "$output" "$watch_trials" 2>/dev/null | tail -n 1)

ratio=$(awk -v py="$python_ms" -v rs="$rust_ms" 'BEGIN { printf "%.1f", py / rs }')
echo
echo "grade files:                          $grades"
echo "python scan (median):                 $python_ms ms"
echo "heatmapd full aggregation (median):   $rust_ms ms"
echo "speed-up:                             ${ratio}x"
echo "CPU time, python / heatmapd:          $python_cpu s / $rust_cpu s"
echo "heatmap_live.csv after a rename:      $watch_ms ms (median)"
