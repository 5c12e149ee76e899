# mortar collect --follow (issue 16, docs/import.md): a writer appends phout lines stamped with
# the current time to a file, as a running Tank does; it then rotates the file (renamed, a new
# one at the path) and later truncates it (copytruncate), and exits. The collector follows it
# into a live run of a real `mortar serve`: seconds are stored while the writer still writes
# (the run is `running` with stored seconds), the rotation and the truncation are noticed, the
# run ends when the writer's pid exits, and every line written is in the run (or counted late).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

DATA=$WORK/data
TOK=$("$MORTAR" token create --role runner --data "$DATA")
start_serve "$DATA"
SERVER=http://127.0.0.1:$SERVE_PORT
expect_api "a test" 201 POST /tests "$TOK" \
  '{"name":"tank","config":{"url":"http://127.0.0.1:9/","rate":10,"duration":"5s"}}'

LOG=$WORK/phout.log
: >"$LOG"
# the writer: 20 lines per 100 ms for 2.5 s, then rotation, 2 s, then truncation, 1.5 s; the
# time.sleep paces the data like a load tool (it synchronises nothing)
cat >"$WORK/writer.py" <<'EOF'
import os, sys, time
log, count = sys.argv[1], sys.argv[2]
n = 0
def phase(secs, mode="a"):
    global n
    end = time.time() + secs
    with open(log, mode) as f:
        while time.time() < end:
            for _ in range(20):
                t = time.time()
                f.write("%.3f\tfollow\t1500\t10\t20\t1000\t470\t1500\t100\t200\t0\t200\n" % t)
                n += 1
            f.flush()
            time.sleep(0.1)
phase(2.5)
os.rename(log, log + ".1")
phase(2.0, "w")
with open(log, "r+") as f:
    f.truncate(0)
phase(1.5)
open(count, "w").write(str(n))
EOF
python3 "$WORK/writer.py" "$LOG" "$WORK/count" &
WRITER=$!
PIDS+=("$WRITER")
MORTAR_TOKEN=$TOK timeout $((60 * SLOW)) "$MORTAR" collect --follow "$LOG" --server "$SERVER" \
  --test tank --pid "$WRITER" --idle-timeout 20 --json >"$WORK/collect.json" 2>"$WORK/collect.err" &
COLLECT=$!
PIDS+=("$COLLECT")

# live: while the writer writes, the run is running and has stored seconds
live=0
for ((i = 0; i < 100 * SLOW; i++)); do
  kill -0 "$WRITER" 2>/dev/null || break
  api GET "/runs?state=running" "$TOK" >/dev/null
  run=$(jq -r '[.items[] | select(.source.live == true)][0].id // empty' "$OUT")
  if [[ -n $run ]]; then
    api GET "/runs/$run/series" "$TOK" >/dev/null
    if (($(jq '.items | length' "$OUT") >= 1)) && kill -0 "$WRITER" 2>/dev/null; then
      live=1
      break
    fi
  fi
  sleep 0.1
done
expect_eq "seconds of the followed file are stored while it is written" "$live" 1

rc=0
wait "$COLLECT" || rc=$?
expect_eq "collect --follow exits when the writer has exited" "$rc" 0
N=$(cat "$WORK/count")
expect_jq "the run passed, live, with every line written (in the run or late)" "$WORK/collect.json" \
  '.run.state == "passed" and .import.live == true and .import.malformed == 0 and
   (.import.records == ($n | tonumber)) and (.run.summary.sent + .import.late == ($n | tonumber))' --arg n "$N"
grep -q 'was rotated' "$WORK/collect.err" || fail "the rotation was not noticed: $(cat "$WORK/collect.err")"
grep -q 'was truncated' "$WORK/collect.err" || fail "the truncation was not noticed: $(cat "$WORK/collect.err")"
grep -q 'the writer exited' "$WORK/collect.err" || fail "no end by --pid: $(cat "$WORK/collect.err")"
pass "rotation, truncation and the writer's exit are noticed and said"

# --idle-timeout ends a follow of a file nobody writes
printf '%s\tidle\t1000\t1\t1\t500\t1\t1000\t1\t1\t0\t200\n' "$(date +%s).000" >"$WORK/idle.log"
rc=0
MORTAR_TOKEN=$TOK timeout $((30 * SLOW)) "$MORTAR" collect --follow "$WORK/idle.log" --server "$SERVER" \
  --test tank --idle-timeout 1 >"$WORK/idle.out" 2>"$WORK/idle.err" || rc=$?
expect_eq "a quiet file ends by --idle-timeout, exit" "$rc" 0
grep -q -- '--idle-timeout' "$WORK/idle.err" || fail "no idle message: $(cat "$WORK/idle.err")"
grep -q '1 records' "$WORK/idle.out" || fail "the line is not in the run: $(cat "$WORK/idle.out")"
pass "the quiet file's line is in the run"

rc=0
"$MORTAR" collect "$LOG" --server "$SERVER" --test tank >/dev/null 2>"$WORK/u.err" || rc=$?
expect_eq "collect without --follow: exit" "$rc" 2
check_openapi
