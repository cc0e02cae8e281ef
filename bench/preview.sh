#!/usr/bin/env bash
# How long a console preview takes (issue: console): a draft of the bundled `rules` campaign
# run beside the live version on a sample of the store's profiles. Not part of the test suite.
#
#   bench/preview.sh [RUNS]        (default 10 previews per case)
#
# Starts a release `tailor serve` with 10,000 and then 1,000,000 sample profiles and times
# `POST /admin/v1/policies/rules/preview` for samples of 100, 1,000 and 10,000 profiles: the
# node's own `elapsed_ms` (deciding both sides) and the whole request as curl sees it
# (sampling ids from the store, reading profiles, JSON out). Medians. Prints Markdown for
# docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
for tool in curl python3; do
  if ! command -v "$tool" >/dev/null; then
    apt-get update -qq && apt-get install -y -qq curl python3 >/dev/null
  fi
done
cargo build --release -p tailor-host >&2
bin=${CARGO_TARGET_DIR:-target}/release/tailor
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
source bench/lib.sh
token=bench-admin-token-0000000001
# The draft: the bundled campaign with its default headline changed (every customer the
# default serves changes; the rest do not).
draft=$(python3 -c '
import json
config = json.load(open("policies/rules/config.json"))
config["default"]["render"]["headline"] = "A new default headline"
print(json.dumps(json.dumps(config)))')

echo "## Console preview ($(nproc) cores, $(date -u +%Y-%m-%d))"
echo
echo "\`bench/preview.sh $runs\`: medians of $runs previews of a draft of the bundled \`rules\` campaign against the live version."
echo
echo "| profiles in the store | sample | node: decisions (ms) | whole request (ms) | changed |"
echo "|---:|---:|---:|---:|---:|"
for profiles in 10000 1000000; do
  rm -rf "$work/node"
  mkdir -p "$work/node"
  TAILOR_LOG=warn start_tailor "$bin" "$work/node" --data-dir "$work/node/data" \
    --admin-token "$token" --sample-profiles "$profiles" --decision-log-rate 0
  for sample in 100 1000 10000; do
    body="{\"config\": $draft, \"sample\": $sample}"
    : >"$work/times"
    for _ in $(seq 1 "$runs"); do
      curl -sf -o "$work/preview.json" -w '%{time_total}\n' -X POST \
        -H "authorization: Bearer $token" -H 'content-type: application/json' \
        --data "$body" "$addr/admin/v1/policies/rules/preview" >>"$work/wall"
      python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))
print(p["elapsed_ms"], p["summary"]["changed"])' "$work/preview.json" >>"$work/times"
    done
    python3 - "$work/times" "$work/wall" "$profiles" "$sample" <<'PY'
import statistics, sys
times = [line.split() for line in open(sys.argv[1])]
wall = [float(line) * 1000 for line in open(sys.argv[2])][-len(times):]
node = statistics.median(float(t[0]) for t in times)
print(f"| {int(sys.argv[3]):,} | {int(sys.argv[4]):,} | {node:.1f} | {statistics.median(wall):.1f} | {times[-1][1]} |")
PY
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
done
