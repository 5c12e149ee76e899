#!/usr/bin/env bash
# mortar serve when its store fails, its secrets, its webhooks (issue 14; docs/security.md
# "Store failures" and "Secrets", docs/webhooks.md):
#  - the data directory's lock is taken before the database is opened or migrated;
#  - a full disk (the data directory on a 1 MiB tmpfs, mounted in a private mount namespace):
#    /readyz is 503 saying "disk full", writes answer 503 store-unavailable naming it, a second
#    that cannot be stored is retried then counted as lost on the run (lost_seconds,
#    loss_reason), a run stopped while the disk is full ends `stopped` once space returns, its
#    summary agrees with /summary, and the log is not flooded;
#  - a corrupt database file: a clear "database corrupt", never 500 "system call failed";
#  - POST /tokens with an Idempotency-Key: the replay has no secret, the database holds none;
#  - webhooks: a receiver that never answers holds at most 5 deliveries and does not delay
#    another receiver's (ordering only: the fast receiver's events arrive while the slow one's
#    first delivery is still hanging), and each attempt ends at the per-attempt timeout.
# Where mounting a tmpfs is not possible (not root and no user namespaces) the disk-full part
# is skipped, saying so; everything else runs.

# Re-run in a private mount namespace so the tmpfs is ours alone and vanishes with the test.
if [[ -z ${MT_STORE_NS:-} ]]; then
  if unshare -m true 2>/dev/null; then
    exec env MT_STORE_NS=1 unshare -m bash "$0" "$@"
  elif unshare -rm true 2>/dev/null; then
    exec env MT_STORE_NS=1 unshare -rm bash "$0" "$@"
  fi
  export MT_STORE_NS=none
fi
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

# readyz FILE: GET /readyz into FILE; prints the status.
readyz() {
  curl -sS --max-time $((10 * SLOW)) -o "$1" -w '%{http_code}' "http://127.0.0.1:$SERVE_PORT/readyz"
}

# wait_for WHAT SECONDS COMMAND...: polls COMMAND until it succeeds (bounded).
wait_for() {
  local what=$1 secs=$(($2 * SLOW)) i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  fail "$what: not after ${secs}s"
}

# ---- 1. the lock comes before the schema --------------------------------------------------
DATA=$WORK/locked
mkdir -p "$DATA"
exec {LOCK_FD}>"$DATA/serve.lock"
flock -n "$LOCK_FD" || fail "cannot take the test's lock"
rc=0
timeout $((20 * SLOW)) "$MORTAR" serve --listen 127.0.0.1:0 --data "$DATA" >/dev/null 2>"$WORK/locked.err" || rc=$?
expect_eq "serve on a locked data directory exits" "$rc" 1
grep -q 'another mortar serve uses this data directory' "$WORK/locked.err" ||
  fail "no clear message: $(cat "$WORK/locked.err")"
[[ ! -e $DATA/mortar.db ]] || fail "the refused serve created or migrated $DATA/mortar.db"
pass "the refused serve never touched the database"
exec {LOCK_FD}>&-

start_target

# ---- 2. a full disk -------------------------------------------------------------------------
DISK=$WORK/disk
mkdir -p "$DISK"
if [[ $MT_STORE_NS != none ]] && mount -t tmpfs -o size=1m tmpfs "$DISK" 2>/dev/null; then
  DATA=$DISK/data
  TOK=$("$MORTAR" token create --role runner --data "$DATA")
  start_serve "$DATA" --agent-capacity 1
  expect_eq "ready before the disk fills" "$(readyz "$WORK/ready.json")" 200
  expect_api "queue a long run" 201 POST /runs "$TOK" \
    "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":20,\"duration\":\"10m\"}}"
  RUN=$(jq -r .id "$OUT")
  expect_api "queue a short run behind it" 201 POST /runs "$TOK" \
    "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":10,\"duration\":\"1s\"}}"
  QUEUED=$(jq -r .id "$OUT")
  wait_seconds "$RUN" "$TOK" 2 60
  lines_before=$(wc -l <"$WORK/serve.log")
  dd if=/dev/zero of="$DISK/filler" bs=4k 2>/dev/null || true # until ENOSPC
  pass "the data directory's disk is full ($(df -k "$DISK" | awk 'NR==2 {print $4}') KiB free)"

  not_ready_disk_full() {
    [[ $(readyz "$WORK/ready.json") == 503 ]] && jq -e '.reason | test("disk full")' "$WORK/ready.json" >/dev/null
  }
  wait_for "/readyz 503 saying disk full" 60 not_ready_disk_full
  pass "/readyz: $(cat "$WORK/ready.json")"
  expect_problem "a write while the disk is full" 503 store-unavailable POST /tests "$TOK" \
    "{\"name\":\"t-full\",\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":1,\"duration\":\"1s\"}}"
  expect_jq "the problem names the disk" "$OUT" '.detail | test("disk full")'
  second_lost() { grep -q '"msg":"second lost' "$WORK/serve.log"; }
  wait_for "a second lost after its retries" 60 second_lost
  pass "a second was lost after its retries (logged)"

  expect_api "stop the run while the disk is full" 202 POST "/runs/$RUN/stop" "$TOK"
  end_kept() { grep -q 'run end not stored; kept' "$WORK/serve.log"; }
  wait_for "the run's end kept for later" 60 end_kept
  expect_api "the run while its end cannot be stored" 200 GET "/runs/$RUN" "$TOK"
  expect_jq "it is not final yet" "$OUT" '.state == "running"'

  # the agent is free now and a run is queued, but nothing can be stored: the dispatcher backs
  # off instead of spinning, and the log stays short
  expect_api "the queued run while the store fails" 200 GET "/runs/$QUEUED" "$TOK"
  expect_jq "it waits" "$OUT" '.state == "queued"'
  lines_full=$(($(wc -l <"$WORK/serve.log") - lines_before))
  ((lines_full < 200)) || fail "$lines_full log lines while the disk was full (rate limiting?)"
  pass "$lines_full log lines while the disk was full"

  rm -f "$DISK/filler"
  pass "space returned"
  wait_run "$RUN" "$TOK" 60 stopped
  expect_api "the run after space returned" 200 GET "/runs/$RUN" "$TOK"
  cp "$OUT" "$WORK/run.json"
  expect_jq "stopped, with its lost seconds and why" "$WORK/run.json" \
    '.state == "stopped" and .lost_seconds >= 1 and (.loss_reason | test("^[0-9]+ seconds? lost: disk full$"))'
  expect_api "its summary" 200 GET "/runs/$RUN/summary" "$TOK"
  expect_eq "Run.summary = /summary (requests)" "$(jq .summary.requests "$WORK/run.json")" "$(jq .requests "$OUT")"
  expect_api "its series" 200 GET "/runs/$RUN/series" "$TOK"
  expect_eq "Run.seconds = stored seconds" "$(jq .seconds "$WORK/run.json")" "$(jq '.items | length' "$OUT")"
  wait_run "$QUEUED" "$TOK" 60 passed
  pass "the queued run ran once the store took writes again"
  ready_again() { [[ $(readyz "$WORK/ready.json") == 200 ]]; }
  wait_for "/readyz 200 again" 30 ready_again
  pass "/readyz is 200 again"
  stop_serve TERM
  expect_eq "serve exits 0" "$SERVE_RC" 0
  check_openapi
  rm -rf "$API_LOG"
  umount "$DISK"
else
  echo "SKIP: cannot mount a tmpfs here (not root, no user namespaces): the disk-full part is skipped"
fi

# ---- 3. a corrupt database ------------------------------------------------------------------
DATA=$WORK/corrupt
ADM=$("$MORTAR" token create --role admin --data "$DATA")
start_serve "$DATA"
for i in $(seq 1 40); do
  expect_api "a test to fill pages ($i)" 201 POST /tests "$ADM" \
    "{\"name\":\"t$i\",\"description\":\"$(head -c 600 /dev/zero | tr '\0' x)\",\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":1,\"duration\":\"1s\"}}" >/dev/null
done
pass "40 tests stored"
stop_serve TERM # checkpoints: every page is in mortar.db
start_serve "$DATA"
size=$(stat -c %s "$DATA/mortar.db")
# every page after the first two: garbage (the header and the first schema page stay whole)
head -c $((size - 8192)) /dev/urandom | dd of="$DATA/mortar.db" bs=4096 seek=2 conv=notrunc 2>/dev/null
pass "the database file was corrupted under the running server"
expect_problem "a read of the corrupt database" 503 store-unavailable GET "/tests?limit=500" "$ADM"
expect_jq "the problem says database corrupt" "$OUT" '.detail | test("database corrupt")'
stop_serve TERM
rc=0
timeout $((20 * SLOW)) "$MORTAR" serve --listen 127.0.0.1:0 --data "$DATA" >/dev/null 2>"$WORK/corrupt.err" || rc=$?
expect_eq "serve on the corrupt database exits" "$rc" 1
grep -q '^mortar serve: store: .*database corrupt' "$WORK/corrupt.err" ||
  fail "no clear message: $(cat "$WORK/corrupt.err")"
pass "$(grep '^mortar serve:' "$WORK/corrupt.err")"
! grep -q 'system call failed' "$WORK/corrupt.err" "$WORK/serve.log" || fail "'system call failed' for a corrupt database"
pass "no 'system call failed'"
check_openapi
rm -rf "$API_LOG"

# ---- 4. secrets: an idempotent POST /tokens stores no secret ---------------------------------
DATA=$WORK/secrets
ADM=$("$MORTAR" token create --role admin --data "$DATA")
start_serve "$DATA"
expect_api "create a token with an Idempotency-Key" 201 POST /tokens "$ADM" \
  '{"name":"ci","role":"viewer"}' -H 'Idempotency-Key: tok-1'
SECRET=$(jq -r .token "$OUT")
TID=$(jq -r .id "$OUT")
[[ -n $SECRET && $SECRET != null ]] || fail "the first answer has no secret"
expect_api "the new token works" 200 GET /runs "$SECRET"
expect_api "the same request replayed" 201 POST /tokens "$ADM" \
  '{"name":"ci","role":"viewer"}' -H 'Idempotency-Key: tok-1'
expect_jq "the replay is the token's metadata without its secret" "$OUT" \
  '.id == $id and .name == "ci" and .role == "viewer" and (has("token") | not)' --arg id "$TID"
grep -qi '^idempotent-replayed: true' "$OUT.h" || fail "the replay is not marked: $(cat "$OUT.h")"
n=$(sqlite3 "file:$DATA/mortar.db?mode=ro" "SELECT count(*) FROM idempotency_keys WHERE instr(body, '$SECRET') > 0")
expect_eq "idempotency rows holding the secret" "$n" 0
n=$(sqlite3 "file:$DATA/mortar.db?mode=ro" "SELECT count(*) FROM idempotency_keys")
expect_eq "the key itself is kept" "$n" 1

# ---- 5. webhooks: a slow receiver never delays a fast one -----------------------------------
start_receiver() { # start_receiver MODE LOG -> RECV_PORT
  local fifo="$WORK/recv.$RANDOM.fifo" line
  mkfifo "$fifo"
  python3 "$MT_SOURCE_DIR/tests/integration/hook_receiver.py" "$1" "$2" >"$fifo" &
  PIDS+=("$!")
  exec {RECV_FD}<"$fifo"
  read -r -t $((20 * SLOW)) -u "$RECV_FD" line || fail "receiver did not start"
  RECV_PORT=${line##* }
}
: >"$WORK/slow.log"
: >"$WORK/fast.log"
start_receiver slow "$WORK/slow.log"
SLOW_PORT=$RECV_PORT
start_receiver fast "$WORK/fast.log"
FAST_PORT=$RECV_PORT
expect_api "a webhook to a receiver that never answers" 201 POST /webhooks "$ADM" \
  "{\"url\":\"http://127.0.0.1:$SLOW_PORT/hook\",\"secret\":\"s\",\"events\":[\"test.created\"]}"
SLOW_HOOK=$(jq -r .id "$OUT")
expect_api "a webhook to one that answers" 201 POST /webhooks "$ADM" \
  "{\"url\":\"http://127.0.0.1:$FAST_PORT/hook\",\"secret\":\"s\",\"events\":[\"test.created\"]}"
expect_api "event 1 (test.created)" 201 POST /tests "$ADM" \
  "{\"name\":\"w1\",\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":1,\"duration\":\"1s\"}}"
slow_holds() { grep -q '^open' "$WORK/slow.log"; }
wait_for "the slow receiver holds a delivery" 30 slow_holds
for i in 2 3 4 5 6 7; do
  expect_api "event $i (test.created)" 201 POST /tests "$ADM" \
    "{\"name\":\"w$i\",\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":1,\"duration\":\"1s\"}}" >/dev/null
done
fast_has_all() { (($(grep -c '^event' "$WORK/fast.log") >= 7)); }
wait_for "the fast receiver gets all 7 events" 30 fast_has_all
# ordering, not timing: when the fast receiver had all 7, the slow one had closed nothing
! grep -q '^closed' "$WORK/slow.log" ||
  fail "the slow receiver's first delivery ended before the fast one got its events: $(cat "$WORK/slow.log")"
pass "the fast receiver got its 7 events while the slow one still hung"
slow_five() { (($(grep -c '^open' "$WORK/slow.log") >= 5)); }
wait_for "the slow receiver holds 5" 30 slow_five
max=$(awk '$1 == "open" && $2 > m { m = $2 } END { print m + 0 }' "$WORK/slow.log")
expect_eq "deliveries in flight to the slow receiver (at most)" "$max" 5
slow_timed_out() { grep -q '^closed' "$WORK/slow.log"; }
wait_for "the per-attempt timeout ends a hanging delivery" 60 slow_timed_out
pass "a hanging attempt was ended by the per-attempt timeout"
has_timeout_error() {
  api GET "/webhooks/$SLOW_HOOK/deliveries" "$ADM" >/dev/null &&
    jq -e '[.items[] | select(.last_error != null and (.last_error | test("imeout|timed out")))] | length >= 1' "$OUT" >/dev/null
}
wait_for "a delivery records the timeout" 30 has_timeout_error
pass "the delivery's last_error names the timeout"
stop_serve TERM
expect_eq "serve exits 0" "$SERVE_RC" 0
check_openapi
