# Sourced by the benchmark scripts: installs what they run on (deps.sh), checks python3 for the figures and sets
# `bin`, the release binary (RFP_BIN overrides it; built when missing).
source scripts/deps.sh
command -v python3 >/dev/null || { echo "python3 is needed for the figures" >&2; exit 2; }
bin="${RFP_BIN:-./target/release/redis-failover-probe}"
[ -x "$bin" ] || cargo build --release --locked --quiet
