#!/usr/bin/env bash
# The main job on the local lab: a failover rehearsal against a real 3+3 cluster on loopback.
# Installs redis-server and haproxy when missing. Extra arguments are passed on (e.g. --lab replace-node).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cargo build --release --locked --quiet
exec ./target/release/redis-failover-probe --mode oss-cluster failover-recovery \
  --lab kill-primary --at 5s --duration 20s --interval 100ms "$@"
