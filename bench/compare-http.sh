#!/usr/bin/env bash
# tailor serve side by side with the HTTP services its users would run instead (issue:
# comparison benchmarks). Not part of the test suite.
#
#   bench/compare-http.sh [ROUNDS] [DURATION_SECONDS]     (default 3 rounds of 10 s per run)
#
# Systems, all on loopback, one hero-banner decision per request for the same 10,000 customers
# in the same order (taken from tailor's sample snapshot):
#   tailor        `tailor serve`, POST /v1/decide, profile from its cached store
#   tailor-3      `tailor serve`, three slots per request (hero, next-best-offer, kiosk greeting)
#   tailor-5      `tailor serve`, a five-slot page (two hero-banner slots, two next-best-offer,
#                 one kiosk greeting)
#   base, base-3, base-5   the same three on BASELINE_BIN (another tailor build), when set
#   wasmtime      `wasmtime serve` 48 running bench/compare/http-guest, a wasi:http component
#                 computing the same decision; the request carries the profile's fields
#   unleash-edge  Unleash Edge (offline mode, bootstrap file) evaluating the policy as a feature
#                 with strategy variants, GET /api/frontend/features/hero-banner with the same
#                 fields as context properties
# Peers are installed from crates.io into target/compare-peers (once; later runs reuse them).
#
# Each round runs every system at saturation (wrk, 2 threads, 32 connections) and then at a
# fixed rate of 80% of tailor's saturation in that round (hey, 32 workers); systems interleave
# within a round. Reported: medians over rounds of requests/s, p50 and p99, CPU time of the
# server process per request (from /proc, during the saturation run) and the server's RSS after
# the rounds (and its peak). The load generator shares the 2 cores with the server.
#
#   BASELINE_BIN=/path/to/old/tailor bench/compare-http.sh   adds the base* rows (an A/B)
#   SYSTEMS="tailor tailor-5 unleash-edge" bench/compare-http.sh   runs only those systems (a
#                                               peer left out is neither installed nor started)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
duration=${2:-10}
connections=32
for tool in wrk hey curl python3 npm; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk hey curl python3 npm >/dev/null; }
done

if [ -n "${SYSTEMS:-}" ]; then
  read -r -a systems <<<"$SYSTEMS"
else
  systems=(tailor tailor-3 tailor-5)
  [ -z "${BASELINE_BIN:-}" ] || systems+=(base base-3 base-5)
  systems+=(wasmtime unleash-edge)
fi
[[ " ${systems[*]} " == *" tailor "* ]] || { echo "SYSTEMS must include tailor (the 80% rate is taken from it)" >&2; exit 1; }
wants() { [[ " ${systems[*]} " == *" $1 "* ]]; }

peers=$PWD/target/compare-peers
wasmtime_version=48.0.8
unleash_version=19.15.1
installed() { cargo install --list --root "$peers" 2>/dev/null | grep -q "^$1 v$2:"; }
install_peer() { # crate version [cargo install args…]
  local crate=$1 version=$2
  shift 2
  if ! installed "$crate" "$version"; then
    echo "installing $crate $version (once)" >&2
    CARGO_TARGET_DIR="$peers/build" cargo install --quiet --locked --force --root "$peers" \
      "$crate@$version" "$@" >&2
    rm -rf "$peers/build"
  fi
}
if wants wasmtime; then
  # Only what `wasmtime serve` needs (the full default feature set triples the build).
  install_peer wasmtime-cli "$wasmtime_version" \
    --no-default-features --features run,serve,cranelift,pooling-allocator,parallel-compilation,component-model-async
fi
if wants unleash-edge; then
  # Unleash Edge's Swagger UI dependency (utoipa-swagger-ui) downloads Swagger UI from GitHub at
  # build time; the same release is on npm, so it is packed into the zip layout the build expects.
  if ! installed unleash-edge "$unleash_version"; then
    swagger=$peers/swagger
    rm -rf "$swagger" && mkdir -p "$swagger"
    (cd "$swagger" && npm pack --silent swagger-ui-dist@5.17.14 >/dev/null && tar xzf swagger-ui-dist-5.17.14.tgz)
    python3 - "$swagger" <<'PY'
import os, sys, zipfile
root = sys.argv[1]
with zipfile.ZipFile(f"{root}/swagger-ui.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for name in sorted(os.listdir(f"{root}/package")):
        z.write(f"{root}/package/{name}", f"swagger-ui-5.17.14/dist/{name}")
PY
    export SWAGGER_UI_DOWNLOAD_URL="file://$swagger/swagger-ui.zip"
  fi
  # Without the S3 backup backend, which offline mode does not use.
  install_peer unleash-edge "$unleash_version" --no-default-features
fi

cargo build --quiet --release -p tailor-host >&2
if wants wasmtime; then
  (cd bench/compare/http-guest && CARGO_TARGET_DIR="$PWD/../../../target" \
    cargo build --quiet --release --locked --target wasm32-wasip2 >&2)
  guest=target/wasm32-wasip2/release/tailor_compare_http_guest.wasm
fi

work=$(mktemp -d)
pids=()
# `|| true`: under `set -e` a failing command in the EXIT trap becomes the script's status.
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

source bench/lib.sh
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url [curl args…]
  for _ in $(seq 1 300); do
    curl -s -o /dev/null "$@" && return 0
    sleep 0.1
  done
  echo "not answering: $*" >&2
  exit 1
}

# tailor first: its sample snapshot is where every system's customers come from.
TAILOR_LOG=warn start_tailor "${CARGO_TARGET_DIR:-target}/release/tailor" "$work" --data-dir "$work/tailor" \
  --max-concurrent-decisions 256 --decision-log-rate 0
tailor_pid=$pid tailor_addr=$addr
pids+=("$pid")
base_pid="" base_addr=""
if [ -n "${BASELINE_BIN:-}" ]; then
  mkdir -p "$work/base"
  TAILOR_LOG=warn start_tailor "$BASELINE_BIN" "$work/base" --data-dir "$work/base/tailor" \
    --max-concurrent-decisions 256 --decision-log-rate 0
  base_pid=$pid base_addr=$addr
  pids+=("$pid")
fi
python3 bench/compare/http_requests.py "$work/tailor/sample-10000.ndjson" \
  policies/hero-banner/config.json "$work" >/dev/null

wasmtime_pid="" wasmtime_addr=""
if wants wasmtime; then
  port=$(free_port)
  # Defaults otherwise: a WASIp2 component gets a fresh instance per request, as in tailor. `-S
  # cli=y` links the wasi:cli interfaces Rust's std imports (tailor links inert ones).
  "$peers/bin/wasmtime" serve --addr "127.0.0.1:$port" -O pooling-allocator=y -S cli=y "$guest" \
    >"$work/wasmtime.out" 2>"$work/wasmtime.err" &
  wasmtime_pid=$! wasmtime_addr="http://127.0.0.1:$port"
  pids+=("$wasmtime_pid")
fi
unleash_pid="" unleash_addr="" unleash_token='*:development.tailor-compare'
if wants unleash-edge; then
  port=$(free_port)
  "$peers/bin/unleash-edge" --port "$port" --interface 127.0.0.1 --workers "$(nproc)" offline \
    --bootstrap-file "$work/unleash-features.json" --frontend-tokens "$unleash_token" \
    --client-tokens '*:development.tailor-compare-backend' \
    >"$work/unleash.out" 2>"$work/unleash.err" &
  unleash_pid=$! unleash_addr="http://127.0.0.1:$port"
  pids+=("$unleash_pid")
fi

wait_http "$tailor_addr/readyz"
[ -z "$base_addr" ] || wait_http "$base_addr/readyz"
[ -z "$wasmtime_addr" ] || wait_http "$wasmtime_addr/" -X POST -d '{}'
[ -z "$unleash_addr" ] || wait_http "$unleash_addr/internal-backstage/health"

# Every system must give the policy's answer before anything is timed: the same variant for
# every customer whose variant does not depend on the experiment's hash (tailor, wasmtime and
# the expectation share tailor-bucketing; Unleash hashes its own way, so its split is only
# checked for shape).
python3 - "$work" "$tailor_addr" "${wasmtime_addr:-}" "${unleash_addr:-}" "$unleash_token" <<'PY'
import json, sys, urllib.request
work, tailor, wasmtime, unleash, token = sys.argv[1:6]
def call(url, body=None, headers={}):
    req = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())
expected = [l.rstrip("\n").split("\t") for l in open(f"{work}/expected.tsv")][:300]
tailor_bodies = open(f"{work}/tailor.txt").read().splitlines()
wasm_bodies = open(f"{work}/wasmtime.txt").read().splitlines()
queries = open(f"{work}/unleash.txt").read().splitlines()
json_header = {"content-type": "application/json"}
for i, (customer, want) in enumerate(expected):
    t = call(f"{tailor}/v1/decide", tailor_bodies[i].encode(), json_header)["slots"][0]
    if wasmtime:
        w = call(wasmtime, wasm_bodies[i].encode(), json_header)["slots"][0]
        assert t["variant"] == w["variant"], (customer, t, w)
        assert t["reason"] == w["reason"], (customer, t, w)
        assert t.get("render") == w.get("render"), (customer, t, w)
    if not unleash:
        assert want == "*" or t["variant"] == want, (customer, want, t)
        continue
    u = call(f"{unleash}/api/frontend/features/hero-banner?{queries[i]}", headers={"authorization": token})
    u_variant = u["variant"]["name"]
    if want != "*":
        assert t["variant"] == want and u_variant == want, (customer, want, t, u)
    else:
        assert u_variant in ("spring-brand", "spring-lifestyle"), (customer, u)
print("all systems agree on 300 customers", file=sys.stderr)
PY

# wrk request generators reading one request per line.
lua() { # name method path-prefix lines-file [header]
  cat >"$work/$1.lua" <<LUA
local lines = {}
for line in io.lines("$4") do lines[#lines + 1] = line end
wrk.method = "$2"
wrk.headers["content-type"] = "application/json"
${5:-}
local n = 0
request = function()
  n = n % #lines + 1
  if wrk.method == "GET" then
    return wrk.format(nil, "$3" .. lines[n])
  end
  return wrk.format(nil, "$3", nil, lines[n])
end
LUA
}
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
offers = [
    {"id": "o1", "tags": ["category:shoes"], "numbers": {"discount": 0.2, "margin": 0.3}},
    {"id": "o2", "tags": ["category:bags"], "numbers": {"discount": 0.1, "margin": 0.5}},
    {"id": "o3", "tags": ["category:outerwear"], "numbers": {"discount": 0.25, "margin": 0.3}}]
more_offers = [
    {"id": "o4", "tags": ["category:shoes"], "numbers": {"discount": 0.15, "margin": 0.4}},
    {"id": "o5", "tags": ["category:beauty"], "numbers": {"discount": 0.3, "margin": 0.2}},
    {"id": "o6", "tags": ["category:bags"], "numbers": {"discount": 0.05, "margin": 0.6}}]
pages = {
    "tailor-3": [
        {"id": "hero", "policy": "hero-banner"},
        {"id": "offers", "policy": "next-best-offer", "candidates": offers},
        {"id": "greet", "policy": "kiosk-greeting"}],
    "tailor-5": [
        {"id": "hero", "policy": "hero-banner"},
        {"id": "hero-footer", "policy": "hero-banner"},
        {"id": "offers", "policy": "next-best-offer", "candidates": offers},
        {"id": "offers-more", "policy": "next-best-offer", "candidates": more_offers},
        {"id": "greet", "policy": "kiosk-greeting"}],
}
for name, slots in pages.items():
    out = []
    for line in open(f"{work}/tailor.txt"):
        body = json.loads(line)
        body["channel"] = "app"
        body["context"] = {"store_id": "store-0042"}
        body["slots"] = slots
        out.append(json.dumps(body, separators=(",", ":")))
    open(f"{work}/{name}.txt", "w").write("\n".join(out) + "\n")
PY
for page in tailor tailor-3 tailor-5; do
  lua "$page" POST /v1/decide "$work/$page.txt"
  cp "$work/$page.lua" "$work/${page/tailor/base}.lua"
done
lua wasmtime POST / "$work/wasmtime.txt"
lua unleash-edge GET "/api/frontend/features/hero-banner?" "$work/unleash.txt" \
  "wrk.headers[\"authorization\"] = \"$unleash_token\""

declare -A addr_of=([tailor]=$tailor_addr [tailor-3]=$tailor_addr [tailor-5]=$tailor_addr
  [base]=$base_addr [base-3]=$base_addr [base-5]=$base_addr
  [wasmtime]=$wasmtime_addr [unleash-edge]=$unleash_addr)
declare -A pid_of=([tailor]=$tailor_pid [tailor-3]=$tailor_pid [tailor-5]=$tailor_pid
  [base]=$base_pid [base-3]=$base_pid [base-5]=$base_pid
  [wasmtime]=$wasmtime_pid [unleash-edge]=$unleash_pid)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run_hey() { # system rate-per-worker → hey's report; every request is customer 42's
  local common=(-z "${duration}s" -c "$connections" -q "$2")
  case $1 in
    tailor | tailor-3 | tailor-5 | base | base-3 | base-5)
      hey "${common[@]}" -m POST -T application/json -d "$(sed -n 43p "$work/${1/base/tailor}.txt")" "${addr_of[$1]}/v1/decide" ;;
    wasmtime)
      hey "${common[@]}" -m POST -T application/json -d "$(sed -n 43p "$work/wasmtime.txt")" "${addr_of[$1]}/" ;;
    unleash-edge)
      hey "${common[@]}" -H "authorization: $unleash_token" \
        "${addr_of[$1]}/api/frontend/features/hero-banner?$(sed -n 43p "$work/unleash.txt")" ;;
  esac
}
results=$work/results.jsonl

ticks_per_second=$(getconf CLK_TCK)
for round in $(seq 1 "$rounds"); do
  tailor_rps=""
  for system in "${systems[@]}"; do
    pid=${pid_of[$system]}
    # Warm-up, untimed.
    wrk -t2 -c$connections -d2s -s "$work/$system.lua" "${addr_of[$system]}" >/dev/null 2>&1
    before=$(cpu_ticks "$pid")
    wrk -t2 -c$connections -d"${duration}s" --latency -s "$work/$system.lua" "${addr_of[$system]}" >"$work/wrk" 2>&1
    after=$(cpu_ticks "$pid")
    python3 - "$work/wrk" "$system" "$round" "$((after - before))" "$ticks_per_second" >>"$results" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
def ms(v):
    n, unit = re.match(r"([\d.]+)(\w+)", v).groups()
    return float(n) * {"us": 1e-3, "ms": 1, "s": 1e3}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
requests = int(re.search(r"(\d+) requests in", text).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
cpu_s = int(sys.argv[4]) / int(sys.argv[5])
print(json.dumps({"system": sys.argv[2], "round": int(sys.argv[3]), "mode": "saturation", "rps": rps,
    "p50_ms": ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1)),
    "p99_ms": ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1)),
    "cpu_us_per_request": cpu_s * 1e6 / requests, "non_2xx": int(errors.group(1)) if errors else 0}))
PY
    if [ "$system" = tailor ]; then
      tailor_rps=$(tail -1 "$results" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rps"])')
    fi
  done
  rate=$(python3 -c "print(max(1, int(float('$tailor_rps') * 0.8 / $connections)))")
  for system in "${systems[@]}"; do
    run_hey "$system" "$rate" >"$work/hey" 2>&1
    python3 - "$work/hey" "$system" "$round" "$((rate * connections))" >>"$results" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
codes = dict((int(c), int(n)) for c, n in re.findall(r"\[(\d+)\]\s+(\d+) responses", text))
print(json.dumps({"system": sys.argv[2], "round": int(sys.argv[3]), "mode": "80%", "target_rps": int(sys.argv[4]),
    "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)),
    "p50_ms": float(re.search(r"50% in ([\d.]+)", text).group(1)) * 1e3,
    "p99_ms": float(re.search(r"99% in ([\d.]+)", text).group(1)) * 1e3,
    "non_2xx": sum(n for c, n in codes.items() if c >= 300)}))
PY
  done
  echo "round $round of $rounds done" >&2
done

rss() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
for system in tailor base wasmtime unleash-edge; do
  pid=${pid_of[$system]}
  [ -n "$pid" ] || continue
  echo "{\"system\":\"$system\",\"mode\":\"memory\",\"rss_kib\":$(rss "$pid" VmRSS),\"peak_kib\":$(rss "$pid" VmHWM)}" >>"$results"
done

python3 - "$results" "$rounds" "$duration" "$connections" "$wasmtime_version" "$unleash_version" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rounds, duration, conns, wt, ue = sys.argv[2:7]
labels = {
    "tailor": "tailor serve, 1 slot (hero-banner)",
    "tailor-3": "tailor serve, 3 slots",
    "tailor-5": "tailor serve, 5-slot page",
    "base": "baseline build, 1 slot (hero-banner)",
    "base-3": "baseline build, 3 slots",
    "base-5": "baseline build, 5-slot page",
    "wasmtime": f"wasmtime serve {wt}, wasi:http component",
    "unleash-edge": f"Unleash Edge {ue}, offline, frontend API",
}
def med(system, mode, key):
    v = [r[key] for r in rows if r["system"] == system and r["mode"] == mode]
    return statistics.median(v), v
def ratio(system):
    # Per round, then the median: rounds share whatever else the machine was doing.
    by_round = {r["round"]: r["rps"] for r in rows if r["system"] == system and r["mode"] == "saturation"}
    tailor = {r["round"]: r["rps"] for r in rows if r["system"] == "tailor" and r["mode"] == "saturation"}
    return statistics.median(tailor[k] / v for k, v in by_round.items())
print(f"Saturation (wrk, {conns} connections, {duration} s, median of {rounds} interleaved rounds):\n")
print("| system | requests/s (min–max) | p50 ms | p99 ms | CPU µs/request | tailor 1-slot ÷ this, req/s (median of per-round ratios) | non-2xx |")
print("|---|---|---|---|---|---|---|")
ran = {r["system"] for r in rows}
labels = {k: v for k, v in labels.items() if k in ran}
for s in labels:
    rps, all_rps = med(s, "saturation", "rps")
    p50 = med(s, "saturation", "p50_ms")[0]
    p99 = med(s, "saturation", "p99_ms")[0]
    cpu = med(s, "saturation", "cpu_us_per_request")[0]
    bad = sum(r["non_2xx"] for r in rows if r["system"] == s and r["mode"] == "saturation")
    print(f"| {labels[s]} | {rps:,.0f} ({min(all_rps):,.0f}–{max(all_rps):,.0f}) | {p50:.2f} | {p99:.2f} | {cpu:.1f} | {ratio(s):.2f}× | {bad} |")
target = statistics.median(r["target_rps"] for r in rows if r["mode"] == "80%")
print(f"\nFixed rate, 80% of tailor's 1-slot saturation (hey, {conns} workers, target ≈ {target:,.0f} req/s, {duration} s, median of {rounds} rounds):\n")
print("| system | requests/s achieved | p50 ms | p99 ms | non-2xx |")
print("|---|---|---|---|---|")
for s in labels:
    rps = med(s, "80%", "rps")[0]
    p50 = med(s, "80%", "p50_ms")[0]
    p99 = med(s, "80%", "p99_ms")[0]
    bad = sum(r["non_2xx"] for r in rows if r["system"] == s and r["mode"] == "80%")
    print(f"| {labels[s]} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {bad} |")
print("\n| server | RSS after the rounds | peak RSS |\n|---|---|---|")
for r in rows:
    if r["mode"] == "memory" and r["system"] in labels:
        print(f"| {labels[r['system']].split(',')[0]} | {r['rss_kib'] / 1024:.0f} MiB | {r['peak_kib'] / 1024:.0f} MiB |")
PY
