#!/usr/bin/env bash
# Change points across a test's history (issue 18, docs/analysis.md "Change points"): histories
# written through the store's own calls (mortar-changes-driver: 30 runs in milliseconds) give
# GET /tests/{id}/changes exactly the right run for a step, nothing for a flat history, and a
# config boundary (not a change point) when the test's config changed; the test.changed events
# those histories raised reach a loopback webhook receiver, and runs made by serve itself raise
# a new one once they make a change point.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

DRIVER=$(dirname "$MORTAR")/mortar-changes-driver
[[ -x $DRIVER ]] || fail "no $DRIVER (built with the tests)"
DATA=$WORK/data
HOOKS=$WORK/hooks.jsonl
: >"$HOOKS"

start_target
# the webhook receiver: one line per delivered body in $HOOKS, always 200
fifo=$WORK/hook.fifo
mkfifo "$fifo"
node -e '
const fs = require("fs");
const srv = require("http").createServer((req, res) => {
  let b = "";
  req.on("data", (d) => (b += d));
  req.on("end", () => { fs.appendFileSync(process.argv[1], b.replace(/\n/g, " ") + "\n"); res.end("ok"); });
});
srv.listen(0, "127.0.0.1", () => console.log(srv.address().port));
' "$HOOKS" >"$fifo" 2>"$WORK/hook.err" &
PIDS+=($!)
exec {HOOK_FD}<"$fifo"
read -r -t $((20 * SLOW)) -u "$HOOK_FD" HOOK_PORT || fail "the webhook receiver did not start"

"$DRIVER" "$DATA" "$TARGET_URL" "http://127.0.0.1:$HOOK_PORT/hook" >"$WORK/hist.json" 2>"$WORK/driver.log" ||
  fail "changes driver: $(tail -n 5 "$WORK/driver.log")"
h() { jq -r "$1" "$WORK/hist.json"; }
STEP=$(h .step.test_id) FLAT=$(h .flat.test_id) CFG=$(h .cfg.test_id) EVENT=$(h .event.test_id)
TOK=$("$MORTAR" token create --role runner --data "$DATA")
start_serve "$DATA"

# ---- the API ----
expect_api "changes of a step history" 200 GET "/tests/$STEP/changes" "$TOK"
expect_jq "one change point, at the first run of the new level" "$OUT" \
  '.metric == "p99" and (.runs | length) == 30 and (.changes | length) == 1 and
   .changes[0].run_id == $r and .changes[0].index == 15 and .changes[0].direction == "regression" and
   .changes[0].confidence >= 0.99 and .changes[0].before.median < 2100 and
   .changes[0].after.median > 2500 and .changes[0].before.runs == 15 and
   .changes[0].relative_change > 0.25 and .changes[0].provisional == false and
   (.config_changes | length) == 0 and .method.name == "e-divisive means"' \
  --arg r "$(h '.step.runs[15]')"
expect_api "p50 of the same history" 200 GET "/tests/$STEP/changes?metric=p50" "$TOK"
expect_jq "p50 changes at the same run" "$OUT" \
  '(.changes | length) == 1 and .changes[0].run_id == $r' \
  --arg r "$(h '.step.runs[15]')"
expect_api "rps of the same history" 200 GET "/tests/$STEP/changes?metric=rps" "$TOK"
expect_jq "a constant rps has no change" "$OUT" '(.changes | length) == 0 and .runs[0].value == 100'
expect_api "the last 10 runs only" 200 GET "/tests/$STEP/changes?limit=10" "$TOK"
expect_jq "10 runs at one level: none" "$OUT" '(.runs | length) == 10 and (.changes | length) == 0'

expect_api "changes of a flat history" 200 GET "/tests/$FLAT/changes" "$TOK"
expect_jq "no change point" "$OUT" '(.runs | length) == 30 and (.changes | length) == 0'

expect_api "changes of a history whose config changed" 200 GET "/tests/$CFG/changes" "$TOK"
expect_jq "a config boundary, not a change point" "$OUT" \
  '(.changes | length) == 0 and .config_changes == [{"run_id": $r, "index": 15, "from": 1, "to": 2}] and
   .runs[15].config_changed == true and .runs[15].config_version == 2 and .runs[14].config_version == 1 and
   ([.runs[] | select(.config_changed)] | length) == 1' \
  --arg r "$(h '.cfg.runs[15]')"
expect_api "the test says its config version" 200 GET "/tests/$CFG" "$TOK"
expect_jq "config_version 2 after one config change" "$OUT" '.version == 2 and .config_version == 2'

expect_problem "an unknown metric" 422 validation GET "/tests/$STEP/changes?metric=p42" "$TOK"
expect_jq "the problem names the parameter" "$OUT" '.errors[0].pointer == "?metric" and (.detail | test("p42"))'
expect_problem "limit 0" 422 validation GET "/tests/$STEP/changes?limit=0" "$TOK"
expect_problem "an unknown test" 404 not-found GET "/tests/01a2d1c4-0000-7000-8000-000000000000/changes" "$TOK"

# ---- the test page's trend chart marks them (a browser: tests/browser/changes.test.mjs) ----
VIEWER=$("$MORTAR" token create --role viewer --data "$DATA")
rc=0
MT_CHANGES_URL="http://127.0.0.1:$SERVE_PORT" MT_CHANGES_TOKEN="$VIEWER" MT_CHANGES_TESTS="$(cat "$WORK/hist.json")" \
  MT_ARTIFACT_DIR="${MT_ARTIFACT_DIR:-$WORK/artifacts}" \
  timeout $((120 * SLOW)) node --test "$MT_SOURCE_DIR/tests/browser/changes.test.mjs" >"$WORK/browser.log" 2>&1 || rc=$?
((rc == 0)) || fail "browser check of the trend markers ($rc): $(grep -A 14 '^not ok' "$WORK/browser.log" | head -n 30)"
pass "the trend chart marks the change point and the config change"

# ---- test.changed: the histories' events, through the outbox ----
# wait_hook FILTER SECONDS: polls $HOOKS until a delivered body matches (bounded)
wait_hook() {
  local i
  for ((i = 0; i < $2 * SLOW * 10; i++)); do
    jq -se "[.[] | select($1)] | length > 0" "$HOOKS" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  fail "no webhook body matching $1 after $2 s: $(tail -c 600 "$HOOKS")"
}
wait_hook ".type == \"test.changed\" and .data.test_id == \"$STEP\"" 20
jq -s . "$HOOKS" >"$WORK/hooks.json"
expect_jq "one test.changed for the step, naming the run" "$WORK/hooks.json" \
  '[.[] | select(.type == "test.changed" and .data.test_id == $t)] as $e | ($e | length) == 1 and
   ([$e[0].data.changes[] | select(.metric == "p99")] | length) == 1 and
   ($e[0].data.changes[] | select(.metric == "p99") | .run_id == $r and .direction == "regression") and
   $e[0].data.test_name == "step"' \
  --arg t "$STEP" --arg r "$(h '.step.runs[15]')"
jq -s . "$HOOKS" >"$WORK/hooks.json"
expect_jq "none for the flat, config and event histories" "$WORK/hooks.json" \
  '[.[] | select(.data.test_id == $f or .data.test_id == $c or .data.test_id == $e)] | length == 0' \
  --arg f "$FLAT" --arg c "$CFG" --arg e "$EVENT"

# ---- test.changed after runs made by serve: the event test's config is a 60 ms delay ----
FIRST=""
for ((k = 1; k <= 6; k++)); do
  expect_api "run $k of the event test" 201 POST /runs "$TOK" "{\"test_id\":\"$EVENT\"}"
  RUN=$(jq -r .id "$OUT")
  [[ -n $FIRST ]] || FIRST=$RUN
  wait_run "$RUN" "$TOK" 60 'passed|failed'
  api GET "/tests/$EVENT/changes" "$TOK" >/dev/null
  jq -e '(.changes | length) > 0' "$OUT" >/dev/null && break
done
((k <= 5)) || fail "no change point after $((k - 1)) runs at 30x the level"
pass "a change point after $k runs at the new level"
wait_hook ".type == \"test.changed\" and .data.test_id == \"$EVENT\"" 20
jq -s . "$HOOKS" >"$WORK/hooks.json"
expect_jq "test.changed names a change near the first run made by serve" "$WORK/hooks.json" \
  '[.[] | select(.type == "test.changed" and .data.test_id == $t) | .data.changes[] |
    select(.metric == "p99")] as $c | ($c | length) == 1 and $c[0].index >= 26 and
   $c[0].index <= 30 and $c[0].direction == "regression" and $c[0].after.median > 50000' \
  --arg t "$EVENT"
for ((; k < 5; k++)); do
  expect_api "one more run" 201 POST /runs "$TOK" "{\"test_id\":\"$EVENT\"}"
  wait_run "$(jq -r .id "$OUT")" "$TOK" 60 'passed|failed'
done
expect_api "changes after 5 runs at the new level" 200 GET "/tests/$EVENT/changes" "$TOK"
expect_jq "the change point is the first run made by serve" "$OUT" \
  '(.changes | length) == 1 and .changes[0].run_id == $r and .changes[0].index == 30' \
  --arg r "$FIRST"
jq -s . "$HOOKS" >"$WORK/hooks.json"
# (its rps changed too: serve's runs make 20 per second, the driver's 100; that change may be
# found a run later, in an event of its own)
expect_jq "the p99 change was announced once" "$WORK/hooks.json" \
  '[.[] | select(.type == "test.changed" and .data.test_id == $t) | .data.changes[] |
    select(.metric == "p99")] | length == 1' \
  --arg t "$EVENT"
expect_jq "the throughput change is a regression" "$WORK/hooks.json" \
  '[.[] | select(.type == "test.changed" and .data.test_id == $t) | .data.changes[] |
    select(.metric == "rps")] | length == 1 and .[0].direction == "regression"' \
  --arg t "$EVENT"

check_openapi
stop_serve
expect_eq "serve exit status" "$SERVE_RC" 0
