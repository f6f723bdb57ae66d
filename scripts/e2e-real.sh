#!/usr/bin/env bash
# End-to-end test against a real llama-server: run a small quick-start job and
# check the heatmap CSV it writes.
#
# Usage: scripts/e2e-real.sh [--keep]
#
# Runs scripts/quickstart.sh with the provisioned Gemma 3 270M models (the
# cache of scripts/provision.sh is reused), prompts 1..16 and temperatures
# 0,0.5,1,1.5, in a new workspace. Then it checks the newest
# output/Summaries/heatmap_YYYYMMDD_HHMMSS.csv: the header is
# Model,0,0.5,1,1.5, there is exactly one row for each of the two models, and
# every cell is a number in [0, 1].
#
# Options:
#   --keep   keep the workspace after a passing run (it is always kept after
#            a failure)
#
# Environment:
#   HEATMAP_E2E_QUESTIONS  prompt range (default: 1..16)
#   HEATMAP_E2E_TIMEOUT    seconds before the quick start is stopped
#                          (default: 3300, within the 60 minutes this test
#                          is meant to take on a cold cache)
#   HEATMAP_CACHE          provisioning cache (see scripts/provision.sh)

set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly EXPECTED_HEADER="Model,0,0.5,1,1.5"
readonly EXPECTED_MODELS="gemma-3-270m-q2_k,gemma-3-270m-q4_k_m"

log() {
    printf '[e2e-real] %s\n' "$*" >&2
}

fail() {
    printf '[e2e-real] FAIL: %s\n' "$*" >&2
    exit 1
}

keep_workspace=false
case "${1:-}" in
    --keep) keep_workspace=true ;;
    -h | --help)
        awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
        exit 0
        ;;
    "") ;;
    *) fail "unknown argument '$1': run $0 --help" ;;
esac

questions="${HEATMAP_E2E_QUESTIONS:-1..16}"
timeout_seconds="${HEATMAP_E2E_TIMEOUT:-3300}"
started_at="$(date +%s)"
# A short path under /tmp keeps the socket path within the 107-byte limit.
workspace="$(mktemp -d "${TMPDIR:-/tmp}/heatmap-e2e.XXXXXX")"
log "workspace: $workspace"

# --no-ollama makes the quick start provision llama-server even where an
# Ollama runs, so the test always covers the same server and models.
quickstart_status=0
timeout --signal=TERM --kill-after=60 "$timeout_seconds" \
    "$SCRIPT_DIR/quickstart.sh" --no-ollama --workspace "$workspace" --questions "$questions" ||
    quickstart_status=$?
if ((quickstart_status == 124)); then
    fail "the quick start timed out after $timeout_seconds s. The workspace is kept at $workspace"
elif ((quickstart_status != 0)); then
    fail "the quick start exited with $quickstart_status. The workspace is kept at $workspace"
fi

summaries="$workspace/output/Summaries"
[[ -d "$summaries" ]] || fail "no $summaries directory after the job"
# A job's heatmap is heatmap_YYYYMMDD_HHMMSS.csv. The pattern leaves out
# heatmap_live.csv, heatmap_derivative_* and companions such as *_long.csv.
heatmap="$(find "$summaries" -maxdepth 1 -type f -regextype posix-extended \
    -regex '.*/heatmap_[0-9]{8}_[0-9]{6}\.csv' -printf '%T@ %p\n' |
    sort -n | tail -n 1 | cut -d ' ' -f 2-)"
[[ -n "$heatmap" ]] || fail "no heatmap_YYYYMMDD_HHMMSS.csv in $summaries (files: $(ls "$summaries" | tr '\n' ' '))"
log "checking $heatmap"

# The checker prints one line per problem and exits non-zero if there is any.
python3 - "$heatmap" "$EXPECTED_HEADER" "$EXPECTED_MODELS" <<'PYTHON' ||
import csv
import math
import sys

path, expected_header, expected_models = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
with open(path, newline="", encoding="utf-8-sig") as file:
    rows = [row for row in csv.reader(file) if row]
problems = []
if not rows:
    problems.append("the file is empty")
else:
    header, data = rows[0], rows[1:]
    if header != expected_header:
        problems.append(f"header is {','.join(header)}, expected {','.join(expected_header)}")
    names = sorted(row[0] for row in data)
    if names != sorted(expected_models):
        problems.append(f"data rows are for {names}, expected exactly one each for {sorted(expected_models)}")
    for line, row in enumerate(data, start=2):
        if len(row) != len(expected_header):
            problems.append(f"line {line} has {len(row)} cells, expected {len(expected_header)}")
        for column, cell in enumerate(row[1:], start=1):
            try:
                value = float(cell)
            except ValueError:
                problems.append(f"line {line}, column {column}: '{cell}' is not a number")
                continue
            if math.isnan(value) or not 0.0 <= value <= 1.0:
                problems.append(f"line {line}, column {column}: {cell} is outside [0, 1]")
for problem in problems:
    print(f"[e2e-real] {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
PYTHON
    fail "$heatmap is not a valid heatmap. The workspace is kept at $workspace"

# The snapshot's companions: the long CSV, category heatmaps, the derivative
# family written by the quick start, and the pictures.
stamp="$(basename "$heatmap" .csv)"
stamp="${stamp#heatmap_}"
id="$(python3 -c '
import json, sys
entries = json.load(open(sys.argv[1], encoding="utf-8"))
print(next(e["id"] for e in entries.values() if e["filename"] == sys.argv[2]))
' "$summaries/csv_index.json" "$(basename "$heatmap")")" ||
    fail "$(basename "$heatmap") is not registered in csv_index.json"
for expected in \
    "$summaries/heatmap_${stamp}_long.csv" \
    "$summaries/heatmap_derivative_$id.csv" \
    "$summaries/heatmap_pct_change_$id.csv" \
    "$summaries/heatmap_trends_$id.csv" \
    "$workspace/output/graphs/heatmap_$stamp.svg" \
    "$workspace/output/graphs/accuracy_$stamp.svg" \
    "$workspace/output/graphs/derivative_$id.svg" \
    "$workspace/output/graphs/trends_$id.svg"; do
    [[ -s "$expected" ]] || fail "missing or empty: $expected. The workspace is kept at $workspace"
done
categories="$(find "$workspace/output/specifics" -maxdepth 1 -name "heatmap_*_$stamp.csv" 2>/dev/null | wc -l)"
((categories >= 4)) ||
    fail "expected a category heatmap per category in output/specifics, found $categories. The workspace is kept at $workspace"

log "heatmap:"
sed 's/^/    /' "$heatmap" >&2
log "long CSV:"
sed 's/^/    /' "$summaries/heatmap_${stamp}_long.csv" >&2
if [[ "$keep_workspace" == true ]]; then
    log "workspace kept at $workspace"
else
    rm -rf "$workspace"
fi
log "PASS in $(($(date +%s) - started_at)) s"
