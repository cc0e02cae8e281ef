#!/usr/bin/env bash
# Fuzzes every parser of outside bytes for a bounded time (issue: reliability). Not part of the
# test suite; inputs that crash a target are copied to fuzz/regressions/<target>/, which
# `cargo test` replays from then on (host/tests/fuzz_regressions.rs).
#
#   bench/fuzz.sh [SECONDS_PER_TARGET] [TARGET…]     (default 60 s, every target)
#
# Needs a nightly toolchain (libFuzzer and sanitizers) and installs cargo-fuzz when missing.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-60}
shift || true
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# The guest policies inside the host are built with the pinned stable toolchain (nightly may
# lack the wasm target); only the host is built by nightly, with libFuzzer and sanitizers.
pinned=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' ../rust-toolchain.toml)
export TAILOR_GUEST_TOOLCHAIN=$pinned
cargo +nightly fuzz build -O >&2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo +nightly fuzz list)

echo "| target | seconds | runs | result |"
echo "|---|---|---|---|"
failed=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log=$(mktemp)
  if cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    result="no crash"
  else
    result="CRASH"
    failed=1
    mkdir -p "regressions/$t"
    for crash in artifacts/"$t"/*; do
      [ -f "$crash" ] && cp "$crash" "regressions/$t/" && result="$result: regressions/$t/$(basename "$crash")"
    done
    tail -40 "$log" >&2
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  echo "| $t | $seconds | $runs | $result |"
  rm -f "$log"
done
exit $failed
