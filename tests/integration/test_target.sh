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
    timeout -k 5 120 "$MORTAR" target --listen 127.0.0.1:0 "$@" >"$fifo" 2>"$WORK/$name.err" &
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

# bad parameters: 400 naming them, connection kept
out=$(raw 'GET /?bogus=1 HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
check_match "unknown parameter: 400 naming it" $'^HTTP/1.1 400 Bad Request\r\n.*\'bogus\'' "$out"
check_match "unknown parameter: connection kept" $'HTTP/1.1 200 OK' "$out"
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

# still serving after all that
check "still serving" "ok" "$("${CURL[@]}" "http://127.0.0.1:$PORT/")"
stop_server main

# --stall: the first request opens the clock; a stall from 0 holds it for the stall's length
start_server stall --threads 1 --stall 0s:400ms -q
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

echo "$PASS passed, $FAIL failed"
((FAIL == 0))
