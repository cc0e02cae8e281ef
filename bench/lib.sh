# Shared by the bench scripts (sourced): start a release `tailor serve` on a free loopback port.
#
#   start_tailor BIN WORK_DIR [serve args…]   → sets $pid and $addr; logs to $WORK_DIR/{out,err}
start_tailor() {
  local bin=$1 work=$2
  shift 2
  "$bin" serve --listen 127.0.0.1:0 "$@" >"$work/out" 2>"$work/err" &
  pid=$!
  addr=""
  for _ in $(seq 1 600); do
    addr=$(grep -o 'http://[0-9.:]*' "$work/out" 2>/dev/null | head -1 || true)
    [ -n "$addr" ] && break
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$work/err" >&2; exit 1; }
}
