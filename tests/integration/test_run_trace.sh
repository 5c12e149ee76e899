#!/usr/bin/env bash
# mortar run --trace / --trace-url / --otlp (docs/tracing.md): the traceparent header every
# request carries (format, unique ids, the sampled share as counts), the exemplars of the result
# JSON (present, bounded, ids that were sent, errors only failed requests), the report's
# links, HTTP/2, and the OTLP export to a loopback receiver (parsed, its counts equal the run's,
# retried after 503s).
source "$(dirname "$0")/lib.sh"
SRC=${MT_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

# start_receiver [FAIL_FIRST]: trace_receiver.py on a free port; sets RPORT
start_receiver() {
  local fifo="$WORK/recv.$RANDOM.fifo" line
  mkdir -p "$WORK/recv"
  : >"$WORK/recv/traceparent.log"; : >"$WORK/recv/otlp.log"; : >"$WORK/recv/otlp_refused.log"
  mkfifo "$fifo"
  python3 "$SRC/tests/integration/trace_receiver.py" "$WORK/recv" "$@" >"$fifo" 2>"$WORK/recv.err" &
  RPID=$!
  PIDS+=("$RPID")
  exec {RFD}<"$fifo"
  read -r -t 20 -u "$RFD" line || { cat "$WORK/recv.err" >&2; fail "receiver did not start"; }
  [[ $line =~ listening\ on\ ([0-9]+) ]] || fail "unexpected receiver line: $line"
  RPORT=${BASH_REMATCH[1]}
}
stop_receiver() { kill -TERM "$RPID" 2>/dev/null || true; wait "$RPID" 2>/dev/null || true; }

# ---- traceparent on HTTP/1.1: format, uniqueness, sampled ratio -----------------------------
start_receiver
R="http://127.0.0.1:$RPORT"
run_json "$WORK/t.json" 60 -t 2 -c 4 -R 200 -d 3s --trace 0.25 \
  --trace-url 'https://tempo.internal/trace/{trace_id}' --uri /ok --uri /ok --uri /ok --uri /err \
  --html "$WORK/t.html" "$R/"
TP="$WORK/recv/traceparent.log"
completed=$(jqr "$WORK/t.json" ".summary.sent")
# the receiver logs as it reads: wait (bounded) until it has read every request sent
for _ in $(seq 100); do (( $(wc -l <"$TP") >= completed )) && break; read -r -t 0.1 <> <(:) || true; done
n=$(wc -l <"$TP")
expect_eq "requests received = sent" "$n" "$completed"
bad=$(grep -cvE '^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$' "$TP" || true)
expect_eq "traceparent lines not of the W3C form" "$bad" 0
zero=$(grep -cE '^00-0{32}-|-0{16}-' "$TP" || true)
expect_eq "all-zero ids" "$zero" 0
uniq_t=$(cut -d- -f2 "$TP" | sort -u | wc -l)
expect_eq "distinct trace ids" "$uniq_t" "$n"
uniq_s=$(cut -d- -f3 "$TP" | sort -u | wc -l)
expect_eq "distinct span ids" "$uniq_s" "$n"
sampled=$(grep -c -- '-01$' "$TP" || true)
# each of the 2 workers sets the flag on floor(k x 0.25) of its k requests: exact up to 1 a worker
lo=$(( n / 4 - 2 )); hi=$(( (n + 3) / 4 + 2 ))
expect_between "sampled requests of $n (ratio 0.25)" "$sampled" "$lo" "$hi"
expect_jq "result" "$WORK/t.json" '.config.trace == {"ratio": 0.25, "url": "https://tempo.internal/trace/{trace_id}"}'

# exemplars: present, bounded per second, every id one that was sent with the sampled flag
expect_jq "result" "$WORK/t.json" '[.seconds[] | select(.exemplars)] | length >= 2'
expect_jq "result" "$WORK/t.json" 'all(.seconds[]; ((.exemplars.slow // []) | length) <= 5 and ((.exemplars.errors // []) | length) <= 5)'
expect_jq "result" "$WORK/t.json" 'all(.seconds[].exemplars.slow // [] | .[]; .status != null)'
expect_jq "result" "$WORK/t.json" 'all(.seconds[].exemplars.errors // [] | .[]; .status == 500)'
expect_jq "result" "$WORK/t.json" '[.seconds[].exemplars.errors // [] | .[]] | length >= 1'
expect_jq "result" "$WORK/t.json" 'all(.seconds[].exemplars.slow // [] | .; . == (sort_by(-.latency_us)))'
jq -r '.seconds[].exemplars // {} | (.slow // []) + (.errors // []) | .[] | "00-\(.trace_id)-\(.span_id)-01"' \
  "$WORK/t.json" | sort -u >"$WORK/ex.txt"
sort -u "$TP" >"$WORK/sent.txt"
missing=$(comm -23 "$WORK/ex.txt" "$WORK/sent.txt" | wc -l)
expect_eq "exemplars not among the sampled traceparents sent" "$missing" 0

# the report: the exemplar table's template and ids are in the page; links are made by its script
grep -qF 'https:\/\/tempo.internal\/trace\/{trace_id}' "$WORK/t.html" || fail "the report lacks the link template"
first=$(jq -r '[.seconds[].exemplars.slow // [] | .[]][0].trace_id' "$WORK/t.json")
grep -qF "$first" "$WORK/t.html" || fail "the report lacks exemplar $first"
grep -qF "exemplarsTable" "$WORK/t.html" || fail "the report has no exemplar table"
pass "report carries the exemplars and the template"

# ---- a bad ratio and template are usage errors --------------------------------------------
rc=0; "$MORTAR" run --trace 1.5 -d 1s "$R/" 2>"$WORK/err" >/dev/null || rc=$?
expect_eq "--trace 1.5 exit" "$rc" 2
grep -qF -- "--trace: the sampling ratio must be from 0 to 1" "$WORK/err" || fail "message: $(cat "$WORK/err")"
rc=0; "$MORTAR" run --trace --trace-url 'https://x/trace' -d 1s "$R/" 2>"$WORK/err" >/dev/null || rc=$?
expect_eq "--trace-url without {trace_id} exit" "$rc" 2
grep -qF -- "--trace-url: 'https://x/trace' has no {trace_id} placeholder" "$WORK/err" || fail "message: $(cat "$WORK/err")"

# ---- OTLP: every second exported, counts equal the run's; 503s are retried ------------------
: >"$WORK/recv/otlp.log"
stop_receiver
start_receiver 2
R="http://127.0.0.1:$RPORT"
run_json "$WORK/o.json" 60 -t 2 -c 4 -R 100 -d 3s --uri /ok --uri /err --otlp "$R" "$R/"
OL="$WORK/recv/otlp.log"
expect_eq "503 answers (retried)" "$(wc -l <"$WORK/recv/otlp_refused.log")" 2
expect_jq "result" "$WORK/o.json" '.otlp.failed == 0 and .otlp.dropped == 0 and .otlp.retries >= 2'
secs=$(jqr "$WORK/o.json" '.seconds | length')
expect_jq "result" "$WORK/o.json" ".otlp.exported == $secs"
metric() { jq -s "[.[].resourceMetrics[].scopeMetrics[].metrics[] | select(.name == \"$1\") | $2] | add" "$OL"; }
expect_eq "OTLP mortar.requests = completed" "$(metric mortar.requests '.sum.dataPoints[].asInt | tonumber')" "$(jqr "$WORK/o.json" '.summary.completed')"
expect_eq "OTLP mortar.requests.sent = sent" "$(metric mortar.requests.sent '.sum.dataPoints[].asInt | tonumber')" "$(jqr "$WORK/o.json" '.summary.sent')"
expect_eq "OTLP 500 responses" "$(metric mortar.responses '.sum.dataPoints[] | select(.attributes[] | .key == "http.response.status_code" and .value.intValue == "500") | .asInt | tonumber')" "$(jqr "$WORK/o.json" '.summary.status["500"]')"
expect_eq "OTLP mortar.generator.cpu.time = the generator's CPU" "$(metric mortar.generator.cpu.time '.sum.dataPoints[].asInt | tonumber')" "$(jqr "$WORK/o.json" '.summary.generator.cpu_us')"
expect_eq "OTLP errors = errors" "$(metric mortar.errors '.sum.dataPoints[].asInt | tonumber')" "$(jqr "$WORK/o.json" '.summary.errors')"
expect_eq "OTLP latency count = completed" "$(metric mortar.latency '.histogram.dataPoints[].count | tonumber')" "$(jqr "$WORK/o.json" '.summary.completed')"
expect_eq "OTLP latency points" "$(metric mortar.latency '1')" "$secs"
expect_eq "OTLP latency buckets add up" "$(metric mortar.latency '.histogram.dataPoints[] | ((.bucketCounts | map(tonumber) | add) == (.count | tonumber)) | if . then 0 else 1 end')" 0
expect_eq "points without mortar.run_id" "$(jq -s '[.[].resourceMetrics[].scopeMetrics[].metrics[] | (.sum // .gauge // .histogram).dataPoints[] | select([.attributes[].key] | index("mortar.run_id") | not)] | length' "$OL")" 0
stop_receiver

# an unreachable collector: the run still ends 0, the seconds count as failed
port=$(refused_port)
start_target
run_json "$WORK/f.json" 60 -d 1s -c 1 -t 1 --otlp "http://127.0.0.1:$port" "$TARGET_URL/"
stop_target
expect_jq "result" "$WORK/f.json" '.otlp.exported == 0 and .otlp.failed >= 1'
grep -qF -- "--otlp: 0 seconds exported" "$WORK/f.json.stderr" || fail "no note of the failed export: $(cat "$WORK/f.json.stderr")"

# ---- HTTP/2: the header is accepted and exemplars kept (the target reads every stream) ------
start_target --status 200
run_json "$WORK/h2.json" 60 -t 1 -c 2 -d 2s --http2 --trace "$TARGET_URL/"
expect_jq "result" "$WORK/h2.json" '[.seconds[].exemplars.slow // [] | .[]] | length >= 1'
expect_jq "result" "$WORK/h2.json" '.summary.errors == 0'
stop_target
pass "trace and OTLP"
