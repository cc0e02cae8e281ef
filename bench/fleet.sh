#!/usr/bin/env bash
# The fleet benchmark (issue: fleet). Not part of the test suite.
#
#   bench/fleet.sh [SAMPLES] [ROUNDS] [SECONDS] [RATE] [PUBLISH_REPS] [DEFAULT_REPS]
#                  (default 300 3 10 2000 5 3)
#
# Three release `tailor serve` nodes (web, app, kiosk) and one `nats-server -js`, each on a
# loopback address of the benchmark's own (127.0.0.71–74; the registry shares .71 on port
# 5000), all on this machine's cores together with the load generators:
#   1. event at web → reflected in a decision at app: SAMPLES events posted one at a time,
#      app's decisions (the echo test policy, which renders the profile's events) polled
#      until they show it; p50/p90/p99, and app's tailor_fleet_event_replication_seconds;
#   2. replication under decision load: ROUNDS interleaved rounds of two SECONDS-long windows,
#      hey at RATE req/s of hero-banner decisions against app, with and without a blast at web
#      (batches of 500 page views from 1, and from 4, connections), and the same windows against
#      a fourth node outside the fleet (solo, 127.0.0.75: the control, which feels the
#      machine's load but applies nothing); the decision p50/p99 in each, and the events app
#      applied per second (its /admin/v1/status remote_events_applied);
#   3. publish→live: the nodes follow hero-banner on a registry tag (docker-registry), a signed
#      version is pushed (tailor keygen/sign/push), and the time runs from the push finishing
#      to the last node serving it: PUBLISH_REPS times with web polling every second and the
#      others woken only by the fleet's policy notice, DEFAULT_REPS times with every node at the
#      default poll.
# The driver is `host/benches/fleet.rs` (`cargo bench -p tailor-host --bench fleet`), which
# prints the Markdown report on stdout; progress goes to stderr. Every process it starts is
# killed on exit, on error and on Ctrl-C (the driver reaps its children; this script kills its
# process group as well).
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-300}
rounds=${2:-3}
seconds=${3:-10}
rate=${4:-2000}
publish_reps=${5:-5}
default_reps=${6:-3}

missing=()
for tool in /usr/sbin/nats-server:nats-server /usr/bin/docker-registry:docker-registry \
  /usr/bin/hey:hey; do
  [ -x "${tool%%:*}" ] || missing+=("${tool#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}" >&2
  apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; }
fi

# Its own process group, so that the trap reaches every process the driver started even if
# the driver itself is killed before it can reap them.
setsid cargo bench -p tailor-host --bench fleet -- \
  --samples "$samples" --rounds "$rounds" --seconds "$seconds" --rate "$rate" \
  --publish-reps "$publish_reps" --default-reps "$default_reps" &
driver=$!
trap 'kill -TERM -- -$driver 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM
wait "$driver"
