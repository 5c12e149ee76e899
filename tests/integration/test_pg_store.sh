#!/usr/bin/env bash
# The PostgreSQL store (issue 12, docs/adr/0033-postgresql-store.md, docs/serve.md "Choosing a
# store"), against a throwaway cluster on a Unix socket (pg_lib.sh):
#  1. --store refuses a password in the URI (exit 2, the column); --store-password-file works
#  2. mortar db status / migrate: pending, applied, checksums; serve refuses a changed one
#  3. migrations wait for the advisory lock another holder has (two servers never both migrate)
#  4. a database restart (pg_ctl restart) in the middle of a run: the run passes with every
#     second stored and none lost; /readyz says 503 while the database is down
#  5. the outbox with two servers' relays on one database: every delivery made once
#  6. per-second rows in monthly partitions; mortar db prune drops the old months only
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
source "$(dirname "$0")/pg_lib.sh"
pg_start

wait_for() {
  local what=$1 secs=$(($2 * SLOW)) i
  shift 2
  for ((i = 0; i < secs * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  fail "$what: not after ${secs}s"
}

# ---- 1. the URI and the password ------------------------------------------------------------
rc=0
"$MORTAR" serve --listen 127.0.0.1:0 --store "postgresql://mortar:secret@db.internal/mortar" \
  2>"$WORK/pw.err" || rc=$?
expect_eq "serve with a password in --store exits" "$rc" 2
grep -q 'column 21: the URI holds a password' "$WORK/pw.err" || fail "no clear message: $(cat "$WORK/pw.err")"
rc=0
"$MORTAR" db status --store "postgres://u@h/db?sslmode=require&password=x" 2>"$WORK/pw2.err" || rc=$?
expect_eq "db status with password= in the query exits" "$rc" 2
grep -q 'holds a password' "$WORK/pw2.err" || fail "no clear message: $(cat "$WORK/pw2.err")"
rc=0
"$MORTAR" token create --role admin --store "mysql://x/y" 2>"$WORK/scheme.err" || rc=$?
expect_eq "token create with a non-PostgreSQL URI exits" "$rc" 2
grep -q 'column 1: want a PostgreSQL URI' "$WORK/scheme.err" || fail "no clear message: $(cat "$WORK/scheme.err")"

pg_psql postgres "CREATE ROLE app LOGIN PASSWORD 'app-pw'" >/dev/null
pg_psql postgres "CREATE DATABASE appdb OWNER app" >/dev/null
# password authentication for app only: the cluster trusts the rest
sed -i '1i local appdb app scram-sha-256' "$PG_DIR/data/pg_hba.conf"
pg_psql postgres "SELECT pg_reload_conf()" >/dev/null
APP_URI="postgresql://app@/appdb?host=$PG_DIR"
rc=0
PGPASSWORD= "$MORTAR" db migrate --store "$APP_URI" >/dev/null 2>"$WORK/nopw.err" || rc=$?
expect_eq "db migrate without the password exits" "$rc" 1
grep -qi 'cannot connect to the database' "$WORK/nopw.err" || fail "no clear message: $(cat "$WORK/nopw.err")"
printf 'app-pw\n' >"$WORK/pw.txt"
"$MORTAR" db migrate --store "$APP_URI" --store-password-file "$WORK/pw.txt" >"$WORK/m.txt" ||
  fail "db migrate with --store-password-file failed"
grep -q '^V1__init.sql *applied' "$WORK/m.txt" || fail "migrate: $(cat "$WORK/m.txt")"
PGPASSWORD=app-pw "$MORTAR" token create --role admin --store "$APP_URI" | grep -q '^mt_' ||
  fail "token create with PGPASSWORD failed"
pass "the password comes from --store-password-file or PGPASSWORD, never the URI"

# ---- 2. status, migrate, checksums ---------------------------------------------------------
# the embedded PostgreSQL migrations (V1 and those of later features)
NMIG=$(ls "$MT_SOURCE_DIR"/src/server/migrations/postgresql/V*__*.sql | wc -l)
URI=$(pg_uri m1)
"$MORTAR" db status --store "$URI" >"$WORK/s1.txt" || fail "db status failed"
grep -q '^V1__init.sql *pending' "$WORK/s1.txt" || fail "status before: $(cat "$WORK/s1.txt")"
[[ -z $(pg_psql m1 "SELECT 1 FROM pg_tables WHERE tablename = 'runs'") ]] || fail "status created tables"
pass "db status lists V1 as pending and changes nothing"
"$MORTAR" db migrate --store "$URI" >/dev/null || fail "db migrate failed"
"$MORTAR" db status --store "$URI" >"$WORK/s2.txt" || fail "db status failed"
grep -q '^V1__init.sql *applied' "$WORK/s2.txt" || fail "status after: $(cat "$WORK/s2.txt")"
expect_eq "schema_history rows" "$(pg_psql m1 'SELECT count(*) FROM schema_history')" "$NMIG"
"$MORTAR" db migrate --store "$URI" >/dev/null || fail "db migrate again failed"
expect_eq "migrating again applies nothing" "$(pg_psql m1 'SELECT count(*) FROM schema_history')" "$NMIG"
pg_psql m1 "UPDATE schema_history SET checksum = 'x' || substr(checksum, 2) WHERE version = 1" >/dev/null
rc=0
"$MORTAR" db status --store "$URI" >"$WORK/s3.txt" 2>"$WORK/s3.err" || rc=$?
expect_eq "db status of a changed migration exits" "$rc" 2
grep -q '^V1__init.sql *changed' "$WORK/s3.txt" || fail "status: $(cat "$WORK/s3.txt")"
rc=0
timeout $((20 * SLOW)) "$MORTAR" serve --listen 127.0.0.1:0 --store "$URI" 2>"$WORK/chg.err" >/dev/null || rc=$?
expect_eq "serve on a changed migration exits" "$rc" 2
grep -q 'migration V1__init.sql was changed after it was applied' "$WORK/chg.err" ||
  fail "no clear message: $(cat "$WORK/chg.err")"

# ---- 3. the advisory lock ------------------------------------------------------------------
URI=$(pg_uri m2)
coproc HOLD { psql -X -Atq "postgresql://postgres@/m2?host=$PG_DIR" 2>&1; }
echo "SELECT 'locked' FROM (SELECT pg_advisory_lock(7303000)) x;" >&"${HOLD[1]}"
read -r -t $((20 * SLOW)) -u "${HOLD[0]}" line || fail "psql did not take the lock"
expect_eq "another session holds the migration lock" "$line" locked
"$MORTAR" db migrate --store "$URI" >"$WORK/lk.txt" 2>&1 &
MIG=$!
PIDS+=("$MIG")
waiting() { [[ -n $(pg_psql m2 "SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND NOT l.granted AND a.application_name = 'mortar'") ]]; }
wait_for "migrate waits for the advisory lock" 20 waiting
[[ -z $(pg_psql m2 "SELECT 1 FROM pg_tables WHERE tablename = 'runs'") ]] || fail "migrated under the lock"
kill -0 "$MIG" || fail "migrate ended while the lock was held"
pass "db migrate waits while another holds the lock, having changed nothing"
echo "SELECT pg_advisory_unlock(7303000);" >&"${HOLD[1]}"
exec {HOLD[1]}>&-
rc=0
wait "$MIG" || rc=$?
expect_eq "migrate after the lock is released exits" "$rc" 0
expect_eq "and applied V1" "$(pg_psql m2 'SELECT name FROM schema_history WHERE version = 1')" V1__init.sql

# ---- 4. a database restart mid-run ------------------------------------------------------------
URI=$(pg_uri run)
TOK=$("$MORTAR" token create --role admin --store "$URI")
start_target
start_serve "$WORK/unused" --store "$URI"
expect_api "queue an 8-second run" 201 POST /runs "$TOK" \
  "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":50,\"duration\":\"8s\"}}"
RUN=$(jq -r .id "$OUT")
wait_seconds "$RUN" "$TOK" 2 30
pg_stop
down() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SERVE_PORT/readyz") == 503 ]]; }
wait_for "/readyz answers 503 while the database is down" 10 down
curl -s "http://127.0.0.1:$SERVE_PORT/readyz" | grep -q 'not ready' || fail "readyz body"
pass "/readyz: 503 while the database is down"
pg_resume
up() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SERVE_PORT/readyz") == 200 ]]; }
wait_for "/readyz answers 200 again" 20 up
pg_restart # and a restart (fast: connections cut) while the run goes on
wait_run "$RUN" "$TOK" 60 "passed|failed|stopped|interrupted|error"
api GET "/runs/$RUN" "$TOK" >/dev/null
expect_jq() { jq -e "$2" "$OUT" >/dev/null || fail "$1: $2 is false: $(head -c 600 "$OUT")"; pass "$1"; }
expect_jq "the run passed through a database stop and restart" '.state == "passed"'
expect_jq "no second lost" '.lost_seconds == 0 and .loss_reason == null'
expect_jq "all 8 seconds stored" '.seconds == 8'
expect_eq "stored rows of the run (untagged)" \
  "$(pg_psql run "SELECT count(*) FROM run_seconds WHERE run_id = '$RUN' AND tag = ''")" 8
sent=$(jq '.summary.sent' "$OUT")
sum=$(api GET "/runs/$RUN/series" "$TOK" >/dev/null && jq '[.items[].sent] | add' "$OUT")
expect_eq "the seconds add up to the run's total" "$sum" "$sent"
curl -sS -H "Authorization: Bearer $TOK" "http://127.0.0.1:$SERVE_PORT/metrics" >"$WORK/metrics.txt"
grep -q '^mortar_store_roundtrips_total [1-9]' "$WORK/metrics.txt" || fail "no store round trips in /metrics"
grep -q '^mortar_store_pool_connections 8' "$WORK/metrics.txt" || fail "no pool size in /metrics"
pass "/metrics: the store's round trips and pool"

# ---- 5. two relays, each delivery once --------------------------------------------------------
: >"$WORK/hook.log"
fifo="$WORK/recv.fifo"
mkfifo "$fifo"
python3 "$MT_SOURCE_DIR/tests/integration/hook_receiver.py" fast "$WORK/hook.log" >"$fifo" &
PIDS+=("$!")
exec {RECV_FD}<"$fifo"
read -r -t $((20 * SLOW)) -u "$RECV_FD" line || fail "receiver did not start"
RECV_PORT=${line##* }
A_API=$API
start_serve "$WORK/unused2" --store "$URI"
B_API=$API
API=$A_API
expect_api "a webhook (server A)" 201 POST /webhooks "$TOK" \
  "{\"url\":\"http://127.0.0.1:$RECV_PORT/hook\",\"secret\":\"s\",\"events\":[\"test.created\"]}"
for i in $(seq 1 20); do
  if ((i % 2)); then API=$A_API; else API=$B_API; fi
  api POST /tests "$TOK" "{\"name\":\"h$i\",\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":1,\"duration\":\"1s\"}}" >/dev/null
done
API=$A_API
all20() { [[ $(pg_psql run "SELECT count(*) FROM deliveries WHERE state = 'delivered'") == 20 ]]; }
wait_for "20 deliveries made" 30 all20
expect_eq "each delivered at its first attempt (none twice)" \
  "$(pg_psql run "SELECT count(*) FROM deliveries WHERE attempts = 1 AND lease_until = 0")" 20
expect_eq "the receiver got 20 events" "$(grep -c '^event' "$WORK/hook.log")" 20
expect_eq "20 different ones" "$(grep '^event' "$WORK/hook.log" | sort -u | wc -l)" 20

# ---- 6. partitions and prune ---------------------------------------------------------------
month=$(date -u +y%Ym%m)
[[ -n $(pg_psql run "SELECT 1 FROM pg_tables WHERE tablename = 'run_seconds_$month'") ]] ||
  fail "no partition run_seconds_$month"
pass "this month's runs are in run_seconds_$month"
expect_eq "the histograms are bytea" \
  "$(pg_psql run "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'run_seconds'::regclass AND attname = 'latency'")" bytea
# a run of January 2020 (its UUIDv7 says so), stored through the API's path: its partition is
# made on demand when its first second comes
OLD=016f5e66-e800-7000-8000-000000000001
pg_psql run "INSERT INTO runs(id, state, config_json, created_at) VALUES ('$OLD', 'passed', '{}', '2020-01-01T00:00:00.000Z')" >/dev/null
pg_psql run "CREATE TABLE run_seconds_y2020m01 PARTITION OF run_seconds FOR VALUES FROM ('016f5e66-e800') TO ('016ffe00-e800')" >/dev/null
pg_psql run "INSERT INTO run_seconds VALUES ('$OLD', 0, '', '{}', '\\x00', '\\x00')" >/dev/null
"$MORTAR" db prune --older-than 90d --dry-run --store "$URI" >"$WORK/p1.txt" || fail "prune --dry-run failed"
expect_eq "prune --dry-run lists the old month only" "$(cat "$WORK/p1.txt")" "would drop run_seconds_y2020m01"
"$MORTAR" db prune --older-than 90d --store "$URI" >"$WORK/p2.txt" || fail "prune failed"
expect_eq "prune drops it" "$(cat "$WORK/p2.txt")" "dropped run_seconds_y2020m01"
[[ -z $(pg_psql run "SELECT 1 FROM pg_tables WHERE tablename = 'run_seconds_y2020m01'") ]] || fail "still there"
expect_eq "this month's rows are kept" \
  "$(pg_psql run "SELECT count(*) FROM run_seconds WHERE run_id = '$RUN' AND tag = ''")" 8
expect_eq "the old run itself is kept" "$(pg_psql run "SELECT state FROM runs WHERE id = '$OLD'")" passed
rc=0
"$MORTAR" db prune --older-than 90x --store "$URI" 2>"$WORK/p3.err" || rc=$?
expect_eq "prune with a bad age exits" "$rc" 2
grep -q "'90x' is not an age" "$WORK/p3.err" || fail "no clear message: $(cat "$WORK/p3.err")"
check_openapi
