#!/usr/bin/env bash
# Placement of runs on agents (docs/placement.md) with a real `mortar serve` and its built-in
# agent: the agents' fields, the placement keys' validation, a run's agents, queued runs that
# say what they wait for, a run that waits its turn, a run that ends `error` after its
# placement timeout, a selector no agent matches, and stopping a waiting run.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

DATA=$WORK/data
TOK=$("$MORTAR" token create --role admin --data "$DATA")
start_target
start_serve "$DATA"

# ---- the agents' fields ----
expect_api "list agents" 200 GET /agents "$TOK"
VERSION=$("$MORTAR" version | awk '{print $2}')
expect_jq "the built-in agent: labels, capacity, version, state, no runs" "$OUT" \
  ".items | length == 1 and (.[0] | .name == \"local\" and .labels.zone == \"local\" and
   .capacity == 1 and .version == \"$VERSION\" and .state == \"up\" and .runs == [] and
   .active_runs == 0)"

expect_api "one agent by name" 200 GET /agents/local "$TOK"
expect_jq "it is the built-in agent" "$OUT" '.name == "local" and .capacity == 1'
expect_problem "an unknown agent" 404 not-found GET /agents/gen-9 "$TOK"
expect_api "agents a selector matches" 200 GET "/agents?selector=zone%20in%20(local,a)" "$TOK"
expect_jq "the built-in agent matches zone in (local,a)" "$OUT" '[.items[].name] == ["local"]'
expect_api "agents another selector matches" 200 GET "/agents?selector=zone!%3Dlocal" "$TOK"
expect_jq "none matches zone!=local" "$OUT" '.items == []'
expect_problem "a bad selector" 422 validation GET "/agents?selector=zone%20in%20a" "$TOK"
expect_jq "the selector error names the column" "$OUT" \
  '.errors[0].pointer == "?selector" and (.errors[0].detail | test("column 9"))'

# ---- the placement keys are checked at the door ----
bad() { # WHAT POINTER CONFIG-EXTRA
  expect_problem "$1" 422 validation POST /runs "$TOK" \
    "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":10,\"duration\":\"1s\",$3}}"
  expect_jq "$1: the key is pointed at" "$OUT" ".errors[0].pointer == \"$2\""
}
bad "agents: 0" /config/agents '"agents":0'
bad "agents: not a number" /config/agents '"agents":"three"'
bad "a bad selector" /config/agent_labels '"agent_labels":"zone in a"'
expect_jq "the selector error names the column" "$OUT" '.errors[0].detail | test("column 9")'
bad "a bad loss policy" /config/on_agent_loss '"on_agent_loss":"retry"'
bad "a bad placement timeout" /config/placement_timeout '"placement_timeout":"soon"'

# ---- a run on the built-in agent: its agents entry ----
cfg() { echo "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":20,\"duration\":\"$1\"$2}}"; }
expect_api "a long run, placed by its labels" 201 POST /runs "$TOK" \
  "$(cfg 60s ',"agents":1,"agent_labels":"zone in (local,a)","on_agent_loss":"continue"')"
A=$(jqr "$OUT" .id)
wait_run "$A" "$TOK" 30 running
expect_api "get the running run" 200 GET "/runs/$A" "$TOK"
expect_jq "its agents: the built-in one, the whole run, running" "$OUT" \
  '.agent == "local" and .reason == null and (.agents | length == 1) and
   (.agents[0] | .name == "local" and .index == 0 and .state == "running" and
    .share.of == 1 and .share.residues == [0] and .clock_offset_us == 0)'
expect_api "list agents while it runs" 200 GET /agents "$TOK"
expect_jq "the agent holds the run" "$OUT" ".items[0].runs == [\"$A\"]"
wait_seconds "$A" "$TOK" 2 30
api GET "/runs/$A" "$TOK" >/dev/null
expect_jq "its last second follows the stored seconds" "$OUT" \
  '.agents[0].last_second >= 1 and .agents[0].last_second < .seconds + 1'
cp "$OUT" "$WORK/run.json"
expect_api "list agents" 200 GET /agents "$TOK"
jq '.items[0]' "$OUT" >"$WORK/agent.json"

# ---- queued runs say what they wait for ----
expect_api "a run behind it" 201 POST /runs "$TOK" "$(cfg 60s '')"
B=$(jqr "$OUT" .id)
expect_api "a run no one can take (2 agents, 1s placement timeout)" 201 POST /runs "$TOK" \
  "$(cfg 1s ',"agents":2,"placement_timeout":"1s"')"
C=$(jqr "$OUT" .id)
expect_api "a run for zone b, waiting forever" 201 POST /runs "$TOK" \
  "$(cfg 1s ',"agent_labels":"zone=b","placement_timeout":0')"
D=$(jqr "$OUT" .id)

# wait_reason RUN REGEX: polls the queued run until its reason matches (bounded)
wait_reason() {
  local i r=""
  for ((i = 0; i < 300 * SLOW; i++)); do
    api GET "/runs/$1" "$TOK" >/dev/null
    r=$(jqr "$OUT" .reason)
    [[ $r =~ $2 ]] && { pass "reason of $1: $r"; return 0; }
    sleep 0.1
  done
  fail "run $1: reason '$r', want $2"
}
wait_reason "$B" '^waiting for 1 agent: 0 free of 1 up$'
expect_jq "B waits queued" "$OUT" '.state == "queued" and .agents == []'
wait_reason "$D" '^waiting for 1 agent matching zone=b: 0 free of 0 matching$'
wait_run "$C" "$TOK" 30 error
expect_jq "C ended error after its placement timeout, saying why" "$OUT" \
  '.reason == "placement timeout after 1s: waiting for 2 agents: 0 free of 1 up" and
   .agents == [] and .started_at == null'

# ---- stopping: the waiting run at once; the running one frees the agent for B ----
expect_api "stop the waiting run" 202 POST "/runs/$D/stop" "$TOK" '{}'
expect_jq "D stopped while queued" "$OUT" '.state == "stopped"'
api GET "/runs/$B" "$TOK" >/dev/null
expect_jq "B still waits for A (its turn)" "$OUT" '.state == "queued"'
expect_api "stop A" 202 POST "/runs/$A/stop" "$TOK" '{}'
wait_run "$A" "$TOK" 30 stopped
expect_jq "A's part ended with it" "$OUT" '.agents[0].state == "ended"'
wait_run "$B" "$TOK" 30 running
expect_jq "B started on the freed agent, its reason cleared" "$OUT" \
  '.reason == null and .agents[0].name == "local"'
expect_api "stop B" 202 POST "/runs/$B/stop" "$TOK" '{}'
wait_run "$B" "$TOK" 30 stopped
expect_api "list agents at the end" 200 GET /agents "$TOK"
expect_jq "the agent holds no run" "$OUT" '.items[0].runs == []'

# ---- the Run and the Agent match docs/openapi.json ----
ROOT=${MT_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if command -v node >/dev/null && [[ -d $ROOT/node_modules/ajv ]]; then
  for what in Run Agent; do
    jq --arg w "$what" '{"$schema": "https://json-schema.org/draft/2020-12/schema",
      "$defs": .components.schemas, "$ref": "#/$defs/\($w)"}' "$ROOT/docs/openapi.json" |
      sed 's|#/components/schemas/|#/$defs/|g' >"$WORK/$what.schema.json"
  done
  node "$ROOT/tests/schema/validate.mjs" "$WORK/Run.schema.json" "$WORK/run.json" ||
    fail "the Run does not match docs/openapi.json"
  node "$ROOT/tests/schema/validate.mjs" "$WORK/Agent.schema.json" "$WORK/agent.json" ||
    fail "the Agent does not match docs/openapi.json"
  pass "the Run and the Agent match docs/openapi.json"
fi

stop_serve
expect_eq "serve exits 0 on SIGTERM" "$SERVE_RC" 0
pass "placement"
