#!/usr/bin/env bash
# Fair shares (issue: one heavy policy must not starve the node). Not part of the test suite.
#
#   bench/shares.sh [DURATION_SECONDS]      (default 15)
#   BASELINE_BIN=/path/to/old/tailor bench/shares.sh   adds rows for a build without the
#                                                      scheduler (decisions inline on the workers)
#
# On one release `tailor serve` per thread layout, side by side in one run: hero-banner alone
# (wrk, 16 connections); the heavy policy alone (the `burn` test policy at ~5 ms of CPU per
# decision, 4 connections); both at once. The heavy policy is published with a share of
# 400 ms of CPU per second and one decision at once. Reports throughput and latency per policy,
# the heavy policy's measured CPU per second against its share, and CPU per decision per policy
# (from the node's own scheduler counters, per window). Prints Markdown on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-15}
for tool in wrk curl python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "installing $tool" >&2
    apt-get update -qq && apt-get install -y -qq wrk curl >/dev/null
  fi
done
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cargo build --release -p tailor-host -p tailor-test-policies >&2
target=${CARGO_TARGET_DIR:-target}
# TAILOR_BIN: measure another build of the scheduler (an A/B of one change) instead.
bin=${TAILOR_BIN:-$target/release/tailor}
burn=$(ls -t "$target"/release/build/tailor-test-policies-*/out/guests/wasm32-wasip2/guest/burn.wasm | head -1)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

python3 - "$bin" "$burn" "$work" "$duration" "${BASELINE_BIN:-}" <<'PY'
import base64, json, os, re, subprocess, sys, time, urllib.request

bin_, burn, work, duration, baseline = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
TOKEN = "bench-admin-token-000001"
ITERATIONS = 2_300_000          # ~5 ms of CPU per decision on this machine kind
SHARE = {"cpu_ms_per_second": 400, "max_concurrent": 1}

def start(binary, tag, args):
    data = os.path.join(work, tag)
    out = open(os.path.join(work, tag + ".out"), "w")
    err = open(os.path.join(work, tag + ".err"), "w")
    proc = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data,
                             "--admin-token", TOKEN, "--max-concurrent-decisions", "256",
                             "--decision-log-rate", "0", *args],
                            stdout=out, stderr=err, env={**os.environ, "TAILOR_LOG": "warn"})
    for _ in range(600):
        text = open(os.path.join(work, tag + ".out")).read()
        m = re.search(r"http://[0-9.:]+", text)
        if m:
            return proc, m.group(0)
        time.sleep(0.1)
    sys.exit(open(os.path.join(work, tag + ".err")).read())

def call(addr, method, path, body=None):
    req = urllib.request.Request(addr + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"content-type": "application/json", "authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())

def lua(name, policy):
    path = os.path.join(work, name + ".lua")
    with open(path, "w") as f:
        f.write(f'''wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "/v1/decide", nil, string.format('{{"channel":"web","unit":{{"customer_id":"cust-%06d"}},"slots":[{{"id":"s","policy":"{policy}"}}]}}', n % 10000))
end
''')
    return path

HERO, HEAVY = lua("hero", "hero-banner"), lua("heavy", "heavy")

def wrk(script, addr, connections):
    return subprocess.Popen(["wrk", "-t1" if connections < 8 else "-t2", f"-c{connections}", f"-d{duration}s",
                             "--latency", "-s", script, addr], stdout=subprocess.PIPE, text=True)

def parse(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    return rps, pct(50), pct(99)

def usage(addr, policy, new):
    if not new:
        return None
    return call(addr, "GET", f"/admin/v1/policies/{policy}")["active"]["scheduling"]

def cpu_s(path):
    # utime + stime of the node, in seconds
    fields = open(path).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def window(addr, proc, new, runs):
    before = {p: usage(addr, p, new) for p in ("hero-banner", "heavy")}
    node_cpu = cpu_s(f"/proc/{proc.pid}/stat")
    t0 = time.monotonic()
    started = {name: wrk(script, addr, c) for name, (script, c) in runs.items()}
    results = {name: parse(p.communicate()[0]) for name, p in started.items()}
    elapsed = time.monotonic() - t0
    node_cpu = cpu_s(f"/proc/{proc.pid}/stat") - node_cpu
    after = {p: usage(addr, p, new) for p in ("hero-banner", "heavy")}
    per = {}
    if new:
        for p in before:
            d = after[p]["decisions"] - before[p]["decisions"]
            cpu = after[p]["cpu_nanos"] - before[p]["cpu_nanos"]
            shed = after[p]["shed_over_budget"] - before[p]["shed_over_budget"]
            per[p] = dict(decisions=d, cpu_ms_per_s=cpu / 1e6 / elapsed,
                          cpu_per_decision_us=(cpu / d / 1e3) if d else 0.0, shed=shed)
    return results, per, node_cpu / elapsed

layouts = [("2 HTTP + 2 decision threads, cheap policies inline (the default on 2 cores)", bin_, ["--http-threads", "2", "--decision-threads", "2"], True),
           ("1 HTTP + 2 decision threads, cheap policies inline", bin_, ["--http-threads", "1", "--decision-threads", "2"], True),
           ("2 HTTP + 2 decision threads, nothing inline", bin_, ["--http-threads", "2", "--decision-threads", "2", "--inline-under-us", "0"], True),
           ("1 HTTP + 2 decision threads, nothing inline", bin_, ["--http-threads", "1", "--decision-threads", "2", "--inline-under-us", "0"], True)]
if baseline:
    layouts.append(("before: decisions inline on 2 runtime workers", baseline, [], False))

print(f"## Fair shares ({os.cpu_count()} cores, {time.strftime('%Y-%m-%d', time.gmtime())}, {duration} s per window, loopback, wrk on the same cores)")
print()
print(f"heavy = the `burn` test policy at {ITERATIONS:,} rounds per decision, share {json.dumps(SHARE)} (the baseline build takes no share); hero-banner on 16 connections, heavy on 4.")
print()
print("| layout | window | hero req/s | hero p50 ms | hero p99 ms | heavy req/s | heavy answered/s | heavy shed/s | heavy CPU ms/s (share 400) | CPU µs/decision hero / heavy | node CPU cores |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for label, binary, args, new in layouts:
    tag = re.sub(r"\W+", "-", label)[:40]
    proc, addr = start(binary, tag, args)
    body = {"component": base64.b64encode(open(burn, "rb").read()).decode(),
            "config": json.dumps({"iterations": ITERATIONS})}
    if new:
        body["share"] = SHARE
    call(addr, "PUT", "/admin/v1/policies/heavy", body)
    # Warm both (compilation is at publish; first decisions fault pages in).
    for policy in ("hero-banner", "heavy"):
        for i in range(20):
            call(addr, "POST", "/v1/decide", {"channel": "web", "unit": {"customer_id": f"cust-{i:06d}"}, "slots": [{"id": "s", "policy": policy}]})
    solo = None
    for name, runs in [("hero alone", {"hero": (HERO, 16)}),
                       ("heavy alone", {"heavy": (HEAVY, 4)}),
                       ("both", {"hero": (HERO, 16), "heavy": (HEAVY, 4)})]:
        results, per, cores = window(addr, proc, new, runs)
        hero = results.get("hero")
        heavy = results.get("heavy")
        if name == "hero alone":
            solo = hero[0]
        cell = lambda r, i, fmt: (fmt % r[i]) if r else ""
        hp, hv = per.get("hero-banner", {}), per.get("heavy", {})
        answered = f"{hv['decisions'] / duration:.0f}" if heavy and new else ""
        shed = f"{hv['shed'] / duration:.0f}" if heavy and new else ""
        share = f"{hv['cpu_ms_per_s']:.0f}" if heavy and new else ""
        costs = f"{hp.get('cpu_per_decision_us', 0):.1f} / {hv.get('cpu_per_decision_us', 0):.0f}" if new else ""
        kept = f" ({hero[0] / solo * 100:.0f}% of alone)" if hero and name == "both" and solo else ""
        print(f"| {label} | {name} | {cell(hero, 0, '%.0f')}{kept} | {cell(hero, 1, '%.2f')} | {cell(hero, 2, '%.2f')} | {cell(heavy, 0, '%.0f')} | {answered} | {shed} | {share} | {costs} | {cores:.2f} |")
    proc.terminate()
    proc.wait()
PY
