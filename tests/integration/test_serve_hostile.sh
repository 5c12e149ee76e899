#!/usr/bin/env bash
# mortar serve under hostile or careless clients (docs/security.md "Connections and hostile
# clients", ADR 0027): a flood of slow clients does not lock out an authenticated one, header
# and body deadlines, the per-address limit, unauthenticated bodies refused unread (the
# server's RSS stays put), 413 before the body, 414 and 431 as problems, the small protocol
# faults of issue 14, Last-Event-ID clamped, live streams primed from a bounded window, and
# unknown methods counted as "other". Every client is tests/integration/hostile_client.py on
# loopback, bounded in count and time.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

HC=(python3 "$MT_SOURCE_DIR/tests/integration/hostile_client.py")

# The flood needs ~1,100 client sockets and as many server connections: raise the open-files
# limit of this test's processes if it is lower; where that is impossible, scale the flood and
# the server's --max-connections down together.
FLOOD=1100
MAXC=1000
if (($(ulimit -n) < 2600)); then
  ulimit -n 2600 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
fi
if (($(ulimit -n) < 2600)); then
  MAXC=$((($(ulimit -n) - 200) / 2 / 10 * 10))
  ((MAXC >= 32)) || fail "open files limit $(ulimit -n) is too low for this test"
  FLOOD=$((MAXC + MAXC / 10))
fi
pass "flood of $FLOOD slow clients against --max-connections $MAXC (ulimit -n $(ulimit -n))"

# ---- flags ----
rc=0
"$MORTAR" serve --header-timeout 0 --data "$WORK/x" 2>"$WORK/flag.err" || rc=$?
expect_eq "--header-timeout 0 exits" "$rc" 2
grep -q -- '--header-timeout' "$WORK/flag.err" || fail "the message does not name the flag"
rc=0
"$MORTAR" serve --max-connections 5 --data "$WORK/x" 2>/dev/null || rc=$?
expect_eq "--max-connections under 16 exits" "$rc" 2

DATA=$WORK/data
ADMIN=$("$MORTAR" token create --role admin --name ci --data "$DATA")
VIEWER=$("$MORTAR" token create --role viewer --data "$DATA")
start_target
start_serve "$DATA" --max-connections "$MAXC" --header-timeout 3600 --live-window 2
PORT=$SERVE_PORT
BASE=http://127.0.0.1:$PORT
MAIN_PID=$SERVE_PID

# ---- a flood of slow clients: an authenticated client is still served ----
# FLOOD sockets from 127.0.0.2 each send half a request's headers and stay; while they are
# open, a request from 127.0.0.1 must be answered.
"${HC[@]}" slow "$PORT" "$FLOOD" 127.0.0.2 \
  curl -sS --max-time $((20 * SLOW)) -o "$WORK/flood.out" -w '%{http_code}' \
  -H "Authorization: Bearer $VIEWER" "$API/whoami" >"$WORK/flood.txt" ||
  fail "the authenticated request failed during the flood: $(cat "$WORK/flood.txt")"
expect_eq "authenticated during a flood of $FLOOD slow clients" "$(head -c 3 "$WORK/flood.txt")" 200
OPEN=$(sed -n 's/.*open \([0-9]*\)$/\1/p' "$WORK/flood.txt")
expect_between "the flood was still in place" "$OPEN" $((MAXC / 2)) "$MAXC"

# ---- unauthenticated bodies are refused before they are read ----
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$MAIN_PID/status"; }
RSS0=$(rss)
"${HC[@]}" bodies "$PORT" 200 1048576 /api/v1/tests >"$WORK/bodies.txt"
expect_eq "200 unauthenticated 1 MiB bodies: all 401" "$(cat "$WORK/bodies.txt")" "401 200"
RSS1=$(rss)
# 200 bodies read would be 200 MiB: the growth stays a small fraction of that
expect_between "RSS growth (KiB) after 200 refused 1 MiB bodies" $((RSS1 - RSS0)) -1000000 32768
"${HC[@]}" bodies "$PORT" 5 1048576 /api/v1/tests bad-token >"$WORK/bodies2.txt"
expect_eq "a body with an unknown token: 401 before it is read" "$(cat "$WORK/bodies2.txt")" "401 5"
expect_eq "an authenticated 100 MB body: 413 before it is sent" \
  "$("${HC[@]}" early "$PORT" 100000000 /api/v1/tests "$ADMIN")" 413

# ---- 414 and 431 are problems; nothing is truncated ----
LONG=$(printf 'a%.0s' $(seq 600))
code=$(curl -sS -o "$OUT" -D "$OUT.h" -w '%{http_code}' -H "Authorization: Bearer $VIEWER" "$API/runs/$LONG")
expect_eq "a 600-byte path" "$code" 414
grep -qi '^content-type: application/problem+json' "$OUT.h" || fail "414 is not a problem: $(cat "$OUT.h")"
jq -e '.status == 414' "$OUT" >/dev/null || fail "414 body: $(cat "$OUT")"
code=$(curl -sS -o "$OUT" -D "$OUT.h" -w '%{http_code}' -H "Authorization: Bearer $VIEWER" \
  "$API/tests/$(printf 'b%.0s' $(seq 300))/$(printf 'c%.0s' $(seq 300))")
expect_eq "a long path that a prefix would route" "$code" 414
code=$(curl -sS -o "$OUT" -D "$OUT.h" -w '%{http_code}' -H "Authorization: Bearer $VIEWER" \
  -H "X-Big: $(printf 'x%.0s' $(seq 20000))" "$API/whoami")
expect_eq "20 kB of headers" "$code" 431
grep -qi '^content-type: application/problem+json' "$OUT.h" || fail "431 is not a problem: $(cat "$OUT.h")"

# ---- protocol faults (issue 14, item 6) ----
code=$(curl -sS -o "$OUT" -D "$OUT.h" -w '%{http_code}' "$API/whoami")
expect_eq "no token" "$code" 401
grep -qi '^www-authenticate: Bearer' "$OUT.h" || fail "401 without WWW-Authenticate: Bearer"
pass "401 has WWW-Authenticate: Bearer"
code=$(curl -sS -o "$OUT" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
  -H "Authorization: Bearer $VIEWER" "$API/whoami")
expect_eq "two Authorization headers" "$code" 400
code=$(curl -sS -o "$OUT" -w '%{http_code}' -H "Authorization: Bearer nope" \
  -H "Authorization: Bearer $ADMIN" "$API/whoami")
expect_eq "two Authorization headers, the second valid" "$code" 400
code=$(curl -sS -o "$OUT" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -H "Idempotency-Key: $(printf 'a\tb')" --data-binary '{}' "$API/tests")
expect_eq "a bad Idempotency-Key without a token" "$code" 401
code=$(curl -sS -o "$OUT" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  -H "Authorization: Bearer $ADMIN" -H "Idempotency-Key: $(printf 'a\tb')" --data-binary '{}' "$API/tests")
expect_eq "a bad Idempotency-Key with a token" "$code" 422
code=$(curl -sS -o "$OUT" -D "$OUT.h" -w '%{http_code}' -X POST "$BASE/healthz")
expect_eq "POST /healthz" "$code" 405
grep -qi '^allow: GET, HEAD' "$OUT.h" || fail "405 without Allow: $(cat "$OUT.h")"
code=$(curl -sS -o "$OUT" -D "$OUT.h" -w '%{http_code}' -X DELETE "$BASE/readyz")
expect_eq "DELETE /readyz" "$code" 405
expect_problem "malformed JSON" 400 malformed-json POST /tests "$ADMIN" '{"name":'
expect_problem "well-formed but invalid" 422 validation POST /tests "$ADMIN" '{"name":1}'
expect_problem "a duplicate key" 422 validation POST /tests "$ADMIN" '{"name":"a","name":"b"}'
expect_problem "a bad cursor" 400 bad-cursor GET "/tests?cursor=zz%27" "$VIEWER"
jq -e '.detail | test("cursor")' "$OUT" >/dev/null || fail "the bad cursor's message: $(cat "$OUT")"

# ---- unknown methods share one label ----
for m in FOO BAR BAZ; do curl -sS -o /dev/null -X "$m" "$API/tests"; done
curl -sS -H "Authorization: Bearer $VIEWER" "$BASE/metrics" >"$WORK/metrics.txt"
grep -q 'method="FOO"' "$WORK/metrics.txt" && fail "a made-up method became a label value"
grep -q 'mortar_http_requests_total{code="405",method="other",route="/api/v1/tests"} 3' "$WORK/metrics.txt" ||
  fail "unknown methods are not counted as other: $(grep http_requests_total "$WORK/metrics.txt")"
pass "unknown methods are counted as method=\"other\""

# ---- Last-Event-ID and the live window (--live-window 2) ----
CFG="{\"url\":\"$TARGET_URL/\",\"rate\":20,\"duration\":\"5s\"}"
expect_api "a run" 201 POST /runs "$ADMIN" "{\"config\":$CFG}"
RUN=$(jq -r .id "$OUT")
wait_run "$RUN" "$VIEWER" 60 'passed|failed'
expect_api "its series" 200 GET "/runs/$RUN/series" "$VIEWER"
NSEC=$(jq '.items | length' "$OUT")
((NSEC >= 4)) || fail "the run stored $NSEC seconds, want 4 or more"
live() { timeout $((20 * SLOW)) curl -sS -N -H "Authorization: Bearer $VIEWER" "$@" "$API/runs/$RUN/live"; }
live >"$WORK/live.txt" || fail "the live stream of a finished run did not end"
expect_eq "live: the stream starts with the last 2 seconds only" \
  "$(grep '^id: ' "$WORK/live.txt" | tr '\n' ' ')" "id: $((NSEC - 2)) id: $((NSEC - 1)) "
tail -n 3 "$WORK/live.txt" | grep -q '"state":"passed"\|"state":"failed"' || fail "live: no final state"
live -H 'Last-Event-ID: 9223372036854775807' >"$WORK/live2.txt" || fail "live with a huge Last-Event-ID did not end"
expect_eq "live: a huge Last-Event-ID replays nothing" "$(grep -c '^event: second' "$WORK/live2.txt" || true)" 0
grep -q '^event: state' "$WORK/live2.txt" || fail "live: the final state is missing"
live -H 'Last-Event-ID: 99999999999999999999999999' >"$WORK/live3.txt" || fail "live with a 26-digit Last-Event-ID"
expect_eq "live: a 26-digit Last-Event-ID replays nothing" "$(grep -c '^event: second' "$WORK/live3.txt" || true)" 0
code=$(curl -sS -o "$OUT" -w '%{http_code}' -H "Authorization: Bearer $VIEWER" -H 'Last-Event-ID: -5' "$API/runs/$RUN/live")
expect_eq "live: Last-Event-ID -5" "$code" 400
live -H "Last-Event-ID: $((NSEC - 2))" >"$WORK/live4.txt"
expect_eq "live: Last-Event-ID resumes after it" "$(grep '^id: ' "$WORK/live4.txt" | tr '\n' ' ')" "id: $((NSEC - 1)) "

# ---- header and body deadlines; the per-address limit ----
start_serve "$WORK/data2" --header-timeout 1 --body-timeout 2
TOK2=$("$MORTAR" token create --role admin --data "$WORK/data2")
# each sends a header byte every 200 ms: an idle timeout never fires, the deadline does
"${HC[@]}" deadline "$SERVE_PORT" 20 127.0.0.3 $((30 * SLOW)) >"$WORK/dl.txt" ||
  fail "slow header senders were not all cut: $(cat "$WORK/dl.txt")"
pass "20 slow header senders cut at the header deadline"
"${HC[@]}" deadline "$SERVE_PORT" 5 127.0.0.3 $((30 * SLOW)) "$TOK2" >"$WORK/dl2.txt" ||
  fail "slow body senders were not all cut: $(cat "$WORK/dl2.txt")"
pass "5 slow body senders cut at the body deadline"
expect_eq "the server still answers" "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SERVE_PORT/healthz")" 200

start_serve "$WORK/data3" --max-connections-per-ip 8 --header-timeout 3600
expect_eq "20 connections from one address, 8 allowed" \
  "$("${HC[@]}" perip "$SERVE_PORT" 20 127.0.0.4 8 $((20 * SLOW)))" "open 8"
expect_eq "another address is still served" \
  "$(curl -sS --interface 127.0.0.5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SERVE_PORT/healthz")" 200

check_openapi
