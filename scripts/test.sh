#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs redis-server and haproxy (and cargo-nextest) when missing, builds
# everything (examples included) and runs every test against real servers started by the tests themselves.
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
cargo build --locked --all-targets --examples
built=$(date +%s)
cargo nextest run --locked --all-targets --no-fail-fast
cargo test --locked --doc
end=$(date +%s)
echo "suite wall time: $(( end - start ))s (build $(( built - start ))s, tests $(( end - built ))s)"
