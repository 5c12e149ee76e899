#!/usr/bin/env bash
# mortar serve's operations endpoints: /metrics is valid Prometheus text (promtool check
# metrics) with the platform metrics and, during a run, the live-run metrics; the served
# OpenAPI document is the committed one and passes an OpenAPI linter (Redocly CLI from npm); a
# webhook gets its run.finished event through the outbox and the relay (the target receives it).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

DATA=$WORK/data
TOK=$("$MORTAR" token create --role runner --data "$DATA")
ADMIN=$("$MORTAR" token create --role admin --data "$DATA")
start_target
start_serve "$DATA"
expect_api "a webhook to the target" 201 POST /webhooks "$ADMIN" \
  "{\"url\":\"$TARGET_URL/hook\",\"secret\":\"s3cret\",\"events\":[\"run.finished\"]}"
HOOK=$(jq -r .id "$OUT")

code=$(curl -sS -o "$WORK/m0.txt" -w '%{http_code}' "http://127.0.0.1:$SERVE_PORT/metrics")
expect_eq "metrics without a token" "$code" 401

expect_api "queue a run" 201 POST /runs "$TOK" "{\"config\":{\"url\":\"$TARGET_URL/\",\"rate\":20,\"duration\":\"5m\"}}"
RUN=$(jq -r .id "$OUT")
wait_seconds "$RUN" "$TOK" 2 60
# the live gauges appear with the first stored second
for ((i = 0; i < 100 * SLOW; i++)); do
  curl -sS -H "Authorization: Bearer $TOK" "http://127.0.0.1:$SERVE_PORT/metrics" >"$WORK/m.txt"
  grep '^mortar_run_rps{' "$WORK/m.txt" | grep -q "run=\"$RUN\"" && break
  sleep 0.1
done
promtool check metrics <"$WORK/m.txt" || fail "promtool check metrics: $(promtool check metrics <"$WORK/m.txt" 2>&1 | head)"
pass "promtool accepts /metrics"
for m in mortar_http_requests_total mortar_http_request_duration_seconds_total mortar_runs \
  mortar_agg_snapshots_total mortar_agg_seconds_total mortar_bus_pending mortar_outbox_pending \
  mortar_agents mortar_run_rps mortar_run_latency_seconds mortar_run_errors_total \
  mortar_run_open_connections mortar_run_generator_cpu_seconds_total; do
  grep -q "^$m[{ ]" "$WORK/m.txt" || fail "/metrics has no $m"
done
pass "platform and live-run metrics are present"
grep -q '^mortar_runs{state="running"} 1$' "$WORK/m.txt" || fail "mortar_runs{state=running} is not 1"
grep '^mortar_run_latency_seconds{' "$WORK/m.txt" | grep "run=\"$RUN\"" | grep 'test=""' |
  grep -q 'percentile="99"' ||
  fail "no p99 gauge for the run"
pass "run gauges carry run, test and percentile labels"

expect_api "stop the run" 202 POST "/runs/$RUN/stop" "$TOK"
wait_run "$RUN" "$TOK" 30 stopped
curl -sS -H "Authorization: Bearer $TOK" "http://127.0.0.1:$SERVE_PORT/metrics" >"$WORK/m2.txt"
promtool check metrics <"$WORK/m2.txt" >/dev/null 2>&1 || fail "promtool rejects /metrics after the run"
grep "^mortar_run_[a-z_]*{" "$WORK/m2.txt" | grep -q "run=\"$RUN\"" && fail "the run's gauges outlive it"
pass "the run's gauges are removed at its end"

# the run's end reached the webhook (relay pass once a second)
for ((i = 0; i < 300 * SLOW; i++)); do
  api GET "/webhooks/$HOOK/deliveries" "$ADMIN" >/dev/null # status and error: admins only
  jq -e '.items[0].state == "delivered"' "$OUT" >/dev/null 2>&1 && break
  sleep 0.1
done
expect_jq "run.finished delivered to the webhook" "$OUT" \
  '(.items | length) == 1 and .items[0].event_type == "run.finished" and .items[0].state == "delivered" and .items[0].attempts == 1 and .items[0].last_status == 200'
curl -sS -H "Authorization: Bearer $TOK" "http://127.0.0.1:$SERVE_PORT/metrics" >"$WORK/m3.txt"
grep -q '^mortar_webhook_deliveries_total{result="delivered"} 1$' "$WORK/m3.txt" ||
  fail "mortar_webhook_deliveries_total: $(grep webhook "$WORK/m3.txt")"
grep -q '^mortar_outbox_pending 0$' "$WORK/m3.txt" || fail "the outbox is not empty"
pass "delivery counted, outbox empty"

# ---- the OpenAPI document ----
expect_api "openapi.json" 200 GET /openapi.json -
cmp -s "$OUT" "$MT_SOURCE_DIR/docs/openapi.json" || fail "the served document differs from docs/openapi.json"
pass "the served document is docs/openapi.json"
REDOCLY=$MT_SOURCE_DIR/node_modules/.bin/redocly
[[ -x $REDOCLY ]] || fail "$REDOCLY is missing: run npm ci in $MT_SOURCE_DIR (the build does)"
node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a == 20 && b >= 19) ? 0 : 1)' ||
  fail "Redocly CLI needs Node.js >= 20.19 (this is $(node --version)); scripts/deps.sh's nodejs must be that new"
(cd "$WORK" && REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
  timeout $((120 * SLOW)) "$REDOCLY" lint --format=stylish "$OUT") >"$WORK/lint.txt" 2>&1 ||
  fail "redocly lint: $(grep -v '[║╔╚]' "$WORK/lint.txt" | tail -n 30)"
grep -v '[║╔╚]' "$WORK/lint.txt" | grep -qi 'warning' && fail "redocly lint warns: $(grep -v '[║╔╚]' "$WORK/lint.txt" | tail -n 30)"
pass "redocly lint accepts the OpenAPI document"
stop_serve TERM
check_openapi
