#!/usr/bin/env bash
# Driver overhead benchmark (figures, not a CI test): one lab cluster, then each client in turn on the same
# servers, COUNT (2000) sequential SET+GET probes each after a warm-up of a tenth: direct, fred and redis-rs in
# process, then the real libraries through their drivers (LIBS: node-redis@4 node-redis@6 ioredis@5 redis-py@8,
# installed with `clients install` when missing). Prints completed/attempted and p50/p99 of the SET+GET as the
# tool waited for it, and for a driver as the library took it inside the driver: the difference is the driver's
# round trip (JSON line out, JSON line back).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-env.sh
count="${COUNT:-2000}"
read -r -a libs <<< "${LIBS:-node-redis@4 node-redis@6 ioredis@5 redis-py@8}"
listed="$("$bin" clients list --output json)"
for lib in "${libs[@]}"; do
  grep -q "\"$lib\"" <<< "$listed" || "$bin" clients install "$lib" >/dev/null
done
cargo build --release --locked --quiet --example driver_overhead
./target/release/examples/driver_overhead "$count" "${libs[@]}"
