#!/usr/bin/env bash
# Loopback load test of `tailor serve` (issue: decision service). Not part of the test suite.
#
#   bench/load.sh [DURATION_SECONDS]      (default 15)
#
# Starts a release `tailor serve` on the bundled sample snapshot, then measures with wrk
# (saturation) and hey (a fixed rate at 80% of the measured saturation): single-slot and
# three-slot decisions, event→decision latency, snapshot load time and store size for 100k and
# 1M profiles. Prints a Markdown report on stdout; paste it into docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-15}
connections=32
for tool in wrk hey curl python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "installing $tool" >&2
    apt-get update -qq && apt-get install -y -qq wrk hey curl >/dev/null
  fi
done

cargo build --release -p tailor-host >&2
bin=${CARGO_TARGET_DIR:-target}/release/tailor
work=$(mktemp -d)
# `|| true`: under `set -e` a failing command in the EXIT trap becomes the script's status.
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

source bench/lib.sh
start_server() { # data_dir [extra args] -> sets addr and pid
  local dir=$1; shift
  TAILOR_LOG="warn,tailor_host::server=info" start_tailor "$bin" "$work" --data-dir "$dir" --max-concurrent-decisions 256 "$@"
}

# A wrk request generator cycling through 10,000 sample customers; $2 is the JSON body with %06d
# where the customer number goes.
write_lua() {
  cat >"$work/$1.lua" <<LUA
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/v1/decide", nil, string.format('$2', n % 10000))
end
LUA
}
write_lua one '{"channel":"web","unit":{"customer_id":"cust-%06d"},"slots":[{"id":"hero","policy":"hero-banner"}]}'
write_lua three '{"channel":"app","unit":{"customer_id":"cust-%06d"},"context":{"store_id":"store-0042"},"slots":[{"id":"hero","policy":"hero-banner"},{"id":"offers","policy":"next-best-offer","candidates":[{"id":"o1","tags":["category:shoes"],"numbers":{"discount":0.2,"margin":0.3}},{"id":"o2","tags":["category:bags"],"numbers":{"discount":0.1,"margin":0.5}},{"id":"o3","tags":["category:outerwear"],"numbers":{"discount":0.25,"margin":0.3}}]},{"id":"greet","policy":"kiosk-greeting"}]}'

start_server "$work/data"
echo "## Decision service under load ($(nproc) cores, $(date -u +%Y-%m-%d), ${duration}s per run, $connections connections)"
echo
echo "| request | mode | requests/s | p50 | p99 |"
echo "|---|---|---|---|---|"
for shape in one three; do
  "$bin" --version >/dev/null
  wrk -t2 -c$connections -d"${duration}s" --latency -s "$work/$shape.lua" "$addr" >"$work/wrk-$shape" 2>&1
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk-$shape")
  p50=$(awk '/^ +50%/ {print $2}' "$work/wrk-$shape")
  p99=$(awk '/^ +99%/ {print $2}' "$work/wrk-$shape")
  label=$([ "$shape" = one ] && echo "1 slot (hero-banner)" || echo "3 slots (hero, next-best-offer, kiosk)")
  echo "| $label | saturation (wrk) | ${rps%.*} | $p50 | $p99 |"
  # 80% of saturation with hey's rate limit (per worker, so divide by the connections).
  rate=$(python3 -c "print(max(1, int(float('$rps') * 0.8 / $connections)))")
  body=$(grep -o "'{.*}'" "$work/$shape.lua" | head -1 | tr -d "'" | sed 's/%06d/000042/')
  hey -z "${duration}s" -c $connections -q "$rate" -m POST -T application/json -d "$body" "$addr/v1/decide" >"$work/hey-$shape" 2>&1
  hrps=$(awk '/Requests\/sec/ {print $2}' "$work/hey-$shape")
  h50=$(awk '/ 50% in/ {print $3*1000 "ms"}' "$work/hey-$shape")
  h99=$(awk '/ 99% in/ {print $3*1000 "ms"}' "$work/hey-$shape")
  codes=$(sed -n '/Status code distribution/,$p' "$work/hey-$shape" | tr -s ' \n' ' ')
  echo "| $label | 80% (hey, fixed rate) | ${hrps%.*} | $h50 | $h99 |"
  echo "$label 80% status codes: $codes" >&2
done

echo
echo "Event→decision: time from sending an event to the first decision that reflects it (loopback, sequential):"
python3 - "$addr" <<'PY'
import json, sys, time, urllib.request
addr = sys.argv[1]
def post(path, body):
    req = urllib.request.Request(addr + path, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())
samples = []
for i in range(200):
    cust = f"cust-{i:06d}"
    t0 = time.perf_counter()
    post("/v1/events", {"events": [
        {"event_id": f"lat-{i}-c", "customer_id": cust, "kind": "consent_change", "at_ms": 1774000100000, "consent": {"personalization": True}},
        {"event_id": f"lat-{i}-l", "customer_id": cust, "kind": "loyalty_change", "at_ms": 1774000100001, "loyalty": {"tier": "platinum", "points": 1}}]})
    d = post("/v1/decide", {"channel": "web", "unit": {"customer_id": cust}, "slots": [{"id": "hero", "policy": "hero-banner"}]})
    samples.append((time.perf_counter() - t0) * 1000)
    assert d["slots"][0]["variant"] == "vip-early-access", d
samples.sort()
print(f"\n| event→decision (200 customers, event batch of 2 + decide) | p50 {samples[100]:.2f} ms | p99 {samples[197]:.2f} ms |")
print("|---|---|---|")
PY
kill "$pid"; wait "$pid" 2>/dev/null || true

echo
echo "| snapshot | profiles | load time | store file |"
echo "|---|---|---|---|"
for count in 100000 1000000; do
  dir="$work/snap-$count"
  mkdir -p "$dir"
  start_server "$dir" --sample-profiles "$count"
  loaded=$(grep -o 'elapsed_ms=[0-9]*' "$work/err" | head -1 | cut -d= -f2 || true)
  [ -n "$loaded" ] || loaded="n/a"
  size=$(du -b "$dir"/profiles-*.profiles | awk '{print $1}')
  echo "| sample-$count | $count | ${loaded} ms | $((size / 1048576)) MiB |"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
