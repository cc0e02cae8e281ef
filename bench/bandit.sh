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
python3 - "$results" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
for a in r["arms"]:
    v = a.get("versus_control")
    if v:
        low, high = v["lift_interval_95"]
        lift = f'{v["lift"]:+.1%} ({low:+.1%} … {high:+.1%})'
        p = f'{v["probability_to_beat_control"]:.3f}'
    else:
        lift, p = "control", "—"
    print(f'| {a["variant"]} | {a["exposures"]:,} | {a["conversions"]:,} | {a["conversion_rate"]:.2%} | {lift} | {p} |')
PY
du_bandit=$(du -sb "$work/bandit/data/outcomes" | cut -f1)
echo
echo "Outcome log on the bandit node: $du_bandit bytes for $visitors exposures and their clicks ($(( du_bandit / visitors )) bytes per exposure)."
kill "$pid_bandit" "$pid_split" 2>/dev/null || true
wait "$pid_bandit" "$pid_split" 2>/dev/null || true

# What recording exposures costs: hero-banner for anonymous visitors who consent to analytics
# (every decision is an experiment exposure), with and without the outcome store. UNITS
# visitors come back again and again (a new unit per request makes the counts grow without
# end: UNITS=0).
units=${UNITS:-100000}
cat >"$work/anon.lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
local n = 0
local units = $units
request = function()
  n = n + 1
  if units > 0 then n = n % units end
  return wrk.format(nil, "/v1/decide", nil, string.format('{"channel":"web","unit":{"anonymous_id":"anon-%d"},"consent":{"personalization":true,"analytics":true},"slots":[{"id":"hero","policy":"hero-banner"}]}', n))
end
LUA
node on
node off --outcome-retention-hours 0
runs=5
echo
echo "Exposure logging's cost: 1-slot hero-banner decisions for anonymous visitors with analytics consent (each one an exposure; $( [ "$units" -gt 0 ] && echo "$units visitors coming back" || echo "a new unit every request")), wrk 2 threads, 32 connections, ${seconds} s per run, the two nodes interleaved; CPU is the node's own (user + system) per request:"
echo
echo "| run | exposures recorded: requests/s | CPU µs/request | outcome store off: requests/s | CPU µs/request |"
echo "|---|---|---|---|---|"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() { # pid addr -> "requests/s cpu_us_per_request"
  local before after
  before=$(cpu_ticks "$1")
  wrk -t2 -c32 -d"${seconds}s" -s "$work/anon.lua" "$2" >"$work/wrk" 2>&1
  after=$(cpu_ticks "$1")
  python3 - "$work/wrk" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
requests = int(re.search(r"(\d+) requests in", text).group(1))
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
ticks = int(sys.argv[3]) - int(sys.argv[2])
print(f"{rate:.0f} {ticks / int(sys.argv[4]) / requests * 1e6:.1f}")
PY
}
: >"$work/on.txt"; : >"$work/off.txt"
# Warm both up first (the first seconds of a node are slower).
wrk -t2 -c32 -d3s -s "$work/anon.lua" "$addr_on" >/dev/null 2>&1
wrk -t2 -c32 -d3s -s "$work/anon.lua" "$addr_off" >/dev/null 2>&1
for run in $(seq 1 $runs); do
  read -r on_rate on_cpu < <(measure "$pid_on" "$addr_on")
  read -r off_rate off_cpu < <(measure "$pid_off" "$addr_off")
  echo "$on_rate $on_cpu" >>"$work/on.txt"
  echo "$off_rate $off_cpu" >>"$work/off.txt"
  echo "| $run | $on_rate | $on_cpu | $off_rate | $off_cpu |"
done
echo
python3 - "$work/on.txt" "$work/off.txt" <<'PY'
import statistics, sys
on = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
off = [tuple(map(float, l.split())) for l in open(sys.argv[2])]
med = lambda rows, i: statistics.median(r[i] for r in rows)
print(f"Medians: {med(on, 0):,.0f} against {med(off, 0):,.0f} requests/s ({med(on, 0) / med(off, 0) - 1:+.1%}), "
      f"{med(on, 1):.1f} against {med(off, 1):.1f} CPU µs per request ({med(on, 1) / med(off, 1) - 1:+.1%}) with exposures recorded.")
PY
exposed=$(curl -sf "$addr_on/metrics" | awk '/^tailor_outcome_exposures_total/ {print $2}')
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid_on/status")
echo "The recording node counted ${exposed:-?} exposures and held ${rss} kB resident at the end (the node without the outcome store: $(awk '/VmRSS/ {print $2}' "/proc/$pid_off/status") kB)."
