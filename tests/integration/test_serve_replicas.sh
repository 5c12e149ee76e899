#!/usr/bin/env bash
# Several `mortar serve` on one PostgreSQL and one NATS (docs/serve.md "Several servers",
# docs/adr/0034-several-servers.md): exactly one leads; a run created on one is visible,
# followed live (SSE) and stoppable on the other; one Idempotency-Key sent to both at once makes
# one run; SIGTERM of a server leaves the runs it does not own alone and hands its own over
# (another server takes them over, nothing lost); kill -9 of the server that owns a running
# run -> the other takes it over and it
# completes with every second stored once and Σ sent equal to what the target received; the
# survivor leads and fires the next schedule.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
source "$(dirname "$0")/nats_lib.sh"
source "$(dirname "$0")/pg_lib.sh"

# contiguous SERIES N: the stored seconds are exactly 0..N-1 (none lost, none twice)
contiguous() {
  jq -e --argjson n "$2" '[.items[].t] == [range(0; $n)]' "$1" >/dev/null ||
    fail "stored seconds are not 0..$(($2 - 1)): $(jq -c '[.items[].t]' "$1")"
  pass "seconds 0..$(($2 - 1)) stored, each once"
}

# replica NAME: a `mortar serve --server-id NAME` on the shared store and NATS; sets
# PID_<NAME>, API_<NAME>; its log is $WORK/serve-NAME.log.
replica() {
  local name=$1 fifo="$WORK/serve-$1.fifo" line fd
  mkfifo "$fifo"
  "$MORTAR" serve --listen 127.0.0.1:0 --store "$STORE" --nats "$NATS_URL" --server-id "$name" \
    >"$fifo" 2>>"$WORK/serve-$name.log" &
  printf -v "PID_$name" %s "$!"
  PIDS+=("$!")
  exec {fd}<"$fifo"
  read -r -t $((30 * SLOW)) -u "$fd" line || { tail -n 20 "$WORK/serve-$name.log" >&2; fail "serve $name did not start"; }
  [[ $line =~ listening\ on\ (http://127\.0\.0\.1:[0-9]+)$ ]] || fail "unexpected serve line: $line"
  printf -v "API_$name" %s "${BASH_REMATCH[1]}/api/v1"
}

# on NAME: the next api/expect_api calls go to server NAME
on() { local v="API_$1"; API=${!v}; }

# leader_of: prints the name of the server whose /metrics says it leads ("" when none)
metric() { # metric NAME FAMILY
  local v="API_$1"
  curl -sS --max-time 10 -H "Authorization: Bearer $TOK" "${!v%/api/v1}/metrics" |
    awk -v f="$2" '$1 ~ "^"f"\\{" { print $2 }'
}
leaders() {
  local n out=""
  for n in "$@"; do [[ $(metric "$n" mortar_server_leader) == 1 ]] && out+="$n "; done
  echo "${out% }"
}
wait_leader() { # wait_leader NAME...: until exactly one of them leads; prints it
  local i l
  for ((i = 0; i < 150 * SLOW; i++)); do
    l=$(leaders "$@")
    [[ -n $l && $l != *" "* ]] && { echo "$l"; return 0; }
    sleep 0.1
  done
  fail "no single leader among $*: '$l'"
}

pg_start
STORE=$(pg_uri mortar)
start_nats
start_target
TOK=$("$MORTAR" token create --role admin --store "$STORE")
replica a
replica b
on a
start_agent gen-1 --labels pool=main
start_agent gen-2 --labels pool=main
wait_agents "$TOK" 2

# ---- exactly one leader ----
LEADER=$(wait_leader a b)
OTHER=$([[ $LEADER == a ]] && echo b || echo a)
pass "one leader: $LEADER (the other: $OTHER)"

# ---- a run created on the other server: visible, live and stoppable on both ----
on "$OTHER"
expect_api "queue a run on $OTHER" 201 POST /runs "$TOK" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":10,\"duration\":\"60s\",\"agents\":1,\"agent_labels\":\"pool=main\"}}"
RUN=$(jq -r .id "$OUT")
on "$LEADER"
wait_run "$RUN" "$TOK" 30 running
pass "the run is running, seen from $LEADER"
# the live stream on the server that does not aggregate it (followed from the store)
on "$OTHER"
timeout $((30 * SLOW)) curl -sS -N -H "Authorization: Bearer $TOK" "$API/runs/$RUN/live" \
  >"$WORK/live.txt" 2>/dev/null &
LIVE=$!
PIDS+=("$LIVE")
for ((i = 0; i < 300 * SLOW; i++)); do
  (($(grep -c '^event: second' "$WORK/live.txt" || true) >= 2)) && break
  sleep 0.1
done
(($(grep -c '^event: second' "$WORK/live.txt" || true) >= 2)) ||
  fail "no live seconds on $OTHER: $(head -c 600 "$WORK/live.txt")"
pass "live seconds of the run on $OTHER, which does not aggregate it"
expect_api "stop it on $OTHER" 202 POST "/runs/$RUN/stop" "$TOK"
wait_run "$RUN" "$TOK" 30 stopped
for ((i = 0; i < 100 * SLOW; i++)); do
  grep -q '"state":"stopped"' "$WORK/live.txt" && break
  sleep 0.1
done
grep -q '"state":"stopped"' "$WORK/live.txt" || fail "the live stream on $OTHER did not say stopped"
pass "the live stream on $OTHER ends with the final state"
wait "$LIVE" 2>/dev/null || true
on "$LEADER"
expect_api "the run, from $LEADER" 200 GET "/runs/$RUN" "$TOK"
expect_jq "stopped, seen from $LEADER" "$OUT" '.state == "stopped"'

# ---- one Idempotency-Key on both servers at once: one run ----
BODY="{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":5,\"duration\":\"1s\",\"agents\":1},\"labels\":{\"idem\":\"k1\"}}"
declare -A IDEM
for n in a b; do
  v="API_$n"
  curl -sS --max-time 30 -o "$WORK/idem-$n.json" -w '%{http_code}' -H "Authorization: Bearer $TOK" \
    -H 'Content-Type: application/json' -H 'Idempotency-Key: same-key-1' --data-binary "$BODY" \
    "${!v}/runs" >"$WORK/idem-$n.code" &
  IDEM[$n]=$!
done
wait "${IDEM[a]}" "${IDEM[b]}"
expect_eq "both answered 201" "$(cat "$WORK/idem-a.code") $(cat "$WORK/idem-b.code")" "201 201"
expect_eq "with one run" "$(jq -r .id "$WORK/idem-a.json")" "$(jq -r .id "$WORK/idem-b.json")"
api GET "/runs?limit=500" "$TOK" >/dev/null
expect_eq "one run with its labels in the store" \
  "$(jq '[.items[] | select(.labels.idem == "k1")] | length' "$OUT")" 1
wait_run "$(jq -r .id "$WORK/idem-a.json")" "$TOK" 60 passed

# owned_run SECONDS: a 2-agent run of SECONDS queued on $OTHER, 3 seconds of it stored; sets
# RUN and OWNER (the leader, which dispatched it) and keeps the target's counters before it
owned_run() {
  on "$OTHER"
  target_stats "$WORK/before-$1.json"
  expect_api "queue a 2-agent run" 201 POST /runs "$TOK" \
    "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":20,\"duration\":\"$1s\",\"agents\":2,\"agent_labels\":\"pool=main\"}}"
  RUN=$(jq -r .id "$OUT")
  wait_seconds "$RUN" "$TOK" 3 60
  OWNER=$(pg_psql mortar "SELECT owner FROM run_leases WHERE run_id = '$RUN'")
  expect_eq "the leader owns the run it started" "$OWNER" "$LEADER"
}

# taken_over SECONDS HOW: $RUN passed on $OTHER, which took it over; every second stored once
# and Σ sent = what the target counted since owned_run
taken_over() {
  on "$OTHER"
  wait_run "$RUN" "$TOK" 90 'passed|failed|stopped|error|interrupted'
  expect_jq "the run passed (not stopped)" "$OUT" '.state == "passed"'
  grep -q "\"msg\":\"run taken over\",\"run\":\"$RUN\"" "$WORK/serve-$OTHER.log" ||
    fail "no 'run taken over' in $OTHER's log"
  pass "$OTHER took the run over"
  target_stats_since "$WORK/before-$1.json" "$WORK/d-$1.json"
  expect_api "the run" 200 GET "/runs/$RUN" "$TOK"
  cp "$OUT" "$WORK/run-$1.json"
  expect_api "its series" 200 GET "/runs/$RUN/series" "$TOK"
  contiguous "$OUT" "$1"
  expect_eq "Σ sent = the target's count across the $2" \
    "$(jq '[.items[].sent] | add' "$OUT")" "$(jq .requests "$WORK/d-$1.json")"
  expect_eq "the summary covers every second" "$(jq .summary.requests "$WORK/run-$1.json")" \
    "$(jq '[.items[].completed] | add' "$OUT")"
}

# ---- SIGTERM mid-run (a rolling update): a server that does not own the run leaves it alone;
# the owner hands it over (--on-shutdown auto = handover here), it is not stopped ----
replica c
owned_run 10
kill -TERM "$PID_c"
rc=0
wait "$PID_c" || rc=$?
expect_eq "server c (owns nothing) exits 0 on SIGTERM" "$rc" 0
v="PID_$OWNER"
kill -TERM "${!v}"
rc=0
wait "${!v}" || rc=$?
expect_eq "the owner $OWNER exits 0 on SIGTERM" "$rc" 0
grep -q "\"msg\":\"run handed over\",\"run\":\"$RUN\"" "$WORK/serve-$OWNER.log" ||
  fail "no 'run handed over' in $OWNER's log: $(tail -n 5 "$WORK/serve-$OWNER.log")"
pass "$OWNER handed the run over"
taken_over 10 handover
# two servers again for what follows: the survivor leads, a new one joins
replica d
LEADER=$(wait_leader "$OTHER" d)
expect_eq "the survivor leads" "$LEADER" "$OTHER"
OTHER=d

# ---- kill -9 of the owner mid-run: the other takes over, every second once ----
owned_run 12
v="PID_$OWNER"
kill -KILL "${!v}"
pass "owner $OWNER killed with SIGKILL mid-run"
taken_over 12 takeover

# ---- the survivor leads and fires the next schedule ----
expect_eq "the survivor leads" "$(wait_leader "$OTHER")" "$OTHER"
KILLED_AT=$(date +%s)
expect_api "a test" 201 POST /tests "$TOK" \
  "{\"name\":\"every-minute\",\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":5,\"duration\":\"1s\",\"agents\":1}}"
TEST=$(jq -r .id "$OUT")
expect_api "a schedule every minute" 201 POST /schedules "$TOK" \
  "{\"test_id\":\"$TEST\",\"cron\":\"* * * * *\"}"
for ((i = 0; i < 900 * SLOW; i++)); do
  api GET "/runs?test_id=$TEST" "$TOK" >/dev/null || true
  (($(jq '.items | length' "$OUT" 2>/dev/null || echo 0) >= 1)) && break
  sleep 0.1
done
(($(jq '.items | length' "$OUT") >= 1)) || fail "no scheduled run within 90 s of the leader's death"
pass "the survivor fired the schedule ($(($(date +%s) - KILLED_AT)) s after)"
grep -q '"msg":"this server leads' "$WORK/serve-$OTHER.log" || fail "$OTHER never logged its leadership"
check_openapi
