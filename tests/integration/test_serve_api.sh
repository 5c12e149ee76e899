#!/usr/bin/env bash
# mortar serve's REST API against a real server process (docs/api.md): flags, auth roles,
# problem details, idempotency, pagination, test versions, a run end to end against
# `mortar target` with counts equal to the target's own, series/summary/compare/result/report,
# the live stream, and stopping runs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

# ---- flags ----
rc=0
"$MORTAR" serve --listen 0.0.0.0:0 --data "$WORK/x" 2>"$WORK/remote.err" || rc=$?
expect_eq "non-loopback --listen without --allow-remote exits" "$rc" 2
grep -q -- --allow-remote "$WORK/remote.err" || fail "the message does not name --allow-remote"
rc=0
"$MORTAR" serve --listen nonsense --data "$WORK/x" 2>/dev/null || rc=$?
expect_eq "bad --listen exits" "$rc" 2
rc=0
"$MORTAR" token create --role root --data "$WORK/x" 2>/dev/null || rc=$?
expect_eq "token create with a bad role exits" "$rc" 2

DATA=$WORK/data
ADMIN=$("$MORTAR" token create --role admin --name ci --data "$DATA")
RUNNER=$("$MORTAR" token create --role runner --name ci-runner --data "$DATA")
VIEWER=$("$MORTAR" token create --role viewer --data "$DATA")
[[ $ADMIN =~ ^mt_[A-Za-z0-9_-]{43}$ ]] || fail "token create printed '$ADMIN'"
pass "token create prints the token alone"

start_target
start_serve "$DATA"

# a busy port: our message alone (not libmicrohttpd's "Failed to bind to port ...")
rc=0
timeout $((20 * SLOW)) "$MORTAR" serve --listen "127.0.0.1:$SERVE_PORT" --data "$WORK/busy" \
  >/dev/null 2>"$WORK/busy.err" || rc=$?
expect_eq "serve on a busy port exits" "$rc" 1
grep -q "cannot listen on 127.0.0.1:$SERVE_PORT: Address already in use" "$WORK/busy.err" ||
  fail "no clear message for a busy port: $(cat "$WORK/busy.err")"
grep -qi 'failed to bind' "$WORK/busy.err" && fail "libmicrohttpd's own message is printed: $(cat "$WORK/busy.err")"
pass "a busy port is reported once, by mortar"

# ---- health, docs ----
curl -sSf "http://127.0.0.1:$SERVE_PORT/healthz" | jq -e '.status == "ok"' >/dev/null
curl -sSf "http://127.0.0.1:$SERVE_PORT/readyz" | jq -e '.status == "ready"' >/dev/null
pass "healthz and readyz"
expect_api "openapi.json needs no token" 200 GET /openapi.json -
jq -e '.openapi | startswith("3.1")' "$OUT" >/dev/null || fail "openapi.json is not OpenAPI 3.1"

# ---- auth and problems ----
expect_problem "no token" 401 unauthorized GET /tests -
expect_problem "unknown token" 401 unauthorized GET /tests mt_nope
expect_problem "viewer cannot create tests" 403 forbidden POST /tests "$VIEWER" '{}'
expect_problem "runner cannot list tokens" 403 forbidden GET /tokens "$RUNNER"
expect_problem "runner cannot add webhooks" 403 forbidden POST /webhooks "$RUNNER" '{}'
expect_problem "unknown endpoint" 404 not-found GET /nope "$VIEWER"
expect_problem "method not allowed" 405 method-not-allowed DELETE /runs "$ADMIN"
grep -qi '^allow: GET, POST' "$OUT.h" || fail "405 without Allow"

CFG="{\"url\":\"$TARGET_URL/\",\"rate\":50,\"duration\":\"2s\"}"
expect_problem "unknown key" 422 validation POST /tests "$RUNNER" "{\"name\":\"a\",\"config\":$CFG,\"colour\":1}"
expect_jq "the unknown key is named" "$OUT" '.errors[0].pointer == "/colour"'
expect_problem "bad config" 422 validation POST /tests "$RUNNER" '{"name":"a","config":{"rate":"fast","url":"http://127.0.0.1:1/"}}'
expect_jq "the bad config key is pointed at" "$OUT" '.errors[0].pointer | startswith("/config")'
expect_problem "not JSON" 400 malformed-json POST /tests "$RUNNER" '{"name":'
head -c $((1024 * 1024 + 10)) /dev/zero | tr '\0' ' ' >"$WORK/big.json"
expect_problem "body over 1 MiB" 413 payload-too-large POST /tests "$RUNNER" "@$WORK/big.json"

# ---- tests: idempotency, versions, pagination ----
BODY="{\"name\":\"checkout\",\"description\":\"d\",\"config\":$CFG,\"tolerances\":{\"p99_pct\":50}}"
expect_api "create a test" 201 POST /tests "$RUNNER" "$BODY" -H 'Idempotency-Key: k-1'
TEST=$(jq -r .id "$OUT")
expect_jq "a new test is version 1" "$OUT" '.version == 1 and .baseline_run_id == null'
expect_api "same key, same body: replayed" 201 POST /tests "$RUNNER" "$BODY" -H 'Idempotency-Key: k-1'
expect_eq "the replay is the first response" "$(jq -r .id "$OUT")" "$TEST"
grep -qi '^idempotent-replayed: true' "$OUT.h" || fail "no Idempotent-Replayed header"
expect_problem "same key, other body" 422 idempotency-mismatch POST /tests "$RUNNER" "${BODY/checkout/other}" -H 'Idempotency-Key: k-1'
expect_problem "same name without a key" 409 conflict POST /tests "$RUNNER" "$BODY"
expect_api "the key is per token" 409 POST /tests "$ADMIN" "$BODY" -H 'Idempotency-Key: k-1'

expect_api "update the test" 200 PUT "/tests/$TEST" "$RUNNER" "${BODY/\"d\"/\"second\"}"
expect_jq "an update makes version 2" "$OUT" '.version == 2 and .description == "second"'
expect_api "versions" 200 GET "/tests/$TEST/versions" "$VIEWER"
expect_jq "both versions are kept" "$OUT" '[.items[].version] == [1, 2] and .items[0].description == "d"'
API_CTYPE=application/merge-patch+json expect_api "PATCH a test: one config key" 200 PATCH "/tests/$TEST" "$RUNNER" '{"config":{"rate":40}}'
expect_jq "PATCH merged the config and made version 3" "$OUT" \
  '.version == 3 and .config.rate == 40 and .config.duration == "2s" and .description == "second" and .tolerances.p99_pct == 50'
expect_api "PATCH a test: null removes a key" 200 PATCH "/tests/$TEST" "$RUNNER" '{"tolerances":{"p99_pct":null},"description":null}'
expect_jq "the key is gone, the rest kept" "$OUT" '.version == 4 and .tolerances == {} and .description == "" and .config.rate == 40'
expect_problem "PATCH a test: a bad config value" 422 validation PATCH "/tests/$TEST" "$RUNNER" '{"config":{"rate":"fast"}}'
expect_jq "the config key is pointed at" "$OUT" '.errors[0].pointer == "/config/rate"'
expect_api "PATCH a test back" 200 PATCH "/tests/$TEST" "$RUNNER" "{\"config\":{\"rate\":50},\"description\":\"second\",\"tolerances\":{\"p99_pct\":50}}"
expect_jq "version 5, as version 2 was" "$OUT" '.version == 5 and .config.rate == 50 and .description == "second"'

for n in a b c d; do
  expect_api "create test $n" 201 POST /tests "$RUNNER" "{\"name\":\"page-$n\",\"config\":$CFG}"
done
expect_api "first page" 200 GET "/tests?limit=2" "$VIEWER"
expect_jq "two items and a cursor" "$OUT" '(.items | length) == 2 and (.next_cursor | type) == "string" and .items[0].name == "page-d"'
CUR=$(jq -r .next_cursor "$OUT")
expect_api "second page" 200 GET "/tests?limit=2&cursor=$CUR" "$VIEWER"
expect_jq "the next two" "$OUT" '[.items[].name] == ["page-b", "page-a"]'
CUR=$(jq -r .next_cursor "$OUT")
expect_api "last page" 200 GET "/tests?limit=2&cursor=$CUR" "$VIEWER"
expect_jq "the last one, no cursor" "$OUT" '[.items[].name] == ["checkout"] and .next_cursor == null'
expect_problem "limit out of range" 422 validation GET "/tests?limit=501" "$VIEWER"

# ---- a run end to end ----
target_stats "$WORK/before.json"
expect_api "queue a run (by the deprecated name 'test')" 201 POST /runs "$RUNNER" "{\"test\":\"$TEST\",\"labels\":{\"ci\":\"yes\"}}"
RUN=$(jq -r .id "$OUT")
expect_jq "queued, of the test's version 5" "$OUT" '.state == "queued" and .test_version == 5 and .labels.ci == "yes"'
expect_jq "created by the runner's token (its name and role)" "$OUT" \
  '.created_by.token_name == "ci-runner" and .created_by.role == "runner" and (.created_by.token_id | length) > 0'
cp "$OUT" "$WORK/queued.json"
expect_api "whoami (runner)" 200 GET /whoami "$RUNNER"
expect_eq "created_by.token_id is the runner's" "$(jq -r .created_by.token_id "$WORK/queued.json")" "$(jq -r .token_id "$OUT")"
[[ $RUN =~ ^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] || fail "run id $RUN is not a UUIDv7"
wait_run "$RUN" "$VIEWER" 30 'passed|failed|stopped|error|interrupted'
expect_jq "the run passed" "$OUT" '.state == "passed" and .agent == "local" and .seconds >= 2 and (.ended_at | type) == "string"'
target_stats_since "$WORK/before.json" "$WORK/since.json"

expect_api "series" 200 GET "/runs/$RUN/series" "$VIEWER"
cp "$OUT" "$WORK/series.json"
expect_jq "one item per stored second, in order" "$WORK/series.json" '[.items[].t] == [range(0; .items | length)]'
expect_api "summary" 200 GET "/runs/$RUN/summary" "$VIEWER"
cp "$OUT" "$WORK/summary.json"
expect_eq "summary requests = target requests" "$(jq .requests "$WORK/summary.json")" "$(jq .requests "$WORK/since.json")"
# the timing breakdown comes from the agent's end message (docs/aggregation.md), not zeros
expect_jq "the summary's timing breakdown is measured (connect, send, wait)" "$WORK/summary.json" \
  '.breakdown_us.connect.max > 0 and .breakdown_us.wait.max > 0 and .breakdown_us.wait.max >= .breakdown_us.wait.p50 and .breakdown_us.send.max > 0 and (.breakdown_us | has("tls") | not)'
expect_eq "summary 200s = target 200s" "$(jq '.status."200"' "$WORK/summary.json")" "$(jq '.responses."200"' "$WORK/since.json")"
expect_eq "series completed = summary requests" "$(jq '[.items[].completed] | add' "$WORK/series.json")" "$(jq .requests "$WORK/summary.json")"
# the agent's own CPU travels with its snapshots: stored per second, summed in the summary
expect_jq "the summary has the generator's CPU" "$WORK/summary.json" '.generator.cpu_us > 0 and .generator.busiest_thread_cpu_us > 0'
expect_eq "series generator CPU = summary's" "$(jq '[.items[].generator.cpu_us // 0] | add' "$WORK/series.json")" "$(jq .generator.cpu_us "$WORK/summary.json")"
expect_api "summary of a window" 200 GET "/runs/$RUN/summary?from=0&to=0" "$VIEWER"
expect_eq "window = its second" "$(jq .requests "$OUT")" "$(jq '.items[0].completed' "$WORK/series.json")"

# a finished run's reads are kept (and gzip-encoded for clients that ask): the same answers
for i in 1 2; do
  curl -sS --fail --compressed -D "$WORK/gz$i.h" -o "$WORK/gz$i.json" -H "Authorization: Bearer $VIEWER" \
    "$API/runs/$RUN/series" || fail "series with Accept-Encoding: gzip"
  if (($(stat -c %s "$WORK/series.json") > 1024)); then # smaller answers are sent as they are
    grep -qi '^content-encoding: gzip' "$WORK/gz$i.h" || fail "series not gzip-encoded: $(cat "$WORK/gz$i.h")"
  fi
  grep -qi '^vary: accept-encoding' "$WORK/gz$i.h" || fail "series without Vary: Accept-Encoding"
  expect_eq "gzip series $i = plain series" "$(jq -c . "$WORK/gz$i.json" | md5sum)" "$(jq -c . "$WORK/series.json" | md5sum)"
done
expect_api "series again (kept)" 200 GET "/runs/$RUN/series" "$VIEWER"
expect_eq "kept series = first series" "$(jq -c . "$OUT" | md5sum)" "$(jq -c . "$WORK/series.json" | md5sum)"
expect_api "summary again (kept)" 200 GET "/runs/$RUN/summary" "$VIEWER"
expect_eq "kept summary = first summary" "$(jq -c . "$OUT" | md5sum)" "$(jq -c . "$WORK/summary.json" | md5sum)"
expect_api "window again (kept per window)" 200 GET "/runs/$RUN/summary?from=0&to=0" "$VIEWER"
expect_eq "kept window = its second" "$(jq .requests "$OUT")" "$(jq '.items[0].completed' "$WORK/series.json")"

expect_api "result" 200 GET "/runs/$RUN/result" "$VIEWER"
cp "$OUT" "$WORK/result.json"
node "$MT_SOURCE_DIR/tests/schema/validate.mjs" "$MT_SOURCE_DIR/docs/result-schema.json" "$WORK/result.json" ||
  fail "the result does not match docs/result-schema.json"
pass "the result matches docs/result-schema.json"
expect_eq "result requests" "$(jq .summary.requests "$WORK/result.json")" "$(jq .requests "$WORK/since.json")"
expect_api "report" 200 GET "/runs/$RUN/report" "$VIEWER"
grep -qi '^content-type: text/html' "$OUT.h" || fail "report is not HTML"
grep -q '<!doctype html>' "$OUT" || fail "report is not a page"

expect_problem "compare without a baseline" 409 conflict GET "/runs/$RUN/compare" "$VIEWER"
expect_api "compare with a run" 200 GET "/runs/$RUN/compare?with=$RUN" "$VIEWER"
expect_jq "a run equals itself" "$OUT" ".regression == false and .run == \"$RUN\" and .base == \"$RUN\" and (.metrics | length) > 0"
expect_api "set the baseline" 200 PUT "/tests/$TEST/baseline" "$RUNNER" "{\"run_id\":\"$RUN\"}"
expect_jq "baseline set" "$OUT" ".baseline_run_id == \"$RUN\""
expect_api "compare with the baseline" 200 GET "/runs/$RUN/compare" "$VIEWER"
expect_api "trend" 200 GET "/tests/$TEST/trend" "$VIEWER"
expect_jq "the trend has the run" "$OUT" ".items[-1].run_id == \"$RUN\" and .items[-1].rps > 0"

# the live stream of a finished run: every stored second, then the final state, then the end
timeout $((20 * SLOW)) curl -sS -N -H "Authorization: Bearer $VIEWER" "$API/runs/$RUN/live" >"$WORK/live.txt" ||
  fail "the live stream of a finished run did not end"
expect_eq "live: one second event per stored second" "$(grep -c '^event: second' "$WORK/live.txt")" "$(jq '.items | length' "$WORK/series.json")"
tail -n 3 "$WORK/live.txt" | grep -q '"state":"passed"' || fail "live: the stream does not end with the final state"
timeout $((20 * SLOW)) curl -sS -N -H "Authorization: Bearer $VIEWER" -H 'Last-Event-ID: 0' "$API/runs/$RUN/live" >"$WORK/live2.txt"
expect_eq "live: Last-Event-ID resumes after it" "$(grep -c '^event: second' "$WORK/live2.txt")" "$(($(jq '.items | length' "$WORK/series.json") - 1))"

# ---- a tagged run: one tag's summary = its series = Run.summary.tags ----
TAGGED="{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":40,\"duration\":\"2s\",\"uri\":[\"/a tag-a\",\"/b tag-b\"]}}"
expect_api "queue a tagged run" 201 POST /runs "$RUNNER" "$TAGGED"
TRUN=$(jq -r .id "$OUT")
wait_run "$TRUN" "$VIEWER" 30 'passed|failed|stopped|error|interrupted'
expect_api "the tagged run" 200 GET "/runs/$TRUN" "$VIEWER"
cp "$OUT" "$WORK/trun.json"
expect_jq "it passed, with both tags" "$WORK/trun.json" '.state == "passed" and .summary.tags["tag-a"].requests > 0 and .summary.tags["tag-b"].requests > 0'
expect_jq "a run that ended as planned is not interrupted" "$WORK/trun.json" '.summary.interrupted == false'
expect_api "series of tag-a" 200 GET "/runs/$TRUN/series?tag=tag-a" "$VIEWER"
cp "$OUT" "$WORK/tseries.json"
expect_api "summary of tag-a" 200 GET "/runs/$TRUN/summary?tag=tag-a" "$VIEWER"
cp "$OUT" "$WORK/tsum.json"
a=$(jq '.summary.tags["tag-a"].requests' "$WORK/trun.json")
expect_eq "tag summary requests = Run.summary.tags.tag-a.requests" "$(jq .requests "$WORK/tsum.json")" "$a"
expect_eq "tag summary requests = the tag's series" "$(jq .requests "$WORK/tsum.json")" "$(jq '[.items[].completed] | add' "$WORK/tseries.json")"
expect_jq "the tag summary has a duration and no tags of its own" "$WORK/tsum.json" '.duration_s > 0 and .rps > 0 and (.tags // {}) == {}'
expect_api "summary of tag-a, second 0" 200 GET "/runs/$TRUN/summary?tag=tag-a&from=0&to=0" "$VIEWER"
expect_eq "tag window = its second" "$(jq .requests "$OUT")" "$(jq '.items[0].completed' "$WORK/tseries.json")"
expect_api "summary of no such tag" 200 GET "/runs/$TRUN/summary?tag=nope" "$VIEWER"
expect_jq "no rows: zeros" "$OUT" '.requests == 0'

# ---- runs from a config, list filters, stop ----
LONG="{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":20,\"duration\":\"5m\"}}"
expect_problem "a bad run body" 422 validation POST /runs "$RUNNER" "{\"test_id\":\"$TEST\",\"config\":$CFG}"
expect_problem "a run of no test" 422 validation POST /runs "$RUNNER" '{"test_id":"nope"}'
expect_jq "the test_id is pointed at" "$OUT" '.errors[0].pointer == "/test_id"'
expect_problem "test and test_id together" 422 validation POST /runs "$RUNNER" "{\"test\":\"$TEST\",\"test_id\":\"$TEST\"}"
expect_jq "the deprecated name is pointed at" "$OUT" '.errors[0].pointer == "/test"'
expect_problem "a config that would write a server file" 422 validation POST /runs "$RUNNER" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"json\":\"$WORK/leak.json\"}}"
expect_jq "the file key is pointed at" "$OUT" '.errors[0].pointer == "/config/json"'
# the run spec's own pointer and wording (no "mortar run:", no flags) for value and cross-key
# errors, and the stored config is the canonical one (defaults filled in)
expect_problem "a rate out of range" 422 validation POST /runs "$RUNNER" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":1e12}}"
expect_jq "the rate is pointed at, API wording" "$OUT" \
  '.errors[0].pointer == "/config/rate" and (.detail | test("^must be more than 0 and at most 1000000000 \\(got 1e\\+12\\)$"))'
expect_problem "more threads than connections" 422 validation POST /runs "$RUNNER" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"threads\":1024}}"
expect_jq "the threads are pointed at, API wording" "$OUT" \
  '.errors[0].pointer == "/config/threads" and (.detail | test("connections is 10")) and (.detail | test("-c|mortar run") | not)'
expect_problem "a bad threshold in a list" 422 validation POST /runs "$RUNNER" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"threshold\":[\"p(99)<1s\",\"p(99)<<1s\"]}}"
expect_jq "the list entry is pointed at" "$OUT" '.errors[0].pointer == "/config/threshold/1"'
expect_problem "a breakdown threshold (agents do not send the breakdown)" 422 validation POST /runs "$RUNNER" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"threshold\":[\"p(99)<1s\",\"http_req_waiting: p(95)<100ms\"]}}"
expect_jq "the breakdown threshold is pointed at, with why" "$OUT" \
  '.errors[0].pointer == "/config/threshold/1" and (.detail | test("measured by mortar run only: agents do not send it"))'
expect_problem "a body read from a server file" 422 validation POST /runs "$RUNNER" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"body\":\"@/etc/passwd\"}}"
expect_jq "the body is pointed at" "$OUT" '.errors[0].pointer == "/config/body" and (.detail | test("not allowed in a server run"))'
expect_api "queue a long run" 201 POST /runs "$RUNNER" "$LONG"
R1=$(jq -r .id "$OUT")
api GET "/runs/$R1" "$VIEWER" >/dev/null
expect_jq "the stored config is the canonical spec (defaults filled in)" "$OUT" \
  '.config.connections == 10 and .config.timeout == "2s" and .config.method == "GET" and .config.duration == "300s" and .config.agents == 1 and .config.on_agent_loss == "error" and .config.placement_timeout == "60s"'
expect_api "queue another (waits: capacity 1)" 201 POST /runs "$RUNNER" "$LONG"
R2=$(jq -r .id "$OUT")
wait_run "$R1" "$VIEWER" 30 running
wait_seconds "$R1" "$VIEWER" 1 30
expect_api "running runs" 200 GET "/runs?state=running" "$VIEWER"
expect_jq "the filter keeps the running run" "$OUT" "[.items[].id] == [\"$R1\"]"
expect_api "runs of the test" 200 GET "/runs?test_id=$TEST" "$VIEWER"
expect_jq "the test filter" "$OUT" "[.items[].id] == [\"$RUN\"]"
expect_api "runs of the test (deprecated ?test=)" 200 GET "/runs?test=$TEST" "$VIEWER"
expect_jq "the deprecated test filter" "$OUT" "[.items[].id] == [\"$RUN\"]"
expect_problem "viewer cannot stop" 403 forbidden POST "/runs/$R2/stop" "$VIEWER"
expect_api "stop the queued run" 202 POST "/runs/$R2/stop" "$RUNNER"
expect_jq "a queued run stops at once" "$OUT" '.state == "stopped"'
# a live stream of the running run: stored seconds first, then pushed ones, then the end
timeout $((60 * SLOW)) curl -sS -N -H "Authorization: Bearer $VIEWER" "$API/runs/$R1/live" >"$WORK/live3.txt" &
LIVE_PID=$!
for ((i = 0; i < 300 * SLOW; i++)); do
  (($(grep -c '^event: second' "$WORK/live3.txt" || true) >= 2)) && break
  sleep 0.1
done
expect_api "stop the running run" 202 POST "/runs/$R1/stop" "$RUNNER"
wait_run "$R1" "$VIEWER" 30 stopped
wait "$LIVE_PID" || fail "the live stream of the stopped run did not end by itself"
tail -n 3 "$WORK/live3.txt" | grep -q '"state":"stopped"' || fail "live: the stream does not end with the stopped state"
api GET "/runs/$R1/series" "$VIEWER" >/dev/null
expect_eq "live: every stored second once, in order" \
  "$(grep '^id: ' "$WORK/live3.txt" | cut -d' ' -f2 | paste -sd,)" "$(jq -r '[.items[].t] | map(tostring) | join(",")' "$OUT")"
api GET "/runs/$R1" "$VIEWER" >/dev/null
expect_jq "stopped by the API, seconds kept, summary interrupted" "$OUT" '.reason == "stopped by API" and .seconds >= 1 and .summary.interrupted == true'
expect_api "summary of the stopped run" 200 GET "/runs/$R1/summary" "$VIEWER"
expect_jq "the stopped run's summary is interrupted" "$OUT" '.interrupted == true'
expect_problem "stopping a finished run" 409 conflict POST "/runs/$R1/stop" "$RUNNER"

# ---- schedules, webhooks, tokens, agents ----
expect_problem "a bad cron" 422 validation POST /schedules "$RUNNER" "{\"test_id\":\"$TEST\",\"cron\":\"61 * * * *\"}"
expect_api "a schedule" 201 POST /schedules "$RUNNER" "{\"test_id\":\"$TEST\",\"cron\":\"0 0 1 1 *\",\"enabled\":false}"
expect_jq "schedule defaults; disabled: no next_fire_at" "$OUT" '.policy == "skip" and .enabled == false and .next_fire_at == null'
SCHED=$(jq -r .id "$OUT")
expect_problem "a schedule with the run's name 'test'" 422 validation POST /schedules "$RUNNER" "{\"test\":\"$TEST\",\"cron\":\"@daily\"}"
expect_api "schedule update" 200 PUT "/schedules/$SCHED" "$RUNNER" "{\"test_id\":\"$TEST\",\"cron\":\"@daily\",\"policy\":\"queue\"}"
expect_jq "schedule updated (enabled by default: a next firing)" "$OUT" '.policy == "queue" and .enabled == true and (.next_fire_at | type) == "string"'
expect_problem "PUT still needs the whole object" 422 validation PUT "/schedules/$SCHED" "$RUNNER" '{"enabled":false}'
API_CTYPE=application/merge-patch+json expect_api "PATCH: disable" 200 PATCH "/schedules/$SCHED" "$RUNNER" '{"enabled":false}'
expect_jq "PATCH kept the rest; disabled: no next_fire_at" "$OUT" \
  '.enabled == false and .next_fire_at == null and .cron == "@daily" and .policy == "queue" and .test_id == $t' --arg t "$TEST"
expect_api "GET after PATCH" 200 GET "/schedules/$SCHED" "$VIEWER"
expect_jq "the disabled schedule has no next_fire_at" "$OUT" '.enabled == false and .next_fire_at == null'
expect_api "PATCH with application/json: enable, null resets the policy" 200 PATCH "/schedules/$SCHED" "$RUNNER" '{"enabled":true,"policy":null}'
expect_jq "enabled again with the default policy and a next firing" "$OUT" '.enabled == true and .policy == "skip" and (.next_fire_at | type) == "string"'
API_CTYPE=text/plain expect_problem "PATCH of another media type" 415 unsupported-media-type PATCH "/schedules/$SCHED" "$RUNNER" '{"enabled":false}'
expect_jq "the 415 has its own title" "$OUT" '.title == "Unsupported media type"'
expect_problem "PATCH: a bad cron" 422 validation PATCH "/schedules/$SCHED" "$RUNNER" '{"cron":"61 * * * *"}'
expect_jq "the cron is pointed at" "$OUT" '.errors[0].pointer == "/cron"'
expect_problem "PATCH: an unknown key" 422 validation PATCH "/schedules/$SCHED" "$RUNNER" '{"colour":1}'
expect_problem "PATCH: not JSON" 400 malformed-json PATCH "/schedules/$SCHED" "$RUNNER" '{"enabled":'
expect_problem "PATCH: a viewer" 403 forbidden PATCH "/schedules/$SCHED" "$VIEWER" '{"enabled":false}'
expect_problem "PATCH: no such schedule" 404 not-found PATCH "/schedules/nope" "$RUNNER" '{"enabled":false}'
expect_api "PATCH with an Idempotency-Key" 200 PATCH "/schedules/$SCHED" "$RUNNER" '{"enabled":false}' -H 'Idempotency-Key: p-1'
expect_api "PATCH: same key, same body: replayed" 200 PATCH "/schedules/$SCHED" "$RUNNER" '{"enabled":false}' -H 'Idempotency-Key: p-1'
grep -qi '^idempotent-replayed: true' "$OUT.h" || fail "PATCH: no Idempotent-Replayed header"
expect_problem "PATCH: same key, other body" 422 idempotency-mismatch PATCH "/schedules/$SCHED" "$RUNNER" '{"enabled":true}' -H 'Idempotency-Key: p-1'
expect_api "schedule delete" 204 DELETE "/schedules/$SCHED" "$RUNNER"
expect_api "a webhook" 201 POST /webhooks "$ADMIN" '{"url":"http://127.0.0.1:9/hook","secret":"s3","events":["run.finished"]}'
expect_jq "the secret is not returned" "$OUT" 'has("secret") | not'
expect_api "a token over the API" 201 POST /tokens "$ADMIN" '{"name":"api","role":"viewer"}'
NEWTOK=$(jq -r .token "$OUT")
NEWID=$(jq -r .id "$OUT")
expect_api "the new token works" 200 GET /agents "$NEWTOK"
expect_jq "the local agent is up" "$OUT" '.items[0].name == "local" and .items[0].state == "up" and .items[0].capacity == 1'
expect_api "whoami" 200 GET /whoami "$NEWTOK"
expect_jq "whoami: the new token, a viewer" "$OUT" '.token_id == $id and .role == "viewer"' --arg id "$NEWID"
expect_api "whoami of an admin" 200 GET /whoami "$ADMIN"
expect_jq "whoami: admin" "$OUT" '.role == "admin"'
expect_problem "whoami without a token" 401 unauthorized GET /whoami -
expect_api "token list" 200 GET /tokens "$ADMIN"
expect_jq "no secrets listed" "$OUT" '[.items[] | has("token") or has("hash")] | any | not'
expect_api "token delete" 204 DELETE "/tokens/$NEWID" "$ADMIN"
expect_problem "a deleted token" 401 unauthorized GET /agents "$NEWTOK"
expect_api "test delete" 204 DELETE "/tests/$TEST" "$ADMIN"
expect_api "its runs are kept" 200 GET "/runs/$RUN" "$VIEWER"

# ---- the UI ----
code=$(curl -sS -o "$WORK/index.html" -D "$WORK/index.h" -w '%{http_code}' "http://127.0.0.1:$SERVE_PORT/")
expect_eq "GET / serves the UI" "$code" 200
grep -qi "^content-security-policy: .*script-src 'self'" "$WORK/index.h" || fail "the UI has no strict CSP"
code=$(curl -sS -o /dev/null -D "$WORK/js.h" -w '%{http_code}' "http://127.0.0.1:$SERVE_PORT/ui/app.js")
expect_eq "GET /ui/app.js" "$code" 200
grep -qi '^content-type: text/javascript' "$WORK/js.h" || fail "app.js has the wrong type"

stop_serve TERM
expect_eq "serve exits 0 on SIGTERM" "$SERVE_RC" 0
check_openapi
