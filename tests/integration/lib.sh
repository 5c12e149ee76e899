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

# refused_port: a loopback port with nothing listening, for a test's own server or a refused
# connection. It is drawn below the kernel's ephemeral range (32768..60999): a port from that
# range (a stopped target's) can be taken in between by any other test's outgoing connection
# (CI: nginx then waited for its port and the test's first connections were refused).
refused_port() {
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  fail "no free loopback port in 20000..31999"
}

# Slower under sanitizers: scale time bounds.
if [[ -n ${MT_SANITIZED:-} ]]; then SLOW=4; else SLOW=1; fi

# ---- helpers for the end-to-end tests (test_e2e_*.sh) ----------------------------------------

# run_json OUT SECONDS ARGS...: `mortar run -q --json OUT ARGS...`, bounded by SECONDS x SLOW.
# Fails unless it exits 0 and OUT is a mortar result (a sanitizer report aborts the process,
# so it fails here too). Its stdout and stderr are kept in OUT.stdout and OUT.stderr.
run_json() {
  local out=$1 secs=$2 rc=0
  shift 2
  timeout $((secs * SLOW)) "$MORTAR" run -q --json "$out" "$@" >"$out.stdout" 2>"$out.stderr" || rc=$?
  if [[ $rc -ne 0 ]]; then
    tail -n 30 "$out.stderr" >&2
    fail "mortar run $* exited $rc"
  fi
  jq -e '.schema == "mortar.result/v1"' "$out" >/dev/null || fail "$out: not a mortar result"
}

# target_stats FILE: the running target's own counters (GET /__mortar/stats) into FILE.
target_stats() {
  curl -sS --fail --max-time $((10 * SLOW)) -o "$1" "$TARGET_URL/__mortar/stats" ||
    fail "GET $TARGET_URL/__mortar/stats failed"
  jq -e 'type == "object"' "$1" >/dev/null || fail "stats are not a JSON object: $(head -c 300 "$1")"
}

# target_stats_since BEFORE OUT: what the target counted since the snapshot BEFORE (taken with
# target_stats), without the stats requests themselves. Two snapshots S1, S2 are taken back to
# back and OUT = (S1 - BEFORE) - (S2 - S1), number by number (objects key by key, a missing key
# is 0). Each stats request adds the same to every counter, so this is exact whether or not a
# snapshot counts the request that asked for it, and whatever the stats requests count.
target_stats_since() {
  local s1="$WORK/stats1.$RANDOM.json" s2="$WORK/stats2.$RANDOM.json"
  target_stats "$s1"
  target_stats "$s2"
  jq -n --slurpfile a "$1" --slurpfile b "$s1" --slurpfile c "$s2" '
    def d($a; $b; $c):
      ([$a, $b, $c] | map(select(. != null)) | .[0] | type) as $t
      | if $t == "object" then
          reduce ([$a, $b, $c] | map(select(type == "object") | keys[]) | unique[]) as $k
            ({}; .[$k] = d($a[$k]; $b[$k]; $c[$k]))
        elif $t == "number" then 2 * ($b // 0) - ($a // 0) - ($c // 0)
        else $b end;
    d($a[0]; $b[0]; $c[0])' >"$2" || fail "cannot compute stats difference"
}

# expect_near WHAT VALUE CENTER TOL: VALUE within CENTER +- TOL (numbers).
expect_near() {
  local lo hi
  lo=$(awk -v c="$3" -v t="$4" 'BEGIN { printf "%.3f", c - t }')
  hi=$(awk -v c="$3" -v t="$4" 'BEGIN { printf "%.3f", c + t }')
  expect_between "$1" "$2" "$lo" "$hi"
}

# expect_jq WHAT FILE FILTER: jq -e FILTER on FILE must be true; on failure shows FILTER's
# value. Extra jq arguments (--arg ...) may follow.
expect_jq() {
  local what=$1 file=$2 filter=$3
  shift 3
  jq -e "$@" "$filter" "$file" >/dev/null ||
    fail "$what: $filter is $(jq -c "$@" "$filter" "$file" 2>&1 | head -c 400)
  in $(basename "$file"): $(head -c 1500 "$file")"
  pass "$what"
}
