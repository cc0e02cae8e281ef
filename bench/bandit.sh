#!/usr/bin/env bash
# The loop closed over HTTP (issue: outcomes): a hero bandit against a fixed equal split, and
# what recording exposures costs. Not part of the test suite.
#
#   bench/bandit.sh [VISITORS] [SECONDS]     (defaults 100000 visitors, 10 s per wrk run)
#
# Starts two release `tailor serve` nodes, one serving hero-bandit as it ships (Thompson
# sampling) and one with `"learn": false` (the plain weighted split), and drives the same
# simulated visitors through both at once with bench/bandit.py: true click rates 3%, 3.5% and 5%
# for the three creatives, a click posted (naming the decision) when a visitor converts.
# Reports regret and the best creative's share at 10k, 50k and 100k visitors. Then measures
# 1-slot hero-banner decisions/s with wrk with exposures recorded (the default) and with
# `--outcome-retention-hours 0`, interleaved. Prints Markdown for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
visitors=${1:-100000}
seconds=${2:-10}
for tool in wrk curl python3; do
  if ! command -v "$tool" >/dev/null; then
    apt-get update -qq && apt-get install -y -qq wrk curl python3 >/dev/null
  fi
done
cargo build --release -p tailor-host >&2
bin=${CARGO_TARGET_DIR:-target}/release/tailor
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
source bench/lib.sh
token=bench-admin-token-0000000001

node() { # name [extra args] -> sets addr_<name>, pid_<name>
  local name=$1; shift
  mkdir -p "$work/$name"
  TAILOR_LOG=warn start_tailor "$bin" "$work/$name" --data-dir "$work/$name/data" \
    --admin-token "$token" --sample-profiles 1000 --decision-log-rate 0 "$@"
  printf -v "addr_$name" %s "$addr"
  printf -v "pid_$name" %s "$pid"
}

node bandit
node split
# The same component, with learning off: the fixed test the bandit is measured against.
config=$(python3 -c '
import json, sys
config = json.load(open("policies/hero-bandit/config.json"))
config["bandit"]["learn"] = False
print(json.dumps({"config": json.dumps(config)}))')
curl -sf -X PUT -H "authorization: Bearer $token" -H 'content-type: application/json' \
  --data "$config" "$addr_split/admin/v1/policies/hero-bandit" >/dev/null

python3 bench/bandit.py "$addr_bandit" hero-bandit "$visitors" 1 >"$work/bandit.jsonl" &
sim_bandit=$!
python3 bench/bandit.py "$addr_split" hero-bandit "$visitors" 1 >"$work/split.jsonl" &
sim_split=$!
started=$(date +%s)
wait $sim_bandit
wait $sim_split
elapsed=$(( $(date +%s) - started ))

echo "## The loop: a hero bandit against a fixed split ($(nproc) cores, $(date -u +%Y-%m-%d))"
echo
echo "\`bench/bandit.sh $visitors $seconds\`: $visitors simulated visitors through each node at once ($elapsed s), true click rates 3% / 3.5% / 5%; regret is the expected clicks lost to not showing the best creative."
echo
echo "| visitors | bandit regret | split regret | regret saved | bandit best share (all / last 10%) | split best share |"
echo "|---|---|---|---|---|---|"
python3 - "$work/bandit.jsonl" "$work/split.jsonl" <<'PY'
import json, sys
bandit = [json.loads(l) for l in open(sys.argv[1])]
split = {r["visitors"]: r for r in (json.loads(l) for l in open(sys.argv[2]))}
for b in bandit:
    s = split.get(b["visitors"])
    if not s:
        continue
    saved = 1 - b["regret"] / s["regret"] if s["regret"] else 0
    print(f'| {b["visitors"]:,} | {b["regret"]:.1f} | {s["regret"]:.1f} | {saved:.0%} | '
          f'{b["best_share"]:.1%} / {b["best_share_recent"]:.1%} | {s["best_share"]:.1%} |')
PY
results=$(curl -sf -H "authorization: Bearer $token" "$addr_bandit/admin/v1/experiments/hero-bandit-2026")
echo
echo "What the bandit node reports (\`GET /admin/v1/experiments/hero-bandit-2026\`):"
echo
echo "| arm | exposures | conversions | rate | lift vs control (95%) | P(beat control) |"
echo "|---|---|---|---|---|---|"
python3 -c '
import json, sys
r = json.loads(sys.argv[1])
for a in r["arms"]:
    v = a.get("versus_control")
    lift = f"{v[\"lift\"]:+.1%} ({v[\"lift_interval_95\"][0]:+.1%} … {v[\"lift_interval_95\"][1]:+.1%})" if v else "control"
    p = f"{v[\"probability_to_beat_control\"]:.3f}" if v else "—"
    print(f"| {a[\"variant\"]} | {a[\"exposures\"]:,} | {a[\"conversions\"]:,} | {a[\"conversion_rate\"]:.2%} | {lift} | {p} |")
' "$results"
du_bandit=$(du -sb "$work/bandit/data/outcomes" | cut -f1)
echo
echo "Outcome log on the bandit node: $du_bandit bytes for $visitors exposures and their clicks ($(( du_bandit / visitors )) bytes per exposure)."
kill "$pid_bandit" "$pid_split" 2>/dev/null || true
wait "$pid_bandit" "$pid_split" 2>/dev/null || true

# What recording exposures costs: hero-banner for anonymous visitors who consent to analytics
# (every decision is an experiment exposure), with and without the outcome store.
cat >"$work/anon.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/v1/decide", nil, string.format('{"channel":"web","unit":{"anonymous_id":"anon-%d"},"consent":{"personalization":true,"analytics":true},"slots":[{"id":"hero","policy":"hero-banner"}]}', n))
end
LUA
node on
node off --outcome-retention-hours 0
echo
echo "Exposure logging's cost: 1-slot hero-banner decisions for anonymous visitors with analytics consent (each one an exposure), wrk 2 threads, 32 connections, ${seconds} s per run, the two nodes interleaved:"
echo
echo "| run | exposures recorded: requests/s | outcome store off: requests/s |"
echo "|---|---|---|"
on_total=0; off_total=0
for run in 1 2 3; do
  wrk -t2 -c32 -d"${seconds}s" -s "$work/anon.lua" "$addr_on" >"$work/wrk-on" 2>&1
  wrk -t2 -c32 -d"${seconds}s" -s "$work/anon.lua" "$addr_off" >"$work/wrk-off" 2>&1
  on=$(awk '/Requests\/sec/ {print $2}' "$work/wrk-on")
  off=$(awk '/Requests\/sec/ {print $2}' "$work/wrk-off")
  echo "| $run | $on | $off |"
  on_total=$(python3 -c "print($on_total + $on)")
  off_total=$(python3 -c "print($off_total + $off)")
done
echo
python3 -c "print(f'Mean: {($on_total)/3:,.0f} against {($off_total)/3:,.0f} requests/s: {($on_total)/($off_total) - 1:+.1%} with exposures recorded.')"
exposed=$(curl -sf "$addr_on/metrics" | awk '/^tailor_outcome_exposures_total/ {print $2}')
echo "Exposures the recording node counted: ${exposed:-unknown}."
