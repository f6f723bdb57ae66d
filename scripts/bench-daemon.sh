#!/usr/bin/env bash
# Measures the daemon against an instant fake server: work items per second
# end to end (HTTP, answer file, grade file, queue commit), the round trip of
# a status request, idle resident memory, and requests kept in flight.
#
# Usage: scripts/bench-daemon.sh [ITEMS_PER_MODEL]   (default 5000)
set -euo pipefail
cd "$(dirname "$0")/.."

prompts=${1:-5000}
cargo build --release -q -p heatmapd -p heatmapctl -p heatmap-tests --bins --examples

work=$(mktemp -d)
cleanup() {
  [ -n "${daemon_pid:-}" ] && kill "$daemon_pid" 2>/dev/null || true
  [ -n "${fake_pid:-}" ] && kill "$fake_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/ws" "$work/run"
{
  echo "id,category,prompt,expected"
  for i in $(seq 1 "$prompts"); do echo "q$i,bench,Question $i?,Paris"; done
} > "$work/ws/prompts.csv"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/release/fake-server --port "$port" bench-model > "$work/fake.log" 2>&1 &
fake_pid=$!
socket="$work/heatmapd.sock"
XDG_RUNTIME_DIR="$work/run" RUST_LOG=warn target/release/heatmapd --root "$work/ws" --socket "$socket" \
  > "$work/daemon.log" 2>&1 &
daemon_pid=$!
ctl() { target/release/heatmapctl --socket "$socket" "$@"; }
for _ in $(seq 1 100); do ctl status > /dev/null 2>&1 && break; sleep 0.1; done

sleep 1
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$daemon_pid/status")
echo "idle resident memory: $((rss_kib / 1024)) MiB ($rss_kib KiB)"

target/release/examples/ipc_latency "$socket" 2000

for parallel in 1 8; do
  start=$(date +%s.%N)
  ctl submit --url "http://127.0.0.1:$port" --backend openai --model bench-model --temps 0 \
    --parallel "$parallel" --grade exact --wait > "$work/submit.log" 2>&1
  end=$(date +%s.%N)
  python3 - "$start" "$end" "$prompts" "$parallel" <<'PY'
import sys
start, end, items, parallel = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
elapsed = end - start
print(f"--parallel {parallel}: {items} items in {elapsed:.2f} s = {items / elapsed:.0f} items/s (submit to heatmap)")
PY
done
