#!/usr/bin/env bash
# Runbook for a Redis maintenance window: pre-checks, then a failover-recovery run for the whole window with
# an events file, and exit-code handling. Usage: PROFILE=PROD REDIS_PROD_KEY=... ./maintenance-window.sh [seconds]
set -uo pipefail
window="${1:-1800}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
events="maintenance-${stamp}.jsonl"
rfp=(redis-failover-probe --profile "${PROFILE:?set PROFILE, e.g. PROD}")

echo "== pre-checks"
"${rfp[@]}" connection-mode || true          # informational: prints the failover-risk level and why
"${rfp[@]}" slots
case $? in
  0) ;;
  1) echo "slots not fully covered before the window: stop and investigate"; exit 1 ;;
  *) echo "cannot reach the cache (see the line above)"; exit 2 ;;
esac
"${rfp[@]}" health || { echo "health check failed before the window"; exit 1; }

echo "== probing for ${window}s; events in ${events}"
"${rfp[@]}" failover-recovery --duration "${window}" --interval 1s --max-outage 30s --events "${events}" \
  --output json > "maintenance-${stamp}.json"
rc=$?
case $rc in
  0)   echo "PASSED: every shard recovered within 30s" ;;
  1)   echo "FAILED: a shard did not recover, an outage exceeded 30s, or a write was lost (see maintenance-${stamp}.json)" ;;
  2)   echo "bad arguments or configuration" ;;
  3)   echo "could not connect or authenticate" ;;
  130) echo "interrupted: partial results in maintenance-${stamp}.json and ${events}" ;;
  *)   echo "unexpected exit code ${rc}" ;;
esac
exit $rc
