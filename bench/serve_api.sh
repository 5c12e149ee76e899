#!/usr/bin/env bash
# API latency of mortar serve (issue 6's target: p99 < 50 ms with 100 concurrent clients
# reading run series). Starts the built-in target and `mortar serve` on loopback with a
# fresh data directory, stores a run of SECONDS seconds (default 300) through the real
# pipeline, then has `mortar run` itself (closed model, 100 connections, DURATION, default
# 30s) read its series and its summary. Prints a row per endpoint for docs/benchmarks.md.
#   bench/serve_api.sh [BUILD_DIR] [SECONDS] [DURATION]
# Run it on an idle machine; it is not part of the tests.
set -euo pipefail
BUILD=${1:-build}
SECS=${2:-300}
DUR=${3:-30s}
MORTAR=$(readlink -f "$BUILD/mortar")
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
wait_line() {
  local i
  for ((i = 0; i < 200; i++)); do grep -m1 -E "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
"$MORTAR" target --listen 127.0.0.1:0 >"$work/t.out" 2>/dev/null &
pids+=($!)
turl="http://$(wait_line "$work/t.out" 'listening on' | sed 's/listening on //')/"
tok=$("$MORTAR" token create --role admin --data "$work/data")
"$MORTAR" serve --listen 127.0.0.1:0 --data "$work/data" --log-level warn >"$work/s.out" 2>"$work/s.log" &
pids+=($!)
surl=$(wait_line "$work/s.out" '^mortar serve: listening' | sed 's/.* on //')
run=$(curl -sS -H "Authorization: Bearer $tok" -d "{\"config\":{\"url\":\"$turl\",\"rate\":1000,\"duration\":\"${SECS}s\"}}" "$surl/api/v1/runs" | jq -r .id)
echo "bench: storing a ${SECS}s run ($run) ..." >&2
for ((i = 0; i < (SECS + 60) * 10; i++)); do
  state=$(curl -sS -H "Authorization: Bearer $tok" "$surl/api/v1/runs/$run" | jq -r .state)
  [[ $state == running || $state == queued ]] || break
  sleep 0.1
done
echo "bench: run $state; reading it with 100 clients" >&2
echo "| endpoint | run seconds | connections | requests/s | p50 ms | p99 ms | errors | target p99 < 50 ms |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
for ep in series summary; do
  "$MORTAR" run -q -c 100 -t 2 -d "$DUR" -H "Authorization: Bearer $tok" --json "$work/$ep.json" \
    "$surl/api/v1/runs/$run/$ep" >/dev/null
  jq -r --arg ep "$ep" --arg secs "$SECS" '.summary as $s |
    "| \($ep) | \($secs) | 100 | \($s.rps | floor) | \($s.latency_us.p50 / 1000) | \($s.latency_us.p99 / 1000) | \($s.errors) | **\(if $s.latency_us.p99 < 50000 and $s.errors == 0 then "met" else "missed" end)** |"' "$work/$ep.json"
done
