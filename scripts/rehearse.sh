#!/usr/bin/env bash
# The main job on the local lab: a failover rehearsal against a real 3+3 cluster on loopback, then the same
# failover seen by the default probe and three client styles side by side, seeded by the node that dies. Installs redis-server and haproxy when missing.
# Extra arguments go to the first run (e.g. --lab replace-node).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cargo build --release --locked --quiet
bin=./target/release/redis-failover-probe
echo "== failover-recovery --lab kill-primary"
"$bin" --mode oss-cluster failover-recovery --lab kill-primary --at 5s --duration 20s --interval 100ms "$@"
echo
echo "== compare --lab kill-primary --seed node (the incident: moved-only and fred are expected to stay stuck)"
"$bin" compare --lab kill-primary --seed node --at 5s --duration 20s --interval 100ms --expect moved-only=fail \
  --expect fred=fail
