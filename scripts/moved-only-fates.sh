#!/usr/bin/env bash
# How often a rolling replacement with no drain (every node replaced, each demoted primary shut down the
# moment its replacement is promoted) leaves a MOVED-only client (node-redis 4/5) stuck: RUNS (5) runs of
# `compare --lab rolling-replace --drain 0`, each shard's fate for moved-only from the summary's recovery[].
# Usage: scripts/moved-only-fates.sh [extra compare flags, e.g. --seed node]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-env.sh
runs="${RUNS:-5}"
out="$(mktemp -d)"
for i in $(seq 1 "$runs"); do
  "$bin" --mode oss-cluster compare --lab rolling-replace --drain 0 --at 3s --duration 40s --interval 100ms \
    "$@" --output json > "$out/run-$i.json" 2>"$out/run-$i.err" || true
done
python3 - "$out" "$runs" <<'PY'
import json, sys
out, runs = sys.argv[1], int(sys.argv[2])
stuck_runs = 0
for i in range(1, runs + 1):
    try:
        s = json.load(open(f"{out}/run-{i}.json"))
    except Exception as e:
        print(f"  run {i}: no summary ({e})"); continue
    lab = s.get("lab") or {}
    if lab.get("error"):
        print(f"  run {i}: scenario failed: {lab['error']}"); continue
    mo = next((r for r in s.get("recovery", []) if r["source"] == "moved-only"), None)
    if mo is None:
        print(f"  run {i}: no moved-only recovery"); continue
    # The last episode per shard is its fate at the end of the run.
    fates = {}
    for ep in mo["shards"]:
        fates[ep["label"]] = ep
    stuck = [l for l, ep in fates.items() if ep["recovered_ms"] is None and ep["how"]["kind"] != "never_failed"]
    stuck_runs += bool(stuck)
    parts = [f"{l}: {'STUCK ' + ep['how']['kind'] if l in stuck else ep['how']['kind']}" for l, ep in sorted(fates.items())]
    print(f"  run {i}: " + "; ".join(parts))
print(f"moved-only stuck on at least one shard in {stuck_runs} of {runs} runs")
PY
