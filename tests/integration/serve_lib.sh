# Helpers for the `mortar serve` tests (test_serve_*.sh); sourced after lib.sh.

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
# $OUT.h; prints the status code. TOKEN "-" sends no Authorization header.
OUT=${WORK:?}/out.json
api() {
  local method=$1 path=$2 tok=$3 body=${4:-}
  shift 4 2>/dev/null || shift $#
  local args=(-sS --max-time $((30 * SLOW)) -o "$OUT" -D "$OUT.h" -w '%{http_code}' -X "$method")
  [[ $tok != - ]] && args+=(-H "Authorization: Bearer $tok")
  [[ -n $body ]] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  curl "${args[@]}" "$@" "$API$path"
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
