#!/usr/bin/env bash
# Integration test of `mortar target`: start it on a free port, talk to it with curl and raw
# sockets, stop it with SIGTERM. Usage: bash test_target.sh /path/to/mortar
set -u

MORTAR=${1:?usage: test_target.sh /path/to/mortar}
WORK=$(mktemp -d)
PIDS=()
PASS=0
FAIL=0

cleanup() {
    local p
    # each PID is a `timeout -k 5`: it passes TERM on and kills its server 5 s later if need be
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

ok() {
    PASS=$((PASS + 1))
    echo "ok - $1"
}
not_ok() {
    FAIL=$((FAIL + 1))
    echo "not ok - $1"
    shift
    for line in "$@"; do echo "#   $line"; done
}
check() { # check NAME EXPECTED ACTUAL
    if [[ "$2" == "$3" ]]; then ok "$1"; else not_ok "$1" "expected: $2" "got:      $3"; fi
}
check_match() { # check_match NAME REGEX ACTUAL
    if [[ "$3" =~ $2 ]]; then ok "$1"; else not_ok "$1" "expected to match: $2" "got: $3"; fi
}

# start_server NAME ARGS...: starts mortar target, sets PID and PORT from its one stdout line.
start_server() {
    local name=$1 fifo line
    shift
    fifo="$WORK/$name.fifo"
    mkfifo "$fifo"
    exec {FD}<>"$fifo" # open both ends so neither side blocks and the reader never goes away
    # timeout bounds the server's life (and so every wait below); it passes SIGTERM on and
    # exits with the server's status
    timeout --foreground -k 5 120 "$MORTAR" target --listen 127.0.0.1:0 "$@" >"$fifo" 2>"$WORK/$name.err" &
    PID=$!
    PIDS+=("$PID")
    if ! read -r -t 10 -u "$FD" line; then
        not_ok "$name: server printed its listening line" "$(cat "$WORK/$name.err")"
        exit 1
    fi
    if [[ ! "$line" =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]]; then
        not_ok "$name: listening line" "got: $line"
        exit 1
    fi
    PORT=${BASH_REMATCH[1]}
    ok "$name: $line"
}

# raw_bytes REQUEST: like raw, but prints only how many bytes the server sent before closing.
raw_bytes() {
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 9; printf "%b" "$2" >&3; cat <&3 2>/dev/null' \
        _ "$PORT" "$1" | wc -c | tr -d ' '
}

# stats: the server's counters (GET /__mortar/stats) as compact JSON.
stats() { "${CURL[@]}" "http://127.0.0.1:$PORT/__mortar/stats" | jq -c .; }

# raw REQUEST: sends the bytes (printf %b escapes) on one connection, prints everything the
# server sends until it closes, then "<EOF>" (so trailing newlines survive $(...)).
raw() {
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 9; printf "%b" "$2" >&3; cat <&3' \
        _ "$PORT" "$1"
    echo "<EOF>"
}

stop_server() { # stop_server NAME: SIGTERM, expect exit 0
    local name=$1 rc
    kill -TERM "$PID"
    wait "$PID"
    rc=$?
    check "$name: exits 0 on SIGTERM" 0 "$rc"
}

CURL=(curl -s -m 5)

start_server main --threads 2

# default response
check "GET / body" "ok" "$("${CURL[@]}" "http://127.0.0.1:$PORT/")"
check "GET / status" "200" "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/")"

# status=
check "status=503" "503" \
    "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/?status=503")"
check "status=204 has no body" "204:0" \
    "$("${CURL[@]}" -o /dev/null -w '%{http_code}:%{size_download}' "http://127.0.0.1:$PORT/?status=204")"

# size=
check "size=10000 body length" "10000" \
    "$("${CURL[@]}" "http://127.0.0.1:$PORT/a/b?size=10000" | wc -c | tr -d ' ')"
check "size=3m body length" "3145728" \
    "$("${CURL[@]}" "http://127.0.0.1:$PORT/?size=3m" | wc -c | tr -d ' ')"
check "size=0" "200:0" \
    "$("${CURL[@]}" -o /dev/null -w '%{http_code}:%{size_download}' "http://127.0.0.1:$PORT/?size=0")"
check "status and size together" "404:7" \
    "$("${CURL[@]}" -o /dev/null -w '%{http_code}:%{size_download}' "http://127.0.0.1:$PORT/?status=404&size=7")"

# delay=: that it answers, and not before the delay
t0=$(date +%s%N)
check "delay=100ms answers" "ok" "$("${CURL[@]}" "http://127.0.0.1:$PORT/?delay=100ms")"
ms=$((($(date +%s%N) - t0) / 1000000))
if ((ms >= 100)); then ok "delay=100ms took ${ms}ms"; else not_ok "delay=100ms took ${ms}ms (< 100)"; fi

# HEAD: headers only
check_match "HEAD has Content-Length, no body" $'Content-Length: 10\r\nConnection: close\r\n\r\n<EOF>$' \
    "$(raw 'HEAD /?size=10 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')"

# pipelining: three requests in one write, three answers in order, then close
out=$(raw 'GET /?size=2 HTTP/1.1\r\nHost: t\r\n\r\nGET /?status=201 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
check "pipelined: in order" "200 201 200" "$(grep -ao 'HTTP/1.1 [0-9]*' <<<"$out" | cut -d' ' -f2 | xargs)"
check_match "pipelined: bodies" $'\r\n\r\nxxHTTP/1.1 201' "$out"

# pipelining behind a delayed request: order kept
out=$(raw 'GET /?delay=50ms&status=202 HTTP/1.1\r\nHost: t\r\n\r\nGET /?status=203 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
check "pipelined after delay: order" "202 203" "$(grep -ao 'HTTP/1.1 [0-9]*' <<<"$out" | cut -d' ' -f2 | xargs)"

# keep-alive: curl reuses the connection for two URLs
check "keep-alive: one connection for two requests" "1 0" \
    "$("${CURL[@]}" -o /dev/null -o /dev/null -w '%{num_connects}\n' "http://127.0.0.1:$PORT/" "http://127.0.0.1:$PORT/" | xargs)"

# HTTP/1.0: closes after the response (raw returns only at close), keep-alive on request
out=$(raw 'GET / HTTP/1.0\r\n\r\n')
check_match "HTTP/1.0 answered and closed" $'^HTTP/1.1 200 OK\r\n.*Connection: close\r\n\r\nok\n<EOF>$' "$out"
out=$(raw 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n')
check_match "HTTP/1.0 keep-alive" $'Connection: keep-alive\r\n\r\nok\nHTTP/1.1 200 OK' "$out"

# request bodies are read and discarded
check "POST with a body" "201" \
    "$("${CURL[@]}" -o /dev/null -w '%{http_code}' --data-binary "@$0" "http://127.0.0.1:$PORT/?status=201")"
out=$(raw 'POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET /?status=202 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
check "body then pipelined request" "200 202" "$(grep -ao 'HTTP/1.1 [0-9]*' <<<"$out" | cut -d' ' -f2 | xargs)"

# unknown parameters (an application's own) are ignored; the known ones still apply
check "unknown parameter: ignored" $'ok\n 200' \
    "$("${CURL[@]}" -w ' %{http_code}' "http://127.0.0.1:$PORT/?bogus=1&utm_source=x&=&flag")"
check "unknown parameter next to a known one" "201" \
    "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/?page=2&status=201")"
# bad values of known parameters: 400 naming them, connection kept
out=$(raw 'GET /?status=99 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
check_match "bad parameter: 400 naming it" $'^HTTP/1.1 400 Bad Request\r\n.*\'99\'' "$out"
check_match "bad parameter: connection kept" $'HTTP/1.1 200 OK' "$out"
check_match "bad status value" "status: '99'" "$("${CURL[@]}" "http://127.0.0.1:$PORT/?status=99")"
check_match "bad size value" "size: 'lots'" "$("${CURL[@]}" "http://127.0.0.1:$PORT/?size=lots")"
check_match "bad delay value" "delay: '5parsecs'" "$("${CURL[@]}" "http://127.0.0.1:$PORT/?delay=5parsecs")"
check "bad parameter status" "400" \
    "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/?size=-1")"

# malformed requests: 400 (or 431/501/505) and close
check_match "malformed request line" $'^HTTP/1.1 400 Bad Request\r\n.*Connection: close' \
    "$(raw 'GARBAGE\r\n\r\n')"
check_match "missing Host" $'^HTTP/1.1 400 .*missing Host' "$(raw 'GET / HTTP/1.1\r\n\r\n')"
check_match "HTTP/2.0 request line" $'^HTTP/1.1 505 ' "$(raw 'GET / HTTP/2.0\r\n\r\n')"
check_match "chunked request body" $'^HTTP/1.1 501 ' \
    "$(raw 'POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')"
big=$(printf 'X-Big: %05000d\\r\\n' 0)
check_match "head over 4 KiB" $'^HTTP/1.1 431 ' "$(raw "GET / HTTP/1.1\\r\\nHost: t\\r\\n$big\\r\\n")"

# chunked=1: framing as curl sees it on the wire (--raw) and decoded
U="http://127.0.0.1:$PORT"
check_match "chunked=1: Transfer-Encoding" $'\r\nTransfer-Encoding: chunked\r\n' \
    "$("${CURL[@]}" -D - -o /dev/null "$U/?chunked=1&size=20000")"
check "chunked=1: decoded length" "20000" "$("${CURL[@]}" "$U/?chunked=1&size=20000" | wc -c | tr -d ' ')"
expect=$(printf '4000\r\n%s\r\ne20\r\n%s\r\n0\r\n\r\n' "$(head -c 16384 /dev/zero | tr '\0' x)" \
    "$(head -c 3616 /dev/zero | tr '\0' x)" | md5sum)
check "chunked=1: wire bytes (16 KiB chunks, short last chunk, last-chunk)" "$expect" \
    "$("${CURL[@]}" --raw "$U/?chunked=1&size=20000" | md5sum)"
check "chunked=1, default body" "$(printf '3\r\nok\n\r\n0\r\n\r\n' | od -c)" \
    "$("${CURL[@]}" --raw "$U/?chunked=1" | od -c)"
check "chunked=1&size=0: only the last-chunk" "$(printf '0\r\n\r\n' | od -c)" \
    "$("${CURL[@]}" --raw "$U/?chunked=1&size=0" | od -c)"
check "chunked=1 on 204: no body, no Transfer-Encoding" "204:0:" \
    "$("${CURL[@]}" -o /dev/null -w '%{http_code}:%{size_download}:%header{transfer-encoding}' "$U/?chunked=1&status=204")"
check_match "chunked=1 pipelined with a plain response" $'0\r\n\r\nHTTP/1.1 200 OK\r\n.*\r\n\r\nok\n<EOF>$' \
    "$(raw 'GET /?chunked=1&size=5 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')"

# close=1: says so, and closes (curl has to connect again for the second URL)
check_match "close=1: Connection: close" $'\r\nConnection: close\r\n' \
    "$("${CURL[@]}" -D - -o /dev/null "$U/?close=1")"
check "close=1: closed after the response" "1 1" \
    "$("${CURL[@]}" -o /dev/null -o /dev/null -w '%{num_connects}\n' "$U/?close=1" "$U/?close=1" | xargs)"

# reset=100: curl sees a reset (exit 56)
err=$("${CURL[@]}" -S -o /dev/null "$U/?reset=100" 2>&1)
check "reset=100: curl exit 56" 56 $?
check_match "reset=100: connection reset" "Connection reset" "$err"
check "reset=0: answers" "ok" "$("${CURL[@]}" "$U/?reset=0")"

# slow=: the body arrives whole, at about that rate (10 KiB at 20 KiB/s: ~0.5 s)
t0=$(date +%s%N)
check "slow=20k: whole body" "10240" "$("${CURL[@]}" "$U/?slow=20k&size=10k" | wc -c | tr -d ' ')"
ms=$((($(date +%s%N) - t0) / 1000000))
if ((ms >= 450)); then ok "slow=20k: 10 KiB took ${ms}ms"; else not_ok "slow=20k: 10 KiB took ${ms}ms (< 450)"; fi
check "slow=: keep-alive afterwards" "1 0" \
    "$("${CURL[@]}" -o /dev/null -o /dev/null -w '%{num_connects}\n' "$U/?slow=1m&size=1k" "$U/" | xargs)"

# delay ranges and distributions
t0=$(date +%s%N)
check "delay=100ms..150ms answers" "ok" "$("${CURL[@]}" "$U/?delay=100ms..150ms")"
ms=$((($(date +%s%N) - t0) / 1000000))
if ((ms >= 100)); then ok "delay=100ms..150ms took ${ms}ms"; else not_ok "delay=100ms..150ms took ${ms}ms (< 100)"; fi
check "delay=exp:1ms answers" "ok" "$("${CURL[@]}" "$U/?delay=exp:1ms")"

# bad values of the new parameters: 400 naming them
check "bad chunked value" "chunked: '2' is not 0 or 1" "$("${CURL[@]}" "$U/?chunked=2")"
check_match "bad status mix" "^status: '200:x' is not a status code" "$("${CURL[@]}" "$U/?status=200:x")"
check_match "bad delay range" "^delay: '9ms..1ms' has its low end above its high end" \
    "$("${CURL[@]}" "$U/?delay=9ms..1ms")"
check_match "bad reset value" "^reset: '101' is not a percentage" "$("${CURL[@]}" "$U/?reset=101")"
check_match "bad malformed value" "^malformed: 'x' is not a percentage" "$("${CURL[@]}" "$U/?malformed=x")"
check_match "bad slow value" "^slow: 'fast' is not a byte rate" "$("${CURL[@]}" "$U/?slow=fast")"
check "bad values: 400" "400" "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$U/?delay=exp:")"

# /__mortar/: JSON stats, unknown control paths 404
check "stats: application/json" "200 application/json" \
    "$("${CURL[@]}" -o /dev/null -w '%{http_code} %{content_type}' "$U/__mortar/stats")"
check "stats: parses, has the fields" "true" "$(stats | jq '[.connections_accepted, .requests,
    .responses, .bytes_sent, .resets, .malformed, .malformed_by_kind.status_line,
    .malformed_by_kind.chunk_size, .malformed_by_kind.truncated,
    .malformed_by_kind.oversized_headers, .closes, .bad_requests, .bad_params] | all(. != null)')"
check "unknown /__mortar/ path: 404" "404" "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$U/__mortar/x")"

# still serving after all that
check "still serving" "ok" "$("${CURL[@]}" "http://127.0.0.1:$PORT/")"
stop_server main

# Faults and accounting, exactly: one thread and the default seed make every draw and the
# malformed kinds' order reproducible.
start_server faults --threads 1 -q
U="http://127.0.0.1:$PORT"
check "faults: stats start at zero (their own connection not counted)" \
    '{"connections_accepted":0,"requests":0,"responses":{},"resets":0,"malformed":0,"closes":0}' \
    "$(stats | jq -c '{connections_accepted, requests, responses, resets, malformed, closes}')"

# a status mix over 200 requests on one connection: seed 1 gives exactly 22 of 503
urls=()
for i in $(seq 200); do urls+=(-o /dev/null "$U/?status=200:90,503:10"); done
codes=$("${CURL[@]}" -m 60 -w '%{http_code}\n' "${urls[@]}")
n503=$(grep -c 503 <<<"$codes")
check "status mix: 200 answers" 200 "$(wc -l <<<"$codes" | tr -d ' ')"
check "status mix: 503 in 22 of 200 (seed 1)" 22 "$n503"
check "status mix: only 200 and 503" "" "$(grep -v -e 200 -e 503 <<<"$codes")"

# malformed=100: the kinds in order, each an error for curl except oversized headers, which
# curl accepts (mortar's client does not: more than 64 KiB)
"${CURL[@]}" -o /dev/null "$U/?malformed=100"
rc=$?
if ((rc != 0)); then ok "malformed status line: curl error $rc"; else not_ok "malformed status line: curl accepted it"; fi
"${CURL[@]}" -o /dev/null "$U/?malformed=100"
rc=$?
if ((rc != 0)); then ok "malformed chunk size: curl error $rc"; else not_ok "malformed chunk size: curl accepted it"; fi
"${CURL[@]}" -o /dev/null "$U/?malformed=100"
check "malformed truncated body: curl exit 18 (partial file)" 18 $?
hs=$("${CURL[@]}" -o /dev/null -w '%{size_header}' "$U/?malformed=100")
if ((hs > 65536)); then ok "malformed oversized headers: ${hs} bytes of head"; else not_ok "oversized headers: ${hs} bytes"; fi

"${CURL[@]}" -o /dev/null "$U/?reset=100"
check "faults: reset" 56 $?
"${CURL[@]}" -o /dev/null "$U/?close=1"
"${CURL[@]}" -o /dev/null -H 'Connection: close' "$U/?status=201"
check "faults: bad parameter" 400 "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$U/?bogus=1&size=-1")"
check_match "faults: bad request" '^HTTP/1.1 400 ' "$(raw 'GET / HTTP/1.1\r\n\r\n')"

# requests: 200 + 4 + 1 + 2 + 1 + 1; connections: 1 + 4 + 1 + 2 + 1 + 1
check "faults: stats" \
    '{"connections_accepted":10,"requests":209,"responses":{"200":179,"201":1,"400":2,"503":22},"resets":1,"malformed":4,"malformed_by_kind":{"status_line":1,"chunk_size":1,"truncated":1,"oversized_headers":1},"closes":2,"bad_requests":1,"bad_params":1,"unknown_params":1,"strict_params":false}' \
    "$(stats | jq -c 'del(.bytes_sent, .accept_errors, .threads, .seed) |
        with_entries(select(.key | test("^(h2_|handshakes_|tls_)") | not))')"
s1=$(stats)
check "faults: stats requests are not counted" "$(jq -c 'del(.seed)' <<<"$s1")" "$(stats | jq -c 'del(.seed)')"

# /__mortar/reset answers the counters, then zeroes them
check "reset: answers the counters" 209 "$("${CURL[@]}" -X POST "$U/__mortar/reset" | jq .requests)"
check "reset: zeroed" '{"connections_accepted":0,"requests":0,"responses":{},"bytes_sent":0}' \
    "$(stats | jq -c '{connections_accepted, requests, responses, bytes_sent}')"

# bytes_sent is every byte written, errors and malformed responses included, stats excluded
n1=$(raw_bytes 'GET /?size=1000 HTTP/1.1\r\nHost: t\r\n\r\nGET /?chunked=1&size=20000&status=202 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
n2=$(raw_bytes 'GET /?malformed=100 HTTP/1.1\r\nHost: t\r\n\r\n')
n3=$(raw_bytes 'GET /?size=-1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
n4=$(raw_bytes 'GARBAGE\r\n\r\n')
n5=$(raw_bytes 'GET /?reset=100 HTTP/1.1\r\nHost: t\r\n\r\n')
check "reset: no bytes before the RST" 0 "$n5"
check "bytes_sent = bytes received by the clients" $((n1 + n2 + n3 + n4)) "$(stats | jq .bytes_sent)"
check "after reset: counted again" \
    '{"connections_accepted":5,"requests":6,"responses":{"200":1,"202":1,"400":2},"resets":1,"malformed":1,"closes":2}' \
    "$(stats | jq -c '{connections_accepted, requests, responses, resets, malformed, closes}')"
stop_server faults

# flags: server-wide defaults, overridden per request
start_server defaults --threads 1 --status 503 --chunked --size 5 --delay 1ms..2ms -q
U="http://127.0.0.1:$PORT"
check "defaults: --status --chunked --size" "xxxxx 503 chunked" \
    "$("${CURL[@]}" -w '\n%{http_code} %header{transfer-encoding}' "$U/" | xargs)"
check "defaults: overridden by the query" "200  3" \
    "$("${CURL[@]}" -o /dev/null -w '%{http_code} %header{transfer-encoding} %{size_download}' "$U/?status=200&chunked=0&size=3")"
stop_server defaults
start_server malformed --threads 1 --malformed 100 --seed 7 -q
U="http://127.0.0.1:$PORT"
"${CURL[@]}" -o /dev/null "$U/"
rc=$?
if ((rc != 0)); then ok "--malformed 100: curl error $rc"; else not_ok "--malformed 100: curl accepted it"; fi
check "--malformed 100: malformed=0 overrides" "ok" "$("${CURL[@]}" "$U/?malformed=0")"
check "--malformed 100: counted" '1 1 7' "$(stats | jq -r '"\(.malformed) \(.malformed_by_kind.status_line) \(.seed)"')"
stop_server malformed

# --stall: the first request opens the clock; a stall from 0 holds it for the stall's length
start_server stall --threads 1 --stall 0s:400ms -q
# /__mortar/ requests neither wait for a stall nor start its clock (curl's own clock: process
# start-up on a loaded machine is not the server's doing)
check "stall: stats count nothing" 0 "$(stats | jq .requests)"
ms=$("${CURL[@]}" -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PORT/__mortar/stats" |
    awk '{ printf "%d", $1 * 1000 }')
if ((ms < 300)); then ok "stall: stats not held (${ms}ms)"; else not_ok "stall: stats held ${ms}ms"; fi
t0=$(date +%s%N)
check "stall: held response arrives" "ok" "$("${CURL[@]}" "http://127.0.0.1:$PORT/")"
ms=$((($(date +%s%N) - t0) / 1000000))
if ((ms >= 390 && ms < 2000)); then ok "stall: held ${ms}ms"; else not_ok "stall: held ${ms}ms (want ~400)"; fi
t0=$(date +%s%N)
"${CURL[@]}" -o /dev/null "http://127.0.0.1:$PORT/"
ms=$((($(date +%s%N) - t0) / 1000000))
if ((ms < 300)); then ok "stall: over after it ends (${ms}ms)"; else not_ok "stall: still held (${ms}ms)"; fi
stop_server stall
check "quiet: no summary" "" "$(cat "$WORK/stall.err")"

# flags
"$MORTAR" target --listen 127.0.0.1:x >/dev/null 2>"$WORK/flag.err"
check "bad port exits 2" 2 $?
check "bad port message" "mortar target: --listen: bad port 'x'" "$(cat "$WORK/flag.err")"
"$MORTAR" target --listen 10.1.2.3:0 >/dev/null 2>"$WORK/flag.err"
check "non-loopback needs --allow-remote" 2 $?
check_match "non-loopback message" "allow-remote" "$(cat "$WORK/flag.err")"
"$MORTAR" target --threads 0 >/dev/null 2>"$WORK/flag.err"
check "--threads 0 exits 2" 2 $?
"$MORTAR" target --stall 3s >/dev/null 2>"$WORK/flag.err"
check_match "--stall without LEN" "^mortar target: --stall: " "$(cat "$WORK/flag.err")"
"$MORTAR" target --bogus >/dev/null 2>"$WORK/flag.err"
check "unknown flag exits 2" 2 $?
"$MORTAR" target --status 99 >/dev/null 2>"$WORK/flag.err"
check "--status 99 exits 2" 2 $?
check "--status 99 message" \
    "mortar target: --status: '99' is not a status code 200..599 or a mix like 200:90,503:10" \
    "$(cat "$WORK/flag.err")"
"$MORTAR" target --delay 5parsecs >/dev/null 2>"$WORK/flag.err"
check_match "--delay message" "^mortar target: --delay: '5parsecs' is not a duration" "$(cat "$WORK/flag.err")"
"$MORTAR" target --reset 101 >/dev/null 2>"$WORK/flag.err"
check "--reset 101 message" "mortar target: --reset: '101' is not a percentage 0..100 (like 5 or 0.1)" \
    "$(cat "$WORK/flag.err")"
"$MORTAR" target --malformed >/dev/null 2>"$WORK/flag.err"
check "--malformed without a value" "mortar target: --malformed: needs a value" "$(cat "$WORK/flag.err")"
"$MORTAR" target --slow 1x >/dev/null 2>"$WORK/flag.err"
check_match "--slow message" "^mortar target: --slow: '1x' is not a byte rate" "$(cat "$WORK/flag.err")"
"$MORTAR" target --seed -1 >/dev/null 2>"$WORK/flag.err"
check_match "--seed message" "^mortar target: --seed: '-1' is not a number" "$(cat "$WORK/flag.err")"
"$MORTAR" target --status '200&x=1' >/dev/null 2>"$WORK/flag.err"
check "--status with '&' exits 2" 2 $?

echo "$PASS passed, $FAIL failed"
((FAIL == 0))
