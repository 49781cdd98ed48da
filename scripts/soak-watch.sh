#!/usr/bin/env bash
# Watch soak benchmark (figures, not a CI test): `watch` at its defaults (1 s baseline, 100 ms during incidents,
# 60 s quiet) against a detached lab cluster (3 primaries, 1 replica each) for SOAK_MINUTES (60), with a failover
# every EVERY_S seconds (300): `lab run hang-primary --for 3s` on the next shard in turn (the stopped primary
# is failed over and rejoins as a replica, so the lab keeps its shape). Prints the watcher's RSS and open fds
# after its first minute and at the end, its CPU as a share of one core over the whole run and over a quiet
# stretch, and per injection: the incident it became and its killed shard's outage next to the lab's ground
# truth. Targets: RSS flat within 2 MiB, baseline CPU under 1 % of a core, every failover exactly one incident.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-env.sh
minutes="${SOAK_MINUTES:-60}"
every="${EVERY_S:-300}"
out="${SOAK_DIR:-$(mktemp -d)}"
mkdir -p "$out"
state="$out/lab.json"
"$bin" lab up --topology cluster --detach --state "$state" --output json > "$out/lab-up.json"
trap '"$bin" lab down --state "$state" >/dev/null 2>&1 || true' EXIT
url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seed_url"])' "$out/lab-up.json")
"$bin" --url "$url" --mode oss-cluster watch --out "$out/incidents" --events "$out/events.jsonl" \
  > "$out/stdout.log" 2> "$out/stderr.log" &
pid=$!
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
sample() { echo "$(date +%s) $(awk '/VmRSS/{print $2}' "/proc/$pid/status") $(ls "/proc/$pid/fd" | wc -l) $(cpu)"; }
sleep 60
sample > "$out/samples.txt"
start=$(date +%s)
# Injections at 5, 10, ... 60 minutes from the launch (12 in an hour at the defaults), then the last quiet minute.
end=$(( start + minutes * 60 ))
n=0
while [ "$(date +%s)" -lt "$end" ]; do
  next=$(( start + (n + 1) * every - 60 ))
  while [ "$(date +%s)" -lt "$next" ] && [ "$(date +%s)" -lt "$end" ]; do
    sleep 10
    sample >> "$out/samples.txt"
  done
  [ "$(date +%s)" -lt "$end" ] || break
  "$bin" lab run hang-primary --for 3s --shard $(( n % 3 )) --state "$state" --output json \
    > "$out/scenario-$n.json" 2>> "$out/scenarios.log" || echo "scenario $n failed" >> "$out/scenarios.log"
  n=$(( n + 1 ))
done
sleep 70  # the last incident's quiet minute
sample >> "$out/samples.txt"
kill -TERM "$pid"
wait "$pid" || true
python3 - "$out" "$n" "$(getconf CLK_TCK)" "$every" <<'PY'
import glob, json, os, sys
out, injected, hz, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = [list(map(int, l.split())) for l in open(f"{out}/samples.txt")]
t0, rss0, fd0, cpu0 = rows[0]
t1, rss1, fd1, cpu1 = rows[-1]
print(f"ran {t1 - t0 + 60} s; failovers injected: {injected}")
print(f"RSS: {rss0 / 1024:.1f} MiB after the first minute, {rss1 / 1024:.1f} MiB at the end (max {max(r[1] for r in rows) / 1024:.1f}); open fds {fd0} and {fd1}")
print(f"CPU over the run: {(cpu1 - cpu0) / hz / (t1 - t0) * 100:.2f} % of one core")
# A quiet stretch: the longest run of samples with no incident open is hard to know here; the first
# (every - 60) s before the first injection are baseline only.
base = [r for r in rows if r[0] - t0 <= every - 90]
if len(base) >= 2:
    print(f"CPU at baseline (first {base[-1][0] - base[0][0]} s, no incident): {(base[-1][3] - base[0][3]) / hz / (base[-1][0] - base[0][0]) * 100:.2f} % of one core")
folders = sorted(d for d in glob.glob(f"{out}/incidents/*") if os.path.isdir(d))
print(f"incidents written: {len(folders)} (failovers injected: {injected})")
for i, d in enumerate(folders):
    s = json.load(open(f"{d}/summary.json"))
    inc = json.load(open(f"{d}/incident.json"))
    truth = None
    if i < injected and os.path.exists(f"{out}/scenario-{i}.json"):
        try:
            r = json.load(open(f"{out}/scenario-{i}.json"))
            truth = {sh["shard"]: sh["unavailable_ms"] for sh in r.get("shards", [])}
        except ValueError:
            pass
    parts = []
    for t in s["targets"]:
        measured = t["total_outage_ms"]
        tr = truth.get(t["name"]) if truth else None
        parts.append(f"{t['name']} {measured} ms" + (f" (truth {tr} ms)" if tr is not None else ""))
    print(f"  {os.path.basename(d)}: {inc['length_ms']} ms from first sign, {inc['ending']}; " + "; ".join(parts))
print(f"files in {out}")
PY
