#!/usr/bin/env bash
# mortar serve's crash and shutdown semantics (docs/serve.md): after a SIGKILL during a run,
# the next start marks the run interrupted (ended_at: the end of its last stored second) and
# every second stored before the kill is intact and consistent (one transaction per second: no
# half rows); a queued run stays queued and runs; SIGTERM stops running runs with reason
# "server shutdown".
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

DATA=$WORK/data
TOK=$("$MORTAR" token create --role runner --data "$DATA")
start_target
LONG="{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":30,\"duration\":\"10m\"}}"

# ---- SIGKILL during a run ----
start_serve "$DATA"
if [[ ${MT_TEST_STORE:-sqlite} != pg ]]; then # on PostgreSQL several servers share one store
  rc=0
  timeout $((20 * SLOW)) "$MORTAR" serve --listen 127.0.0.1:0 --data "$DATA" >/dev/null 2>"$WORK/second.err" || rc=$?
  expect_eq "a second serve on the same data directory exits" "$rc" 1
  grep -q 'another mortar serve uses this data directory' "$WORK/second.err" || fail "no clear message: $(cat "$WORK/second.err")"
fi
expect_api "queue a long run" 201 POST /runs "$TOK" "$LONG"
RUN=$(jq -r .id "$OUT")
expect_api "queue a second run (waits)" 201 POST /runs "$TOK" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":10,\"duration\":\"1s\"}}"
QUEUED=$(jq -r .id "$OUT")
wait_seconds "$RUN" "$TOK" 3 60
stop_serve KILL
pass "serve killed with SIGKILL during the run"

start_serve "$DATA"
expect_api "the run after the restart" 200 GET "/runs/$RUN" "$TOK"
cp "$OUT" "$WORK/run.json"
expect_jq "the run is interrupted, saying why" "$WORK/run.json" \
  '.state == "interrupted" and (.reason | startswith("server stopped during the run (restart at ")) and (.ended_at | type) == "string"'
expect_jq "it ended at the end of its last stored second, not at the restart" "$WORK/run.json" \
  'def ms: (.[0:19] + "Z" | fromdate) * 1000 + (.[20:23] | tonumber);
   (.ended_at | ms) - (.started_at | ms) == .seconds * 1000'
expect_api "its series" 200 GET "/runs/$RUN/series" "$TOK"
cp "$OUT" "$WORK/series.json"
n=$(jq '.items | length' "$WORK/series.json")
((n >= 3)) || fail "only $n seconds survived the kill (3 were stored before it)"
pass "$n stored seconds survived the kill"
expect_eq "run.seconds = stored seconds" "$(jq .seconds "$WORK/run.json")" "$n"
expect_jq "the seconds are 0..n-1, each whole" "$WORK/series.json" \
  '[.items[].t] == [range(0; .items | length)] and
   all(.items[]; (.completed | type) == "number" and (.sent | type) == "number" and
                 (.latency_us.p99 | type) == "number" and
                 ((.status | to_entries | map(.value) | add) // 0) + .errors >= .completed) and
   ([.items[].completed] | add) <= ([.items[].sent] | add)'
# (a second may complete more than it sent: a request sent late in one second is answered in
# the next; only the run's totals are ordered)
expect_api "the summary of what was stored" 200 GET "/runs/$RUN/summary" "$TOK"
expect_eq "summary = the stored seconds" "$(jq .requests "$OUT")" "$(jq '[.items[].completed] | add' "$WORK/series.json")"
expect_eq "the run's own summary is computed at the restart" "$(jq .summary.requests "$WORK/run.json")" "$(jq .requests "$OUT")"
expect_jq "the summary says interrupted" "$OUT" '.interrupted == true'
expect_jq "the run's own summary says interrupted" "$WORK/run.json" '.summary.interrupted == true'
expect_api "the result of what was stored" 200 GET "/runs/$RUN/result" "$TOK"
node "$MT_SOURCE_DIR/tests/schema/validate.mjs" "$MT_SOURCE_DIR/docs/result-schema.json" "$OUT" >/dev/null ||
  fail "the interrupted run's result does not match docs/result-schema.json"
pass "the interrupted run's result matches the schema"
expect_jq "the result's summary says interrupted" "$OUT" '.summary.interrupted == true'

# the queued run survived as queued and now runs
wait_run "$QUEUED" "$TOK" 60 passed
pass "the queued run ran after the restart"

# ---- SIGTERM during a run: graceful ----
expect_api "queue another long run" 201 POST /runs "$TOK" "$LONG"
RUN2=$(jq -r .id "$OUT")
wait_seconds "$RUN2" "$TOK" 2 60
stop_serve TERM
expect_eq "serve exits 0 on SIGTERM" "$SERVE_RC" 0
grep -q '"msg":"serve stopped"' "$WORK/serve.log" || fail "no 'serve stopped' log line"
start_serve "$DATA"
expect_api "the run after a graceful stop" 200 GET "/runs/$RUN2" "$TOK"
expect_jq "stopped with reason server shutdown" "$OUT" '.state == "stopped" and .reason == "server shutdown" and .seconds >= 2'
stop_serve TERM
check_openapi
