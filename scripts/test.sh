#!/usr/bin/env bash
# Runs the whole test suite. The end-to-end tests start the real heatmapd
# and heatmapctl binaries, so they are built first.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --bins
cargo test --workspace "$@"
