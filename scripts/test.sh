#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs redis-server and haproxy when missing, builds everything
# (examples included) and runs every test against real servers started by the tests themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
start=$(date +%s)
cargo build --locked --all-targets --examples
cargo test --locked --all-targets --no-fail-fast
echo "suite wall time: $(( $(date +%s) - start ))s"
