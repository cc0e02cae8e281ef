#!/usr/bin/env bash
# tailor side by side with what its users would pick instead (issue: comparison benchmarks).
# Not part of the test suite.
#
#   bench/compare.sh [ROUNDS] [ITERATIONS] [HTTP_ROUNDS] [HTTP_SECONDS]
#       (defaults: 7 rounds of 200,000 decisions; 3 HTTP rounds of 10 s runs)
#
# Three parts, one Markdown report on stdout. First the in-process comparison below. Then the
# cost curves (profiles in the store, traits per profile, policies loaded, slots per request,
# policy size): printed as a table and plotted to docs/cost-curves.png (matplotlib, from PyPI
# into a scratch virtualenv). Last the HTTP comparison, bench/compare-http.sh (also runnable
# alone).
#
# In-process cost of one hero-banner decision, the same logic in each system and the same five
# profiles in turn: tailor with a fresh instance per decision (as it serves), tailor with one
# reused instance (reference), the policy's Rust compiled natively (the floor), regorus
# evaluating the equivalent Rego (bench/compare/hero-banner.rego) and the GrowthBook JS SDK on
# Node evaluating the equivalent feature (bench/compare/hero-banner.mjs). Systems run
# interleaved, one process per system per round; the report gives each system's median over
# the rounds and tailor's ratio to it. Peers are installed from crates.io and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
rounds=${1:-7}
iterations=${2:-200000}
http_rounds=${3:-3}
http_seconds=${4:-10}
command -v node >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
(cd bench/compare && npm install --no-audit --no-fund --silent >&2)
# The harness has its own lock file; it shares the main target directory so wasmtime is not
# rebuilt when the main release build exists.
(cd bench/compare/inproc && CARGO_TARGET_DIR="$PWD/../../../target" cargo build --release --locked >&2)
harness=target/release/tailor-compare-inproc
systems=(tailor-fresh tailor-reused native regorus growthbook-js)
results=$(mktemp)
scratch=$(mktemp -d)
trap 'rm -rf "$results" "$scratch"' EXIT
for round in $(seq 1 "$rounds"); do
  for system in "${systems[@]}"; do
    if [ "$system" = growthbook-js ]; then
      node bench/compare/hero-banner.mjs "$iterations" >>"$results"
    else
      "$harness" "$system" "$iterations" >>"$results"
    fi
  done
  echo "round $round of $rounds done" >&2
done
report=$(python3 - "$results" "$rounds" "$iterations" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.startswith("{")]
by = {}
for r in rows:
    by.setdefault(r["system"], []).append(r["ns_per_decision"])
med = {s: statistics.median(v) for s, v in by.items()}
fresh = med["tailor-fresh"]
labels = {
    "tailor-fresh": "tailor, fresh instance per decision (as served)",
    "tailor-reused": "tailor, one reused instance (reference)",
    "native": "native Rust, same code in the host (floor)",
    "regorus": "regorus 0.14, equivalent Rego",
    "growthbook-js": "GrowthBook JS SDK 1.8 on Node 20, equivalent feature",
}
print(f"| hero-banner decision ({sys.argv[2]} interleaved rounds × {sys.argv[3]}) | median ns | min–max over rounds | tailor (fresh) ÷ this |")
print("|---|---|---|---|")
for s in ["tailor-fresh", "tailor-reused", "native", "regorus", "growthbook-js"]:
    v = by[s]
    print(f"| {labels[s]} | {med[s]:,.0f} | {min(v):,.0f}–{max(v):,.0f} | {fresh / med[s]:.2f}× |")
PY
)
echo "$report"

echo
# The policy-size curve: one policy built with lookup tables of graded size (0 KiB is the SDK's
# own weight).
sized=()
for kib in 0 100 300 1000; do
  (cd bench/compare/sized-policy && TAILOR_SIZED_POLICY_KB=$kib CARGO_TARGET_DIR="$PWD/../../../target" \
    cargo build --quiet --release --locked --target wasm32-wasip2 >&2)
  cp target/wasm32-wasip2/release/tailor_compare_sized_policy.wasm "$scratch/sized-$kib.wasm"
  sized+=("$scratch/sized-$kib.wasm")
done
target/release/curves 20000 "${sized[@]}" >"$results"
python3 - "$results" <<'PY'
import csv, sys
print("| curve | x | cost |\n|---|---|---|")
for r in csv.DictReader(open(sys.argv[1])):
    ns = float(r["ns_per_op"])
    cost = f"{ns / 1e6:,.1f} ms (compile and load, once)" if r["curve"] == "policy_size_load" else f"{ns:,.0f} ns per operation"
    print(f"| {r['curve']} | {int(float(r['x'])):,} | {cost} |")
PY
venv=$(mktemp -d)
python3 -m venv "$venv" && "$venv/bin/pip" install -q matplotlib >&2
"$venv/bin/python" bench/compare/plot_curves.py "$results" docs/cost-curves.png
rm -rf "$venv"
echo
echo "plot: docs/cost-curves.png"

# Over HTTP, beside wasmtime serve and Unleash Edge.
echo
bench/compare-http.sh "$http_rounds" "$http_seconds"
echo
echo "compare: finished in $(( $(date +%s) - started ))s" >&2
