#!/usr/bin/env bash
# Probe benchmarks (figures, not CI tests):
#  1. accuracy: failover-recovery --lab kill-primary / role-swap, RUNS times each at a 100 ms interval: the
#     outage the probes measured on the affected shard against the lab's own ground truth
#     (target: within 2 x interval + 100 ms = 300 ms);
#  2. cost: --interval 10ms on a 3-shard lab cluster for COST_SECONDS (60): share of scheduled probes sent,
#     99th-percentile tick lateness, CPU of one core, RSS at start and end
#     (targets: >= 99 %, < 5 ms, < 25 %, < 30 MiB and flat).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
command -v python3 >/dev/null || { echo "python3 is needed for the figures" >&2; exit 2; }
runs="${RUNS:-5}"
cost_seconds="${COST_SECONDS:-60}"
bin="${RFP_BIN:-./target/release/redis-failover-probe}"
[ -x "$bin" ] || cargo build --release --locked --quiet
out="$(mktemp -d)"

echo "== accuracy (interval 100 ms, ${runs} runs per scenario)"
for scenario in kill-primary role-swap; do
  for i in $(seq 1 "$runs"); do
    "$bin" --mode oss-cluster failover-recovery --lab "$scenario" --at 3s --duration 10s --interval 100ms \
      --output json > "$out/$scenario-$i.json" 2>/dev/null || true
  done
done
python3 - "$out" "$runs" <<'PY'
import json, sys
out, runs = sys.argv[1], int(sys.argv[2])
for scenario in ["kill-primary", "role-swap"]:
    diffs = []
    for i in range(1, runs + 1):
        try:
            s = json.load(open(f"{out}/{scenario}-{i}.json"))
        except Exception as e:
            print(f"  {scenario} run {i}: no summary ({e})"); continue
        lab = s.get("lab") or {}
        g, m = lab.get("ground_truth_ms"), lab.get("measured_ms")
        if g is None or m is None:
            print(f"  {scenario} run {i}: ground truth {g}, measured {m}, error {lab.get('error')}"); continue
        diffs.append(m - g)
        print(f"  {scenario} run {i}: ground truth {g} ms, measured {m} ms, difference {m - g:+d} ms")
    if diffs:
        worst = max(diffs, key=abs)
        print(f"  {scenario}: worst difference {worst:+d} ms (target within 300 ms): {'met' if abs(worst) <= 300 else 'MISSED by %d ms' % (abs(worst) - 300)}")
PY

echo "== cost (interval 10 ms, ${cost_seconds} s, 3 shards)"
state="$out/lab.json"
"$bin" lab up --topology cluster --detach --state "$state" --output json > "$out/lab-up.json"
trap '"$bin" lab down --state "$state" >/dev/null 2>&1 || true' EXIT
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seed_url"])' "$out/lab-up.json")
"$bin" --url "$url" --mode oss-cluster failover-recovery --duration "${cost_seconds}s" --interval 10ms \
  --output json > "$out/cost.json" 2>/dev/null &
pid=$!
sleep 2
rss_start=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
cpu_start=$(awk '{print $14 + $15}' /proc/$pid/stat)
t_start=$(date +%s.%N)
sleep $((cost_seconds - 4))
rss_end=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
cpu_end=$(awk '{print $14 + $15}' /proc/$pid/stat)
t_end=$(date +%s.%N)
wait "$pid" || true
python3 - "$out/cost.json" "$rss_start" "$rss_end" "$cpu_start" "$cpu_end" "$t_start" "$t_end" "$(getconf CLK_TCK)" "$cost_seconds" <<'PY'
import json, sys
path, rss0, rss1, c0, c1, t0, t1, hz, secs = sys.argv[1:]
s = json.load(open(path))
ticks = sum(x["ticks"] for x in s["schedule"])
sent = sum(x["probes_sent"] for x in s["schedule"])
targets = len(s["targets"])
expected = int(float(secs) / 0.010) * targets
cpu = (int(c1) - int(c0)) / int(hz) / (float(t1) - float(t0)) * 100
p99 = max(x["lateness_p99_ms"] for x in s["schedule"])
print(f"  probes sent {sent} of {expected} scheduled ({sent / expected * 100:.2f} %, target >= 99 %)")
print(f"  tick lateness p99 {p99:.2f} ms (target < 5 ms), max {max(x['lateness_max_ms'] for x in s['schedule']):.2f} ms")
print(f"  CPU {cpu:.1f} % of one core (target < 25 %)")
print(f"  RSS {int(rss0)/1024:.1f} MiB after 2 s, {int(rss1)/1024:.1f} MiB at the end (target < 30 MiB, flat)")
print(f"  failures {s['overall']['failures']}, verdict {s['verdict']['verdict']}")
PY
