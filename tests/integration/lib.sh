# Shared helpers for integration tests: sourced by test_*.sh, which ctest runs as
#   bash test_X.sh /path/to/mortar        (MT_SOURCE_DIR = repository root)
# Everything runs on 127.0.0.1, is bounded by `timeout`, and is cleaned up by the EXIT trap.
set -euo pipefail

MORTAR=${1:?usage: $0 /path/to/mortar}
MORTAR=$(readlink -f "$MORTAR")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mortar-test.XXXXXX")
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# start_target [flags...]: starts `mortar target` on a free port; sets TARGET_PID, TARGET_PORT,
# TARGET_URL. Synchronises on the "listening on" line, not on time.
start_target() {
  local fifo="$WORK/target.$RANDOM.fifo" line
  mkfifo "$fifo"
  "$MORTAR" target --listen 127.0.0.1:0 "$@" >"$fifo" 2>"$WORK/target.err" &
  TARGET_PID=$!
  PIDS+=("$TARGET_PID")
  exec {TARGET_FD}<"$fifo"
  if ! read -r -t 20 -u "$TARGET_FD" line; then
    cat "$WORK/target.err" >&2
    fail "target did not start"
  fi
  [[ $line =~ listening\ on\ 127\.0\.0\.1:([0-9]+) ]] || fail "unexpected target line: $line"
  TARGET_PORT=${BASH_REMATCH[1]}
  TARGET_URL="http://127.0.0.1:$TARGET_PORT"
}

stop_target() {
  kill -TERM "$TARGET_PID" 2>/dev/null || true
  wait "$TARGET_PID" 2>/dev/null || true
}

# jqr FILE EXPR: one raw value from a JSON file.
jqr() { jq -r "$2" "$1"; }

# expect_eq WHAT ACTUAL EXPECTED
expect_eq() { [[ "$2" == "$3" ]] || fail "$1: got '$2', want '$3'"; pass "$1 = $3"; }

# expect_between WHAT VALUE LO HI (numbers; inclusive)
expect_between() {
  awk -v v="$2" -v lo="$3" -v hi="$4" 'BEGIN { exit !(v >= lo && v <= hi) }' ||
    fail "$1: $2 not in [$3, $4]"
  pass "$1 = $2 (in [$3, $4])"
}

# refused_port: a loopback port with nothing listening (a target's port after it stopped).
refused_port() {
  start_target
  stop_target
  echo "$TARGET_PORT"
}

# Slower under sanitizers: scale time bounds.
if [[ -n ${MT_SANITIZED:-} ]]; then SLOW=4; else SLOW=1; fi
