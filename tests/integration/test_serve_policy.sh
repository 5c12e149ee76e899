#!/usr/bin/env bash
# mortar serve's target policy and limits per role (issue 14, docs/security.md, ADR 0026):
# refused destinations in every numeric form, names denied before any lookup, the resolved
# addresses checked, methods/headers/body rules, limits per role (422 with the pointer and the
# limit; 429 for runs at once), GET/PUT /policy by role, --policy FILE and its errors, webhook
# URLs refused and hidden from non-admins, and the engine's own check right before connect.
# Every refusal is checked through validation (422 on create): no run or delivery ever starts
# toward a refused address, and every address used is loopback.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

DATA=$WORK/data
ADMIN=$("$MORTAR" token create --role admin --data "$DATA")
RUNNER=$("$MORTAR" token create --role runner --data "$DATA")
VIEWER=$("$MORTAR" token create --role viewer --data "$DATA")

# ---- --policy FILE errors: exit 2, FILE:LINE:COL ----
printf 'destinations:\n  cidrs: [127.0.0.1/8]\n' >"$WORK/bits.yaml"
rc=0
"$MORTAR" serve --listen 127.0.0.1:0 --data "$WORK/x" --policy "$WORK/bits.yaml" 2>"$WORK/err" || rc=$?
expect_eq "a network with host bits exits" "$rc" 2
grep -q "bits.yaml:2:11: /destinations/cidrs/0: '127.0.0.1/8' has bits set after the prefix" "$WORK/err" ||
  fail "no FILE:LINE:COL message: $(cat "$WORK/err")"
printf '{"limits": {"runner": {"rate": "fast"}}}\n' >"$WORK/rate.json"
rc=0
"$MORTAR" serve --listen 127.0.0.1:0 --data "$WORK/x" --policy "$WORK/rate.json" 2>"$WORK/err" || rc=$?
expect_eq "a JSON policy with a bad limit exits" "$rc" 2
grep -q "rate.json:1:32: /limits/runner/rate: 'rate' must be a number" "$WORK/err" ||
  fail "no FILE:LINE:COL message: $(cat "$WORK/err")"
printf 'destinations: {schemes: [http\n' >"$WORK/syntax.yaml"
rc=0
"$MORTAR" serve --listen 127.0.0.1:0 --data "$WORK/x" --policy "$WORK/syntax.yaml" 2>"$WORK/err" || rc=$?
expect_eq "a policy file with a syntax error exits" "$rc" 2
grep -Eq "syntax.yaml:[0-9]+:[0-9]+: " "$WORK/err" || fail "no FILE:LINE:COL message: $(cat "$WORK/err")"
printf 'requests:\n  colour: red\n' >"$WORK/key.yaml"
rc=0
"$MORTAR" serve --listen 127.0.0.1:0 --data "$WORK/x" --policy "$WORK/key.yaml" 2>"$WORK/err" || rc=$?
expect_eq "an unknown key exits" "$rc" 2
grep -q "key.yaml:2:11: /requests/colour: unknown key 'colour'" "$WORK/err" || fail "$(cat "$WORK/err")"

# `mortar agent --policy FILE`: the same parser, read before the agent connects anywhere
rc=0
"$MORTAR" agent --nats nats://127.0.0.1:1 --policy "$WORK/bits.yaml" 2>"$WORK/err" || rc=$?
expect_eq "mortar agent with a bad policy exits" "$rc" 2
grep -q "mortar agent: --policy: .*bits.yaml:2:11: /destinations/cidrs/0" "$WORK/err" || fail "$(cat "$WORK/err")"

start_target
start_serve "$DATA"
PORT=$TARGET_PORT
test_cfg() { # NAME URL [EXTRA-CONFIG-JSON]: a POST /tests body
  printf '{"name":"%s","config":{"url":"%s","rate":10,"duration":"1s"%s}}' "$1" "$2" "${3:-}"
}

# ---- the default policy: refused destinations, every form (no lookup, no connect) ----
n=0
refuse() { # WHAT URL NETWORK-OR-TEXT
  n=$((n + 1))
  expect_problem "default policy refuses $1" 422 policy POST /tests "$RUNNER" "$(test_cfg "r$n" "$2")"
  expect_jq "$1: the URL is pointed at and the reason named" "$OUT" \
    '.errors[0].pointer == "/config/url" and (.detail | contains($w))' --arg w "$3"
}
refuse "cloud metadata" "http://169.254.169.254/latest/meta-data/" "169.254.0.0/16"
refuse "http://0/" "http://0:$PORT/" "(0.0.0.0) is in the denied network 0.0.0.0/8"
refuse "IPv6 link-local" "http://[fe80::1]:$PORT/" "fe80::/10"
refuse "the metadata address in decimal" "http://2852039166/" "(169.254.169.254)"
refuse "the metadata address in octal" "http://0251.0376.0251.0376/" "(169.254.169.254)"
refuse "the metadata address IPv4-mapped" "http://[::ffff:169.254.169.254]/" "(169.254.169.254)"
refuse "the metadata address through NAT64" "http://[64:ff9b::a9fe:a9fe]/" "169.254.0.0/16"
refuse "AWS's IPv6 metadata" "http://[fd00:ec2::254]/" "fd00:ec2::254/128"
refuse "GCP's metadata name, before any lookup" "http://metadata.google.internal/" "metadata.google.internal"
refuse "a name under it" "http://x.metadata.google.internal/" "*.metadata.google.internal"
# a run too: 0.0.0.0 (refused by the default) reaches only this machine, even if the check broke
expect_problem "a run too" 422 policy POST /runs "$RUNNER" \
  "{\"config\":{\"url\":\"http://0:$PORT/\",\"rate\":10,\"duration\":\"1s\"}}"
expect_problem "a TRACE request" 422 policy POST /tests "$RUNNER" \
  "$(test_cfg m1 "http://127.0.0.1:$PORT/" ',"method":"TRACE"')"
expect_jq "the method is pointed at" "$OUT" '.errors[0].pointer == "/config/method"'
expect_problem "a proxy credential header" 422 policy POST /tests "$RUNNER" \
  "$(test_cfg h1 "http://127.0.0.1:$PORT/" ',"header":["Accept: */*","Proxy-Authorization: Basic eDp5"]')"
expect_jq "the header is pointed at" "$OUT" '.errors[0].pointer == "/config/header/1"'
# loopback stays allowed, by address and by a name that resolves to it
expect_api "loopback is allowed" 201 POST /tests "$RUNNER" "$(test_cfg ok1 "http://127.0.0.1:$PORT/")"
LOOPTEST=$(jq -r .id "$OUT")
expect_api "localhost is allowed" 201 POST /tests "$RUNNER" "$(test_cfg ok2 "http://localhost:$PORT/")"
LOCALTEST=$(jq -r .id "$OUT")

# ---- the default limits of a runner ----
limit() { # WHAT CONFIG-EXTRA POINTER TEXT
  expect_problem "runner limit: $1" 422 policy POST /runs "$RUNNER" \
    "{\"config\":{\"url\":\"http://localhost:$PORT/\"$2}}"
  expect_jq "$1: pointer and limit" "$OUT" '.errors[0].pointer == $p and (.detail | contains($t))' \
    --arg p "$3" --arg t "$4"
}
limit "rate 1e9" ',"rate":1e9' /config/rate "at most 1e+06 requests/s"
limit "connections 1e6" ',"connections":1000000' /config/connections "at most 10000 connections"
limit "threads 1024" ',"connections":1024,"threads":1024' /config/threads "at most 64 threads"
limit "duration 876000h" ',"duration":"876000h"' /config/duration "at most 24h"
limit "a schedule's peak" ',"schedule":"line(1,2000000,10s)"' /config/schedule "at most 1e+06"

# ---- GET /policy by role; PUT by admins only ----
expect_api "a viewer reads the policy" 200 GET /policy "$VIEWER"
expect_jq "the viewer sees the destinations, not the limits" "$OUT" \
  '(.destinations.deny_cidrs | index("169.254.0.0/16")) != null and .limits == {}'
expect_api "a runner reads the policy" 200 GET /policy "$RUNNER"
expect_jq "the runner sees its own limits only" "$OUT" \
  '.limits | keys == ["runner"] and .runner.duration == "24h"'
expect_api "an admin reads the policy" 200 GET /policy "$ADMIN"
expect_jq "the admin sees every role's limits" "$OUT" '.limits | keys == ["admin", "runner"]'
expect_problem "a runner cannot set the policy" 403 forbidden PUT /policy "$RUNNER" '{}'
expect_problem "a bad policy" 422 validation PUT /policy "$ADMIN" '{"destinations":{"cidrs":["10.0.0.0/33"]}}'
expect_jq "the bad network is pointed at" "$OUT" '.errors[0].pointer == "/destinations/cidrs/0"'

# ---- a strict policy: only localhost by name, 127.0.0.2-3 and ::1 by address ----
STRICT='{"destinations":{"hosts":["localhost"],"cidrs":["127.0.0.2/31","::1/128"]},
 "requests":{"deny_headers":["X-Internal-Auth"],"max_body":10},
 "limits":{"runner":{"rate":100,"connections":10,"threads":2,"duration":"1m","concurrent_runs":1}}}'
expect_api "an admin sets a strict policy" 200 PUT /policy "$ADMIN" "$STRICT"
expect_jq "the answer is the canonical policy" "$OUT" \
  '.destinations.hosts == ["localhost"] and .limits.runner.rate == 100 and .limits.runner.duration == "1m" and .limits.admin.duration == null'
refuse2() { # WHAT URL ADDRESS
  n=$((n + 1))
  expect_problem "strict policy refuses $1" 422 policy POST /tests "$RUNNER" "$(test_cfg "s$n" "$2")"
  expect_jq "$1: the resolved address is named" "$OUT" \
    '.errors[0].pointer == "/config/url" and (.detail | contains($a + " is not among the allowed"))' --arg a "$3"
}
refuse2 "10.0.0.1" "http://10.0.0.1/" "(10.0.0.1)"
refuse2 "2130706433 (127.0.0.1)" "http://2130706433:$PORT/" "(127.0.0.1)"
refuse2 "127.1 (127.0.0.1)" "http://127.1:$PORT/" "(127.0.0.1)"
refuse2 "0x7f000001 (127.0.0.1)" "http://0x7f000001:$PORT/" "(127.0.0.1)"
refuse2 "017700000001 (127.0.0.1)" "http://017700000001:$PORT/" "(127.0.0.1)"
refuse2 "::ffff:127.0.0.1" "http://[::ffff:127.0.0.1]:$PORT/" "(127.0.0.1)"
expect_api "an allowed network" 201 POST /tests "$RUNNER" "$(test_cfg a1 "http://127.0.0.2:$PORT/")"
STRICTTEST=$(jq -r .id "$OUT")
expect_api "an allowed IPv6 address" 201 POST /tests "$RUNNER" "$(test_cfg a2 "http://[::1]:$PORT/")"
expect_api "an allowed name (resolving to loopback)" 201 POST /tests "$RUNNER" \
  "$(test_cfg a3 "http://localhost:$PORT/")"
expect_problem "a forged internal header" 422 policy POST /tests "$RUNNER" \
  "$(test_cfg f1 "http://localhost:$PORT/" ',"header":"x-internal-auth: yes"')"
expect_jq "the header is pointed at" "$OUT" '.errors[0].pointer == "/config/header"'
expect_problem "a body over the limit" 422 policy POST /tests "$RUNNER" \
  "$(test_cfg b1 "http://localhost:$PORT/" ',"method":"POST","body":"0123456789a"')"
expect_jq "the body is pointed at" "$OUT" '.errors[0].pointer == "/config/body" and (.detail | contains("at most 10"))'
# limits of the strict policy, for runners; admins have none
limit "rate 200 > 100" ',"rate":200' /config/rate "at most 100 requests/s"
limit "11 connections > 10" ',"connections":11' /config/connections "at most 10 connections"
limit "3 threads > 2" ',"connections":4,"threads":3' /config/threads "at most 2 threads"
limit "2m > 1m" ',"duration":"2m"' /config/duration "at most 1m"
expect_problem "a test over the runner's limits" 422 policy POST /tests "$RUNNER" \
  "$(test_cfg l1 "http://localhost:$PORT/" ',"connections":11')"
# a test made under the old policy is checked again when it is run or scheduled
expect_problem "a run of a test the policy now refuses" 422 policy POST /runs "$RUNNER" "{\"test_id\":\"$LOOPTEST\"}"
expect_jq "the test is pointed at" "$OUT" '.errors[0].pointer == "/test_id" and (.detail | contains("/config/url"))'
PUTBODY=$(printf '{"name":"ok1","config":{"url":"http://127.0.0.1:%s/","rate":10,"duration":"1s"}}' "$PORT")
expect_problem "a test updated to a refused address" 422 policy PUT "/tests/$LOOPTEST" "$RUNNER" "$PUTBODY"
expect_problem "a schedule of it" 422 policy POST /schedules "$RUNNER" \
  "{\"test_id\":\"$LOOPTEST\",\"cron\":\"0 0 * * *\"}"
expect_jq "the test is pointed at" "$OUT" '.errors[0].pointer == "/test_id"'

# runs at once: an admin's long run holds the agent; a runner's second is 429
LONG="{\"config\":{\"url\":\"http://127.0.0.2:$PORT/\",\"rate\":5,\"duration\":\"5m\"}}"
expect_api "an admin has no duration limit" 201 POST /runs "$ADMIN" "$LONG"
HOLD=$(jq -r .id "$OUT")
wait_run "$HOLD" "$VIEWER" 20 running
expect_problem "a runner's run while one is active" 429 too-many-runs POST /runs "$RUNNER" \
  "{\"test_id\":\"$STRICTTEST\"}"
expect_jq "the limit is named" "$OUT" '.detail | contains("fewer than 1")'
expect_problem "with an Idempotency-Key" 429 too-many-runs POST /runs "$RUNNER" \
  "{\"test_id\":\"$STRICTTEST\"}" -H "Idempotency-Key: busy-1"
expect_problem "the same key again" 429 too-many-runs POST /runs "$RUNNER" \
  "{\"test_id\":\"$STRICTTEST\"}" -H "Idempotency-Key: busy-1"
grep -qi '^idempotent-replayed' "$OUT.h" && fail "a 429 was stored and replayed: a retry could never succeed"
pass "a 429 is not replayed: the retry is tried again"

# ---- the engine's own check, right before connect: a queued run whose address the policy
# refuses by the time it starts ends in error and makes no connection (127.0.0.3: loopback) ----
expect_api "an admin queues a run to 127.0.0.3" 201 POST /runs "$ADMIN" \
  "{\"config\":{\"url\":\"http://127.0.0.3:$PORT/\",\"rate\":5,\"duration\":\"1s\"}}"
expect_jq "it is queued behind the long run" "$OUT" '.state == "queued"'
QUEUED=$(jq -r .id "$OUT")
expect_api "the policy now denies 127.0.0.3" 200 PUT /policy "$ADMIN" \
  '{"destinations":{"deny_cidrs":["127.0.0.3/32","169.254.0.0/16"]}}'
expect_api "stop the long run" 202 POST "/runs/$HOLD/stop" "$ADMIN"
wait_run "$QUEUED" "$VIEWER" 30 error
expect_jq "the run says why" "$OUT" '.reason | contains("127.0.0.3") and contains("denied network 127.0.0.3/32")'

# ---- webhooks: the destination policy on create; URLs and errors for admins only ----
expect_problem "a webhook to cloud metadata" 422 policy POST /webhooks "$ADMIN" \
  '{"url":"http://169.254.169.254/hook","secret":"s","events":["*"]}'
expect_jq "the URL is pointed at" "$OUT" '.errors[0].pointer == "/url"'
expect_problem "a webhook to a denied name" 422 policy POST /webhooks "$ADMIN" \
  '{"url":"http://metadata.google.internal/","secret":"s","events":["*"]}'
DEAD=$(refused_port)
expect_api "a webhook with a secret in its path" 201 POST /webhooks "$ADMIN" \
  "{\"url\":\"http://127.0.0.1:$DEAD/hook/s3cr3t?token=abc\",\"secret\":\"s\",\"events\":[\"test.created\"]}"
HOOK=$(jq -r .id "$OUT")
expect_api "a viewer lists webhooks" 200 GET /webhooks "$VIEWER"
expect_jq "the viewer sees the scheme and host only" "$OUT" \
  '.items[0].url == "http://127.0.0.1/" and .items[0].url_redacted == true and (tostring | contains("s3cr3t") | not)'
expect_api "a runner lists webhooks" 200 GET /webhooks "$RUNNER"
expect_jq "the runner neither" "$OUT" '(tostring | contains("s3cr3t")) | not'
expect_api "an admin lists webhooks" 200 GET /webhooks "$ADMIN"
expect_jq "the admin sees the URL" "$OUT" '.items[0].url | contains("s3cr3t")'
expect_api "a test to trigger a delivery" 201 POST /tests "$ADMIN" "$(test_cfg w1 "http://localhost:$PORT/")"
for ((i = 0; i < 300 * SLOW; i++)); do
  api GET "/webhooks/$HOOK/deliveries" "$ADMIN" >/dev/null
  jq -e '.items[0].last_error != null' "$OUT" >/dev/null && break
  sleep 0.1
done
expect_jq "the admin sees the delivery error" "$OUT" '.items[0].last_error | test("onnect|refused")'
expect_api "a viewer reads the deliveries" 200 GET "/webhooks/$HOOK/deliveries" "$VIEWER"
expect_jq "the viewer sees no error and no status" "$OUT" \
  '.items[0].attempts >= 1 and .items[0].last_error == null and .items[0].last_status == null'

# ---- the policy is stored: a restart with no --policy keeps it; --policy FILE wins ----
stop_serve TERM
start_serve "$DATA"
expect_api "after a restart" 200 GET /policy "$ADMIN"
expect_jq "the stored policy is in force" "$OUT" '.destinations.deny_cidrs == ["127.0.0.3/32", "169.254.0.0/16"]'
stop_serve TERM
printf '# a team policy\ndestinations:\n  ports: [80, "8000-65535"]\nlimits:\n  runner: {duration: 2h}\n' \
  >"$WORK/team.yaml"
start_serve "$DATA" --policy "$WORK/team.yaml"
expect_api "with --policy FILE" 200 GET /policy "$RUNNER"
expect_jq "the file's policy is in force, defaults filled in" "$OUT" \
  '.destinations.ports == [80, "8000-65535"] and .limits.runner.duration == "2h" and (.destinations.deny_cidrs | index("169.254.0.0/16")) != null'
expect_problem "a port outside the list" 422 policy POST /tests "$RUNNER" "$(test_cfg p1 "http://127.0.0.1:81/")"
expect_jq "the port is named" "$OUT" '.detail | contains("port 81")'

# ---- a schedule's firing rechecks the limits as they are now (runner's: the store does not
# know who made the schedule); a refused firing is skipped with the reason, no run, no traffic
expect_api "a test at 10 requests/s" 201 POST /tests "$RUNNER" "$(test_cfg f1 "http://127.0.0.1:$PORT/")"
FTEST=$(jq -r .id "$OUT")
expect_api "a schedule every minute" 201 POST /schedules "$RUNNER" "{\"test_id\":\"$FTEST\",\"cron\":\"* * * * *\",\"policy\":\"queue\"}"
FSCHED=$(jq -r .id "$OUT")
expect_api "the admin tightens the runner's rate" 200 PUT /policy "$ADMIN" '{"limits":{"runner":{"rate":1}}}'
# the next minute boundary: bounded poll (the cron has minute resolution)
for ((i = 0; i < 900 * SLOW; i++)); do
  grep -q "schedule skipped.*$FSCHED" "$WORK/serve.log" && break
  sleep 0.1
done
grep "schedule skipped.*$FSCHED" "$WORK/serve.log" | grep -q "the target policy refuses test $FTEST: /config/rate: a runner may send at most 1 requests/s" ||
  fail "no skipped firing with the reason: $(grep -i schedule "$WORK/serve.log" | tail -5)"
expect_api "the schedule fired (skipped)" 200 GET "/schedules/$FSCHED" "$VIEWER"
expect_jq "last_fire_at is set" "$OUT" '.last_fire_at != null'
expect_api "runs" 200 GET "/runs?limit=100" "$VIEWER"
expect_jq "no run of the schedule" "$OUT" '[.items[] | select(.test_id == $t)] | length == 0' --arg t "$FTEST"
stop_serve TERM
expect_eq "serve exits 0" "$SERVE_RC" 0
check_openapi
