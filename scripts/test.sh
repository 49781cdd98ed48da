#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs redis-server and haproxy (and cargo-nextest) when missing, builds
# everything (examples included), installs the real client libraries the tests drive (node-redis 4 and 6,
# ioredis 5, redis-py 8; Node.js, npm and python3-venv first when missing) with the tool's own `clients install`,
# installs prometheus (the server and promtool) and systemd-analyze for watch's fleet tests when missing, and
# runs every test against real servers started by the tests themselves.
# nextest runs each test in its own process: heavy lab tests one at a time, unit and light tests beside them
# (.config/nextest.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
start=$(date +%s)
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest (crates.io)"
  cargo install cargo-nextest --locked
fi
need=()
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
# watch's fleet tests: a real Prometheus server and promtool (one package), systemd-analyze for the unit.
command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
apt_install "${need[@]}"
cargo build --locked --all-targets --examples
# The real libraries tests/real_clients.rs drives, each in its own prefix or venv under the cache directory.
./target/debug/redis-failover-probe clients install node-redis@4 node-redis@6 ioredis@5 redis-py@8
built=$(date +%s)
cargo nextest run --locked --all-targets --no-fail-fast
cargo test --locked --doc
end=$(date +%s)
echo "suite wall time: $(( end - start ))s (build $(( built - start ))s, tests $(( end - built ))s)"
