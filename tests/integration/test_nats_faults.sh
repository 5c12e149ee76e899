#!/usr/bin/env bash
# Agents over NATS under faults (docs/distributed.md, "What happens when"): an agent killed
# with SIGKILL (the run ends error naming it, or goes on by its on_agent_loss policy); a
# restarted agent does not rejoin its old run; nats-server restarted mid-run (file storage: no
# second lost or counted twice); mortar serve killed with SIGKILL mid-run (the restarted server
# resumes from the stream and its stored seconds); an agent cut off from NATS stops its run
# after --lost-after.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
source "$(dirname "$0")/nats_lib.sh"

# contiguous SERIES N: the stored seconds are exactly 0..N-1 (none lost, none twice)
contiguous() {
  jq -e --argjson n "$2" '[.items[].t] == [range(0; $n)]' "$1" >/dev/null ||
    fail "stored seconds are not 0..$(($2 - 1)): $(jq -c '[.items[].t]' "$1")"
  pass "seconds 0..$(($2 - 1)) stored, each once"
}

start_nats
start_target
DATA=$WORK/data
TOK=$("$MORTAR" token create --role admin --data "$DATA")
start_serve "$DATA" --nats "$NATS_URL"
start_agent gen-1 --labels pool=main
start_agent gen-2 --labels pool=main
wait_agents "$TOK" 2

# ---- (a) an agent killed mid-run, policy "error" (the default) ----
expect_api "queue a 2-agent run" 201 POST /runs "$TOK" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":20,\"duration\":\"60s\",\"agents\":2,\"agent_labels\":\"pool=main\"}}"
RUN=$(jq -r .id "$OUT")
wait_seconds "$RUN" "$TOK" 2 60
kill -KILL "${AGENT_PID[gen-2]}"
pass "gen-2 killed with SIGKILL"
wait_run "$RUN" "$TOK" 30 error
expect_api "the run" 200 GET "/runs/$RUN" "$TOK"
jq -e '.reason | test("^agent gen-2:? lost at second [0-9]+$")' "$OUT" >/dev/null ||
  fail "the reason does not name the agent and the second: $(jq -r .reason "$OUT")"
pass "the run ends error: $(jq -r .reason "$OUT")"
N=$(jq .seconds "$OUT")
expect_api "its series" 200 GET "/runs/$RUN/series" "$TOK"
contiguous "$OUT" "$N"

# ---- (a') policy "continue"; the killed agent restarted does not rejoin ----
start_agent gen-3 --labels pool=main
wait_agents "$TOK" 2
target_stats "$WORK/before.json"
expect_api "queue a 2-agent run that continues on loss" 201 POST /runs "$TOK" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":20,\"duration\":\"6s\",\"agents\":2,\"agent_labels\":\"pool=main\",\"on_agent_loss\":\"continue\"}}"
RUN=$(jq -r .id "$OUT")
wait_seconds "$RUN" "$TOK" 2 60
expect_api "the run" 200 GET "/runs/$RUN" "$TOK"
VICTIM=$(jq -r '.agent | split(",") | map(select(. != "gen-1"))[0]' "$OUT")
kill -KILL "${AGENT_PID[$VICTIM]}"
pass "$VICTIM killed with SIGKILL"
start_agent "$VICTIM" --labels pool=main
wait_run "$RUN" "$TOK" 60 passed
expect_api "the run" 200 GET "/runs/$RUN" "$TOK"
expect_jq "it completes, saying whose share is missing from which second" "$OUT" \
  ".reason | test(\"^completed; agent $VICTIM lost at second [0-9]+ \\\\(its share was not redistributed\\\\)$\")"
expect_api "its series" 200 GET "/runs/$RUN/series" "$TOK"
contiguous "$OUT" 6
awk '/"msg":"agent started"/ {n++} n >= 2' "$WORK/agent-$VICTIM.log" >"$WORK/restarted.log"
[[ -s $WORK/restarted.log ]] || fail "no log of the restarted $VICTIM"
grep -q "$RUN" "$WORK/restarted.log" && fail "the restarted $VICTIM took part in its old run: $(grep "$RUN" "$WORK/restarted.log")"
pass "the restarted $VICTIM did not rejoin its old run"

# ---- (b) nats-server restarted mid-run (file storage) ----
target_stats "$WORK/before.json"
expect_api "queue a 2-agent run" 201 POST /runs "$TOK" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":20,\"duration\":\"8s\",\"agents\":2,\"agent_labels\":\"pool=main\"}}"
RUN=$(jq -r .id "$OUT")
wait_seconds "$RUN" "$TOK" 2 60
stop_nats TERM
pass "nats-server stopped mid-run"
for ((i = 0; i < 100 * SLOW; i++)); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SERVE_PORT/readyz") == 503 ]] && break
  sleep 0.05
done
expect_eq "serve is not ready while NATS is away" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SERVE_PORT/readyz")" 503
start_nats
pass "nats-server started again on port $NATS_PORT with the same storage"
wait_run "$RUN" "$TOK" 90 passed
expect_eq "ready again" "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SERVE_PORT/readyz")" 200
target_stats_since "$WORK/before.json" "$WORK/d.json"
expect_api "its series" 200 GET "/runs/$RUN/series" "$TOK"
contiguous "$OUT" 8
expect_eq "Σ sent = the target's count across the NATS restart" \
  "$(jq '[.items[].sent] | add' "$OUT")" "$(jq .requests "$WORK/d.json")"

# ---- (c) mortar serve killed with SIGKILL mid-run, then restarted ----
target_stats "$WORK/before.json"
expect_api "queue a 2-agent run" 201 POST /runs "$TOK" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":20,\"duration\":\"10s\",\"agents\":2,\"agent_labels\":\"pool=main\"}}"
RUN=$(jq -r .id "$OUT")
wait_seconds "$RUN" "$TOK" 3 60
stop_serve KILL
pass "serve killed with SIGKILL mid-run"
start_serve "$DATA" --nats "$NATS_URL"
wait_run "$RUN" "$TOK" 90 passed
grep -q "\"msg\":\"run resumed\",\"run\":\"$RUN\"" "$WORK/serve.log" || fail "no 'run resumed' in the log"
target_stats_since "$WORK/before.json" "$WORK/d.json"
expect_api "the run" 200 GET "/runs/$RUN" "$TOK"
cp "$OUT" "$WORK/run.json"
expect_api "its series" 200 GET "/runs/$RUN/series" "$TOK"
contiguous "$OUT" 10
expect_eq "Σ sent = the target's count across the serve restart" \
  "$(jq '[.items[].sent] | add' "$OUT")" "$(jq .requests "$WORK/d.json")"
expect_eq "the summary covers every second" "$(jq .summary.requests "$WORK/run.json")" "$(jq '[.items[].completed] | add' "$OUT")"

# ---- (d) an agent cut off from NATS stops its run after --lost-after ----
start_agent gen-9 --labels pool=cut --lost-after 2s
wait_agents "$TOK" 3
expect_api "queue a run on gen-9" 201 POST /runs "$TOK" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":20,\"duration\":\"10m\",\"agent_labels\":\"pool=cut\"}}"
RUN=$(jq -r .id "$OUT")
wait_seconds "$RUN" "$TOK" 2 60
stop_nats KILL
pass "nats-server gone for good"
for ((i = 0; i < 300 * SLOW; i++)); do
  grep -q '"msg":"control plane lost: runs stopped","runs":1' "$WORK/agent-gen-9.log" && break
  sleep 0.1
done
grep -q '"msg":"control plane lost: runs stopped","runs":1' "$WORK/agent-gen-9.log" ||
  fail "gen-9 did not stop its run: $(tail -n 5 "$WORK/agent-gen-9.log")"
pass "gen-9 stopped its run without the control plane"
for ((i = 0; i < 100 * SLOW; i++)); do
  grep -q "\"msg\":\"run ended\",\"run\":\"$RUN\"" "$WORK/agent-gen-9.log" && break
  sleep 0.1
done
grep -q "\"msg\":\"run ended\",\"run\":\"$RUN\",\"agent\":\"gen-9\",\"outcome\":\"stopped\"" "$WORK/agent-gen-9.log" ||
  fail "gen-9's run did not end: $(tail -n 5 "$WORK/agent-gen-9.log")"
pass "its engine ended the run (stopped)"
