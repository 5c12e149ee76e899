#!/usr/bin/env bash
# Agents over NATS, end to end (docs/distributed.md): a nats-server with JetStream, `mortar
# serve --nats`, `mortar agent` processes and the built-in target, all started here. One agent
# runs a whole run; then three agents share one; the stored seconds add up to what the target
# itself counted; placement waits for matching agents and times out with a reason; flag errors.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
source "$(dirname "$0")/nats_lib.sh"

# ---- flag errors (exit 2, a message naming the flag) ----
rc=0; "$MORTAR" agent --name x 2>"$WORK/e" || rc=$?
expect_eq "agent without --nats exits 2" "$rc" 2
grep -q -- '--nats URL is required' "$WORK/e" || fail "no clear message: $(cat "$WORK/e")"
rc=0; "$MORTAR" agent --nats nats://127.0.0.1:1 --labels zone 2>"$WORK/e" || rc=$?
expect_eq "agent --labels without = exits 2" "$rc" 2
grep -q -- "--labels: 'zone' is not KEY=VALUE" "$WORK/e" || fail "no clear message: $(cat "$WORK/e")"
rc=0; "$MORTAR" agent --nats nats://127.0.0.1:1 --name 'a.b' 2>"$WORK/e" || rc=$?
expect_eq "agent --name with a dot exits 2" "$rc" 2
rc=0; "$MORTAR" agent --nats http://127.0.0.1:1 2>"$WORK/e" || rc=$?
expect_eq "agent --nats with a non-NATS URL exits 2" "$rc" 2
rc=0; "$MORTAR" agent --nats nats://127.0.0.1:1 --nats-user u 2>"$WORK/e" || rc=$?
expect_eq "agent --nats-user without a password exits 2" "$rc" 2
grep -q 'MORTAR_NATS_PASSWORD' "$WORK/e" || fail "no clear message: $(cat "$WORK/e")"
rc=0; "$MORTAR" serve --data "$WORK/x" --local-agent 2>"$WORK/e" || rc=$?
expect_eq "serve --local-agent without --nats exits 2" "$rc" 2
rc=0; "$MORTAR" serve --data "$WORK/x" --nats nats://127.0.0.1:1 --nats-creds "$WORK/none" 2>"$WORK/e" || rc=$?
expect_eq "serve --nats-creds of a missing file exits 2" "$rc" 2

# a NATS server without JetStream: serve says what is missing
"$NATS_SERVER" -a 127.0.0.1 -p -1 --ports_file_dir "$WORK" -l "$WORK/nojs.log" &
NOJS=$!
PIDS+=("$NOJS")
for ((i = 0; i < 200 * SLOW; i++)); do [[ -s $WORK/nats-server_$NOJS.ports ]] && break; sleep 0.05; done
rc=0
timeout $((20 * SLOW)) "$MORTAR" serve --listen 127.0.0.1:0 --data "$WORK/d0" \
  --nats "$(jq -r '.nats[0]' "$WORK/nats-server_$NOJS.ports")" >/dev/null 2>"$WORK/e" || rc=$?
expect_eq "serve on a NATS without JetStream exits 1" "$rc" 1
grep -q 'is JetStream on' "$WORK/e" || fail "no clear message: $(cat "$WORK/e")"
kill "$NOJS"

start_nats
start_target
DATA=$WORK/data
TOK=$("$MORTAR" token create --role admin --data "$DATA")

# serve cannot reach NATS: a clear error, exit 1
rc=0
timeout $((20 * SLOW)) "$MORTAR" serve --listen 127.0.0.1:0 --data "$WORK/d2" --nats "nats://127.0.0.1:$(refused_port)" \
  >/dev/null 2>"$WORK/e" || rc=$?
expect_eq "serve with an unreachable NATS exits 1" "$rc" 1
grep -q 'NATS connect' "$WORK/e" || fail "no clear message: $(cat "$WORK/e")"

start_serve "$DATA" --nats "$NATS_URL"
start_agent gen-1 --labels zone=a,tier=x --capacity 1
wait_agents "$TOK" 1
expect_api "agents" 200 GET /agents "$TOK"
expect_jq "gen-1 is listed with its labels and capacity" "$OUT" \
  '[.items[] | select(.name == "gen-1")][0] | .labels == {"zone":"a","tier":"x"} and .capacity == 1'
expect_jq "the built-in agent is off with --nats" "$OUT" '[.items[] | select(.name == "local")] | length == 0'

# ---- one agent, a whole run ----
target_stats "$WORK/before.json"
expect_api "queue a run" 201 POST /runs "$TOK" "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":40,\"duration\":\"3s\"}}"
RUN=$(jq -r .id "$OUT")
wait_run "$RUN" "$TOK" 60 passed
target_stats_since "$WORK/before.json" "$WORK/d.json"
expect_api "the run" 200 GET "/runs/$RUN" "$TOK"
cp "$OUT" "$WORK/run.json"
expect_eq "it ran on gen-1" "$(jq -r .agent "$WORK/run.json")" gen-1
expect_api "its series" 200 GET "/runs/$RUN/series" "$TOK"
expect_eq "3 seconds stored" "$(jq '.items | length' "$OUT")" 3
expect_eq "Σ sent over the stored seconds = the target's count" \
  "$(jq '[.items[].sent] | add' "$OUT")" "$(jq .requests "$WORK/d.json")"
expect_eq "the summary = Σ completed" "$(jq .summary.requests "$WORK/run.json")" "$(jq '[.items[].completed] | add' "$OUT")"
expect_eq "120 requests (40/s for 3 s)" "$(jq .requests "$WORK/d.json")" 120
grep -q '"msg":"agent start skew","run":"'"$RUN"'","agent":"gen-1","start_skew_us":' "$WORK/serve.log" ||
  fail "the start skew is not reported"
pass "the start skew is reported: $(grep -o '"agent start skew".*' "$WORK/serve.log" | tail -1)"

# ---- three agents share a run ----
start_agent gen-2 --labels zone=a
start_agent gen-3 --labels zone=b --capacity 2 # a share twice the others'
wait_agents "$TOK" 3
target_stats "$WORK/before.json"
expect_api "queue a 3-agent run" 201 POST /runs "$TOK" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"schedule\":\"const(30, 3s)\",\"duration\":\"4s\",\"agents\":3}}"
RUN=$(jq -r .id "$OUT")
wait_run "$RUN" "$TOK" 60 passed
target_stats_since "$WORK/before.json" "$WORK/d.json"
expect_api "the run" 200 GET "/runs/$RUN" "$TOK"
cp "$OUT" "$WORK/run.json"
expect_eq "it ran on the three agents" "$(jq -r '.agent | split(",") | sort | join(",")' "$WORK/run.json")" gen-1,gen-2,gen-3
expect_api "its series" 200 GET "/runs/$RUN/series" "$TOK"
expect_eq "Σ sent over the stored seconds = the target's count (3 agents)" \
  "$(jq '[.items[].sent] | add' "$OUT")" "$(jq .requests "$WORK/d.json")"
expect_eq "the summary = Σ completed (3 agents)" "$(jq .summary.requests "$WORK/run.json")" "$(jq '[.items[].completed] | add' "$OUT")"
# the generators' own CPU: summed over agents and seconds, the busiest thread the largest one's
expect_eq "the summary's generator CPU = Σ over the stored seconds (3 agents)" \
  "$(jq .summary.generator.cpu_us "$WORK/run.json")" "$(jq '[.items[].generator.cpu_us // 0] | add' "$OUT")"
expect_jq "each second's busiest thread within its 3 agents' total" "$OUT" \
  '([.items[] | select(.generator) | .generator.busiest_thread_cpu_us <= .generator.cpu_us] | all) and ([.items[] | select(.generator)] | length > 0)'
# an idle last second (docs/measurement.md): nothing is in flight at the end, so the merged
# seconds of three generators count exactly what the target answered
expect_eq "Σ completed over the stored seconds = the target's count (3 agents)" \
  "$(jq '[.items[].completed] | add' "$OUT")" "$(jq .requests "$WORK/d.json")"
expect_eq "Σ due = the single-generator plan (30/s for 3 s)" "$(jq '[.items[].due] | add' "$OUT")" 90
# Run.agents: one row per part, shares by capacity (1:1:2 -> period 4), the measured clock
# offset and start skew, every part ended
jq -e '.agents | length == 3 and all(.[]; .state == "ended" and .share.of == 3
         and (.clock_offset_us | type) == "number" and (.start_skew_us | type) == "number")' \
  "$WORK/run.json" >/dev/null || fail "Run.agents: $(jq -c .agents "$WORK/run.json")"
expect_eq "the parts' residues cover one period once (1:1:2)" \
  "$(jq -c '[.agents[].share.residues[]] | sort' "$WORK/run.json")" "[0,1,2,3]"
expect_eq "gen-3 (capacity 2) has two of the four" \
  "$(jq '.agents[] | select(.name == "gen-3") | .share.residues | length' "$WORK/run.json")" 2

# ---- placement: a selector, waiting, and the placement timeout ----
expect_api "queue a run for 3 agents in zone a (only 2 exist)" 201 POST /runs "$TOK" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":10,\"duration\":\"1s\",\"agents\":3,\"agent_labels\":\"zone=a\",\"placement_timeout\":\"2s\"}}"
RUN=$(jq -r .id "$OUT")
wait_run "$RUN" "$TOK" 30 error
expect_api "the run" 200 GET "/runs/$RUN" "$TOK"
expect_jq "it ends error with the placement reason" "$OUT" \
  '.reason == "placement timeout after 2 s: waiting for 3 agents matching zone=a: 2 free of 2 matching"'
expect_problem "a bad selector is refused" 422 validation POST /runs "$TOK" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":10,\"duration\":\"1s\",\"agent_labels\":\"zone in a\"}}"
expect_jq "naming the key" "$OUT" '.errors[0].pointer == "/config/agent_labels"'
expect_problem "agents: 0 is refused" 422 validation POST /runs "$TOK" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":10,\"duration\":\"1s\",\"agents\":0}}"

# ---- --local-agent: the built-in agent takes runs over NATS too ----
stop_serve
for a in gen-1 gen-2 gen-3; do kill "${AGENT_PID[$a]}"; done
start_serve "$WORK/data-local" --nats "$NATS_URL" --local-agent
TOK=$("$MORTAR" token create --role admin --data "$WORK/data-local")
expect_api "queue a run" 201 POST /runs "$TOK" "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":10,\"duration\":\"1s\"}}"
RUN=$(jq -r .id "$OUT")
wait_run "$RUN" "$TOK" 60 passed
expect_eq "it ran on the built-in agent" "$(jq -r .agent "$OUT")" local
stop_serve
expect_eq "serve stops cleanly (SIGTERM)" "$SERVE_RC" 0
