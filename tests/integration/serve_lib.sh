# Helpers for the `mortar serve` tests (test_serve_*.sh); sourced after lib.sh.

# MT_TEST_STORE=pg: the same suite against PostgreSQL (issue 12): a throwaway cluster, and
# `--data DIR` of serve/token turned into `--store` of a database of its own per DIR.
if [[ ${MT_TEST_STORE:-sqlite} == pg ]]; then
  source "$(dirname "${BASH_SOURCE[0]}")/pg_lib.sh"
  pg_start
  pg_mortar_wrap
fi

# start_serve DATA [flags...]: starts `mortar serve` on a free loopback port with data dir DATA;
# sets SERVE_PID, SERVE_PORT, API. Synchronises on the "listening on" line. Logs go to
# $WORK/serve.log.
start_serve() {
  local data=$1 fifo="$WORK/serve.$RANDOM.fifo" line
  shift
  mkfifo "$fifo"
  "$MORTAR" serve --listen 127.0.0.1:0 --data "$data" "$@" >"$fifo" 2>>"$WORK/serve.log" &
  SERVE_PID=$!
  PIDS+=("$SERVE_PID")
  exec {SERVE_FD}<"$fifo"
  if ! read -r -t $((20 * SLOW)) -u "$SERVE_FD" line; then
    tail -n 20 "$WORK/serve.log" >&2
    fail "serve did not start"
  fi
  [[ $line =~ ^mortar\ serve:\ listening\ on\ http://127\.0\.0\.1:([0-9]+)$ ]] ||
    fail "unexpected serve line: $line"
  SERVE_PORT=${BASH_REMATCH[1]}
  API="http://127.0.0.1:$SERVE_PORT/api/v1"
}

# stop_serve [SIGNAL]: signals serve (TERM by default) and waits for it; sets SERVE_RC.
stop_serve() {
  kill -"${1:-TERM}" "$SERVE_PID" 2>/dev/null || true
  SERVE_RC=0
  wait "$SERVE_PID" 2>/dev/null || SERVE_RC=$?
}

# api METHOD PATH TOKEN [BODY [curl args...]]: the response body goes to $OUT, the headers to
# $OUT.h; prints the status code. TOKEN "-" sends no Authorization header. The body is sent as
# $API_CTYPE (application/json by default). Every exchange is recorded in $WORK/api-log for
# check_openapi.
OUT=${WORK:?}/out.json
API_LOG=$WORK/api-log
api() {
  local method=$1 path=$2 tok=$3 body=${4:-} code
  shift 4 2>/dev/null || shift $#
  local args=(-sS --max-time $((30 * SLOW)) -o "$OUT" -D "$OUT.h" -w '%{http_code}' -X "$method")
  [[ $tok != - ]] && args+=(-H "Authorization: Bearer $tok")
  [[ -n $body ]] && args+=(-H "Content-Type: ${API_CTYPE:-application/json}" --data-binary "$body")
  code=$(curl "${args[@]}" "$@" "$API$path") || { echo "$code"; return 1; }
  mkdir -p "$API_LOG"
  local rec # api() often runs in $(...): a unique name, not a counter
  rec=$(mktemp -p "$API_LOG" "$(date +%s%N).XXXX")
  cp "$OUT" "$rec.body" 2>/dev/null || : >"$rec.body"
  jq -n --arg m "$method" --arg p "/api/v1${path%%\?*}" --arg s "$code" \
    --arg ct "$(grep -i '^content-type:' "$OUT.h" | tail -n 1 | cut -d: -f2- | tr -d ' \r')" \
    '{method: $m, path: $p, status: ($s | tonumber), content_type: $ct}' >"$rec.meta"
  echo "$code"
}

# check_openapi: every response api() received in this test must match docs/openapi.json (its
# path, method, status, media type and, for JSON, the schema). A violation fails the test.
check_openapi() {
  [[ -d $API_LOG ]] || return 0
  node "$MT_SOURCE_DIR/tests/schema/openapi-check.mjs" "$MT_SOURCE_DIR/docs/openapi.json" "$API_LOG" \
    >"$WORK/openapi-check.txt" 2>&1 || fail "responses that break docs/openapi.json:
$(tail -n 40 "$WORK/openapi-check.txt")"
  pass "$(tail -n 1 "$WORK/openapi-check.txt")"
}

# expect_api WHAT STATUS METHOD PATH TOKEN [BODY [curl args...]]
expect_api() {
  local what=$1 want=$2 got
  shift 2
  got=$(api "$@")
  [[ $got == "$want" ]] || fail "$what: status $got, want $want: $(head -c 400 "$OUT")"
  pass "$what ($want)"
}

# expect_problem WHAT STATUS SLUG METHOD PATH TOKEN [BODY]: an RFC 9457 problem.
expect_problem() {
  local what=$1 status=$2 slug=$3
  shift 3
  expect_api "$what" "$status" "$@"
  grep -qi '^content-type: application/problem+json' "$OUT.h" ||
    fail "$what: not application/problem+json: $(grep -i content-type "$OUT.h")"
  jq -e --arg s "$slug" --argjson st "$status" \
    '.type == "https://mortar.dev/problems/\($s)" and .status == $st and (.title|type) == "string"
     and (.detail|type) == "string" and (.instance|startswith("/api/v1"))' "$OUT" >/dev/null ||
    fail "$what: not a $slug problem: $(cat "$OUT")"
}

# wait_run RUN TOKEN SECONDS STATE-REGEX: polls the run until its state matches (bounded).
wait_run() {
  local run=$1 tok=$2 secs=$(($3 * SLOW)) want=$4 state="" i
  for ((i = 0; i < secs * 10; i++)); do
    api GET "/runs/$run" "$tok" >/dev/null || true
    state=$(jq -r .state "$OUT" 2>/dev/null || true)
    [[ $state =~ ^($want)$ ]] && return 0
    sleep 0.1
  done
  fail "run $run: state '$state' after ${secs}s, want $want"
}

# wait_seconds RUN TOKEN N SECONDS: polls until the run has at least N stored seconds.
wait_seconds() {
  local run=$1 tok=$2 n=$3 secs=$(($4 * SLOW)) got=0 i
  for ((i = 0; i < secs * 10; i++)); do
    api GET "/runs/$run/series" "$tok" >/dev/null || true
    got=$(jq -r '.items | length' "$OUT" 2>/dev/null || echo 0)
    ((got >= n)) && return 0
    sleep 0.1
  done
  fail "run $run: $got stored seconds after ${secs}s, want $n"
}
