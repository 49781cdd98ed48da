#!/usr/bin/env bash
# Matrix benchmark (figures, not a CI test): one `matrix` run of SCENARIOS (kill-primary, rolling-replace,
# hang-primary) with every preset and fred (`--clients all`), DURATION (40s) of probing per scenario, the scenarios
# one after another, every client on one session and one engine per client. Prints the wall time and the CPU the
# tool used (user + system, as a share of one core and of the machine's cores), and the matrix itself. Target: the
# three scenarios in under 3 minutes on two cores. A `--duration` shorter than a preset's own timer (go-redis 9.22's
# 60 s map age, valkey-glide's 60 s periodic check) reports that preset as stuck at the end of the run; the run
# prints which presets wait longer than DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench-env.sh
scenarios="${SCENARIOS:-kill-primary,rolling-replace,hang-primary}"
duration="${DURATION:-40s}"
out="$(mktemp -d)"
[ -x /usr/bin/time ] || { echo "/usr/bin/time is needed for the CPU figure (apt-get install time)" >&2; exit 2; }
set +e
/usr/bin/time -f "%e %U %S %M" -o "$out/time" "$bin" matrix --lab "$scenarios" --clients all --duration "$duration" \
  --report "$out/matrix.md" --output json > "$out/matrix.json" 2> "$out/stderr"
code=$?
set -e
python3 - "$out" "$code" "$(nproc)" "$scenarios" "$duration" <<'PY'
import json, sys
out, code, cores, scenarios, duration = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
wall, user, sys_, rss_kib = open(f"{out}/time").read().split()[-4:]
wall, cpu = float(wall), float(user) + float(sys_)
m = json.load(open(f"{out}/matrix.json"))
cells = sum(len(c["cells"]) for c in m["columns"])
ran = sum(1 for c in m["columns"] if c["error"] is None)
print(f"scenarios: {scenarios}; {len(m['clients'])} clients; {duration} per scenario; exit {code}")
print(f"columns run: {ran} of {len(m['columns'])}; cells: {cells}")
print(f"wall time: {wall:.1f} s (target < 180 s: {'met' if wall < 180 else f'MISSED by {wall - 180:.1f} s'})")
print(f"CPU: {cpu:.1f} s = {100 * cpu / wall:.0f} % of one core, {100 * cpu / wall / cores:.0f} % of {cores} cores; max RSS {int(rss_kib) / 1024:.1f} MiB")
for col in m["columns"]:
    fates = {}
    for cell in col["cells"]:
        fates.setdefault(cell["fate"], []).append(cell["client"])
    print(f"  {col['scenario']}: " + "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(fates.items())))
PY
echo "matrix (Markdown): $out/matrix.md"
