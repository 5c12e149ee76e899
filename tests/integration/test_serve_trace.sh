#!/usr/bin/env bash
# mortar serve with trace links and OTLP (docs/tracing.md): a run whose config says trace and
# trace_url sends traceparent headers from the agent, its stored seconds carry the exemplars
# (GET /runs/{id}/result), and `serve --otlp` pushes every stored second to a loopback receiver
# whose counts equal the run's; /metrics counts the export.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
SRC=${MT_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

mkdir -p "$WORK/recv"
fifo="$WORK/recv.fifo"
mkfifo "$fifo"
python3 "$SRC/tests/integration/trace_receiver.py" "$WORK/recv" >"$fifo" 2>"$WORK/recv.err" &
PIDS+=($!)
exec {RFD}<"$fifo"
read -r -t 20 -u "$RFD" line || { cat "$WORK/recv.err" >&2; fail "receiver did not start"; }
[[ $line =~ listening\ on\ ([0-9]+) ]] || fail "unexpected receiver line: $line"
R="http://127.0.0.1:${BASH_REMATCH[1]}"

DATA=$WORK/data
TOK=$("$MORTAR" token create --role runner --data "$DATA")
start_serve "$DATA" --otlp "$R" --trace-url 'https://jaeger.internal/trace/{trace_id}'
expect_api "whoami" 200 GET /whoami "$TOK"
expect_jq "whoami names the server's trace template" "$OUT" '.trace_url == "https://jaeger.internal/trace/{trace_id}"'

expect_api "queue a traced run" 201 POST /runs "$TOK" \
  "{\"config\":{\"url\":\"$R/\",\"rate\":40,\"duration\":\"3s\",\"uri\":[\"/ok\",\"/err\"],\"trace\":1,\"trace_url\":\"https://tempo.internal/trace/{trace_id}\"}}"
RUN=$(jq -r .id "$OUT")
wait_run "$RUN" "$TOK" 60 'passed|failed'
expect_api "the run's result" 200 GET "/runs/$RUN/result" "$TOK"
cp "$OUT" "$WORK/result.json"
expect_jq "config.trace" "$WORK/result.json" '.config.trace.url == "https://tempo.internal/trace/{trace_id}" and .config.trace.ratio == 1'
expect_jq "exemplars stored with the seconds" "$WORK/result.json" '[.seconds[] | select(.exemplars)] | length >= 2'
expect_jq "exemplars bounded" "$WORK/result.json" 'all(.seconds[]; ((.exemplars.slow // []) | length) <= 5 and ((.exemplars.errors // []) | length) <= 5)'
expect_jq "error exemplars are the 500s" "$WORK/result.json" '[.seconds[].exemplars.errors // [] | .[]] | length >= 1 and all(.[]; .status == 500)'
TP="$WORK/recv/traceparent.log"
bad=$(grep -cvE '^00-[0-9a-f]{32}-[0-9a-f]{16}-01$' "$TP" || true)
expect_eq "requests without a sampled W3C traceparent" "$bad" 0
jq -r '.seconds[].exemplars // {} | (.slow // []) + (.errors // []) | .[] | "00-\(.trace_id)-\(.span_id)-01"' \
  "$WORK/result.json" | sort -u >"$WORK/ex.txt"
sort -u "$TP" >"$WORK/sent.txt"
expect_eq "exemplars that were never sent" "$(comm -23 "$WORK/ex.txt" "$WORK/sent.txt" | wc -l)" 0

# OTLP: every stored second reaches the receiver (polled, bounded), counts equal the run's
secs=$(jq '.seconds | length' "$WORK/result.json")
OL="$WORK/recv/otlp.log"
got=0
for ((i = 0; i < 200 * SLOW; i++)); do
  got=$(jq -s "[.[].resourceMetrics[].scopeMetrics[].metrics[] | select(.name == \"mortar.requests\") | .sum.dataPoints[] | select(any(.attributes[]; .key == \"mortar.run_id\" and .value.stringValue == \"$RUN\"))] | length" "$OL")
  ((got >= secs)) && break
  sleep 0.1
done
expect_eq "OTLP seconds of the run" "$got" "$secs"
expect_eq "OTLP mortar.requests = completed" \
  "$(jq -s '[.[].resourceMetrics[].scopeMetrics[].metrics[] | select(.name == "mortar.requests") | .sum.dataPoints[].asInt | tonumber] | add' "$OL")" \
  "$(jq '.summary.completed' "$WORK/result.json")"
expect_eq "OTLP latency count = completed" \
  "$(jq -s '[.[].resourceMetrics[].scopeMetrics[].metrics[] | select(.name == "mortar.latency") | .histogram.dataPoints[].count | tonumber] | add' "$OL")" \
  "$(jq '.summary.completed' "$WORK/result.json")"
for ((i = 0; i < 100 * SLOW; i++)); do
  curl -sS -H "Authorization: Bearer $TOK" "http://127.0.0.1:$SERVE_PORT/metrics" >"$WORK/m.txt"
  grep -q "^mortar_otlp_seconds_total{result=\"exported\"} $secs\$" "$WORK/m.txt" && break
  sleep 0.1
done
grep -q "^mortar_otlp_seconds_total{result=\"exported\"} $secs\$" "$WORK/m.txt" ||
  fail "/metrics: $(grep mortar_otlp "$WORK/m.txt")"
pass "/metrics counts the exported seconds"
stop_serve
expect_eq "serve exit" "$SERVE_RC" 0
rc=0; "$MORTAR" serve --data "$DATA" --trace-url 'https://x/trace' 2>"$WORK/err" || rc=$?
expect_eq "serve --trace-url without {trace_id} exit" "$rc" 2
grep -qF -- "--trace-url: 'https://x/trace' is not an http(s) URL with a {trace_id} placeholder" "$WORK/err" || fail "message: $(cat "$WORK/err")"
check_openapi
