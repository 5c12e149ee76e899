#!/usr/bin/env bash
# One result model (docs/adr/0018-result-model.md): the same run through `mortar run --json` and
# through `mortar serve` (GET /runs/{id}/result) gives documents of the same shape, with the
# same "config" (durations read as mortar run reads them: "1d" is a day), both valid against
# docs/result-schema.json.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
ROOT=${MT_SOURCE_DIR:?}
command -v node >/dev/null || fail "node is needed (scripts/deps.sh installs it)"

DATA=$WORK/data
RUNNER=$("$MORTAR" token create --role runner --data "$DATA")
start_target
start_serve "$DATA"

# a timeout the old API parser could not read ("1d"), ammo-free open model, 2 connections
CFG="{\"url\":\"$TARGET_URL/?status=200\",\"rate\":20,\"duration\":\"2s\",\"connections\":2,\"threads\":1,\"timeout\":\"1d\"}"
expect_api "queue a run" 201 POST /runs "$RUNNER" "{\"config\":$CFG}"
RUN=$(jq -r .id "$OUT")
wait_run "$RUN" "$RUNNER" 30 'passed|failed|stopped|error|interrupted'
expect_jq "the run passed" "$OUT" '.state == "passed"'
expect_api "result" 200 GET "/runs/$RUN/result" "$RUNNER"
cp "$OUT" "$WORK/api.json"

timeout $((30 * SLOW)) "$MORTAR" run -q -R 20 -d 2s -c 2 -t 1 --timeout 1d --json "$WORK/cli.json" \
  "$TARGET_URL/?status=200" >/dev/null || fail "mortar run exited $?"

node "$ROOT/tests/schema/validate.mjs" "$ROOT/docs/result-schema.json" "$WORK/cli.json" \
  "$WORK/api.json" || fail "a result does not match the schema"

# shape: every key path, arrays by their elements, tag names and status codes as "*";
# "exit_code" is mortar run's own (a run of the server has a state instead), and each
# second's "agents" the server's (how many agents reported it; docs/aggregation.md)
SHAPE='del(.exit_code) | del(.seconds[]?.agents) | [paths | map(if type == "number" then "#" else . end)
        | . as $p | [range(0; length) as $i
          | if $i > 0 and ($p[$i - 1] == "tags" or $p[$i - 1] == "status") then "*" else $p[$i] end]
        | join("/")] | unique'
jq -c "$SHAPE" "$WORK/cli.json" >"$WORK/cli.shape"
jq -c "$SHAPE" "$WORK/api.json" >"$WORK/api.shape"
if ! cmp -s "$WORK/cli.shape" "$WORK/api.shape"; then
  diff <(jq -r '.[]' "$WORK/cli.shape") <(jq -r '.[]' "$WORK/api.shape") >&2 || true
  fail "mortar run --json and GET /result differ in shape (< run, > API)"
fi
pass "mortar run --json and GET /result have the same shape"

# the same config, but for what each run had due (the API's comes from the stored seconds)
expect_eq "config" "$(jq -cS '.config | del(.planned_requests)' "$WORK/api.json")" \
  "$(jq -cS '.config | del(.planned_requests)' "$WORK/cli.json")"
expect_jq "the timeout is a day" "$WORK/api.json" '.config.timeout_s == 86400'
expect_eq "API seconds' completed add up to its summary" \
  "$(jq '[.seconds[].completed] | add' "$WORK/api.json")" "$(jq .summary.completed "$WORK/api.json")"
stop_serve
