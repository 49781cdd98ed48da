#!/usr/bin/env bash
# Soak benchmark (not a CI test): failover-recovery at a 100 ms interval against a lab cluster for 30 minutes
# (SOAK_MINUTES), with a role swap every 2 minutes. Prints RSS and open file descriptors at the start and the
# end, and checks that every scheduled probe is accounted for in the events file.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-env.sh
minutes="${SOAK_MINUTES:-30}"
out="${SOAK_DIR:-$(mktemp -d)}"
state="$out/lab.json"
"$bin" lab up --topology cluster --seed-proxy --detach --state "$state" --output json > "$out/lab-up.json"
trap '"$bin" lab down --state "$state" >/dev/null 2>&1 || true' EXIT
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seed_url"])' "$out/lab-up.json")
"$bin" --url "$url" --mode oss-cluster failover-recovery --duration "${minutes}m" --interval 100ms \
  --events "$out/events.jsonl" --output json > "$out/summary.json" 2> "$out/stderr.log" &
pid=$!
sample() { echo "$(date +%s) $(awk '/VmRSS/{print $2}' /proc/$pid/status) $(ls /proc/$pid/fd | wc -l)"; }
sleep 5
sample > "$out/samples.txt"
start=$(date +%s)
n=0
while kill -0 "$pid" 2>/dev/null; do
  sleep 30
  kill -0 "$pid" 2>/dev/null || break
  sample >> "$out/samples.txt"
  if [ $(( ($(date +%s) - start) / 120 )) -gt "$n" ]; then
    n=$((n + 1))
    if "$bin" lab run role-swap --shard $((n % 3)) --state "$state" >> "$out/scenarios.log" 2>&1; then
      echo ok >> "$out/failovers.txt"
    else
      echo "scenario $n failed" >&2
    fi
  fi
done
wait "$pid" || true
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
s = json.load(open(f"{out}/summary.json"))
samples = [l.split() for l in open(f"{out}/samples.txt") if l.strip()]
probes = sum(1 for l in open(f"{out}/events.jsonl") if '"type":"probe"' in l)
ticks = sum(x["ticks"] for x in s["schedule"])
print(f"duration: {s['elapsed_ms']/1000:.0f}s, targets: {len(s['targets'])}, failovers: {sum(1 for _ in open(f'{out}/failovers.txt'))}")
print(f"RSS: start {int(samples[0][1])/1024:.1f} MiB, end {int(samples[-1][1])/1024:.1f} MiB, max {max(int(x[1]) for x in samples)/1024:.1f} MiB")
print(f"open fds: start {samples[0][2]}, end {samples[-1][2]}, max {max(int(x[2]) for x in samples)}")
print(f"scheduled probes: {ticks} ticks x {len(s['targets'])} targets = {ticks*len(s['targets'])}; in the events file: {probes}; in the summary: {s['overall']['probes']}")
print(f"verdict: {s['verdict']['verdict']}; outages: {s['overall']['outages']}, longest {s['overall']['longest_outage_ms']} ms")
PY
echo "files in $out"
