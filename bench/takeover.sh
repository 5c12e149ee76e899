#!/usr/bin/env bash
# Several servers (docs/serve.md "Several servers", docs/benchmarks.md section 14): how long a
# running run goes unaggregated when the server that owns it is killed with SIGKILL. Each round
# starts two `mortar serve` on one throwaway PostgreSQL and one nats-server, two agents and a
# target, starts a 2-agent run, kills the owner mid-run and reads:
#   lease expiry  = the dead owner's last expires_at (table run_leases, the database's clock)
#   taken over    = the survivor's log line "run taken over"
#   first second  = the survivor's log line "first second stored after the takeover"
# and checks that the run completes with every second stored once.
# Everything on 127.0.0.1 / a Unix socket, in a temp dir, stopped at the end.
#   bench/takeover.sh [BUILD_DIR] [ROUNDS]          (defaults: build, 5)
set -euo pipefail
BUILD=${1:-build}
ROUNDS=${2:-5}
cmake --build "$BUILD" --target mortar -j2 >/dev/null
MORTAR=$(readlink -f "$BUILD/mortar")
export MT_SOURCE_DIR=${MT_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
# the integration tests' helpers (servers on loopback, cleaned up by their EXIT trap)
set -- "$MORTAR"
source "$MT_SOURCE_DIR/tests/integration/lib.sh"
source "$MT_SOURCE_DIR/tests/integration/serve_lib.sh"
source "$MT_SOURCE_DIR/tests/integration/nats_lib.sh"
source "$MT_SOURCE_DIR/tests/integration/pg_lib.sh"

ms_of() { # the ts of the first log line matching $2 in file $1, as Unix ms
  local ts
  ts=$(grep -m1 "$2" "$1" | jq -r .ts) || return 1
  date -d "$ts" +%s%3N
}

replica() {
  local name=$1 fifo="$WORK/serve-$1.$RANDOM.fifo" line fd
  mkfifo "$fifo"
  "$MORTAR" serve --listen 127.0.0.1:0 --store "$STORE" --nats "$NATS_URL" --server-id "$name" \
    >"$fifo" 2>"$WORK/serve-$name.log" &
  printf -v "PID_$name" %s "$!"
  PIDS+=("$!")
  exec {fd}<"$fifo"
  read -r -t 30 -u "$fd" line || fail "serve $name did not start"
  [[ $line =~ listening\ on\ (http://127\.0\.0\.1:[0-9]+)$ ]] || fail "unexpected serve line: $line"
  printf -v "API_$name" %s "${BASH_REMATCH[1]}/api/v1"
}

pg_start
start_nats
start_target
start_agent gen-1
start_agent gen-2
printf '| round | lease expiry → taken over (ms) | lease expiry → first second stored (ms) | kill → first second stored (ms) | seconds stored |\n'
printf '|---:|---:|---:|---:|---:|\n'
for ((r = 1; r <= ROUNDS; r++)); do
  STORE=$(pg_uri "takeover$r")
  TOK=$("$MORTAR" token create --role admin --store "$STORE")
  replica "a$r"
  replica "b$r"
  API=$(eval echo "\$API_a$r")
  wait_agents "$TOK" 2
  api POST /runs "$TOK" '{"config":{"url":"'"$TARGET_URL"'/","rate":20,"duration":"12s","agents":2}}' >/dev/null
  RUN=$(jq -r .id "$OUT")
  wait_seconds "$RUN" "$TOK" 3 60
  OWNER=$(pg_psql "takeover$r" "SELECT owner FROM run_leases WHERE run_id = '$RUN'")
  SURV=$([[ $OWNER == "a$r" ]] && echo "b$r" || echo "a$r")
  v="PID_$OWNER"
  KILL=$(date +%s%3N)
  kill -KILL "${!v}"
  EXP=$(pg_psql "takeover$r" "SELECT expires_at FROM run_leases WHERE run_id = '$RUN'")
  API=$(eval echo "\$API_$SURV")
  wait_run "$RUN" "$TOK" 90 passed
  TAKEN=$(ms_of "$WORK/serve-$SURV.log" '"msg":"run taken over"')
  FIRST=$(ms_of "$WORK/serve-$SURV.log" '"msg":"first second stored after the takeover"')
  api GET "/runs/$RUN/series" "$TOK" >/dev/null
  N=$(jq '[.items[].t] | if . == [range(0; 12)] then "12 (0..11, each once)" else tostring end' -r "$OUT")
  printf '| %d | %d | %d | %d | %s |\n' "$r" $((TAKEN - EXP)) $((FIRST - EXP)) $((FIRST - KILL)) "$N"
  v="PID_$SURV"
  kill -TERM "${!v}"
  wait "${!v}" 2>/dev/null || true
done
